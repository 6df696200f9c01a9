// read, write, pread64, pwrite64, readv, writev and lseek on host files,
// pipes and /dev/null: data, offsets and the errors Linux gives.
#include <fcntl.h>
#include <limits.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

constexpr char kFile[] = "/etc/passwd";

TEST(ReadWrite, ReadWholeFileMatchesSize) {
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  struct stat st;
  ASSERT_OK(fstat(fd.get(), &st));
  std::string data = ReadAll(kFile);
  EXPECT_EQ(static_cast<off_t>(data.size()), st.st_size);
  EXPECT_GT(data.size(), 0u);
}

TEST(ReadWrite, ReadAtEOFReturnsZero) {
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  off_t end = lseek(fd.get(), 0, SEEK_END);
  ASSERT_GT(end, 0);
  char c;
  EXPECT_EQ(read(fd.get(), &c, 1), 0);
  // Reading past the end is not an error either.
  ASSERT_EQ(lseek(fd.get(), end + 100, SEEK_SET), end + 100);
  EXPECT_EQ(read(fd.get(), &c, 1), 0);
}

TEST(ReadWrite, ZeroLengthReadReturnsZero) {
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  EXPECT_EQ(read(fd.get(), nullptr, 0), 0);
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 0);
}

TEST(ReadWrite, LseekWhence) {
  std::string data = ReadAll(kFile);
  ASSERT_GT(data.size(), 8u);
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_END), static_cast<off_t>(data.size()));
  EXPECT_EQ(lseek(fd.get(), -4, SEEK_END),
            static_cast<off_t>(data.size() - 4));
  EXPECT_EQ(lseek(fd.get(), 2, SEEK_SET), 2);
  EXPECT_EQ(lseek(fd.get(), 3, SEEK_CUR), 5);
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 5);
  char buf[3];
  ASSERT_EQ(read(fd.get(), buf, 3), 3);
  EXPECT_EQ(std::string(buf, 3), data.substr(5, 3));
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 8);
  EXPECT_EQ(lseek(fd.get(), -8, SEEK_CUR), 0);
}

TEST(ReadWrite, LseekErrors) {
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  ASSERT_EQ(lseek(fd.get(), 4, SEEK_SET), 4);
  EXPECT_ERRNO(EINVAL, lseek(fd.get(), -1, SEEK_SET));
  EXPECT_ERRNO(EINVAL, lseek(fd.get(), -5, SEEK_CUR));
  EXPECT_ERRNO(EINVAL, lseek(fd.get(), 0, 42));
  // A failed lseek leaves the offset alone.
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 4);
  EXPECT_ERRNO(EBADF, lseek(-1, 0, SEEK_SET));
}

TEST(ReadWrite, PreadDoesNotMoveOffset) {
  std::string data = ReadAll(kFile);
  ASSERT_GT(data.size(), 10u);
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  ASSERT_EQ(lseek(fd.get(), 1, SEEK_SET), 1);
  char buf[4];
  ASSERT_EQ(pread(fd.get(), buf, 4, 6), 4);
  EXPECT_EQ(std::string(buf, 4), data.substr(6, 4));
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 1);
  EXPECT_EQ(pread(fd.get(), buf, 4, data.size()), 0);
}

TEST(ReadWrite, PreadNegativeOffset) {
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  char buf[4];
  EXPECT_ERRNO(EINVAL, pread(fd.get(), buf, 4, -1));
  EXPECT_ERRNO(EINVAL, syscall(SYS_pread64, fd.get(), buf, 4, -4096L));
}

TEST(ReadWrite, ReadvScatters) {
  std::string data = ReadAll(kFile);
  ASSERT_GT(data.size(), 12u);
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  char a[5], b[7];
  struct iovec iov[3] = {{a, 5}, {nullptr, 0}, {b, 7}};
  ASSERT_EQ(readv(fd.get(), iov, 3), 12);
  EXPECT_EQ(std::string(a, 5), data.substr(0, 5));
  EXPECT_EQ(std::string(b, 7), data.substr(5, 7));
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 12);
}

TEST(ReadWrite, ReadvErrors) {
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  char a[4];
  struct iovec iov = {a, sizeof(a)};
  EXPECT_ERRNO(EINVAL, readv(fd.get(), &iov, -1));
  EXPECT_ERRNO(EINVAL, readv(fd.get(), &iov, IOV_MAX + 1));
  EXPECT_ERRNO(EFAULT, readv(fd.get(), static_cast<struct iovec*>(BadPointer()),
                             1));
  struct iovec bad = {BadPointer(), 4};
  EXPECT_ERRNO(EFAULT, readv(fd.get(), &bad, 1));
  EXPECT_EQ(readv(fd.get(), &iov, 0), 0);
}

