// Capabilities as capabilities(7) describes them: capget/capset with each
// header version and their rules, the bounding set (PR_CAPBSET_READ/DROP),
// the ambient set (PR_CAP_AMBIENT), PR_SET_KEEPCAPS across a change of user
// ID, no_new_privs, what execve makes of the five sets, and the Cap* and
// NoNewPrivs lines of /proc/self/status.
//
// Nothing here assumes a full set: the test starts from whatever root has
// (a VM may withhold some capabilities) and works in forked children,
// since capabilities dropped cannot come back.
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <fstream>
#include <sstream>

#include "proc_util.h"

namespace bz {
namespace {

constexpr int kLastCap = CAP_CHECKPOINT_RESTORE;  // 40
constexpr uint64_t Bit(int cap) { return uint64_t{1} << cap; }

struct Caps {
  uint64_t eff = 0, perm = 0, inh = 0;
};

int Capget(int pid, Caps* c, uint32_t version = _LINUX_CAPABILITY_VERSION_3) {
  __user_cap_header_struct h = {version, pid};
  __user_cap_data_struct d[2] = {};
  int r = syscall(SYS_capget, &h, d);
  if (r == 0) {
    c->eff = d[0].effective | uint64_t{d[1].effective} << 32;
    c->perm = d[0].permitted | uint64_t{d[1].permitted} << 32;
    c->inh = d[0].inheritable | uint64_t{d[1].inheritable} << 32;
  }
  return r;
}

Caps Mine() {
  Caps c;
  EXPECT_EQ(Capget(0, &c), 0) << strerror(errno);
  return c;
}

int Capset(const Caps& c, int pid = 0) {
  __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, pid};
  __user_cap_data_struct d[2] = {
      {uint32_t(c.eff), uint32_t(c.perm), uint32_t(c.inh)},
      {uint32_t(c.eff >> 32), uint32_t(c.perm >> 32), uint32_t(c.inh >> 32)},
  };
  return syscall(SYS_capset, &h, d);
}

uint64_t Bounding() {
  uint64_t b = 0;
  for (int c = 0; c <= kLastCap; c++) {
    if (prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 1) b |= Bit(c);
  }
  return b;
}

uint64_t Ambient() {
  uint64_t a = 0;
  for (int c = 0; c <= kLastCap; c++) {
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, c, 0, 0) == 1) a |= Bit(c);
  }
  return a;
}

// What a process reports about itself after an exec.
struct Report {
  Caps caps;
  uint64_t bnd, amb;
  int nnp, keepcaps;
  uid_t euid;
};

BZ_HELPER(report) {
  if (argc != 1) return 2;
  Report r = {};
  if (Capget(0, &r.caps) != 0) return 3;
  r.bnd = Bounding();
  r.amb = Ambient();
  r.nnp = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
  r.keepcaps = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
  r.euid = geteuid();
  int fd = atoi(argv[0]);
  return write(fd, &r, sizeof(r)) == sizeof(r) ? 0 : 4;
}

// Runs setup in a child which then executes the report helper, and returns
// the report (the test fails if anything on the way fails).
Report ExecReport(const std::function<int()>& setup) {
  Pipe p;
  int st = InChild([&] {
    p.r.reset();
    int rc = setup();
    if (rc != 0) return rc;
    auto argv = HelperArgv("report", {std::to_string(p.w.get())});
    auto cargv = CArgv(argv);
    execv(cargv[0], cargv.data());
    return 100;
  });
  p.w.reset();
  Report r = {};
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << DescribeStatus(st);
  EXPECT_EQ(read(p.r.get(), &r, sizeof(r)), ssize_t(sizeof(r)));
  return r;
}

