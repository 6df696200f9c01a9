// Threads: pthread_create/join, mutex, condition variable, barrier, TLS,
// gettid, CLONE_CHILD_CLEARTID/CLONE_PARENT_SETTID, thread-directed signals,
// pthread_exit of the main thread, execve from a non-main thread, and
// process-shared synchronisation over MAP_SHARED memory across fork.
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <atomic>
#include <set>
#include <vector>

#include "proc_util.h"

extern char** environ;

namespace bz {
namespace {

pid_t Gettid() { return syscall(SYS_gettid); }

// Helper: exits 0 if our pid is argv[0].
BZ_HELPER(pid_is) {
  if (argc < 1) return 2;
  if (getpid() != atoi(argv[0])) return 3;
  if (Gettid() != getpid()) return 4;
  return 0;
}

TEST(Threads, CreateJoin64) {
  constexpr int kN = 64;
  pthread_t th[kN];
  for (long i = 0; i < kN; i++) {
    ASSERT_EQ(pthread_create(&th[i], nullptr,
                             [](void* a) -> void* {
                               return reinterpret_cast<void*>(
                                   reinterpret_cast<long>(a) * 3 + 1);
                             },
                             reinterpret_cast<void*>(i)),
              0);
  }
  for (long i = 0; i < kN; i++) {
    void* ret;
    ASSERT_EQ(pthread_join(th[i], &ret), 0);
    EXPECT_EQ(reinterpret_cast<long>(ret), i * 3 + 1);
  }
}

TEST(Threads, GettidUnique) {
  constexpr int kN = 16;
  static pid_t tids[kN];
  static pid_t pids[kN];
  pthread_t th[kN];
  pthread_barrier_t barrier;
  static pthread_barrier_t* b;
  b = &barrier;
  // All alive at once, so no tid can be reused.
  ASSERT_EQ(pthread_barrier_init(&barrier, nullptr, kN + 1), 0);
  for (long i = 0; i < kN; i++) {
    ASSERT_EQ(pthread_create(&th[i], nullptr,
                             [](void* a) -> void* {
                               long i = reinterpret_cast<long>(a);
                               tids[i] = Gettid();
                               pids[i] = getpid();
                               pthread_barrier_wait(b);
                               return nullptr;
                             },
                             reinterpret_cast<void*>(i)),
              0);
  }
  pthread_barrier_wait(&barrier);
  for (int i = 0; i < kN; i++) pthread_join(th[i], nullptr);
  pthread_barrier_destroy(&barrier);
  std::set<pid_t> seen = {getpid()};
  EXPECT_EQ(Gettid(), getpid());
  for (int i = 0; i < kN; i++) {
    EXPECT_EQ(pids[i], getpid());
    EXPECT_NE(tids[i], getpid());
    EXPECT_TRUE(seen.insert(tids[i]).second) << "duplicate tid " << tids[i];
  }
}

TEST(Threads, MutexCounter) {
  constexpr int kN = 16, kIters = 2000;
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static long counter;
  counter = 0;
  pthread_t th[kN];
  for (int i = 0; i < kN; i++) {
    ASSERT_EQ(pthread_create(&th[i], nullptr,
                             [](void*) -> void* {
                               for (int j = 0; j < kIters; j++) {
                                 pthread_mutex_lock(&mu);
                                 long v = counter;
                                 if (j % 100 == 0) sched_yield();
                                 counter = v + 1;
                                 pthread_mutex_unlock(&mu);
                               }
                               return nullptr;
                             },
                             nullptr),
              0);
  }
  for (int i = 0; i < kN; i++) pthread_join(th[i], nullptr);
  EXPECT_EQ(counter, (long)kN * kIters);
}

TEST(Threads, CondvarPingPong) {
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
  static int turn, rounds;
  turn = 0;
  rounds = 0;
  constexpr int kRounds = 500;
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, nullptr,
                           [](void*) -> void* {
                             for (int i = 0; i < kRounds; i++) {
                               pthread_mutex_lock(&mu);
                               while (turn != 1) pthread_cond_wait(&cv, &mu);
                               turn = 0;
                               rounds++;
                               pthread_cond_signal(&cv);
                               pthread_mutex_unlock(&mu);
                             }
                             return nullptr;
                           },
                           nullptr),
            0);
  for (int i = 0; i < kRounds; i++) {
    pthread_mutex_lock(&mu);
    while (turn != 0) pthread_cond_wait(&cv, &mu);
    turn = 1;
    pthread_cond_signal(&cv);
    pthread_mutex_unlock(&mu);
  }
  pthread_join(th, nullptr);
  EXPECT_EQ(rounds, kRounds);
}

