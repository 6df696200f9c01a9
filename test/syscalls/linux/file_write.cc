// Creating and changing files in a temporary directory: open with O_CREAT,
// O_EXCL, O_TRUNC and O_APPEND, write/pwrite/ftruncate, rename, link,
// symlink, mkdir, rmdir and unlink. Runs natively only until the sandbox's
// root is writable (see the runner's skip list).
#include <dirent.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

class FileWrite : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    if (base == nullptr || *base == 0) base = "/tmp";
    std::string tmpl = std::string(base) + "/bz-file-write-XXXXXX";
    ASSERT_NE(mkdtemp(&tmpl[0]), nullptr) << tmpl << ": " << strerror(errno);
    dir_ = tmpl;
  }

  void TearDown() override {
    if (dir_.empty()) return;
    // Remove whatever the test left: one level of files and directories.
    DIR* d = opendir(dir_.c_str());
    if (d != nullptr) {
      while (struct dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        std::string p = dir_ + "/" + n;
        if (unlink(p.c_str()) != 0) rmdir(p.c_str());
      }
      closedir(d);
    }
    EXPECT_EQ(rmdir(dir_.c_str()), 0) << strerror(errno);
  }

  std::string Path(const std::string& name) { return dir_ + "/" + name; }

  std::string dir_;
};

TEST_F(FileWrite, CreateWriteReadBack) {
  std::string p = Path("f");
  FD fd(open(p.c_str(), O_CREAT | O_EXCL | O_RDWR, 0640));
  ASSERT_OK(fd.get());
  ASSERT_EQ(write(fd.get(), "hello world", 11), 11);
  ASSERT_EQ(pwrite(fd.get(), "W", 1, 6), 1);
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 11);
  char buf[16] = {};
  ASSERT_EQ(pread(fd.get(), buf, sizeof(buf), 0), 11);
  EXPECT_STREQ(buf, "hello World");
  struct stat st;
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 11);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_nlink, 1u);
}

TEST_F(FileWrite, CreateModeHonoursUmask) {
  mode_t old = umask(027);
  FD fd(open(Path("m").c_str(), O_CREAT | O_WRONLY, 0777));
  umask(old);
  ASSERT_OK(fd.get());
  struct stat st;
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

TEST_F(FileWrite, ExclOnExistingIsEEXIST) {
  std::string p = Path("e");
  FD fd(open(p.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600));
  ASSERT_OK(fd.get());
  EXPECT_ERRNO(EEXIST, open(p.c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600));
  EXPECT_ERRNO(EEXIST, mkdir(p.c_str(), 0700));
}

TEST_F(FileWrite, TruncAndAppend) {
  std::string p = Path("t");
  {
    FD fd(open(p.c_str(), O_CREAT | O_WRONLY, 0600));
    ASSERT_OK(fd.get());
    ASSERT_EQ(write(fd.get(), "0123456789", 10), 10);
  }
  {
    FD fd(open(p.c_str(), O_WRONLY | O_APPEND));
    ASSERT_OK(fd.get());
    ASSERT_OK(lseek(fd.get(), 0, SEEK_SET));
    ASSERT_EQ(write(fd.get(), "ab", 2), 2);  // appended despite the seek
    EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 12);
  }
  struct stat st;
  ASSERT_OK(stat(p.c_str(), &st));
  EXPECT_EQ(st.st_size, 12);
  FD fd(open(p.c_str(), O_WRONLY | O_TRUNC));
  ASSERT_OK(fd.get());
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 0);
}

TEST_F(FileWrite, Ftruncate) {
  FD fd(open(Path("ft").c_str(), O_CREAT | O_RDWR, 0600));
  ASSERT_OK(fd.get());
  ASSERT_OK(ftruncate(fd.get(), 8192));
  struct stat st;
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 8192);
  char c = 'x';
  ASSERT_EQ(pread(fd.get(), &c, 1, 4000), 1);
  EXPECT_EQ(c, 0);  // a hole reads as zeros
  ASSERT_OK(ftruncate(fd.get(), 1));
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 1);
  EXPECT_ERRNO(EINVAL, ftruncate(fd.get(), -1));
  FD ro(open(Path("ft").c_str(), O_RDONLY));
  ASSERT_OK(ro.get());
  EXPECT_ERRNO(EINVAL, ftruncate(ro.get(), 0));
}

TEST_F(FileWrite, RenameLinkUnlink) {
  std::string a = Path("a"), b = Path("b"), c = Path("c");
  FD fd(open(a.c_str(), O_CREAT | O_WRONLY, 0600));
  ASSERT_OK(fd.get());
  ASSERT_OK(rename(a.c_str(), b.c_str()));
  struct stat st;
  EXPECT_ERRNO(ENOENT, stat(a.c_str(), &st));
  ASSERT_OK(link(b.c_str(), c.c_str()));
  ASSERT_OK(stat(b.c_str(), &st));
  EXPECT_EQ(st.st_nlink, 2u);
  ASSERT_OK(unlink(b.c_str()));
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_nlink, 1u);
  ASSERT_OK(unlink(c.c_str()));
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_nlink, 0u);  // still open, no longer named
  EXPECT_ERRNO(ENOENT, unlink(c.c_str()));
}

TEST_F(FileWrite, SymlinksAndLoops) {
  std::string l = Path("l"), loop1 = Path("loop1"), loop2 = Path("loop2");
  ASSERT_OK(symlink("/etc/passwd", l.c_str()));
  char buf[64];
  ASSERT_EQ(readlink(l.c_str(), buf, sizeof(buf)), 11);
  EXPECT_EQ(std::string(buf, 11), "/etc/passwd");
  ASSERT_OK(symlink(loop2.c_str(), loop1.c_str()));
  ASSERT_OK(symlink(loop1.c_str(), loop2.c_str()));
  EXPECT_ERRNO(ELOOP, open(loop1.c_str(), O_RDONLY));
  struct stat st;
  EXPECT_ERRNO(ELOOP, stat(loop1.c_str(), &st));
  EXPECT_EQ(lstat(loop1.c_str(), &st), 0);
  EXPECT_ERRNO(EEXIST, symlink("x", l.c_str()));
}

TEST_F(FileWrite, Directories) {
  std::string d = Path("d");
  ASSERT_OK(mkdir(d.c_str(), 0755));
  FD f(open((d + "/x").c_str(), O_CREAT | O_WRONLY, 0600));
  ASSERT_OK(f.get());
  EXPECT_ERRNO(ENOTEMPTY, rmdir(d.c_str()));
  EXPECT_ERRNO(EISDIR, unlink(d.c_str()));
  EXPECT_ERRNO(ENOTDIR, rmdir((d + "/x").c_str()));
  ASSERT_OK(unlink((d + "/x").c_str()));
  ASSERT_OK(rmdir(d.c_str()));
  EXPECT_ERRNO(ENOENT, rmdir(d.c_str()));
}

}  // namespace
}  // namespace bz