TEST(Capabilities, GetVersions) {
  Caps v3 = Mine();
  EXPECT_NE(v3.eff, 0u) << "the test runs as root";
  // v1 fills one word and leaves the rest of the buffer alone.
  __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_1, 0};
  __user_cap_data_struct d[2];
  memset(d, 0xa5, sizeof(d));
  ASSERT_OK(syscall(SYS_capget, &h, d));
  EXPECT_EQ(d[0].effective, uint32_t(v3.eff));
  EXPECT_EQ(d[0].permitted, uint32_t(v3.perm));
  EXPECT_EQ(d[1].effective, 0xa5a5a5a5u);
  Caps v2;
  ASSERT_OK(Capget(0, &v2, _LINUX_CAPABILITY_VERSION_2));
  EXPECT_EQ(v2.eff, v3.eff);
  EXPECT_EQ(v2.perm, v3.perm);
  // A null data pointer probes the version: an unknown one is rewritten.
  h = {0x12345678, 0};
  EXPECT_OK(syscall(SYS_capget, &h, nullptr));
  EXPECT_EQ(h.version, uint32_t(_LINUX_CAPABILITY_VERSION_3));
  h = {0x12345678, 0};
  EXPECT_ERRNO(EINVAL, syscall(SYS_capget, &h, d));
  EXPECT_EQ(h.version, uint32_t(_LINUX_CAPABILITY_VERSION_3));
  h = {0x12345678, 0};
  EXPECT_ERRNO(EINVAL, syscall(SYS_capset, &h, d));
  EXPECT_EQ(h.version, uint32_t(_LINUX_CAPABILITY_VERSION_3));
  EXPECT_ERRNO(EFAULT, syscall(SYS_capget, BadPointer(), d));
  h = {_LINUX_CAPABILITY_VERSION_3, 0};
  EXPECT_ERRNO(EFAULT, syscall(SYS_capget, &h, BadPointer()));
  Caps c;
  EXPECT_ERRNO(EINVAL, Capget(-1, &c));
  EXPECT_ERRNO(ESRCH, Capget(0x3ffffff0, &c));
}

TEST(Capabilities, GetOtherProcess) {
  Pipe ready, done;
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    Caps c = Mine();
    c.eff &= Bit(CAP_KILL);
    c.perm &= Bit(CAP_KILL) | Bit(CAP_CHOWN);
    c.inh = 0;
    char x = Capset(c) == 0 ? 'y' : 'n';
    write(ready.w.get(), &x, 1);
    done.w.reset();
    read(done.r.get(), &x, 1);  // EOF: the test has looked
    _exit(0);
  }
  ASSERT_GT(pid, 0);
  done.r.reset();
  char x = 0;
  ASSERT_EQ(read(ready.r.get(), &x, 1), 1);
  ASSERT_EQ(x, 'y');
  Caps c;
  EXPECT_OK(Capget(pid, &c));
  EXPECT_EQ(c.eff, Bit(CAP_KILL));
  EXPECT_EQ(c.perm, Bit(CAP_KILL) | Bit(CAP_CHOWN));
  EXPECT_EQ(c.inh, 0u);
  // Another process's sets cannot be changed.
  EXPECT_ERRNO(EPERM, Capset(c, pid));
  done.w.reset();
  int st = WaitStatus(pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << DescribeStatus(st);
}

TEST(Capabilities, SetRules) {
  EXPECT_CHILD_OK([] {
    Caps c = Mine();
    CHILD_CHECK(c.perm & Bit(CAP_SETPCAP));
    CHILD_CHECK(Capset(c, getpid()) == 0);
    // The effective set stays within the permitted one.
    Caps bad = c;
    bad.perm &= ~Bit(CAP_NET_RAW);
    CHILD_CHECK(Capset(bad) == -1 && errno == EPERM);
    // Permitted capabilities dropped cannot come back.
    Caps less = c;
    less.perm &= ~Bit(CAP_NET_RAW);
    less.eff &= ~Bit(CAP_NET_RAW);
    CHILD_CHECK(Capset(less) == 0);
    CHILD_CHECK(Capset(c) == -1 && errno == EPERM);
    // With CAP_SETPCAP, any capability of the bounding set may become
    // inheritable, even one no longer permitted.
    Caps inh = less;
    inh.inh = Bit(CAP_NET_RAW);
    CHILD_CHECK(Capset(inh) == 0);
    Caps got = Mine();
    CHILD_CHECK(got.inh == Bit(CAP_NET_RAW) && got.perm == less.perm && got.eff == less.eff);
    // Without it, only capabilities already inheritable or permitted.
    Caps nopcap = inh;
    nopcap.eff &= ~Bit(CAP_SETPCAP);
    CHILD_CHECK(Capset(nopcap) == 0);
    Caps more = nopcap;
    more.inh |= Bit(CAP_CHOWN);  // permitted
    CHILD_CHECK(Capset(more) == 0);
    more.inh |= Bit(CAP_NET_RAW);  // already inheritable
    CHILD_CHECK(Capset(more) == 0);
    Caps notperm = more;
    notperm.perm &= ~Bit(CAP_SYS_ADMIN);
    notperm.eff &= ~Bit(CAP_SYS_ADMIN);
    CHILD_CHECK(Capset(notperm) == 0);
    notperm.inh |= Bit(CAP_SYS_ADMIN);  // neither
    CHILD_CHECK(Capset(notperm) == -1 && errno == EPERM);
    return 0;
  });
}

