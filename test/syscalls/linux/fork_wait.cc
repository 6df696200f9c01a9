// fork, vfork, posix_spawn, execve and the wait family: exit statuses and
// how they are decoded, waitid's siginfo, WNOHANG/WNOWAIT, waiting for one
// pid or a process group, execve errors and close-on-exec.
#include <signal.h>
#include <spawn.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include "proc_util.h"

extern char** environ;

namespace bz {
namespace {

// Helper: exits with argv[0].
BZ_HELPER(exit) { return argc > 0 ? atoi(argv[0]) : 0; }

// Helper: exits 0 if getpid() == argv[0] and getppid() == argv[1].
BZ_HELPER(ids) {
  if (argc < 2) return 2;
  if (getpid() != atoi(argv[0])) return 3;
  if (getppid() != atoi(argv[1])) return 4;
  return 0;
}

// Helper: argv is a list of "fd:open" or "fd:closed"; exits 0 if each fd
// is as described, else 10 + the index of the first that is not.
BZ_HELPER(fds) {
  for (int i = 0; i < argc; i++) {
    int fd = atoi(argv[i]);
    bool want_open = strstr(argv[i], ":open") != nullptr;
    errno = 0;
    int r = fcntl(fd, F_GETFD);
    bool open = r >= 0;
    if (open != want_open) return 10 + i;
    if (!open && errno != EBADF) return 50 + i;
  }
  return 0;
}

int Exited(int code) { return code << 8; }

TEST(Fork, ExitCodes) {
  for (int code : {0, 1, 42, 127, 255}) {
    int st = InChild([code] { return code; });
    ASSERT_TRUE(WIFEXITED(st)) << DescribeStatus(st);
    EXPECT_EQ(WEXITSTATUS(st), code);
    EXPECT_FALSE(WIFSIGNALED(st));
    EXPECT_FALSE(WIFSTOPPED(st));
    EXPECT_EQ(st, Exited(code));
  }
  // Only the low 8 bits of the exit code are kept.
  int st = InChild([] { return 256 + 3; });
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 3) << DescribeStatus(st);
  // exit_group directly.
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) syscall(SYS_exit_group, 9);
  EXPECT_EQ(WaitStatus(pid), Exited(9));
}

TEST(Fork, ChildSeesParentPidAndOwnPid) {
  pid_t parent = getpid();
  Pipe p;
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    pid_t me = getpid();
    bool ok = getppid() == parent && me != parent;
    ok = ok && syscall(SYS_getpid) == me && syscall(SYS_gettid) == me;
    write(p.w.get(), &me, sizeof(me));
    _exit(ok ? 0 : 1);
  }
  ASSERT_GT(pid, 0);
  pid_t reported = 0;
  ASSERT_EQ(read(p.r.get(), &reported, sizeof(reported)),
            (ssize_t)sizeof(reported));
  EXPECT_EQ(reported, pid);
  EXPECT_EQ(WaitStatus(pid), 0);
}

TEST(Fork, MemoryIsCopied) {
  static int value = 1;
  volatile int* v = &value;
  int st = InChild([v] {
    *v = 2;
    return *v == 2 ? 0 : 1;
  });
  EXPECT_EQ(st, 0);
  EXPECT_EQ(*v, 1);
}

TEST(Wait, KilledBySignal) {
  for (int sig : {SIGKILL, SIGTERM, SIGUSR1, SIGINT}) {
    // The child inherits the dispositions and mask: a runner started in the
    // background of a shell ignores SIGINT, and an ignored signal would
    // leave the child blocked forever.
    if (sig != SIGKILL) {
      ASSERT_NE(signal(sig, SIG_DFL), SIG_ERR);
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, sig);
      ASSERT_EQ(sigprocmask(SIG_UNBLOCK, &set, nullptr), 0);
    }
    Pipe p;
    fflush(nullptr);
    pid_t pid = fork();
    if (pid == 0) {
      char c;
      read(p.r.get(), &c, 1);  // blocks: nobody writes
      _exit(0);
    }
    ASSERT_GT(pid, 0);
    ASSERT_EQ(kill(pid, sig), 0);
    int st = WaitStatus(pid);
    ASSERT_TRUE(WIFSIGNALED(st)) << DescribeStatus(st);
    EXPECT_EQ(WTERMSIG(st), sig);
    EXPECT_FALSE(WCOREDUMP(st));
    EXPECT_FALSE(WIFEXITED(st));
    EXPECT_EQ(st, sig);
  }
}

