// access, faccessat and faccessat2 for F_OK, R_OK and X_OK on host files.
// W_OK is left out on purpose: the sandbox's root is read-only (EROFS) while
// the host's is not, so its answer legitimately differs.
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test_util.h"

#ifndef SYS_faccessat2
#define SYS_faccessat2 439
#endif

namespace bz {
namespace {

TEST(Access, ExistingFiles) {
  EXPECT_EQ(syscall(SYS_access, "/", F_OK), 0);
  EXPECT_EQ(syscall(SYS_access, "/etc/passwd", R_OK), 0);
  EXPECT_EQ(syscall(SYS_access, "/bin/sh", X_OK), 0);
  EXPECT_EQ(syscall(SYS_access, "/bin/sh", R_OK | X_OK), 0);
  EXPECT_EQ(syscall(SYS_access, "/usr", R_OK | X_OK), 0);
}

TEST(Access, NoExecuteBitIsEACCES) {
  // /etc/passwd has no execute bit for anyone, so even root is refused.
  struct stat st;
  ASSERT_OK(stat("/etc/passwd", &st));
  ASSERT_EQ(st.st_mode & 0111, 0u);
  EXPECT_ERRNO(EACCES, syscall(SYS_access, "/etc/passwd", X_OK));
}

TEST(Access, Errors) {
  EXPECT_ERRNO(ENOENT, syscall(SYS_access, "/bufferzone-missing", F_OK));
  EXPECT_ERRNO(ENOTDIR, syscall(SYS_access, "/etc/passwd/x", F_OK));
  EXPECT_ERRNO(EFAULT, syscall(SYS_access, BadPointer(), F_OK));
  EXPECT_ERRNO(EINVAL, syscall(SYS_access, "/", 0x10));
  EXPECT_ERRNO(ENOENT, syscall(SYS_access, "", F_OK));
}

TEST(Access, Faccessat) {
  FD dir(open("/etc", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(dir.get());
  EXPECT_EQ(syscall(SYS_faccessat, dir.get(), "passwd", R_OK), 0);
  EXPECT_ERRNO(ENOENT,
               syscall(SYS_faccessat, dir.get(), "bufferzone-missing", F_OK));
  EXPECT_ERRNO(EBADF, syscall(SYS_faccessat, -1, "passwd", F_OK));
  EXPECT_EQ(syscall(SYS_faccessat, -1, "/etc/passwd", F_OK), 0);
  FD file(open("/etc/passwd", O_RDONLY));
  ASSERT_OK(file.get());
  EXPECT_ERRNO(ENOTDIR, syscall(SYS_faccessat, file.get(), "x", F_OK));
}

TEST(Access, Faccessat2Flags) {
  EXPECT_EQ(syscall(SYS_faccessat2, AT_FDCWD, "/bin/sh", X_OK, 0), 0);
  EXPECT_EQ(syscall(SYS_faccessat2, AT_FDCWD, "/bin/sh", X_OK, AT_EACCESS), 0);
  EXPECT_EQ(syscall(SYS_faccessat2, AT_FDCWD, "/etc/passwd", R_OK,
                    AT_SYMLINK_NOFOLLOW),
            0);
  EXPECT_ERRNO(EINVAL,
               syscall(SYS_faccessat2, AT_FDCWD, "/etc/passwd", F_OK, 0x1));
  EXPECT_ERRNO(EACCES,
               syscall(SYS_faccessat2, AT_FDCWD, "/etc/passwd", X_OK, 0));
}

TEST(Access, Faccessat2EmptyPath) {
  FD file(open("/etc/passwd", O_RDONLY));
  ASSERT_OK(file.get());
  EXPECT_EQ(syscall(SYS_faccessat2, file.get(), "", R_OK, AT_EMPTY_PATH), 0);
  EXPECT_ERRNO(ENOENT, syscall(SYS_faccessat2, file.get(), "", R_OK, 0));
}

TEST(Access, SymlinkNoFollow) {
  std::string link = FindSymlink();
  if (link.empty()) GTEST_SKIP() << "no symbolic link on this root";
  EXPECT_EQ(syscall(SYS_faccessat2, AT_FDCWD, link.c_str(), F_OK,
                    AT_SYMLINK_NOFOLLOW),
            0);
}

}  // namespace
}  // namespace bz
