// Shared helpers for the Buffer Zone syscall tests. Each test file includes
// this header; the runner hashes it together with the file, so changing it
// rebuilds every test.
#ifndef BUFFERZONE_TEST_SYSCALLS_LINUX_TEST_UTIL_H_
#define BUFFERZONE_TEST_SYSCALLS_LINUX_TEST_UTIL_H_

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "gtest/gtest.h"

namespace bz {

// Expects `expr` to fail with -1 and errno `err`.
#define EXPECT_ERRNO(err, expr)                                         \
  do {                                                                  \
    errno = 0;                                                          \
    long bz_ret_ = static_cast<long>(expr);                             \
    int bz_errno_ = errno;                                              \
    EXPECT_EQ(bz_ret_, -1) << #expr;                                    \
    EXPECT_EQ(bz_errno_, (err))                                         \
        << #expr << ": got " << strerror(bz_errno_) << ", want "       \
        << strerror(err);                                               \
  } while (0)

#define ASSERT_ERRNO(err, expr)                                         \
  do {                                                                  \
    errno = 0;                                                          \
    long bz_ret_ = static_cast<long>(expr);                             \
    int bz_errno_ = errno;                                              \
    ASSERT_EQ(bz_ret_, -1) << #expr;                                    \
    ASSERT_EQ(bz_errno_, (err))                                         \
        << #expr << ": got " << strerror(bz_errno_) << ", want "       \
        << strerror(err);                                               \
  } while (0)

// Asserts that `expr` does not return -1, naming errno if it does.
#define ASSERT_OK(expr)                                                 \
  do {                                                                  \
    errno = 0;                                                          \
    long bz_ret_ = static_cast<long>(expr);                             \
    ASSERT_NE(bz_ret_, -1) << #expr << ": " << strerror(errno);         \
  } while (0)

#define EXPECT_OK(expr)                                                 \
  do {                                                                  \
    errno = 0;                                                          \
    long bz_ret_ = static_cast<long>(expr);                             \
    EXPECT_NE(bz_ret_, -1) << #expr << ": " << strerror(errno);         \
  } while (0)

// An owned file descriptor, closed when it goes out of scope.
class FD {
 public:
  explicit FD(int fd = -1) : fd_(fd) {}
  FD(const FD&) = delete;
  FD& operator=(const FD&) = delete;
  FD(FD&& o) : fd_(o.release()) {}
  ~FD() { reset(); }
  int get() const { return fd_; }
  int release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1) {
    if (fd_ >= 0) close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

// An address that is never mapped: the first page. Linux refuses to map it
// (vm.mmap_min_addr), so system calls given it fail with EFAULT.
inline void* BadPointer() { return reinterpret_cast<void*>(8); }

inline long PageSize() { return sysconf(_SC_PAGESIZE); }

// Drops capability cap from the calling thread's effective set.
inline bool DropEffectiveCapability(int cap) {
  __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2];
  if (syscall(SYS_capget, &h, d) != 0) return false;
  d[cap / 32].effective &= ~(1u << (cap % 32));
  return syscall(SYS_capset, &h, d) == 0;
}

// A host path that is a symbolic link, or "" if none of the usual ones is.
inline std::string FindSymlink() {
  for (const char* p : {"/bin", "/lib", "/sbin", "/lib64", "/etc/os-release",
                        "/etc/localtime", "/etc/mtab"}) {
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISLNK(st.st_mode)) return p;
  }
  return "";
}

// Reads all of a file with read(2); "" and a test failure on error.
inline std::string ReadAll(const char* path) {
  FD fd(open(path, O_RDONLY));
  EXPECT_GE(fd.get(), 0) << path << ": " << strerror(errno);
  std::string s;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd.get(), buf, sizeof(buf));
    if (n <= 0) {
      EXPECT_EQ(n, 0) << strerror(errno);
      break;
    }
    s.append(buf, n);
  }
  return s;
}

}  // namespace bz

#endif  // BUFFERZONE_TEST_SYSCALLS_LINUX_TEST_UTIL_H_
