// Process and credential identifiers: getpid, gettid, getppid, getpgid,
// getuid/geteuid/getgid/getegid, getresuid/getresgid, getgroups. Only
// consistency is checked: the sandbox may legitimately run as another user
// or with another parent.
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <vector>

#include "test_util.h"

namespace bz {
namespace {

TEST(Ids, PidEqualsTidInMainThread) {
  long pid = syscall(SYS_getpid);
  ASSERT_GT(pid, 0);
  EXPECT_EQ(syscall(SYS_gettid), pid);
  EXPECT_EQ(getpid(), pid);
}

TEST(Ids, Parent) {
  long ppid = syscall(SYS_getppid);
  EXPECT_GE(ppid, 0);  // 0 when the parent is outside our PID namespace
  EXPECT_NE(ppid, getpid());
}

TEST(Ids, ProcessGroup) {
  long pgid = syscall(SYS_getpgid, 0);
  ASSERT_GT(pgid, 0);
  EXPECT_EQ(syscall(SYS_getpgrp), pgid);
  EXPECT_EQ(syscall(SYS_getpgid, getpid()), pgid);
  EXPECT_ERRNO(ESRCH, syscall(SYS_getpgid, INT_MAX));
  EXPECT_ERRNO(ESRCH, syscall(SYS_getsid, INT_MAX));
  EXPECT_ERRNO(ESRCH, syscall(SYS_getpgid, -1));  // Linux: no such pid
}

TEST(Ids, UserAndGroupAreConsistent) {
  uid_t r, e, s;
  ASSERT_OK(syscall(SYS_getresuid, &r, &e, &s));
  EXPECT_EQ(static_cast<uid_t>(syscall(SYS_getuid)), r);
  EXPECT_EQ(static_cast<uid_t>(syscall(SYS_geteuid)), e);
  gid_t gr, ge, gs;
  ASSERT_OK(syscall(SYS_getresgid, &gr, &ge, &gs));
  EXPECT_EQ(static_cast<gid_t>(syscall(SYS_getgid)), gr);
  EXPECT_EQ(static_cast<gid_t>(syscall(SYS_getegid)), ge);
  EXPECT_ERRNO(EFAULT, syscall(SYS_getresuid, BadPointer(), &e, &s));
}

TEST(Ids, Groups) {
  long n = syscall(SYS_getgroups, 0, nullptr);
  ASSERT_GE(n, 0);
  std::vector<gid_t> g(n + 1);
  EXPECT_EQ(syscall(SYS_getgroups, g.size(), g.data()), n);
  if (n > 0) {
    EXPECT_ERRNO(EINVAL, syscall(SYS_getgroups, n - 1, g.data()));
    EXPECT_ERRNO(EFAULT, syscall(SYS_getgroups, n, BadPointer()));
  }
  EXPECT_ERRNO(EINVAL, syscall(SYS_getgroups, -1, g.data()));
}

}  // namespace
}  // namespace bz
