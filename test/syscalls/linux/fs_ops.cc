// File system operations and their errnos: mkdir, rename(2) and
// renameat2's flags, unlinkat, link, symlink, chmod, utimensat, truncate,
// openat2's RESOLVE_* flags, memfd_create, sendfile, copy_file_range,
// fallocate and sync_file_range. Everything happens in a temporary
// directory under TEST_TMPDIR (or /tmp).
#include <dirent.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

class FsOps : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    if (base == nullptr || *base == 0) base = "/tmp";
    std::string tmpl = std::string(base) + "/bz-fs-ops-XXXXXX";
    ASSERT_NE(mkdtemp(&tmpl[0]), nullptr) << tmpl << ": " << strerror(errno);
    dir_ = tmpl;
  }

  void TearDown() override {
    if (!dir_.empty()) RemoveAll(dir_);
  }

  static void RemoveAll(const std::string& p) {
    DIR* d = opendir(p.c_str());
    if (d == nullptr) {
      unlink(p.c_str());
      return;
    }
    while (struct dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      std::string c = p + "/" + n;
      if (e->d_type == DT_DIR) {
        RemoveAll(c);
      } else {
        unlink(c.c_str());
      }
    }
    closedir(d);
    rmdir(p.c_str());
  }

  std::string Path(const std::string& name) { return dir_ + "/" + name; }

  void WriteFile(const std::string& name, const std::string& data) {
    FD fd(open(Path(name).c_str(), O_CREAT | O_WRONLY | O_TRUNC, 0644));
    ASSERT_OK(fd.get());
    ASSERT_EQ(write(fd.get(), data.data(), data.size()),
              static_cast<ssize_t>(data.size()));
  }

  std::string ReadFile(const std::string& name) {
    return ReadAll(Path(name).c_str());
  }

  std::string dir_;
};

TEST_F(FsOps, MkdirErrnos) {
  ASSERT_OK(mkdir(Path("d").c_str(), 0755));
  EXPECT_ERRNO(EEXIST, mkdir(Path("d").c_str(), 0755));
  EXPECT_ERRNO(ENOENT, mkdir(Path("missing/d").c_str(), 0755));
  WriteFile("f", "x");
  EXPECT_ERRNO(ENOTDIR, mkdir(Path("f/d").c_str(), 0755));
  EXPECT_ERRNO(EEXIST, mkdir(Path("f").c_str(), 0755));
  ASSERT_OK(mkdir(Path("slash/").c_str(), 0700));
  struct stat st;
  ASSERT_OK(stat(Path("slash").c_str(), &st));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0700u & ~0u);
  // A new subdirectory adds a link to its parent.
  struct stat before, after;
  ASSERT_OK(stat(Path("d").c_str(), &before));
  ASSERT_OK(mkdir(Path("d/sub").c_str(), 0755));
  ASSERT_OK(stat(Path("d").c_str(), &after));
  EXPECT_EQ(after.st_nlink, before.st_nlink + 1);
}

TEST_F(FsOps, RenameRules) {
  ASSERT_OK(mkdir(Path("a").c_str(), 0755));
  ASSERT_OK(mkdir(Path("a/b").c_str(), 0755));
  ASSERT_OK(mkdir(Path("full").c_str(), 0755));
  WriteFile("full/x", "x");
  WriteFile("f", "f");
  EXPECT_ERRNO(EINVAL, rename(Path("a").c_str(), Path("a/b/c").c_str()));
  EXPECT_ERRNO(EISDIR, rename(Path("f").c_str(), Path("a").c_str()));
  EXPECT_ERRNO(ENOTDIR, rename(Path("a").c_str(), Path("f").c_str()));
  EXPECT_ERRNO(ENOTEMPTY, rename(Path("a").c_str(), Path("full").c_str()));
  EXPECT_ERRNO(ENOENT, rename(Path("nope").c_str(), Path("g").c_str()));
  EXPECT_ERRNO(ENOTDIR, rename(Path("f/").c_str(), Path("g").c_str()));
  // Renaming onto itself does nothing.
  ASSERT_OK(rename(Path("f").c_str(), Path("f").c_str()));
  // An empty directory may be replaced by a directory.
  ASSERT_OK(mkdir(Path("empty").c_str(), 0755));
  ASSERT_OK(rename(Path("a").c_str(), Path("empty").c_str()));
  struct stat st;
  ASSERT_OK(stat(Path("empty/b").c_str(), &st));
  EXPECT_ERRNO(ENOENT, stat(Path("a").c_str(), &st));
  // Children move with their directory.
  WriteFile("empty/b/kid", "kid");
  ASSERT_OK(rename(Path("empty").c_str(), Path("moved").c_str()));
  EXPECT_EQ(ReadFile("moved/b/kid"), "kid");
}