TEST(Wait, SelfSignalDeath) {
  int st = InChild([] {
    raise(SIGTERM);
    return 1;
  });
  EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM) << DescribeStatus(st);
}

// A core-dumping signal with no dump possible (not dumpable, RLIMIT_CORE 0):
// Linux reports the signal without the core flag.
TEST(Wait, CoreSignalsWithoutDump) {
  for (int sig : {SIGSEGV, SIGABRT, SIGQUIT}) {
    int st = InChild([sig] {
      struct rlimit rl = {0, 0};
      setrlimit(RLIMIT_CORE, &rl);
      prctl(PR_SET_DUMPABLE, 0);
      if (sig == SIGSEGV) {
        *reinterpret_cast<volatile int*>(BadPointer()) = 1;
      } else if (sig == SIGABRT) {
        abort();
      } else {
        kill(getpid(), sig);
      }
      return 1;
    });
    ASSERT_TRUE(WIFSIGNALED(st)) << sig << ": " << DescribeStatus(st);
    EXPECT_EQ(WTERMSIG(st), sig);
    EXPECT_FALSE(WCOREDUMP(st)) << sig;
  }
}

// With RLIMIT_CORE 0 but the process dumpable, whether the core flag is set
// depends on /proc/sys/kernel/core_pattern; what does not depend on it is
// that the signal is reported.
TEST(Wait, SegvWithRlimitCoreZero) {
  int st = InChild([] {
    struct rlimit rl = {0, 0};
    setrlimit(RLIMIT_CORE, &rl);
    *reinterpret_cast<volatile int*>(BadPointer()) = 1;
    return 1;
  });
  ASSERT_TRUE(WIFSIGNALED(st)) << DescribeStatus(st);
  EXPECT_EQ(WTERMSIG(st), SIGSEGV);
}

TEST(Wait, Wait4NoChildrenIsECHILD) {
  int st;
  EXPECT_ERRNO(ECHILD, wait4(-1, &st, 0, nullptr));
  EXPECT_ERRNO(ECHILD, wait4(-1, &st, WNOHANG, nullptr));
  EXPECT_ERRNO(ECHILD, waitpid(getpid(), &st, 0));
  EXPECT_ERRNO(ECHILD, waitpid(1, &st, 0));
  siginfo_t si;
  EXPECT_ERRNO(ECHILD, waitid(P_ALL, 0, &si, WEXITED));
}

TEST(Wait, InvalidOptions) {
  int st;
  EXPECT_ERRNO(EINVAL, wait4(-1, &st, 0x100, nullptr));
  siginfo_t si;
  // waitid needs at least one of WEXITED, WSTOPPED, WCONTINUED.
  EXPECT_ERRNO(EINVAL, waitid(P_ALL, 0, &si, WNOHANG));
  EXPECT_ERRNO(EINVAL, waitid((idtype_t)42, 0, &si, WEXITED));
}

TEST(Wait, WnohangWhileChildRuns) {
  Pipe p;
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    ssize_t n = read(p.r.get(), &c, 1);
    _exit(n == 1 && c == 'x' ? 5 : 6);
  }
  ASSERT_GT(pid, 0);
  int st = 12345;
  EXPECT_EQ(waitpid(pid, &st, WNOHANG), 0);
  EXPECT_EQ(waitpid(-1, &st, WNOHANG), 0);
  EXPECT_EQ(wait4(-1, &st, WNOHANG, nullptr), 0);
  siginfo_t si = {};
  si.si_pid = 777;
  EXPECT_EQ(waitid(P_PID, pid, &si, WEXITED | WNOHANG), 0);
  EXPECT_EQ(si.si_pid, 0);
  ASSERT_EQ(write(p.w.get(), "x", 1), 1);
  EXPECT_EQ(WaitStatus(pid), Exited(5));
}

