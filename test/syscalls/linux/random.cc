// getrandom: sizes, flags and errors.
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "test_util.h"

#ifndef GRND_INSECURE
#define GRND_INSECURE 0x0004
#endif

namespace bz {
namespace {

TEST(Getrandom, Sizes) {
  for (size_t n : {1, 16, 256, 4096}) {
    std::vector<unsigned char> buf(n);
    EXPECT_EQ(syscall(SYS_getrandom, buf.data(), n, 0), static_cast<long>(n));
  }
  EXPECT_EQ(syscall(SYS_getrandom, nullptr, 0, 0), 0);
}

TEST(Getrandom, LargeRequestReturnsSome) {
  std::vector<unsigned char> buf(1 << 20);
  long n = syscall(SYS_getrandom, buf.data(), buf.size(), 0);
  EXPECT_GT(n, 0) << strerror(errno);
  EXPECT_LE(n, static_cast<long>(buf.size()));
}

TEST(Getrandom, TwoCallsDiffer) {
  unsigned char a[32], b[32];
  ASSERT_EQ(syscall(SYS_getrandom, a, sizeof(a), 0), 32);
  ASSERT_EQ(syscall(SYS_getrandom, b, sizeof(b), 0), 32);
  EXPECT_NE(memcmp(a, b, sizeof(a)), 0);  // 2^-256 chance of a false failure
}

TEST(Getrandom, BytesAreNotAllZero) {
  unsigned char a[64] = {};
  ASSERT_EQ(syscall(SYS_getrandom, a, sizeof(a), 0), 64);
  int nonzero = 0;
  for (unsigned char c : a) nonzero += c != 0;
  EXPECT_GT(nonzero, 32);
}

TEST(Getrandom, Flags) {
  unsigned char a[16];
  EXPECT_EQ(syscall(SYS_getrandom, a, sizeof(a), GRND_NONBLOCK), 16);
  EXPECT_EQ(syscall(SYS_getrandom, a, sizeof(a), GRND_RANDOM | GRND_NONBLOCK),
            16);
  EXPECT_ERRNO(EINVAL, syscall(SYS_getrandom, a, sizeof(a), 0x100));
  EXPECT_ERRNO(EINVAL,
               syscall(SYS_getrandom, a, sizeof(a), GRND_RANDOM | GRND_INSECURE));
}

TEST(Getrandom, BadPointer) {
  EXPECT_ERRNO(EFAULT, syscall(SYS_getrandom, BadPointer(), 16, 0));
}

}  // namespace
}  // namespace bz
