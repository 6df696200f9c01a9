// prctl: the thread name, parent-death signals, child subreapers (orphans
// reparented to us), no_new_privs and the dumpable flag.
#include <linux/prctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "proc_util.h"

namespace bz {
namespace {

// Sets PR_SET_CHILD_SUBREAPER for the scope of the object.
class ScopedSubreaper {
 public:
  ScopedSubreaper() {
    prctl(PR_GET_CHILD_SUBREAPER, &old_, 0, 0, 0);
    EXPECT_EQ(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0), 0) << strerror(errno);
  }
  ~ScopedSubreaper() { prctl(PR_SET_CHILD_SUBREAPER, old_, 0, 0, 0); }

 private:
  int old_ = 0;
};

TEST(Prctl, SetGetName) {
  char old[16] = {};
  ASSERT_OK(prctl(PR_GET_NAME, old, 0, 0, 0));
  ASSERT_OK(prctl(PR_SET_NAME, "bz-worker", 0, 0, 0));
  char got[32];
  memset(got, 'x', sizeof(got));
  ASSERT_OK(prctl(PR_GET_NAME, got, 0, 0, 0));
  EXPECT_STREQ(got, "bz-worker");
  // Truncated to 15 bytes and a NUL.
  ASSERT_OK(prctl(PR_SET_NAME, "abcdefghijklmnopqrstuvwxyz", 0, 0, 0));
  memset(got, 'x', sizeof(got));
  ASSERT_OK(prctl(PR_GET_NAME, got, 0, 0, 0));
  EXPECT_STREQ(got, "abcdefghijklmno");
  EXPECT_ERRNO(EFAULT, prctl(PR_SET_NAME, BadPointer(), 0, 0, 0));
  ASSERT_OK(prctl(PR_SET_NAME, old, 0, 0, 0));
}

TEST(Prctl, NameIsPerProcessAfterFork) {
  char old[16] = {};
  ASSERT_OK(prctl(PR_GET_NAME, old, 0, 0, 0));
  int st = InChild([&old] {
    char n[16] = {};
    prctl(PR_GET_NAME, n, 0, 0, 0);
    CHILD_CHECK(strcmp(n, old) == 0);  // inherited
    prctl(PR_SET_NAME, "child-name", 0, 0, 0);
    return 0;
  });
  EXPECT_EQ(st, 0) << DescribeStatus(st);
  char now[16] = {};
  ASSERT_OK(prctl(PR_GET_NAME, now, 0, 0, 0));
  EXPECT_STREQ(now, old);
}

TEST(Prctl, SubreaperGetsOrphans) {
  ScopedSubreaper sub;
  int v = -1;
  ASSERT_OK(prctl(PR_GET_CHILD_SUBREAPER, &v, 0, 0, 0));
  EXPECT_EQ(v, 1);
  Pipe go, result;
  fflush(nullptr);
  pid_t mid = fork();
  if (mid == 0) {
    pid_t grandchild = fork();
    if (grandchild == 0) {
      go.w.reset();
      char c;
      read(go.r.get(), &c, 1);  // EOF: the test closed its end
      pid_t pp = getppid();
      write(result.w.get(), &pp, sizeof(pp));
      _exit(9);
    }
    write(result.w.get(), &grandchild, sizeof(grandchild));
    _exit(0);
  }
  ASSERT_GT(mid, 0);
  pid_t grandchild = 0;
  ASSERT_EQ(read(result.r.get(), &grandchild, sizeof(grandchild)),
            (ssize_t)sizeof(grandchild));
  EXPECT_EQ(WaitStatus(mid), 0);
  // The middle process is gone; its child is now ours.
  go.w.reset();
  pid_t pp = 0;
  ASSERT_EQ(read(result.r.get(), &pp, sizeof(pp)), (ssize_t)sizeof(pp));
  EXPECT_EQ(pp, getpid());
  EXPECT_EQ(WaitStatus(grandchild), 9 << 8);
}

// The same one level down: in the sandbox the test itself may be pid 1,
// which gets orphans anyway; a subreaper that is not init must get them.
TEST(Prctl, SubreaperBelowInitGetsOrphans) {
  int st = InChild([] {
    CHILD_CHECK(getpid() != 1);
    CHILD_CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0);
    int fds[2], res[2];
    CHILD_CHECK(pipe(fds) == 0 && pipe(res) == 0);
    pid_t mid = fork();
    if (mid == 0) {
      pid_t gc = fork();
      if (gc == 0) {
        close(fds[1]);
        char c;
        read(fds[0], &c, 1);
        pid_t pp = getppid();
        write(res[1], &pp, sizeof(pp));
        _exit(0);
      }
      write(res[1], &gc, sizeof(gc));
      _exit(0);
    }
    pid_t gc = 0, pp = 0;
    CHILD_CHECK(read(res[0], &gc, sizeof(gc)) == sizeof(gc));
    int s;
    CHILD_CHECK(waitpid(mid, &s, 0) == mid && s == 0);
    close(fds[1]);
    CHILD_CHECK(read(res[0], &pp, sizeof(pp)) == sizeof(pp));
    CHILD_CHECK(pp == getpid());
    CHILD_CHECK(waitpid(gc, &s, 0) == gc && s == 0);
    return 0;
  });
  EXPECT_EQ(st, 0) << DescribeStatus(st)
                   << " (a non-zero exit is the failed CHILD_CHECK's line % 255 + 1)";
}

