// rt_sigaction and rt_sigprocmask: installing and reading back handlers and
// masks. No signal is delivered here.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

void Handler(int) {}

// Restores a signal's disposition when it goes out of scope.
class SavedAction {
 public:
  explicit SavedAction(int sig) : sig_(sig) { sigaction(sig, nullptr, &old_); }
  ~SavedAction() { sigaction(sig_, &old_, nullptr); }

 private:
  int sig_;
  struct sigaction old_;
};

// Restores the signal mask when it goes out of scope.
class SavedMask {
 public:
  SavedMask() { sigprocmask(SIG_SETMASK, nullptr, &old_); }
  ~SavedMask() { sigprocmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

TEST(Sigaction, InstallAndReadBack) {
  SavedAction saved(SIGUSR1);
  struct sigaction sa = {};
  sa.sa_handler = Handler;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaddset(&sa.sa_mask, SIGUSR2);
  ASSERT_OK(sigaction(SIGUSR1, &sa, nullptr));
  struct sigaction got = {};
  ASSERT_OK(sigaction(SIGUSR1, nullptr, &got));
  EXPECT_EQ(got.sa_handler, Handler);
  EXPECT_TRUE(got.sa_flags & SA_RESTART);
  EXPECT_FALSE(got.sa_flags & SA_SIGINFO);
  EXPECT_TRUE(sigismember(&got.sa_mask, SIGUSR2));
  EXPECT_FALSE(sigismember(&got.sa_mask, SIGTERM));
}

TEST(Sigaction, OldActionIsReturned) {
  SavedAction saved(SIGUSR2);
  struct sigaction ign = {};
  ign.sa_handler = SIG_IGN;
  ASSERT_OK(sigaction(SIGUSR2, &ign, nullptr));
  struct sigaction dfl = {}, old = {};
  dfl.sa_handler = SIG_DFL;
  ASSERT_OK(sigaction(SIGUSR2, &dfl, &old));
  EXPECT_EQ(old.sa_handler, SIG_IGN);
  ASSERT_OK(sigaction(SIGUSR2, nullptr, &old));
  EXPECT_EQ(old.sa_handler, SIG_DFL);
}

TEST(Sigaction, Errors) {
  struct sigaction sa = {};
  sa.sa_handler = Handler;
  EXPECT_ERRNO(EINVAL, sigaction(SIGKILL, &sa, nullptr));
  EXPECT_ERRNO(EINVAL, sigaction(SIGSTOP, &sa, nullptr));
  EXPECT_ERRNO(EINVAL, syscall(SYS_rt_sigaction, 0, nullptr, nullptr, 8));
  EXPECT_ERRNO(EINVAL, syscall(SYS_rt_sigaction, 65, nullptr, nullptr, 8));
  // The kernel's sigset is 8 bytes; any other size is refused.
  struct sigaction old;
  EXPECT_ERRNO(EINVAL,
               syscall(SYS_rt_sigaction, SIGUSR1, nullptr, &old, 4));
  EXPECT_ERRNO(EFAULT, syscall(SYS_rt_sigaction, SIGUSR1, nullptr,
                               BadPointer(), 8));
  // Reading SIGKILL's disposition is fine.
  EXPECT_EQ(syscall(SYS_rt_sigaction, SIGKILL, nullptr, &old, 8), 0);
}

TEST(Sigprocmask, BlockUnblockSetmask) {
  SavedMask saved;
  sigset_t set, got;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  ASSERT_OK(sigprocmask(SIG_BLOCK, &set, nullptr));
  ASSERT_OK(sigprocmask(SIG_BLOCK, nullptr, &got));
  EXPECT_TRUE(sigismember(&got, SIGUSR2));
  ASSERT_OK(sigprocmask(SIG_UNBLOCK, &set, &got));
  EXPECT_TRUE(sigismember(&got, SIGUSR2));  // the old mask
  ASSERT_OK(sigprocmask(SIG_SETMASK, nullptr, &got));
  EXPECT_FALSE(sigismember(&got, SIGUSR2));
  sigemptyset(&set);
  sigaddset(&set, SIGHUP);
  sigaddset(&set, SIGRTMIN + 1);
  ASSERT_OK(sigprocmask(SIG_SETMASK, &set, nullptr));
  ASSERT_OK(sigprocmask(SIG_SETMASK, nullptr, &got));
  EXPECT_TRUE(sigismember(&got, SIGHUP));
  EXPECT_TRUE(sigismember(&got, SIGRTMIN + 1));
  EXPECT_FALSE(sigismember(&got, SIGUSR2));
}

TEST(Sigprocmask, KillAndStopCannotBeBlocked) {
  SavedMask saved;
  sigset_t set, got;
  sigemptyset(&set);
  sigaddset(&set, SIGKILL);
  sigaddset(&set, SIGSTOP);
  sigaddset(&set, SIGUSR1);
  ASSERT_OK(syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, 8));
  ASSERT_OK(syscall(SYS_rt_sigprocmask, SIG_BLOCK, nullptr, &got, 8));
  EXPECT_FALSE(sigismember(&got, SIGKILL));
  EXPECT_FALSE(sigismember(&got, SIGSTOP));
  EXPECT_TRUE(sigismember(&got, SIGUSR1));
}

TEST(Sigprocmask, Errors) {
  sigset_t set;
  sigemptyset(&set);
  EXPECT_ERRNO(EINVAL, syscall(SYS_rt_sigprocmask, 42, &set, nullptr, 8));
  EXPECT_ERRNO(EINVAL, syscall(SYS_rt_sigprocmask, SIG_BLOCK, &set, nullptr, 4));
  EXPECT_ERRNO(EFAULT,
               syscall(SYS_rt_sigprocmask, SIG_BLOCK, BadPointer(), nullptr, 8));
}

TEST(Sigpending, NothingPending) {
  sigset_t set;
  ASSERT_OK(sigpending(&set));
  for (int s = 1; s < NSIG; s++) EXPECT_FALSE(sigismember(&set, s)) << s;
}

}  // namespace
}  // namespace bz
