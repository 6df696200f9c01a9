// The signals a PID namespace's init takes (pid_namespaces(7)): from
// inside its namespace, only those it has a handler for; one left to its
// default action is discarded when sent (even SIGKILL and SIGSTOP), or, if
// init blocked it, when it is unblocked.
//
// The checks run in a process that is a namespace's init: natively a child
// made with clone(CLONE_NEWPID) (the test runs as root), in the sandbox
// the test itself, which is the sandbox's PID 1.
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "proc_util.h"

namespace bz {
namespace {

// Runs fn as the init of a PID namespace and returns its result.
int AsInit(const std::function<int()>& fn) {
  if (getpid() == 1) return fn();
  fflush(nullptr);
  pid_t pid = syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(fn());
  if (pid < 0) return 200;
  int st = WaitStatus(pid);
  if (!WIFEXITED(st)) return 201;
  return WEXITSTATUS(st);
}

// Variadic: the lambda may hold commas the preprocessor would split at.
#define EXPECT_AS_INIT(...)                                                  \
  do {                                                                       \
    int bz_rc_ = AsInit(__VA_ARGS__);                                        \
    EXPECT_EQ(bz_rc_, 0) << "a non-zero result is the failed CHILD_CHECK's " \
                            "line % 255 + 1; 200-201: no namespace";         \
  } while (0)

bool Pending(int sig) {
  sigset_t s;
  sigpending(&s);
  return sigismember(&s, sig);
}

volatile sig_atomic_t caught = 0;
void Catch(int sig) { caught = sig; }

TEST(Pid1Signals, DefaultActionFromItselfIsDiscarded) {
  EXPECT_AS_INIT([] {
    CHILD_CHECK(getpid() == 1);
    ScopedSigaction term(SIGTERM, SIG_DFL), hup(SIGHUP, SIG_DFL), usr1(SIGUSR1, SIG_DFL),
        tstp(SIGTSTP, SIG_DFL);
    for (int sig : {SIGTERM, SIGHUP, SIGUSR1, SIGKILL, SIGSTOP, SIGTSTP}) {
      CHILD_CHECK(kill(1, sig) == 0);
      CHILD_CHECK(!Pending(sig));
    }
    return 0;  // still alive, and never stopped
  });
}

TEST(Pid1Signals, HandledSignalsAreDelivered) {
  EXPECT_AS_INIT([] {
    ScopedSigaction usr1(SIGUSR1, Catch);
    caught = 0;
    CHILD_CHECK(kill(1, SIGUSR1) == 0);
    CHILD_CHECK(caught == SIGUSR1);
    return 0;
  });
}

TEST(Pid1Signals, DefaultActionFromAChildIsDiscarded) {
  EXPECT_AS_INIT([] {
    ScopedSigaction term(SIGTERM, SIG_DFL);
    ScopedSigaction usr2(SIGUSR2, Catch);
    caught = 0;
    int st = InChild([] {
      for (int sig : {SIGKILL, SIGSTOP, SIGTERM, SIGUSR2}) {
        CHILD_CHECK(kill(1, sig) == 0);
      }
      return 0;
    });
    CHILD_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    // The handled one was delivered (at the latest as waitpid returned);
    // the others left no trace.
    CHILD_CHECK(caught == SIGUSR2);
    CHILD_CHECK(!Pending(SIGTERM));
    return 0;
  });
}

TEST(Pid1Signals, BlockedDefaultActionIsDroppedWhenUnblocked) {
  EXPECT_AS_INIT([] {
    ScopedSigaction term(SIGTERM, SIG_DFL);
    {
      ScopedMask mask({SIGTERM});
      CHILD_CHECK(kill(1, SIGTERM) == 0);
      // A blocked signal is queued: its handler may change before it is
      // unblocked.
      CHILD_CHECK(Pending(SIGTERM));
    }
    // Unblocked with its default action: dropped, init lives on.
    CHILD_CHECK(!Pending(SIGTERM));
    return 0;
  });
}

TEST(Pid1Signals, BlockedThenHandledIsDelivered) {
  EXPECT_AS_INIT([] {
    ScopedSigaction usr1(SIGUSR1, SIG_DFL);  // restored at the end
    ScopedMask restore;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    CHILD_CHECK(sigprocmask(SIG_BLOCK, &set, nullptr) == 0);
    CHILD_CHECK(kill(1, SIGUSR1) == 0);
    CHILD_CHECK(Pending(SIGUSR1));
    // A handler installed before it is unblocked runs.
    struct sigaction sa = {};
    sa.sa_handler = Catch;
    CHILD_CHECK(sigaction(SIGUSR1, &sa, nullptr) == 0);
    caught = 0;
    CHILD_CHECK(sigprocmask(SIG_UNBLOCK, &set, nullptr) == 0);
    CHILD_CHECK(caught == SIGUSR1);
    return 0;
  });
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
