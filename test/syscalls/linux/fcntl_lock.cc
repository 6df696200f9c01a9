// fcntl(2) record locks: POSIX locks (F_SETLK, F_SETLKW, F_GETLK) owned by
// the process, with ranges split and merged, released when the process
// closes any descriptor of the file or exits, and EDEADLK for a two-process
// cycle; open file description locks (F_OFD_*) owned by the open file.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

struct flock Lock(short type, off_t start, off_t len, short whence = SEEK_SET) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = whence;
  fl.l_start = start;
  fl.l_len = len;
  return fl;
}

class FcntlLock : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    if (base == nullptr || *base == 0) base = "/tmp";
    path_ = std::string(base) + "/bz-fcntl-lock-XXXXXX";
    int fd = mkstemp(&path_[0]);
    ASSERT_OK(fd);
    close(fd);
  }
  void TearDown() override { unlink(path_.c_str()); }
  int Open(int flags = O_RDWR) { return open(path_.c_str(), flags); }

  // Runs fn in a child process and returns its exit status (0 = passed).
  template <typename F>
  int InChild(F fn) {
    pid_t pid = fork();
    if (pid == 0) _exit(fn());
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
  }

  // Returns what F_GETLK reports from another process for [start,
  // start+len): the conflicting lock's type, start, len and pid.
  struct flock GetFromChild(short type, off_t start, off_t len) {
    int p[2];
    EXPECT_OK(pipe(p));
    struct flock got = {};
    pid_t pid = fork();
    if (pid == 0) {
      int fd = Open();
      struct flock fl = Lock(type, start, len);
      if (fcntl(fd, F_GETLK, &fl) != 0) _exit(1);
      if (write(p[1], &fl, sizeof(fl)) != sizeof(fl)) _exit(2);
      _exit(0);
    }
    close(p[1]);
    EXPECT_EQ(read(p[0], &got, sizeof(got)), (ssize_t)sizeof(got));
    close(p[0]);
    int status;
    EXPECT_EQ(waitpid(pid, &status, 0), pid);
    return got;
  }

  std::string path_;
};

TEST_F(FcntlLock, ConflictsWithAnotherProcess) {
  FD fd(Open());
  struct flock fl = Lock(F_WRLCK, 0, 10);
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &fl));
  EXPECT_EQ(InChild([&] {
              int f = Open();
              struct flock w = Lock(F_WRLCK, 5, 1);
              if (fcntl(f, F_SETLK, &w) == 0 || errno != EAGAIN) return 1;
              struct flock r = Lock(F_RDLCK, 9, 1);
              if (fcntl(f, F_SETLK, &r) == 0 || errno != EAGAIN) return 2;
              struct flock free = Lock(F_WRLCK, 10, 5);
              if (fcntl(f, F_SETLK, &free) != 0) return 3;
              return 0;
            }),
            0);
  struct flock got = GetFromChild(F_RDLCK, 0, 0);
  EXPECT_EQ(got.l_type, F_WRLCK);
  EXPECT_EQ(got.l_start, 0);
  EXPECT_EQ(got.l_len, 10);
  EXPECT_EQ(got.l_pid, getpid());
  EXPECT_EQ(got.l_whence, SEEK_SET);
}

TEST_F(FcntlLock, SameProcessNeverConflicts) {
  FD a(Open()), b(Open());
  struct flock w = Lock(F_WRLCK, 0, 0);
  ASSERT_OK(fcntl(a.get(), F_SETLK, &w));
  EXPECT_OK(fcntl(b.get(), F_SETLK, &w));
  struct flock q = Lock(F_WRLCK, 0, 0);
  ASSERT_OK(fcntl(a.get(), F_GETLK, &q));
  EXPECT_EQ(q.l_type, F_UNLCK);
}

TEST_F(FcntlLock, SharedReadLocks) {
  FD fd(Open());
  struct flock r = Lock(F_RDLCK, 0, 100);
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &r));
  EXPECT_EQ(InChild([&] {
              int f = Open();
              struct flock r2 = Lock(F_RDLCK, 50, 100);
              return fcntl(f, F_SETLK, &r2) == 0 ? 0 : 1;
            }),
            0);
}

TEST_F(FcntlLock, UnlockSplitsARange) {
  FD fd(Open());
  struct flock w = Lock(F_WRLCK, 0, 100);
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &w));
  struct flock u = Lock(F_UNLCK, 40, 20);
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &u));
  EXPECT_EQ(GetFromChild(F_WRLCK, 40, 20).l_type, F_UNLCK);
  struct flock left = GetFromChild(F_WRLCK, 0, 50);
  EXPECT_EQ(left.l_type, F_WRLCK);
  EXPECT_EQ(left.l_start, 0);
  EXPECT_EQ(left.l_len, 40);
  struct flock right = GetFromChild(F_WRLCK, 50, 0);
  EXPECT_EQ(right.l_start, 60);
  EXPECT_EQ(right.l_len, 40);
}

