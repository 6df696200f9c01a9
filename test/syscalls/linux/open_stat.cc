// open, openat, close, fstat, stat, lstat, newfstatat and statx on host
// files and directories that exist on every Debian-like root: /etc/passwd,
// /, /usr; and the errors for missing, wrongly typed or unreadable paths.
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

constexpr char kFile[] = "/etc/passwd";
constexpr char kMissing[] = "/bufferzone-does-not-exist";

TEST(OpenStat, OpenAndOpenatAgree) {
  FD a(syscall(SYS_open, kFile, O_RDONLY));
  ASSERT_OK(a.get());
  FD b(syscall(SYS_openat, AT_FDCWD, kFile, O_RDONLY));
  ASSERT_OK(b.get());
  EXPECT_NE(a.get(), b.get());
  struct stat sa, sb;
  ASSERT_OK(fstat(a.get(), &sa));
  ASSERT_OK(fstat(b.get(), &sb));
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  EXPECT_EQ(sa.st_dev, sb.st_dev);
  EXPECT_TRUE(S_ISREG(sa.st_mode));
  EXPECT_GT(sa.st_size, 0);
}

TEST(OpenStat, OpenReturnsLowestFreeFD) {
  FD a(open(kFile, O_RDONLY));
  ASSERT_OK(a.get());
  int n = a.get();
  a.reset();
  FD b(open(kFile, O_RDONLY));
  EXPECT_EQ(b.get(), n);
}

TEST(OpenStat, StatFamilyAgreesOnRegularFile) {
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  struct stat f, s, l, at, empty;
  ASSERT_OK(fstat(fd.get(), &f));
  ASSERT_OK(syscall(SYS_stat, kFile, &s));
  ASSERT_OK(syscall(SYS_lstat, kFile, &l));
  ASSERT_OK(syscall(SYS_newfstatat, AT_FDCWD, kFile, &at, 0));
  ASSERT_OK(syscall(SYS_newfstatat, fd.get(), "", &empty, AT_EMPTY_PATH));
  for (const struct stat* o : {&s, &l, &at, &empty}) {
    EXPECT_EQ(o->st_ino, f.st_ino);
    EXPECT_EQ(o->st_dev, f.st_dev);
    EXPECT_EQ(o->st_mode, f.st_mode);
    EXPECT_EQ(o->st_size, f.st_size);
    EXPECT_EQ(o->st_nlink, f.st_nlink);
    EXPECT_EQ(o->st_uid, f.st_uid);
    EXPECT_EQ(o->st_mtim.tv_sec, f.st_mtim.tv_sec);
  }
}

