// Bad input to the socket calls: malformed addresses, too many descriptors
// in SCM_RIGHTS, a full listen backlog. Each case expects Linux's errno, in
// every --network mode.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <vector>

#include "test_util.h"

namespace bz {
namespace {

sockaddr* SA(void* p) { return reinterpret_cast<sockaddr*>(p); }

TEST(SocketBadInput, InetAddressLengthAndFamily) {
  FD s(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_OK(s.get());
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_ERRNO(EINVAL, bind(s.get(), SA(&a), sizeof(a) - 1));
  EXPECT_ERRNO(EINVAL, bind(s.get(), SA(&a), 1));
  // Longer than a sockaddr_storage.
  char big[sizeof(sockaddr_storage) + 1] = {};
  memcpy(big, &a, sizeof(a));
  EXPECT_ERRNO(EINVAL, bind(s.get(), SA(big), sizeof(big)));
  EXPECT_ERRNO(EINVAL, connect(s.get(), SA(big), sizeof(big)));
  // An IPv6 address on an IPv4 socket.
  sockaddr_in6 a6 = {};
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_loopback;
  EXPECT_ERRNO(EAFNOSUPPORT, connect(s.get(), SA(&a6), sizeof(a6)));
  // A bad pointer.
  EXPECT_ERRNO(EFAULT, connect(s.get(), reinterpret_cast<sockaddr*>(BadPointer()), sizeof(a)));
  int sv[2];
  EXPECT_ERRNO(EOPNOTSUPP, socketpair(AF_INET, SOCK_STREAM, 0, sv));
}

TEST(SocketBadInput, Inet6ShortAddress) {
  FD s(socket(AF_INET6, SOCK_DGRAM, 0));
  ASSERT_OK(s.get());
  sockaddr_in6 a6 = {};
  a6.sin6_family = AF_INET6;
  a6.sin6_addr = in6addr_loopback;
  a6.sin6_port = htons(9);
  EXPECT_ERRNO(EINVAL, sendto(s.get(), "x", 1, 0, SA(&a6), sizeof(a6) - 5));
}

// SendRights sends n copies of fd over sock in one SCM_RIGHTS message.
ssize_t SendRights(int sock, int fd, int n) {
  std::vector<char> ctl(CMSG_SPACE(sizeof(int) * n));
  msghdr m = {};
  char c = 'x';
  iovec iov = {&c, 1};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl.data();
  m.msg_controllen = ctl.size();
  cmsghdr* h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int) * n);
  int* fds = reinterpret_cast<int*>(CMSG_DATA(h));
  for (int i = 0; i < n; i++) fds[i] = fd;
  return sendmsg(sock, &m, 0);
}

TEST(SocketBadInput, MoreThanScmMaxFd) {
  int sv[2];
  ASSERT_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
  FD a(sv[0]), b(sv[1]);
  const int kScmMaxFd = 253;
  EXPECT_ERRNO(EINVAL, SendRights(a.get(), 0, kScmMaxFd + 1));
  EXPECT_EQ(SendRights(a.get(), 0, kScmMaxFd), 1);
}

TEST(SocketBadInput, UnixBacklogFull) {
  FD l(socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un u = {};
  u.sun_family = AF_UNIX;
  const char name[] = "\0bz-backlog-full";
  memcpy(u.sun_path, name, sizeof(name) - 1);
  socklen_t len = offsetof(sockaddr_un, sun_path) + sizeof(name) - 1;
  ASSERT_OK(bind(l.get(), SA(&u), len));
  ASSERT_OK(listen(l.get(), 1));
  // Linux queues backlog+1 connections; the next non-blocking connect
  // finds the queue full.
  std::vector<FD> c;
  int err = 0;
  for (int i = 0; i < 16 && err == 0; i++) {
    c.emplace_back(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
    if (connect(c.back().get(), SA(&u), len) != 0) err = errno;
  }
  EXPECT_EQ(err, EAGAIN) << strerror(err);
  EXPECT_EQ(c.size(), 3u);
}

TEST(SocketBadInput, UnixConnectToBoundNotListening) {
  FD b(socket(AF_UNIX, SOCK_STREAM, 0));
  sockaddr_un u = {};
  u.sun_family = AF_UNIX;
  const char name[] = "\0bz-not-listening";
  memcpy(u.sun_path, name, sizeof(name) - 1);
  socklen_t len = offsetof(sockaddr_un, sun_path) + sizeof(name) - 1;
  ASSERT_OK(bind(b.get(), SA(&u), len));
  FD s(socket(AF_UNIX, SOCK_STREAM, 0));
  EXPECT_ERRNO(ECONNREFUSED, connect(s.get(), SA(&u), len));
  // A family that is not AF_UNIX.
  u.sun_family = AF_INET;
  EXPECT_ERRNO(EINVAL, connect(s.get(), SA(&u), len));
}

}  // namespace
}  // namespace bz