TEST(Capabilities, SetVersion1ClearsTheUpperHalf) {
  EXPECT_CHILD_OK([] {
    Caps c = Mine();
    CHILD_CHECK(c.perm >> 32 != 0);
    __user_cap_header_struct h;
    h.version = _LINUX_CAPABILITY_VERSION_1;
    h.pid = 0;
    __user_cap_data_struct d;
    d.effective = uint32_t(c.eff);
    d.permitted = uint32_t(c.perm);
    d.inheritable = 0;
    CHILD_CHECK(syscall(SYS_capset, &h, &d) == 0);
    Caps got = Mine();
    CHILD_CHECK(got.perm == (c.perm & 0xffffffff) && got.eff == (c.eff & 0xffffffff));
    return 0;
  });
}

TEST(Capabilities, SetInheritableOutsideBounding) {
  EXPECT_CHILD_OK([] {
    CHILD_CHECK(prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) == 0);
    Caps c = Mine();
    CHILD_CHECK(c.perm & Bit(CAP_SYS_ADMIN));  // still permitted
    c.inh = Bit(CAP_SYS_ADMIN);
    CHILD_CHECK(Capset(c) == -1 && errno == EPERM);
    return 0;
  });
}

TEST(Capabilities, BoundingSet) {
  EXPECT_EQ(prctl(PR_CAPBSET_READ, CAP_CHOWN, 0, 0, 0), 1);
  EXPECT_ERRNO(EINVAL, prctl(PR_CAPBSET_READ, kLastCap + 1, 0, 0, 0));
  EXPECT_ERRNO(EINVAL, prctl(PR_CAPBSET_READ, -1, 0, 0, 0));
  EXPECT_CHILD_OK([] {
    uint64_t before = Bounding();
    CHILD_CHECK(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) == 0);
    CHILD_CHECK(prctl(PR_CAPBSET_READ, CAP_NET_RAW, 0, 0, 0) == 0);
    CHILD_CHECK(Bounding() == (before & ~Bit(CAP_NET_RAW)));
    CHILD_CHECK(prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) == 0);  // again
    CHILD_CHECK(prctl(PR_CAPBSET_DROP, kLastCap + 1, 0, 0, 0) == -1 && errno == EINVAL);
    // Dropping needs CAP_SETPCAP, checked before the capability.
    Caps c = Mine();
    c.eff &= ~Bit(CAP_SETPCAP);
    CHILD_CHECK(Capset(c) == 0);
    CHILD_CHECK(prctl(PR_CAPBSET_DROP, CAP_CHOWN, 0, 0, 0) == -1 && errno == EPERM);
    CHILD_CHECK(prctl(PR_CAPBSET_DROP, kLastCap + 1, 0, 0, 0) == -1 && errno == EPERM);
    return 0;
  });
}

TEST(Capabilities, AmbientSet) {
  EXPECT_EQ(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 0, 0), 0);
  EXPECT_ERRNO(EINVAL, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, kLastCap + 1, 0, 0));
  EXPECT_ERRNO(EINVAL, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_NET_RAW, 1, 0));
  EXPECT_ERRNO(EINVAL, prctl(PR_CAP_AMBIENT, 99, CAP_NET_RAW, 0, 0));
  EXPECT_ERRNO(EINVAL, prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0));
  EXPECT_CHILD_OK([] {
    // Not inheritable yet.
    CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) == -1 && errno == EPERM);
    Caps c = Mine();
    c.inh = Bit(CAP_NET_RAW) | Bit(CAP_CHOWN) | Bit(CAP_KILL);
    CHILD_CHECK(Capset(c) == 0);
    for (int cap : {CAP_NET_RAW, CAP_CHOWN, CAP_KILL}) {
      CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) == 0);
    }
    CHILD_CHECK(Ambient() == c.inh);
    CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_LOWER, CAP_CHOWN, 0, 0) == 0);
    CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_IS_SET, CAP_CHOWN, 0, 0) == 0);
    // Dropping a capability from the inheritable or permitted set drops
    // it from the ambient set; the bounding set does not.
    CHILD_CHECK(prctl(PR_CAPBSET_DROP, CAP_KILL, 0, 0, 0) == 0);
    CHILD_CHECK(Ambient() == (Bit(CAP_NET_RAW) | Bit(CAP_KILL)));
    c.inh &= ~Bit(CAP_NET_RAW);
    CHILD_CHECK(Capset(c) == 0);
    CHILD_CHECK(Ambient() == Bit(CAP_KILL));
    c.perm &= ~Bit(CAP_KILL);
    c.eff &= ~Bit(CAP_KILL);
    CHILD_CHECK(Capset(c) == 0);
    CHILD_CHECK(Ambient() == 0);
    CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_CHOWN, 0, 0) == 0);
    CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == 0);
    CHILD_CHECK(Ambient() == 0);
    return 0;
  });
}