TEST(Wait, WaitidExitedSiginfo) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(33);
  ASSERT_GT(pid, 0);
  siginfo_t si = {};
  ASSERT_EQ(waitid(P_PID, pid, &si, WEXITED), 0) << strerror(errno);
  EXPECT_EQ(si.si_signo, SIGCHLD);
  EXPECT_EQ(si.si_code, CLD_EXITED);
  EXPECT_EQ(si.si_pid, pid);
  EXPECT_EQ(si.si_status, 33);
  EXPECT_EQ(si.si_uid, getuid());
  EXPECT_ERRNO(ECHILD, waitpid(pid, nullptr, WNOHANG));
}

TEST(Wait, WaitidKilledSiginfo) {
  Pipe p;
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    char c;
    read(p.r.get(), &c, 1);
    _exit(0);
  }
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  siginfo_t si = {};
  ASSERT_EQ(waitid(P_ALL, 0, &si, WEXITED), 0) << strerror(errno);
  EXPECT_EQ(si.si_signo, SIGCHLD);
  EXPECT_EQ(si.si_code, CLD_KILLED);
  EXPECT_EQ(si.si_pid, pid);
  EXPECT_EQ(si.si_status, SIGKILL);
}

TEST(Wait, WnowaitLeavesChildWaitable) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(17);
  ASSERT_GT(pid, 0);
  siginfo_t si = {};
  ASSERT_EQ(waitid(P_PID, pid, &si, WEXITED | WNOWAIT), 0) << strerror(errno);
  EXPECT_EQ(si.si_pid, pid);
  EXPECT_EQ(si.si_status, 17);
  si = {};
  ASSERT_EQ(waitid(P_ALL, 0, &si, WEXITED | WNOWAIT | WNOHANG), 0);
  EXPECT_EQ(si.si_pid, pid);
  EXPECT_EQ(WaitStatus(pid), Exited(17));
  EXPECT_ERRNO(ECHILD, waitpid(-1, nullptr, WNOHANG));
}

TEST(Wait, SpecificPidFirst) {
  Pipe gate;
  pid_t pids[3];
  fflush(nullptr);
  for (int i = 0; i < 3; i++) {
    pids[i] = fork();
    if (pids[i] == 0) {
      gate.w.reset();
      if (i != 1) {
        char c;
        read(gate.r.get(), &c, 1);  // EOF once the parent closes its end
      }
      _exit(20 + i);
    }
    ASSERT_GT(pids[i], 0);
  }
  // Only the middle one can exit now; waiting for it by pid returns it.
  EXPECT_EQ(WaitStatus(pids[1]), Exited(21));
  int st;
  EXPECT_EQ(waitpid(pids[0], &st, WNOHANG), 0);
  gate.w.reset();
  EXPECT_EQ(WaitStatus(pids[2]), Exited(22));
  EXPECT_EQ(WaitStatus(pids[0]), Exited(20));
}

