// Helpers for tests that fork, exec and wait: a main() that can re-execute
// the test binary in a helper mode (no /proc needed: argv[0] is the binary's
// path, the runner always gives an absolute one), child-process runners that
// turn a child's verdict into an exit code, and pipes.
//
// A file that includes this header and uses BZ_HELPER_MAIN() defines its own
// main(); the linker then leaves gtest_main's out.
#ifndef BUFFERZONE_TEST_SYSCALLS_LINUX_PROC_UTIL_H_
#define BUFFERZONE_TEST_SYSCALLS_LINUX_PROC_UTIL_H_

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "test_util.h"

namespace bz {

// The path of the running test binary (argv[0] of main).
inline std::string& SelfPath() {
  static std::string p;
  return p;
}

// A helper mode: given the arguments after "--bz-helper NAME", it returns
// the exit code of the helper process.
using Helper = int (*)(int argc, char** argv);

inline std::map<std::string, Helper>& Helpers() {
  static std::map<std::string, Helper> m;
  return m;
}

struct RegisterHelper {
  RegisterHelper(const char* name, Helper h) { Helpers()[name] = h; }
};

#define BZ_HELPER(name)                                               \
  static int BzHelper_##name(int argc, char** argv);                  \
  static ::bz::RegisterHelper bz_register_helper_##name(#name,        \
                                                        BzHelper_##name); \
  static int BzHelper_##name(int argc, char** argv)

// Runs a helper if argv asks for one, otherwise the tests.
#define BZ_HELPER_MAIN()                                                   \
  int main(int argc, char** argv) {                                        \
    ::bz::SelfPath() = argv[0];                                            \
    if (argc >= 3 && strcmp(argv[1], "--bz-helper") == 0) {                \
      auto it = ::bz::Helpers().find(argv[2]);                             \
      if (it == ::bz::Helpers().end()) return 125;                         \
      return it->second(argc - 3, argv + 3);                               \
    }                                                                      \
    testing::InitGoogleTest(&argc, argv);                                  \
    return RUN_ALL_TESTS();                                                \
  }

// The argv (owned strings) that runs helper name with args.
inline std::vector<std::string> HelperArgv(const std::string& name,
                                           std::vector<std::string> args = {}) {
  std::vector<std::string> v = {SelfPath(), "--bz-helper", name};
  v.insert(v.end(), args.begin(), args.end());
  return v;
}

// A NULL-terminated char* view of v, valid while v lives.
inline std::vector<char*> CArgv(std::vector<std::string>& v) {
  std::vector<char*> c;
  for (auto& s : v) c.push_back(&s[0]);
  c.push_back(nullptr);
  return c;
}

// Waits for pid and returns its raw wait status, failing the test (and
// returning -1) if waitpid fails.
inline int WaitStatus(pid_t pid, int options = 0) {
  int status = 0;
  pid_t got;
  do {
    got = waitpid(pid, &status, options);
  } while (got < 0 && errno == EINTR);
  EXPECT_EQ(got, pid) << "waitpid: " << strerror(errno);
  return got == pid ? status : -1;
}

// Describes a wait status the way a shell would.
inline std::string DescribeStatus(int s) {
  if (s == -1) return "waitpid failed";
  if (WIFEXITED(s)) return "exited " + std::to_string(WEXITSTATUS(s));
  if (WIFSIGNALED(s))
    return std::string("killed by ") + strsignal(WTERMSIG(s)) +
           (WCOREDUMP(s) ? " (core)" : "");
  if (WIFSTOPPED(s)) return std::string("stopped by ") + strsignal(WSTOPSIG(s));
  return "status " + std::to_string(s);
}

// Runs fn in a forked child; the child exits with fn's return value (or 99
// if fn returns nothing useful). Returns the raw wait status.
inline int InChild(const std::function<int()>& fn) {
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  EXPECT_GT(pid, 0) << "fork: " << strerror(errno);
  if (pid < 0) return -1;
  return WaitStatus(pid);
}

// Expects that fn, run in a child, returns 0. A child's non-zero code names
// which of its checks failed (line % 255 + 1, see CHILD_CHECK).
#define EXPECT_CHILD_OK(fn)                                                  \
  do {                                                                       \
    int bz_st_ = ::bz::InChild(fn);                                          \
    EXPECT_TRUE(WIFEXITED(bz_st_) && WEXITSTATUS(bz_st_) == 0)               \
        << "child: " << ::bz::DescribeStatus(bz_st_)                         \
        << " (a non-zero exit is the failed CHILD_CHECK's line % 255 + 1)";  \
  } while (0)

// In a child: returns line % 255 + 1 (never 0) if cond is false.
#define CHILD_CHECK(cond)                                          \
  do {                                                             \
    if (!(cond)) return (__LINE__ % 255) + 1;                      \
  } while (0)

// A pipe whose ends close when it goes out of scope.
struct Pipe {
  FD r, w;
  explicit Pipe(int flags = 0) {
    int fds[2];
    EXPECT_EQ(pipe2(fds, flags), 0) << strerror(errno);
    r.reset(fds[0]);
    w.reset(fds[1]);
  }
};

// Restores a signal's disposition when it goes out of scope.
class ScopedSigaction {
 public:
  explicit ScopedSigaction(int sig) : sig_(sig) { sigaction(sig, nullptr, &old_); }
  ScopedSigaction(int sig, const struct sigaction& sa) : sig_(sig) {
    EXPECT_EQ(sigaction(sig, &sa, &old_), 0) << strerror(errno);
  }
  ScopedSigaction(int sig, void (*handler)(int), int flags = 0) : sig_(sig) {
    struct sigaction sa = {};
    sa.sa_handler = handler;
    sa.sa_flags = flags;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(sigaction(sig, &sa, &old_), 0) << strerror(errno);
  }
  ScopedSigaction(int sig, void (*action)(int, siginfo_t*, void*), int flags)
      : sig_(sig) {
    struct sigaction sa = {};
    sa.sa_sigaction = action;
    sa.sa_flags = flags | SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    EXPECT_EQ(sigaction(sig, &sa, &old_), 0) << strerror(errno);
  }
  ~ScopedSigaction() { sigaction(sig_, &old_, nullptr); }

 private:
  int sig_;
  struct sigaction old_;
};

// Restores the signal mask when it goes out of scope.
class ScopedMask {
 public:
  ScopedMask() { sigprocmask(SIG_SETMASK, nullptr, &old_); }
  // Blocks sigs (added to the current mask).
  explicit ScopedMask(std::initializer_list<int> sigs) {
    sigset_t s;
    sigemptyset(&s);
    for (int sig : sigs) sigaddset(&s, sig);
    sigprocmask(SIG_BLOCK, &s, &old_);
  }
  ~ScopedMask() { sigprocmask(SIG_SETMASK, &old_, nullptr); }

 private:
  sigset_t old_;
};

}  // namespace bz

#endif  // BUFFERZONE_TEST_SYSCALLS_LINUX_PROC_UTIL_H_
