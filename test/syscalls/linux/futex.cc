// futex without a second thread: FUTEX_WAIT's value check and timeouts,
// FUTEX_WAKE with no waiters, and argument errors.
#include <limits.h>
#include <linux/futex.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

long Futex(void* addr, int op, uint32_t val, const struct timespec* ts,
           uint32_t val3 = 0) {
  return syscall(SYS_futex, addr, op, val, ts, nullptr, val3);
}

int64_t MonoNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

TEST(Futex, WaitWithWrongValueIsEAGAIN) {
  uint32_t word = 1;
  EXPECT_ERRNO(EAGAIN, Futex(&word, FUTEX_WAIT, 2, nullptr));
  EXPECT_ERRNO(EAGAIN, Futex(&word, FUTEX_WAIT_PRIVATE, 0, nullptr));
}

TEST(Futex, WaitTimesOut) {
  uint32_t word = 7;
  struct timespec ts = {0, 1000000};  // relative 1 ms
  int64_t start = MonoNs();
  EXPECT_ERRNO(ETIMEDOUT, Futex(&word, FUTEX_WAIT_PRIVATE, 7, &ts));
  EXPECT_GE(MonoNs() - start, 1000000);
  EXPECT_ERRNO(ETIMEDOUT, Futex(&word, FUTEX_WAIT, 7, &ts));
}

TEST(Futex, WaitBitsetAbsoluteTimeout) {
  uint32_t word = 3;
  struct timespec now;
  ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &now));
  struct timespec past = now;
  past.tv_sec -= 1;
  EXPECT_ERRNO(ETIMEDOUT, Futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 3, &past,
                                FUTEX_BITSET_MATCH_ANY));
  struct timespec soon = now;
  soon.tv_nsec += 1000000;
  if (soon.tv_nsec >= 1000000000) {
    soon.tv_sec++;
    soon.tv_nsec -= 1000000000;
  }
  EXPECT_ERRNO(ETIMEDOUT, Futex(&word, FUTEX_WAIT_BITSET_PRIVATE, 3, &soon,
                                FUTEX_BITSET_MATCH_ANY));
  struct timespec after;
  ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &after));
  EXPECT_TRUE(after.tv_sec > soon.tv_sec ||
              (after.tv_sec == soon.tv_sec && after.tv_nsec >= soon.tv_nsec));
}

TEST(Futex, WakeWithoutWaiters) {
  uint32_t word = 0;
  EXPECT_EQ(Futex(&word, FUTEX_WAKE, 1, nullptr), 0);
  EXPECT_EQ(Futex(&word, FUTEX_WAKE_PRIVATE, INT_MAX, nullptr), 0);
  EXPECT_EQ(Futex(&word, FUTEX_WAKE_BITSET | FUTEX_PRIVATE_FLAG, 1, nullptr,
                  FUTEX_BITSET_MATCH_ANY),
            0);
}

TEST(Futex, Errors) {
  alignas(8) uint32_t words[2] = {0, 0};
  struct timespec ts = {0, 1000000};
  // Unaligned address.
  EXPECT_ERRNO(EINVAL,
               Futex(reinterpret_cast<char*>(words) + 1, FUTEX_WAIT, 0, &ts));
  // Bad pointer.
  EXPECT_ERRNO(EFAULT, Futex(BadPointer(), FUTEX_WAIT, 0, &ts));
  // A bitset of zero matches nothing.
  EXPECT_ERRNO(EINVAL, Futex(words, FUTEX_WAIT_BITSET, 0, &ts, 0));
  // Invalid timeout.
  struct timespec bad = {0, 1000000000};
  EXPECT_ERRNO(EINVAL, Futex(words, FUTEX_WAIT, 0, &bad));
  // Unknown operation.
  EXPECT_ERRNO(ENOSYS, Futex(words, 99, 0, nullptr));
}

}  // namespace
}  // namespace bz
