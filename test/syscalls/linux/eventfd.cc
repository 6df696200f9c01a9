// eventfd2: counter semantics, EFD_SEMAPHORE, EFD_NONBLOCK, overflow and
// short buffers, readiness through poll.
#include <poll.h>
#include <stdint.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

uint64_t ReadCounter(int fd) {
  uint64_t v = 0;
  EXPECT_EQ(read(fd, &v, sizeof(v)), 8);
  return v;
}

short Revents(int fd, short events) {
  struct pollfd p = {fd, events, 0};
  int n = poll(&p, 1, 0);
  EXPECT_EQ(n, p.revents ? 1 : 0);
  return p.revents;
}

TEST(Eventfd, CounterAddsAndReadResets) {
  FD fd(eventfd(3, EFD_NONBLOCK));
  ASSERT_OK(fd.get());
  uint64_t v = 4;
  ASSERT_EQ(write(fd.get(), &v, 8), 8);
  EXPECT_EQ(ReadCounter(fd.get()), 7u);
  EXPECT_ERRNO(EAGAIN, read(fd.get(), &v, 8));
}

TEST(Eventfd, Semaphore) {
  FD fd(eventfd(2, EFD_NONBLOCK | EFD_SEMAPHORE));
  ASSERT_OK(fd.get());
  EXPECT_EQ(ReadCounter(fd.get()), 1u);
  EXPECT_EQ(ReadCounter(fd.get()), 1u);
  uint64_t v;
  EXPECT_ERRNO(EAGAIN, read(fd.get(), &v, 8));
}

TEST(Eventfd, ShortBuffersAndBadValues) {
  FD fd(eventfd(1, EFD_NONBLOCK));
  ASSERT_OK(fd.get());
  char small[4] = {};
  EXPECT_ERRNO(EINVAL, read(fd.get(), small, sizeof(small)));
  EXPECT_ERRNO(EINVAL, write(fd.get(), small, sizeof(small)));
  uint64_t all = ~0ull;
  EXPECT_ERRNO(EINVAL, write(fd.get(), &all, 8));
  // A larger buffer reads 8 bytes.
  uint64_t big[2] = {};
  EXPECT_EQ(read(fd.get(), big, sizeof(big)), 8);
  EXPECT_EQ(big[0], 1u);
}

TEST(Eventfd, OverflowWouldBlock) {
  FD fd(eventfd(0, EFD_NONBLOCK));
  ASSERT_OK(fd.get());
  uint64_t v = 0xfffffffffffffffeull;
  ASSERT_EQ(write(fd.get(), &v, 8), 8);
  v = 1;
  EXPECT_ERRNO(EAGAIN, write(fd.get(), &v, 8));
  EXPECT_EQ(Revents(fd.get(), POLLIN | POLLOUT), POLLIN);
  EXPECT_EQ(ReadCounter(fd.get()), 0xfffffffffffffffeull);
  EXPECT_EQ(Revents(fd.get(), POLLIN | POLLOUT), POLLOUT);
}

TEST(Eventfd, FlagsAndErrors) {
  EXPECT_ERRNO(EINVAL, syscall(SYS_eventfd2, 0, 0x1000));
  FD fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  ASSERT_OK(fd.get());
  EXPECT_EQ(fcntl(fd.get(), F_GETFD), FD_CLOEXEC);
  EXPECT_TRUE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK);
  EXPECT_EQ(fcntl(fd.get(), F_GETFL) & O_ACCMODE, O_RDWR);
  // Old eventfd(2) takes no flags.
  FD old(syscall(SYS_eventfd, 5));
  ASSERT_OK(old.get());
  EXPECT_EQ(fcntl(old.get(), F_GETFD), 0);
}

TEST(Eventfd, ZeroWriteDoesNotWake) {
  FD fd(eventfd(0, EFD_NONBLOCK));
  ASSERT_OK(fd.get());
  uint64_t v = 0;
  ASSERT_EQ(write(fd.get(), &v, 8), 8);
  EXPECT_EQ(Revents(fd.get(), POLLIN), 0);
}

}  // namespace
}  // namespace bz
