// Extended attributes: getxattr, setxattr, listxattr and removexattr with
// their l* and f* forms, on files in a temporary directory under
// TEST_TMPDIR (or /tmp): values, flags, size probing, ERANGE, E2BIG,
// ENODATA, EOPNOTSUPP for unknown namespaces, and user.* being refused on
// symlinks and FIFOs.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "test_util.h"

namespace bz {
namespace {

class Xattr : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    if (base == nullptr || *base == 0) base = "/tmp";
    std::string tmpl = std::string(base) + "/bz-xattr-XXXXXX";
    ASSERT_NE(mkdtemp(&tmpl[0]), nullptr) << strerror(errno);
    dir_ = tmpl;
    file_ = dir_ + "/f";
    FD fd(open(file_.c_str(), O_CREAT | O_WRONLY, 0644));
    ASSERT_OK(fd.get());
    if (setxattr(file_.c_str(), "user.probe", "x", 1, 0) != 0) {
      GTEST_SKIP() << "no user.* attributes under " << base << ": "
                   << strerror(errno);
    }
    ASSERT_OK(removexattr(file_.c_str(), "user.probe"));
  }

  void TearDown() override {
    for (const char* n : {"/f", "/link", "/fifo", "/d"}) {
      std::string p = dir_ + n;
      unlink(p.c_str());
      rmdir(p.c_str());
    }
    rmdir(dir_.c_str());
  }

  static std::vector<std::string> Names(const char* buf, ssize_t n) {
    std::vector<std::string> v;
    for (ssize_t i = 0; i < n;) {
      std::string s(buf + i);
      v.push_back(s);
      i += s.size() + 1;
    }
    std::sort(v.begin(), v.end());
    return v;
  }

  std::string dir_, file_;
};

TEST_F(Xattr, SetGetThroughEveryForm) {
  const char* f = file_.c_str();
  ASSERT_OK(setxattr(f, "user.a", "alpha", 5, 0));
  char buf[64];
  EXPECT_EQ(getxattr(f, "user.a", buf, sizeof(buf)), 5);
  EXPECT_EQ(std::string(buf, 5), "alpha");
  EXPECT_EQ(lgetxattr(f, "user.a", buf, sizeof(buf)), 5);
  FD fd(open(f, O_RDONLY));
  ASSERT_OK(fd.get());
  EXPECT_EQ(fgetxattr(fd.get(), "user.a", buf, sizeof(buf)), 5);
  // A read-only descriptor may still set attributes.
  ASSERT_OK(fsetxattr(fd.get(), "user.b", "", 0, 0));
  EXPECT_EQ(getxattr(f, "user.b", buf, sizeof(buf)), 0);
  ASSERT_OK(lsetxattr(f, "user.a", "beta", 4, XATTR_REPLACE));
  EXPECT_EQ(getxattr(f, "user.a", buf, sizeof(buf)), 4);
  EXPECT_EQ(std::string(buf, 4), "beta");
}

TEST_F(Xattr, SizeProbeAndErange) {
  const char* f = file_.c_str();
  std::string big(3000, 'v');
  ASSERT_OK(setxattr(f, "user.big", big.data(), big.size(), 0));
  EXPECT_EQ(getxattr(f, "user.big", nullptr, 0), 3000);
  char small[10];
  EXPECT_ERRNO(ERANGE, getxattr(f, "user.big", small, sizeof(small)));
  std::string got(4000, 0);
  EXPECT_EQ(getxattr(f, "user.big", &got[0], got.size()), 3000);
  EXPECT_EQ(got.substr(0, 3000), big);
  EXPECT_ERRNO(EFAULT, getxattr(f, "user.big", BadPointer(), 4000));
}

TEST_F(Xattr, Flags) {
  const char* f = file_.c_str();
  EXPECT_ERRNO(ENODATA, setxattr(f, "user.x", "1", 1, XATTR_REPLACE));
  ASSERT_OK(setxattr(f, "user.x", "1", 1, XATTR_CREATE));
  EXPECT_ERRNO(EEXIST, setxattr(f, "user.x", "2", 1, XATTR_CREATE));
  EXPECT_ERRNO(EINVAL, setxattr(f, "user.x", "2", 1, 4));
  char buf[4];
  EXPECT_EQ(getxattr(f, "user.x", buf, sizeof(buf)), 1);
  EXPECT_EQ(buf[0], '1');
}

