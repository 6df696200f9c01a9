// Signal delivery: handlers and their siginfo, masks, pending and queued
// signals, handler flags (SA_RESETHAND, SA_NODEFER, SA_ONSTACK, SA_RESTART),
// register restoration by rt_sigreturn, synchronous faults, sigsuspend,
// sigtimedwait, process-group kills, job control and SIGPIPE.
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>

#include "proc_util.h"

namespace bz {
namespace {

// What the last handler saw.
volatile sig_atomic_t g_count;
volatile int g_signo, g_code, g_pid, g_value;
volatile int g_values[8];
void* volatile g_addr;
sigset_t g_mask_in_handler;
void* volatile g_local_addr;
volatile int g_onstack_flag;

void Reset() {
  g_count = 0;
  g_signo = g_code = g_pid = g_value = 0;
  g_addr = nullptr;
  g_local_addr = nullptr;
  g_onstack_flag = 0;
  sigemptyset(&g_mask_in_handler);
}

void CountHandler(int sig) {
  g_signo = sig;
  g_count = g_count + 1;
}

void InfoHandler(int sig, siginfo_t* si, void*) {
  g_signo = si->si_signo;
  g_code = si->si_code;
  g_pid = si->si_pid;
  g_value = si->si_value.sival_int;
  if (g_count < 8) g_values[g_count] = si->si_value.sival_int;
  g_count = g_count + 1;
}

void MaskHandler(int sig) {
  sigprocmask(SIG_SETMASK, nullptr, &g_mask_in_handler);
  g_count = g_count + 1;
}

TEST(Signals, RaiseKillTgkillRunHandler) {
  Reset();
  ScopedSigaction sa(SIGUSR1, CountHandler);
  ASSERT_EQ(raise(SIGUSR1), 0);
  EXPECT_EQ(g_count, 1);
  ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
  EXPECT_EQ(g_count, 2);
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR1), 0);
  EXPECT_EQ(g_count, 3);
  ASSERT_EQ(syscall(SYS_tkill, syscall(SYS_gettid), SIGUSR1), 0);
  EXPECT_EQ(g_count, 4);
  EXPECT_EQ(g_signo, SIGUSR1);
  // Signal 0 checks only.
  EXPECT_EQ(kill(getpid(), 0), 0);
  EXPECT_EQ(g_count, 4);
  EXPECT_ERRNO(EINVAL, kill(getpid(), 65));
  EXPECT_ERRNO(ESRCH, kill(999999, 0));
  EXPECT_ERRNO(EINVAL, syscall(SYS_tgkill, getpid(), 0, SIGUSR1));
  EXPECT_ERRNO(ESRCH, syscall(SYS_tgkill, getpid(), 999999, SIGUSR1));
}

TEST(Signals, SiginfoFields) {
  Reset();
  ScopedSigaction sa(SIGUSR2, InfoHandler, 0);
  ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
  ASSERT_EQ(g_count, 1);
  EXPECT_EQ(g_signo, SIGUSR2);
  EXPECT_EQ(g_code, SI_USER);
  EXPECT_EQ(g_pid, getpid());
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2), 0);
  ASSERT_EQ(g_count, 2);
  EXPECT_EQ(g_code, SI_TKILL);
  EXPECT_EQ(g_pid, getpid());
  union sigval v;
  v.sival_int = 1234;
  ASSERT_EQ(sigqueue(getpid(), SIGUSR2, v), 0);
  ASSERT_EQ(g_count, 3);
  EXPECT_EQ(g_code, SI_QUEUE);
  EXPECT_EQ(g_value, 1234);
  EXPECT_EQ(g_pid, getpid());
}

TEST(Signals, BlockedUntilUnblockedAndCoalesced) {
  Reset();
  ScopedSigaction sa(SIGUSR1, CountHandler);
  {
    ScopedMask block({SIGUSR1});
    // Process-directed, so all three land in the same (shared) queue.
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    ASSERT_EQ(kill(getpid(), SIGUSR1), 0);
    EXPECT_EQ(g_count, 0);
    sigset_t pending;
    ASSERT_OK(sigpending(&pending));
    EXPECT_TRUE(sigismember(&pending, SIGUSR1));
    EXPECT_FALSE(sigismember(&pending, SIGUSR2));
  }
  // Unblocked: standard signals do not queue, so the handler runs once.
  EXPECT_EQ(g_count, 1);
  sigset_t pending;
  ASSERT_OK(sigpending(&pending));
  EXPECT_FALSE(sigismember(&pending, SIGUSR1));
}

