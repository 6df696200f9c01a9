// poll, ppoll, select and pselect6: readiness of pipes and regular files,
// POLLNVAL, limits, timeouts and their write-back, signal masks.
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

struct Pipe {
  FD r, w;
  Pipe() {
    int fds[2];
    EXPECT_EQ(pipe2(fds, O_NONBLOCK), 0);
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

TEST(Poll, PipeReadiness) {
  Pipe p;
  struct pollfd fds[2] = {{p.r.get(), POLLIN, 0}, {p.w.get(), POLLOUT, 0}};
  ASSERT_EQ(poll(fds, 2, 0), 1);
  EXPECT_EQ(fds[0].revents, 0);
  EXPECT_EQ(fds[1].revents, POLLOUT);
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  ASSERT_EQ(poll(fds, 2, 0), 2);
  EXPECT_EQ(fds[0].revents, POLLIN);
  p.w.reset();
  struct pollfd r = {p.r.get(), POLLIN, 0};
  ASSERT_EQ(poll(&r, 1, 0), 1);
  EXPECT_EQ(r.revents, POLLIN | POLLHUP);
}

TEST(Poll, RegularFileAlwaysReady) {
  FD f(open("/proc/self/exe", O_RDONLY));
  ASSERT_OK(f.get());
  struct pollfd p = {f.get(), POLLIN | POLLOUT | POLLPRI, 0};
  ASSERT_EQ(poll(&p, 1, -1), 1);
  EXPECT_EQ(p.revents, POLLIN | POLLOUT);
}

TEST(Poll, BadAndNegativeFDs) {
  struct pollfd p[2] = {{999, POLLIN, 0x7f}, {-1, POLLIN, 0x7f}};
  ASSERT_EQ(poll(p, 2, 0), 1);
  EXPECT_EQ(p[0].revents, POLLNVAL);
  EXPECT_EQ(p[1].revents, 0);
}

TEST(Poll, NfdsAboveLimit) {
  struct rlimit rl;
  ASSERT_OK(getrlimit(RLIMIT_NOFILE, &rl));
  EXPECT_ERRNO(EINVAL, poll(nullptr, rl.rlim_cur + 1, 0));
  EXPECT_ERRNO(EFAULT, poll(reinterpret_cast<struct pollfd*>(8), 1, 0));
  EXPECT_EQ(poll(nullptr, 0, 0), 0);
}

TEST(Poll, TimeoutExpires) {
  Pipe p;
  struct pollfd fd = {p.r.get(), POLLIN, 0};
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  EXPECT_EQ(poll(&fd, 1, 20), 0);
  clock_gettime(CLOCK_MONOTONIC, &end);
  long ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
  EXPECT_GE(ms, 19);
}

TEST(Ppoll, TimeoutWriteBackAndErrors) {
  Pipe p;
  struct pollfd fd = {p.r.get(), POLLIN, 0};
  struct timespec ts = {0, 10000000};
  EXPECT_EQ(syscall(SYS_ppoll, &fd, 1, &ts, nullptr, 8), 0);
  EXPECT_EQ(ts.tv_sec, 0);
  EXPECT_EQ(ts.tv_nsec, 0);
  struct timespec bad = {0, 1000000000};
  EXPECT_ERRNO(EINVAL, syscall(SYS_ppoll, &fd, 1, &bad, nullptr, 8));
  sigset_t set;
  sigemptyset(&set);
  struct timespec zero = {0, 0};
  EXPECT_ERRNO(EINVAL, syscall(SYS_ppoll, &fd, 1, &zero, &set, 4));
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  struct timespec left = {5, 0};
  EXPECT_EQ(syscall(SYS_ppoll, &fd, 1, &left, nullptr, 8), 1);
  EXPECT_GE(left.tv_sec, 4);
}

volatile sig_atomic_t got_signal;
void OnSignal(int) { got_signal = 1; }

TEST(Ppoll, MaskLetsPendingSignalIn) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_OK(sigprocmask(SIG_BLOCK, &block, &old));
  struct sigaction sa = {}, olda;
  sa.sa_handler = OnSignal;
  sa.sa_flags = SA_RESTART;
  ASSERT_OK(sigaction(SIGUSR1, &sa, &olda));
  got_signal = 0;
  ASSERT_OK(kill(getpid(), SIGUSR1));
  Pipe p;
  struct pollfd fd = {p.r.get(), POLLIN, 0};
  sigset_t none;
  sigemptyset(&none);
  // ppoll is not restarted after a handler, even with SA_RESTART.
  EXPECT_ERRNO(EINTR, ppoll(&fd, 1, nullptr, &none));
  EXPECT_EQ(got_signal, 1);
  sigset_t now;
  sigprocmask(SIG_SETMASK, nullptr, &now);
  EXPECT_TRUE(sigismember(&now, SIGUSR1));
  sigaction(SIGUSR1, &olda, nullptr);
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

TEST(Poll, InterruptedByHandler) {
  struct sigaction sa = {}, old;
  sa.sa_handler = OnSignal;
  ASSERT_OK(sigaction(SIGALRM, &sa, &old));
  got_signal = 0;
  struct itimerval it = {{0, 0}, {0, 10000}};
  ASSERT_OK(setitimer(ITIMER_REAL, &it, nullptr));
  Pipe p;
  struct pollfd fd = {p.r.get(), POLLIN, 0};
  EXPECT_ERRNO(EINTR, poll(&fd, 1, 5000));
  EXPECT_EQ(got_signal, 1);
  sigaction(SIGALRM, &old, nullptr);
}

TEST(Select, PipeReadiness) {
  Pipe p;
  fd_set r, w;
  FD_ZERO(&r);
  FD_ZERO(&w);
  FD_SET(p.r.get(), &r);
  FD_SET(p.w.get(), &w);
  struct timeval tv = {0, 0};
  ASSERT_EQ(select(FD_SETSIZE, &r, &w, nullptr, &tv), 1);
  EXPECT_FALSE(FD_ISSET(p.r.get(), &r));
  EXPECT_TRUE(FD_ISSET(p.w.get(), &w));
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  FD_SET(p.r.get(), &r);
  FD_SET(p.w.get(), &w);
  FD_SET(p.r.get(), &w);  // a read end is never writable
  ASSERT_EQ(select(FD_SETSIZE, &r, &w, nullptr, &tv), 2);
  EXPECT_TRUE(FD_ISSET(p.r.get(), &r));
  EXPECT_TRUE(FD_ISSET(p.w.get(), &w));
  EXPECT_FALSE(FD_ISSET(p.r.get(), &w));
}

TEST(Select, Errors) {
  fd_set r;
  FD_ZERO(&r);
  struct timeval tv = {0, 0};
  EXPECT_ERRNO(EINVAL, select(-1, &r, nullptr, nullptr, &tv));
  struct timeval neg = {-1, 0};
  EXPECT_ERRNO(EINVAL, select(1, &r, nullptr, nullptr, &neg));
  Pipe p;
  int closed = p.r.get();
  p.r.reset();
  FD_SET(closed, &r);
  EXPECT_ERRNO(EBADF, select(closed + 1, &r, nullptr, nullptr, &tv));
  // Bits at or above nfds are not looked at.
  EXPECT_EQ(select(closed, &r, nullptr, nullptr, &tv), 0);
}

TEST(Select, TimeoutWriteBack) {
  Pipe p;
  fd_set r;
  FD_ZERO(&r);
  FD_SET(p.r.get(), &r);
  struct timeval tv = {0, 10000};
  EXPECT_EQ(select(p.r.get() + 1, &r, nullptr, nullptr, &tv), 0);
  EXPECT_EQ(tv.tv_sec, 0);
  EXPECT_EQ(tv.tv_usec, 0);
  EXPECT_FALSE(FD_ISSET(p.r.get(), &r));
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  FD_SET(p.r.get(), &r);
  struct timeval left = {5, 0};
  EXPECT_EQ(select(p.r.get() + 1, &r, nullptr, nullptr, &left), 1);
  EXPECT_GE(left.tv_sec, 4);
  // A microsecond count of a second or more is normalised.
  struct timeval big = {0, 1500000};
  EXPECT_EQ(select(p.r.get() + 1, &r, nullptr, nullptr, &big), 1);
}

TEST(Pselect, SigmaskArgument) {
  Pipe p;
  fd_set r;
  FD_ZERO(&r);
  FD_SET(p.r.get(), &r);
  struct timespec ts = {0, 0};
  sigset_t set;
  sigemptyset(&set);
  struct {
    const sigset_t* ss;
    size_t len;
  } arg = {&set, 4};
  EXPECT_ERRNO(EINVAL, syscall(SYS_pselect6, p.r.get() + 1, &r, nullptr, nullptr, &ts, &arg));
  arg.len = 8;
  EXPECT_EQ(syscall(SYS_pselect6, p.r.get() + 1, &r, nullptr, nullptr, &ts, &arg), 0);
  arg.ss = nullptr;
  arg.len = 4;  // ignored without a set
  EXPECT_EQ(syscall(SYS_pselect6, p.r.get() + 1, &r, nullptr, nullptr, &ts, &arg), 0);
}

}  // namespace
}  // namespace bz
