// flock(2): shared and exclusive locks owned by the open file description,
// LOCK_NB, conversion, release at the last close, sharing across dup and
// fork, independence from fcntl record locks, and blocking waits.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

class Flock : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    if (base == nullptr || *base == 0) base = "/tmp";
    path_ = std::string(base) + "/bz-flock-XXXXXX";
    int fd = mkstemp(&path_[0]);
    ASSERT_OK(fd);
    close(fd);
  }
  void TearDown() override { unlink(path_.c_str()); }
  int Open(int flags = O_RDWR) { return open(path_.c_str(), flags); }

  std::string path_;
};

TEST_F(Flock, ExclusiveConflictsAcrossOpenFiles) {
  FD a(Open()), b(Open());
  ASSERT_OK(a.get());
  ASSERT_OK(b.get());
  ASSERT_OK(flock(a.get(), LOCK_EX | LOCK_NB));
  EXPECT_ERRNO(EWOULDBLOCK, flock(b.get(), LOCK_EX | LOCK_NB));
  EXPECT_ERRNO(EWOULDBLOCK, flock(b.get(), LOCK_SH | LOCK_NB));
  ASSERT_OK(flock(a.get(), LOCK_UN));
  EXPECT_OK(flock(b.get(), LOCK_EX | LOCK_NB));
}

TEST_F(Flock, SharedLocksCoexist) {
  FD a(Open(O_RDONLY)), b(Open(O_RDONLY));
  ASSERT_OK(flock(a.get(), LOCK_SH | LOCK_NB));
  EXPECT_OK(flock(b.get(), LOCK_SH | LOCK_NB));
  EXPECT_ERRNO(EWOULDBLOCK, flock(b.get(), LOCK_EX | LOCK_NB));
}

TEST_F(Flock, RefusedConversionDropsTheOldLock) {
  FD a(Open()), b(Open()), c(Open());
  ASSERT_OK(flock(a.get(), LOCK_SH | LOCK_NB));
  ASSERT_OK(flock(b.get(), LOCK_SH | LOCK_NB));
  // b's upgrade fails because of a; Linux has already dropped b's lock.
  EXPECT_ERRNO(EWOULDBLOCK, flock(b.get(), LOCK_EX | LOCK_NB));
  ASSERT_OK(flock(a.get(), LOCK_UN));
  EXPECT_OK(flock(c.get(), LOCK_EX | LOCK_NB));
}

TEST_F(Flock, DupSharesTheLockAndLastCloseReleases) {
  FD a(Open()), b(Open());
  ASSERT_OK(flock(a.get(), LOCK_EX | LOCK_NB));
  FD dup_a(dup(a.get()));
  // The same open file description: relocking through the dup is fine.
  EXPECT_OK(flock(dup_a.get(), LOCK_EX | LOCK_NB));
  a.reset();
  EXPECT_ERRNO(EWOULDBLOCK, flock(b.get(), LOCK_EX | LOCK_NB));
  dup_a.reset();
  EXPECT_OK(flock(b.get(), LOCK_EX | LOCK_NB));
}

TEST_F(Flock, IndependentOfRecordLocks) {
  FD a(Open()), b(Open());
  ASSERT_OK(flock(a.get(), LOCK_EX | LOCK_NB));
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  EXPECT_OK(fcntl(b.get(), F_OFD_SETLK, &fl));
}

TEST_F(Flock, BadArguments) {
  FD a(Open());
  EXPECT_ERRNO(EINVAL, flock(a.get(), 0));
  EXPECT_ERRNO(EINVAL, flock(a.get(), LOCK_SH | LOCK_EX));
  EXPECT_ERRNO(EBADF, flock(-1, LOCK_SH));
  EXPECT_ERRNO(EBADF, flock(12345, LOCK_SH));
  EXPECT_OK(flock(a.get(), LOCK_UN));  // Unlocking an unlocked file.
}

TEST_F(Flock, ForkSharesTheOpenFileDescription) {
  FD a(Open()), b(Open());
  ASSERT_OK(flock(a.get(), LOCK_EX | LOCK_NB));
  pid_t pid = fork();
  ASSERT_OK(pid);
  if (pid == 0) {
    // The child holds the same lock: relocking works, others are refused.
    if (flock(a.get(), LOCK_EX | LOCK_NB) != 0) _exit(1);
    if (flock(b.get(), LOCK_EX | LOCK_NB) == 0 || errno != EWOULDBLOCK) _exit(2);
    // Unlocking in the child unlocks for the parent too.
    if (flock(a.get(), LOCK_UN) != 0) _exit(3);
    _exit(0);
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_OK(flock(b.get(), LOCK_EX | LOCK_NB));
}

TEST_F(Flock, BlockedWaiterGetsTheLockWhenItIsReleased) {
  FD a(Open());
  ASSERT_OK(flock(a.get(), LOCK_EX));
  int p[2];
  ASSERT_OK(pipe(p));
  pid_t pid = fork();
  ASSERT_OK(pid);
  if (pid == 0) {
    close(p[0]);
    close(a.get());  // Only the parent's reference should hold the lock.
    int fd = Open();
    if (flock(fd, LOCK_EX) != 0) _exit(1);
    char c = 'x';
    if (write(p[1], &c, 1) != 1) _exit(2);
    _exit(0);
  }
  close(p[1]);
  // The child cannot have the lock yet.
  struct pollfd pfd = {p[0], POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  a.reset();  // The last close releases the lock.
  char c;
  EXPECT_EQ(read(p[0], &c, 1), 1);
  close(p[0]);
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

void Nothing(int) {}

TEST_F(Flock, InterruptedWaitFailsWithEINTR) {
  FD a(Open()), b(Open());
  ASSERT_OK(flock(a.get(), LOCK_EX));
  struct sigaction sa = {}, old;
  sa.sa_handler = Nothing;  // No SA_RESTART.
  ASSERT_OK(sigaction(SIGALRM, &sa, &old));
  struct itimerval it = {};
  it.it_value.tv_usec = 20000;
  ASSERT_OK(setitimer(ITIMER_REAL, &it, nullptr));
  EXPECT_ERRNO(EINTR, flock(b.get(), LOCK_EX));
  it.it_value.tv_usec = 0;
  setitimer(ITIMER_REAL, &it, nullptr);
  sigaction(SIGALRM, &old, nullptr);
}

}  // namespace
}  // namespace bz