TEST(Signals, RealtimeSignalsQueueInOrder) {
  Reset();
  const int sig = SIGRTMIN + 2;
  ScopedSigaction sa(sig, InfoHandler, 0);
  {
    ScopedMask block({sig});
    for (int i = 1; i <= 3; i++) {
      union sigval v;
      v.sival_int = i * 10;
      ASSERT_EQ(sigqueue(getpid(), sig, v), 0);
    }
    EXPECT_EQ(g_count, 0);
  }
  ASSERT_EQ(g_count, 3);
  EXPECT_EQ(g_values[0], 10);
  EXPECT_EQ(g_values[1], 20);
  EXPECT_EQ(g_values[2], 30);
}

// Pending signals are dequeued lowest number first (checked with
// sigwaitinfo: with handlers, both frames are set up at once and the last
// one set up runs first).
TEST(Signals, LowerSignalDequeuedFirst) {
  const int lo = SIGRTMIN + 1, hi = SIGRTMIN + 5;
  ScopedMask block({lo, hi, SIGUSR2});
  union sigval v;
  v.sival_int = hi;
  ASSERT_EQ(sigqueue(getpid(), hi, v), 0);
  v.sival_int = lo;
  ASSERT_EQ(sigqueue(getpid(), lo, v), 0);
  ASSERT_EQ(kill(getpid(), SIGUSR2), 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, lo);
  sigaddset(&set, hi);
  sigaddset(&set, SIGUSR2);
  siginfo_t si;
  EXPECT_EQ(sigwaitinfo(&set, &si), SIGUSR2);  // standard before realtime
  EXPECT_EQ(sigwaitinfo(&set, &si), lo);
  EXPECT_EQ(si.si_value.sival_int, lo);
  EXPECT_EQ(sigwaitinfo(&set, &si), hi);
  EXPECT_EQ(si.si_value.sival_int, hi);
}

TEST(Signals, ResetHand) {
  Reset();
  struct sigaction sa = {};
  sa.sa_handler = CountHandler;
  sa.sa_flags = SA_RESETHAND;
  ScopedSigaction saved(SIGUSR1, sa);
  ASSERT_EQ(raise(SIGUSR1), 0);
  EXPECT_EQ(g_count, 1);
  struct sigaction now = {};
  ASSERT_OK(sigaction(SIGUSR1, nullptr, &now));
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}

TEST(Signals, HandlerMaskAndNodefer) {
  Reset();
  {
    struct sigaction sa = {};
    sa.sa_handler = MaskHandler;
    sigemptyset(&sa.sa_mask);
    sigaddset(&sa.sa_mask, SIGUSR2);
    ScopedSigaction saved(SIGUSR1, sa);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_EQ(g_count, 1);
    EXPECT_TRUE(sigismember(&g_mask_in_handler, SIGUSR1));  // deferred
    EXPECT_TRUE(sigismember(&g_mask_in_handler, SIGUSR2));  // sa_mask
    EXPECT_FALSE(sigismember(&g_mask_in_handler, SIGHUP));
  }
  {
    struct sigaction sa = {};
    sa.sa_handler = MaskHandler;
    sa.sa_flags = SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    ScopedSigaction saved(SIGUSR1, sa);
    ASSERT_EQ(raise(SIGUSR1), 0);
    ASSERT_EQ(g_count, 2);
    EXPECT_FALSE(sigismember(&g_mask_in_handler, SIGUSR1));
  }
  // The mask is back as it was after the handler returns.
  sigset_t now;
  ASSERT_OK(sigprocmask(SIG_SETMASK, nullptr, &now));
  EXPECT_FALSE(sigismember(&now, SIGUSR1));
  EXPECT_FALSE(sigismember(&now, SIGUSR2));
}

void AltStackHandler(int) {
  int local;
  g_local_addr = &local;
  stack_t ss;
  sigaltstack(nullptr, &ss);
  g_onstack_flag = ss.ss_flags;
  g_count = g_count + 1;
}

