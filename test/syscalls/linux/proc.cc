// /proc as seen by the calling process: self and thread-self, the stat,
// status, maps, cmdline and fd views of itself, fdinfo, comm and
// oom_score_adj writes, and the sysctl values that must agree with uname.
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <set>
#include <string>

#include "test_util.h"

namespace bz {
namespace {

// ReadWhole reads a file in chunks of `chunk` bytes from one open file.
std::string ReadWhole(const std::string& path, size_t chunk = 4096) {
  FD fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    ADD_FAILURE() << "open " << path << ": " << strerror(errno);
    return "";
  }
  std::string out;
  std::string buf(chunk, '\0');
  for (;;) {
    ssize_t n = read(fd.get(), &buf[0], chunk);
    if (n < 0) {
      ADD_FAILURE() << "read " << path << ": " << strerror(errno);
      break;
    }
    if (n == 0) break;
    out.append(buf.data(), n);
  }
  return out;
}

std::string Readlink(const std::string& path) {
  char buf[PATH_MAX];
  ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
  if (n < 0) return "";
  return std::string(buf, n);
}

TEST(Proc, SelfLinksToPid) {
  EXPECT_EQ(Readlink("/proc/self"), std::to_string(getpid()));
}

TEST(Proc, ThreadSelfLinksToTask) {
  EXPECT_EQ(Readlink("/proc/thread-self"),
            std::to_string(getpid()) + "/task/" + std::to_string(syscall(SYS_gettid)));
}

TEST(Proc, SelfStatPidIsGetpid) {
  std::string stat = ReadWhole("/proc/self/stat");
  ASSERT_FALSE(stat.empty());
  EXPECT_EQ(stat.substr(0, stat.find(' ')), std::to_string(getpid()));
  // The command is in parentheses; the state follows it.
  size_t close = stat.rfind(')');
  ASSERT_NE(close, std::string::npos);
  ASSERT_GT(stat.size(), close + 2);
  EXPECT_EQ(stat[close + 2], 'R') << stat;
  // ppid is field 4.
  std::string rest = stat.substr(close + 4);
  EXPECT_EQ(rest.substr(0, rest.find(' ')), std::to_string(getppid()));
}

TEST(Proc, SelfStatusHasPid) {
  std::string status = ReadWhole("/proc/self/status");
  EXPECT_NE(status.find("\nPid:\t" + std::to_string(getpid()) + "\n"), std::string::npos) << status;
  EXPECT_NE(status.find("\nPPid:\t" + std::to_string(getppid()) + "\n"), std::string::npos);
  EXPECT_NE(status.find("\nUid:\t" + std::to_string(getuid()) + "\t"), std::string::npos);
  EXPECT_EQ(status.find("Name:\t"), 0u);
}

TEST(Proc, SmallReadsSeeOneSnapshot) {
  std::string status = ReadWhole("/proc/self/status", 7);
  ASSERT_FALSE(status.empty());
  EXPECT_EQ(status.back(), '\n');
  EXPECT_NE(status.find("\nPid:\t" + std::to_string(getpid()) + "\n"), std::string::npos);
  EXPECT_NE(status.find("\nSigBlk:\t"), std::string::npos);
}

TEST(Proc, SelfExeIsTheProgram) {
  std::string exe = Readlink("/proc/self/exe");
  ASSERT_FALSE(exe.empty()) << strerror(errno);
  EXPECT_EQ(exe[0], '/');
  struct stat viaLink, direct;
  ASSERT_OK(stat("/proc/self/exe", &viaLink));
  ASSERT_OK(stat(exe.c_str(), &direct));
  EXPECT_EQ(viaLink.st_ino, direct.st_ino);
  EXPECT_EQ(viaLink.st_dev, direct.st_dev);
}

TEST(Proc, SelfFdListsStdio) {
  DIR* d = opendir("/proc/self/fd");
  ASSERT_NE(d, nullptr) << strerror(errno);
  std::set<std::string> names;
  while (struct dirent* e = readdir(d)) names.insert(e->d_name);
  std::string own = std::to_string(dirfd(d));
  closedir(d);
  for (const char* want : {".", "..", "0", "1", "2"}) {
    EXPECT_TRUE(names.count(want)) << want;
  }
  EXPECT_TRUE(names.count(own)) << "the directory's own fd " << own;
}

TEST(Proc, FdLinkNamesTheFile) {
  FD fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSERT_GE(fd.get(), 0);
  EXPECT_EQ(Readlink("/proc/self/fd/" + std::to_string(fd.get())), "/dev/null");
  struct stat st;
  EXPECT_ERRNO(ENOENT, lstat("/proc/self/fd/100000", &st));
}

TEST(Proc, FdinfoHasFlags) {
  FD fd(open("/dev/null", O_WRONLY | O_CLOEXEC));
  ASSERT_GE(fd.get(), 0);
  std::string info = ReadWhole("/proc/self/fdinfo/" + std::to_string(fd.get()));
  EXPECT_EQ(info.find("pos:\t0\n"), 0u) << info;
  size_t at = info.find("flags:\t");
  ASSERT_NE(at, std::string::npos) << info;
  unsigned long flags = strtoul(info.c_str() + at + 7, nullptr, 8);
  EXPECT_EQ(flags & O_ACCMODE, static_cast<unsigned long>(O_WRONLY)) << info;
  EXPECT_TRUE(flags & O_CLOEXEC) << info;
  EXPECT_NE(info.find("\nmnt_id:\t"), std::string::npos);
}

TEST(Proc, SelfMapsHasStack) {
  std::string maps = ReadWhole("/proc/self/maps");
  EXPECT_NE(maps.find(" [stack]\n"), std::string::npos) << maps;
  // Every line starts with "start-end perms ".
  size_t line = 0;
  while (line < maps.size()) {
    size_t end = maps.find('\n', line);
    ASSERT_NE(end, std::string::npos);
    std::string l = maps.substr(line, end - line);
    size_t dash = l.find('-'), sp = l.find(' ');
    EXPECT_TRUE(dash != std::string::npos && dash < sp) << l;
    EXPECT_EQ(l.size() > sp + 5 && (l[sp + 4] == 'p' || l[sp + 4] == 's'), true) << l;
    line = end + 1;
  }
}

TEST(Proc, CmdlineIsNulSeparated) {
  std::string cmdline = ReadWhole("/proc/self/cmdline");
  ASSERT_FALSE(cmdline.empty());
  EXPECT_EQ(cmdline.back(), '\0');
  EXPECT_NE(cmdline[0], '\0');
}

TEST(Proc, CommWriteSetsName) {
  std::string old = ReadWhole("/proc/self/comm");
  ASSERT_FALSE(old.empty());
  {
    FD fd(open("/proc/self/comm", O_WRONLY | O_CLOEXEC));
    ASSERT_GE(fd.get(), 0) << strerror(errno);
    ASSERT_EQ(write(fd.get(), "bz-proc-test", 12), 12);
  }
  EXPECT_EQ(ReadWhole("/proc/self/comm"), "bz-proc-test\n");
  FD fd(open("/proc/self/comm", O_WRONLY | O_CLOEXEC));
  ASSERT_GE(fd.get(), 0);
  ASSERT_EQ(write(fd.get(), old.data(), old.size() - 1), static_cast<ssize_t>(old.size() - 1));
}

TEST(Proc, OomScoreAdjRange) {
  std::string old = ReadWhole("/proc/self/oom_score_adj");
  ASSERT_FALSE(old.empty());
  FD fd(open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC));
  ASSERT_GE(fd.get(), 0) << strerror(errno);
  EXPECT_ERRNO(EINVAL, write(fd.get(), "2000", 4));
  std::string higher = std::to_string(atoi(old.c_str()) + 1);
  EXPECT_EQ(write(fd.get(), higher.data(), higher.size()), static_cast<ssize_t>(higher.size()));
  EXPECT_EQ(ReadWhole("/proc/self/oom_score_adj"), higher + "\n");
}

