// mmap, munmap, mprotect, madvise, mremap and brk: anonymous and private
// file mappings, their contents and the errors Linux gives. Faults are in
// mmap_fault.cc, which needs fork.
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
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

// PrivateFile is a private mapping of a whole file, with the file's bytes
// as read(2) gives them.
struct PrivateFile {
  std::string data;
  FD fd;
  char* p = nullptr;
  size_t len = 0;
  ~PrivateFile() {
    if (p != nullptr) munmap(p, len);
  }
};

// MapPrivate maps all of path privately with prot into *m.
void MapPrivate(const char* path, int prot, PrivateFile* m) {
  m->data = ReadAll(path);
  ASSERT_GT(m->data.size(), 1u);
  m->fd.reset(open(path, O_RDONLY));
  ASSERT_OK(m->fd.get());
  const long page = PageSize();
  m->len = (m->data.size() + page - 1) / page * page;
  void* p = mmap(nullptr, m->len, prot, MAP_PRIVATE, m->fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED) << strerror(errno);
  m->p = static_cast<char*>(p);
}

// A private mapping of a whole program (this test's own binary, several
// MiB on most builds) reads as the file does, page for page, and keeps
// doing so after writes to some of its pages.
TEST(Mmap, PrivateMappingOfProgramMatchesRead) {
  PrivateFile m;
  ASSERT_NO_FATAL_FAILURE(MapPrivate("/proc/self/exe", PROT_READ | PROT_EXEC, &m));
  const std::string& data = m.data;
  const size_t page = PageSize(), len = m.len;
  char* p = m.p;
  // Touch the pages out of order: each fault maps a window around it.
  for (size_t off = len; off >= page;) {
    off -= page;
    size_t n = std::min(page, data.size() - std::min(off, data.size()));
    ASSERT_EQ(memcmp(p + off, data.data() + off, n), 0) << "page at " << off;
  }
  // Write to every 7th page: those become private copies, the others stay
  // the file's.
  ASSERT_OK(mprotect(p, len, PROT_READ | PROT_WRITE));
  for (size_t off = 0; off < data.size(); off += 7 * page) p[off] ^= 0x5a;
  for (size_t off = 0; off < data.size(); off++) {
    char want = data[off];
    if (off % (7 * page) == 0) want ^= 0x5a;
    ASSERT_EQ(p[off], want) << "byte " << off;
  }
  char c;
  ASSERT_EQ(pread(m.fd.get(), &c, 1, 0), 1);
  EXPECT_EQ(c, data[0]);
}

// The kernel reads a private file mapping for write(2) as the application
// does, and read(2) into one writes a private copy.
TEST(Mmap, PrivateFileMappingAsSystemCallBuffer) {
  PrivateFile m;
  ASSERT_NO_FATAL_FAILURE(MapPrivate("/etc/passwd", PROT_READ | PROT_WRITE, &m));
  const std::string& data = m.data;
  char* p = m.p;
  int pipefd[2];
  ASSERT_OK(pipe(pipefd));
  FD r(pipefd[0]), w(pipefd[1]);
  size_t n = std::min(data.size(), static_cast<size_t>(4096));
  ASSERT_EQ(write(w.get(), p, n), static_cast<ssize_t>(n));
  std::string got(n, '\0');
  ASSERT_EQ(read(r.get(), &got[0], n), static_cast<ssize_t>(n));
  EXPECT_EQ(got, data.substr(0, n));
  // read(2) into the mapping: the mapping changes, the file does not.
  ASSERT_EQ(write(w.get(), "XY", 2), 2);
  ASSERT_EQ(read(r.get(), p + 1, 2), 2);
  EXPECT_EQ(std::string(p, 4), data.substr(0, 1) + "XY" + data.substr(3, 1));
  char c[2];
  ASSERT_EQ(pread(m.fd.get(), c, 2, 1), 2);
  EXPECT_EQ(std::string(c, 2), data.substr(1, 2));
}

// After fork, a private file mapping's unwritten pages are the file's in
// both processes, and a write in either stays in that process.
TEST(Mmap, PrivateFileMappingAcrossFork) {
  PrivateFile m;
  ASSERT_NO_FATAL_FAILURE(MapPrivate("/etc/passwd", PROT_READ | PROT_WRITE, &m));
  const std::string& data = m.data;
  volatile char* p = m.p;
  ASSERT_EQ(p[0], data[0]);  // mapped before the fork
  pid_t child = fork();
  ASSERT_OK(child);
  if (child == 0) {
    p[0] = data[0] ^ 1;
    _exit(p[0] == (data[0] ^ 1) && p[1] == data[1] ? 0 : 1);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(p[0], data[0]);
  p[1] = data[1] ^ 2;
  EXPECT_EQ(p[1], data[1] ^ 2);
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