TEST(Signals, AltStack) {
  Reset();
  const size_t size = 64 * 1024;
  void* mem = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(mem, MAP_FAILED);
  stack_t ss = {}, old = {};
  ss.ss_sp = mem;
  ss.ss_size = size;
  ASSERT_OK(sigaltstack(&ss, &old));
  ScopedSigaction sa(SIGUSR1, AltStackHandler, SA_ONSTACK);
  ASSERT_EQ(raise(SIGUSR1), 0);
  ASSERT_EQ(g_count, 1);
  uintptr_t a = reinterpret_cast<uintptr_t>(g_local_addr);
  uintptr_t lo = reinterpret_cast<uintptr_t>(mem);
  EXPECT_GE(a, lo);
  EXPECT_LT(a, lo + size);
  EXPECT_TRUE(g_onstack_flag & SS_ONSTACK);
  // Without SA_ONSTACK the handler runs on the normal stack.
  ScopedSigaction sa2(SIGUSR2, AltStackHandler, 0);
  ASSERT_EQ(raise(SIGUSR2), 0);
  a = reinterpret_cast<uintptr_t>(g_local_addr);
  EXPECT_TRUE(a < lo || a >= lo + size);
  EXPECT_FALSE(g_onstack_flag & SS_ONSTACK);
  stack_t cur;
  ASSERT_OK(sigaltstack(nullptr, &cur));
  EXPECT_EQ(cur.ss_sp, mem);
  EXPECT_EQ(cur.ss_flags & SS_ONSTACK, 0);
  stack_t dis = {};
  dis.ss_flags = SS_DISABLE;
  ASSERT_OK(sigaltstack(&dis, nullptr));
  ASSERT_OK(sigaltstack(nullptr, &cur));
  EXPECT_TRUE(cur.ss_flags & SS_DISABLE);
  // Too small.
  ss.ss_size = 1024;
  EXPECT_ERRNO(ENOMEM, sigaltstack(&ss, nullptr));
  munmap(mem, size);
}

void ClobberHandler(int) {
  // Trash the caller-saved registers the interrupted code relies on.
  volatile double x = 3.0;
  for (int i = 0; i < 10; i++) x = x * 1.5 + 0.25;
  asm volatile(
      "xorpd %%xmm0, %%xmm0\n"
      "xorpd %%xmm8, %%xmm8\n"
      "xorpd %%xmm15, %%xmm15\n"
      "xor %%r8, %%r8\n"
      "xor %%r9, %%r9\n"
      "xor %%r10, %%r10\n"
      "xor %%rdx, %%rdx\n" ::
          : "xmm0", "xmm8", "xmm15", "r8", "r9", "r10", "rdx");
  g_count = g_count + 1;
}

// The kill system call is made with values in registers the handler
// clobbers; rt_sigreturn must put every one of them back.
TEST(Signals, SigreturnRestoresRegisters) {
  Reset();
  ScopedSigaction sa(SIGUSR1, ClobberHandler);
  double in0 = 1.25, in8 = -7.5, in15 = 1e100;
  double out0 = 0, out8 = 0, out15 = 0;
  uint64_t r8 = 0, r9 = 0, r10 = 0, rdx = 0;
  long ret = SYS_kill;
  asm volatile(
      "movsd %[in0], %%xmm0\n"
      "movsd %[in8], %%xmm8\n"
      "movsd %[in15], %%xmm15\n"
      "mov $0x1111222233334444, %%r8\n"
      "mov $0x5555666677778888, %%r9\n"
      "mov $0x0123456789abcdef, %%r10\n"
      "mov $0x7eadbeefcafef00d, %%rdx\n"
      "syscall\n"
      "movsd %%xmm0, %[out0]\n"
      "movsd %%xmm8, %[out8]\n"
      "movsd %%xmm15, %[out15]\n"
      "mov %%r8, %[r8]\n"
      "mov %%r9, %[r9]\n"
      "mov %%r10, %[r10]\n"
      "mov %%rdx, %[rdx]\n"
      : "+a"(ret), [out0] "=m"(out0), [out8] "=m"(out8), [out15] "=m"(out15),
        [r8] "=m"(r8), [r9] "=m"(r9), [r10] "=m"(r10), [rdx] "=m"(rdx)
      : "D"((long)getpid()), "S"((long)SIGUSR1), [in0] "m"(in0),
        [in8] "m"(in8), [in15] "m"(in15)
      : "rcx", "r11", "r8", "r9", "r10", "rdx", "xmm0", "xmm8", "xmm15",
        "memory");
  EXPECT_EQ(ret, 0);
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(out0, 1.25);
  EXPECT_EQ(out8, -7.5);
  EXPECT_EQ(out15, 1e100);
  EXPECT_EQ(r8, 0x1111222233334444ULL);
  EXPECT_EQ(r9, 0x5555666677778888ULL);
  EXPECT_EQ(r10, 0x0123456789abcdefULL);
  EXPECT_EQ(rdx, 0x7eadbeefcafef00dULL);
  // Ordinary floating-point state survives too.
  volatile double a = 1.0 / 3.0;
  double before = a * 3.0 + 0.5;
  ASSERT_EQ(raise(SIGUSR1), 0);
  double after = a * 3.0 + 0.5;
  EXPECT_EQ(before, after);
}

