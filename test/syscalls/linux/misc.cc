// Small process-wide calls: umask, sysinfo, sched_getaffinity, sched_yield,
// set_tid_address, arch_prctl(ARCH_GET_FS), prctl(PR_SET_NAME).
#include <asm/prctl.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

TEST(Misc, UmaskRoundTrip) {
  mode_t old = umask(022);
  EXPECT_EQ(umask(077), 022u);
  EXPECT_EQ(umask(01777), 077u);  // only the permission bits are kept
  EXPECT_EQ(umask(old), 0777u);
}

TEST(Misc, Sysinfo) {
  struct sysinfo si;
  ASSERT_OK(sysinfo(&si));
  EXPECT_GT(si.uptime, 0);
  EXPECT_GT(si.totalram, 0u);
  EXPECT_LE(si.freeram, si.totalram);
  EXPECT_GE(si.mem_unit, 1u);
  EXPECT_GE(si.procs, 1);
  EXPECT_ERRNO(EFAULT, syscall(SYS_sysinfo, BadPointer()));
}

TEST(Misc, SchedGetaffinity) {
  cpu_set_t set;
  CPU_ZERO(&set);
  long n = syscall(SYS_sched_getaffinity, 0, sizeof(set), &set);
  ASSERT_GT(n, 0) << strerror(errno);
  EXPECT_EQ(n % sizeof(long), 0);
  EXPECT_GT(CPU_COUNT(&set), 0);
  EXPECT_LE(CPU_COUNT(&set), sysconf(_SC_NPROCESSORS_CONF));
  EXPECT_ERRNO(EFAULT,
               syscall(SYS_sched_getaffinity, 0, sizeof(set), BadPointer()));
  EXPECT_ERRNO(EINVAL, syscall(SYS_sched_getaffinity, 0, 3, &set));
}

TEST(Misc, SchedYield) { EXPECT_EQ(syscall(SYS_sched_yield), 0); }

TEST(Misc, SetTidAddressReturnsTid) {
  static int word;  // cleared by the kernel when this thread exits: harmless
  EXPECT_EQ(syscall(SYS_set_tid_address, &word), syscall(SYS_gettid));
}

TEST(Misc, ArchPrctlGetFSIsTheThreadPointer) {
  unsigned long fs = 0;
  ASSERT_OK(syscall(SYS_arch_prctl, ARCH_GET_FS, &fs));
  ASSERT_NE(fs, 0u);
  // glibc's thread control block starts with a pointer to itself.
  unsigned long self;
  asm volatile("mov %%fs:0, %0" : "=r"(self));
  EXPECT_EQ(self, fs);
  EXPECT_ERRNO(EINVAL, syscall(SYS_arch_prctl, 0x9999, &fs));
  EXPECT_ERRNO(EFAULT, syscall(SYS_arch_prctl, ARCH_GET_FS, BadPointer()));
}

TEST(Misc, PrctlName) {
  char old[16] = {};
  ASSERT_OK(prctl(PR_GET_NAME, old));
  ASSERT_OK(prctl(PR_SET_NAME, "bz-name-test-long-name"));
  char got[16] = {};
  ASSERT_OK(prctl(PR_GET_NAME, got));
  EXPECT_STREQ(got, "bz-name-test-lo");  // truncated to 15 bytes
  ASSERT_OK(prctl(PR_SET_NAME, old));
}

}  // namespace
}  // namespace bz
