// Unix domain sockets (unix(7)): socketpair, abstract names, connect and
// accept, shutdown, SCM_RIGHTS, SCM_CREDENTIALS, SO_PEERCRED, and the
// recvmsg flags MSG_PEEK, MSG_DONTWAIT, MSG_WAITALL, MSG_TRUNC, MSG_CTRUNC.
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

struct Pair {
  FD a, b;
};

Pair MakePair(int type) {
  int sv[2] = {-1, -1};
  EXPECT_EQ(socketpair(AF_UNIX, type, 0, sv), 0) << strerror(errno);
  return Pair{FD(sv[0]), FD(sv[1])};
}

// An abstract address unique to this process and tag.
sockaddr_un Abstract(const std::string& tag, socklen_t* len) {
  sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  std::string name = "bz-test-" + std::to_string(getpid()) + "-" + tag;
  memcpy(a.sun_path + 1, name.data(), name.size());
  *len = offsetof(sockaddr_un, sun_path) + 1 + name.size();
  return a;
}

int GetInt(int fd, int level, int name) {
  int v = -1;
  socklen_t l = sizeof(v);
  EXPECT_EQ(getsockopt(fd, level, name, &v, &l), 0) << strerror(errno);
  return v;
}

const int kTypes[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET};

TEST(UnixSocket, PairTransfersBothWays) {
  for (int type : kTypes) {
    SCOPED_TRACE(type);
    Pair p = MakePair(type);
    ASSERT_EQ(write(p.a.get(), "ping", 4), 4);
    char buf[16];
    ASSERT_EQ(read(p.b.get(), buf, sizeof(buf)), 4);
    EXPECT_EQ(std::string(buf, 4), "ping");
    ASSERT_EQ(send(p.b.get(), "pong!", 5, 0), 5);
    ASSERT_EQ(recv(p.a.get(), buf, sizeof(buf), 0), 5);
    EXPECT_EQ(std::string(buf, 5), "pong!");
  }
}

