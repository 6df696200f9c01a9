// The vDSO: the kernel maps one and announces it with AT_SYSINFO_EHDR, and
// glibc's clock_gettime, gettimeofday and time (which call it) agree with
// the system calls (made raw here, so that they reach the kernel).
#include <elf.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

int64_t Ns(const struct timespec& ts) {
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t SyscallNs(clockid_t c) {
  struct timespec ts = {};
  EXPECT_EQ(syscall(SYS_clock_gettime, c, &ts), 0) << c << strerror(errno);
  return Ns(ts);
}

int64_t LibcNs(clockid_t c) {
  struct timespec ts = {};
  EXPECT_EQ(clock_gettime(c, &ts), 0) << c << strerror(errno);
  return Ns(ts);
}

TEST(Vdso, AuxvPointsAtAnELFImage) {
  unsigned long ehdr = getauxval(AT_SYSINFO_EHDR);
  ASSERT_NE(ehdr, 0UL);
  EXPECT_EQ(ehdr % PageSize(), 0UL);
  const Elf64_Ehdr* h = reinterpret_cast<const Elf64_Ehdr*>(ehdr);
  EXPECT_EQ(memcmp(h->e_ident, ELFMAG, SELFMAG), 0);
  EXPECT_EQ(h->e_ident[EI_CLASS], ELFCLASS64);
  EXPECT_EQ(h->e_type, ET_DYN);
  EXPECT_EQ(h->e_machine, EM_X86_64);
}

TEST(Vdso, ShownInProcMaps) {
  std::string maps = ReadAll("/proc/self/maps");
  size_t at = maps.find("[vdso]");
  ASSERT_NE(at, std::string::npos) << maps;
  // The line's start address is AT_SYSINFO_EHDR.
  size_t line = maps.rfind('\n', at);
  line = line == std::string::npos ? 0 : line + 1;
  unsigned long start = strtoul(maps.c_str() + line, nullptr, 16);
  EXPECT_EQ(start, getauxval(AT_SYSINFO_EHDR));
  // Readable and executable, not writable.
  size_t perms = maps.find(' ', line);
  ASSERT_NE(perms, std::string::npos);
  EXPECT_EQ(maps.substr(perms + 1, 3), "r-x") << maps.substr(line, at - line);
}

// A vDSO reading lies between two system call readings around it, give or
// take a few milliseconds.
TEST(Vdso, ClocksAgreeWithSyscalls) {
  const int64_t slack = 5000000;  // 5 ms
  for (clockid_t c : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME}) {
    for (int i = 0; i < 100; i++) {
      int64_t before = SyscallNs(c);
      int64_t v = LibcNs(c);
      int64_t after = SyscallNs(c);
      ASSERT_GE(v, before - slack) << "clock " << c;
      ASSERT_LE(v, after + slack) << "clock " << c;
    }
  }
}

TEST(Vdso, CoarseClocksAgree) {
  // Coarse clocks may lag by a tick (Linux: up to 4 ms at HZ=250).
  const int64_t slack = 20000000;
  int64_t before = SyscallNs(CLOCK_MONOTONIC);
  int64_t v = LibcNs(CLOCK_MONOTONIC_COARSE);
  int64_t after = SyscallNs(CLOCK_MONOTONIC);
  EXPECT_GE(v, before - slack);
  EXPECT_LE(v, after + slack);
  before = SyscallNs(CLOCK_REALTIME);
  v = LibcNs(CLOCK_REALTIME_COARSE);
  after = SyscallNs(CLOCK_REALTIME);
  EXPECT_GE(v, before - slack);
  EXPECT_LE(v, after + slack);
}

TEST(Vdso, MonotonicNeverGoesBack) {
  int64_t prev = LibcNs(CLOCK_MONOTONIC);
  for (int i = 0; i < 1000000; i++) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = Ns(ts);
    ASSERT_GE(now, prev) << "call " << i;
    ASSERT_GE(ts.tv_nsec, 0);
    ASSERT_LT(ts.tv_nsec, 1000000000);
    prev = now;
  }
}

TEST(Vdso, GettimeofdayAndTimeAgree) {
  for (int i = 0; i < 100; i++) {
    int64_t before = SyscallNs(CLOCK_REALTIME);
    struct timeval tv;
    struct timezone tz = {-1, -1};
    ASSERT_EQ(gettimeofday(&tv, &tz), 0);
    time_t t = time(nullptr);
    time_t t2 = 0;
    time(&t2);
    int64_t after = SyscallNs(CLOCK_REALTIME);
    int64_t us = tv.tv_sec * 1000000LL + tv.tv_usec;
    ASSERT_GE(us, before / 1000 - 5000);
    ASSERT_LE(us, after / 1000 + 5000);
    ASSERT_GE(tv.tv_usec, 0);
    ASSERT_LT(tv.tv_usec, 1000000);
    ASSERT_GE(t, before / 1000000000 - 1);
    ASSERT_LE(t, after / 1000000000 + 1);
    ASSERT_GE(t2, t);
    // The same time zone as the system call reports.
    struct timezone stz = {-1, -1};
    struct timeval stv;
    ASSERT_OK(syscall(SYS_gettimeofday, &stv, &stz));
    EXPECT_EQ(tz.tz_minuteswest, stz.tz_minuteswest);
    EXPECT_EQ(tz.tz_dsttime, stz.tz_dsttime);
  }
}

TEST(Vdso, ClockGetresAgrees) {
  for (clockid_t c : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME,
                      CLOCK_PROCESS_CPUTIME_ID}) {
    struct timespec a = {}, b = {};
    ASSERT_EQ(clock_getres(c, &a), 0) << c;
    ASSERT_OK(syscall(SYS_clock_getres, c, &b));
    EXPECT_EQ(a.tv_sec, b.tv_sec) << c;
    EXPECT_EQ(a.tv_nsec, b.tv_nsec) << c;
  }
  EXPECT_EQ(clock_getres(CLOCK_MONOTONIC, nullptr), 0);
}

TEST(Vdso, UnservedClocksFallBack) {
  // CPU-time clocks and bad ids go to the kernel: the same answers as the
  // system call.
  struct timespec ts;
  EXPECT_EQ(clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts), 0);
  EXPECT_GT(Ns(ts), 0);
  EXPECT_EQ(clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts), 0);
  errno = 0;
  EXPECT_EQ(clock_gettime(12345, &ts), -1);
  EXPECT_EQ(errno, EINVAL);
  errno = 0;
  EXPECT_EQ(clock_getres(12345, &ts), -1);
  EXPECT_EQ(errno, EINVAL);
}

TEST(Vdso, GetcpuAgrees) {
  unsigned cpu = ~0u, node = ~0u;
  ASSERT_EQ(getcpu(&cpu, &node), 0);
  EXPECT_LT(cpu, static_cast<unsigned>(sysconf(_SC_NPROCESSORS_CONF)));
  EXPECT_EQ(sched_getcpu() >= 0, true);
}

}  // namespace
}  // namespace bz
