// getrlimit, setrlimit and prlimit64 on the calling process. Only soft
// limits are lowered, and each test restores what it changed.
#include <fcntl.h>
#include <limits.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

TEST(Rlimit, SoftAtMostHard) {
  for (int r : {RLIMIT_NOFILE, RLIMIT_STACK, RLIMIT_CORE, RLIMIT_AS,
                RLIMIT_DATA, RLIMIT_NPROC, RLIMIT_CPU, RLIMIT_FSIZE}) {
    struct rlimit rl;
    ASSERT_OK(getrlimit(r, &rl));
    EXPECT_LE(rl.rlim_cur, rl.rlim_max) << r;
  }
}

TEST(Rlimit, PrlimitSelfMatchesGetrlimit) {
  struct rlimit want;
  ASSERT_OK(syscall(SYS_getrlimit, RLIMIT_NOFILE, &want));
  struct rlimit got;
  ASSERT_OK(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &got));
  EXPECT_EQ(got.rlim_cur, want.rlim_cur);
  EXPECT_EQ(got.rlim_max, want.rlim_max);
  ASSERT_OK(syscall(SYS_prlimit64, getpid(), RLIMIT_NOFILE, nullptr, &got));
  EXPECT_EQ(got.rlim_cur, want.rlim_cur);
}

TEST(Rlimit, LowerSoftLimitAndReadBack) {
  struct rlimit old;
  ASSERT_OK(getrlimit(RLIMIT_NOFILE, &old));
  if (old.rlim_cur < 64) GTEST_SKIP() << "soft NOFILE limit below 64";
  struct rlimit low = {64, old.rlim_max};
  ASSERT_OK(setrlimit(RLIMIT_NOFILE, &low));
  struct rlimit got;
  ASSERT_OK(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, nullptr, &got));
  EXPECT_EQ(got.rlim_cur, 64u);
  EXPECT_EQ(got.rlim_max, old.rlim_max);
  // The new limit is enforced.
  FD fd(open("/etc/passwd", O_RDONLY));
  ASSERT_OK(fd.get());
  EXPECT_ERRNO(EINVAL, fcntl(fd.get(), F_DUPFD, 64));
  EXPECT_ERRNO(EBADF, dup2(fd.get(), 64));
  // prlimit64 sets and returns the old value in one call.
  struct rlimit prev;
  ASSERT_OK(syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &old, &prev));
  EXPECT_EQ(prev.rlim_cur, 64u);
  ASSERT_OK(getrlimit(RLIMIT_NOFILE, &got));
  EXPECT_EQ(got.rlim_cur, old.rlim_cur);
}

TEST(Rlimit, CoreSoftLimitRoundTrip) {
  struct rlimit old;
  ASSERT_OK(getrlimit(RLIMIT_CORE, &old));
  struct rlimit zero = {0, old.rlim_max};
  ASSERT_OK(setrlimit(RLIMIT_CORE, &zero));
  struct rlimit got;
  ASSERT_OK(getrlimit(RLIMIT_CORE, &got));
  EXPECT_EQ(got.rlim_cur, 0u);
  ASSERT_OK(setrlimit(RLIMIT_CORE, &old));
  ASSERT_OK(getrlimit(RLIMIT_CORE, &got));
  EXPECT_EQ(got.rlim_cur, old.rlim_cur);
}

TEST(Rlimit, Errors) {
  struct rlimit rl;
  ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
  if (rl.rlim_max != RLIM_INFINITY) {
    struct rlimit bad = {rl.rlim_max, rl.rlim_max - 1};  // soft > hard
    EXPECT_ERRNO(EINVAL, setrlimit(RLIMIT_NOFILE, &bad));
  }
  EXPECT_ERRNO(EINVAL, syscall(SYS_getrlimit, 1000, &rl));
  EXPECT_ERRNO(EINVAL, syscall(SYS_prlimit64, 0, 1000, nullptr, &rl));
  EXPECT_ERRNO(ESRCH, syscall(SYS_prlimit64, INT_MAX, RLIMIT_NOFILE, nullptr,
                              &rl));
  EXPECT_ERRNO(EFAULT, syscall(SYS_getrlimit, RLIMIT_NOFILE, BadPointer()));
}

}  // namespace
}  // namespace bz
