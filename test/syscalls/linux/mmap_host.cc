// Private mappings of files from the root file system (the test's own
// binary, programs in /usr/bin), as the platforms that map the host file's
// pages directly see them: whatever happens to the mapping (writes,
// madvise, munmap, MAP_FIXED, mremap, mprotect, /proc/self/mem, fork), an
// unwritten page reads as the file and a written one as the write, and the
// file never changes.
#include <dirent.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "test_util.h"

namespace bz {
namespace {

// Mapping is a private mapping of the first len bytes of a file, with the
// file's bytes as read(2) gives them.
struct Mapping {
  std::string data;
  FD fd;
  char* p = nullptr;
  size_t len = 0;
  ~Mapping() {
    if (p != nullptr) munmap(p, len);
  }
};

// MapExe maps the first pages of this test's binary with prot.
void MapExe(size_t pages, int prot, Mapping* m) {
  m->data = ReadAll("/proc/self/exe");
  const size_t page = PageSize();
  ASSERT_GE(m->data.size(), pages * page);
  m->data.resize(pages * page);
  m->fd.reset(open("/proc/self/exe", O_RDONLY));
  ASSERT_OK(m->fd.get());
  m->len = pages * page;
  void* p = mmap(nullptr, m->len, prot, MAP_PRIVATE, m->fd.get(), 0);
  ASSERT_NE(p, MAP_FAILED) << strerror(errno);
  m->p = static_cast<char*>(p);
}

// PageIs reports whether the page at p holds the file's page idx.
bool PageIs(const char* p, const Mapping& m, size_t idx) {
  const size_t page = PageSize();
  return memcmp(p, m.data.data() + idx * page, page) == 0;
}

// The file's byte at off, read from the file.
char FileByte(const Mapping& m, size_t off) {
  char c = 0;
  EXPECT_EQ(pread(m.fd.get(), &c, 1, off), 1);
  return c;
}

// MADV_DONTNEED drops written pages: they read as the file again, not
// as zeros.
TEST(MmapHost, DontneedGivesBackFileBytes) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapExe(8, PROT_READ | PROT_WRITE, &m));
  const size_t page = PageSize();
  ASSERT_TRUE(PageIs(m.p + page, m, 1));
  for (size_t i = 1; i < 8; i += 2) m.p[i * page + 7] = ~m.data[i * page + 7];
  ASSERT_OK(madvise(m.p, m.len, MADV_DONTNEED));
  for (size_t i = 0; i < 8; i++) EXPECT_TRUE(PageIs(m.p + i * page, m, i)) << i;
  EXPECT_EQ(FileByte(m, page + 7), m.data[page + 7]);
}

// munmap of part of a mapping and MAP_FIXED over another part leave the
// rest as it was.
TEST(MmapHost, PartialUnmapAndFixedOver) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapExe(8, PROT_READ, &m));
  const size_t page = PageSize();
  ASSERT_TRUE(PageIs(m.p, m, 0));
  ASSERT_OK(munmap(m.p + 3 * page, page));
  void* a = mmap(m.p + 5 * page, page, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  ASSERT_EQ(a, m.p + 5 * page);
  for (size_t i = 0; i < page; i++) ASSERT_EQ(m.p[5 * page + i], 0) << i;
  for (size_t i : {0, 1, 2, 4, 6, 7}) {
    EXPECT_TRUE(PageIs(m.p + i * page, m, i)) << i;
  }
}

// mremap moves a mapping's pages with it and grows it with the file's
// next pages.
TEST(MmapHost, MremapMovesAndGrows) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapExe(8, PROT_READ | PROT_WRITE, &m));
  const size_t page = PageSize();
  ASSERT_TRUE(PageIs(m.p, m, 0));
  m.p[2 * page] = ~m.data[2 * page];
  void* q = mremap(m.p, 4 * page, 8 * page, MREMAP_MAYMOVE);
  ASSERT_NE(q, MAP_FAILED) << strerror(errno);
  if (q != m.p) munmap(m.p + 4 * page, 4 * page);
  m.p = static_cast<char*>(q);
  EXPECT_EQ(m.p[2 * page], static_cast<char>(~m.data[2 * page]));
  for (size_t i : {0, 1, 3, 4, 5, 6, 7}) {
    EXPECT_TRUE(PageIs(m.p + i * page, m, i)) << i;
  }
  EXPECT_EQ(FileByte(m, 2 * page), m.data[2 * page]);
}