TEST(UnixSocket, OptionsDescribeTheSocket) {
  for (int type : kTypes) {
    SCOPED_TRACE(type);
    Pair p = MakePair(type);
    EXPECT_EQ(GetInt(p.a.get(), SOL_SOCKET, SO_TYPE), type);
    EXPECT_EQ(GetInt(p.a.get(), SOL_SOCKET, SO_DOMAIN), AF_UNIX);
    EXPECT_EQ(GetInt(p.a.get(), SOL_SOCKET, SO_PROTOCOL), 0);
    EXPECT_EQ(GetInt(p.a.get(), SOL_SOCKET, SO_ACCEPTCONN), 0);
    EXPECT_EQ(GetInt(p.a.get(), SOL_SOCKET, SO_ERROR), 0);
    struct stat st;
    ASSERT_EQ(fstat(p.a.get(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_ERRNO(ESPIPE, lseek(p.a.get(), 0, SEEK_SET));
  }
}

TEST(UnixSocket, BufferSizesAreDoubled) {
  Pair p = MakePair(SOCK_STREAM);
  int v = 10000;
  ASSERT_EQ(setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
  EXPECT_EQ(GetInt(p.a.get(), SOL_SOCKET, SO_SNDBUF), 20000);
  ASSERT_EQ(setsockopt(p.a.get(), SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)), 0);
  EXPECT_EQ(GetInt(p.a.get(), SOL_SOCKET, SO_RCVBUF), 20000);
  v = 1;
  ASSERT_EQ(setsockopt(p.a.get(), SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)), 0);
  EXPECT_EQ(GetInt(p.a.get(), SOL_SOCKET, SO_SNDBUF), 4608);
}

TEST(UnixSocket, PeekDontwaitAndEmpty) {
  for (int type : kTypes) {
    SCOPED_TRACE(type);
    Pair p = MakePair(type);
    char buf[16];
    EXPECT_ERRNO(EAGAIN, recv(p.b.get(), buf, sizeof(buf), MSG_DONTWAIT));
    ASSERT_EQ(send(p.a.get(), "abc", 3, 0), 3);
    ASSERT_EQ(recv(p.b.get(), buf, sizeof(buf), MSG_PEEK), 3);
    ASSERT_EQ(recv(p.b.get(), buf, sizeof(buf), MSG_DONTWAIT), 3);
    EXPECT_EQ(std::string(buf, 3), "abc");
    EXPECT_ERRNO(EAGAIN, recv(p.b.get(), buf, sizeof(buf), MSG_DONTWAIT));
  }
}

TEST(UnixSocket, StreamCoalescesRecordsDoNot) {
  for (int type : kTypes) {
    SCOPED_TRACE(type);
    Pair p = MakePair(type);
    ASSERT_EQ(send(p.a.get(), "ab", 2, 0), 2);
    ASSERT_EQ(send(p.a.get(), "cd", 2, 0), 2);
    char buf[16];
    ssize_t n = recv(p.b.get(), buf, sizeof(buf), 0);
    EXPECT_EQ(n, type == SOCK_STREAM ? 4 : 2);
  }
}

TEST(UnixSocket, RecordTruncation) {
  for (int type : {SOCK_DGRAM, SOCK_SEQPACKET}) {
    SCOPED_TRACE(type);
    Pair p = MakePair(type);
    ASSERT_EQ(send(p.a.get(), "0123456789", 10, 0), 10);
    ASSERT_EQ(send(p.a.get(), "0123456789", 10, 0), 10);
    char buf[4];
    iovec iov = {buf, sizeof(buf)};
    msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    ASSERT_EQ(recvmsg(p.b.get(), &m, 0), 4);
    EXPECT_TRUE(m.msg_flags & MSG_TRUNC);
    EXPECT_EQ(std::string(buf, 4), "0123");
    // With MSG_TRUNC the full length is returned.
    EXPECT_EQ(recv(p.b.get(), buf, sizeof(buf), MSG_TRUNC), 10);
    EXPECT_ERRNO(EAGAIN, recv(p.b.get(), buf, sizeof(buf), MSG_DONTWAIT));
  }
}

TEST(UnixSocket, WaitallStopsAtEndOfFile) {
  Pair p = MakePair(SOCK_STREAM);
  ASSERT_EQ(write(p.a.get(), "12345", 5), 5);
  char buf[16];
  ASSERT_EQ(recv(p.b.get(), buf, 5, MSG_WAITALL), 5);
  ASSERT_EQ(write(p.a.get(), "678", 3), 3);
  ASSERT_EQ(shutdown(p.a.get(), SHUT_WR), 0);
  EXPECT_EQ(recv(p.b.get(), buf, sizeof(buf), MSG_WAITALL), 3);
  EXPECT_EQ(recv(p.b.get(), buf, sizeof(buf), MSG_WAITALL), 0);
}

TEST(UnixSocket, ShutdownWriteGivesEOFAndEPIPE) {
  for (int type : {SOCK_STREAM, SOCK_SEQPACKET}) {
    SCOPED_TRACE(type);
    Pair p = MakePair(type);
    ASSERT_EQ(shutdown(p.a.get(), SHUT_WR), 0);
    char buf[4];
    EXPECT_EQ(read(p.b.get(), buf, sizeof(buf)), 0);
    EXPECT_ERRNO(EPIPE, send(p.a.get(), "x", 1, MSG_NOSIGNAL));
    // The other direction still works.
    ASSERT_EQ(send(p.b.get(), "y", 1, 0), 1);
    EXPECT_EQ(read(p.a.get(), buf, sizeof(buf)), 1);
    EXPECT_ERRNO(EINVAL, shutdown(p.a.get(), 7));
  }
}

TEST(UnixSocket, WriteToClosedPeerRaisesSIGPIPE) {
  Pair p = MakePair(SOCK_STREAM);
  p.b.reset();
  EXPECT_ERRNO(EPIPE, send(p.a.get(), "x", 1, MSG_NOSIGNAL));
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  ASSERT_EQ(sigprocmask(SIG_BLOCK, &set, &old), 0);
  EXPECT_ERRNO(EPIPE, write(p.a.get(), "x", 1));
  sigset_t pending;
  ASSERT_EQ(sigpending(&pending), 0);
  EXPECT_TRUE(sigismember(&pending, SIGPIPE));
  timespec zero = {};
  EXPECT_EQ(sigtimedwait(&set, nullptr, &zero), SIGPIPE);
  ASSERT_EQ(sigprocmask(SIG_SETMASK, &old, nullptr), 0);
}

TEST(UnixSocket, CloseWithUnreadDataResetsPeer) {
  Pair p = MakePair(SOCK_STREAM);
  ASSERT_EQ(write(p.a.get(), "x", 1), 1);
  p.b.reset();  // b never read the byte
  char buf[4];
  EXPECT_ERRNO(ECONNRESET, read(p.a.get(), buf, sizeof(buf)));
  EXPECT_EQ(read(p.a.get(), buf, sizeof(buf)), 0);
}

TEST(UnixSocket, AbstractListenConnectAccept) {
  for (int type : {SOCK_STREAM, SOCK_SEQPACKET}) {
    SCOPED_TRACE(type);
    socklen_t len;
    sockaddr_un addr = Abstract("lca" + std::to_string(type), &len);
    FD srv(socket(AF_UNIX, type, 0));
    ASSERT_OK(srv.get());
    ASSERT_OK(bind(srv.get(), reinterpret_cast<sockaddr*>(&addr), len));
    ASSERT_OK(listen(srv.get(), 5));
    EXPECT_EQ(GetInt(srv.get(), SOL_SOCKET, SO_ACCEPTCONN), 1);
    FD other(socket(AF_UNIX, type, 0));
    EXPECT_ERRNO(EADDRINUSE, bind(other.get(), reinterpret_cast<sockaddr*>(&addr), len));

    FD cli(socket(AF_UNIX, type, 0));
    sockaddr_un got = {};
    socklen_t glen = sizeof(got);
    EXPECT_ERRNO(ENOTCONN, getpeername(cli.get(), reinterpret_cast<sockaddr*>(&got), &glen));
    ASSERT_OK(connect(cli.get(), reinterpret_cast<sockaddr*>(&addr), len));
    EXPECT_ERRNO(EISCONN, connect(cli.get(), reinterpret_cast<sockaddr*>(&addr), len));

    glen = sizeof(got);
    ASSERT_OK(getpeername(cli.get(), reinterpret_cast<sockaddr*>(&got), &glen));
    EXPECT_EQ(glen, len);
    EXPECT_EQ(memcmp(&got, &addr, len), 0);

    glen = sizeof(got);
    FD acc(accept4(srv.get(), reinterpret_cast<sockaddr*>(&got), &glen, SOCK_NONBLOCK | SOCK_CLOEXEC));
    ASSERT_OK(acc.get());
    EXPECT_EQ(glen, sizeof(sa_family_t));  // the client is unnamed
    EXPECT_TRUE(fcntl(acc.get(), F_GETFL) & O_NONBLOCK);
    EXPECT_TRUE(fcntl(acc.get(), F_GETFD) & FD_CLOEXEC);
    glen = sizeof(got);
    ASSERT_OK(getsockname(acc.get(), reinterpret_cast<sockaddr*>(&got), &glen));
    EXPECT_EQ(glen, len);

    ASSERT_EQ(write(cli.get(), "hi", 2), 2);
    char buf[4];
    EXPECT_EQ(read(acc.get(), buf, sizeof(buf)), 2);
  }
}

TEST(UnixSocket, AcceptNonblockingEmpty) {
  socklen_t len;
  sockaddr_un addr = Abstract("empty", &len);
  FD srv(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
  ASSERT_OK(bind(srv.get(), reinterpret_cast<sockaddr*>(&addr), len));
  ASSERT_OK(listen(srv.get(), 1));
  EXPECT_ERRNO(EAGAIN, accept(srv.get(), nullptr, nullptr));
  FD d(socket(AF_UNIX, SOCK_DGRAM, 0));
  EXPECT_ERRNO(EOPNOTSUPP, listen(d.get(), 1));
}

TEST(UnixSocket, ConnectErrors) {
  socklen_t len;
  sockaddr_un addr = Abstract("nobody", &len);
  FD s(socket(AF_UNIX, SOCK_STREAM, 0));
  EXPECT_ERRNO(ECONNREFUSED, connect(s.get(), reinterpret_cast<sockaddr*>(&addr), len));
  // Bound but not listening.
  FD b(socket(AF_UNIX, SOCK_STREAM, 0));
  ASSERT_OK(bind(b.get(), reinterpret_cast<sockaddr*>(&addr), len));
  EXPECT_ERRNO(ECONNREFUSED, connect(s.get(), reinterpret_cast<sockaddr*>(&addr), len));
  // Wrong type: abstract names are looked up per type.
  FD d(socket(AF_UNIX, SOCK_DGRAM, 0));
  EXPECT_ERRNO(ECONNREFUSED, connect(d.get(), reinterpret_cast<sockaddr*>(&addr), len));
  sockaddr_un nopath = {};
  nopath.sun_family = AF_UNIX;
  strcpy(nopath.sun_path, "/nonexistent-dir-bz/sock");
  EXPECT_ERRNO(ENOENT, connect(s.get(), reinterpret_cast<sockaddr*>(&nopath), sizeof(nopath)));
  FD e(socket(AF_UNIX, SOCK_STREAM, 0));
  char buf[1];
  EXPECT_ERRNO(ENOTCONN, send(e.get(), "x", 1, MSG_NOSIGNAL));
  EXPECT_ERRNO(EINVAL, recv(e.get(), buf, 1, 0));
}

TEST(UnixSocket, Autobind) {
  FD s(socket(AF_UNIX, SOCK_DGRAM, 0));
  sockaddr_un a = {};
  a.sun_family = AF_UNIX;
  ASSERT_OK(bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(sa_family_t)));
  sockaddr_un got = {};
  socklen_t len = sizeof(got);
  ASSERT_OK(getsockname(s.get(), reinterpret_cast<sockaddr*>(&got), &len));
  EXPECT_EQ(len, sizeof(sa_family_t) + 6);
  EXPECT_EQ(got.sun_path[0], '\0');
}

TEST(UnixSocket, DatagramAddresses) {
  socklen_t len;
  sockaddr_un addr = Abstract("dgram", &len);
  FD r(socket(AF_UNIX, SOCK_DGRAM, 0));
  ASSERT_OK(bind(r.get(), reinterpret_cast<sockaddr*>(&addr), len));
  FD s(socket(AF_UNIX, SOCK_DGRAM, 0));
  ASSERT_EQ(sendto(s.get(), "a", 1, 0, reinterpret_cast<sockaddr*>(&addr), len), 1);
  sockaddr_un from;
  socklen_t flen = sizeof(from);
  char buf[4];
  ASSERT_EQ(recvfrom(r.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen), 1);
  EXPECT_EQ(flen, 0u);  // unnamed sender
  socklen_t slen;
  sockaddr_un saddr = Abstract("dgram-sender", &slen);
  ASSERT_OK(bind(s.get(), reinterpret_cast<sockaddr*>(&saddr), slen));
  ASSERT_EQ(sendto(s.get(), "b", 1, 0, reinterpret_cast<sockaddr*>(&addr), len), 1);
  flen = sizeof(from);
  ASSERT_EQ(recvfrom(r.get(), buf, sizeof(buf), 0, reinterpret_cast<sockaddr*>(&from), &flen), 1);
  EXPECT_EQ(flen, slen);
  EXPECT_EQ(memcmp(&from, &saddr, slen), 0);
  EXPECT_ERRNO(ENOTCONN, send(s.get(), "c", 1, 0));
}

// SendFD sends one descriptor with one byte of data.
ssize_t SendFD(int sock, int fd) {
  char c = 'F';
  iovec iov = {&c, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(int))] = {};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  cmsghdr* h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &fd, sizeof(int));
  return sendmsg(sock, &m, 0);
}

