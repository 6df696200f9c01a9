// Clocks and sleeps: clock_gettime, clock_getres, gettimeofday, time,
// nanosleep, clock_nanosleep. Raw system calls are used where glibc would
// answer from the vDSO, so that the kernel's implementation is what is
// tested.
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

int64_t Ns(const struct timespec& ts) {
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

struct timespec Now(clockid_t c) {
  struct timespec ts = {};
  EXPECT_EQ(syscall(SYS_clock_gettime, c, &ts), 0) << c << strerror(errno);
  return ts;
}

TEST(Time, MonotonicNeverGoesBack) {
  int64_t prev = Ns(Now(CLOCK_MONOTONIC));
  for (int i = 0; i < 1000; i++) {
    int64_t now = Ns(Now(CLOCK_MONOTONIC));
    ASSERT_GE(now, prev);
    prev = now;
  }
}

TEST(Time, ValidNanoseconds) {
  for (clockid_t c : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME,
                      CLOCK_MONOTONIC_COARSE, CLOCK_REALTIME_COARSE,
                      CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID}) {
    struct timespec ts = Now(c);
    EXPECT_GE(ts.tv_nsec, 0) << c;
    EXPECT_LT(ts.tv_nsec, 1000000000) << c;
    EXPECT_GE(ts.tv_sec, 0) << c;
  }
}

TEST(Time, BoottimeIsAtLeastMonotonic) {
  int64_t mono = Ns(Now(CLOCK_MONOTONIC));
  int64_t boot = Ns(Now(CLOCK_BOOTTIME));
  EXPECT_GE(boot, mono);
}

TEST(Time, RealtimeAgreesWithTimeAndGettimeofday) {
  struct timespec rt = Now(CLOCK_REALTIME);
  long t = syscall(SYS_time, nullptr);
  struct timeval tv;
  ASSERT_OK(syscall(SYS_gettimeofday, &tv, nullptr));
  EXPECT_LE(std::abs(t - rt.tv_sec), 2);
  EXPECT_LE(std::abs(tv.tv_sec - rt.tv_sec), 2);
  EXPECT_GE(tv.tv_usec, 0);
  EXPECT_LT(tv.tv_usec, 1000000);
  // After 2020: the clock is a real wall clock, not a counter from zero.
  EXPECT_GT(rt.tv_sec, 1577836800);
  time_t out = 0;
  long r = syscall(SYS_time, &out);
  EXPECT_EQ(out, r);
}

TEST(Time, Getres) {
  for (clockid_t c : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME}) {
    struct timespec res = {};
    ASSERT_OK(syscall(SYS_clock_getres, c, &res));
    EXPECT_EQ(res.tv_sec, 0) << c;
    EXPECT_GT(res.tv_nsec, 0) << c;
    EXPECT_LE(res.tv_nsec, 1000000) << c;
  }
  EXPECT_EQ(syscall(SYS_clock_getres, CLOCK_MONOTONIC, nullptr), 0);
}

TEST(Time, BadClock) {
  struct timespec ts;
  EXPECT_ERRNO(EINVAL, syscall(SYS_clock_gettime, 12345, &ts));
  EXPECT_ERRNO(EINVAL, syscall(SYS_clock_getres, 12345, &ts));
  EXPECT_ERRNO(EFAULT, syscall(SYS_clock_gettime, CLOCK_MONOTONIC,
                               BadPointer()));
  EXPECT_ERRNO(EFAULT, syscall(SYS_gettimeofday, BadPointer(), nullptr));
}

TEST(Time, NanosleepSleeps) {
  struct timespec req = {0, 1000000};  // 1 ms
  int64_t start = Ns(Now(CLOCK_MONOTONIC));
  ASSERT_EQ(syscall(SYS_nanosleep, &req, nullptr), 0);
  EXPECT_GE(Ns(Now(CLOCK_MONOTONIC)) - start, 1000000);
  struct timespec zero = {0, 0};
  EXPECT_EQ(syscall(SYS_nanosleep, &zero, nullptr), 0);
}

TEST(Time, NanosleepInvalid) {
  struct timespec big = {0, 1000000000};
  struct timespec neg = {0, -1};
  struct timespec negsec = {-1, 0};
  EXPECT_ERRNO(EINVAL, syscall(SYS_nanosleep, &big, nullptr));
  EXPECT_ERRNO(EINVAL, syscall(SYS_nanosleep, &neg, nullptr));
  EXPECT_ERRNO(EINVAL, syscall(SYS_nanosleep, &negsec, nullptr));
  EXPECT_ERRNO(EFAULT, syscall(SYS_nanosleep, BadPointer(), nullptr));
}

TEST(Time, ClockNanosleepAbsoluteInPast) {
  struct timespec past = Now(CLOCK_MONOTONIC);
  past.tv_sec -= 1;
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &past, nullptr), 0);
  struct timespec rel = {0, 1000000};
  int64_t start = Ns(Now(CLOCK_MONOTONIC));
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &rel, nullptr), 0);
  EXPECT_GE(Ns(Now(CLOCK_MONOTONIC)) - start, 1000000);
  // clock_nanosleep returns the error number instead of setting errno.
  struct timespec bad = {0, 1000000000};
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, 0, &bad, nullptr), EINVAL);
  EXPECT_EQ(clock_nanosleep(12345, 0, &rel, nullptr), EINVAL);
}

}  // namespace
}  // namespace bz
