// readlink and readlinkat on a host symbolic link (found, not created), and
// their errors on non-links, missing paths and bad buffers.
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

std::string LinkOrSkip() { return FindSymlink(); }

#define REQUIRE_LINK(var)                                             \
  std::string var = LinkOrSkip();                                     \
  if (var.empty()) GTEST_SKIP() << "no symbolic link on this root"

TEST(Readlink, ReturnsTargetWithoutNUL) {
  REQUIRE_LINK(link);
  char buf[PATH_MAX];
  memset(buf, 'x', sizeof(buf));
  ssize_t n = syscall(SYS_readlink, link.c_str(), buf, sizeof(buf));
  ASSERT_GT(n, 0) << strerror(errno);
  EXPECT_EQ(buf[n], 'x');  // not NUL-terminated
  EXPECT_EQ(memchr(buf, 0, n), nullptr);
  // The target resolves to what stat() sees through the link.
  std::string target(buf, n);
  if (target[0] != '/') {
    std::string dir = link.substr(0, link.rfind('/') + 1);
    target = dir + target;
  }
  struct stat via_link, via_target;
  ASSERT_OK(stat(link.c_str(), &via_link));
  ASSERT_OK(stat(target.c_str(), &via_target));
  EXPECT_EQ(via_link.st_ino, via_target.st_ino);
  // The link's size is the target's length.
  struct stat l;
  ASSERT_OK(lstat(link.c_str(), &l));
  EXPECT_EQ(l.st_size, n);
}

TEST(Readlink, ReadlinkatAgrees) {
  REQUIRE_LINK(link);
  char a[PATH_MAX], b[PATH_MAX], c[PATH_MAX];
  ssize_t na = readlink(link.c_str(), a, sizeof(a));
  ASSERT_GT(na, 0);
  ssize_t nb = syscall(SYS_readlinkat, AT_FDCWD, link.c_str(), b, sizeof(b));
  ASSERT_EQ(nb, na);
  EXPECT_EQ(std::string(a, na), std::string(b, nb));
  std::string dir = link.substr(0, link.rfind('/') + 1);
  std::string base = link.substr(link.rfind('/') + 1);
  FD dfd(open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_OK(dfd.get());
  ssize_t nc = readlinkat(dfd.get(), base.c_str(), c, sizeof(c));
  ASSERT_EQ(nc, na);
  EXPECT_EQ(std::string(c, nc), std::string(a, na));
}

TEST(Readlink, EmptyPathOnOPathDescriptor) {
  REQUIRE_LINK(link);
  char a[PATH_MAX], b[PATH_MAX];
  ssize_t na = readlink(link.c_str(), a, sizeof(a));
  ASSERT_GT(na, 0);
  FD fd(open(link.c_str(), O_PATH | O_NOFOLLOW));
  ASSERT_OK(fd.get());
  ssize_t nb = readlinkat(fd.get(), "", b, sizeof(b));
  ASSERT_EQ(nb, na) << strerror(errno);
  EXPECT_EQ(std::string(a, na), std::string(b, nb));
}

TEST(Readlink, Truncates) {
  REQUIRE_LINK(link);
  char full[PATH_MAX];
  ssize_t n = readlink(link.c_str(), full, sizeof(full));
  ASSERT_GT(n, 1);
  char one[2] = {'x', 'x'};
  ASSERT_EQ(readlink(link.c_str(), one, 1), 1);
  EXPECT_EQ(one[0], full[0]);
  EXPECT_EQ(one[1], 'x');
}

TEST(Readlink, Errors) {
  char buf[64];
  EXPECT_ERRNO(EINVAL, readlink("/etc/passwd", buf, sizeof(buf)));
  EXPECT_ERRNO(EINVAL, readlink("/", buf, sizeof(buf)));
  EXPECT_ERRNO(ENOENT, readlink("/bufferzone-missing", buf, sizeof(buf)));
  EXPECT_ERRNO(ENOTDIR, readlink("/etc/passwd/x", buf, sizeof(buf)));
  EXPECT_ERRNO(EFAULT, syscall(SYS_readlink, BadPointer(), buf, sizeof(buf)));
  EXPECT_ERRNO(EBADF, syscall(SYS_readlinkat, -1, "x", buf, sizeof(buf)));
}

TEST(Readlink, BadBufferSize) {
  REQUIRE_LINK(link);
  char buf[64];
  EXPECT_ERRNO(EINVAL, syscall(SYS_readlink, link.c_str(), buf, 0));
  EXPECT_ERRNO(EINVAL, syscall(SYS_readlink, link.c_str(), buf, -1));
}

TEST(Readlink, BadBuffer) {
  REQUIRE_LINK(link);
  EXPECT_ERRNO(EFAULT, syscall(SYS_readlink, link.c_str(), BadPointer(), 64));
}

TEST(Readlink, ProcSelfExe) {
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf));
  ASSERT_GT(n, 0) << strerror(errno);
  EXPECT_EQ(buf[0], '/');
  std::string exe(buf, n);
  struct stat a, b;
  ASSERT_OK(stat(exe.c_str(), &a));
  ASSERT_OK(stat("/proc/self/exe", &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
}

}  // namespace
}  // namespace bz