// RecvFD receives one descriptor (or -1) and the msg_flags.
int RecvFD(int sock, size_t ctlspace, int* flags) {
  char c;
  iovec iov = {&c, 1};
  alignas(cmsghdr) char ctl[256] = {};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = ctlspace;
  if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1) return -2;
  *flags = m.msg_flags;
  cmsghdr* h = CMSG_FIRSTHDR(&m);
  if (h == nullptr || h->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof(int));
  return fd;
}

TEST(UnixSocket, PassesPipeAndSocketDescriptors) {
  for (int type : kTypes) {
    SCOPED_TRACE(type);
    Pair p = MakePair(type);
    int pfd[2];
    ASSERT_EQ(pipe(pfd), 0);
    FD r(pfd[0]), w(pfd[1]);
    ASSERT_EQ(SendFD(p.a.get(), w.get()), 1);
    w.reset();
    int flags = 0;
    FD got(RecvFD(p.b.get(), 256, &flags));
    ASSERT_GE(got.get(), 0);
    EXPECT_EQ(flags & MSG_CTRUNC, 0);
    EXPECT_TRUE(fcntl(got.get(), F_GETFD) & FD_CLOEXEC);
    ASSERT_EQ(write(got.get(), "via", 3), 3);
    char buf[4];
    EXPECT_EQ(read(r.get(), buf, sizeof(buf)), 3);

    // A socket passed over itself's pair.
    Pair q = MakePair(SOCK_STREAM);
    ASSERT_EQ(SendFD(p.a.get(), q.a.get()), 1);
    FD gq(RecvFD(p.b.get(), 256, &flags));
    ASSERT_GE(gq.get(), 0);
    ASSERT_EQ(write(gq.get(), "s", 1), 1);
    EXPECT_EQ(read(q.b.get(), buf, sizeof(buf)), 1);
  }
}