TEST_F(FcntlLock, AdjacentRangesMerge) {
  FD fd(Open());
  struct flock a = Lock(F_WRLCK, 0, 10), b = Lock(F_WRLCK, 10, 10);
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &a));
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &b));
  struct flock got = GetFromChild(F_RDLCK, 0, 0);
  EXPECT_EQ(got.l_start, 0);
  EXPECT_EQ(got.l_len, 20);
}

TEST_F(FcntlLock, DowngradeInTheMiddle) {
  FD fd(Open());
  struct flock w = Lock(F_WRLCK, 0, 30);
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &w));
  struct flock r = Lock(F_RDLCK, 10, 10);
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &r));
  // A reader elsewhere fits in the middle only.
  EXPECT_EQ(GetFromChild(F_RDLCK, 10, 10).l_type, F_UNLCK);
  struct flock got = GetFromChild(F_RDLCK, 0, 0);
  EXPECT_EQ(got.l_type, F_WRLCK);
  EXPECT_EQ(got.l_start, 0);
  EXPECT_EQ(got.l_len, 10);
  got = GetFromChild(F_WRLCK, 10, 10);
  EXPECT_EQ(got.l_type, F_RDLCK);
}

TEST_F(FcntlLock, WhenceAndNegativeLength) {
  FD fd(Open());
  ASSERT_EQ(write(fd.get(), "0123456789", 10), 10);
  ASSERT_EQ(lseek(fd.get(), 5, SEEK_SET), 5);
  struct flock cur = Lock(F_WRLCK, -2, 2, SEEK_CUR);  // [3, 5)
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &cur));
  struct flock got = GetFromChild(F_WRLCK, 0, 0);
  EXPECT_EQ(got.l_start, 3);
  EXPECT_EQ(got.l_len, 2);
  struct flock end = Lock(F_WRLCK, -1, -1, SEEK_END);  // [8, 9)
  ASSERT_OK(fcntl(fd.get(), F_SETLK, &end));
  got = GetFromChild(F_WRLCK, 6, 0);
  EXPECT_EQ(got.l_start, 8);
  EXPECT_EQ(got.l_len, 1);
  struct flock bad = Lock(F_WRLCK, -20, 1, SEEK_CUR);
  EXPECT_ERRNO(EINVAL, fcntl(fd.get(), F_SETLK, &bad));
  struct flock badneg = Lock(F_WRLCK, 1, -5);
  EXPECT_ERRNO(EINVAL, fcntl(fd.get(), F_SETLK, &badneg));
}

TEST_F(FcntlLock, BadArguments) {
  FD ro(Open(O_RDONLY)), wo(Open(O_WRONLY));
  struct flock w = Lock(F_WRLCK, 0, 0), r = Lock(F_RDLCK, 0, 0);
  EXPECT_ERRNO(EBADF, fcntl(ro.get(), F_SETLK, &w));
  EXPECT_ERRNO(EBADF, fcntl(wo.get(), F_SETLK, &r));
  struct flock t = Lock(42, 0, 0);
  EXPECT_ERRNO(EINVAL, fcntl(ro.get(), F_SETLK, &t));
  struct flock u = Lock(F_UNLCK, 0, 0);
  EXPECT_ERRNO(EINVAL, fcntl(ro.get(), F_GETLK, &u));
  struct flock wh = Lock(F_RDLCK, 0, 0, 7);
  EXPECT_ERRNO(EINVAL, fcntl(ro.get(), F_SETLK, &wh));
  EXPECT_ERRNO(EFAULT, fcntl(ro.get(), F_SETLK, BadPointer()));
  struct flock ofd = Lock(F_RDLCK, 0, 0);
  ofd.l_pid = 1;
  EXPECT_ERRNO(EINVAL, fcntl(ro.get(), F_OFD_SETLK, &ofd));
}

TEST_F(FcntlLock, ClosingAnyDescriptorReleases) {
  FD a(Open());
  struct flock w = Lock(F_WRLCK, 0, 0);
  ASSERT_OK(fcntl(a.get(), F_SETLK, &w));
  ASSERT_EQ(GetFromChild(F_WRLCK, 0, 0).l_type, F_WRLCK);
  // Another descriptor of the same file, never used for locking.
  int other = Open(O_RDONLY);
  ASSERT_OK(other);
  close(other);
  EXPECT_EQ(GetFromChild(F_WRLCK, 0, 0).l_type, F_UNLCK);
}

TEST_F(FcntlLock, NotInheritedAndReleasedAtExit) {
  FD a(Open());
  struct flock w = Lock(F_WRLCK, 0, 0);
  // A child's lock goes when the child exits.
  ASSERT_EQ(InChild([&] {
              int f = Open();
              struct flock l = Lock(F_WRLCK, 0, 0);
              return fcntl(f, F_SETLK, &l) == 0 ? 0 : 1;
            }),
            0);
  ASSERT_OK(fcntl(a.get(), F_SETLK, &w));
  // A forked child does not own its parent's locks.
  EXPECT_EQ(InChild([&] {
              struct flock l = Lock(F_WRLCK, 0, 0);
              return fcntl(a.get(), F_SETLK, &l) == -1 && errno == EAGAIN ? 0 : 1;
            }),
            0);
}

