// /proc/[pid]/fd/N, cwd, root and exe as magic links: opening them opens
// the file itself (an unlinked or renamed file, a pipe as a new end, a
// socket not at all), /dev/fd/N likewise, and openat2's
// RESOLVE_NO_MAGICLINKS refuses them.
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

std::string FdPath(int fd, const char* base = "/proc/self/fd/") { return base + std::to_string(fd); }

class ProcFd : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    if (base == nullptr || *base == 0) base = "/tmp";
    path_ = std::string(base) + "/bz-proc-fd-XXXXXX";
    int fd = mkstemp(&path_[0]);
    ASSERT_OK(fd);
    ASSERT_EQ(write(fd, "hello", 5), 5);
    close(fd);
  }
  void TearDown() override {
    unlink(path_.c_str());
    unlink((path_ + ".moved").c_str());
  }
  std::string path_;
};

TEST_F(ProcFd, OpensAnUnlinkedFile) {
  FD fd(open(path_.c_str(), O_RDONLY));
  ASSERT_OK(fd.get());
  ASSERT_OK(unlink(path_.c_str()));
  FD again(open(FdPath(fd.get()).c_str(), O_RDONLY));
  ASSERT_OK(again.get());
  char buf[8] = {};
  EXPECT_EQ(read(again.get(), buf, sizeof(buf)), 5);
  EXPECT_STREQ(buf, "hello");
  // A new open file description: its own offset.
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 0);
}

TEST_F(ProcFd, FollowsARename) {
  FD fd(open(path_.c_str(), O_RDONLY));
  ASSERT_OK(rename(path_.c_str(), (path_ + ".moved").c_str()));
  FD again(open(FdPath(fd.get(), "/dev/fd/").c_str(), O_RDWR));
  ASSERT_OK(again.get());
  struct stat a, b;
  ASSERT_OK(fstat(fd.get(), &a));
  ASSERT_OK(fstat(again.get(), &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(a.st_dev, b.st_dev);
}

TEST_F(ProcFd, ReopensAPipe) {
  int p[2];
  ASSERT_OK(pipe(p));
  FD r(p[0]), w(p[1]);
  ASSERT_EQ(write(w.get(), "abc", 3), 3);
  // Reading through the reopened read end, as `cat /dev/fd/N` and bash's
  // <(...) do.
  FD r2(open(FdPath(r.get(), "/dev/fd/").c_str(), O_RDONLY));
  ASSERT_OK(r2.get());
  char buf[4] = {};
  EXPECT_EQ(read(r2.get(), buf, 3), 3);
  EXPECT_STREQ(buf, "abc");
  // A writer opened through the read end's link writes into the same pipe.
  FD w2(open(FdPath(r.get()).c_str(), O_WRONLY));
  ASSERT_OK(w2.get());
  ASSERT_EQ(write(w2.get(), "z", 1), 1);
  EXPECT_EQ(read(r.get(), buf, 1), 1);
  EXPECT_EQ(buf[0], 'z');
  struct stat a, b;
  ASSERT_OK(fstat(r.get(), &a));
  ASSERT_OK(fstat(w2.get(), &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_TRUE(S_ISFIFO(b.st_mode));
}

// As bash's <(...) finds it when the writer has already finished: opening
// an anonymous pipe never waits for a writer.
TEST_F(ProcFd, ReopensAPipeWhoseWriterIsGone) {
  int p[2];
  ASSERT_OK(pipe(p));
  FD r(p[0]);
  ASSERT_EQ(write(p[1], "abc", 3), 3);
  close(p[1]);
  FD r2(open(FdPath(r.get()).c_str(), O_RDONLY));
  ASSERT_OK(r2.get());
  char buf[8] = {};
  EXPECT_EQ(read(r2.get(), buf, sizeof(buf)), 3);
  EXPECT_EQ(read(r2.get(), buf, sizeof(buf)), 0);
}

TEST_F(ProcFd, SocketsCannotBeOpened) {
  int sv[2];
  ASSERT_OK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
  FD a(sv[0]), b(sv[1]);
  EXPECT_ERRNO(ENXIO, open(FdPath(a.get()).c_str(), O_RDWR));
}

TEST_F(ProcFd, DirectoryThroughTheLink) {
  std::string dir = path_.substr(0, path_.rfind('/'));
  std::string name = path_.substr(path_.rfind('/') + 1);
  FD d(open(dir.c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_OK(d.get());
  std::string p = FdPath(d.get()) + "/" + name;
  FD f(open(p.c_str(), O_RDONLY));
  EXPECT_OK(f.get());
}

TEST_F(ProcFd, CwdRootAndExe) {
  struct stat a, b;
  ASSERT_OK(stat("/proc/self/cwd/.", &a));
  ASSERT_OK(stat(".", &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  ASSERT_OK(stat("/proc/self/root/.", &a));
  ASSERT_OK(stat("/", &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  FD exe(open("/proc/self/exe", O_RDONLY));
  ASSERT_OK(exe.get());
  char magic[4];
  ASSERT_EQ(read(exe.get(), magic, 4), 4);
  EXPECT_EQ(memcmp(magic, "\177ELF", 4), 0);
}

long Openat2(int dirfd, const char* path, uint64_t flags, uint64_t resolve) {
  struct open_how how = {};
  how.flags = flags;
  how.resolve = resolve;
  return syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
}

TEST_F(ProcFd, ResolveNoMagicLinks) {
  FD fd(open(path_.c_str(), O_RDONLY));
  std::string link = FdPath(fd.get());
  EXPECT_ERRNO(ELOOP, Openat2(AT_FDCWD, link.c_str(), O_RDONLY, RESOLVE_NO_MAGICLINKS));
  EXPECT_ERRNO(ELOOP, Openat2(AT_FDCWD, "/proc/self/cwd/.", O_RDONLY, RESOLVE_NO_MAGICLINKS));
  FD ok(Openat2(AT_FDCWD, link.c_str(), O_RDONLY, 0));
  EXPECT_OK(ok.get());
  // The link itself is still reachable with O_PATH|O_NOFOLLOW.
  FD self(Openat2(AT_FDCWD, link.c_str(), O_PATH | O_NOFOLLOW, RESOLVE_NO_MAGICLINKS));
  EXPECT_OK(self.get());
}

TEST_F(ProcFd, ClosedDescriptor) {
  int fd = open(path_.c_str(), O_RDONLY);
  ASSERT_OK(fd);
  std::string link = FdPath(fd);
  close(fd);
  EXPECT_ERRNO(ENOENT, open(link.c_str(), O_RDONLY));
}

// /proc/[pid] of a reaped process is gone, even after it was looked up
// (and cached) while the process lived.
TEST_F(ProcFd, ExitedProcessDirectoryGoes) {
  int p[2];
  ASSERT_OK(pipe(p));
  pid_t pid = fork();
  ASSERT_OK(pid);
  if (pid == 0) {
    char c;
    close(p[1]);
    read(p[0], &c, 1);
    _exit(0);
  }
  close(p[0]);
  std::string dir = "/proc/" + std::to_string(pid);
  struct stat st;
  ASSERT_OK(stat(dir.c_str(), &st));
  ASSERT_OK(stat((dir + "/status").c_str(), &st));
  close(p[1]);
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_ERRNO(ENOENT, stat(dir.c_str(), &st));
  EXPECT_ERRNO(ENOENT, stat((dir + "/status").c_str(), &st));
}

}  // namespace
}  // namespace bz
