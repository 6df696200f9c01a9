// epoll: epoll_create/epoll_create1, epoll_ctl errors and data, level,
// edge and one-shot triggering, nesting and loops, removal when the last
// reference to a watched file goes, timeouts and signal interruption.
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
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

int Add(int ep, int fd, uint32_t events, uint64_t data) {
  struct epoll_event ev = {};
  ev.events = events;
  ev.data.u64 = data;
  return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

// Wait returns the events of one epoll_wait with timeout 0.
std::vector<struct epoll_event> Wait(int ep, int max = 8) {
  std::vector<struct epoll_event> evs(max);
  int n = epoll_wait(ep, evs.data(), max, 0);
  EXPECT_GE(n, 0) << strerror(errno);
  evs.resize(n < 0 ? 0 : n);
  return evs;
}

TEST(Epoll, CreateErrorsAndFlags) {
  EXPECT_ERRNO(EINVAL, epoll_create(0));
  EXPECT_ERRNO(EINVAL, epoll_create(-1));
  EXPECT_ERRNO(EINVAL, epoll_create1(O_NONBLOCK));
  FD ep(epoll_create1(EPOLL_CLOEXEC));
  ASSERT_OK(ep.get());
  EXPECT_EQ(fcntl(ep.get(), F_GETFD), FD_CLOEXEC);
  FD ep2(epoll_create(1));
  ASSERT_OK(ep2.get());
  EXPECT_EQ(fcntl(ep2.get(), F_GETFD), 0);
  char c;
  EXPECT_ERRNO(EINVAL, read(ep.get(), &c, 1));
}

TEST(Epoll, CtlErrors) {
  FD ep(epoll_create1(0));
  ASSERT_OK(ep.get());
  Pipe p;
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ASSERT_OK(epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.r.get(), &ev));
  EXPECT_ERRNO(EEXIST, epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.r.get(), &ev));
  EXPECT_ERRNO(ENOENT, epoll_ctl(ep.get(), EPOLL_CTL_MOD, p.w.get(), &ev));
  EXPECT_ERRNO(ENOENT, epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.w.get(), nullptr));
  EXPECT_ERRNO(EINVAL, epoll_ctl(ep.get(), EPOLL_CTL_ADD, ep.get(), &ev));
  EXPECT_ERRNO(EINVAL, epoll_ctl(p.r.get(), EPOLL_CTL_ADD, p.w.get(), &ev));
  EXPECT_ERRNO(EINVAL, epoll_ctl(ep.get(), 42, p.w.get(), &ev));
  EXPECT_ERRNO(EBADF, epoll_ctl(ep.get(), EPOLL_CTL_ADD, 999, &ev));
  EXPECT_ERRNO(EBADF, epoll_ctl(999, EPOLL_CTL_ADD, p.w.get(), &ev));
  EXPECT_ERRNO(EFAULT, epoll_ctl(ep.get(), EPOLL_CTL_ADD, p.w.get(), nullptr));
  FD file(open("/proc/self/exe", O_RDONLY));
  ASSERT_OK(file.get());
  EXPECT_ERRNO(EPERM, epoll_ctl(ep.get(), EPOLL_CTL_ADD, file.get(), &ev));
  ASSERT_OK(epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.r.get(), nullptr));
  EXPECT_ERRNO(ENOENT, epoll_ctl(ep.get(), EPOLL_CTL_DEL, p.r.get(), nullptr));
}

TEST(Epoll, ExclusiveErrors) {
  FD ep(epoll_create1(0));
  FD inner(epoll_create1(0));
  Pipe p;
  EXPECT_ERRNO(EINVAL, Add(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, 0));
  EXPECT_ERRNO(EINVAL, Add(ep.get(), inner.get(), EPOLLIN | EPOLLEXCLUSIVE, 0));
  ASSERT_OK(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLEXCLUSIVE, 0));
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  EXPECT_ERRNO(EINVAL, epoll_ctl(ep.get(), EPOLL_CTL_MOD, p.r.get(), &ev));
}