TEST(Wait, ProcessGroup) {
  Pipe gate;
  Pipe ready;
  fflush(nullptr);
  pid_t leader = fork();
  if (leader == 0) {
    gate.w.reset();
    setpgid(0, 0);
    write(ready.w.get(), "r", 1);
    char c;
    read(gate.r.get(), &c, 1);
    _exit(getpgrp() == getpid() ? 3 : 4);
  }
  ASSERT_GT(leader, 0);
  // Set it from both sides, so it holds whichever runs first.
  setpgid(leader, leader);
  char c;
  ASSERT_EQ(read(ready.r.get(), &c, 1), 1);
  EXPECT_EQ(getpgid(leader), leader);
  // A second child in the same new group.
  pid_t member = fork();
  if (member == 0) {
    gate.w.reset();
    char c2;
    read(gate.r.get(), &c2, 1);
    _exit(getpgrp() == leader ? 5 : 6);
  }
  ASSERT_GT(member, 0);
  ASSERT_EQ(setpgid(member, leader), 0) << strerror(errno);
  EXPECT_EQ(getpgid(member), leader);
  EXPECT_NE(getpgid(0), leader);
  // A child outside the group is not picked by waitpid(-pgid).
  pid_t outsider = fork();
  if (outsider == 0) _exit(7);
  ASSERT_GT(outsider, 0);
  int st;
  EXPECT_EQ(waitpid(-leader, &st, WNOHANG), 0);
  // waitpid(0) waits for our own group: the outsider.
  EXPECT_EQ(waitpid(0, &st, 0), outsider);
  EXPECT_EQ(st, Exited(7));
  gate.w.reset();
  int got = 0;
  for (int i = 0; i < 2; i++) {
    pid_t p = waitpid(-leader, &st, 0);
    if (p == leader) {
      EXPECT_EQ(st, Exited(3));
      got |= 1;
    } else if (p == member) {
      EXPECT_EQ(st, Exited(5));
      got |= 2;
    } else {
      ADD_FAILURE() << "waitpid(-pgid) returned " << p << ": " << strerror(errno);
    }
  }
  EXPECT_EQ(got, 3);
  EXPECT_ERRNO(ECHILD, waitpid(-leader, &st, WNOHANG));
}

TEST(Wait, SetpgidErrors) {
  EXPECT_ERRNO(EINVAL, setpgid(0, -1));
  EXPECT_ERRNO(ESRCH, setpgid(999999, 0));
  EXPECT_EQ(getpgid(0), getpgrp());
  EXPECT_ERRNO(ESRCH, getpgid(999999));
}

TEST(Vfork, ExitSharesMemoryAndSuspendsParent) {
  static volatile int shared = 0;
  fflush(nullptr);
  pid_t pid = vfork();
  if (pid == 0) {
    shared = 42;  // the parent's memory: vfork shares it
    _exit(11);
  }
  ASSERT_GT(pid, 0);
  // The parent resumes only after the child has exited or exec'd.
  EXPECT_EQ(shared, 42);
  EXPECT_EQ(WaitStatus(pid), Exited(11));
}

TEST(Vfork, Execve) {
  auto v = HelperArgv("exit", {"23"});
  auto argv = CArgv(v);
  fflush(nullptr);
  pid_t pid = vfork();
  if (pid == 0) {
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitStatus(pid), Exited(23));
}

TEST(Exec, KeepsPidAndParent) {
  pid_t parent = getpid();
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    auto v = HelperArgv("ids", {std::to_string(getpid()), std::to_string(parent)});
    auto argv = CArgv(v);
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  EXPECT_EQ(WaitStatus(pid), 0);
}

TEST(Exec, BinTrue) {
  int st = InChild([] {
    char* argv[] = {const_cast<char*>("true"), nullptr};
    execve("/bin/true", argv, environ);
    return 127;
  });
  EXPECT_EQ(st, 0) << DescribeStatus(st);
}

TEST(Exec, Errors) {
  // Each in a child: if execve wrongly succeeded it must not replace the test.
  struct Case {
    const char* path;
    int err;
  } cases[] = {
      {"/nonexistent/bz-no-such-program", ENOENT},
      {"/etc/passwd", EACCES},  // a regular file with no x bit
      {"/", EACCES},            // a directory
      {"/etc/passwd/x", ENOTDIR},
      {"", ENOENT},
  };
  for (const Case& c : cases) {
    int st = InChild([&c] {
      char* argv[] = {const_cast<char*>("x"), nullptr};
      execve(c.path, argv, environ);
      return errno;
    });
    ASSERT_TRUE(WIFEXITED(st)) << c.path << ": " << DescribeStatus(st);
    EXPECT_EQ(WEXITSTATUS(st), c.err)
        << c.path << ": got " << strerror(WEXITSTATUS(st)) << ", want "
        << strerror(c.err);
  }
  int st = InChild([] {
    char* argv[] = {const_cast<char*>("x"), nullptr};
    execve(static_cast<const char*>(BadPointer()), argv, environ);
    return errno;
  });
  EXPECT_EQ(st, Exited(EFAULT)) << DescribeStatus(st);
}