TEST(Capabilities, KeepCaps) {
  EXPECT_EQ(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0), 0);
  EXPECT_ERRNO(EINVAL, prctl(PR_SET_KEEPCAPS, 2, 0, 0, 0));
  for (int keep : {0, 1}) {
    EXPECT_CHILD_OK([keep] {
      Caps before = Mine();
      CHILD_CHECK(prctl(PR_SET_KEEPCAPS, keep, 0, 0, 0) == 0);
      CHILD_CHECK(prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0) == keep);
      Caps c = before;
      c.inh = Bit(CAP_NET_RAW);
      CHILD_CHECK(Capset(c) == 0);
      CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) == 0);
      CHILD_CHECK(setresuid(1000, 1000, 1000) == 0);
      Caps after = Mine();
      // The effective and ambient sets are always cleared.
      CHILD_CHECK(after.eff == 0 && Ambient() == 0);
      CHILD_CHECK(after.perm == (keep ? before.perm : 0));
      CHILD_CHECK(after.inh == Bit(CAP_NET_RAW));
      return 0;
    });
  }
}

TEST(Capabilities, FSUIDChangeDropsFileCapabilities) {
  EXPECT_CHILD_OK([] {
    Caps before = Mine();
    uint64_t fs = 0;
    for (int cap : {CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID,
                    CAP_LINUX_IMMUTABLE, CAP_MKNOD, CAP_MAC_OVERRIDE}) {
      fs |= Bit(cap);
    }
    syscall(SYS_setfsuid, 1000);
    CHILD_CHECK(Mine().eff == (before.eff & ~fs));
    syscall(SYS_setfsuid, 0);
    CHILD_CHECK(Mine().eff == before.eff);
    return 0;
  });
}

TEST(Capabilities, ExecAsRootGetsTheBoundingSet) {
  Caps mine = Mine();
  Report r = ExecReport([] {
    // Permitted and effective shrink to one capability, the bounding set
    // loses another: the program gets the bounding set back.
    if (prctl(PR_CAPBSET_DROP, CAP_SYS_ADMIN, 0, 0, 0) != 0) return 10;
    Caps c = Mine();
    c.perm = c.eff = Bit(CAP_KILL);
    c.inh = Bit(CAP_NET_RAW);
    return Capset(c) == 0 ? 0 : 11;
  });
  uint64_t bnd = Bounding() & ~Bit(CAP_SYS_ADMIN);
  EXPECT_EQ(r.bnd, bnd);
  EXPECT_EQ(r.caps.perm, bnd);
  EXPECT_EQ(r.caps.eff, bnd);
  EXPECT_EQ(r.caps.inh, Bit(CAP_NET_RAW));
  EXPECT_EQ(r.amb, 0u);
  EXPECT_EQ(r.nnp, 0);
  EXPECT_EQ(r.caps.perm & ~mine.perm, 0u);
}

TEST(Capabilities, ExecWithNoNewPrivsGainsNothing) {
  Report r = ExecReport([] {
    Caps c = Mine();
    c.perm = c.eff = Bit(CAP_KILL) | Bit(CAP_SETPCAP);
    c.inh = 0;
    if (Capset(c) != 0) return 10;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 11;
    return 0;
  });
  EXPECT_EQ(r.caps.perm, Bit(CAP_KILL) | Bit(CAP_SETPCAP));
  EXPECT_EQ(r.caps.eff, Bit(CAP_KILL) | Bit(CAP_SETPCAP));
  EXPECT_EQ(r.nnp, 1);
  EXPECT_EQ(r.euid, 0u);
}

TEST(Capabilities, ExecAsUserKeepsOnlyAmbient) {
  for (bool ambient : {false, true}) {
    SCOPED_TRACE(ambient ? "with ambient" : "without ambient");
    Report r = ExecReport([ambient] {
      // The user needs CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH to reach
      // and execute the test binary wherever it lives.
      const uint64_t dac = Bit(CAP_DAC_OVERRIDE) | Bit(CAP_DAC_READ_SEARCH);
      if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) return 10;
      if (setresuid(1000, 1000, 1000) != 0) return 11;
      Caps c;
      c.perm = dac | Bit(CAP_NET_RAW) | Bit(CAP_KILL);
      c.eff = dac;
      c.inh = Bit(CAP_NET_RAW);
      if (Capset(c) != 0) return 12;
      if (ambient && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) != 0) return 13;
      return 0;
    });
    uint64_t want = ambient ? Bit(CAP_NET_RAW) : 0;
    EXPECT_EQ(r.euid, 1000u);
    EXPECT_EQ(r.caps.perm, want);
    EXPECT_EQ(r.caps.eff, want);
    EXPECT_EQ(r.amb, want);
    EXPECT_EQ(r.caps.inh, Bit(CAP_NET_RAW));
    EXPECT_EQ(r.keepcaps, 0) << "execve clears PR_SET_KEEPCAPS";
  }
}

