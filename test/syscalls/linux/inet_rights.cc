// TCP and UDP sockets passed with SCM_RIGHTS over a Unix socket to another
// process keep working there, whatever the network stack behind them.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

sockaddr* SA(void* p) { return reinterpret_cast<sockaddr*>(p); }

int SendFD(int sock, int fd) {
  char ctl[CMSG_SPACE(sizeof(int))] = {};
  char c = 'f';
  iovec iov = {&c, 1};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  cmsghdr* h = CMSG_FIRSTHDR(&m);
  h->cmsg_level = SOL_SOCKET;
  h->cmsg_type = SCM_RIGHTS;
  h->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(h), &fd, sizeof(fd));
  return sendmsg(sock, &m, 0);
}

int RecvFD(int sock) {
  char ctl[CMSG_SPACE(sizeof(int))] = {};
  char c;
  iovec iov = {&c, 1};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = ctl;
  m.msg_controllen = sizeof(ctl);
  if (recvmsg(sock, &m, 0) != 1) return -1;
  cmsghdr* h = CMSG_FIRSTHDR(&m);
  if (h == nullptr || h->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(h), sizeof(fd));
  return fd;
}

TEST(InetRights, PassedTCPSocketWorksInAnotherProcess) {
  FD l(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_OK(bind(l.get(), SA(&a), sizeof(a)));
  ASSERT_OK(listen(l.get(), 1));
  socklen_t len = sizeof(a);
  ASSERT_OK(getsockname(l.get(), SA(&a), &len));
  FD c(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_OK(connect(c.get(), SA(&a), sizeof(a)));
  FD s(accept(l.get(), nullptr, nullptr));
  ASSERT_OK(s.get());

  int sv[2];
  ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  FD here(sv[0]), there(sv[1]);
  pid_t pid = fork();
  ASSERT_OK(pid);
  if (pid == 0) {
    int fd = RecvFD(there.get());
    if (fd < 0) _exit(1);
    if (write(fd, "via-rights", 10) != 10) _exit(2);
    _exit(0);
  }
  ASSERT_EQ(SendFD(here.get(), c.get()), 1);
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  char buf[16];
  ASSERT_EQ(read(s.get(), buf, sizeof(buf)), 10);
  EXPECT_EQ(std::string(buf, 10), "via-rights");
}

TEST(InetRights, PassedUDPSocketKeepsItsAddress) {
  FD u(socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_OK(bind(u.get(), SA(&a), sizeof(a)));
  socklen_t len = sizeof(a);
  ASSERT_OK(getsockname(u.get(), SA(&a), &len));
  int sv[2];
  ASSERT_OK(socketpair(AF_UNIX, SOCK_DGRAM, 0, sv));
  FD here(sv[0]), there(sv[1]);
  ASSERT_EQ(SendFD(here.get(), u.get()), 1);
  FD got(RecvFD(there.get()));
  ASSERT_OK(got.get());
  sockaddr_in b = {};
  len = sizeof(b);
  ASSERT_OK(getsockname(got.get(), SA(&b), &len));
  EXPECT_EQ(b.sin_port, a.sin_port);
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  ASSERT_EQ(sendto(s.get(), "d", 1, 0, SA(&a), sizeof(a)), 1);
  char c;
  EXPECT_EQ(recv(got.get(), &c, 1, 0), 1);
}

}  // namespace
}  // namespace bz
