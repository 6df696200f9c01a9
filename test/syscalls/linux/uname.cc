// uname: the fields every Linux has. The release itself is not compared (the
// sandbox reports its own, see test/e2e).
#include <ctype.h>
#include <limits.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "test_util.h"

namespace bz {
namespace {

TEST(Uname, Fields) {
  struct utsname u;
  ASSERT_OK(uname(&u));
  EXPECT_STREQ(u.sysname, "Linux");
  EXPECT_STREQ(u.machine, "x86_64");
  ASSERT_GT(strlen(u.release), 0u);
  EXPECT_TRUE(isdigit(static_cast<unsigned char>(u.release[0]))) << u.release;
  EXPECT_NE(strchr(u.release, '.'), nullptr) << u.release;
  EXPECT_GT(strlen(u.version), 0u);
}

TEST(Uname, NodenameIsHostname) {
  struct utsname u;
  ASSERT_OK(uname(&u));
  char host[HOST_NAME_MAX + 1];
  ASSERT_OK(gethostname(host, sizeof(host)));
  EXPECT_STREQ(u.nodename, host);
}

TEST(Uname, FieldsAreTerminated) {
  struct utsname u;
  memset(&u, 'x', sizeof(u));
  ASSERT_OK(syscall(SYS_uname, &u));
  for (const char* f : {u.sysname, u.nodename, u.release, u.version,
                        u.machine, u.domainname}) {
    EXPECT_LT(strnlen(f, sizeof(u.sysname)), sizeof(u.sysname));
  }
}

TEST(Uname, BadPointer) {
  EXPECT_ERRNO(EFAULT, syscall(SYS_uname, BadPointer()));
}

}  // namespace
}  // namespace bz
