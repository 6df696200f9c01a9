// readahead(2): a hint that succeeds on regular files open for reading,
// EBADF for descriptors not open for reading, EINVAL for non-regular files.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <string>

#include "test_util.h"

namespace bz {
namespace {

TEST(Readahead, RegularFilesOnly) {
  FD self(open("/proc/self/exe", O_RDONLY));
  ASSERT_OK(self.get());
  EXPECT_EQ(readahead(self.get(), 0, 1 << 20), 0);
  EXPECT_EQ(readahead(self.get(), 1 << 30, 4096), 0);  // beyond the end
  int p[2];
  ASSERT_OK(pipe(p));
  EXPECT_ERRNO(EINVAL, readahead(p[0], 0, 4096));
  close(p[0]);
  close(p[1]);
  EXPECT_ERRNO(EBADF, readahead(-1, 0, 4096));
  const char* base = getenv("TEST_TMPDIR");
  std::string path = std::string(base && *base ? base : "/tmp") + "/bz-readahead-XXXXXX";
  FD w(mkstemp(&path[0]));
  ASSERT_OK(w.get());
  unlink(path.c_str());
  FD wo(open(("/proc/self/fd/" + std::to_string(w.get())).c_str(), O_WRONLY));
  ASSERT_OK(wo.get());
  EXPECT_ERRNO(EBADF, readahead(wo.get(), 0, 4096));
  FD path_only(open("/proc/self/exe", O_PATH));
  EXPECT_ERRNO(EBADF, readahead(path_only.get(), 0, 4096));
}

}  // namespace
}  // namespace bz