TEST(Exec, CloseOnExec) {
  int keep[2], drop[2];
  ASSERT_OK(pipe2(keep, 0));
  ASSERT_OK(pipe2(drop, O_CLOEXEC));
  int dupped = fcntl(keep[0], F_DUPFD_CLOEXEC, 50);
  ASSERT_GE(dupped, 50);
  int set_later = dup(keep[1]);
  ASSERT_OK(fcntl(set_later, F_SETFD, FD_CLOEXEC));
  auto arg = [](int fd, bool open) {
    return std::to_string(fd) + (open ? ":open" : ":closed");
  };
  auto v = HelperArgv("fds", {arg(keep[0], true), arg(keep[1], true),
                              arg(drop[0], false), arg(drop[1], false),
                              arg(dupped, false), arg(set_later, false)});
  auto argv = CArgv(v);
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    execve(argv[0], argv.data(), environ);
    _exit(127);
  }
  ASSERT_GT(pid, 0);
  int st = WaitStatus(pid);
  EXPECT_EQ(st, 0) << DescribeStatus(st)
                   << " (exit 10+i: argument i was not as expected)";
  for (int fd : {keep[0], keep[1], drop[0], drop[1], dupped, set_later})
    close(fd);
}

TEST(Spawn, BinTrueAndSelf) {
  pid_t pid;
  char* targv[] = {const_cast<char*>("true"), nullptr};
  ASSERT_EQ(posix_spawn(&pid, "/bin/true", nullptr, nullptr, targv, environ), 0);
  EXPECT_EQ(WaitStatus(pid), 0);
  auto v = HelperArgv("exit", {"44"});
  auto argv = CArgv(v);
  ASSERT_EQ(posix_spawn(&pid, argv[0], nullptr, nullptr, argv.data(), environ), 0);
  EXPECT_EQ(WaitStatus(pid), Exited(44));
  // A missing program: glibc reports the exec error from posix_spawn itself.
  EXPECT_EQ(posix_spawn(&pid, "/nonexistent/bz", nullptr, nullptr, targv, environ),
            ENOENT);
}

TEST(Spawn, FileActions) {
  Pipe p;
  posix_spawn_file_actions_t fa;
  ASSERT_EQ(posix_spawn_file_actions_init(&fa), 0);
  // The child's stdout is the pipe; /bin/echo writes into it.
  ASSERT_EQ(posix_spawn_file_actions_adddup2(&fa, p.w.get(), 1), 0);
  char* argv[] = {const_cast<char*>("echo"), const_cast<char*>("spawned"), nullptr};
  pid_t pid;
  ASSERT_EQ(posix_spawn(&pid, "/bin/echo", &fa, nullptr, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  p.w.reset();
  EXPECT_EQ(WaitStatus(pid), 0);
  char buf[64] = {};
  ssize_t n = read(p.r.get(), buf, sizeof(buf) - 1);
  EXPECT_EQ(std::string(buf, n > 0 ? n : 0), "spawned\n");
}

TEST(Fork, ManyChildren) {
  constexpr int kN = 50;
  pid_t pids[kN];
  fflush(nullptr);
  for (int i = 0; i < kN; i++) {
    pids[i] = fork();
    if (pids[i] == 0) _exit(i);
    ASSERT_GT(pids[i], 0) << strerror(errno);
  }
  int seen = 0;
  for (int i = 0; i < kN; i++) {
    int st;
    pid_t p = wait(&st);
    ASSERT_GT(p, 0) << strerror(errno);
    for (int j = 0; j < kN; j++) {
      if (pids[j] == p) {
        EXPECT_EQ(st, Exited(j));
        seen++;
      }
    }
  }
  EXPECT_EQ(seen, kN);
  EXPECT_ERRNO(ECHILD, wait(nullptr));
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