TEST(Capabilities, ExecWithOnlyRealRootIsNotEffective) {
  Report r = ExecReport([] {
    // Real UID 0, effective 1000: permitted from the bounding set, and
    // only the ambient capabilities effective. (Linux before 6.x counted
    // this as a set-user-ID exec and cleared the ambient set.)
    Caps c = Mine();
    c.inh = Bit(CAP_NET_RAW);
    if (Capset(c) != 0) return 10;
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_NET_RAW, 0, 0) != 0) return 11;
    if (setresuid(0, 1000, 1000) != 0) return 12;
    // Back to filesystem UID 0 (which restores the file capabilities to
    // the effective set) to reach the test binary.
    syscall(SYS_setfsuid, 0);
    return 0;
  });
  EXPECT_EQ(r.euid, 1000u);
  EXPECT_EQ(r.caps.perm, Bounding() | Bit(CAP_NET_RAW));
  EXPECT_EQ(r.caps.eff, Bit(CAP_NET_RAW));
  EXPECT_EQ(r.amb, Bit(CAP_NET_RAW));
}

TEST(Capabilities, ExecWithNoNewPrivsAndAGainResetsTheEffectiveUID) {
  Report r = ExecReport([] {
    // Real UID 1000, effective 0: root would gain its bounding set, which
    // no_new_privs forbids; the effective UID falls back to the real one.
    Caps c = Mine();
    c.perm = c.eff = Bit(CAP_KILL) | Bit(CAP_DAC_OVERRIDE) | Bit(CAP_DAC_READ_SEARCH) | Bit(CAP_SETUID);
    c.inh = 0;
    if (Capset(c) != 0) return 10;
    if (setresuid(1000, 0, 0) != 0) return 11;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return 12;
    return 0;
  });
  EXPECT_EQ(r.euid, 1000u);
  uint64_t want = Bit(CAP_KILL) | Bit(CAP_DAC_OVERRIDE) | Bit(CAP_DAC_READ_SEARCH) | Bit(CAP_SETUID);
  EXPECT_EQ(r.caps.perm, want);
  EXPECT_EQ(r.caps.eff, want);
  EXPECT_EQ(r.nnp, 1);
}

// The value of a "Key:\tHEX" line of /proc/self/status.
uint64_t StatusHex(const std::string& status, const std::string& key) {
  std::istringstream in(status);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key + ":", 0) == 0) return strtoull(line.c_str() + key.size() + 1, nullptr, 16);
  }
  ADD_FAILURE() << "no " << key << " line";
  return ~uint64_t{0};
}

TEST(Capabilities, ProcStatus) {
  EXPECT_CHILD_OK([] {
    CHILD_CHECK(prctl(PR_CAPBSET_DROP, CAP_SYS_BOOT, 0, 0, 0) == 0);
    Caps c = Mine();
    c.perm &= ~Bit(CAP_MKNOD);
    c.eff &= ~(Bit(CAP_MKNOD) | Bit(CAP_CHOWN));
    c.inh = Bit(CAP_NET_RAW) | Bit(CAP_KILL);
    CHILD_CHECK(Capset(c) == 0);
    CHILD_CHECK(prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, CAP_KILL, 0, 0) == 0);
    std::string s = ReadAll("/proc/self/status");
    CHILD_CHECK(StatusHex(s, "NoNewPrivs") == 0);
    CHILD_CHECK(StatusHex(s, "CapInh") == c.inh);
    CHILD_CHECK(StatusHex(s, "CapPrm") == c.perm);
    CHILD_CHECK(StatusHex(s, "CapEff") == c.eff);
    CHILD_CHECK(StatusHex(s, "CapBnd") == Bounding());
    CHILD_CHECK((StatusHex(s, "CapBnd") & Bit(CAP_SYS_BOOT)) == 0);
    CHILD_CHECK(StatusHex(s, "CapAmb") == Bit(CAP_KILL));
    CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHILD_CHECK(StatusHex(ReadAll("/proc/self/status"), "NoNewPrivs") == 1);
    return 0;
  });
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