TEST_F(FcntlLock, BlockedWaiterWokenByUnlock) {
  FD a(Open());
  struct flock w = Lock(F_WRLCK, 0, 0);
  ASSERT_OK(fcntl(a.get(), F_SETLK, &w));
  int p[2];
  ASSERT_OK(pipe(p));
  pid_t pid = fork();
  ASSERT_OK(pid);
  if (pid == 0) {
    close(p[0]);
    int f = Open();
    struct flock l = Lock(F_WRLCK, 0, 1);
    if (fcntl(f, F_SETLKW, &l) != 0) _exit(1);
    char c = 'x';
    if (write(p[1], &c, 1) != 1) _exit(2);
    _exit(0);
  }
  close(p[1]);
  struct pollfd pfd = {p[0], POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  struct flock u = Lock(F_UNLCK, 0, 0);
  ASSERT_OK(fcntl(a.get(), F_SETLK, &u));
  char c;
  EXPECT_EQ(read(p[0], &c, 1), 1);
  close(p[0]);
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

// Two processes each hold one byte and ask for the other's: whichever asks
// second closes the cycle and gets EDEADLK; it then lets go so the other
// proceeds.
TEST_F(FcntlLock, DeadlockDetected) {
  FD a(Open());
  struct flock mine = Lock(F_WRLCK, 0, 1);
  ASSERT_OK(fcntl(a.get(), F_SETLK, &mine));
  int ready[2];
  ASSERT_OK(pipe(ready));
  pid_t pid = fork();
  ASSERT_OK(pid);
  if (pid == 0) {
    close(ready[0]);
    int f = Open();
    struct flock b = Lock(F_WRLCK, 1, 1);
    if (fcntl(f, F_SETLK, &b) != 0) _exit(1);
    char c = 'r';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    struct flock want = Lock(F_WRLCK, 0, 1);
    if (fcntl(f, F_SETLKW, &want) == 0) _exit(0);
    _exit(errno == EDEADLK ? 2 : 3);  // Exiting releases byte 1.
  }
  close(ready[1]);
  char c;
  ASSERT_EQ(read(ready[0], &c, 1), 1);
  close(ready[0]);
  struct flock want = Lock(F_WRLCK, 1, 1);
  int r = fcntl(a.get(), F_SETLKW, &want);
  int err = errno;
  if (r != 0) {
    EXPECT_EQ(err, EDEADLK);
    struct flock u = Lock(F_UNLCK, 0, 0);
    ASSERT_OK(fcntl(a.get(), F_SETLK, &u));
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  // Exactly one of the two saw EDEADLK.
  EXPECT_EQ(WEXITSTATUS(status), r == 0 ? 2 : 0);
}

TEST_F(FcntlLock, OFDLocksBelongToTheOpenFile) {
  FD a(Open()), b(Open());
  struct flock w = Lock(F_WRLCK, 0, 10);
  ASSERT_OK(fcntl(a.get(), F_OFD_SETLK, &w));
  // Another open file description in the same process conflicts.
  EXPECT_ERRNO(EAGAIN, fcntl(b.get(), F_OFD_SETLK, &w));
  // And so do the process's own POSIX locks.
  EXPECT_ERRNO(EAGAIN, fcntl(b.get(), F_SETLK, &w));
  struct flock q = Lock(F_RDLCK, 0, 0);
  ASSERT_OK(fcntl(b.get(), F_OFD_GETLK, &q));
  EXPECT_EQ(q.l_type, F_WRLCK);
  EXPECT_EQ(q.l_pid, -1);
  EXPECT_EQ(q.l_len, 10);
  // A dup shares the lock, and closing it releases nothing.
  int d = dup(a.get());
  EXPECT_OK(fcntl(d, F_OFD_SETLK, &w));
  close(d);
  EXPECT_ERRNO(EAGAIN, fcntl(b.get(), F_OFD_SETLK, &w));
  // The last close does.
  a.reset();
  EXPECT_OK(fcntl(b.get(), F_OFD_SETLK, &w));
}

void Nothing(int) {}

TEST_F(FcntlLock, InterruptedWaitFailsWithEINTR) {
  FD a(Open()), b(Open());
  struct flock w = Lock(F_WRLCK, 0, 0);
  ASSERT_OK(fcntl(a.get(), F_OFD_SETLK, &w));
  struct sigaction sa = {}, old;
  sa.sa_handler = Nothing;  // No SA_RESTART.
  ASSERT_OK(sigaction(SIGALRM, &sa, &old));
  struct itimerval it = {};
  it.it_value.tv_usec = 20000;
  ASSERT_OK(setitimer(ITIMER_REAL, &it, nullptr));
  EXPECT_ERRNO(EINTR, fcntl(b.get(), F_OFD_SETLKW, &w));
  it.it_value.tv_usec = 0;
  setitimer(ITIMER_REAL, &it, nullptr);
  sigaction(SIGALRM, &old, nullptr);
}

}  // namespace
}  // namespace bz