sigjmp_buf g_jmp;

void FaultHandler(int sig, siginfo_t* si, void*) {
  g_signo = sig;
  g_code = si->si_code;
  g_addr = si->si_addr;
  g_count = g_count + 1;
  siglongjmp(g_jmp, 1);
}

TEST(Signals, SegvAccerrOnReadOnlyPage) {
  Reset();
  ScopedSigaction sa(SIGSEGV, FaultHandler, 0);
  char* page = static_cast<char*>(mmap(nullptr, PageSize(), PROT_READ,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(page, MAP_FAILED);
  if (sigsetjmp(g_jmp, 1) == 0) {
    *reinterpret_cast<volatile char*>(page + 100) = 1;  // read-only
    FAIL() << "write to a read-only page did not fault";
  }
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(g_signo, SIGSEGV);
  EXPECT_EQ(g_code, SEGV_ACCERR);
  EXPECT_EQ(g_addr, page + 100);
  // siglongjmp with savemask restored the mask: SIGSEGV is not blocked.
  sigset_t now;
  sigprocmask(SIG_SETMASK, nullptr, &now);
  EXPECT_FALSE(sigismember(&now, SIGSEGV));
  munmap(page, PageSize());
}

TEST(Signals, SegvMaperrNeverMapped) {
  Reset();
  ScopedSigaction sa(SIGSEGV, FaultHandler, 0);
  // Far from every mapping (the first 64 KiB are never mappable).
  char* p = reinterpret_cast<char*>(0x1000 + 24);
  if (sigsetjmp(g_jmp, 1) == 0) {
    *reinterpret_cast<volatile char*>(p) = 1;
    FAIL() << "write to an unmapped address did not fault";
  }
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(g_code, SEGV_MAPERR);
  EXPECT_EQ(g_addr, p);
}

// A page unmapped again faults; here the hole may sit just below the stack
// (mmap places mappings there), which must not count as stack growth.
TEST(Signals, SegvMaperrAfterMunmap) {
  Reset();
  ScopedSigaction sa(SIGSEGV, FaultHandler, 0);
  char* page = static_cast<char*>(mmap(nullptr, PageSize(), PROT_READ | PROT_WRITE,
                                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(page, MAP_FAILED);
  page[0] = 1;
  ASSERT_OK(munmap(page, PageSize()));
  if (sigsetjmp(g_jmp, 1) == 0) {
    *reinterpret_cast<volatile char*>(page + 8) = 1;  // now unmapped
    FAIL() << "write to an unmapped page did not fault";
  }
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(g_code, SEGV_MAPERR);
  EXPECT_EQ(g_addr, page + 8);
}

TEST(Signals, FpeIntegerDivide) {
  Reset();
  ScopedSigaction sa(SIGFPE, FaultHandler, 0);
  volatile int a = 7, b = 0;
  volatile int c = 0;
  if (sigsetjmp(g_jmp, 1) == 0) {
    c = a / b;
    FAIL() << "no SIGFPE, got " << c;
  }
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(g_signo, SIGFPE);
  EXPECT_EQ(g_code, FPE_INTDIV);
}

extern "C" void bz_ud2_site();

TEST(Signals, IllOnUd2) {
  Reset();
  ScopedSigaction sa(SIGILL, FaultHandler, 0);
  if (sigsetjmp(g_jmp, 1) == 0) {
    asm volatile(
        ".globl bz_ud2_site\n"
        "bz_ud2_site: ud2\n");
    FAIL() << "no SIGILL";
  }
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(g_signo, SIGILL);
  EXPECT_EQ(g_code, ILL_ILLOPN);
  EXPECT_EQ(g_addr, reinterpret_cast<void*>(&bz_ud2_site));
}

void TrapHandler(int sig, siginfo_t* si, void*) {
  g_signo = sig;
  g_code = si->si_code;
  g_count = g_count + 1;
}

TEST(Signals, TrapOnInt3Continues) {
  Reset();
  ScopedSigaction sa(SIGTRAP, TrapHandler, 0);
  volatile int after = 0;
  asm volatile("int3");
  after = 1;
  EXPECT_EQ(after, 1);
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(g_signo, SIGTRAP);
  EXPECT_EQ(g_code, SI_KERNEL);
}

// A child that sends SIGUSR1 to the parent until the parent writes to ack.
// Returns the child's pid.
pid_t StartSignaller(int ack_read_fd, int extra_close_fd = -1) {
  pid_t parent = getpid();
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    if (extra_close_fd >= 0) close(extra_close_fd);
    fcntl(ack_read_fd, F_SETFL, O_NONBLOCK);
    char c;
    while (read(ack_read_fd, &c, 1) < 0 && errno == EAGAIN) {
      kill(parent, SIGUSR1);
      sched_yield();
    }
    _exit(0);
  }
  return pid;
}

TEST(Signals, ReadInterruptedIsEINTR) {
  Reset();
  ScopedSigaction sa(SIGUSR1, CountHandler, 0);  // no SA_RESTART
  Pipe data, ack;
  pid_t child = StartSignaller(ack.r.get(), data.w.get());
  ASSERT_GT(child, 0);
  char c;
  ssize_t n;
  // Signals that arrive before read blocks only run the handler; the child
  // keeps sending until one interrupts the read.
  n = read(data.r.get(), &c, 1);
  int err = errno;
  ASSERT_EQ(write(ack.w.get(), "x", 1), 1);
  EXPECT_EQ(n, -1);
  EXPECT_EQ(err, EINTR);
  EXPECT_GE(g_count, 1);
  EXPECT_EQ(WaitStatus(child), 0);
}

std::atomic<int>* g_shared_count;

void SharedCountHandler(int) { g_shared_count->fetch_add(1); }

TEST(Signals, SaRestartRestartsRead) {
  g_shared_count = static_cast<std::atomic<int>*>(
      mmap(nullptr, PageSize(), PROT_READ | PROT_WRITE,
           MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(g_shared_count, MAP_FAILED);
  g_shared_count->store(0);
  ScopedSigaction sa(SIGUSR1, SharedCountHandler, SA_RESTART);
  Pipe data;
  pid_t parent = getpid();
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    // Many signals while the parent reads, then the data.
    while (g_shared_count->load() < 200) {
      kill(parent, SIGUSR1);
      sched_yield();
    }
    write(data.w.get(), "d", 1);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  char c = 0;
  ssize_t n = read(data.r.get(), &c, 1);
  EXPECT_EQ(n, 1) << strerror(errno);
  EXPECT_EQ(c, 'd');
  EXPECT_GE(g_shared_count->load(), 200);
  EXPECT_EQ(WaitStatus(child), 0);
  munmap(g_shared_count, PageSize());
}

TEST(Signals, Sigsuspend) {
  Reset();
  ScopedSigaction sa(SIGUSR1, CountHandler);
  ScopedMask block({SIGUSR1});
  ASSERT_EQ(raise(SIGUSR1), 0);
  EXPECT_EQ(g_count, 0);
  sigset_t empty;
  sigemptyset(&empty);
  EXPECT_ERRNO(EINTR, sigsuspend(&empty));
  EXPECT_EQ(g_count, 1);
  // The old mask is back: SIGUSR1 blocked again.
  sigset_t now;
  sigprocmask(SIG_SETMASK, nullptr, &now);
  EXPECT_TRUE(sigismember(&now, SIGUSR1));
}

TEST(Signals, SigsuspendWaitsForAnotherProcess) {
  Reset();
  ScopedSigaction sa(SIGUSR1, CountHandler);
  ScopedMask block({SIGUSR1});
  pid_t parent = getpid();
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    kill(parent, SIGUSR1);
    _exit(0);
  }
  ASSERT_GT(child, 0);
  sigset_t empty;
  sigemptyset(&empty);
  EXPECT_ERRNO(EINTR, sigsuspend(&empty));
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(WaitStatus(child), 0);
}

TEST(Signals, Sigtimedwait) {
  ScopedMask block({SIGUSR2});
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  struct timespec ts = {0, 1000000};
  siginfo_t si = {};
  EXPECT_ERRNO(EAGAIN, sigtimedwait(&set, &si, &ts));
  struct timespec zero = {0, 0};
  EXPECT_ERRNO(EAGAIN, sigtimedwait(&set, &si, &zero));
  union sigval v;
  v.sival_int = 99;
  ASSERT_EQ(sigqueue(getpid(), SIGUSR2, v), 0);
  EXPECT_EQ(sigtimedwait(&set, &si, &ts), SIGUSR2);
  EXPECT_EQ(si.si_signo, SIGUSR2);
  EXPECT_EQ(si.si_code, SI_QUEUE);
  EXPECT_EQ(si.si_value.sival_int, 99);
  EXPECT_EQ(si.si_pid, getpid());
  // Consumed: no longer pending.
  sigset_t pending;
  ASSERT_OK(sigpending(&pending));
  EXPECT_FALSE(sigismember(&pending, SIGUSR2));
  // sigwaitinfo on a pending signal returns at once.
  // (glibc's sigwaitinfo rewrites SI_TKILL to SI_USER: ask the kernel.)
  ASSERT_EQ(syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), SIGUSR2), 0);
  EXPECT_EQ(syscall(SYS_rt_sigtimedwait, &set, &si, nullptr, 8), SIGUSR2);
  EXPECT_EQ(si.si_code, SI_TKILL);
  struct timespec bad = {0, 1000000000};
  EXPECT_ERRNO(EINVAL, sigtimedwait(&set, &si, &bad));
}

TEST(Signals, KillProcessGroup) {
  Pipe gate;
  Pipe ready;
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    gate.w.reset();
    setpgid(0, 0);
    write(ready.w.get(), "r", 1);
    char c;
    read(gate.r.get(), &c, 1);
    // kill(0) signals our own group only: just us.
    kill(0, SIGTERM);
    _exit(1);
  }
  ASSERT_GT(child, 0);
  setpgid(child, child);
  char c;
  ASSERT_EQ(read(ready.r.get(), &c, 1), 1);
  // Signal 0 to the group and to everyone: permission check only.
  EXPECT_EQ(kill(-child, 0), 0);
  EXPECT_EQ(kill(-1, 0), 0);
  EXPECT_ERRNO(ESRCH, kill(-999999, SIGTERM));
  gate.w.reset();
  int st = WaitStatus(child);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) << DescribeStatus(st);
  // We were not in that group, so we are still here.

  // kill(-pgid) from outside the group.
  Pipe gate2;
  fflush(nullptr);
  pid_t child2 = fork();
  if (child2 == 0) {
    gate2.w.reset();
    setpgid(0, 0);
    char c2;
    read(gate2.r.get(), &c2, 1);
    _exit(1);
  }
  ASSERT_GT(child2, 0);
  setpgid(child2, child2);
  ASSERT_EQ(kill(-child2, SIGKILL), 0) << strerror(errno);
  st = WaitStatus(child2);
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) << DescribeStatus(st);
}