TEST(Epoll, LevelTriggeredWithData) {
  FD ep(epoll_create1(0));
  Pipe p;
  ASSERT_OK(Add(ep.get(), p.r.get(), EPOLLIN, 0x1122334455667788ull));
  ASSERT_OK(Add(ep.get(), p.w.get(), EPOLLOUT, 7));
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, (uint32_t)EPOLLOUT);
  EXPECT_EQ(evs[0].data.u64, 7u);
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  for (int round = 0; round < 2; round++) {
    evs = Wait(ep.get());
    ASSERT_EQ(evs.size(), 2u) << "round " << round;
    bool sawIn = false;
    for (auto& e : evs) {
      if (e.events == EPOLLIN) {
        sawIn = true;
        EXPECT_EQ(e.data.u64, 0x1122334455667788ull);
      }
    }
    EXPECT_TRUE(sawIn);
  }
  char c;
  ASSERT_EQ(read(p.r.get(), &c, 1), 1);
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
}

TEST(Epoll, EdgeTriggered) {
  FD ep(epoll_create1(0));
  Pipe p;
  ASSERT_OK(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLET, 1));
  EXPECT_EQ(Wait(ep.get()).size(), 0u);
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
  // Still readable, but no new edge.
  EXPECT_EQ(Wait(ep.get()).size(), 0u);
  ASSERT_EQ(write(p.w.get(), "y", 1), 1);
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
  EXPECT_EQ(Wait(ep.get()).size(), 0u);
}

TEST(Epoll, OneShot) {
  FD ep(epoll_create1(0));
  Pipe p;
  ASSERT_OK(Add(ep.get(), p.r.get(), EPOLLIN | EPOLLONESHOT, 1));
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
  EXPECT_EQ(Wait(ep.get()).size(), 0u);
  ASSERT_EQ(write(p.w.get(), "y", 1), 1);
  EXPECT_EQ(Wait(ep.get()).size(), 0u);
  struct epoll_event ev = {};
  ev.events = EPOLLIN | EPOLLONESHOT;
  ev.data.u64 = 2;
  ASSERT_OK(epoll_ctl(ep.get(), EPOLL_CTL_MOD, p.r.get(), &ev));
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 2u);
}

TEST(Epoll, HangUpAlwaysReported) {
  FD ep(epoll_create1(0));
  Pipe p;
  ASSERT_OK(Add(ep.get(), p.r.get(), 0, 1));
  EXPECT_EQ(Wait(ep.get()).size(), 0u);
  p.w.reset();
  auto evs = Wait(ep.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].events, (uint32_t)EPOLLHUP);
}

TEST(Epoll, MaxEventsBounds) {
  FD ep(epoll_create1(0));
  struct epoll_event ev;
  EXPECT_ERRNO(EINVAL, epoll_wait(ep.get(), &ev, 0, 0));
  EXPECT_ERRNO(EINVAL, epoll_wait(ep.get(), &ev, -1, 0));
  Pipe p;
  EXPECT_ERRNO(EINVAL, epoll_wait(p.r.get(), &ev, 1, 0));
  EXPECT_ERRNO(EBADF, epoll_wait(999, &ev, 1, 0));
  // Several ready files, room for one at a time: all are seen in turn.
  FD e1(eventfd(1, 0)), e2(eventfd(1, 0)), e3(eventfd(1, 0));
  ASSERT_OK(Add(ep.get(), e1.get(), EPOLLIN, 1));
  ASSERT_OK(Add(ep.get(), e2.get(), EPOLLIN, 2));
  ASSERT_OK(Add(ep.get(), e3.get(), EPOLLIN, 3));
  uint64_t seen = 0;
  for (int i = 0; i < 3; i++) {
    ASSERT_EQ(epoll_wait(ep.get(), &ev, 1, 0), 1);
    seen |= 1ull << ev.data.u64;
  }
  EXPECT_EQ(seen, 0xeu);
}

TEST(Epoll, Nested) {
  FD outer(epoll_create1(0)), inner(epoll_create1(0));
  Pipe p;
  ASSERT_OK(Add(inner.get(), p.r.get(), EPOLLIN, 1));
  ASSERT_OK(Add(outer.get(), inner.get(), EPOLLIN, 2));
  EXPECT_EQ(Wait(outer.get()).size(), 0u);
  struct pollfd pfd = {inner.get(), POLLIN, 0};
  EXPECT_EQ(poll(&pfd, 1, 0), 0);
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  EXPECT_EQ(poll(&pfd, 1, 0), 1);
  EXPECT_EQ(pfd.revents, POLLIN);
  auto evs = Wait(outer.get());
  ASSERT_EQ(evs.size(), 1u);
  EXPECT_EQ(evs[0].data.u64, 2u);
  EXPECT_EQ(Wait(inner.get()).size(), 1u);
}