TEST(UnixSocket, ControlTruncation) {
  Pair p = MakePair(SOCK_DGRAM);
  ASSERT_EQ(SendFD(p.a.get(), 0), 1);
  int flags = 0;
  EXPECT_EQ(RecvFD(p.b.get(), CMSG_LEN(0), &flags), -1);
  EXPECT_TRUE(flags & MSG_CTRUNC);
}

TEST(UnixSocket, BadRightsFail) {
  Pair p = MakePair(SOCK_STREAM);
  EXPECT_ERRNO(EBADF, SendFD(p.a.get(), 12345));
}

TEST(UnixSocket, PassCredentials) {
  for (int type : kTypes) {
    SCOPED_TRACE(type);
    Pair p = MakePair(type);
    int one = 1;
    ASSERT_OK(setsockopt(p.b.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)));
    EXPECT_EQ(GetInt(p.b.get(), SOL_SOCKET, SO_PASSCRED), 1);
    ASSERT_EQ(write(p.a.get(), "c", 1), 1);
    char c;
    iovec iov = {&c, 1};
    alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(ucred))] = {};
    msghdr m = {};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = ctl;
    m.msg_controllen = sizeof(ctl);
    ASSERT_EQ(recvmsg(p.b.get(), &m, 0), 1);
    cmsghdr* h = CMSG_FIRSTHDR(&m);
    ASSERT_NE(h, nullptr);
    EXPECT_EQ(h->cmsg_level, SOL_SOCKET);
    EXPECT_EQ(h->cmsg_type, SCM_CREDENTIALS);
    ucred cr;
    memcpy(&cr, CMSG_DATA(h), sizeof(cr));
    EXPECT_EQ(cr.pid, getpid());
    EXPECT_EQ(cr.uid, geteuid());
    EXPECT_EQ(cr.gid, getegid());
  }
}