TEST(Signals, StopAndContinueSeenByWaitpid) {
  Pipe gate;
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    gate.w.reset();
    char c;
    ssize_t n = read(gate.r.get(), &c, 1);
    _exit(n == 1 ? 0 : 2);
  }
  ASSERT_GT(child, 0);
  ASSERT_EQ(kill(child, SIGSTOP), 0);
  int st = WaitStatus(child, WUNTRACED);
  EXPECT_TRUE(WIFSTOPPED(st)) << DescribeStatus(st);
  EXPECT_EQ(WSTOPSIG(st), SIGSTOP);
  // Reported once.
  EXPECT_EQ(waitpid(child, &st, WUNTRACED | WNOHANG), 0);
  ASSERT_EQ(kill(child, SIGCONT), 0);
  st = WaitStatus(child, WCONTINUED);
  EXPECT_TRUE(WIFCONTINUED(st)) << DescribeStatus(st);
  // A stopped child's waitid record.
  ASSERT_EQ(kill(child, SIGSTOP), 0);
  siginfo_t si = {};
  ASSERT_EQ(waitid(P_PID, child, &si, WSTOPPED), 0) << strerror(errno);
  EXPECT_EQ(si.si_code, CLD_STOPPED);
  EXPECT_EQ(si.si_status, SIGSTOP);
  EXPECT_EQ(si.si_pid, child);
  ASSERT_EQ(kill(child, SIGCONT), 0);
  si = {};
  ASSERT_EQ(waitid(P_PID, child, &si, WCONTINUED), 0) << strerror(errno);
  EXPECT_EQ(si.si_code, CLD_CONTINUED);
  EXPECT_EQ(si.si_status, SIGCONT);
  ASSERT_EQ(write(gate.w.get(), "g", 1), 1);
  EXPECT_EQ(WaitStatus(child), 0);
}

