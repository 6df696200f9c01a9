// getdents64 and getdents on host directories: the entries of /, record
// layout, rewinding with lseek, and errors.
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "test_util.h"

namespace bz {
namespace {

struct Dirent64 {
  uint64_t d_ino;
  int64_t d_off;
  uint16_t d_reclen;
  uint8_t d_type;
  char d_name[];
};

struct Entry {
  uint64_t ino;
  uint8_t type;
};

// Lists fd from its current offset with getdents64, checking record layout.
std::map<std::string, Entry> List64(int fd, size_t bufsize = 4096) {
  std::map<std::string, Entry> out;
  std::vector<char> buf(bufsize);
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf.data(), buf.size());
    EXPECT_GE(n, 0) << strerror(errno);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      auto* d = reinterpret_cast<Dirent64*>(buf.data() + off);
      EXPECT_EQ(d->d_reclen % 8, 0) << d->d_name;
      EXPECT_GE(d->d_reclen, offsetof(Dirent64, d_name) + strlen(d->d_name) + 1);
      EXPECT_EQ(out.count(d->d_name), 0u) << "listed twice: " << d->d_name;
      out[d->d_name] = Entry{d->d_ino, d->d_type};
      off += d->d_reclen;
      if (d->d_reclen == 0) break;
    }
  }
  return out;
}

TEST(Getdents, RootHasDotDotDotAndUsr) {
  FD fd(open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(fd.get());
  auto entries = List64(fd.get());
  ASSERT_EQ(entries.count("."), 1u);
  ASSERT_EQ(entries.count(".."), 1u);
  EXPECT_EQ(entries["."].type, DT_DIR);
  EXPECT_EQ(entries[".."].type, DT_DIR);
  EXPECT_TRUE(entries.count("usr") || entries.count("bin"));
  for (const char* d : {"usr", "etc"}) {
    if (entries.count(d)) {
      EXPECT_EQ(entries[d].type, DT_DIR) << d;
    }
  }
  for (auto& [name, e] : entries) EXPECT_NE(e.ino, 0u) << name;
}

TEST(Getdents, EveryEntryExists) {
  FD fd(open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(fd.get());
  for (auto& [name, e] : List64(fd.get())) {
    struct stat st;
    EXPECT_EQ(fstatat(fd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW), 0)
        << name << ": " << strerror(errno);
    if (e.type == DT_LNK) {
      EXPECT_TRUE(S_ISLNK(st.st_mode)) << name;
    }
    if (e.type == DT_DIR) {
      EXPECT_TRUE(S_ISDIR(st.st_mode)) << name;
    }
    if (e.type == DT_REG) {
      EXPECT_TRUE(S_ISREG(st.st_mode)) << name;
    }
  }
}

TEST(Getdents, SmallBufferGivesSameListing) {
  FD a(open("/usr", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(a.get());
  FD b(open("/usr", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(b.get());
  auto big = List64(a.get(), 1 << 16);
  auto small = List64(b.get(), 64);  // one or two records per call
  ASSERT_EQ(big.size(), small.size());
  for (auto& [name, e] : big) EXPECT_EQ(small.count(name), 1u) << name;
}

TEST(Getdents, RewindWithLseek) {
  FD fd(open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(fd.get());
  auto first = List64(fd.get());
  char buf[512];
  EXPECT_EQ(syscall(SYS_getdents64, fd.get(), buf, sizeof(buf)), 0);
  ASSERT_EQ(lseek(fd.get(), 0, SEEK_SET), 0);
  auto second = List64(fd.get());
  EXPECT_EQ(first.size(), second.size());
}

TEST(Getdents, LegacyGetdentsMatches) {
  FD a(open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(a.get());
  auto want = List64(a.get());
  FD fd(open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(fd.get());
  std::set<std::string> got;
  char buf[4096];
  for (;;) {
    long n = syscall(SYS_getdents, fd.get(), buf, sizeof(buf));
    ASSERT_GE(n, 0) << strerror(errno);
    if (n == 0) break;
    for (long off = 0; off < n;) {
      // struct linux_dirent: ino, off, reclen, name..., pad, type (last byte).
      unsigned short reclen;
      memcpy(&reclen, buf + off + 16, sizeof(reclen));
      ASSERT_GT(reclen, 0);
      std::string name(buf + off + 18);
      unsigned char type = buf[off + reclen - 1];
      got.insert(name);
      if (want.count(name)) {
        EXPECT_EQ(type, want[name].type) << name;
      }
      off += reclen;
    }
  }
  EXPECT_EQ(got.size(), want.size());
  for (auto& [name, e] : want) EXPECT_EQ(got.count(name), 1u) << name;
}

TEST(Getdents, Errors) {
  char buf[4096];
  EXPECT_ERRNO(EBADF, syscall(SYS_getdents64, -1, buf, sizeof(buf)));
  FD file(open("/etc/passwd", O_RDONLY));
  ASSERT_OK(file.get());
  EXPECT_ERRNO(ENOTDIR, syscall(SYS_getdents64, file.get(), buf, sizeof(buf)));
  FD dir(open("/", O_RDONLY | O_DIRECTORY));
  ASSERT_OK(dir.get());
  // Too small for even one record.
  EXPECT_ERRNO(EINVAL, syscall(SYS_getdents64, dir.get(), buf, 1));
  EXPECT_ERRNO(EFAULT,
               syscall(SYS_getdents64, dir.get(), BadPointer(), sizeof(buf)));
}

}  // namespace
}  // namespace bz