// mprotect to writable and back: writes are private, other pages stay the
// file's.
TEST(MmapHost, MprotectWritableAndBack) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapExe(4, PROT_READ | PROT_EXEC, &m));
  const size_t page = PageSize();
  ASSERT_TRUE(PageIs(m.p, m, 0));
  ASSERT_OK(mprotect(m.p, m.len, PROT_READ | PROT_WRITE));
  m.p[page] = ~m.data[page];
  ASSERT_OK(mprotect(m.p, m.len, PROT_READ));
  // The written page is a copy of the file's, with the write.
  std::string want = m.data.substr(page, page);
  want[0] = ~want[0];
  EXPECT_EQ(std::string(m.p + page, page), want);
  EXPECT_TRUE(PageIs(m.p + 2 * page, m, 2));
  EXPECT_EQ(FileByte(m, page), m.data[page]);
}

// A write through /proc/self/mem to a writable private mapping changes
// the mapping, not the file.
TEST(MmapHost, ProcSelfMemWriteIsPrivate) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapExe(4, PROT_READ | PROT_WRITE, &m));
  const size_t page = PageSize();
  ASSERT_TRUE(PageIs(m.p, m, 0));
  FD mem(open("/proc/self/mem", O_RDWR));
  ASSERT_OK(mem.get());
  char c = ~m.data[2 * page + 1];
  off_t at = reinterpret_cast<uintptr_t>(m.p + 2 * page + 1);
  ASSERT_EQ(pwrite(mem.get(), &c, 1, at), 1) << strerror(errno);
  std::string want = m.data.substr(2 * page, page);
  want[1] = c;
  EXPECT_EQ(std::string(m.p + 2 * page, page), want);
  EXPECT_EQ(FileByte(m, 2 * page + 1), m.data[2 * page + 1]);
  EXPECT_TRUE(PageIs(m.p + 3 * page, m, 3));
}

// After fork, the child's writes and MADV_DONTNEED stay in the child.
TEST(MmapHost, ForkWriteAndDontneed) {
  Mapping m;
  ASSERT_NO_FATAL_FAILURE(MapExe(4, PROT_READ | PROT_WRITE, &m));
  const size_t page = PageSize();
  m.p[0] = ~m.data[0];
  pid_t child = fork();
  ASSERT_OK(child);
  if (child == 0) {
    bool ok = m.p[0] == static_cast<char>(~m.data[0]) &&
              PageIs(m.p + page, m, 1);
    m.p[page] = ~m.data[page];
    ok = ok && madvise(m.p, m.len, MADV_DONTNEED) == 0;
    ok = ok && PageIs(m.p, m, 0) && PageIs(m.p + page, m, 1);
    _exit(ok ? 0 : 1);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  EXPECT_EQ(m.p[0], static_cast<char>(~m.data[0]));
  EXPECT_TRUE(PageIs(m.p + page, m, 1));
}

// More distinct files than a platform may keep host descriptors for in one
// process: every mapping still reads as its file, in the process and in a
// forked child.
TEST(MmapHost, ManyFiles) {
  const size_t page = PageSize();
  struct File {
    std::string data;
    char* p;
  };
  std::vector<File> files;
  DIR* d = opendir("/usr/bin");
  ASSERT_NE(d, nullptr);
  while (files.size() < 300) {
    struct dirent* e = readdir(d);
    if (e == nullptr) break;
    std::string path = std::string("/usr/bin/") + e->d_name;
    struct stat st;
    if (lstat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode) ||
        st.st_size < static_cast<off_t>(page)) {
      continue;
    }
    FD fd(open(path.c_str(), O_RDONLY));
    if (fd.get() < 0) continue;
    std::string data(page, '\0');
    if (pread(fd.get(), &data[0], page, 0) != static_cast<ssize_t>(page)) {
      continue;
    }
    void* p = mmap(nullptr, page, PROT_READ, MAP_PRIVATE, fd.get(), 0);
    ASSERT_NE(p, MAP_FAILED) << path << ": " << strerror(errno);
    files.push_back({data, static_cast<char*>(p)});
  }
  closedir(d);
  ASSERT_GT(files.size(), 260u) << "too few programs in /usr/bin";
  for (size_t i = 0; i < files.size(); i++) {
    ASSERT_EQ(memcmp(files[i].p, files[i].data.data(), page), 0) << i;
  }
  pid_t child = fork();
  ASSERT_OK(child);
  if (child == 0) {
    for (const File& f : files) {
      if (memcmp(f.p, f.data.data(), page) != 0) _exit(1);
    }
    _exit(0);
  }
  int status;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  for (const File& f : files) munmap(f.p, page);
}

}  // namespace
}  // namespace bz