TEST(Signals, DefaultIgnoredSignalsDoNothing) {
  for (int sig : {SIGCHLD, SIGWINCH, SIGURG, SIGCONT}) {
    ScopedSigaction dfl(sig, SIG_DFL);
    ASSERT_EQ(raise(sig), 0) << sig;
    ASSERT_EQ(kill(getpid(), sig), 0) << sig;
  }
  // Also in a child, where an unexpected death would show.
  int st = InChild([] {
    raise(SIGCHLD);
    raise(SIGWINCH);
    raise(SIGURG);
    return 0;
  });
  EXPECT_EQ(st, 0) << DescribeStatus(st);
}

TEST(Signals, IgnoredSignalIsDiscarded) {
  ScopedSigaction ign(SIGUSR1, SIG_IGN);
  ASSERT_EQ(raise(SIGUSR1), 0);
  sigset_t pending;
  ASSERT_OK(sigpending(&pending));
  EXPECT_FALSE(sigismember(&pending, SIGUSR1));
}

TEST(Signals, SigpipeKillsByDefault) {
  int st = InChild([] {
    signal(SIGPIPE, SIG_DFL);
    int fds[2];
    if (pipe(fds) != 0) return 2;
    close(fds[0]);
    write(fds[1], "x", 1);
    return 3;
  });
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGPIPE) << DescribeStatus(st);
}

