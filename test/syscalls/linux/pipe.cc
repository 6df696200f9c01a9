// Pipes: pipe/pipe2 flags, EOF, EPIPE, O_NONBLOCK, capacity and
// F_GETPIPE_SZ/F_SETPIPE_SZ, FIONREAD, PIPE_BUF atomicity between two writer
// processes, and what a pipe is not (lseek, pread).
#include <limits.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>

#include <string>
#include <vector>

#include "proc_util.h"

namespace bz {
namespace {

TEST(Pipe, Pipe2Flags) {
  int fds[2];
  ASSERT_OK(pipe2(fds, 0));
  EXPECT_EQ(fcntl(fds[0], F_GETFD), 0);
  EXPECT_EQ(fcntl(fds[0], F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_EQ(fcntl(fds[1], F_GETFL) & O_ACCMODE, O_WRONLY);
  EXPECT_EQ(fcntl(fds[0], F_GETFL) & O_NONBLOCK, 0);
  close(fds[0]);
  close(fds[1]);
  ASSERT_OK(pipe2(fds, O_CLOEXEC | O_NONBLOCK));
  for (int fd : fds) {
    EXPECT_EQ(fcntl(fd, F_GETFD), FD_CLOEXEC);
    EXPECT_TRUE(fcntl(fd, F_GETFL) & O_NONBLOCK);
    close(fd);
  }
  EXPECT_ERRNO(EINVAL, pipe2(fds, O_RDWR | O_TRUNC));
  EXPECT_ERRNO(EFAULT, pipe(static_cast<int*>(BadPointer())));
}

TEST(Pipe, WrongEndIsEBADF) {
  Pipe p;
  char c = 'x';
  EXPECT_ERRNO(EBADF, write(p.r.get(), &c, 1));
  EXPECT_ERRNO(EBADF, read(p.w.get(), &c, 1));
}

TEST(Pipe, DataAndEofAfterWriterCloses) {
  Pipe p;
  ASSERT_EQ(write(p.w.get(), "hello", 5), 5);
  ASSERT_EQ(write(p.w.get(), " world", 6), 6);
  char buf[64];
  // A read returns what is there, not more.
  EXPECT_EQ(read(p.r.get(), buf, 3), 3);
  EXPECT_EQ(std::string(buf, 3), "hel");
  ssize_t n = read(p.r.get(), buf, sizeof(buf));
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "lo world");
  p.w.reset();
  EXPECT_EQ(read(p.r.get(), buf, sizeof(buf)), 0);
  EXPECT_EQ(read(p.r.get(), buf, sizeof(buf)), 0);
}

TEST(Pipe, EofWhenChildWriterExits) {
  Pipe p;
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    p.r.reset();
    write(p.w.get(), "abc", 3);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  p.w.reset();
  std::string got;
  char buf[16];
  ssize_t n;
  while ((n = read(p.r.get(), buf, sizeof(buf))) > 0) got.append(buf, n);
  EXPECT_EQ(n, 0);
  EXPECT_EQ(got, "abc");
  EXPECT_EQ(WaitStatus(child), 0);
}

TEST(Pipe, EpipeWhenNoReader) {
  ScopedSigaction ign(SIGPIPE, SIG_IGN);
  Pipe p;
  p.r.reset();
  EXPECT_ERRNO(EPIPE, write(p.w.get(), "x", 1));
  struct iovec iov = {const_cast<char*>("y"), 1};
  EXPECT_ERRNO(EPIPE, writev(p.w.get(), &iov, 1));
}

TEST(Pipe, NonblockingEmptyAndFull) {
  Pipe p(O_NONBLOCK);
  char c;
  EXPECT_ERRNO(EAGAIN, read(p.r.get(), &c, 1));
  // Fill it: the capacity is F_GETPIPE_SZ.
  int cap = fcntl(p.w.get(), F_GETPIPE_SZ);
  ASSERT_GT(cap, 0);
  std::vector<char> buf(4096, 'z');
  long total = 0;
  for (;;) {
    ssize_t n = write(p.w.get(), buf.data(), buf.size());
    if (n < 0) {
      EXPECT_EQ(errno, EAGAIN);
      break;
    }
    total += n;
    ASSERT_LE(total, cap);
  }
  EXPECT_EQ(total, cap);
  EXPECT_ERRNO(EAGAIN, write(p.w.get(), "x", 1));
  int avail = -1;
  ASSERT_OK(ioctl(p.r.get(), FIONREAD, &avail));
  EXPECT_EQ(avail, cap);
  // Room for one byte after reading one... but writes of up to PIPE_BUF are
  // atomic, so a one-byte write fits only once a page is free.
  ASSERT_EQ(read(p.r.get(), buf.data(), 4096), 4096);
  EXPECT_EQ(write(p.w.get(), buf.data(), 100), 100);
}

TEST(Pipe, DefaultSizeAndSetPipeSize) {
  Pipe p;
  EXPECT_EQ(fcntl(p.r.get(), F_GETPIPE_SZ), 65536);
  EXPECT_EQ(fcntl(p.w.get(), F_GETPIPE_SZ), 65536);
  // Rounded up to a power-of-two number of pages.
  EXPECT_EQ(fcntl(p.w.get(), F_SETPIPE_SZ, 5000), 8192);
  EXPECT_EQ(fcntl(p.r.get(), F_GETPIPE_SZ), 8192);
  EXPECT_EQ(fcntl(p.w.get(), F_SETPIPE_SZ, 3 * 65536), 262144);
  EXPECT_EQ(fcntl(p.w.get(), F_GETPIPE_SZ), 262144);
  // Not smaller than what it holds.
  std::vector<char> buf(20000, 'q');
  ASSERT_EQ(write(p.w.get(), buf.data(), buf.size()), (ssize_t)buf.size());
  EXPECT_ERRNO(EBUSY, fcntl(p.w.get(), F_SETPIPE_SZ, 8192));
  EXPECT_EQ(fcntl(p.w.get(), F_GETPIPE_SZ), 262144);
  EXPECT_ERRNO(EINVAL, fcntl(p.w.get(), F_SETPIPE_SZ, -1));
  // Not a pipe.
  FD f(open("/etc/passwd", O_RDONLY));
  ASSERT_GE(f.get(), 0);
  EXPECT_ERRNO(EBADF, fcntl(f.get(), F_GETPIPE_SZ));
}

TEST(Pipe, Fionread) {
  Pipe p;
  int n = -1;
  ASSERT_OK(ioctl(p.r.get(), FIONREAD, &n));
  EXPECT_EQ(n, 0);
  ASSERT_EQ(write(p.w.get(), std::string(100, 'a').data(), 100), 100);
  ASSERT_OK(ioctl(p.r.get(), FIONREAD, &n));
  EXPECT_EQ(n, 100);
  ASSERT_OK(ioctl(p.w.get(), FIONREAD, &n));
  EXPECT_EQ(n, 100);
  char buf[30];
  ASSERT_EQ(read(p.r.get(), buf, 30), 30);
  ASSERT_OK(ioctl(p.r.get(), FIONREAD, &n));
  EXPECT_EQ(n, 70);
}

TEST(Pipe, NotSeekable) {
  Pipe p;
  char c;
  EXPECT_ERRNO(ESPIPE, lseek(p.r.get(), 0, SEEK_SET));
  EXPECT_ERRNO(ESPIPE, lseek(p.w.get(), 0, SEEK_CUR));
  EXPECT_ERRNO(ESPIPE, pread(p.r.get(), &c, 1, 0));
  EXPECT_ERRNO(ESPIPE, pwrite(p.w.get(), &c, 1, 0));
}

TEST(Pipe, Fstat) {
  Pipe p;
  struct stat sr, sw;
  ASSERT_OK(fstat(p.r.get(), &sr));
  ASSERT_OK(fstat(p.w.get(), &sw));
  EXPECT_TRUE(S_ISFIFO(sr.st_mode));
  EXPECT_TRUE(S_ISFIFO(sw.st_mode));
  EXPECT_EQ(sr.st_ino, sw.st_ino);
  EXPECT_EQ(sr.st_dev, sw.st_dev);
  EXPECT_EQ(sr.st_mode & 0777, 0600);
  EXPECT_EQ(sr.st_nlink, 1u);
  EXPECT_EQ(sr.st_uid, geteuid());
  Pipe q;
  struct stat sq;
  ASSERT_OK(fstat(q.r.get(), &sq));
  EXPECT_NE(sq.st_ino, sr.st_ino);
}

TEST(Pipe, VectoredIO) {
  Pipe p;
  struct iovec out[3] = {{const_cast<char*>("ab"), 2},
                         {const_cast<char*>(""), 0},
                         {const_cast<char*>("cde"), 3}};
  EXPECT_EQ(writev(p.w.get(), out, 3), 5);
  char a[1], b[10];
  struct iovec in[2] = {{a, 1}, {b, 10}};
  EXPECT_EQ(readv(p.r.get(), in, 2), 5);
  EXPECT_EQ(a[0], 'a');
  EXPECT_EQ(std::string(b, 4), "bcde");
}

// Two processes each write PIPE_BUF-sized records of their own byte; no
// record may be split by the other writer's data.
TEST(Pipe, PipeBufWritesAreAtomic) {
  constexpr int kRecords = 128;
  Pipe p;
  pid_t kids[2];
  fflush(nullptr);
  for (int k = 0; k < 2; k++) {
    kids[k] = fork();
    if (kids[k] == 0) {
      p.r.reset();
      std::vector<char> rec(PIPE_BUF, k == 0 ? 'A' : 'B');
      for (int i = 0; i < kRecords; i++) {
        if (write(p.w.get(), rec.data(), rec.size()) != PIPE_BUF) _exit(1);
      }
      _exit(0);
    }
    ASSERT_GT(kids[k], 0);
  }
  p.w.reset();
  std::string all;
  std::vector<char> buf(3000);  // not a multiple of PIPE_BUF on purpose
  ssize_t n;
  while ((n = read(p.r.get(), buf.data(), buf.size())) > 0) all.append(buf.data(), n);
  ASSERT_EQ(n, 0);
  ASSERT_EQ(all.size(), 2u * kRecords * PIPE_BUF);
  int as = 0, bs = 0;
  for (size_t off = 0; off < all.size(); off += PIPE_BUF) {
    char c = all[off];
    size_t end = off + PIPE_BUF;
    for (size_t i = off; i < end; i++) {
      if (all[i] != c) {
        FAIL() << "record at " << off << " mixes " << c << " and " << all[i];
      }
    }
    (c == 'A' ? as : bs)++;
  }
  EXPECT_EQ(as, kRecords);
  EXPECT_EQ(bs, kRecords);
  for (pid_t k : kids) EXPECT_EQ(WaitStatus(k), 0);
}

TEST(Pipe, BlockingWriteLargerThanCapacity) {
  // A write bigger than the pipe blocks until a reader drains it, and then
  // completes in full.
  constexpr size_t kSize = 1 << 20;
  Pipe p;
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    p.w.reset();
    size_t total = 0;
    char buf[8192];
    ssize_t n;
    while ((n = read(p.r.get(), buf, sizeof(buf))) > 0) total += n;
    _exit(total == kSize ? 0 : 1);
  }
  ASSERT_GT(child, 0);
  p.r.reset();
  std::vector<char> big(kSize, 'x');
  EXPECT_EQ(write(p.w.get(), big.data(), big.size()), (ssize_t)kSize);
  p.w.reset();
  EXPECT_EQ(WaitStatus(child), 0);
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