TEST(Threads, Barrier) {
  constexpr int kN = 8, kPhases = 50;
  static pthread_barrier_t barrier;
  static std::atomic<int> arrived[kPhases];
  static std::atomic<int> errors;
  errors = 0;
  for (auto& a : arrived) a = 0;
  ASSERT_EQ(pthread_barrier_init(&barrier, nullptr, kN), 0);
  pthread_t th[kN];
  for (int i = 0; i < kN; i++) {
    ASSERT_EQ(pthread_create(&th[i], nullptr,
                             [](void*) -> void* {
                               for (int p = 0; p < kPhases; p++) {
                                 arrived[p]++;
                                 pthread_barrier_wait(&barrier);
                                 // Everyone reached phase p before anyone
                                 // passes it.
                                 if (arrived[p].load() != kN) errors++;
                               }
                               return nullptr;
                             },
                             nullptr),
              0);
  }
  for (int i = 0; i < kN; i++) pthread_join(th[i], nullptr);
  pthread_barrier_destroy(&barrier);
  EXPECT_EQ(errors.load(), 0);
}

thread_local int tls_value = 7;

TEST(Threads, ThreadLocalStorage) {
  constexpr int kN = 8;
  static int* addrs[kN];
  static int values[kN];
  tls_value = 1000;
  pthread_t th[kN];
  for (long i = 0; i < kN; i++) {
    ASSERT_EQ(pthread_create(&th[i], nullptr,
                             [](void* a) -> void* {
                               long i = reinterpret_cast<long>(a);
                               values[i] = tls_value;  // the initial value
                               tls_value = i;
                               sched_yield();
                               addrs[i] = &tls_value;
                               return reinterpret_cast<void*>(
                                   static_cast<long>(tls_value));
                             },
                             reinterpret_cast<void*>(i)),
              0);
  }
  std::set<int*> seen = {&tls_value};
  for (long i = 0; i < kN; i++) {
    void* r;
    pthread_join(th[i], &r);
    EXPECT_EQ(reinterpret_cast<long>(r), i);
    EXPECT_EQ(values[i], 7);
    EXPECT_TRUE(seen.insert(addrs[i]).second);
  }
  EXPECT_EQ(tls_value, 1000);
}

// clone with CLONE_PARENT_SETTID and CLONE_CHILD_CLEARTID: the kernel
// stores the tid, and clears it and wakes the futex when the thread exits.
TEST(Threads, CloneSetAndClearTid) {
  constexpr size_t kStack = 64 * 1024;
  void* stack = mmap(nullptr, kStack, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(stack, MAP_FAILED);
  static volatile pid_t ptid, ctid;
  static volatile pid_t seen_tid;
  ptid = 0;
  ctid = -1;
  seen_tid = 0;
  int flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD |
              CLONE_SYSVSEM | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID;
  int tid = clone(
      [](void*) -> int {
        seen_tid = syscall(SYS_gettid);
        syscall(SYS_exit, 0);  // this thread only
        return 0;
      },
      static_cast<char*>(stack) + kStack, flags, nullptr, &ptid, nullptr,
      &ctid);
  ASSERT_GT(tid, 0) << strerror(errno);
  EXPECT_EQ(ptid, tid);
  // Wait for the kernel to clear ctid (it holds tid, or -1 if the kernel
  // has not stored anything yet: CLONE_CHILD_SETTID was not asked for).
  for (;;) {
    pid_t v = ctid;
    if (v == 0) break;
    syscall(SYS_futex, &ctid, FUTEX_WAIT, v, nullptr, nullptr, 0);
  }
  EXPECT_EQ(seen_tid, tid);
  munmap(stack, kStack);
}

volatile pid_t g_handler_tid;

void TidHandler(int) { g_handler_tid = syscall(SYS_gettid); }

TEST(Threads, PthreadKillTargetsThread) {
  g_handler_tid = 0;
  ScopedSigaction sa(SIGUSR1, TidHandler);
  static std::atomic<pid_t> target_tid;
  static std::atomic<bool> done;
  target_tid = 0;
  done = false;
  pthread_t th;
  ASSERT_EQ(pthread_create(&th, nullptr,
                           [](void*) -> void* {
                             target_tid = Gettid();
                             while (g_handler_tid == 0) sched_yield();
                             return nullptr;
                           },
                           nullptr),
            0);
  while (target_tid.load() == 0) sched_yield();
  ASSERT_EQ(pthread_kill(th, SIGUSR1), 0);
  pthread_join(th, nullptr);
  EXPECT_EQ(g_handler_tid, target_tid.load());
  EXPECT_NE(g_handler_tid, Gettid());
}

// Where glibc keeps a thread's tid in its struct pthread (the word it
// passes to set_tid_address), found by looking for our tid near the start.
size_t MainTidOffset() {
  pid_t tid = Gettid();
  auto* p = reinterpret_cast<pid_t*>(pthread_self());
  for (size_t i = 0; i < 512; i++)
    if (p[i] == tid) return i * sizeof(pid_t);
  return 0;
}

TEST(Threads, MainThreadPthreadExit) {
  ASSERT_NE(MainTidOffset(), 0u);
  Pipe p;
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    static int wfd;
    wfd = p.w.get();
    static pthread_t main_thread;
    main_thread = pthread_self();
    pthread_t th;
    pthread_create(&th, nullptr,
                   [](void*) -> void* {
                     // Wait for the main thread's exit: the kernel clears
                     // its tid word (set_tid_address) and wakes the futex.
                     pid_t main_tid = getpid();
                     volatile pid_t* tidp = reinterpret_cast<volatile pid_t*>(
                         reinterpret_cast<char*>(main_thread) + MainTidOffset());
                     while (*tidp == main_tid)
                       syscall(SYS_futex, tidp, FUTEX_WAIT, main_tid, nullptr,
                               nullptr, 0);
                     char c = getpid() == Gettid() ? 'm' : 'o';
                     write(wfd, &c, 1);
                     exit(21);
                   },
                   nullptr);
    // pthread_exit would unwind through gtest's catch(...) and abort; the
    // system call is what matters: exit of the main thread only.
    syscall(SYS_exit, 0);
  }
  ASSERT_GT(child, 0);
  p.w.reset();
  char c = 0;
  EXPECT_EQ(read(p.r.get(), &c, 1), 1);
  EXPECT_EQ(c, 'o');
  int st = WaitStatus(child);
  EXPECT_EQ(st, 21 << 8) << DescribeStatus(st);
}

