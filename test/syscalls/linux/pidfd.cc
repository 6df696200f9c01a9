// pidfd_open(2), pidfd_send_signal(2) and waitid(P_PIDFD): flag and pid
// checks, readiness through poll and epoll when the process exits,
// signalling through a pidfd, and ESRCH once the process has been reaped.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc_util.h"
#include "test_util.h"

#ifndef P_PIDFD
#define P_PIDFD 3
#endif
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif

namespace bz {
namespace {

int PidfdOpen(pid_t pid, unsigned flags) {
  return syscall(SYS_pidfd_open, pid, flags);
}

int PidfdGetfd(int pidfd, int targetfd, unsigned flags) {
  return syscall(SYS_pidfd_getfd, pidfd, targetfd, flags);
}

int PidfdSendSignal(int pidfd, int sig, siginfo_t* info, unsigned flags) {
  return syscall(SYS_pidfd_send_signal, pidfd, sig, info, flags);
}

short Revents(int fd, int timeout_ms) {
  struct pollfd p = {fd, POLLIN, 0};
  int n;
  do {
    n = poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  EXPECT_EQ(n, p.revents ? 1 : 0);
  return p.revents;
}

// A child that exits (code 7) when the returned pipe's write end closes.
struct Sleeper {
  Pipe p;
  pid_t pid = -1;
  // The pipe's read end: open in the child only.
  int child_fd = -1;
  Sleeper() {
    fflush(nullptr);
    pid = fork();
    if (pid == 0) {
      p.w.reset(-1);
      char c;
      while (read(p.r.get(), &c, 1) < 0 && errno == EINTR) {
      }
      _exit(7);
    }
    EXPECT_GT(pid, 0) << strerror(errno);
    child_fd = p.r.get();
    p.r.reset(-1);
  }
  void Release() { p.w.reset(-1); }
  ~Sleeper() {
    if (pid > 0) {
      Release();
      waitpid(pid, nullptr, 0);
    }
  }
};

TEST(Pidfd, OpenSelfIsCloexec) {
  FD fd(PidfdOpen(getpid(), 0));
  ASSERT_OK(fd.get());
  EXPECT_EQ(fcntl(fd.get(), F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  // The caller is alive: not readable.
  EXPECT_EQ(Revents(fd.get(), 0), 0);
}

TEST(Pidfd, NonblockFlag) {
  FD fd(PidfdOpen(getpid(), PIDFD_NONBLOCK));
  ASSERT_OK(fd.get());
  EXPECT_NE(fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
}

TEST(Pidfd, BadArguments) {
  EXPECT_ERRNO(EINVAL, PidfdOpen(getpid(), 1));
  EXPECT_ERRNO(EINVAL, PidfdOpen(getpid(), O_CLOEXEC));
  EXPECT_ERRNO(EINVAL, PidfdOpen(0, 0));
  EXPECT_ERRNO(EINVAL, PidfdOpen(-1, 0));
}

TEST(Pidfd, ReapedPidIsESRCH) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(0);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(WaitStatus(pid), 0);
  EXPECT_ERRNO(ESRCH, PidfdOpen(pid, 0));
}

TEST(Pidfd, ReadableWhenProcessExits) {
  Sleeper s;
  FD fd(PidfdOpen(s.pid, 0));
  ASSERT_OK(fd.get());
  EXPECT_EQ(Revents(fd.get(), 0), 0);
  s.Release();
  EXPECT_EQ(Revents(fd.get(), -1) & POLLIN, POLLIN);
  // Still readable while a zombie; waiting for it does not make it less so.
  EXPECT_EQ(Revents(fd.get(), 0) & POLLIN, POLLIN);
  int status = WaitStatus(s.pid);
  s.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7) << DescribeStatus(status);
  EXPECT_EQ(Revents(fd.get(), 0) & POLLIN, POLLIN);
}

TEST(Pidfd, EpollReportsExit) {
  Sleeper s;
  FD fd(PidfdOpen(s.pid, 0));
  ASSERT_OK(fd.get());
  FD ep(epoll_create1(EPOLL_CLOEXEC));
  ASSERT_OK(ep.get());
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = 42;
  ASSERT_OK(epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev));
  struct epoll_event out = {};
  EXPECT_EQ(epoll_wait(ep.get(), &out, 1, 0), 0);
  s.Release();
  int n;
  do {
    n = epoll_wait(ep.get(), &out, 1, -1);
  } while (n < 0 && errno == EINTR);
  ASSERT_EQ(n, 1);
  EXPECT_EQ(out.data.u64, 42u);
  EXPECT_NE(out.events & EPOLLIN, 0u);
}

TEST(Pidfd, ZombieCanBeOpened) {
  Sleeper s;
  s.Release();
  // Wait until it is a zombie without reaping it.
  siginfo_t si = {};
  ASSERT_OK(waitid(P_PID, s.pid, &si, WEXITED | WNOWAIT));
  FD fd(PidfdOpen(s.pid, 0));
  ASSERT_OK(fd.get());
  EXPECT_EQ(Revents(fd.get(), 0) & POLLIN, POLLIN);
  // Signalling a zombie succeeds and does nothing.
  EXPECT_OK(PidfdSendSignal(fd.get(), SIGKILL, nullptr, 0));
  int status = WaitStatus(s.pid);
  s.pid = -1;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 7) << DescribeStatus(status);
}

TEST(Pidfd, SendSignalKills) {
  Sleeper s;
  FD fd(PidfdOpen(s.pid, 0));
  ASSERT_OK(fd.get());
  EXPECT_OK(PidfdSendSignal(fd.get(), 0, nullptr, 0));
  ASSERT_OK(PidfdSendSignal(fd.get(), SIGKILL, nullptr, 0));
  EXPECT_EQ(Revents(fd.get(), -1) & POLLIN, POLLIN);
  int status = WaitStatus(s.pid);
  s.pid = -1;
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << DescribeStatus(status);
  // Reaped: the process no longer exists.
  EXPECT_ERRNO(ESRCH, PidfdSendSignal(fd.get(), SIGKILL, nullptr, 0));
  EXPECT_ERRNO(ESRCH, PidfdSendSignal(fd.get(), 0, nullptr, 0));
}

volatile sig_atomic_t got_code = 0;
volatile sig_atomic_t got_pid = 0;

void Record(int, siginfo_t* si, void*) {
  got_code = si->si_code;
  got_pid = si->si_pid;
}

TEST(Pidfd, SendSignalToSelfWithNullInfoIsSIUser) {
  ScopedSigaction sa(SIGUSR1, Record, 0);
  ScopedMask mask({SIGUSR1});
  FD fd(PidfdOpen(getpid(), 0));
  ASSERT_OK(fd.get());
  got_code = 1;
  got_pid = 0;
  ASSERT_OK(PidfdSendSignal(fd.get(), SIGUSR1, nullptr, 0));
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR1);
  siginfo_t si = {};
  ASSERT_EQ(sigwaitinfo(&s, &si), SIGUSR1);
  EXPECT_EQ(si.si_code, SI_USER);
  EXPECT_EQ(si.si_pid, getpid());
  EXPECT_EQ(si.si_uid, getuid());
}

TEST(Pidfd, SendSignalWithInfo) {
  ScopedMask mask({SIGUSR2});
  FD fd(PidfdOpen(getpid(), 0));
  ASSERT_OK(fd.get());
  siginfo_t info = {};
  info.si_signo = SIGUSR2;
  info.si_code = SI_QUEUE;
  info.si_value.sival_int = 1234;
  ASSERT_OK(PidfdSendSignal(fd.get(), SIGUSR2, &info, 0));
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGUSR2);
  siginfo_t si = {};
  ASSERT_EQ(sigwaitinfo(&s, &si), SIGUSR2);
  EXPECT_EQ(si.si_code, SI_QUEUE);
  EXPECT_EQ(si.si_value.sival_int, 1234);
  // si_signo must match sig.
  info.si_signo = SIGUSR1;
  EXPECT_ERRNO(EINVAL, PidfdSendSignal(fd.get(), SIGUSR2, &info, 0));
}