TEST(Proc, OsreleaseIsUname) {
  struct utsname u;
  ASSERT_OK(uname(&u));
  EXPECT_EQ(ReadWhole("/proc/sys/kernel/osrelease"), std::string(u.release) + "\n");
  EXPECT_EQ(ReadWhole("/proc/sys/kernel/ostype"), "Linux\n");
  std::string version = ReadWhole("/proc/version");
  EXPECT_EQ(version.find("Linux version " + std::string(u.release) + " "), 0u) << version;
}

TEST(Proc, SystemFilesHaveTheirKeys) {
  EXPECT_NE(ReadWhole("/proc/meminfo").find("MemTotal:"), std::string::npos);
  EXPECT_NE(ReadWhole("/proc/cpuinfo").find("processor\t: 0\n"), std::string::npos);
  EXPECT_NE(ReadWhole("/proc/stat").find("\nbtime "), std::string::npos);
  EXPECT_EQ(ReadWhole("/sys/devices/system/cpu/online").substr(0, 1), "0");
}

TEST(Proc, DirectoryListsSelf) {
  DIR* d = opendir("/proc");
  ASSERT_NE(d, nullptr);
  bool self = false, pid = false;
  std::string me = std::to_string(getpid());
  while (struct dirent* e = readdir(d)) {
    if (std::string(e->d_name) == "self") self = true;
    if (e->d_name == me) {
      pid = true;
      EXPECT_EQ(e->d_type, DT_DIR);
    }
  }
  closedir(d);
  EXPECT_TRUE(self);
  EXPECT_TRUE(pid);
}

}  // namespace
}  // namespace bz
