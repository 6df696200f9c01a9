// Timers and sleeps that involve signals or other processes: nanosleep
// interrupted by a handler, alarm, setitimer/getitimer, POSIX timers with
// SIGEV_SIGNAL, clock_nanosleep TIMER_ABSTIME, times and getrusage.
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/times.h>
#include <time.h>

#include "proc_util.h"

namespace bz {
namespace {

int64_t Ns(const struct timespec& ts) {
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int64_t MonoNs() {
  struct timespec ts;
  syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
  return Ns(ts);
}

volatile sig_atomic_t g_count;
volatile int g_code, g_value, g_signo;

void CountHandler(int sig) {
  g_signo = sig;
  g_count = g_count + 1;
}

void InfoHandler(int sig, siginfo_t* si, void*) {
  g_signo = sig;
  g_code = si->si_code;
  g_value = si->si_value.sival_int;
  g_count = g_count + 1;
}

TEST(Timers, NanosleepInterruptedReturnsRemaining) {
  g_count = 0;
  ScopedSigaction sa(SIGUSR1, CountHandler);
  Pipe ack;
  pid_t parent = getpid();
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    // Signal the parent until it says its sleep was interrupted.
    fcntl(ack.r.get(), F_SETFL, O_NONBLOCK);
    char c;
    while (read(ack.r.get(), &c, 1) < 0 && errno == EAGAIN) {
      kill(parent, SIGUSR1);
      sched_yield();
    }
    _exit(0);
  }
  ASSERT_GT(child, 0);
  struct timespec req = {30, 0}, rem = {-1, -1};
  long r = syscall(SYS_nanosleep, &req, &rem);
  int err = errno;
  ASSERT_EQ(write(ack.w.get(), "x", 1), 1);
  EXPECT_EQ(r, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_GE(g_count, 1);
  EXPECT_GT(Ns(rem), 0);
  // Linux adds the timer slack (50 us by default) to the expiry, so an
  // immediate interruption can report a little more than was asked for.
  EXPECT_LE(Ns(rem), Ns(req) + 1000000);
  EXPECT_GT(Ns(rem), Ns(req) - 20 * 1000000000LL);
  EXPECT_EQ(WaitStatus(child), 0);
}

TEST(Timers, AlarmDeliversSigalrm) {
  g_count = 0;
  ScopedSigaction sa(SIGALRM, CountHandler);
  ScopedMask block({SIGALRM});
  EXPECT_EQ(alarm(100), 0u);
  unsigned left = alarm(1);  // replaces the first one
  EXPECT_GE(left, 99u);
  EXPECT_LE(left, 100u);
  int64_t start = MonoNs();
  sigset_t empty;
  sigemptyset(&empty);
  while (g_count == 0) sigsuspend(&empty);
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(g_signo, SIGALRM);
  EXPECT_GE(MonoNs() - start, 900 * 1000000LL);
  EXPECT_EQ(alarm(0), 0u);
}

TEST(Timers, AlarmZeroCancels) {
  EXPECT_EQ(alarm(50), 0u);
  unsigned left = alarm(0);
  EXPECT_GE(left, 49u);
  EXPECT_LE(left, 50u);
  EXPECT_EQ(alarm(0), 0u);
  struct itimerval it;
  ASSERT_OK(getitimer(ITIMER_REAL, &it));
  EXPECT_EQ(it.it_value.tv_sec, 0);
  EXPECT_EQ(it.it_value.tv_usec, 0);
}

TEST(Timers, SetitimerPeriodic) {
  g_count = 0;
  ScopedSigaction sa(SIGALRM, CountHandler);
  ScopedMask block({SIGALRM});
  struct itimerval it = {{0, 2000}, {0, 2000}};  // every 2 ms
  struct itimerval old;
  ASSERT_OK(setitimer(ITIMER_REAL, &it, &old));
  EXPECT_EQ(old.it_value.tv_sec, 0);
  EXPECT_EQ(old.it_value.tv_usec, 0);
  sigset_t empty;
  sigemptyset(&empty);
  int64_t start = MonoNs();
  while (g_count < 3) sigsuspend(&empty);
  int64_t took = MonoNs() - start;
  struct itimerval cur;
  ASSERT_OK(getitimer(ITIMER_REAL, &cur));
  EXPECT_EQ(cur.it_interval.tv_sec, 0);
  EXPECT_EQ(cur.it_interval.tv_usec, 2000);
  EXPECT_LE(cur.it_value.tv_usec, 2000);
  struct itimerval off = {};
  ASSERT_OK(setitimer(ITIMER_REAL, &off, &old));
  EXPECT_EQ(old.it_interval.tv_usec, 2000);
  EXPECT_GE(took, 4 * 1000000);  // three expiries, 2 ms apart, at least 4 ms
  ASSERT_OK(getitimer(ITIMER_REAL, &cur));
  EXPECT_EQ(cur.it_value.tv_sec, 0);
  EXPECT_EQ(cur.it_value.tv_usec, 0);
}

TEST(Timers, GetitimerCountsDown) {
  struct itimerval it = {{0, 0}, {10, 0}};
  ASSERT_OK(setitimer(ITIMER_REAL, &it, nullptr));
  struct itimerval cur;
  ASSERT_OK(getitimer(ITIMER_REAL, &cur));
  struct itimerval off = {};
  ASSERT_OK(setitimer(ITIMER_REAL, &off, nullptr));
  int64_t us = cur.it_value.tv_sec * 1000000LL + cur.it_value.tv_usec;
  EXPECT_GT(us, 9 * 1000000LL);
  EXPECT_LE(us, 10 * 1000000LL);
  EXPECT_EQ(cur.it_interval.tv_sec, 0);
  EXPECT_ERRNO(EINVAL, getitimer(42, &cur));
  struct itimerval bad = {{0, 0}, {0, 1000000}};
  EXPECT_ERRNO(EINVAL, setitimer(ITIMER_REAL, &bad, nullptr));
}

TEST(Timers, ItimerVirtualAndProf) {
  // Set and read back without letting them fire.
  for (int which : {ITIMER_VIRTUAL, ITIMER_PROF}) {
    struct itimerval it = {{1, 0}, {5, 0}}, cur;
    ASSERT_OK(setitimer(which, &it, nullptr));
    ASSERT_OK(getitimer(which, &cur));
    struct itimerval off = {};
    ASSERT_OK(setitimer(which, &off, nullptr));
    EXPECT_EQ(cur.it_interval.tv_sec, 1) << which;
    EXPECT_GT(cur.it_value.tv_sec * 1000000LL + cur.it_value.tv_usec,
              4 * 1000000LL) << which;
  }
}

TEST(Timers, PosixTimerSigevSignal) {
  g_count = 0;
  const int sig = SIGRTMIN + 3;
  ScopedSigaction sa(sig, InfoHandler, 0);
  ScopedMask block({sig});
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = sig;
  sev.sigev_value.sival_int = 4242;
  timer_t t;
  ASSERT_OK(timer_create(CLOCK_MONOTONIC, &sev, &t));
  struct itimerspec its = {{0, 0}, {0, 5 * 1000000}};
  int64_t start = MonoNs();
  ASSERT_OK(timer_settime(t, 0, &its, nullptr));
  struct itimerspec cur;
  ASSERT_OK(timer_gettime(t, &cur));
  EXPECT_GT(Ns(cur.it_value), 0);
  EXPECT_LE(Ns(cur.it_value), 5 * 1000000);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  siginfo_t si = {};
  ASSERT_EQ(sigwaitinfo(&set, &si), sig) << strerror(errno);
  EXPECT_GE(MonoNs() - start, 5 * 1000000);
  EXPECT_EQ(si.si_code, SI_TIMER);
  EXPECT_EQ(si.si_value.sival_int, 4242);
  EXPECT_EQ(timer_getoverrun(t), 0);
  ASSERT_OK(timer_gettime(t, &cur));
  EXPECT_EQ(Ns(cur.it_value), 0);  // one-shot: disarmed
  ASSERT_OK(timer_delete(t));
  EXPECT_ERRNO(EINVAL, timer_delete(t));
}

TEST(Timers, PosixTimerPeriodicHandler) {
  g_count = 0;
  ScopedSigaction sa(SIGUSR2, InfoHandler, 0);
  ScopedMask block({SIGUSR2});
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = SIGUSR2;
  sev.sigev_value.sival_int = 7;
  timer_t t;
  ASSERT_OK(timer_create(CLOCK_REALTIME, &sev, &t));
  struct itimerspec its = {{0, 1000000}, {0, 1000000}};
  ASSERT_OK(timer_settime(t, 0, &its, nullptr));
  sigset_t empty;
  sigemptyset(&empty);
  while (g_count < 3) sigsuspend(&empty);
  ASSERT_OK(timer_delete(t));
  EXPECT_EQ(g_code, SI_TIMER);
  EXPECT_EQ(g_value, 7);
}

TEST(Timers, PosixTimerAbsoluteAndErrors) {
  struct sigevent sev = {};
  sev.sigev_notify = SIGEV_NONE;
  timer_t t;
  ASSERT_OK(timer_create(CLOCK_MONOTONIC, &sev, &t));
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  struct itimerspec its = {{0, 0}, {now.tv_sec + 100, now.tv_nsec}};
  ASSERT_OK(timer_settime(t, TIMER_ABSTIME, &its, nullptr));
  struct itimerspec cur;
  ASSERT_OK(timer_gettime(t, &cur));
  EXPECT_GT(cur.it_value.tv_sec, 98);
  EXPECT_LE(cur.it_value.tv_sec, 100);
  struct itimerspec bad = {{0, 0}, {0, 1000000000}};
  EXPECT_ERRNO(EINVAL, timer_settime(t, 0, &bad, nullptr));
  ASSERT_OK(timer_delete(t));
  EXPECT_ERRNO(EINVAL, timer_create(12345, &sev, &t));
  sev.sigev_notify = SIGEV_SIGNAL;
  sev.sigev_signo = 100;
  EXPECT_ERRNO(EINVAL, timer_create(CLOCK_MONOTONIC, &sev, &t));
}

TEST(Timers, ClockNanosleepAbsolute) {
  struct timespec target;
  ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &target));
  target.tv_nsec += 10 * 1000000;
  if (target.tv_nsec >= 1000000000) {
    target.tv_sec++;
    target.tv_nsec -= 1000000000;
  }
  EXPECT_EQ(clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &target, nullptr), 0);
  struct timespec now;
  ASSERT_OK(clock_gettime(CLOCK_MONOTONIC, &now));
  EXPECT_GE(Ns(now), Ns(target));
  ASSERT_OK(clock_gettime(CLOCK_REALTIME, &target));
  target.tv_nsec += 5 * 1000000;
  if (target.tv_nsec >= 1000000000) {
    target.tv_sec++;
    target.tv_nsec -= 1000000000;
  }
  EXPECT_EQ(clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &target, nullptr), 0);
  ASSERT_OK(clock_gettime(CLOCK_REALTIME, &now));
  EXPECT_GE(Ns(now), Ns(target));
}

