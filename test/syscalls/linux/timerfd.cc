// timerfd: create flags and clocks, relative and absolute settings,
// periodic expiry counts, gettime, readiness and non-blocking reads.
#include <poll.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

TEST(Timerfd, CreateFlagsAndClocks) {
  for (int clock : {CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME}) {
    FD fd(timerfd_create(clock, TFD_CLOEXEC | TFD_NONBLOCK));
    ASSERT_OK(fd.get());
    EXPECT_EQ(fcntl(fd.get(), F_GETFD), FD_CLOEXEC);
    EXPECT_TRUE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
  }
  EXPECT_ERRNO(EINVAL, timerfd_create(CLOCK_PROCESS_CPUTIME_ID, 0));
  EXPECT_ERRNO(EINVAL, timerfd_create(12345, 0));
  EXPECT_ERRNO(EINVAL, timerfd_create(CLOCK_MONOTONIC, 0x4));
}

TEST(Timerfd, SettimeErrors) {
  FD fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  ASSERT_OK(fd.get());
  struct itimerspec its = {};
  EXPECT_ERRNO(EINVAL, timerfd_settime(fd.get(), 0x10, &its, nullptr));
  its.it_value.tv_nsec = 1000000000;
  EXPECT_ERRNO(EINVAL, timerfd_settime(fd.get(), 0, &its, nullptr));
  its.it_value.tv_nsec = 0;
  EXPECT_ERRNO(EBADF, timerfd_settime(999, 0, &its, nullptr));
  int fds[2];
  ASSERT_OK(pipe(fds));
  FD r(fds[0]), w(fds[1]);
  EXPECT_ERRNO(EINVAL, timerfd_settime(r.get(), 0, &its, nullptr));
  EXPECT_ERRNO(EINVAL, timerfd_gettime(r.get(), &its));
  EXPECT_ERRNO(EFAULT, timerfd_settime(fd.get(), 0, nullptr, nullptr));
  // TFD_TIMER_CANCEL_ON_SET is accepted with an absolute realtime timer.
  FD rt(timerfd_create(CLOCK_REALTIME, TFD_NONBLOCK));
  EXPECT_OK(timerfd_settime(rt.get(), TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &its, nullptr));
}

TEST(Timerfd, DisarmedNotReadable) {
  FD fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  uint64_t n;
  EXPECT_ERRNO(EAGAIN, read(fd.get(), &n, 8));
  struct itimerspec cur;
  ASSERT_OK(timerfd_gettime(fd.get(), &cur));
  EXPECT_EQ(cur.it_value.tv_sec, 0);
  EXPECT_EQ(cur.it_value.tv_nsec, 0);
  char small[4];
  EXPECT_ERRNO(EINVAL, read(fd.get(), small, 4));
  EXPECT_ERRNO(EINVAL, write(fd.get(), &n, 8));
}

TEST(Timerfd, OneShotBlockingRead) {
  FD fd(timerfd_create(CLOCK_MONOTONIC, 0));
  struct itimerspec its = {{0, 0}, {0, 10000000}};
  ASSERT_OK(timerfd_settime(fd.get(), 0, &its, nullptr));
  struct itimerspec cur;
  ASSERT_OK(timerfd_gettime(fd.get(), &cur));
  EXPECT_EQ(cur.it_value.tv_sec, 0);
  EXPECT_GT(cur.it_value.tv_nsec, 0);
  EXPECT_LE(cur.it_value.tv_nsec, 10000000);
  uint64_t n = 0;
  ASSERT_EQ(read(fd.get(), &n, 8), 8);
  EXPECT_EQ(n, 1u);
  ASSERT_OK(timerfd_gettime(fd.get(), &cur));
  EXPECT_EQ(cur.it_value.tv_sec, 0);
  EXPECT_EQ(cur.it_value.tv_nsec, 0);
}

TEST(Timerfd, PeriodicCountsExpirations) {
  FD fd(timerfd_create(CLOCK_MONOTONIC, 0));
  struct itimerspec its = {{0, 1000000}, {0, 1000000}};
  ASSERT_OK(timerfd_settime(fd.get(), 0, &its, nullptr));
  // Wait (on another clock) well past several periods.
  struct timespec d = {0, 20000000};
  ASSERT_OK(clock_nanosleep(CLOCK_MONOTONIC, 0, &d, nullptr));
  uint64_t n = 0;
  ASSERT_EQ(read(fd.get(), &n, 8), 8);
  EXPECT_GE(n, 10u);
  struct itimerspec old;
  struct itimerspec off = {};
  ASSERT_OK(timerfd_settime(fd.get(), 0, &off, &old));
  EXPECT_EQ(old.it_interval.tv_nsec, 1000000);
}

TEST(Timerfd, AbsoluteInThePastFiresAtOnce) {
  for (int clock : {CLOCK_REALTIME, CLOCK_MONOTONIC}) {
    FD fd(timerfd_create(clock, TFD_NONBLOCK));
    struct timespec now;
    clock_gettime(clock, &now);
    struct itimerspec its = {{0, 0}, {now.tv_sec - 1, 0}};
    ASSERT_OK(timerfd_settime(fd.get(), TFD_TIMER_ABSTIME, &its, nullptr));
    struct pollfd p = {fd.get(), POLLIN, 0};
    EXPECT_EQ(poll(&p, 1, 0), 1) << clock;
    uint64_t n = 0;
    ASSERT_EQ(read(fd.get(), &n, 8), 8);
    EXPECT_EQ(n, 1u);
  }
}

TEST(Timerfd, AbsoluteInTheFuture) {
  FD fd(timerfd_create(CLOCK_MONOTONIC, 0));
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  struct itimerspec its = {{0, 0}, {now.tv_sec + 100, now.tv_nsec}};
  ASSERT_OK(timerfd_settime(fd.get(), TFD_TIMER_ABSTIME, &its, nullptr));
  struct itimerspec cur;
  ASSERT_OK(timerfd_gettime(fd.get(), &cur));
  EXPECT_GE(cur.it_value.tv_sec, 98);
  EXPECT_LE(cur.it_value.tv_sec, 100);
  struct pollfd p = {fd.get(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
}

TEST(Timerfd, SettimeClearsPendingExpirations) {
  FD fd(timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK));
  struct itimerspec now = {{0, 0}, {0, 1}};
  ASSERT_OK(timerfd_settime(fd.get(), 0, &now, nullptr));
  struct pollfd p = {fd.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 1000), 1);
  struct itimerspec later = {{0, 0}, {100, 0}};
  ASSERT_OK(timerfd_settime(fd.get(), 0, &later, nullptr));
  uint64_t n;
  EXPECT_ERRNO(EAGAIN, read(fd.get(), &n, 8));
}

}  // namespace
}  // namespace bz