volatile sig_atomic_t g_pdeath_fd = -1;

void PdeathHandler(int sig, siginfo_t* si, void*) {
  pid_t pp = getppid();
  int msg[2] = {sig, pp};
  write(g_pdeath_fd, msg, sizeof(msg));
  _exit(0);
}

TEST(Prctl, PdeathsigOnParentExit) {
  ScopedSubreaper sub;  // so the grandchild is ours to wait for
  Pipe ready, result, hold;
  fflush(nullptr);
  pid_t mid = fork();
  if (mid == 0) {
    pid_t parent = getpid();
    pid_t gc = fork();
    if (gc == 0) {
      hold.w.reset();
      g_pdeath_fd = result.w.get();
      struct sigaction sa = {};
      sa.sa_sigaction = PdeathHandler;
      sa.sa_flags = SA_SIGINFO;
      sigaction(SIGUSR1, &sa, nullptr);
      if (prctl(PR_SET_PDEATHSIG, SIGUSR1, 0, 0, 0) != 0) _exit(2);
      int got = 0;
      prctl(PR_GET_PDEATHSIG, &got, 0, 0, 0);
      if (got != SIGUSR1) _exit(3);
      if (getppid() != parent) _exit(4);  // too late: parent already gone
      write(ready.w.get(), "r", 1);
      char c;
      read(hold.r.get(), &c, 1);  // blocks until the test closes hold
      _exit(5);                   // no signal came
    }
    char c;
    read(ready.r.get(), &c, 1);
    write(result.w.get(), &gc, sizeof(gc));
    _exit(0);  // the parent dies: the grandchild gets SIGUSR1
  }
  ASSERT_GT(mid, 0);
  ready.w.reset();
  pid_t gc = 0;
  ASSERT_EQ(read(result.r.get(), &gc, sizeof(gc)), (ssize_t)sizeof(gc));
  EXPECT_EQ(WaitStatus(mid), 0);
  result.w.reset();
  int msg[2] = {0, 0};
  ssize_t n = read(result.r.get(), msg, sizeof(msg));
  hold.w.reset();  // if no signal came, let the grandchild go
  EXPECT_EQ(n, (ssize_t)sizeof(msg));
  EXPECT_EQ(msg[0], SIGUSR1);
  EXPECT_EQ(msg[1], getpid());  // reparented to the subreaper
  int st = WaitStatus(gc);
  EXPECT_EQ(st, 0) << DescribeStatus(st) << " (5: no parent-death signal)";
}

TEST(Prctl, PdeathsigClearedByFork) {
  int st = InChild([] {
    CHILD_CHECK(prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0) == 0);
    pid_t gc = fork();
    if (gc == 0) {
      int got = -1;
      prctl(PR_GET_PDEATHSIG, &got, 0, 0, 0);
      _exit(got == 0 ? 0 : 1);
    }
    int s;
    waitpid(gc, &s, 0);
    CHILD_CHECK(s == 0);
    CHILD_CHECK(prctl(PR_SET_PDEATHSIG, 100, 0, 0, 0) == -1 && errno == EINVAL);
    return 0;
  });
  EXPECT_EQ(st, 0) << DescribeStatus(st);
}

TEST(Prctl, NoNewPrivs) {
  // Irreversible, so in a child.
  int st = InChild([] {
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 0);
    CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 0, 0, 0, 0) == -1 && errno == EINVAL);
    CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0);
    CHILD_CHECK(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1);
    CHILD_CHECK(prctl(PR_SET_NO_NEW_PRIVS, 1, 1, 0, 0) == -1 && errno == EINVAL);
    // Inherited across fork.
    pid_t gc = fork();
    if (gc == 0) _exit(prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1 ? 0 : 1);
    int s;
    waitpid(gc, &s, 0);
    CHILD_CHECK(s == 0);
    return 0;
  });
  EXPECT_EQ(st, 0) << DescribeStatus(st);
}

TEST(Prctl, Dumpable) {
  int d = prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
  EXPECT_EQ(d, 1);
  ASSERT_OK(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0));
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
  ASSERT_OK(prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
  EXPECT_EQ(prctl(PR_GET_DUMPABLE, 0, 0, 0, 0), 1);
  // 2 (suid_dumpable "root only") cannot be set by prctl.
  EXPECT_ERRNO(EINVAL, prctl(PR_SET_DUMPABLE, 2, 0, 0, 0));
}

TEST(Prctl, UnknownOption) {
  EXPECT_ERRNO(EINVAL, prctl(0x7fff1234, 0, 0, 0, 0));
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
