// tee(2): bytes are duplicated from one pipe into another and stay in the
// first; errnos for non-pipes, the same pipe, bad flags and descriptors;
// SPLICE_F_NONBLOCK on an empty input or a full output.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>

#include "proc_util.h"
#include "test_util.h"

namespace bz {
namespace {

TEST(Tee, DuplicatesWithoutConsuming) {
  Pipe in, out;
  ASSERT_EQ(write(in.w.get(), "hello world", 11), 11);
  EXPECT_EQ(tee(in.r.get(), out.w.get(), 5, 0), 5);
  char buf[32];
  EXPECT_EQ(read(out.r.get(), buf, sizeof(buf)), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  // The input still holds everything.
  EXPECT_EQ(tee(in.r.get(), out.w.get(), 100, 0), 11);
  EXPECT_EQ(read(in.r.get(), buf, sizeof(buf)), 11);
  EXPECT_EQ(std::string(buf, 11), "hello world");
  EXPECT_EQ(read(out.r.get(), buf, sizeof(buf)), 11);
  EXPECT_EQ(std::string(buf, 11), "hello world");
}

TEST(Tee, EndOfInputIsZero) {
  Pipe in, out;
  in.w.reset();
  EXPECT_EQ(tee(in.r.get(), out.w.get(), 10, 0), 0);
}

TEST(Tee, NonblockFlag) {
  Pipe in, out;
  EXPECT_ERRNO(EAGAIN, tee(in.r.get(), out.w.get(), 10, SPLICE_F_NONBLOCK));
  ASSERT_EQ(write(in.w.get(), "x", 1), 1);
  // Fill the output.
  ASSERT_OK(fcntl(out.w.get(), F_SETFL, O_NONBLOCK));
  std::string chunk(4096, 'f');
  while (write(out.w.get(), chunk.data(), chunk.size()) > 0) {
  }
  EXPECT_ERRNO(EAGAIN, tee(in.r.get(), out.w.get(), 1, SPLICE_F_NONBLOCK));
}

TEST(Tee, Errnos) {
  Pipe a, b;
  EXPECT_ERRNO(EINVAL, tee(a.r.get(), a.w.get(), 1, 0));
  EXPECT_ERRNO(EINVAL, tee(a.r.get(), b.w.get(), 1, 0x100));
  EXPECT_ERRNO(EBADF, tee(a.w.get(), b.w.get(), 1, 0));
  EXPECT_ERRNO(EBADF, tee(a.r.get(), b.r.get(), 1, 0));
  EXPECT_ERRNO(EBADF, tee(-1, b.w.get(), 1, 0));
  FD file(open("/dev/null", O_RDWR));
  ASSERT_OK(file.get());
  EXPECT_ERRNO(EINVAL, tee(file.get(), b.w.get(), 1, 0));
  EXPECT_ERRNO(EINVAL, tee(a.r.get(), file.get(), 1, 0));
}

TEST(Tee, NoReaderIsEpipe) {
  Pipe in, out;
  ASSERT_EQ(write(in.w.get(), "x", 1), 1);
  out.r.reset();
  ScopedSigaction ign(SIGPIPE, SIG_IGN);
  EXPECT_ERRNO(EPIPE, tee(in.r.get(), out.w.get(), 1, 0));
}

TEST(Tee, InputIsWaitedForFirst) {
  Pipe in, out;
  out.r.reset();
  ScopedSigaction ign(SIGPIPE, SIG_IGN);
  // An empty input with a writer: no data yet, whatever the output.
  EXPECT_ERRNO(EAGAIN, tee(in.r.get(), out.w.get(), 1, SPLICE_F_NONBLOCK));
}

TEST(Tee, BlocksUntilInput) {
  Pipe in, out;
  pid_t pid = fork();
  if (pid == 0) {
    _exit(write(in.w.get(), "late", 4) == 4 ? 0 : 1);
  }
  EXPECT_EQ(tee(in.r.get(), out.w.get(), 100, 0), 4);
  EXPECT_EQ(WaitStatus(pid), 0);
  char buf[8];
  EXPECT_EQ(read(out.r.get(), buf, sizeof(buf)), 4);
  EXPECT_EQ(read(in.r.get(), buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "late");
}

}  // namespace
}  // namespace bz
