// Memory faults delivered as SIGSEGV and SIGBUS. These are gtest death
// tests: each one forks a child that faults, so this file needs fork in the
// sandbox (the runner's skip list says so until it exists).
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

// Runs in the child: no core file, so dying is quick.
void NoCore() {
  struct rlimit rl = {0, 0};
  setrlimit(RLIMIT_CORE, &rl);
}

char* MapOrDie(size_t len, int prot) {
  void* p = mmap(nullptr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) abort();
  return static_cast<char*>(p);
}

TEST(MmapFault, WriteToReadOnlyPage) {
  char* p = MapOrDie(PageSize(), PROT_READ);
  EXPECT_EXIT(
      {
        NoCore();
        *reinterpret_cast<volatile char*>(p) = 1;
        _exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
  munmap(p, PageSize());
}

TEST(MmapFault, ReadProtNone) {
  char* p = MapOrDie(PageSize(), PROT_NONE);
  EXPECT_EXIT(
      {
        NoCore();
        (void)*reinterpret_cast<volatile char*>(p);
        _exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
  munmap(p, PageSize());
}

TEST(MmapFault, AccessAfterMunmap) {
  char* p = MapOrDie(PageSize(), PROT_READ | PROT_WRITE);
  ASSERT_OK(munmap(p, PageSize()));
  EXPECT_EXIT(
      {
        NoCore();
        *reinterpret_cast<volatile char*>(p) = 1;
        _exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(MmapFault, ReadOnlyAfterMprotect) {
  char* p = MapOrDie(PageSize(), PROT_READ | PROT_WRITE);
  p[0] = 1;
  ASSERT_OK(mprotect(p, PageSize(), PROT_READ));
  EXPECT_EQ(p[0], 1);
  EXPECT_EXIT(
      {
        NoCore();
        *reinterpret_cast<volatile char*>(p) = 2;
        _exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
  munmap(p, PageSize());
}

TEST(MmapFault, JumpToUnmappedAddress) {
  EXPECT_EXIT(
      {
        NoCore();
        auto fn = reinterpret_cast<void (*)()>(0x10);
        fn();
        _exit(0);
      },
      ::testing::KilledBySignal(SIGSEGV), "");
}

TEST(MmapFault, PageBeyondEndOfFileIsSIGBUS) {
  FD fd(open("/etc/passwd", O_RDONLY));
  ASSERT_OK(fd.get());
  struct stat st;
  ASSERT_OK(fstat(fd.get(), &st));
  const long page = PageSize();
  ASSERT_LT(st.st_size, 8 * page) << "need a file shorter than 8 pages";
  void* m = mmap(nullptr, 16 * page, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  ASSERT_NE(m, MAP_FAILED) << strerror(errno);
  volatile char* p = static_cast<char*>(m);
  EXPECT_EXIT(
      {
        NoCore();
        (void)p[12 * page];
        _exit(0);
      },
      ::testing::KilledBySignal(SIGBUS), "");
  munmap(m, 16 * page);
}

TEST(MmapFault, HandlerSeesFaultAddress) {
  char* p = MapOrDie(PageSize(), PROT_NONE);
  static char* volatile want;
  want = p + 42;
  EXPECT_EXIT(
      {
        NoCore();
        struct sigaction sa = {};
        sa.sa_flags = SA_SIGINFO;
        sa.sa_sigaction = [](int sig, siginfo_t* info, void*) {
          _exit(info->si_addr == want && sig == SIGSEGV &&
                        info->si_code == SEGV_ACCERR
                    ? 42
                    : 1);
        };
        sigaction(SIGSEGV, &sa, nullptr);
        (void)*reinterpret_cast<volatile char*>(want);
        _exit(0);
      },
      ::testing::ExitedWithCode(42), "");
  munmap(p, PageSize());
}

}  // namespace
}  // namespace bz
