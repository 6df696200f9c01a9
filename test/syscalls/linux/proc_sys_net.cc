// /proc/sys/net (proc(5), Documentation/admin-guide/sysctl/net.rst): the
// integer sysctls net.ipv4.ip_forward, net.core.somaxconn and
// net.ipv4.ip_unprivileged_port_start: their text format, what writes
// accept (EINVAL otherwise), who may write, and their effect on listen(2)
// and bind(2).
//
// Writing changes a network namespace's settings, so the writing cases run
// in a child with a namespace of its own: natively unshare(CLONE_NEWNET)
// (root only; the cases skip otherwise). In the sandbox unshare(2) is
// ENOSYS, and the child changes the sandbox's own stack, which nothing but
// this program uses; the cases put the values back.
#include <fcntl.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sched.h>
#include <sys/syscall.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <functional>
#include <string>

#include "proc_util.h"
#include "test_util.h"

namespace bz {
namespace {

constexpr char kIPForward[] = "/proc/sys/net/ipv4/ip_forward";
constexpr char kSomaxconn[] = "/proc/sys/net/core/somaxconn";
constexpr char kUnprivPortStart[] = "/proc/sys/net/ipv4/ip_unprivileged_port_start";
constexpr char kPingGroupRange[] = "/proc/sys/net/ipv4/ping_group_range";

// Exit code of a child that could not get a network namespace of its own.
constexpr int kNoNetns = 77;

// Writes v to path in one write(2); returns 0 or the errno of the open or
// write.
int WriteSysctl(const char* path, const std::string& v) {
  FD fd(open(path, O_WRONLY));
  if (fd.get() < 0) return errno;
  ssize_t n = write(fd.get(), v.data(), v.size());
  if (n < 0) return errno;
  return n == static_cast<ssize_t>(v.size()) ? 0 : EIO;
}

// Reads path in the child; "" on error.
std::string ReadSysctl(const char* path) {
  FD fd(open(path, O_RDONLY));
  if (fd.get() < 0) return "";
  char buf[64];
  ssize_t n = read(fd.get(), buf, sizeof(buf));
  return n < 0 ? "" : std::string(buf, n);
}

// Runs fn in a child with a network namespace of its own (see the top of
// the file) and expects it to return 0; skips if the host refuses the
// namespace.
void InOwnNetns(const std::function<int()>& fn) {
  int st = InChild([&] {
    if (unshare(CLONE_NEWNET) != 0 && errno != ENOSYS) return kNoNetns;
    return fn();
  });
  if (WIFEXITED(st) && WEXITSTATUS(st) == kNoNetns) {
    GTEST_SKIP() << "unshare(CLONE_NEWNET) refused (not root)";
  }
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
      << "child: " << DescribeStatus(st)
      << " (a non-zero exit is the failed CHILD_CHECK's line % 255 + 1)";
}

// Reports whether s is one decimal int and a newline.
bool IsIntLine(const std::string& s) {
  if (s.size() < 2 || s.back() != '\n') return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i + 1 >= s.size()) return false;
  for (; i + 1 < s.size(); i++) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

TEST(ProcSysNet, FilesAreRootOwnedAndWritable) {
  for (const char* path : {kIPForward, kSomaxconn}) {
    SCOPED_TRACE(path);
    struct stat st;
    ASSERT_EQ(stat(path, &st), 0) << strerror(errno);
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(st.st_mode & 07777, 0644u);
    EXPECT_EQ(st.st_uid, 0u);
    EXPECT_EQ(st.st_gid, 0u);
    EXPECT_TRUE(IsIntLine(ReadAll(path))) << ReadAll(path);
  }
  struct stat st;
  ASSERT_EQ(stat("/proc/sys/net/ipv4", &st), 0) << strerror(errno);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
}

TEST(ProcSysNet, MissingSysctlIsENOENT) {
  EXPECT_ERRNO(ENOENT, open("/proc/sys/net/ipv4/no_such_sysctl", O_RDONLY));
  EXPECT_ERRNO(ENOENT, open("/proc/sys/net/no_such_dir/x", O_RDONLY));
}

TEST(ProcSysNet, IPForwardWrites) {
  InOwnNetns([] {
    std::string old = ReadSysctl(kIPForward);
    CHILD_CHECK(IsIntLine(old));
    // Any int is kept as written; C notation and surrounding white space
    // are accepted.
    const std::pair<const char*, const char*> ok[] = {
        {"1", "1\n"},     {"0\n", "0\n"},  {"2", "2\n"},
        {"-1", "-1\n"},   {" 0x1\n", "1\n"}, {"010", "8\n"},
        {"\t0 ", "0\n"},
    };
    for (const auto& c : ok) {
      CHILD_CHECK(WriteSysctl(kIPForward, c.first) == 0);
      CHILD_CHECK(ReadSysctl(kIPForward) == c.second);
    }
    // Anything else is EINVAL and changes nothing.
    CHILD_CHECK(WriteSysctl(kIPForward, "1") == 0);
    for (const char* bad : {"abc", "1abc", "+1", "-", "- 1", "   ", "08",
                            "2147483648", "-2147483649"}) {
      CHILD_CHECK(WriteSysctl(kIPForward, bad) == EINVAL);
      CHILD_CHECK(ReadSysctl(kIPForward) == "1\n");
    }
    CHILD_CHECK(WriteSysctl(kIPForward, old) == 0);
    return 0;
  });
}

TEST(ProcSysNet, SomaxconnWrites) {
  InOwnNetns([] {
    std::string old = ReadSysctl(kSomaxconn);
    CHILD_CHECK(IsIntLine(old));
    CHILD_CHECK(WriteSysctl(kSomaxconn, "128\n") == 0);
    CHILD_CHECK(ReadSysctl(kSomaxconn) == "128\n");
    CHILD_CHECK(WriteSysctl(kSomaxconn, "0") == 0);
    CHILD_CHECK(ReadSysctl(kSomaxconn) == "0\n");
    CHILD_CHECK(WriteSysctl(kSomaxconn, "2147483647") == 0);
    CHILD_CHECK(ReadSysctl(kSomaxconn) == "2147483647\n");
    // It may not be negative.
    CHILD_CHECK(WriteSysctl(kSomaxconn, "-1") == EINVAL);
    CHILD_CHECK(ReadSysctl(kSomaxconn) == "2147483647\n");
    CHILD_CHECK(WriteSysctl(kSomaxconn, old) == 0);
    return 0;
  });
}

// listen(2) caps the backlog at somaxconn: with somaxconn 1, a Unix stream
// listener asked for 100 lets backlog+1 = 2 connections wait, and a third
// non-blocking connect is EAGAIN.
TEST(ProcSysNet, SomaxconnCapsListenBacklog) {
  InOwnNetns([] {
    std::string old = ReadSysctl(kSomaxconn);
    CHILD_CHECK(WriteSysctl(kSomaxconn, "1") == 0);
    sockaddr_un a = {};
    a.sun_family = AF_UNIX;
    std::string name = "bz-somaxconn-" + std::to_string(getpid());
    memcpy(a.sun_path + 1, name.data(), name.size());
    socklen_t len = offsetof(sockaddr_un, sun_path) + 1 + name.size();
    FD l(socket(AF_UNIX, SOCK_STREAM, 0));
    CHILD_CHECK(l.get() >= 0);
    CHILD_CHECK(bind(l.get(), reinterpret_cast<sockaddr*>(&a), len) == 0);
    CHILD_CHECK(listen(l.get(), 100) == 0);
    CHILD_CHECK(WriteSysctl(kSomaxconn, old) == 0);
    FD c[3];
    for (int i = 0; i < 3; i++) {
      c[i].reset(socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0));
      CHILD_CHECK(c[i].get() >= 0);
    }
    CHILD_CHECK(connect(c[0].get(), reinterpret_cast<sockaddr*>(&a), len) == 0);
    CHILD_CHECK(connect(c[1].get(), reinterpret_cast<sockaddr*>(&a), len) == 0);
    CHILD_CHECK(connect(c[2].get(), reinterpret_cast<sockaddr*>(&a), len) == -1 &&
                errno == EAGAIN);
    return 0;
  });
}

// Binds a new TCP socket to 127.0.0.1:port; returns 0 or errno.
int BindLoopback(int port) {
  FD s(socket(AF_INET, SOCK_STREAM, 0));
  if (s.get() < 0) return errno;
  sockaddr_in a = {};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return bind(s.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 ? 0 : errno;
}

// Ports below ip_unprivileged_port_start (1024 at first) need
// CAP_NET_BIND_SERVICE; container engines set it to 0 (Docker does), and
// it may not reach into the local port range.
TEST(ProcSysNet, UnprivilegedPortStart) {
  InOwnNetns([] {
    std::string old = ReadSysctl(kUnprivPortStart);
    CHILD_CHECK(old == "1024\n");
    // A new namespace's lo is down natively (the sandbox's is up).
    FD ctl(socket(AF_INET, SOCK_DGRAM, 0));
    ifreq ifr = {};
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(ctl.get(), SIOCGIFFLAGS, &ifr) == 0 && !(ifr.ifr_flags & IFF_UP)) {
      ifr.ifr_flags |= IFF_UP;
      CHILD_CHECK(ioctl(ctl.get(), SIOCSIFFLAGS, &ifr) == 0);
    }
    CHILD_CHECK(DropEffectiveCapability(CAP_NET_BIND_SERVICE));
    CHILD_CHECK(BindLoopback(81) == EACCES);
    CHILD_CHECK(BindLoopback(1024) == 0);
    CHILD_CHECK(WriteSysctl(kUnprivPortStart, "0") == 0);
    CHILD_CHECK(ReadSysctl(kUnprivPortStart) == "0\n");
    CHILD_CHECK(BindLoopback(81) == 0);
    CHILD_CHECK(WriteSysctl(kUnprivPortStart, "100") == 0);
    CHILD_CHECK(BindLoopback(99) == EACCES);
    CHILD_CHECK(BindLoopback(100) == 0);
    for (const char* bad : {"-1", "65536", "60000"}) {
      CHILD_CHECK(WriteSysctl(kUnprivPortStart, bad) == EINVAL);
    }
    CHILD_CHECK(ReadSysctl(kUnprivPortStart) == "100\n");
    CHILD_CHECK(WriteSysctl(kUnprivPortStart, old) == 0);
    return 0;
  });
}

// ICMP echo sockets are for the groups in ping_group_range ("1 0", none,
// in a new namespace; root is not exempt); an end below the start is
// stored as "1 0".
TEST(ProcSysNet, PingGroupRange) {
  InOwnNetns([] {
    std::string old = ReadSysctl(kPingGroupRange);
    CHILD_CHECK(old == "1\t0\n");
    auto ping = [] {
      int fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);
      if (fd < 0) return errno;
      close(fd);
      return 0;
    };
    CHILD_CHECK(ping() == EACCES);
    CHILD_CHECK(WriteSysctl(kPingGroupRange, "0 2147483647") == 0);
    CHILD_CHECK(ReadSysctl(kPingGroupRange) == "0\t2147483647\n");
    CHILD_CHECK(ping() == 0);
    CHILD_CHECK(WriteSysctl(kPingGroupRange, "5\t2\n") == 0);
    CHILD_CHECK(ReadSysctl(kPingGroupRange) == "1\t0\n");
    CHILD_CHECK(ping() == EACCES);
    // Group IDs up to 4294967294, in C notation.
    for (const char* bad : {"-1 5", "0 4294967295", "a b", "1 2x"}) {
      CHILD_CHECK(WriteSysctl(kPingGroupRange, bad) == EINVAL);
    }
    CHILD_CHECK(WriteSysctl(kPingGroupRange, "0x10 4294967294") == 0);
    CHILD_CHECK(ReadSysctl(kPingGroupRange) == "16\t4294967294\n");
    // One value sets the start alone.
    CHILD_CHECK(WriteSysctl(kPingGroupRange, "0 10") == 0);
    CHILD_CHECK(WriteSysctl(kPingGroupRange, "7") == 0);
    CHILD_CHECK(ReadSysctl(kPingGroupRange) == "7\t10\n");
    CHILD_CHECK(WriteSysctl(kPingGroupRange, old) == 0);
    return 0;
  });
}

// Only root (or a holder of CAP_NET_ADMIN) may open a net sysctl for
// writing; anyone may read it.
TEST(ProcSysNet, WriteNeedsRoot) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  EXPECT_CHILD_OK([] {
    CHILD_CHECK(setresgid(65534, 65534, 65534) == 0);
    CHILD_CHECK(setresuid(65534, 65534, 65534) == 0);
    for (const char* path : {kIPForward, kSomaxconn, kUnprivPortStart, kPingGroupRange}) {
      CHILD_CHECK(open(path, O_WRONLY) == -1 && errno == EACCES);
      CHILD_CHECK(!ReadSysctl(path).empty());
    }
    return 0;
  });
}

}  // namespace
}  // namespace bz