TEST_F(FsOps, Renameat2Flags) {
  WriteFile("x", "X");
  WriteFile("y", "Y");
  EXPECT_ERRNO(EEXIST, syscall(SYS_renameat2, AT_FDCWD, Path("x").c_str(),
                               AT_FDCWD, Path("y").c_str(), RENAME_NOREPLACE));
  ASSERT_OK(syscall(SYS_renameat2, AT_FDCWD, Path("x").c_str(), AT_FDCWD,
                    Path("y").c_str(), RENAME_EXCHANGE));
  EXPECT_EQ(ReadFile("x"), "Y");
  EXPECT_EQ(ReadFile("y"), "X");
  EXPECT_ERRNO(ENOENT, syscall(SYS_renameat2, AT_FDCWD, Path("x").c_str(),
                               AT_FDCWD, Path("z").c_str(), RENAME_EXCHANGE));
  EXPECT_ERRNO(EINVAL,
               syscall(SYS_renameat2, AT_FDCWD, Path("x").c_str(), AT_FDCWD,
                       Path("y").c_str(), RENAME_EXCHANGE | RENAME_NOREPLACE));
  ASSERT_OK(syscall(SYS_renameat2, AT_FDCWD, Path("x").c_str(), AT_FDCWD,
                    Path("z").c_str(), RENAME_NOREPLACE));
  EXPECT_EQ(ReadFile("z"), "Y");
}