TEST(Threads, ExecveFromNonMainThread) {
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    static std::vector<std::string> v;
    v = HelperArgv("pid_is", {std::to_string(getpid())});
    pthread_t th;
    pthread_create(&th, nullptr,
                   [](void*) -> void* {
                     auto argv = CArgv(v);
                     execve(argv[0], argv.data(), environ);
                     _exit(127);
                   },
                   nullptr);
    // The exec kills this thread.
    for (;;) pause();
  }
  ASSERT_GT(child, 0);
  int st = WaitStatus(child);
  EXPECT_EQ(st, 0) << DescribeStatus(st) << " (3: pid changed, 4: tid != pid)";
}

TEST(Threads, ExitGroupFromThreadEndsProcess) {
  int st = InChild([] {
    pthread_t th;
    pthread_create(&th, nullptr, [](void*) -> void* { exit(13); }, nullptr);
    for (;;) pause();
    return 0;
  });
  EXPECT_EQ(st, 13 << 8) << DescribeStatus(st);
}

TEST(Threads, ProcessSharedSemaphoreAcrossFork) {
  sem_t* sems = static_cast<sem_t*>(mmap(nullptr, PageSize(),
                                         PROT_READ | PROT_WRITE,
                                         MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(sems, MAP_FAILED);
  ASSERT_EQ(sem_init(&sems[0], 1, 0), 0);
  ASSERT_EQ(sem_init(&sems[1], 1, 0), 0);
  constexpr int kRounds = 200;
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < kRounds; i++) {
      if (sem_wait(&sems[0]) != 0) _exit(2);
      sem_post(&sems[1]);
    }
    _exit(0);
  }
  ASSERT_GT(child, 0);
  for (int i = 0; i < kRounds; i++) {
    ASSERT_EQ(sem_post(&sems[0]), 0);
    ASSERT_EQ(sem_wait(&sems[1]), 0);
  }
  EXPECT_EQ(WaitStatus(child), 0);
  munmap(sems, PageSize());
}

TEST(Threads, ProcessSharedMutexAcrossFork) {
  struct Shared {
    pthread_mutex_t mu;
    long counter;
  };
  Shared* s = static_cast<Shared*>(mmap(nullptr, PageSize(),
                                        PROT_READ | PROT_WRITE,
                                        MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(s, MAP_FAILED);
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  ASSERT_EQ(pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED), 0);
  ASSERT_EQ(pthread_mutex_init(&s->mu, &attr), 0);
  s->counter = 0;
  constexpr int kIters = 5000;
  fflush(nullptr);
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < kIters; i++) {
      pthread_mutex_lock(&s->mu);
      long v = s->counter;
      if (i % 64 == 0) sched_yield();
      s->counter = v + 1;
      pthread_mutex_unlock(&s->mu);
    }
    _exit(0);
  }
  ASSERT_GT(child, 0);
  for (int i = 0; i < kIters; i++) {
    pthread_mutex_lock(&s->mu);
    long v = s->counter;
    if (i % 64 == 0) sched_yield();
    s->counter = v + 1;
    pthread_mutex_unlock(&s->mu);
  }
  EXPECT_EQ(WaitStatus(child), 0);
  EXPECT_EQ(s->counter, 2L * kIters);
  munmap(s, PageSize());
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
