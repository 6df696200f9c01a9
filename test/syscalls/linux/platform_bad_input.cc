// What an application can throw at the platform that runs it, which must
// neither confuse the platform nor let the application escape it: its own
// SIGSYS and SIGSEGV handlers, every signal blocked, a garbage stack pointer
// at a system call, system calls from odd places, and jumps to addresses
// above everything it mapped (where the systrap platform keeps its stub
// code) with the registers of a dangerous host call. Each case runs in a
// child process and checks what Linux shows.
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "proc_util.h"

namespace bz {
namespace {

volatile sig_atomic_t g_signals;
volatile int g_last_signo;
sigjmp_buf g_jump;

void Count(int sig) {
  g_last_signo = sig;
  g_signals = g_signals + 1;
}

void JumpBack(int sig) {
  g_last_signo = sig;
  g_signals = g_signals + 1;
  siglongjmp(g_jump, 1);
}

// Checks the usual system calls in a child: getpid agrees with the raw
// call, a pipe round trip works, /dev/null opens.
int SyscallsWork() {
  CHILD_CHECK(syscall(SYS_getpid) == getpid());
  int p[2];
  CHILD_CHECK(pipe(p) == 0);
  char c = 'x', d = 0;
  CHILD_CHECK(write(p[1], &c, 1) == 1);
  CHILD_CHECK(read(p[0], &d, 1) == 1 && d == 'x');
  close(p[0]);
  close(p[1]);
  int fd = open("/dev/null", O_RDONLY);
  CHILD_CHECK(fd >= 0);
  close(fd);
  return 0;
}

TEST(PlatformBadInput, OwnSigsysHandler) {
  EXPECT_CHILD_OK([] {
    struct sigaction sa = {};
    sa.sa_handler = Count;
    CHILD_CHECK(sigaction(SIGSYS, &sa, nullptr) == 0);
    int r = SyscallsWork();
    if (r != 0) return r;
    CHILD_CHECK(g_signals == 0);  // system calls raise no SIGSYS
    CHILD_CHECK(raise(SIGSYS) == 0);
    CHILD_CHECK(g_signals == 1 && g_last_signo == SIGSYS);
    return SyscallsWork();
  });
}

TEST(PlatformBadInput, OwnSigsegvHandler) {
  EXPECT_CHILD_OK([] {
    struct sigaction sa = {};
    sa.sa_handler = JumpBack;
    CHILD_CHECK(sigaction(SIGSEGV, &sa, nullptr) == 0);
    void* p = mmap(nullptr, PageSize(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    CHILD_CHECK(p != MAP_FAILED);
    for (int i = 0; i < 3; i++) {
      if (sigsetjmp(g_jump, 1) == 0) {
        *static_cast<volatile int*>(p) = 1;
        return 50;  // the store did not fault
      }
    }
    CHILD_CHECK(g_signals == 3 && g_last_signo == SIGSEGV);
    return SyscallsWork();
  });
}

TEST(PlatformBadInput, EverySignalBlocked) {
  EXPECT_CHILD_OK([] {
    sigset_t all;
    sigfillset(&all);
    CHILD_CHECK(sigprocmask(SIG_SETMASK, &all, nullptr) == 0);
    int r = SyscallsWork();
    if (r != 0) return r;
    sigset_t got;
    CHILD_CHECK(sigprocmask(SIG_SETMASK, nullptr, &got) == 0);
    CHILD_CHECK(sigismember(&got, SIGSYS) && sigismember(&got, SIGSEGV));
    return 0;
  });
  // A fault with SIGSEGV blocked kills the process.
  int st = InChild([] {
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_SETMASK, &all, nullptr);
    *static_cast<volatile int*>(BadPointer()) = 1;
    return 0;
  });
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGSEGV) << DescribeStatus(st);
  // A blocked SIGSYS stays pending, raised or not, and system calls work.
  EXPECT_CHILD_OK([] {
    sigset_t all;
    sigfillset(&all);
    CHILD_CHECK(sigprocmask(SIG_SETMASK, &all, nullptr) == 0);
    CHILD_CHECK(raise(SIGSYS) == 0);
    sigset_t pending;
    CHILD_CHECK(sigpending(&pending) == 0 && sigismember(&pending, SIGSYS));
    return SyscallsWork();
  });
}

// getpid with the stack pointer set to sp for the duration of the syscall
// instruction.
long GetpidWithStack(uintptr_t sp) {
  long r;
  asm volatile(
      "mov %%rsp, %%r12\n\t"
      "mov %2, %%rsp\n\t"
      "syscall\n\t"
      "mov %%r12, %%rsp"
      : "=a"(r)
      : "a"(static_cast<long>(SYS_getpid)), "r"(sp)
      : "rcx", "r11", "r12", "memory");
  return r;
}

int GarbageStackChild() {
  void* none = mmap(nullptr, PageSize(), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHILD_CHECK(none != MAP_FAILED);
  const uintptr_t sps[] = {0,
                           1,
                           0xdeadbeef,
                           ~uintptr_t{0},
                           uintptr_t{1} << 63,
                           reinterpret_cast<uintptr_t>(none) + 64,
                           0x7e0000000000,
                           0x7ffffffff000};
  for (uintptr_t sp : sps) {
    CHILD_CHECK(GetpidWithStack(sp) == getpid());
  }
  return SyscallsWork();
}

TEST(PlatformBadInput, GarbageStackPointer) { EXPECT_CHILD_OK(GarbageStackChild); }

// MakeCode maps two pages, puts code so that it ends exactly at the
// boundary between them and ret at the start of the second, makes them
// executable, and returns the code's address.
void* MakeCode(const unsigned char* code, size_t len, size_t end_offset) {
  long pg = PageSize();
  void* m = mmap(nullptr, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  unsigned char* p = static_cast<unsigned char*>(m);
  memset(p, 0xcc, 2 * pg);
  memcpy(p + end_offset - len, code, len);
  p[end_offset] = 0xc3;  // ret
  if (mprotect(m, 2 * pg, PROT_READ | PROT_EXEC) != 0) return nullptr;
  return p + end_offset - len;
}

int OddAddressesChild() {
  // mov eax, 39 (getpid); syscall
  const unsigned char getpid_code[] = {0xb8, 39, 0, 0, 0, 0x0f, 0x05};
  long pg = PageSize();
  // Ending at a page boundary, at an odd address, and just before the
  // second page.
  for (size_t end : {size_t(pg), size_t(pg) - 1, size_t(pg) - 3, size_t(pg) + 7}) {
    void* f = MakeCode(getpid_code, sizeof getpid_code, end);
    CHILD_CHECK(f != nullptr);
    long r = reinterpret_cast<long (*)()>(f)();
    CHILD_CHECK(r == getpid());
    munmap(reinterpret_cast<void*>(reinterpret_cast<uintptr_t>(f) & ~uintptr_t(pg - 1)), 2 * pg);
  }
  return SyscallsWork();
}

TEST(PlatformBadInput, SyscallsFromOddAddresses) { EXPECT_CHILD_OK(OddAddressesChild); }

// JumpWithRegs jumps to target with rax = nr and the system call argument
// registers set to args, rbx, rbp and r12-r15 zero and the stack pointer
// on a page nobody may touch; it never returns normally (the SIGSEGV
// handler jumps back).
[[noreturn]] void JumpWithRegs(uintptr_t target, long nr, const long args[6], uintptr_t sp) {
  asm volatile(
      "mov 0(%2), %%rdi\n\t"
      "mov 8(%2), %%rsi\n\t"
      "mov 16(%2), %%rdx\n\t"
      "mov 24(%2), %%r10\n\t"
      "mov 32(%2), %%r8\n\t"
      "mov 40(%2), %%r9\n\t"
      "xor %%ebx, %%ebx\n\t"
      "xor %%ebp, %%ebp\n\t"
      "xor %%r12d, %%r12d\n\t"
      "xor %%r13d, %%r13d\n\t"
      "xor %%r14d, %%r14d\n\t"
      "xor %%r15d, %%r15d\n\t"
      "mov %3, %%rsp\n\t"
      "jmp *%1"
      :
      : "a"(nr), "c"(target), "d"(args), "S"(sp)
      : "memory");
  __builtin_unreachable();
}

// Jumps to every address of the page above everything the application
// mapped where a platform may keep code (the systrap stub code), with the
// registers of an mmap of a free range over descriptor 3..5, and of an
// mprotect and a munmap of that page itself. Each jump must end in
// SIGSEGV, and nothing may be mapped afterwards.
const uintptr_t kStub = 0x7e0000000000;

int JumpAboveChild() {
  long pg = PageSize();
  stack_t ss = {};
  ss.ss_size = 64 * 1024;
  ss.ss_sp = mmap(nullptr, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHILD_CHECK(ss.ss_sp != MAP_FAILED);
  CHILD_CHECK(sigaltstack(&ss, nullptr) == 0);
  struct sigaction sa = {};
  sa.sa_handler = JumpBack;
  sa.sa_flags = SA_ONSTACK | SA_NODEFER;
  for (int sig : {SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGSYS, SIGFPE}) {
    CHILD_CHECK(sigaction(sig, &sa, nullptr) == 0);
  }
  void* none = mmap(nullptr, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHILD_CHECK(none != MAP_FAILED);
  uintptr_t sp = reinterpret_cast<uintptr_t>(none) + 128;
  // A free range for the mmap attempts: reserved, then released.
  void* free_range = mmap(nullptr, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  CHILD_CHECK(free_range != MAP_FAILED);
  CHILD_CHECK(munmap(free_range, pg) == 0);
  const long free_addr = reinterpret_cast<long>(free_range);
  struct Call {
    long nr;
    long args[6];
  };
  std::vector<Call> calls;
  for (long fd = 3; fd <= 5; fd++) {
    calls.push_back({SYS_mmap, {free_addr, pg, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0}});
  }
  calls.push_back({SYS_mprotect, {long(kStub), pg, PROT_READ | PROT_WRITE | PROT_EXEC}});
  calls.push_back({SYS_munmap, {long(kStub), 64 * pg}});
  int jumps = 0;
  for (const Call& c : calls) {
    for (long off = 0; off < pg; off++) {
      g_signals = 0;
      if (sigsetjmp(g_jump, 1) == 0) {
        JumpWithRegs(kStub + off, c.nr, c.args, sp);
      }
      CHILD_CHECK(g_signals == 1);
      CHILD_CHECK(g_last_signo == SIGSEGV);
      jumps++;
    }
  }
  CHILD_CHECK(jumps == 5 * pg);
  // Nothing got mapped where the calls asked.
  errno = 0;
  CHILD_CHECK(msync(free_range, pg, 0) != 0 && errno == ENOMEM);
  return SyscallsWork();
}

TEST(PlatformBadInput, JumpAboveTheAddressSpace) {
  if (msync(reinterpret_cast<void*>(kStub), PageSize(), 0) == 0) {
    GTEST_SKIP() << "something is mapped at " << kStub << " here";
  }
  EXPECT_CHILD_OK(JumpAboveChild);
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
