// ETXTBSY: a file a program runs from cannot be opened for writing or
// truncated, and a file open for writing cannot be executed.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

// CopyProgram copies /bin/sleep to a new executable file and returns its
// path ("" and a test failure on error).
std::string CopyProgram() {
  std::string data = ReadAll("/bin/sleep");
  EXPECT_GT(data.size(), 0u);
  char path[] = "/tmp/txtbsy-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0) << strerror(errno);
  if (fd < 0) return "";
  FD f(fd);
  EXPECT_EQ(write(f.get(), data.data(), data.size()), static_cast<ssize_t>(data.size()));
  EXPECT_EQ(fchmod(f.get(), 0755), 0) << strerror(errno);
  return path;
}

// RunSleeper starts path as "sleep 100" in a child and returns once the
// child runs it (its /proc/PID/exe names it).
pid_t RunSleeper(const std::string& path) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) return -1;
  pid_t pid = fork();
  if (pid == 0) {
    execl(path.c_str(), "sleep", "100", nullptr);
    char e = static_cast<char>(errno);
    (void)!write(p[1], &e, 1);
    _exit(127);
  }
  close(p[1]);
  char e;
  // The pipe closes on a successful exec (O_CLOEXEC) or carries errno.
  ssize_t n = read(p[0], &e, 1);
  close(p[0]);
  if (n != 0) {
    errno = n == 1 ? e : EIO;
    waitpid(pid, nullptr, 0);
    return -1;
  }
  return pid;
}

void Reap(pid_t pid) {
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
}

TEST(Txtbsy, RunningProgramCannotBeWritten) {
  EXPECT_ERRNO(ETXTBSY, open("/proc/self/exe", O_WRONLY));
  EXPECT_ERRNO(ETXTBSY, open("/proc/self/exe", O_RDWR));
  struct stat st;
  ASSERT_OK(stat("/proc/self/exe", &st));
  // Truncating to its own size would change nothing, but is refused.
  EXPECT_ERRNO(ETXTBSY, truncate("/proc/self/exe", st.st_size));
  // Reading is fine.
  FD r(open("/proc/self/exe", O_RDONLY));
  EXPECT_OK(r.get());
}

TEST(Txtbsy, DeniedWhileAChildRunsIt) {
  std::string path = CopyProgram();
  ASSERT_NE(path, "");
  pid_t pid = RunSleeper(path);
  ASSERT_GT(pid, 0) << strerror(errno);
  EXPECT_ERRNO(ETXTBSY, open(path.c_str(), O_WRONLY));
  EXPECT_ERRNO(ETXTBSY, open(path.c_str(), O_RDONLY | O_TRUNC));
  Reap(pid);
  // Once the program is gone, the file can be written again.
  FD w(open(path.c_str(), O_WRONLY));
  EXPECT_OK(w.get());
  unlink(path.c_str());
}

TEST(Txtbsy, FileOpenForWritingCannotBeExecuted) {
  std::string path = CopyProgram();
  ASSERT_NE(path, "");
  {
    FD w(open(path.c_str(), O_WRONLY));
    ASSERT_OK(w.get());
    EXPECT_EQ(RunSleeper(path), -1);
    EXPECT_EQ(errno, ETXTBSY);
  }
  // Closed: it runs.
  pid_t pid = RunSleeper(path);
  EXPECT_GT(pid, 0) << strerror(errno);
  if (pid > 0) Reap(pid);
  unlink(path.c_str());
}

TEST(Txtbsy, EveryRunningCopyDenies) {
  std::string path = CopyProgram();
  ASSERT_NE(path, "");
  pid_t a = RunSleeper(path);
  ASSERT_GT(a, 0) << strerror(errno);
  pid_t b = RunSleeper(path);
  ASSERT_GT(b, 0) << strerror(errno);
  Reap(a);
  EXPECT_ERRNO(ETXTBSY, open(path.c_str(), O_WRONLY));
  Reap(b);
  FD w(open(path.c_str(), O_WRONLY));
  EXPECT_OK(w.get());
  unlink(path.c_str());
}

}  // namespace
}  // namespace bz
