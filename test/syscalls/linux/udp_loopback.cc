// UDP over the loopback (udp(7)): bind, sendto/recvfrom with addresses,
// connect and its filtering, MSG_TRUNC, EMSGSIZE, dual-stack receivers.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace bz {
namespace {

sockaddr* SA(void* p) { return reinterpret_cast<sockaddr*>(p); }

// Bound returns a UDP socket bound to 127.0.0.1 on an ephemeral port.
FD Bound(sockaddr_in* addr) {
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  *addr = {};
  addr->sin_family = AF_INET;
  addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(bind(s.get(), SA(addr), sizeof(*addr)), 0) << strerror(errno);
  socklen_t l = sizeof(*addr);
  EXPECT_EQ(getsockname(s.get(), SA(addr), &l), 0);
  return s;
}

TEST(UDPLoopback, SendtoRecvfromAddresses) {
  sockaddr_in ra, sa;
  FD r = Bound(&ra);
  FD s = Bound(&sa);
  ASSERT_EQ(sendto(s.get(), "dgram", 5, 0, SA(&ra), sizeof(ra)), 5);
  char buf[16];
  sockaddr_in from = {};
  socklen_t fl = sizeof(from);
  ASSERT_EQ(recvfrom(r.get(), buf, sizeof(buf), 0, SA(&from), &fl), 5);
  EXPECT_EQ(fl, sizeof(from));
  EXPECT_EQ(from.sin_port, sa.sin_port);
  EXPECT_EQ(from.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_ERRNO(EAGAIN, recv(r.get(), buf, sizeof(buf), MSG_DONTWAIT));
}

TEST(UDPLoopback, UnboundSenderGetsEphemeralPort) {
  sockaddr_in ra;
  FD r = Bound(&ra);
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  ASSERT_EQ(sendto(s.get(), "x", 1, 0, SA(&ra), sizeof(ra)), 1);
  sockaddr_in me;
  socklen_t l = sizeof(me);
  ASSERT_OK(getsockname(s.get(), SA(&me), &l));
  EXPECT_NE(me.sin_port, 0);
  char c;
  sockaddr_in from;
  socklen_t fl = sizeof(from);
  ASSERT_EQ(recvfrom(r.get(), &c, 1, 0, SA(&from), &fl), 1);
  EXPECT_EQ(from.sin_port, me.sin_port);
}

TEST(UDPLoopback, Truncation) {
  sockaddr_in ra;
  FD r = Bound(&ra);
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  for (int i = 0; i < 2; i++)
    ASSERT_EQ(sendto(s.get(), "0123456789", 10, 0, SA(&ra), sizeof(ra)), 10);
  char buf[4];
  iovec iov = {buf, sizeof(buf)};
  msghdr m = {};
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  ASSERT_EQ(recvmsg(r.get(), &m, 0), 4);
  EXPECT_TRUE(m.msg_flags & MSG_TRUNC);
  EXPECT_EQ(recv(r.get(), buf, sizeof(buf), MSG_TRUNC), 10);
}

TEST(UDPLoopback, ConnectFiltersAndNames) {
  sockaddr_in ra, sa, oa;
  FD r = Bound(&ra);
  FD s = Bound(&sa);
  FD o = Bound(&oa);
  char buf[8];
  EXPECT_ERRNO(EDESTADDRREQ, send(s.get(), "x", 1, 0));
  ASSERT_OK(connect(r.get(), SA(&sa), sizeof(sa)));
  ASSERT_OK(connect(s.get(), SA(&ra), sizeof(ra)));
  sockaddr_in p;
  socklen_t l = sizeof(p);
  ASSERT_OK(getpeername(s.get(), SA(&p), &l));
  EXPECT_EQ(p.sin_port, ra.sin_port);
  // r only hears from s now.
  ASSERT_EQ(sendto(o.get(), "other", 5, 0, SA(&ra), sizeof(ra)), 5);
  ASSERT_EQ(send(s.get(), "mine", 4, 0), 4);
  ASSERT_EQ(recv(r.get(), buf, sizeof(buf), MSG_DONTWAIT), 4);
  EXPECT_EQ(std::string(buf, 4), "mine");
  EXPECT_ERRNO(EAGAIN, recv(r.get(), buf, sizeof(buf), MSG_DONTWAIT));
  // AF_UNSPEC dissolves the association.
  sockaddr unspec = {};
  unspec.sa_family = AF_UNSPEC;
  ASSERT_OK(connect(s.get(), &unspec, sizeof(unspec)));
  l = sizeof(p);
  EXPECT_ERRNO(ENOTCONN, getpeername(s.get(), SA(&p), &l));
}

TEST(UDPLoopback, ConnectedSendToClosedPortIsRefused) {
  sockaddr_in ra;
  uint16_t port;
  {
    FD r = Bound(&ra);
    port = ra.sin_port;
  }
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  ra.sin_port = port;
  ASSERT_OK(connect(s.get(), SA(&ra), sizeof(ra)));
  ASSERT_EQ(send(s.get(), "x", 1, 0), 1);
  char c;
  EXPECT_ERRNO(ECONNREFUSED, recv(s.get(), &c, 1, MSG_DONTWAIT));
}

TEST(UDPLoopback, Limits) {
  sockaddr_in ra;
  FD r = Bound(&ra);
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  std::vector<char> big(65508);
  EXPECT_ERRNO(EMSGSIZE, sendto(s.get(), big.data(), big.size(), 0, SA(&ra), sizeof(ra)));
  ASSERT_EQ(sendto(s.get(), big.data(), 65507, 0, SA(&ra), sizeof(ra)), 65507);
  EXPECT_EQ(recv(r.get(), big.data(), big.size(), 0), 65507);
  sockaddr_in zero = ra;
  zero.sin_port = 0;
  EXPECT_ERRNO(EINVAL, sendto(s.get(), "x", 1, 0, SA(&zero), sizeof(zero)));
  sockaddr_in far = {};
  far.sin_family = AF_INET;
  inet_pton(AF_INET, "192.0.2.1", &far.sin_addr);
  FD b(socket(AF_INET, SOCK_DGRAM, 0));
  EXPECT_ERRNO(EADDRNOTAVAIL, bind(b.get(), SA(&far), sizeof(far)));
}

TEST(UDPLoopback, AddressInUseAndReuse) {
  sockaddr_in ra;
  FD r = Bound(&ra);
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  EXPECT_ERRNO(EADDRINUSE, bind(s.get(), SA(&ra), sizeof(ra)));
  int one = 1;
  FD a(socket(AF_INET, SOCK_DGRAM, 0)), b(socket(AF_INET, SOCK_DGRAM, 0));
  ASSERT_OK(setsockopt(a.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
  ASSERT_OK(setsockopt(b.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_OK(bind(a.get(), SA(&addr), sizeof(addr)));
  socklen_t l = sizeof(addr);
  ASSERT_OK(getsockname(a.get(), SA(&addr), &l));
  EXPECT_OK(bind(b.get(), SA(&addr), sizeof(addr)));
}

TEST(UDPLoopback, DualStackReceiverSeesMappedAddress) {
  FD r(socket(AF_INET6, SOCK_DGRAM, 0));
  sockaddr_in6 a = {};
  a.sin6_family = AF_INET6;
  ASSERT_OK(bind(r.get(), SA(&a), sizeof(a)));
  socklen_t l = sizeof(a);
  ASSERT_OK(getsockname(r.get(), SA(&a), &l));
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  sockaddr_in to = {};
  to.sin_family = AF_INET;
  to.sin_port = a.sin6_port;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(sendto(s.get(), "v4", 2, 0, SA(&to), sizeof(to)), 2);
  sockaddr_in6 from = {};
  socklen_t fl = sizeof(from);
  char buf[4];
  ASSERT_EQ(recvfrom(r.get(), buf, sizeof(buf), 0, SA(&from), &fl), 2);
  EXPECT_EQ(fl, sizeof(from));
  EXPECT_EQ(from.sin6_family, AF_INET6);
  EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&from.sin6_addr));
}

TEST(UDPLoopback, ShutdownUnconnected) {
  FD s(socket(AF_INET, SOCK_DGRAM, 0));
  EXPECT_ERRNO(ENOTCONN, shutdown(s.get(), SHUT_RD));
}

}  // namespace
}  // namespace bz