TEST(UnixSocket, ForgedCredentialsAreRefused) {
  if (geteuid() == 0) GTEST_SKIP() << "root may send any credentials";
  Pair p = MakePair(SOCK_DGRAM);
  char c = 'x';
  iovec iov = {&c, 1};
  alignas(cmsghdr) char ctl[CMSG_SPACE(sizeof(ucred))] = {};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  cmsghdr* h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_CREDENTIALS;
  h->cmsg_len = CMSG_LEN(sizeof(ucred));
  ucred cr = {getpid() + 1, geteuid(), getegid()};
  memcpy(CMSG_DATA(h), &cr, sizeof(cr));
  EXPECT_ERRNO(EPERM, sendmsg(p.a.get(), &m, 0));
}

TEST(UnixSocket, PeerCred) {
  Pair p = MakePair(SOCK_STREAM);
  ucred cr = {};
  socklen_t l = sizeof(cr);
  ASSERT_OK(getsockopt(p.a.get(), SOL_SOCKET, SO_PEERCRED, &cr, &l));
  EXPECT_EQ(l, sizeof(cr));
  EXPECT_EQ(cr.pid, getpid());
  EXPECT_EQ(cr.uid, geteuid());

  socklen_t len;
  sockaddr_un addr = Abstract("peercred", &len);
  FD srv(socket(AF_UNIX, SOCK_STREAM, 0));
  ASSERT_OK(bind(srv.get(), reinterpret_cast<sockaddr*>(&addr), len));
  ASSERT_OK(listen(srv.get(), 1));
  FD cli(socket(AF_UNIX, SOCK_STREAM, 0));
  ASSERT_OK(connect(cli.get(), reinterpret_cast<sockaddr*>(&addr), len));
  FD acc(accept(srv.get(), nullptr, nullptr));
  for (int fd : {cli.get(), acc.get()}) {
    l = sizeof(cr);
    cr = {};
    ASSERT_OK(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l));
    EXPECT_EQ(cr.pid, getpid());
    EXPECT_EQ(cr.gid, getegid());
  }
}