// Burns at least ns of this process's CPU time.
void Burn(int64_t ns) {
  struct timespec a, b;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &a);
  volatile uint64_t x = 1;
  do {
    for (int i = 0; i < 10000; i++) x = x * 6364136223846793005ULL + 1;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &b);
  } while (Ns(b) - Ns(a) < ns);
}

int64_t TvUs(const struct timeval& tv) { return tv.tv_sec * 1000000LL + tv.tv_usec; }

TEST(Timers, GetrusageSelfAndChildren) {
  Burn(30 * 1000000);
  struct rusage self;
  ASSERT_OK(getrusage(RUSAGE_SELF, &self));
  EXPECT_GE(TvUs(self.ru_utime) + TvUs(self.ru_stime), 20000);
  EXPECT_GT(self.ru_maxrss, 0);
  struct rusage thr;
  ASSERT_OK(getrusage(RUSAGE_THREAD, &thr));
  EXPECT_LE(TvUs(thr.ru_utime), TvUs(self.ru_utime) + 10000);
  struct rusage before;
  ASSERT_OK(getrusage(RUSAGE_CHILDREN, &before));
  int st = InChild([] {
    Burn(60 * 1000000);
    return 0;
  });
  EXPECT_EQ(st, 0);
  struct rusage after;
  ASSERT_OK(getrusage(RUSAGE_CHILDREN, &after));
  int64_t child_cpu = TvUs(after.ru_utime) + TvUs(after.ru_stime) -
                      TvUs(before.ru_utime) - TvUs(before.ru_stime);
  EXPECT_GE(child_cpu, 40000);
  EXPECT_GT(after.ru_maxrss, 0);
  EXPECT_ERRNO(EINVAL, getrusage(42, &after));
  EXPECT_ERRNO(EFAULT, getrusage(RUSAGE_SELF, static_cast<struct rusage*>(BadPointer())));
}

