// getcwd, chdir and fchdir. Every test restores the working directory it
// found, so tests do not depend on each other's order.
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

class Cwd : public ::testing::Test {
 protected:
  void SetUp() override {
    saved_.reset(open(".", O_RDONLY | O_DIRECTORY));
    ASSERT_OK(saved_.get());
  }
  void TearDown() override { ASSERT_OK(fchdir(saved_.get())); }

  static std::string Getcwd() {
    char buf[PATH_MAX];
    long n = syscall(SYS_getcwd, buf, sizeof(buf));
    EXPECT_GT(n, 0) << strerror(errno);
    if (n <= 0) return "";
    // The raw system call returns the length including the NUL.
    EXPECT_EQ(static_cast<size_t>(n), strlen(buf) + 1);
    return buf;
  }

  FD saved_;
};

TEST_F(Cwd, IsAbsolute) {
  std::string cwd = Getcwd();
  ASSERT_FALSE(cwd.empty());
  EXPECT_EQ(cwd[0], '/');
  struct stat a, b;
  ASSERT_OK(stat(cwd.c_str(), &a));
  ASSERT_OK(stat(".", &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST_F(Cwd, ChdirRootAndUsr) {
  ASSERT_OK(chdir("/"));
  EXPECT_EQ(Getcwd(), "/");
  ASSERT_OK(chdir("/usr"));
  EXPECT_EQ(Getcwd(), "/usr");
  ASSERT_OK(chdir(".."));
  EXPECT_EQ(Getcwd(), "/");
  ASSERT_OK(chdir(".."));  // ".." of "/" is "/"
  EXPECT_EQ(Getcwd(), "/");
  ASSERT_OK(chdir("usr/./"));
  EXPECT_EQ(Getcwd(), "/usr");
}

TEST_F(Cwd, RelativeOpenFollowsCwd) {
  ASSERT_OK(chdir("/etc"));
  FD fd(open("passwd", O_RDONLY));
  EXPECT_OK(fd.get());
  struct stat st;
  EXPECT_EQ(stat("./passwd", &st), 0);
}

TEST_F(Cwd, ChdirThroughSymlinkResolves) {
  std::string link = FindSymlink();
  struct stat st;
  if (link.empty() || stat(link.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    GTEST_SKIP() << "no symbolic link to a directory on this root";
  }
  char* real = realpath(link.c_str(), nullptr);
  ASSERT_NE(real, nullptr);
  ASSERT_OK(chdir(link.c_str()));
  EXPECT_EQ(Getcwd(), real);
  free(real);
}

TEST_F(Cwd, Fchdir) {
  FD usr(open("/usr", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(usr.get());
  ASSERT_OK(fchdir(usr.get()));
  EXPECT_EQ(Getcwd(), "/usr");
  FD file(open("/etc/passwd", O_RDONLY));
  ASSERT_OK(file.get());
  EXPECT_ERRNO(ENOTDIR, fchdir(file.get()));
  EXPECT_ERRNO(EBADF, fchdir(-1));
  EXPECT_EQ(Getcwd(), "/usr");
}

TEST_F(Cwd, ChdirErrors) {
  ASSERT_OK(chdir("/"));
  EXPECT_ERRNO(ENOTDIR, chdir("/etc/passwd"));
  EXPECT_ERRNO(ENOENT, chdir("/bufferzone-missing"));
  EXPECT_ERRNO(ENOENT, chdir(""));
  EXPECT_ERRNO(EFAULT, syscall(SYS_chdir, BadPointer()));
  EXPECT_EQ(Getcwd(), "/");
}

TEST_F(Cwd, SmallBufferIsERANGE) {
  ASSERT_OK(chdir("/usr"));
  char buf[5];  // "/usr" needs 5 bytes with its NUL
  EXPECT_ERRNO(ERANGE, syscall(SYS_getcwd, buf, 4));
  EXPECT_ERRNO(ERANGE, syscall(SYS_getcwd, buf, 1));
  EXPECT_ERRNO(ERANGE, syscall(SYS_getcwd, buf, 0));
  EXPECT_EQ(syscall(SYS_getcwd, buf, 5), 5);
  EXPECT_STREQ(buf, "/usr");
}

TEST_F(Cwd, BadBufferIsEFAULT) {
  ASSERT_OK(chdir("/"));
  EXPECT_ERRNO(EFAULT, syscall(SYS_getcwd, BadPointer(), 64));
}

}  // namespace
}  // namespace bz