TEST(UnixSocket, ReceiveTimeout) {
  Pair p = MakePair(SOCK_STREAM);
  timeval tv = {0, 20000};
  ASSERT_OK(setsockopt(p.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
  timeval got = {};
  socklen_t l = sizeof(got);
  ASSERT_OK(getsockopt(p.a.get(), SOL_SOCKET, SO_RCVTIMEO, &got, &l));
  EXPECT_EQ(got.tv_usec, 20000);
  char c;
  EXPECT_ERRNO(EAGAIN, read(p.a.get(), &c, 1));
  tv.tv_usec = 2000000;
  EXPECT_ERRNO(EDOM, setsockopt(p.a.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)));
}

TEST(UnixSocket, MultipleMessages) {
  Pair p = MakePair(SOCK_DGRAM);
  char d[3][4] = {"a", "bb", "ccc"};
  iovec iov[3];
  mmsghdr mm[3] = {};
  for (int i = 0; i < 3; i++) {
    iov[i] = {d[i], strlen(d[i])};
    mm[i].msg_hdr.msg_iov = &iov[i];
    mm[i].msg_hdr.msg_iovlen = 1;
  }
  ASSERT_EQ(sendmmsg(p.a.get(), mm, 3, 0), 3);
  EXPECT_EQ(mm[2].msg_len, 3u);
  char r[3][8];
  iovec riov[3];
  mmsghdr rm[3] = {};
  for (int i = 0; i < 3; i++) {
    riov[i] = {r[i], sizeof(r[i])};
    rm[i].msg_hdr.msg_iov = &riov[i];
    rm[i].msg_hdr.msg_iovlen = 1;
  }
  ASSERT_EQ(recvmmsg(p.b.get(), rm, 3, MSG_DONTWAIT, nullptr), 3);
  EXPECT_EQ(rm[0].msg_len, 1u);
  EXPECT_EQ(rm[1].msg_len, 2u);
  EXPECT_EQ(std::string(r[2], rm[2].msg_len), "ccc");
}

TEST(UnixSocket, NotASocket) {
  int pfd[2];
  ASSERT_EQ(pipe(pfd), 0);
  FD r(pfd[0]), w(pfd[1]);
  EXPECT_ERRNO(ENOTSOCK, listen(r.get(), 1));
  EXPECT_ERRNO(ENOTSOCK, shutdown(r.get(), SHUT_RD));
  EXPECT_ERRNO(EBADF, listen(-1, 1));
  EXPECT_ERRNO(EAFNOSUPPORT, socket(12345, SOCK_STREAM, 0));
  EXPECT_ERRNO(EPROTONOSUPPORT, socket(AF_UNIX, SOCK_STREAM, 7));
}

}  // namespace
}  // namespace bz