TEST(Pidfd, SendSignalBadArguments) {
  FD fd(PidfdOpen(getpid(), 0));
  ASSERT_OK(fd.get());
  EXPECT_ERRNO(EINVAL, PidfdSendSignal(fd.get(), SIGUSR1, nullptr, 1 << 20));
  EXPECT_ERRNO(EINVAL, PidfdSendSignal(fd.get(), 65, nullptr, 0));
  EXPECT_ERRNO(EINVAL, PidfdSendSignal(fd.get(), -1, nullptr, 0));
  EXPECT_ERRNO(EBADF, PidfdSendSignal(-1, SIGUSR1, nullptr, 0));
  Pipe p;
  EXPECT_ERRNO(EBADF, PidfdSendSignal(p.r.get(), SIGUSR1, nullptr, 0));
  EXPECT_ERRNO(EFAULT, PidfdSendSignal(fd.get(), SIGUSR1,
                                       static_cast<siginfo_t*>(BadPointer()), 0));
}

TEST(Pidfd, SendSignalWithKernelCodeToOtherIsEPERM) {
  Sleeper s;
  FD fd(PidfdOpen(s.pid, 0));
  ASSERT_OK(fd.get());
  siginfo_t info = {};
  info.si_signo = SIGKILL;
  info.si_code = SI_KERNEL;
  EXPECT_ERRNO(EPERM, PidfdSendSignal(fd.get(), SIGKILL, &info, 0));
}