TEST(OpenStat, FstatatRelativeToDirFD) {
  FD dir(open("/etc", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(dir.get());
  struct stat rel, abs;
  ASSERT_OK(syscall(SYS_newfstatat, dir.get(), "passwd", &rel, 0));
  ASSERT_OK(stat(kFile, &abs));
  EXPECT_EQ(rel.st_ino, abs.st_ino);
  FD f(openat(dir.get(), "passwd", O_RDONLY));
  EXPECT_OK(f.get());
}

TEST(OpenStat, Statx) {
  struct statx sx = {};
  ASSERT_OK(syscall(SYS_statx, AT_FDCWD, kFile, 0, STATX_BASIC_STATS, &sx));
  struct stat st;
  ASSERT_OK(stat(kFile, &st));
  EXPECT_EQ(sx.stx_mask & (STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_INO),
            static_cast<unsigned>(STATX_TYPE | STATX_MODE | STATX_SIZE |
                                  STATX_INO));
  EXPECT_EQ(sx.stx_size, static_cast<uint64_t>(st.st_size));
  EXPECT_EQ(sx.stx_ino, st.st_ino);
  EXPECT_EQ(sx.stx_mode, st.st_mode);
  EXPECT_EQ(makedev(sx.stx_dev_major, sx.stx_dev_minor), st.st_dev);
  EXPECT_EQ(sx.stx_mtime.tv_sec, st.st_mtim.tv_sec);
}

TEST(OpenStat, StatxErrors) {
  struct statx sx;
  EXPECT_ERRNO(ENOENT, syscall(SYS_statx, AT_FDCWD, kMissing, 0,
                               STATX_BASIC_STATS, &sx));
  EXPECT_ERRNO(EINVAL, syscall(SYS_statx, AT_FDCWD, kFile, 0x80000000,
                               STATX_BASIC_STATS, &sx));
  EXPECT_ERRNO(EFAULT, syscall(SYS_statx, AT_FDCWD, kFile, 0,
                               STATX_BASIC_STATS, BadPointer()));
}

TEST(OpenStat, RootIsADirectory) {
  struct stat st;
  ASSERT_OK(stat("/", &st));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  FD fd(open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(fd.get());
  struct stat f;
  ASSERT_OK(fstat(fd.get(), &f));
  EXPECT_EQ(f.st_ino, st.st_ino);
  // "/.." is "/".
  struct stat dotdot;
  ASSERT_OK(stat("/..", &dotdot));
  EXPECT_EQ(dotdot.st_ino, st.st_ino);
}

TEST(OpenStat, Symlink) {
  std::string link = FindSymlink();
  if (link.empty()) GTEST_SKIP() << "no symbolic link on this root";
  struct stat l, s;
  ASSERT_OK(syscall(SYS_lstat, link.c_str(), &l));
  ASSERT_OK(syscall(SYS_stat, link.c_str(), &s));
  EXPECT_TRUE(S_ISLNK(l.st_mode));
  EXPECT_FALSE(S_ISLNK(s.st_mode));
  struct stat nofollow;
  ASSERT_OK(syscall(SYS_newfstatat, AT_FDCWD, link.c_str(), &nofollow,
                    AT_SYMLINK_NOFOLLOW));
  EXPECT_EQ(nofollow.st_ino, l.st_ino);
  // O_NOFOLLOW on a final symlink is ELOOP.
  EXPECT_ERRNO(ELOOP, open(link.c_str(), O_RDONLY | O_NOFOLLOW));
}

TEST(OpenStat, Missing) {
  struct stat st;
  EXPECT_ERRNO(ENOENT, open(kMissing, O_RDONLY));
  EXPECT_ERRNO(ENOENT, syscall(SYS_stat, kMissing, &st));
  EXPECT_ERRNO(ENOENT, syscall(SYS_lstat, kMissing, &st));
  EXPECT_ERRNO(ENOENT, open("/usr/bufferzone-missing/x", O_RDONLY));
  EXPECT_ERRNO(ENOENT, open("", O_RDONLY));
  EXPECT_ERRNO(ENOENT, syscall(SYS_newfstatat, AT_FDCWD, "", &st, 0));
}

TEST(OpenStat, NotADirectory) {
  struct stat st;
  EXPECT_ERRNO(ENOTDIR, open("/etc/passwd/x", O_RDONLY));
  EXPECT_ERRNO(ENOTDIR, syscall(SYS_stat, "/etc/passwd/x", &st));
  EXPECT_ERRNO(ENOTDIR, open(kFile, O_RDONLY | O_DIRECTORY));
  // A trailing slash demands a directory.
  EXPECT_ERRNO(ENOTDIR, open("/etc/passwd/", O_RDONLY));
  FD file(open(kFile, O_RDONLY));
  ASSERT_OK(file.get());
  EXPECT_ERRNO(ENOTDIR, openat(file.get(), "x", O_RDONLY));
  EXPECT_ERRNO(ENOTDIR, syscall(SYS_newfstatat, file.get(), "x", &st, 0));
}

TEST(OpenStat, BadDirFD) {
  struct stat st;
  EXPECT_ERRNO(EBADF, openat(-1, "etc/passwd", O_RDONLY));
  EXPECT_ERRNO(EBADF, syscall(SYS_newfstatat, -1, "etc", &st, 0));
  // An absolute path ignores the directory descriptor.
  FD fd(openat(-1, kFile, O_RDONLY));
  EXPECT_OK(fd.get());
}

TEST(OpenStat, BadPointers) {
  struct stat st;
  EXPECT_ERRNO(EFAULT, syscall(SYS_open, BadPointer(), O_RDONLY));
  EXPECT_ERRNO(EFAULT, syscall(SYS_stat, BadPointer(), &st));
  EXPECT_ERRNO(EFAULT, syscall(SYS_stat, kFile, BadPointer()));
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  EXPECT_ERRNO(EFAULT, syscall(SYS_fstat, fd.get(), BadPointer()));
}

TEST(OpenStat, NameTooLong) {
  std::string component(NAME_MAX + 1, 'a');
  EXPECT_ERRNO(ENAMETOOLONG, open(("/" + component).c_str(), O_RDONLY));
  std::string path;
  while (path.size() <= PATH_MAX) path += "/a";
  EXPECT_ERRNO(ENAMETOOLONG, open(path.c_str(), O_RDONLY));
}

TEST(OpenStat, Close) {
  int fd = open(kFile, O_RDONLY);
  ASSERT_OK(fd);
  EXPECT_EQ(close(fd), 0);
  EXPECT_ERRNO(EBADF, close(fd));
  EXPECT_ERRNO(EBADF, close(-1));
  struct stat st;
  EXPECT_ERRNO(EBADF, fstat(fd, &st));
}

TEST(OpenStat, DotAndDotDotResolve) {
  struct stat a, b;
  ASSERT_OK(stat("/usr/./../etc/passwd", &a));
  ASSERT_OK(stat(kFile, &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  ASSERT_OK(stat("//usr//", &a));
  ASSERT_OK(stat("/usr", &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
}

TEST(OpenStat, OpenDirectoryForWriteIsEISDIR) {
  EXPECT_ERRNO(EISDIR, open("/", O_WRONLY));
  EXPECT_ERRNO(EISDIR, open("/usr", O_RDWR));
}

TEST(OpenStat, OPath) {
  FD fd(open(kFile, O_PATH));
  ASSERT_OK(fd.get());
  struct stat st, want;
  ASSERT_OK(fstat(fd.get(), &st));
  ASSERT_OK(stat(kFile, &want));
  EXPECT_EQ(st.st_ino, want.st_ino);
  char c;
  EXPECT_ERRNO(EBADF, read(fd.get(), &c, 1));
}

}  // namespace
}  // namespace bz
