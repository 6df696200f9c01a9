// mmap, munmap, mprotect, madvise, mremap and brk: anonymous and private
// file mappings, their contents and the errors Linux gives. Faults are in
// mmap_fault.cc, which needs fork.
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

namespace bz {
namespace {

char* MapAnon(size_t len, int prot = PROT_READ | PROT_WRITE) {
  void* p = mmap(nullptr, len, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  EXPECT_NE(p, MAP_FAILED) << strerror(errno);
  return p == MAP_FAILED ? nullptr : static_cast<char*>(p);
}

TEST(Mmap, AnonymousIsZeroedAndWritable) {
  const long page = PageSize();
  char* p = MapAnon(4 * page);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % page, 0u);
  for (long i = 0; i < 4 * page; i++) ASSERT_EQ(p[i], 0) << i;
  for (long i = 0; i < 4 * page; i += 512) p[i] = static_cast<char>(i / 512);
  for (long i = 0; i < 4 * page; i += 512) {
    ASSERT_EQ(p[i], static_cast<char>(i / 512));
  }
  EXPECT_EQ(munmap(p, 4 * page), 0);
}

TEST(Mmap, FixedReplacesAndNoReplaceRefuses) {
  const long page = PageSize();
  char* p = MapAnon(2 * page);
  ASSERT_NE(p, nullptr);
  p[page] = 'x';
  void* q = mmap(p + page, page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(q, p + page);
  EXPECT_EQ(p[page], 0);  // the new mapping is fresh
  EXPECT_EQ(mmap(p, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS |
                                         MAP_FIXED_NOREPLACE, -1, 0),
            MAP_FAILED);
  EXPECT_EQ(errno, EEXIST);
  ASSERT_OK(munmap(p, 2 * page));
}

TEST(Mmap, InvalidArguments) {
  const long page = PageSize();
  int anon = MAP_PRIVATE | MAP_ANONYMOUS;
  EXPECT_ERRNO(EINVAL, (long)mmap(nullptr, 0, PROT_READ, anon, -1, 0));
  EXPECT_ERRNO(EINVAL, (long)mmap(reinterpret_cast<void*>(0x10000001), page,
                                  PROT_READ, anon | MAP_FIXED, -1, 0));
  // Neither MAP_PRIVATE nor MAP_SHARED.
  EXPECT_ERRNO(EINVAL, (long)mmap(nullptr, page, PROT_READ, MAP_ANONYMOUS, -1,
                                  0));
  FD fd(open("/etc/passwd", O_RDONLY));
  ASSERT_OK(fd.get());
  EXPECT_ERRNO(EINVAL, (long)mmap(nullptr, page, PROT_READ, MAP_PRIVATE,
                                  fd.get(), 1));  // unaligned offset
  char* p = MapAnon(2 * page);
  ASSERT_NE(p, nullptr);
  EXPECT_ERRNO(EINVAL, munmap(p + 1, page));
  EXPECT_ERRNO(EINVAL, munmap(p, 0));
  EXPECT_ERRNO(EINVAL, mprotect(p + 1, page, PROT_READ));
  EXPECT_ERRNO(EINVAL, mprotect(p, page, 0x1000));  // unknown prot bit
  ASSERT_OK(munmap(p, 2 * page));
}

TEST(Mmap, NoMemory) {
  int anon = MAP_PRIVATE | MAP_ANONYMOUS;
  // Rounding SIZE_MAX up to a page overflows to zero.
  EXPECT_ERRNO(ENOMEM, (long)mmap(nullptr, SIZE_MAX, PROT_READ, anon, -1, 0));
  // Larger than the whole user address space.
  EXPECT_ERRNO(ENOMEM, (long)mmap(nullptr, 1UL << 48, PROT_READ, anon, -1, 0));
  // mprotect of a range that is not mapped.
  const long page = PageSize();
  char* p = MapAnon(page);
  ASSERT_NE(p, nullptr);
  ASSERT_OK(munmap(p, page));
  EXPECT_ERRNO(ENOMEM, mprotect(p, page, PROT_READ));
}

TEST(Mmap, MunmapOfUnmappedIsFine) {
  const long page = PageSize();
  char* p = MapAnon(page);
  ASSERT_NE(p, nullptr);
  ASSERT_OK(munmap(p, page));
  EXPECT_EQ(munmap(p, page), 0);
}

TEST(Mmap, MprotectRoundTrip) {
  const long page = PageSize();
  char* p = MapAnon(page, PROT_NONE);
  ASSERT_NE(p, nullptr);
  ASSERT_OK(mprotect(p, page, PROT_READ | PROT_WRITE));
  p[10] = 'a';
  ASSERT_OK(mprotect(p, page, PROT_READ));
  EXPECT_EQ(p[10], 'a');
  ASSERT_OK(mprotect(p, page, PROT_READ | PROT_WRITE));
  p[11] = 'b';
  EXPECT_EQ(p[10], 'a');
  EXPECT_EQ(p[11], 'b');
  ASSERT_OK(munmap(p, page));
}

TEST(Mmap, MadviseDontneedZeroesPrivateAnonymous) {
  const long page = PageSize();
  char* p = MapAnon(2 * page);
  ASSERT_NE(p, nullptr);
  memset(p, 'z', 2 * page);
  ASSERT_OK(madvise(p, page, MADV_DONTNEED));
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[page - 1], 0);
  EXPECT_EQ(p[page], 'z');  // the second page is untouched
  EXPECT_ERRNO(EINVAL, madvise(p + 1, page, MADV_DONTNEED));
  ASSERT_OK(munmap(p, 2 * page));
}

TEST(Mmap, MremapGrowKeepsContents) {
  const long page = PageSize();
  char* p = MapAnon(2 * page);
  ASSERT_NE(p, nullptr);
  memset(p, 'm', 2 * page);
  void* q = mremap(p, 2 * page, 8 * page, MREMAP_MAYMOVE);
  ASSERT_NE(q, MAP_FAILED) << strerror(errno);
  char* c = static_cast<char*>(q);
  EXPECT_EQ(c[0], 'm');
  EXPECT_EQ(c[2 * page - 1], 'm');
  EXPECT_EQ(c[2 * page], 0);
  c[8 * page - 1] = 'e';
  ASSERT_OK(munmap(c, 8 * page));
}

TEST(Mmap, MremapShrink) {
  const long page = PageSize();
  char* p = MapAnon(4 * page);
  ASSERT_NE(p, nullptr);
  p[0] = 's';
  ASSERT_EQ(mremap(p, 4 * page, page, 0), p);
  EXPECT_EQ(p[0], 's');
  // The tail is gone: mprotect there fails.
  EXPECT_ERRNO(ENOMEM, mprotect(p + page, page, PROT_READ));
  ASSERT_OK(munmap(p, page));
}

TEST(Mmap, MremapFixedMoves) {
  const long page = PageSize();
  char* src = MapAnon(page);
  char* dst = MapAnon(page);
  ASSERT_NE(src, nullptr);
  ASSERT_NE(dst, nullptr);
  src[5] = 'f';
  void* q = mremap(src, page, page, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
  ASSERT_EQ(q, dst) << strerror(errno);
  EXPECT_EQ(dst[5], 'f');
  EXPECT_ERRNO(ENOMEM, mprotect(src, page, PROT_READ));  // moved away
  ASSERT_OK(munmap(dst, page));
}

TEST(Mmap, MremapErrors) {
  const long page = PageSize();
  char* p = MapAnon(2 * page);
  ASSERT_NE(p, nullptr);
  // Growing the first page in place would overlap the second.
  EXPECT_ERRNO(ENOMEM, (long)mremap(p, page, 2 * page, 0));
  EXPECT_ERRNO(EINVAL, (long)mremap(p + 1, page, 2 * page, MREMAP_MAYMOVE));
  EXPECT_ERRNO(EINVAL, (long)mremap(p, page, 0, MREMAP_MAYMOVE));
  // MREMAP_FIXED needs MREMAP_MAYMOVE.
  EXPECT_ERRNO(EINVAL, (long)mremap(p, page, page, MREMAP_FIXED, p + page));
  ASSERT_OK(munmap(p, 2 * page));
  EXPECT_ERRNO(EFAULT, (long)mremap(p, page, 2 * page, MREMAP_MAYMOVE));
}

TEST(Mmap, PrivateFileMappingMatchesRead) {
  const char* path = "/etc/passwd";
  std::string data = ReadAll(path);
  ASSERT_GT(data.size(), 0u);
  FD fd(open(path, O_RDONLY));
  ASSERT_OK(fd.get());
  const long page = PageSize();
  size_t len = (data.size() + page - 1) / page * page;
  void* m = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd.get(), 0);
  ASSERT_NE(m, MAP_FAILED) << strerror(errno);
  char* p = static_cast<char*>(m);
  EXPECT_EQ(std::string(p, data.size()), data);
  // The rest of the last page reads as zeros.
  for (size_t i = data.size(); i < len; i++) ASSERT_EQ(p[i], 0) << i;
  // Writes to a private mapping stay private.
  p[0] = p[0] ^ 0x55;
  char c;
  ASSERT_EQ(pread(fd.get(), &c, 1, 0), 1);
  EXPECT_EQ(c, data[0]);
  ASSERT_OK(munmap(p, len));
}

TEST(Mmap, FileMappingErrors) {
  const long page = PageSize();
  FD fd(open("/etc/passwd", O_RDONLY));
  ASSERT_OK(fd.get());
  // A shared writable mapping needs a writable descriptor.
  EXPECT_ERRNO(EACCES, (long)mmap(nullptr, page, PROT_READ | PROT_WRITE,
                                  MAP_SHARED, fd.get(), 0));
  EXPECT_ERRNO(EBADF, (long)mmap(nullptr, page, PROT_READ, MAP_PRIVATE, -1, 0));
  FD wo(open("/dev/null", O_WRONLY));
  ASSERT_OK(wo.get());
  EXPECT_ERRNO(EACCES, (long)mmap(nullptr, page, PROT_READ, MAP_PRIVATE,
                                  wo.get(), 0));
}

TEST(Brk, GrowWriteShrink) {
  const long page = PageSize();
  uintptr_t cur = syscall(SYS_brk, 0);
  ASSERT_NE(cur, 0u);
  uintptr_t want = cur + 4 * page;
  ASSERT_EQ(static_cast<uintptr_t>(syscall(SYS_brk, want)), want);
  char* p = reinterpret_cast<char*>(cur);
  p[0] = 'b';
  p[4 * page - 1] = 'k';
  EXPECT_EQ(p[0], 'b');
  ASSERT_EQ(static_cast<uintptr_t>(syscall(SYS_brk, cur)), cur);
  // Growing again gives zeroed memory.
  ASSERT_EQ(static_cast<uintptr_t>(syscall(SYS_brk, want)), want);
  EXPECT_EQ(p[0], 0);
  EXPECT_EQ(p[4 * page - 1], 0);
  ASSERT_EQ(static_cast<uintptr_t>(syscall(SYS_brk, cur)), cur);
}

TEST(Brk, InvalidRequestReturnsCurrentBreak) {
  uintptr_t cur = syscall(SYS_brk, 0);
  // Below the data segment, or absurdly high: the break stays where it is.
  EXPECT_EQ(static_cast<uintptr_t>(syscall(SYS_brk, 1)), cur);
  EXPECT_EQ(static_cast<uintptr_t>(syscall(SYS_brk, 1UL << 62)), cur);
  EXPECT_EQ(static_cast<uintptr_t>(syscall(SYS_brk, 0)), cur);
}

}  // namespace
}  // namespace bz
