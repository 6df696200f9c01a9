// dup, dup2, dup3 and fcntl's descriptor commands: F_DUPFD,
// F_DUPFD_CLOEXEC, F_GETFD/F_SETFD, F_GETFL/F_SETFL.
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

constexpr char kFile[] = "/etc/passwd";

TEST(Dup, ReturnsLowestFreeAndSharesOffset) {
  FD a(open(kFile, O_RDONLY));
  ASSERT_OK(a.get());
  FD b(dup(a.get()));
  ASSERT_OK(b.get());
  EXPECT_GT(b.get(), a.get());
  ASSERT_EQ(lseek(a.get(), 7, SEEK_SET), 7);
  EXPECT_EQ(lseek(b.get(), 0, SEEK_CUR), 7);
  int n = b.get();
  b.reset();
  FD c(dup(a.get()));
  EXPECT_EQ(c.get(), n);
}

TEST(Dup, ClearsCloexec) {
  FD a(open(kFile, O_RDONLY | O_CLOEXEC));
  ASSERT_OK(a.get());
  EXPECT_EQ(fcntl(a.get(), F_GETFD), FD_CLOEXEC);
  FD b(dup(a.get()));
  ASSERT_OK(b.get());
  EXPECT_EQ(fcntl(b.get(), F_GETFD), 0);
}

TEST(Dup, BadFD) {
  EXPECT_ERRNO(EBADF, dup(-1));
  EXPECT_ERRNO(EBADF, dup2(-1, 100));
  EXPECT_ERRNO(EBADF, dup3(-1, 100, 0));
}