TEST(Pidfd, WaitidPidfd) {
  Sleeper s;
  FD fd(PidfdOpen(s.pid, 0));
  ASSERT_OK(fd.get());
  siginfo_t si = {};
  ASSERT_OK(waitid(static_cast<idtype_t>(P_PIDFD), fd.get(), &si, WEXITED | WNOHANG));
  EXPECT_EQ(si.si_pid, 0);
  s.Release();
  int r;
  do {
    r = waitid(static_cast<idtype_t>(P_PIDFD), fd.get(), &si, WEXITED);
  } while (r < 0 && errno == EINTR);
  ASSERT_OK(r);
  EXPECT_EQ(si.si_pid, s.pid);
  EXPECT_EQ(si.si_code, CLD_EXITED);
  EXPECT_EQ(si.si_status, 7);
  s.pid = -1;
  // Reaped: nothing left to wait for.
  EXPECT_ERRNO(ECHILD, waitid(static_cast<idtype_t>(P_PIDFD), fd.get(), &si, WEXITED | WNOHANG));
}

TEST(Pidfd, WaitidNonblockingPidfdIsEAGAIN) {
  Sleeper s;
  FD fd(PidfdOpen(s.pid, PIDFD_NONBLOCK));
  ASSERT_OK(fd.get());
  siginfo_t si = {};
  EXPECT_ERRNO(EAGAIN, waitid(static_cast<idtype_t>(P_PIDFD), fd.get(), &si, WEXITED));
}

TEST(Pidfd, WaitidPidfdBadFd) {
  siginfo_t si = {};
  EXPECT_ERRNO(EBADF, waitid(static_cast<idtype_t>(P_PIDFD), 12345, &si, WEXITED | WNOHANG));
  Pipe p;
  EXPECT_ERRNO(EBADF, waitid(static_cast<idtype_t>(P_PIDFD), p.r.get(), &si, WEXITED | WNOHANG));
}

TEST(Pidfd, WaitidPidfdNotAChild) {
  FD fd(PidfdOpen(getpid(), 0));
  ASSERT_OK(fd.get());
  siginfo_t si = {};
  EXPECT_ERRNO(ECHILD, waitid(static_cast<idtype_t>(P_PIDFD), fd.get(), &si, WEXITED | WNOHANG));
}

TEST(Pidfd, GetfdOwnDescriptor) {
  FD fd(PidfdOpen(getpid(), 0));
  ASSERT_OK(fd.get());
  Pipe p;
  FD dup(PidfdGetfd(fd.get(), p.w.get(), 0));
  ASSERT_OK(dup.get());
  EXPECT_NE(dup.get(), p.w.get());
  EXPECT_EQ(fcntl(dup.get(), F_GETFD), FD_CLOEXEC);
  ASSERT_EQ(write(dup.get(), "x", 1), 1);
  char c = 0;
  ASSERT_EQ(read(p.r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'x');
}

TEST(Pidfd, GetfdFromChild) {
  Sleeper s;
  FD fd(PidfdOpen(s.pid, 0));
  ASSERT_OK(fd.get());
  FD got(PidfdGetfd(fd.get(), s.child_fd, 0));
  ASSERT_OK(got.get());
  struct stat a, b;
  ASSERT_OK(fstat(got.get(), &a));
  ASSERT_OK(fstat(s.p.w.get(), &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_TRUE(S_ISFIFO(a.st_mode));
}

TEST(Pidfd, GetfdBadArguments) {
  FD fd(PidfdOpen(getpid(), 0));
  ASSERT_OK(fd.get());
  Pipe p;
  EXPECT_ERRNO(EINVAL, PidfdGetfd(fd.get(), p.r.get(), 1));
  EXPECT_ERRNO(EBADF, PidfdGetfd(fd.get(), 12345, 0));
  EXPECT_ERRNO(EBADF, PidfdGetfd(p.r.get(), p.r.get(), 0));
  EXPECT_ERRNO(EBADF, PidfdGetfd(-1, p.r.get(), 0));
}

TEST(Pidfd, GetfdFromExitedIsESRCH) {
  Sleeper s;
  FD fd(PidfdOpen(s.pid, 0));
  ASSERT_OK(fd.get());
  s.Release();
  EXPECT_EQ(Revents(fd.get(), -1) & POLLIN, POLLIN);
  EXPECT_ERRNO(ESRCH, PidfdGetfd(fd.get(), 0, 0));
}

TEST(Pidfd, ReadIsInvalid) {
  FD fd(PidfdOpen(getpid(), 0));
  ASSERT_OK(fd.get());
  char b[8];
  EXPECT_ERRNO(EINVAL, read(fd.get(), b, sizeof(b)));
}

}  // namespace
}  // namespace bz
