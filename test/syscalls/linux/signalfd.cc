// signalfd: reading blocked pending signals as signalfd_siginfo records,
// mask updates, readiness, flags and errors.
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

// Blocks the given signals for the life of the object.
class Blocked {
 public:
  explicit Blocked(std::initializer_list<int> sigs) {
    sigset_t set;
    sigemptyset(&set);
    for (int s : sigs) sigaddset(&set, s);
    sigprocmask(SIG_BLOCK, &set, &old_);
  }
  ~Blocked() {
    // Drop anything a failed case left pending, then restore.
    struct timespec zero = {0, 0};
    sigset_t all;
    sigfillset(&all);
    while (sigtimedwait(&all, nullptr, &zero) > 0) {
    }
    sigprocmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_;
};

sigset_t SetOf(std::initializer_list<int> sigs) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : sigs) sigaddset(&set, s);
  return set;
}

TEST(Signalfd, ReadsPendingSignal) {
  Blocked b({SIGUSR1});
  sigset_t set = SetOf({SIGUSR1});
  FD fd(signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC));
  ASSERT_OK(fd.get());
  EXPECT_EQ(fcntl(fd.get(), F_GETFD), FD_CLOEXEC);
  struct signalfd_siginfo info;
  EXPECT_ERRNO(EAGAIN, read(fd.get(), &info, sizeof(info)));
  ASSERT_OK(kill(getpid(), SIGUSR1));
  struct pollfd p = {fd.get(), POLLIN, 0};
  ASSERT_EQ(poll(&p, 1, 0), 1);
  ASSERT_EQ(read(fd.get(), &info, sizeof(info)), (ssize_t)sizeof(info));
  EXPECT_EQ(info.ssi_signo, (uint32_t)SIGUSR1);
  EXPECT_EQ(info.ssi_code, SI_USER);
  EXPECT_EQ(info.ssi_pid, (uint32_t)getpid());
  EXPECT_EQ(info.ssi_uid, getuid());
  // Consumed: no longer pending.
  sigset_t pending;
  sigpending(&pending);
  EXPECT_FALSE(sigismember(&pending, SIGUSR1));
  EXPECT_EQ(poll(&p, 1, 0), 0);
}

TEST(Signalfd, QueuedValueAndSeveralRecords) {
  Blocked b({SIGRTMIN, SIGUSR2});
  sigset_t set = SetOf({SIGRTMIN, SIGUSR2});
  FD fd(signalfd(-1, &set, SFD_NONBLOCK));
  ASSERT_OK(fd.get());
  union sigval v;
  v.sival_int = 42;
  ASSERT_OK(sigqueue(getpid(), SIGRTMIN, v));
  v.sival_int = 43;
  ASSERT_OK(sigqueue(getpid(), SIGRTMIN, v));
  ASSERT_OK(kill(getpid(), SIGUSR2));
  struct signalfd_siginfo info[4];
  ASSERT_EQ(read(fd.get(), info, sizeof(info)), (ssize_t)(3 * sizeof(info[0])));
  // Lowest signal number first; real-time instances in order.
  EXPECT_EQ(info[0].ssi_signo, (uint32_t)SIGUSR2);
  EXPECT_EQ(info[1].ssi_signo, (uint32_t)SIGRTMIN);
  EXPECT_EQ(info[1].ssi_code, SI_QUEUE);
  EXPECT_EQ(info[1].ssi_int, 42);
  EXPECT_EQ(info[2].ssi_int, 43);
}

TEST(Signalfd, OnlyMaskedSignals) {
  Blocked b({SIGUSR1, SIGUSR2});
  sigset_t set = SetOf({SIGUSR1});
  FD fd(signalfd(-1, &set, SFD_NONBLOCK));
  ASSERT_OK(kill(getpid(), SIGUSR2));
  struct signalfd_siginfo info;
  EXPECT_ERRNO(EAGAIN, read(fd.get(), &info, sizeof(info)));
  // Changing the mask of the same fd lets it see SIGUSR2.
  sigset_t both = SetOf({SIGUSR1, SIGUSR2});
  ASSERT_EQ(signalfd(fd.get(), &both, 0), fd.get());
  ASSERT_EQ(read(fd.get(), &info, sizeof(info)), (ssize_t)sizeof(info));
  EXPECT_EQ(info.ssi_signo, (uint32_t)SIGUSR2);
}

TEST(Signalfd, Errors) {
  sigset_t set = SetOf({SIGUSR1});
  EXPECT_ERRNO(EINVAL, syscall(SYS_signalfd4, -1, &set, 4, 0));
  EXPECT_ERRNO(EINVAL, syscall(SYS_signalfd4, -1, &set, 8, 0x1));
  EXPECT_ERRNO(EFAULT, syscall(SYS_signalfd4, -1, nullptr, 8, 0));
  EXPECT_ERRNO(EBADF, signalfd(999, &set, 0));
  int fds[2];
  ASSERT_OK(pipe(fds));
  FD r(fds[0]), w(fds[1]);
  EXPECT_ERRNO(EINVAL, signalfd(r.get(), &set, 0));
  FD fd(signalfd(-1, &set, SFD_NONBLOCK));
  char small[64];
  EXPECT_ERRNO(EINVAL, read(fd.get(), small, sizeof(small)));
  uint64_t x = 0;
  EXPECT_ERRNO(EINVAL, write(fd.get(), &x, sizeof(x)));
}

TEST(Signalfd, EpollReadiness) {
  Blocked b({SIGUSR1});
  sigset_t set = SetOf({SIGUSR1});
  FD fd(signalfd(-1, &set, SFD_NONBLOCK));
  FD ep(epoll_create1(0));
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = 5;
  ASSERT_OK(epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev));
  EXPECT_EQ(epoll_wait(ep.get(), &ev, 1, 0), 0);
  ASSERT_OK(kill(getpid(), SIGUSR1));
  ASSERT_EQ(epoll_wait(ep.get(), &ev, 1, -1), 1);
  EXPECT_EQ(ev.data.u64, 5u);
  struct signalfd_siginfo info;
  ASSERT_EQ(read(fd.get(), &info, sizeof(info)), (ssize_t)sizeof(info));
  EXPECT_EQ(epoll_wait(ep.get(), &ev, 1, 0), 0);
}

TEST(Signalfd, BlockingReadOfPendingSignal) {
  Blocked b({SIGUSR1});
  sigset_t set = SetOf({SIGUSR1});
  FD fd(signalfd(-1, &set, 0));
  ASSERT_OK(kill(getpid(), SIGUSR1));
  struct signalfd_siginfo info;
  ASSERT_EQ(read(fd.get(), &info, sizeof(info)), (ssize_t)sizeof(info));
  EXPECT_EQ(info.ssi_signo, (uint32_t)SIGUSR1);
}

}  // namespace
}  // namespace bz
