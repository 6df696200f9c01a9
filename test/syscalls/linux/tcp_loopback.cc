// TCP over the loopback (tcp(7), ip(7), ipv6(7)): listen, connect, accept,
// names, half-close, resets, address reuse, options, dual-stack sockets.
// Single-threaded: a loopback connect completes without accept running.
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

sockaddr_in V4(uint16_t port, const char* ip = "127.0.0.1") {
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, ip, &a.sin_addr);
  return a;
}

sockaddr* SA(void* p) { return reinterpret_cast<sockaddr*>(p); }

int GetInt(int fd, int level, int name) {
  int v = -1;
  socklen_t l = sizeof(v);
  EXPECT_EQ(getsockopt(fd, level, name, &v, &l), 0) << strerror(errno);
  return v;
}

// Listener returns a listening socket on 127.0.0.1 and its port.
FD Listener(uint16_t* port, int backlog = 8) {
  FD s(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = V4(0);
  EXPECT_EQ(bind(s.get(), SA(&a), sizeof(a)), 0) << strerror(errno);
  EXPECT_EQ(listen(s.get(), backlog), 0) << strerror(errno);
  socklen_t l = sizeof(a);
  EXPECT_EQ(getsockname(s.get(), SA(&a), &l), 0);
  *port = ntohs(a.sin_port);
  return s;
}

struct Conn {
  FD cli, srv;
};

// WaitFor blocks until fd has one of events (or an error or hang-up) and
// returns what poll reported. Loopback delivery is synchronous on Linux
// but need not be (a user-space stack processes segments on its own
// goroutines), so a test that needs the peer's answer waits for it.
short WaitFor(int fd, short events) {
  pollfd p = {fd, events, 0};
  if (poll(&p, 1, 10000) != 1) return 0;
  return p.revents;
}

Conn Connect(int lfd, uint16_t port) {
  FD c(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = V4(port);
  EXPECT_EQ(connect(c.get(), SA(&a), sizeof(a)), 0) << strerror(errno);
  FD s(accept(lfd, nullptr, nullptr));
  EXPECT_GE(s.get(), 0) << strerror(errno);
  return Conn{std::move(c), std::move(s)};
}

TEST(TCPLoopback, ConnectAcceptNamesAndData) {
  uint16_t port;
  FD l = Listener(&port);
  EXPECT_EQ(GetInt(l.get(), SOL_SOCKET, SO_ACCEPTCONN), 1);
  FD c(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = V4(port);
  ASSERT_OK(connect(c.get(), SA(&a), sizeof(a)));
  sockaddr_in cname, peer, sname;
  socklen_t len = sizeof(cname);
  ASSERT_OK(getsockname(c.get(), SA(&cname), &len));
  EXPECT_EQ(cname.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
  EXPECT_GE(ntohs(cname.sin_port), 1024);
  len = sizeof(peer);
  FD s(accept(l.get(), SA(&peer), &len));
  ASSERT_OK(s.get());
  EXPECT_EQ(len, sizeof(peer));
  EXPECT_EQ(peer.sin_port, cname.sin_port);
  len = sizeof(sname);
  ASSERT_OK(getsockname(s.get(), SA(&sname), &len));
  EXPECT_EQ(ntohs(sname.sin_port), port);
  len = sizeof(peer);
  ASSERT_OK(getpeername(c.get(), SA(&peer), &len));
  EXPECT_EQ(ntohs(peer.sin_port), port);

  ASSERT_EQ(write(c.get(), "hello", 5), 5);
  char buf[16];
  ASSERT_EQ(read(s.get(), buf, sizeof(buf)), 5);
  ASSERT_EQ(send(s.get(), "world!", 6, 0), 6);
  ASSERT_EQ(recv(c.get(), buf, sizeof(buf), MSG_PEEK), 6);
  ASSERT_EQ(recv(c.get(), buf, sizeof(buf), 0), 6);
  EXPECT_EQ(std::string(buf, 6), "world!");
  EXPECT_ERRNO(EISCONN, connect(c.get(), SA(&a), sizeof(a)));
  EXPECT_ERRNO(EAGAIN, recv(c.get(), buf, sizeof(buf), MSG_DONTWAIT));
}

TEST(TCPLoopback, NonblockingConnectInProgress) {
  uint16_t port;
  FD l = Listener(&port);
  FD c(socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0));
  sockaddr_in a = V4(port);
  EXPECT_ERRNO(EINPROGRESS, connect(c.get(), SA(&a), sizeof(a)));
  FD s(accept(l.get(), nullptr, nullptr));
  ASSERT_OK(s.get());
  EXPECT_EQ(WaitFor(c.get(), POLLOUT), POLLOUT);
  EXPECT_EQ(GetInt(c.get(), SOL_SOCKET, SO_ERROR), 0);
  // The next connect reports the outcome, the one after that EISCONN.
  EXPECT_OK(connect(c.get(), SA(&a), sizeof(a)));
  EXPECT_ERRNO(EISCONN, connect(c.get(), SA(&a), sizeof(a)));
  ASSERT_EQ(write(c.get(), "x", 1), 1);
  char b;
  EXPECT_EQ(read(s.get(), &b, 1), 1);
}

TEST(TCPLoopback, RefusedWithoutListener) {
  uint16_t port;
  {
    FD l = Listener(&port);
  }
  FD c(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = V4(port);
  EXPECT_ERRNO(ECONNREFUSED, connect(c.get(), SA(&a), sizeof(a)));
}

TEST(TCPLoopback, HalfCloseGivesEOF) {
  uint16_t port;
  FD l = Listener(&port);
  Conn k = Connect(l.get(), port);
  ASSERT_EQ(write(k.cli.get(), "abc", 3), 3);
  ASSERT_OK(shutdown(k.cli.get(), SHUT_WR));
  char buf[8];
  EXPECT_EQ(read(k.srv.get(), buf, sizeof(buf)), 3);
  EXPECT_EQ(read(k.srv.get(), buf, sizeof(buf)), 0);
  // The server can still answer.
  ASSERT_EQ(write(k.srv.get(), "ok", 2), 2);
  EXPECT_EQ(read(k.cli.get(), buf, sizeof(buf)), 2);
  EXPECT_ERRNO(EPIPE, send(k.cli.get(), "x", 1, MSG_NOSIGNAL));
}

TEST(TCPLoopback, CloseWithUnreadDataResets) {
  uint16_t port;
  FD l = Listener(&port);
  Conn k = Connect(l.get(), port);
  ASSERT_EQ(write(k.cli.get(), "unread", 6), 6);
  ASSERT_NE(WaitFor(k.srv.get(), POLLIN) & POLLIN, 0);  // there, unread
  k.srv.reset();
  char buf[8];
  EXPECT_ERRNO(ECONNRESET, read(k.cli.get(), buf, sizeof(buf)));
}

TEST(TCPLoopback, WriteAfterPeerCloseGetsEPIPE) {
  uint16_t port;
  FD l = Listener(&port);
  Conn k = Connect(l.get(), port);
  k.srv.reset();
  char buf[8];
  EXPECT_EQ(read(k.cli.get(), buf, sizeof(buf)), 0);
  EXPECT_EQ(send(k.cli.get(), "x", 1, MSG_NOSIGNAL), 1);  // answered by a reset
  EXPECT_NE(WaitFor(k.cli.get(), POLLERR) & POLLHUP, 0);  // the reset arrived
  EXPECT_ERRNO(EPIPE, send(k.cli.get(), "x", 1, MSG_NOSIGNAL));
}

TEST(TCPLoopback, LingerZeroResets) {
  uint16_t port;
  FD l = Listener(&port);
  Conn k = Connect(l.get(), port);
  linger lg = {1, 0};
  ASSERT_OK(setsockopt(k.srv.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)));
  k.srv.reset();
  char buf[8];
  EXPECT_ERRNO(ECONNRESET, read(k.cli.get(), buf, sizeof(buf)));
}

TEST(TCPLoopback, TruncDiscards) {
  uint16_t port;
  FD l = Listener(&port);
  Conn k = Connect(l.get(), port);
  ASSERT_EQ(write(k.cli.get(), "0123456789", 10), 10);
  char buf[16];
  EXPECT_EQ(recv(k.srv.get(), buf, 4, MSG_TRUNC), 4);
  ASSERT_EQ(recv(k.srv.get(), buf, sizeof(buf), 0), 6);
  EXPECT_EQ(std::string(buf, 6), "456789");
}

TEST(TCPLoopback, AddressInUse) {
  uint16_t port;
  FD l = Listener(&port);
  FD s(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = V4(port);
  EXPECT_ERRNO(EADDRINUSE, bind(s.get(), SA(&a), sizeof(a)));
  sockaddr_in any = V4(port, "0.0.0.0");
  EXPECT_ERRNO(EADDRINUSE, bind(s.get(), SA(&any), sizeof(any)));
}

TEST(TCPLoopback, ReuseAddrAllowsBindNotTwoListeners) {
  int one = 1;
  FD a(socket(AF_INET, SOCK_STREAM, 0)), b(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_OK(setsockopt(a.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
  ASSERT_OK(setsockopt(b.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)));
  EXPECT_EQ(GetInt(a.get(), SOL_SOCKET, SO_REUSEADDR), 1);
  sockaddr_in addr = V4(0);
  ASSERT_OK(bind(a.get(), SA(&addr), sizeof(addr)));
  socklen_t l = sizeof(addr);
  ASSERT_OK(getsockname(a.get(), SA(&addr), &l));
  ASSERT_OK(bind(b.get(), SA(&addr), sizeof(addr)));
  ASSERT_OK(listen(a.get(), 1));
  EXPECT_ERRNO(EADDRINUSE, listen(b.get(), 1));
}

TEST(TCPLoopback, ReusePortAllowsTwoListeners) {
  int one = 1;
  FD a(socket(AF_INET, SOCK_STREAM, 0)), b(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_OK(setsockopt(a.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)));
  ASSERT_OK(setsockopt(b.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)));
  sockaddr_in addr = V4(0);
  ASSERT_OK(bind(a.get(), SA(&addr), sizeof(addr)));
  socklen_t l = sizeof(addr);
  ASSERT_OK(getsockname(a.get(), SA(&addr), &l));
  ASSERT_OK(bind(b.get(), SA(&addr), sizeof(addr)));
  ASSERT_OK(listen(a.get(), 1));
  ASSERT_OK(listen(b.get(), 1));
}

TEST(TCPLoopback, BindErrors) {
  FD s(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in a = V4(0, "192.0.2.1");  // TEST-NET-1, never local
  EXPECT_ERRNO(EADDRNOTAVAIL, bind(s.get(), SA(&a), sizeof(a)));
  a = V4(0);
  EXPECT_ERRNO(EINVAL, bind(s.get(), SA(&a), sizeof(a) - 1));
  ASSERT_OK(bind(s.get(), SA(&a), sizeof(a)));
  EXPECT_ERRNO(EINVAL, bind(s.get(), SA(&a), sizeof(a)));
  char buf[1];
  EXPECT_ERRNO(ENOTCONN, recv(s.get(), buf, 1, 0));
  EXPECT_ERRNO(ENOTCONN, shutdown(s.get(), SHUT_RDWR));
  EXPECT_ERRNO(EPIPE, send(s.get(), "x", 1, MSG_NOSIGNAL));
  sockaddr_in p;
  socklen_t l = sizeof(p);
  EXPECT_ERRNO(ENOTCONN, getpeername(s.get(), SA(&p), &l));
}

TEST(TCPLoopback, ListenAutobinds) {
  FD s(socket(AF_INET, SOCK_STREAM, 0));
  ASSERT_OK(listen(s.get(), 1));
  sockaddr_in a;
  socklen_t l = sizeof(a);
  ASSERT_OK(getsockname(s.get(), SA(&a), &l));
  EXPECT_NE(a.sin_port, 0);
  EXPECT_EQ(a.sin_addr.s_addr, htonl(INADDR_ANY));
}

struct IntOpt {
  int level, name, set, want;
};

TEST(TCPLoopback, OptionsReadBack) {
  FD s(socket(AF_INET, SOCK_STREAM, 0));
  EXPECT_EQ(GetInt(s.get(), SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(GetInt(s.get(), SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
  EXPECT_EQ(GetInt(s.get(), SOL_SOCKET, SO_DOMAIN), AF_INET);
  EXPECT_EQ(GetInt(s.get(), IPPROTO_TCP, TCP_NODELAY), 0);
  const IntOpt opts[] = {
      {IPPROTO_TCP, TCP_NODELAY, 5, 1},    {IPPROTO_TCP, TCP_KEEPIDLE, 30, 30},
      {IPPROTO_TCP, TCP_KEEPINTVL, 7, 7},  {IPPROTO_TCP, TCP_KEEPCNT, 3, 3},
      {SOL_SOCKET, SO_KEEPALIVE, 1, 1},    {SOL_SOCKET, SO_REUSEADDR, 1, 1},
      {IPPROTO_IP, IP_TTL, 12, 12},        {IPPROTO_TCP, TCP_CORK, 1, 1},
  };
  for (const IntOpt& o : opts) {
    SCOPED_TRACE(o.name);
    ASSERT_OK(setsockopt(s.get(), o.level, o.name, &o.set, sizeof(o.set)));
    EXPECT_EQ(GetInt(s.get(), o.level, o.name), o.want);
  }
  int zero = 0;
  EXPECT_ERRNO(EINVAL, setsockopt(s.get(), IPPROTO_TCP, TCP_KEEPIDLE, &zero, sizeof(zero)));
  EXPECT_ERRNO(ENOPROTOOPT, setsockopt(s.get(), SOL_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)));
  tcp_info ti = {};
  socklen_t l = sizeof(ti);
  ASSERT_OK(getsockopt(s.get(), IPPROTO_TCP, TCP_INFO, &ti, &l));
  EXPECT_EQ(ti.tcpi_state, 7);  // TCP_CLOSE
}

TEST(TCPLoopback, DualStack) {
  FD l(socket(AF_INET6, SOCK_STREAM, 0));
  sockaddr_in6 a = {};
  a.sin6_family = AF_INET6;
  a.sin6_addr = in6addr_any;
  ASSERT_OK(bind(l.get(), SA(&a), sizeof(a)));
  ASSERT_OK(listen(l.get(), 4));
  socklen_t len = sizeof(a);
  ASSERT_OK(getsockname(l.get(), SA(&a), &len));
  uint16_t port = ntohs(a.sin6_port);

  FD c4(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in v4 = V4(port);
  ASSERT_OK(connect(c4.get(), SA(&v4), sizeof(v4)));
  sockaddr_in6 peer = {};
  len = sizeof(peer);
  FD s4(accept(l.get(), SA(&peer), &len));
  ASSERT_OK(s4.get());
  EXPECT_EQ(len, sizeof(peer));
  EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&peer.sin6_addr));

  FD c6(socket(AF_INET6, SOCK_STREAM, 0));
  sockaddr_in6 lo = {};
  lo.sin6_family = AF_INET6;
  lo.sin6_addr = in6addr_loopback;
  lo.sin6_port = htons(port);
  ASSERT_OK(connect(c6.get(), SA(&lo), sizeof(lo)));
  len = sizeof(peer);
  FD s6(accept(l.get(), SA(&peer), &len));
  ASSERT_OK(s6.get());
  EXPECT_TRUE(IN6_IS_ADDR_LOOPBACK(&peer.sin6_addr));
  ASSERT_EQ(write(c6.get(), "six", 3), 3);
  char buf[4];
  EXPECT_EQ(read(s6.get(), buf, sizeof(buf)), 3);
}

TEST(TCPLoopback, V6OnlyRefusesV4) {
  FD l(socket(AF_INET6, SOCK_STREAM, 0));
  int one = 1;
  ASSERT_OK(setsockopt(l.get(), SOL_IPV6, IPV6_V6ONLY, &one, sizeof(one)));
  EXPECT_EQ(GetInt(l.get(), SOL_IPV6, IPV6_V6ONLY), 1);
  sockaddr_in6 a = {};
  a.sin6_family = AF_INET6;
  ASSERT_OK(bind(l.get(), SA(&a), sizeof(a)));
  ASSERT_OK(listen(l.get(), 4));
  socklen_t len = sizeof(a);
  ASSERT_OK(getsockname(l.get(), SA(&a), &len));
  FD c4(socket(AF_INET, SOCK_STREAM, 0));
  sockaddr_in v4 = V4(ntohs(a.sin6_port));
  EXPECT_ERRNO(ECONNREFUSED, connect(c4.get(), SA(&v4), sizeof(v4)));
}

TEST(TCPLoopback, BacklogQueuesConnections) {
  uint16_t port;
  FD l = Listener(&port, 3);
  FD c[3];
  for (auto& f : c) {
    f.reset(socket(AF_INET, SOCK_STREAM, 0));
    sockaddr_in a = V4(port);
    ASSERT_OK(connect(f.get(), SA(&a), sizeof(a)));
  }
  for (int i = 0; i < 3; i++) {
    FD s(accept(l.get(), nullptr, nullptr));
    ASSERT_OK(s.get());
  }
  ASSERT_OK(fcntl(l.get(), F_SETFL, O_NONBLOCK));
  EXPECT_ERRNO(EAGAIN, accept(l.get(), nullptr, nullptr));
}

}  // namespace
}  // namespace bz