TEST_F(Xattr, ListAndRemove) {
  const char* f = file_.c_str();
  ASSERT_OK(setxattr(f, "user.one", "1", 1, 0));
  ASSERT_OK(setxattr(f, "user.two", "22", 2, 0));
  ssize_t n = listxattr(f, nullptr, 0);
  ASSERT_GE(n, static_cast<ssize_t>(sizeof("user.one") + sizeof("user.two")));
  std::vector<char> buf(n);
  ASSERT_EQ(listxattr(f, buf.data(), buf.size()), n);
  std::vector<std::string> names = Names(buf.data(), n);
  EXPECT_NE(std::find(names.begin(), names.end(), "user.one"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "user.two"), names.end());
  char small[4];
  EXPECT_ERRNO(ERANGE, listxattr(f, small, sizeof(small)));
  FD fd(open(f, O_RDONLY));
  EXPECT_EQ(flistxattr(fd.get(), nullptr, 0), n);
  EXPECT_EQ(llistxattr(f, nullptr, 0), n);

  ASSERT_OK(removexattr(f, "user.one"));
  EXPECT_ERRNO(ENODATA, removexattr(f, "user.one"));
  EXPECT_ERRNO(ENODATA, getxattr(f, "user.one", nullptr, 0));
  ASSERT_OK(fremovexattr(fd.get(), "user.two"));
  EXPECT_ERRNO(ENODATA, lremovexattr(f, "user.two"));
}

TEST_F(Xattr, BadNamesAndSizes) {
  const char* f = file_.c_str();
  EXPECT_ERRNO(ERANGE, setxattr(f, "", "v", 1, 0));
  EXPECT_ERRNO(ERANGE, getxattr(f, "", nullptr, 0));
  std::string longName = "user." + std::string(251, 'n');  // 256 bytes
  EXPECT_ERRNO(ERANGE, setxattr(f, longName.c_str(), "v", 1, 0));
  EXPECT_ERRNO(ERANGE, getxattr(f, longName.c_str(), nullptr, 0));
  std::string maxName = "user." + std::string(250, 'n');  // 255 bytes
  EXPECT_ERRNO(ENODATA, getxattr(f, maxName.c_str(), nullptr, 0));
  EXPECT_ERRNO(EOPNOTSUPP, setxattr(f, "nonamespace", "v", 1, 0));
  EXPECT_ERRNO(EOPNOTSUPP, getxattr(f, "bogus.name", nullptr, 0));
  std::string huge(65537, 'h');
  EXPECT_ERRNO(E2BIG, setxattr(f, "user.huge", huge.data(), huge.size(), 0));
  EXPECT_ERRNO(EFAULT, setxattr(f, "user.v", BadPointer(), 10, 0));
  EXPECT_ERRNO(EFAULT, setxattr(f, static_cast<const char*>(BadPointer()), "v", 1, 0));
  EXPECT_ERRNO(ENOENT, getxattr((dir_ + "/missing").c_str(), "user.a", nullptr, 0));
}

TEST_F(Xattr, UserNamespaceOnlyOnFilesAndDirectories) {
  std::string link = dir_ + "/link", fifo = dir_ + "/fifo", d = dir_ + "/d";
  ASSERT_OK(symlink("f", link.c_str()));
  ASSERT_OK(mkfifo(fifo.c_str(), 0644));
  ASSERT_OK(mkdir(d.c_str(), 0755));
  EXPECT_ERRNO(EPERM, lsetxattr(link.c_str(), "user.a", "v", 1, 0));
  EXPECT_ERRNO(ENODATA, lgetxattr(link.c_str(), "user.a", nullptr, 0));
  EXPECT_ERRNO(EPERM, setxattr(fifo.c_str(), "user.a", "v", 1, 0));
  // Through the link, the target gets it.
  ASSERT_OK(setxattr(link.c_str(), "user.via", "v", 1, 0));
  EXPECT_EQ(getxattr(file_.c_str(), "user.via", nullptr, 0), 1);
  ASSERT_OK(setxattr(d.c_str(), "user.dir", "v", 1, 0));
  EXPECT_EQ(getxattr(d.c_str(), "user.dir", nullptr, 0), 1);
}

TEST_F(Xattr, OPathDescriptorsAreRefused) {
  FD fd(open(file_.c_str(), O_PATH));
  ASSERT_OK(fd.get());
  EXPECT_ERRNO(EBADF, fgetxattr(fd.get(), "user.a", nullptr, 0));
  EXPECT_ERRNO(EBADF, fsetxattr(fd.get(), "user.a", "v", 1, 0));
  EXPECT_ERRNO(EBADF, flistxattr(fd.get(), nullptr, 0));
  EXPECT_ERRNO(EBADF, fremovexattr(fd.get(), "user.a"));
  EXPECT_ERRNO(EBADF, fgetxattr(-1, "user.a", nullptr, 0));
}

TEST_F(Xattr, TrustedNeedsCapSysAdmin) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  const char* f = file_.c_str();
  ASSERT_OK(setxattr(f, "trusted.t", "tv", 2, 0));
  char buf[4];
  EXPECT_EQ(getxattr(f, "trusted.t", buf, sizeof(buf)), 2);
  ssize_t n = listxattr(f, nullptr, 0);
  std::vector<char> list(n);
  ASSERT_EQ(listxattr(f, list.data(), list.size()), n);
  std::vector<std::string> names = Names(list.data(), n);
  EXPECT_NE(std::find(names.begin(), names.end(), "trusted.t"), names.end());
  ASSERT_OK(removexattr(f, "trusted.t"));
}

}  // namespace
}  // namespace bz