TEST(Timers, Wait4Rusage) {
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    Burn(40 * 1000000);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  int st;
  struct rusage ru = {};
  ASSERT_EQ(wait4(child, &st, 0, &ru), child);
  EXPECT_GE(TvUs(ru.ru_utime) + TvUs(ru.ru_stime), 30000);
}

TEST(Timers, Times) {
  long hz = sysconf(_SC_CLK_TCK);
  ASSERT_GT(hz, 0);
  struct tms t0;
  clock_t c0 = times(&t0);
  int st = InChild([] {
    Burn(60 * 1000000);
    return 0;
  });
  EXPECT_EQ(st, 0);
  Burn(30 * 1000000);
  struct tms t1;
  clock_t c1 = times(&t1);
  EXPECT_NE(c0, (clock_t)-1);
  EXPECT_GE(c1, c0);
  // Tick counts, so allow one tick of rounding.
  EXPECT_GE((t1.tms_cutime + t1.tms_cstime) - (t0.tms_cutime + t0.tms_cstime),
            (clock_t)(hz * 40 / 1000));
  EXPECT_GE((t1.tms_utime + t1.tms_stime) - (t0.tms_utime + t0.tms_stime),
            (clock_t)(hz * 20 / 1000));
  // times(NULL) works and returns the same clock.
  clock_t c2 = times(nullptr);
  EXPECT_GE(c2, c1);
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