TEST(Signals, SigpipeIgnoredGivesEPIPE) {
  ScopedSigaction ign(SIGPIPE, SIG_IGN);
  Pipe p;
  p.r.reset();
  EXPECT_ERRNO(EPIPE, write(p.w.get(), "x", 1));
}

TEST(Signals, SigpipeHandlerRuns) {
  Reset();
  ScopedSigaction sa(SIGPIPE, CountHandler);
  Pipe p;
  p.r.reset();
  EXPECT_ERRNO(EPIPE, write(p.w.get(), "x", 1));
  EXPECT_EQ(g_count, 1);
  EXPECT_EQ(g_signo, SIGPIPE);
}

TEST(Signals, ChildExitSendsSigchld) {
  Reset();
  ScopedSigaction sa(SIGCHLD, InfoHandler, 0);
  ScopedMask block({SIGCHLD});
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) _exit(6);
  ASSERT_GT(child, 0);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGCHLD);
  siginfo_t si = {};
  ASSERT_EQ(sigwaitinfo(&set, &si), SIGCHLD) << strerror(errno);
  EXPECT_EQ(si.si_code, CLD_EXITED);
  EXPECT_EQ(si.si_pid, child);
  EXPECT_EQ(si.si_status, 6);
  EXPECT_EQ(WaitStatus(child), 6 << 8);
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