TEST(Dup2, ReplacesTarget) {
  FD a(open(kFile, O_RDONLY));
  ASSERT_OK(a.get());
  FD b(open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(b.get());
  ASSERT_EQ(dup2(a.get(), b.get()), b.get());
  struct stat sa, sb;
  ASSERT_OK(fstat(a.get(), &sa));
  ASSERT_OK(fstat(b.get(), &sb));
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  EXPECT_TRUE(S_ISREG(sb.st_mode));
}

TEST(Dup2, SameFDIsNoOp) {
  FD a(open(kFile, O_RDONLY | O_CLOEXEC));
  ASSERT_OK(a.get());
  EXPECT_EQ(dup2(a.get(), a.get()), a.get());
  EXPECT_EQ(fcntl(a.get(), F_GETFD), FD_CLOEXEC);  // untouched
  // ...but a closed fd is still EBADF.
  int closed = dup(a.get());
  ASSERT_OK(closed);
  ASSERT_OK(close(closed));
  EXPECT_ERRNO(EBADF, dup2(closed, closed));
}

TEST(Dup2, TargetBeyondLimit) {
  FD a(open(kFile, O_RDONLY));
  ASSERT_OK(a.get());
  struct rlimit rl;
  ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
  EXPECT_ERRNO(EBADF, dup2(a.get(), rl.rlim_cur));
  EXPECT_ERRNO(EBADF, dup2(a.get(), -1));
}

TEST(Dup3, Flags) {
  FD a(open(kFile, O_RDONLY));
  ASSERT_OK(a.get());
  FD b(open(kFile, O_RDONLY));
  ASSERT_OK(b.get());
  ASSERT_EQ(dup3(a.get(), b.get(), O_CLOEXEC), b.get());
  EXPECT_EQ(fcntl(b.get(), F_GETFD), FD_CLOEXEC);
  ASSERT_EQ(dup3(a.get(), b.get(), 0), b.get());
  EXPECT_EQ(fcntl(b.get(), F_GETFD), 0);
  EXPECT_ERRNO(EINVAL, dup3(a.get(), a.get(), 0));
  EXPECT_ERRNO(EINVAL, dup3(a.get(), b.get(), O_NONBLOCK));
}

TEST(Fcntl, DupFD) {
  FD a(open(kFile, O_RDONLY | O_CLOEXEC));
  ASSERT_OK(a.get());
  FD b(fcntl(a.get(), F_DUPFD, 100));
  ASSERT_OK(b.get());
  EXPECT_GE(b.get(), 100);
  EXPECT_EQ(fcntl(b.get(), F_GETFD), 0);
  FD c(fcntl(a.get(), F_DUPFD, 100));
  ASSERT_OK(c.get());
  EXPECT_GT(c.get(), b.get());
  FD d(fcntl(a.get(), F_DUPFD_CLOEXEC, 50));
  ASSERT_OK(d.get());
  EXPECT_GE(d.get(), 50);
  EXPECT_EQ(fcntl(d.get(), F_GETFD), FD_CLOEXEC);
}

TEST(Fcntl, DupFDErrors) {
  FD a(open(kFile, O_RDONLY));
  ASSERT_OK(a.get());
  struct rlimit rl;
  ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
  EXPECT_ERRNO(EINVAL, fcntl(a.get(), F_DUPFD, -1));
  EXPECT_ERRNO(EINVAL, fcntl(a.get(), F_DUPFD, rl.rlim_cur));
  EXPECT_ERRNO(EBADF, fcntl(-1, F_DUPFD, 0));
}

TEST(Fcntl, GetSetFD) {
  FD a(open(kFile, O_RDONLY));
  ASSERT_OK(a.get());
  EXPECT_EQ(fcntl(a.get(), F_GETFD), 0);
  ASSERT_OK(fcntl(a.get(), F_SETFD, FD_CLOEXEC));
  EXPECT_EQ(fcntl(a.get(), F_GETFD), FD_CLOEXEC);
  ASSERT_OK(fcntl(a.get(), F_SETFD, 0));
  EXPECT_EQ(fcntl(a.get(), F_GETFD), 0);
  EXPECT_ERRNO(EBADF, fcntl(-1, F_GETFD));
}

TEST(Fcntl, GetFL) {
  FD ro(open(kFile, O_RDONLY));
  ASSERT_OK(ro.get());
  int fl = fcntl(ro.get(), F_GETFL);
  ASSERT_OK(fl);
  EXPECT_EQ(fl & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(fl & O_NONBLOCK, 0);
  FD wo(open("/dev/null", O_WRONLY | O_APPEND));
  ASSERT_OK(wo.get());
  fl = fcntl(wo.get(), F_GETFL);
  EXPECT_EQ(fl & O_ACCMODE, O_WRONLY);
  EXPECT_EQ(fl & O_APPEND, O_APPEND);
  // O_CLOEXEC is a descriptor flag, not a file status flag.
  FD ce(open(kFile, O_RDONLY | O_CLOEXEC));
  ASSERT_OK(ce.get());
  EXPECT_EQ(fcntl(ce.get(), F_GETFL) & O_CLOEXEC, 0);
}

TEST(Fcntl, SetFLNonblockIsSharedByDup) {
  int p[2];
  ASSERT_OK(pipe(p));
  FD r(p[0]), w(p[1]);
  FD r2(dup(r.get()));
  ASSERT_OK(r2.get());
  ASSERT_OK(fcntl(r.get(), F_SETFL, O_NONBLOCK));
  EXPECT_EQ(fcntl(r2.get(), F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  char c;
  EXPECT_ERRNO(EAGAIN, read(r2.get(), &c, 1));
  // The access mode cannot be changed with F_SETFL.
  ASSERT_OK(fcntl(r.get(), F_SETFL, O_WRONLY));
  EXPECT_EQ(fcntl(r.get(), F_GETFL) & O_ACCMODE, O_RDONLY);
}

TEST(Fcntl, BadCommand) {
  FD a(open(kFile, O_RDONLY));
  ASSERT_OK(a.get());
  EXPECT_ERRNO(EINVAL, syscall(SYS_fcntl, a.get(), 0x7fff, 0));
}

}  // namespace
}  // namespace bz