TEST_F(FsOps, UnlinkatAndRmdir) {
  ASSERT_OK(mkdir(Path("d").c_str(), 0755));
  WriteFile("f", "f");
  FD dfd(open(dir_.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_OK(dfd.get());
  EXPECT_ERRNO(EISDIR, unlinkat(dfd.get(), "d", 0));
  EXPECT_ERRNO(ENOTDIR, unlinkat(dfd.get(), "f", AT_REMOVEDIR));
  EXPECT_ERRNO(EINVAL, unlinkat(dfd.get(), "f", 0x1000));
  EXPECT_ERRNO(EINVAL, rmdir(Path("d/.").c_str()));
  ASSERT_OK(unlinkat(dfd.get(), "d", AT_REMOVEDIR));
  ASSERT_OK(unlinkat(dfd.get(), "f", 0));
  EXPECT_ERRNO(ENOENT, unlinkat(dfd.get(), "f", 0));
  // A removed working directory takes no new entries.
  ASSERT_OK(mkdir(Path("gone").c_str(), 0755));
  FD gone(open(Path("gone").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_OK(gone.get());
  ASSERT_OK(rmdir(Path("gone").c_str()));
  EXPECT_ERRNO(ENOENT, openat(gone.get(), "new", O_CREAT | O_WRONLY, 0644));
  EXPECT_ERRNO(ENOENT, mkdirat(gone.get(), "new", 0755));
}

TEST_F(FsOps, LinksAndSymlinks) {
  WriteFile("f", "data");
  ASSERT_OK(mkdir(Path("d").c_str(), 0755));
  EXPECT_ERRNO(EPERM, link(Path("d").c_str(), Path("dl").c_str()));
  EXPECT_ERRNO(ENOENT, link(Path("nope").c_str(), Path("l").c_str()));
  ASSERT_OK(symlink("f", Path("s").c_str()));
  // link(2) does not follow; linkat with AT_SYMLINK_FOLLOW does.
  ASSERT_OK(link(Path("s").c_str(), Path("hs").c_str()));
  struct stat st;
  ASSERT_OK(lstat(Path("hs").c_str(), &st));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_OK(linkat(AT_FDCWD, Path("s").c_str(), AT_FDCWD, Path("hf").c_str(),
                   AT_SYMLINK_FOLLOW));
  ASSERT_OK(lstat(Path("hf").c_str(), &st));
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_nlink, 2u);
  EXPECT_EQ(ReadFile("hf"), "data");
  EXPECT_ERRNO(EINVAL, linkat(AT_FDCWD, Path("f").c_str(), AT_FDCWD,
                              Path("bad").c_str(), 0x1));
  char buf[16];
  EXPECT_ERRNO(EINVAL, readlink(Path("f").c_str(), buf, sizeof(buf)));
  EXPECT_ERRNO(ENOENT, symlink("", Path("empty").c_str()));
  // A dangling symlink is created through by O_CREAT.
  ASSERT_OK(symlink("target", Path("dangle").c_str()));
  FD fd(open(Path("dangle").c_str(), O_CREAT | O_WRONLY, 0644));
  ASSERT_OK(fd.get());
  ASSERT_OK(stat(Path("target").c_str(), &st));
  EXPECT_ERRNO(EEXIST,
               open(Path("dangle").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644));
}

TEST_F(FsOps, ChmodAndChown) {
  WriteFile("f", "x");
  ASSERT_OK(chmod(Path("f").c_str(), 04751));
  struct stat st;
  ASSERT_OK(stat(Path("f").c_str(), &st));
  EXPECT_EQ(st.st_mode & 07777, 04751u);
  FD fd(open(Path("f").c_str(), O_RDONLY));
  ASSERT_OK(fd.get());
  ASSERT_OK(fchmod(fd.get(), 0600));
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // chown to the same owner works for anyone; -1 changes nothing.
  ASSERT_OK(chown(Path("f").c_str(), st.st_uid, st.st_gid));
  ASSERT_OK(fchownat(AT_FDCWD, Path("f").c_str(), -1, -1, 0));
  EXPECT_ERRNO(EINVAL, fchownat(AT_FDCWD, Path("f").c_str(), -1, -1, 0x4));
  ASSERT_OK(symlink("f", Path("s").c_str()));
  ASSERT_OK(lchown(Path("s").c_str(), -1, -1));
  EXPECT_ERRNO(ENOENT, chmod(Path("nope").c_str(), 0600));
  FD path(open(Path("f").c_str(), O_PATH));
  ASSERT_OK(path.get());
  EXPECT_ERRNO(EBADF, fchmod(path.get(), 0644));
}

TEST_F(FsOps, Utimensat) {
  WriteFile("f", "x");
  struct timespec ts[2] = {{1000, 5}, {2000, 6}};
  ASSERT_OK(utimensat(AT_FDCWD, Path("f").c_str(), ts, 0));
  struct stat st;
  ASSERT_OK(stat(Path("f").c_str(), &st));
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_atim.tv_nsec, 5);
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
  EXPECT_EQ(st.st_mtim.tv_nsec, 6);
  struct timespec omit[2] = {{0, UTIME_OMIT}, {3000, 0}};
  ASSERT_OK(utimensat(AT_FDCWD, Path("f").c_str(), omit, 0));
  ASSERT_OK(stat(Path("f").c_str(), &st));
  EXPECT_EQ(st.st_atim.tv_sec, 1000);
  EXPECT_EQ(st.st_mtim.tv_sec, 3000);
  time_t now = time(nullptr);
  ASSERT_OK(utimensat(AT_FDCWD, Path("f").c_str(), nullptr, 0));
  ASSERT_OK(stat(Path("f").c_str(), &st));
  EXPECT_GE(st.st_mtim.tv_sec, now - 5);
  struct timespec bad[2] = {{0, 1000000000}, {0, 0}};
  EXPECT_ERRNO(EINVAL, utimensat(AT_FDCWD, Path("f").c_str(), bad, 0));
  EXPECT_ERRNO(EINVAL, utimensat(AT_FDCWD, Path("f").c_str(), ts, 0x4));
  // futimens: the NULL-path form.
  FD fd(open(Path("f").c_str(), O_WRONLY));
  ASSERT_OK(fd.get());
  ASSERT_OK(futimens(fd.get(), ts));
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_mtim.tv_sec, 2000);
}

TEST_F(FsOps, TruncateAndTimestamps) {
  WriteFile("f", "hello");
  ASSERT_OK(truncate(Path("f").c_str(), 2));
  EXPECT_EQ(ReadFile("f"), "he");
  ASSERT_OK(truncate(Path("f").c_str(), 10000));
  struct stat st;
  ASSERT_OK(stat(Path("f").c_str(), &st));
  EXPECT_EQ(st.st_size, 10000);
  EXPECT_ERRNO(EINVAL, truncate(Path("f").c_str(), -1));
  ASSERT_OK(mkdir(Path("d").c_str(), 0755));
  EXPECT_ERRNO(EISDIR, truncate(Path("d").c_str(), 0));
  EXPECT_ERRNO(ENOENT, truncate(Path("nope").c_str(), 0));
  // A write moves mtime and ctime forward.
  struct timespec old[2] = {{1000, 0}, {1000, 0}};
  ASSERT_OK(utimensat(AT_FDCWD, Path("f").c_str(), old, 0));
  FD fd(open(Path("f").c_str(), O_WRONLY));
  ASSERT_OK(fd.get());
  ASSERT_EQ(write(fd.get(), "x", 1), 1);
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_GT(st.st_mtim.tv_sec, 1000);
}

TEST_F(FsOps, Openat2Resolve) {
  ASSERT_OK(mkdir(Path("root").c_str(), 0755));
  ASSERT_OK(mkdir(Path("root/sub").c_str(), 0755));
  {
    FD f(open(Path("root/f").c_str(), O_CREAT | O_WRONLY, 0644));
    ASSERT_OK(f.get());
  }
  ASSERT_OK(symlink("f", Path("root/link").c_str()));
  ASSERT_OK(symlink("/f", Path("root/abslink").c_str()));
  FD dfd(open(Path("root").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_OK(dfd.get());
  auto o2 = [&](const char* p, uint64_t resolve) {
    struct open_how how = {};
    how.flags = O_RDONLY;
    how.resolve = resolve;
    return syscall(SYS_openat2, dfd.get(), p, &how, sizeof(how));
  };
  long fd = o2("sub/../f", RESOLVE_BENEATH);
  ASSERT_OK(fd);
  close(fd);
  EXPECT_ERRNO(EXDEV, o2("../root/f", RESOLVE_BENEATH));
  EXPECT_ERRNO(EXDEV, o2("/etc", RESOLVE_BENEATH));
  EXPECT_ERRNO(ELOOP, o2("link", RESOLVE_NO_SYMLINKS));
  fd = o2("link", 0);
  ASSERT_OK(fd);
  close(fd);
  // In RESOLVE_IN_ROOT, "/" and ".." at the top are dirfd.
  fd = o2("/f", RESOLVE_IN_ROOT);
  ASSERT_OK(fd);
  close(fd);
  fd = o2("abslink", RESOLVE_IN_ROOT);
  ASSERT_OK(fd);
  close(fd);
  fd = o2("../../f", RESOLVE_IN_ROOT);
  ASSERT_OK(fd);
  close(fd);
  EXPECT_ERRNO(EINVAL, o2("f", RESOLVE_IN_ROOT | RESOLVE_BENEATH));
  EXPECT_ERRNO(EINVAL, o2("f", 1ull << 40));
  struct open_how how = {};
  how.flags = O_RDONLY;
  EXPECT_ERRNO(EINVAL, syscall(SYS_openat2, dfd.get(), "f", &how, 8));
  how.mode = 0644;
  EXPECT_ERRNO(EINVAL, syscall(SYS_openat2, dfd.get(), "f", &how, sizeof(how)));
}

TEST_F(FsOps, Memfd) {
  int fd = syscall(SYS_memfd_create, "test", MFD_CLOEXEC);
  ASSERT_OK(fd);
  FD owned(fd);
  EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
  ASSERT_OK(ftruncate(fd, 4096));
  struct stat st;
  ASSERT_OK(fstat(fd, &st));
  EXPECT_EQ(st.st_size, 4096);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_nlink, 0u);
  char* p = static_cast<char*>(
      mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(p, MAP_FAILED);
  memcpy(p, "shared", 6);
  char buf[8] = {};
  ASSERT_EQ(pread(fd, buf, 6, 0), 6);
  EXPECT_STREQ(buf, "shared");
  ASSERT_EQ(pwrite(fd, "SH", 2, 0), 2);
  EXPECT_EQ(p[0], 'S');
  munmap(p, 4096);
  EXPECT_ERRNO(EINVAL, syscall(SYS_memfd_create, "x", 0x100));
  EXPECT_ERRNO(EFAULT, syscall(SYS_memfd_create, BadPointer(), 0));
}

TEST_F(FsOps, SendfileAndCopyFileRange) {
  WriteFile("src", "0123456789");
  FD in(open(Path("src").c_str(), O_RDONLY));
  ASSERT_OK(in.get());
  FD out(open(Path("dst").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_OK(out.get());
  off_t off = 2;
  ASSERT_EQ(sendfile(out.get(), in.get(), &off, 5), 5);
  EXPECT_EQ(off, 7);
  EXPECT_EQ(lseek(in.get(), 0, SEEK_CUR), 0);  // offset pointer given
  ASSERT_EQ(sendfile(out.get(), in.get(), nullptr, 3), 3);
  EXPECT_EQ(lseek(in.get(), 0, SEEK_CUR), 3);
  EXPECT_EQ(ReadFile("dst"), "23456012");
  int pfd[2];
  ASSERT_OK(pipe(pfd));
  FD r(pfd[0]), w(pfd[1]);
  off = 0;
  ASSERT_EQ(sendfile(w.get(), in.get(), &off, 4), 4);
  char buf[8] = {};
  ASSERT_EQ(read(r.get(), buf, sizeof(buf)), 4);
  EXPECT_STREQ(buf, "0123");
  EXPECT_ERRNO(EBADF, sendfile(in.get(), out.get(), nullptr, 1));

  FD cdst(open(Path("cdst").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_OK(cdst.get());
  loff_t ioff = 4, ooff = 1;
  ASSERT_EQ(copy_file_range(in.get(), &ioff, cdst.get(), &ooff, 3, 0), 3);
  EXPECT_EQ(ioff, 7);
  EXPECT_EQ(ooff, 4);
  std::string got = ReadFile("cdst");
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got.substr(1), "456");
  EXPECT_EQ(got[0], 0);
  EXPECT_ERRNO(EINVAL, copy_file_range(in.get(), nullptr, cdst.get(), nullptr, 1, 1));
  EXPECT_ERRNO(EINVAL, copy_file_range(in.get(), nullptr, w.get(), nullptr, 1, 0));
}

TEST_F(FsOps, SpliceFileAndPipe) {
  WriteFile("src", "abcdef");
  FD in(open(Path("src").c_str(), O_RDONLY));
  ASSERT_OK(in.get());
  int pfd[2];
  ASSERT_OK(pipe(pfd));
  FD r(pfd[0]), w(pfd[1]);
  loff_t off = 1;
  ASSERT_EQ(splice(in.get(), &off, w.get(), nullptr, 4, 0), 4);
  EXPECT_EQ(off, 5);
  FD out(open(Path("dst").c_str(), O_CREAT | O_WRONLY, 0644));
  ASSERT_OK(out.get());
  ASSERT_EQ(splice(r.get(), nullptr, out.get(), nullptr, 4, 0), 4);
  EXPECT_EQ(ReadFile("dst"), "bcde");
  EXPECT_ERRNO(EINVAL, splice(in.get(), nullptr, out.get(), nullptr, 1, 0));
  EXPECT_ERRNO(ESPIPE, splice(r.get(), &off, out.get(), nullptr, 1, 0));
}

TEST_F(FsOps, FallocateAndSync) {
  FD fd(open(Path("f").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_OK(fd.get());
  ASSERT_OK(fallocate(fd.get(), 0, 0, 8192));
  struct stat st;
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 8192);
  ASSERT_OK(fallocate(fd.get(), FALLOC_FL_KEEP_SIZE, 0, 16384));
  ASSERT_OK(fstat(fd.get(), &st));
  EXPECT_EQ(st.st_size, 8192);
  std::string ones(8192, '1');
  ASSERT_EQ(pwrite(fd.get(), ones.data(), ones.size(), 0), 8192);
  ASSERT_OK(fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100, 5000));
  char c;
  ASSERT_EQ(pread(fd.get(), &c, 1, 99), 1);
  EXPECT_EQ(c, '1');
  ASSERT_EQ(pread(fd.get(), &c, 1, 100), 1);
  EXPECT_EQ(c, 0);
  ASSERT_EQ(pread(fd.get(), &c, 1, 5099), 1);
  EXPECT_EQ(c, 0);
  ASSERT_EQ(pread(fd.get(), &c, 1, 5100), 1);
  EXPECT_EQ(c, '1');
  EXPECT_ERRNO(EINVAL, fallocate(fd.get(), 0, -1, 10));
  EXPECT_ERRNO(EINVAL, fallocate(fd.get(), 0, 0, 0));
  EXPECT_ERRNO(EOPNOTSUPP, fallocate(fd.get(), FALLOC_FL_PUNCH_HOLE, 0, 10));
  FD ro(open(Path("f").c_str(), O_RDONLY));
  EXPECT_ERRNO(EBADF, fallocate(ro.get(), 0, 0, 10));

  ASSERT_OK(fsync(fd.get()));
  ASSERT_OK(fdatasync(fd.get()));
  ASSERT_OK(sync_file_range(fd.get(), 0, 100, SYNC_FILE_RANGE_WRITE));
  EXPECT_ERRNO(EINVAL, sync_file_range(fd.get(), -1, 100, 0));
  EXPECT_ERRNO(EINVAL, sync_file_range(fd.get(), 0, 100, 0x80));
  int pfd[2];
  ASSERT_OK(pipe(pfd));
  FD r(pfd[0]), w(pfd[1]);
  EXPECT_ERRNO(ESPIPE, sync_file_range(r.get(), 0, 0, 0));
  EXPECT_ERRNO(EINVAL, fsync(r.get()));
  ASSERT_OK(syncfs(fd.get()));
  sync();
}

TEST_F(FsOps, NameToHandleAtUnsupported) {
  // Not every file system gives handles; the sandbox's give none.
  struct file_handle* fh = static_cast<struct file_handle*>(malloc(sizeof(*fh) + 128));
  fh->handle_bytes = 128;
  int mount_id;
  long r = syscall(SYS_name_to_handle_at, AT_FDCWD, dir_.c_str(), fh, &mount_id, 0);
  if (r != 0) EXPECT_EQ(errno, EOPNOTSUPP);
  free(fh);
}

}  // namespace
}  // namespace bz