TEST(ReadWrite, BadFD) {
  char buf[4];
  EXPECT_ERRNO(EBADF, read(-1, buf, sizeof(buf)));
  EXPECT_ERRNO(EBADF, write(-1, buf, sizeof(buf)));
  EXPECT_ERRNO(EBADF, pread(-1, buf, sizeof(buf), 0));
  // A descriptor that was open and is now closed.
  int fd = open(kFile, O_RDONLY);
  ASSERT_OK(fd);
  ASSERT_OK(close(fd));
  EXPECT_ERRNO(EBADF, read(fd, buf, sizeof(buf)));
}

TEST(ReadWrite, WrongAccessMode) {
  FD ro(open(kFile, O_RDONLY));
  ASSERT_OK(ro.get());
  char buf[4] = {};
  EXPECT_ERRNO(EBADF, write(ro.get(), buf, sizeof(buf)));
  EXPECT_ERRNO(EBADF, pwrite(ro.get(), buf, sizeof(buf), 0));
  FD wo(open("/dev/null", O_WRONLY));
  ASSERT_OK(wo.get());
  EXPECT_ERRNO(EBADF, read(wo.get(), buf, sizeof(buf)));
}

TEST(ReadWrite, ReadIntoBadPointer) {
  FD fd(open(kFile, O_RDONLY));
  ASSERT_OK(fd.get());
  EXPECT_ERRNO(EFAULT, read(fd.get(), BadPointer(), 16));
  EXPECT_ERRNO(EFAULT, pread(fd.get(), BadPointer(), 16, 0));
  // Nothing was consumed.
  EXPECT_EQ(lseek(fd.get(), 0, SEEK_CUR), 0);
}

TEST(ReadWrite, DevNullAndZero) {
  FD null(open("/dev/null", O_RDWR));
  ASSERT_OK(null.get());
  char buf[64];
  memset(buf, 'x', sizeof(buf));
  EXPECT_EQ(write(null.get(), buf, sizeof(buf)), 64);
  EXPECT_EQ(read(null.get(), buf, sizeof(buf)), 0);
  FD zero(open("/dev/zero", O_RDONLY));
  ASSERT_OK(zero.get());
  ASSERT_EQ(read(zero.get(), buf, sizeof(buf)), 64);
  for (char c : buf) ASSERT_EQ(c, 0);
}

TEST(ReadWrite, PipeRoundTrip) {
  int p[2];
  ASSERT_OK(pipe2(p, O_CLOEXEC));
  FD r(p[0]), w(p[1]);
  ASSERT_EQ(write(w.get(), "hello", 5), 5);
  char buf[16];
  ASSERT_EQ(read(r.get(), buf, sizeof(buf)), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
}

TEST(ReadWrite, WritevGathers) {
  int p[2];
  ASSERT_OK(pipe2(p, O_CLOEXEC));
  FD r(p[0]), w(p[1]);
  char a[] = "abc", b[] = "defgh";
  struct iovec iov[3] = {{a, 3}, {nullptr, 0}, {b, 5}};
  ASSERT_EQ(writev(w.get(), iov, 3), 8);
  char buf[16];
  ASSERT_EQ(read(r.get(), buf, sizeof(buf)), 8);
  EXPECT_EQ(std::string(buf, 8), "abcdefgh");
  EXPECT_ERRNO(EINVAL, writev(w.get(), iov, -1));
}

TEST(ReadWrite, PipeIsNotSeekable) {
  int p[2];
  ASSERT_OK(pipe2(p, O_CLOEXEC));
  FD r(p[0]), w(p[1]);
  char buf[4] = {};
  EXPECT_ERRNO(ESPIPE, lseek(r.get(), 0, SEEK_SET));
  EXPECT_ERRNO(ESPIPE, pwrite(w.get(), buf, 4, 0));
  EXPECT_ERRNO(ESPIPE, pread(r.get(), buf, 4, 0));
}

TEST(ReadWrite, WriteFromBadPointer) {
  int p[2];
  ASSERT_OK(pipe2(p, O_CLOEXEC));
  FD r(p[0]), w(p[1]);
  EXPECT_ERRNO(EFAULT, write(w.get(), BadPointer(), 16));
  // Nothing reached the pipe.
  ASSERT_OK(fcntl(r.get(), F_SETFL, O_NONBLOCK));
  char c;
  EXPECT_ERRNO(EAGAIN, read(r.get(), &c, 1));
}

TEST(ReadWrite, WriteToClosedPipeReaderIsEPIPE) {
  int p[2];
  ASSERT_OK(pipe2(p, O_CLOEXEC));
  FD w(p[1]);
  ASSERT_OK(close(p[0]));
  struct sigaction sa = {}, old;
  sa.sa_handler = SIG_IGN;
  ASSERT_OK(sigaction(SIGPIPE, &sa, &old));
  EXPECT_ERRNO(EPIPE, write(w.get(), "x", 1));
  ASSERT_OK(sigaction(SIGPIPE, &old, nullptr));
}

}  // namespace
}  // namespace bz
