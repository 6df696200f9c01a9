// /proc/[pid]/oom_score_adj and oom_score: the values a write accepts
// (kstrtoint with base 0, -1000..1000), who may lower the value (a task
// without CAP_SYS_RESOURCE only down to the last value set with it, 0
// until then), inheritance across fork, and the score's scale.
//
// Every case runs in a child, with CAP_SYS_RESOURCE dropped where it
// matters, so that the host (which may withhold it) and the sandbox (root
// with every capability) agree.
#include <fcntl.h>
#include <linux/capability.h>
#include <sys/syscall.h>

#include "proc_util.h"

namespace bz {
namespace {

std::string AdjPath(pid_t pid) { return "/proc/" + std::to_string(pid) + "/oom_score_adj"; }

// Writes s to pid's oom_score_adj in one write; returns write's result.
ssize_t WriteAdj(pid_t pid, const std::string& s) {
  FD fd(open(AdjPath(pid).c_str(), O_WRONLY | O_CLOEXEC));
  if (fd.get() < 0) return -1;
  return write(fd.get(), s.data(), s.size());
}

int ReadInt(const std::string& path) { return atoi(ReadAll(path.c_str()).c_str()); }

// Values written to oom_score_adj, and what each does.
struct AdjCase {
  const char* in;
  int err;   // 0: accepted
  int want;  // the value read back
};
const AdjCase kAdjCases[] = {
    {"12", 0, 12},      {" 13 \n", 0, 13},   {"+14", 0, 14},      {"0x10", 0, 16},
    {"010", 0, 8},      {"1000", 0, 1000},    {"1001", EINVAL, 0}, {"2000", EINVAL, 0},
    {"abc", EINVAL, 0}, {"5 5", EINVAL, 0},   {"0x", EINVAL, 0},   {"08", EINVAL, 0},
    {"99999999999", ERANGE, 0},
};

TEST(OomScoreAdj, Values) {
  EXPECT_CHILD_OK([] {
    pid_t me = getpid();
    for (const auto& c : kAdjCases) {
      ssize_t n = WriteAdj(me, c.in);
      if (c.err == 0) {
        CHILD_CHECK(n == ssize_t(strlen(c.in)));
        CHILD_CHECK(ReadInt(AdjPath(me)) == c.want);
      } else {
        CHILD_CHECK(n == -1 && errno == c.err);
      }
    }
    CHILD_CHECK(ReadAll("/proc/self/oom_score_adj") == "1000\n");
    return 0;
  });
}

TEST(OomScoreAdj, LoweringNeedsCapSysResource) {
  EXPECT_CHILD_OK([] {
    CHILD_CHECK(DropEffectiveCapability(CAP_SYS_RESOURCE));
    pid_t me = getpid();
    int base = ReadInt(AdjPath(me));
    CHILD_CHECK(base >= 0);  // the runner leaves it at 0 or above
    CHILD_CHECK(WriteAdj(me, "700") == 3);
    // Down to the floor (0, never set with CAP_SYS_RESOURCE) is allowed...
    CHILD_CHECK(WriteAdj(me, "0") == 1);
    // ...below it is not.
    CHILD_CHECK(WriteAdj(me, "-1") == -1 && errno == EACCES);
    CHILD_CHECK(WriteAdj(me, "-1000") == -1 && errno == EACCES);
    CHILD_CHECK(ReadInt(AdjPath(me)) == 0);
    return 0;
  });
}

TEST(OomScoreAdj, InheritedAcrossFork) {
  EXPECT_CHILD_OK([] {
    CHILD_CHECK(WriteAdj(getpid(), "321") == 3);
    int st = InChild([] { return ReadInt("/proc/self/oom_score_adj") == 321 ? 0 : 1; });
    CHILD_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    return 0;
  });
}

TEST(OomScoreAdj, OtherProcess) {
  Pipe ready, done;
  fflush(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    ready.r.reset();
    done.w.reset();
    close(ready.w.release());  // tells the parent we run
    char c;
    read(done.r.get(), &c, 1);  // EOF once the parent has written
    _exit(ReadInt("/proc/self/oom_score_adj") == 456 ? 0 : 1);
  }
  ASSERT_GT(pid, 0);
  ready.w.reset();
  done.r.reset();
  char c;
  EXPECT_EQ(read(ready.r.get(), &c, 1), 0);
  EXPECT_EQ(WriteAdj(pid, "456"), 3) << strerror(errno);
  EXPECT_EQ(ReadInt(AdjPath(pid)), 456);
  done.w.reset();
  int st = WaitStatus(pid);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << DescribeStatus(st);
}

TEST(OomScore, FollowsAdj) {
  EXPECT_CHILD_OK([] {
    // oom_score is (1000 + badness * 1000 / total) * 2 / 3, where badness
    // is the resident pages plus adj thousandths of all pages: a small
    // process scores just above 666 at adj 0, and above 1333 at 1000.
    CHILD_CHECK(WriteAdj(getpid(), "0") == 1);
    int at0 = ReadInt("/proc/self/oom_score");
    CHILD_CHECK(at0 >= 666 && at0 < 1000);
    CHILD_CHECK(WriteAdj(getpid(), "500") == 3);
    int at500 = ReadInt("/proc/self/oom_score");
    CHILD_CHECK(at500 >= 999 && at500 < 1333);
    CHILD_CHECK(WriteAdj(getpid(), "1000") == 4);
    int at1000 = ReadInt("/proc/self/oom_score");
    CHILD_CHECK(at1000 >= 1332 && at1000 <= 2000);
    CHILD_CHECK(at0 < at500 && at500 < at1000);
    return 0;
  });
}

}  // namespace
}  // namespace bz

BZ_HELPER_MAIN()