TEST(Epoll, LoopsAndDepth) {
  FD a(epoll_create1(0)), b(epoll_create1(0));
  ASSERT_OK(Add(a.get(), b.get(), EPOLLIN, 0));
  EXPECT_ERRNO(ELOOP, Add(b.get(), a.get(), EPOLLIN, 0));
  // A chain holds at most five instances.
  FD e[6];
  for (auto& f : e) f.reset(epoll_create1(0));
  for (int i = 0; i < 4; i++) ASSERT_OK(Add(e[i].get(), e[i + 1].get(), EPOLLIN, 0));
  EXPECT_ERRNO(ELOOP, Add(e[4].get(), e[5].get(), EPOLLIN, 0));
}

TEST(Epoll, RemovedWhenLastReferenceCloses) {
  FD ep(epoll_create1(0));
  FD ev(eventfd(1, 0));
  ASSERT_OK(Add(ep.get(), ev.get(), EPOLLIN, 1));
  FD dup(fcntl(ev.get(), F_DUPFD_CLOEXEC, 0));
  ASSERT_OK(dup.get());
  ev.reset();
  // The description lives on through dup: still watched.
  EXPECT_EQ(Wait(ep.get()).size(), 1u);
  dup.reset();
  EXPECT_EQ(Wait(ep.get()).size(), 0u);
}

TEST(Epoll, TimeoutExpires) {
  FD ep(epoll_create1(0));
  struct epoll_event ev;
  struct timespec start, end;
  clock_gettime(CLOCK_MONOTONIC, &start);
  EXPECT_EQ(epoll_wait(ep.get(), &ev, 1, 20), 0);
  clock_gettime(CLOCK_MONOTONIC, &end);
  long ms = (end.tv_sec - start.tv_sec) * 1000 + (end.tv_nsec - start.tv_nsec) / 1000000;
  EXPECT_GE(ms, 19);
  struct timespec zero = {0, 0};
  EXPECT_EQ(syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, &zero, nullptr, 8), 0);
  struct timespec bad = {0, 1000000000};
  EXPECT_ERRNO(EINVAL, syscall(SYS_epoll_pwait2, ep.get(), &ev, 1, &bad, nullptr, 8));
  sigset_t set;
  sigemptyset(&set);
  EXPECT_ERRNO(EINVAL, syscall(SYS_epoll_pwait, ep.get(), &ev, 1, 0, &set, 4));
}

volatile sig_atomic_t got_alarm;
void OnAlarm(int) { got_alarm = 1; }

TEST(Epoll, InterruptedBySignalWithRestartFlag) {
  struct sigaction sa = {}, old;
  sa.sa_handler = OnAlarm;
  sa.sa_flags = SA_RESTART;
  ASSERT_OK(sigaction(SIGALRM, &sa, &old));
  FD ep(epoll_create1(0));
  got_alarm = 0;
  struct itimerval it = {{0, 0}, {0, 10000}};
  ASSERT_OK(setitimer(ITIMER_REAL, &it, nullptr));
  struct epoll_event ev;
  // epoll_wait is never restarted, even with SA_RESTART (signal(7)).
  EXPECT_ERRNO(EINTR, epoll_wait(ep.get(), &ev, 1, -1));
  EXPECT_EQ(got_alarm, 1);
  sigaction(SIGALRM, &old, nullptr);
}

TEST(Epoll, PwaitMaskLetsSignalIn) {
  sigset_t block, old;
  sigemptyset(&block);
  sigaddset(&block, SIGUSR1);
  ASSERT_OK(sigprocmask(SIG_BLOCK, &block, &old));
  struct sigaction sa = {}, olda;
  sa.sa_handler = OnAlarm;
  ASSERT_OK(sigaction(SIGUSR1, &sa, &olda));
  got_alarm = 0;
  ASSERT_OK(kill(getpid(), SIGUSR1));
  EXPECT_EQ(got_alarm, 0);
  FD ep(epoll_create1(0));
  sigset_t none;
  sigemptyset(&none);
  struct epoll_event ev;
  EXPECT_ERRNO(EINTR, epoll_pwait(ep.get(), &ev, 1, -1, &none));
  EXPECT_EQ(got_alarm, 1);
  // The old mask is back.
  sigset_t now;
  sigprocmask(SIG_SETMASK, nullptr, &now);
  EXPECT_TRUE(sigismember(&now, SIGUSR1));
  sigaction(SIGUSR1, &olda, nullptr);
  sigprocmask(SIG_SETMASK, &old, nullptr);
}

}  // namespace
}  // namespace bz
