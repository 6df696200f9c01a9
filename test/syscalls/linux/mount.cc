// mount(2) and umount2(2) inside the sandbox: tmpfs with size= and mode=,
// proc, mqueue, MS_NOSUID/MS_NODEV/MS_NOEXEC, bind mounts (MS_BIND, MS_REC), read-only remounts, MNT_DETACH,
// EBUSY, the errors, and /proc/self/mountinfo and /proc/self/mounts
// agreeing with the tree. Needs CAP_SYS_ADMIN (root).
#include <fcntl.h>
#include <mqueue.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace bz {
namespace {

struct MountInfo {
  int id, parent;
  std::string root, point, opts, fstype, source, super;
};

std::vector<MountInfo> ReadMountInfo() {
  std::vector<MountInfo> out;
  std::istringstream in(ReadAll("/proc/self/mountinfo"));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    MountInfo m;
    std::string devs, tok;
    l >> m.id >> m.parent >> devs >> m.root >> m.point >> m.opts;
    while (l >> tok && tok != "-") {
    }
    l >> m.fstype >> m.source >> m.super;
    out.push_back(m);
  }
  return out;
}

// The last (topmost) mountinfo entry at point, if any.
bool FindMount(const std::string& point, MountInfo* m) {
  bool found = false;
  for (const auto& e : ReadMountInfo()) {
    if (e.point == point) {
      *m = e;
      found = true;
    }
  }
  return found;
}

bool Exists(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0;
}

class Mount : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root";
    const char* base = getenv("TEST_TMPDIR");
    if (base == nullptr || *base == 0) base = "/tmp";
    std::string tmpl = std::string(base) + "/bz-mount-XXXXXX";
    ASSERT_NE(mkdtemp(&tmpl[0]), nullptr) << strerror(errno);
    dir_ = tmpl;
    // Everything else happens on a tmpfs of our own.
    ASSERT_OK(mount("none", dir_.c_str(), "tmpfs", 0, "size=1m,mode=755"));
  }
  void TearDown() override {
    if (dir_.empty()) return;
    umount2(dir_.c_str(), MNT_DETACH);
    rmdir(dir_.c_str());
  }
  std::string P(const std::string& n) { return dir_ + "/" + n; }

  std::string dir_;
};

TEST_F(Mount, TmpfsOptionsAndMountinfo) {
  struct stat st;
  ASSERT_OK(stat(dir_.c_str(), &st));
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  MountInfo m;
  ASSERT_TRUE(FindMount(dir_, &m));
  EXPECT_EQ(m.fstype, "tmpfs");
  EXPECT_EQ(m.source, "none");
  EXPECT_EQ(m.root, "/");
  EXPECT_EQ(m.opts.substr(0, 3), "rw,");
  EXPECT_NE(m.super.find("size=1024k"), std::string::npos) << m.super;
  EXPECT_NE(m.super.find("mode=755"), std::string::npos) << m.super;
  // The parent is the mount the directory was on.
  bool parent = false;
  for (const auto& e : ReadMountInfo()) parent = parent || e.id == m.parent;
  EXPECT_TRUE(parent);
  // /proc/self/mounts has it too.
  std::string mounts = ReadAll("/proc/self/mounts");
  EXPECT_NE(mounts.find("none " + dir_ + " tmpfs rw"), std::string::npos) << mounts;
}

TEST_F(Mount, UmountRemovesIt) {
  ASSERT_OK(mkdir(P("sub").c_str(), 0755));
  ASSERT_OK(mount("none", P("sub").c_str(), "tmpfs", 0, nullptr));
  FD f(open(P("sub/file").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_OK(f.get());
  f.reset();
  ASSERT_OK(umount2(P("sub").c_str(), 0));
  EXPECT_FALSE(Exists(P("sub/file")));
  MountInfo m;
  EXPECT_FALSE(FindMount(P("sub"), &m));
}

TEST_F(Mount, BusyAndDetach) {
  ASSERT_OK(mkdir(P("sub").c_str(), 0755));
  ASSERT_OK(mount("none", P("sub").c_str(), "tmpfs", 0, nullptr));
  FD f(open(P("sub/file").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_OK(f.get());
  EXPECT_ERRNO(EBUSY, umount2(P("sub").c_str(), 0));
  ASSERT_OK(umount2(P("sub").c_str(), MNT_DETACH));
  EXPECT_FALSE(Exists(P("sub/file")));
  // The open file still works.
  EXPECT_EQ(write(f.get(), "x", 1), 1);
}

TEST_F(Mount, SubmountMakesBusy) {
  ASSERT_OK(mkdir(P("a").c_str(), 0755));
  ASSERT_OK(mount("none", P("a").c_str(), "tmpfs", 0, nullptr));
  ASSERT_OK(mkdir(P("a/b").c_str(), 0755));
  ASSERT_OK(mount("none", P("a/b").c_str(), "tmpfs", 0, nullptr));
  EXPECT_ERRNO(EBUSY, umount2(P("a").c_str(), 0));
  ASSERT_OK(umount2(P("a/b").c_str(), 0));
  EXPECT_OK(umount2(P("a").c_str(), 0));
}

TEST_F(Mount, BindMountOfASubdirectory) {
  ASSERT_OK(mkdir(P("a").c_str(), 0755));
  ASSERT_OK(mkdir(P("b").c_str(), 0755));
  FD f(open(P("a/f").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_OK(mount(P("a").c_str(), P("b").c_str(), nullptr, MS_BIND, nullptr));
  EXPECT_TRUE(Exists(P("b/f")));
  struct stat sa, sb;
  ASSERT_OK(stat(P("a/f").c_str(), &sa));
  ASSERT_OK(stat(P("b/f").c_str(), &sb));
  EXPECT_EQ(sa.st_ino, sb.st_ino);
  EXPECT_EQ(sa.st_dev, sb.st_dev);
  MountInfo m;
  ASSERT_TRUE(FindMount(P("b"), &m));
  EXPECT_EQ(m.root, "/a");
  EXPECT_EQ(m.fstype, "tmpfs");
  ASSERT_OK(umount2(P("b").c_str(), 0));
  EXPECT_FALSE(Exists(P("b/f")));
}

TEST_F(Mount, ReadOnlyRemount) {
  ASSERT_OK(mkdir(P("a").c_str(), 0755));
  ASSERT_OK(mkdir(P("b").c_str(), 0755));
  ASSERT_OK(mount(P("a").c_str(), P("b").c_str(), nullptr, MS_BIND, nullptr));
  ASSERT_OK(mount(nullptr, P("b").c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr));
  EXPECT_ERRNO(EROFS, open(P("b/new").c_str(), O_CREAT | O_RDWR, 0644));
  EXPECT_ERRNO(EROFS, mkdir(P("b/d").c_str(), 0755));
  FD ok(open(P("a/new").c_str(), O_CREAT | O_RDWR, 0644));
  EXPECT_OK(ok.get());
  MountInfo m;
  ASSERT_TRUE(FindMount(P("b"), &m));
  EXPECT_EQ(m.opts.substr(0, 3), "ro,");
  ASSERT_OK(mount(nullptr, P("b").c_str(), nullptr, MS_REMOUNT | MS_BIND, nullptr));
  FD now(open(P("b/new2").c_str(), O_CREAT | O_RDWR, 0644));
  EXPECT_OK(now.get());
}

TEST_F(Mount, RecursiveBind) {
  ASSERT_OK(mkdir(P("x").c_str(), 0755));
  ASSERT_OK(mkdir(P("x/sub").c_str(), 0755));
  ASSERT_OK(mount("none", P("x/sub").c_str(), "tmpfs", 0, nullptr));
  FD f(open(P("x/sub/inner").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_OK(mkdir(P("plain").c_str(), 0755));
  ASSERT_OK(mkdir(P("rec").c_str(), 0755));
  ASSERT_OK(mount(P("x").c_str(), P("plain").c_str(), nullptr, MS_BIND, nullptr));
  ASSERT_OK(mount(P("x").c_str(), P("rec").c_str(), nullptr, MS_BIND | MS_REC, nullptr));
  EXPECT_TRUE(Exists(P("plain/sub")));
  EXPECT_FALSE(Exists(P("plain/sub/inner")));
  EXPECT_TRUE(Exists(P("rec/sub/inner")));
  MountInfo m;
  EXPECT_TRUE(FindMount(P("rec/sub"), &m));
  ASSERT_OK(umount2(P("rec").c_str(), MNT_DETACH));
  EXPECT_FALSE(Exists(P("rec/sub")));
  EXPECT_FALSE(FindMount(P("rec/sub"), &m));
  ASSERT_OK(umount2(P("plain").c_str(), 0));
  ASSERT_OK(umount2(P("x/sub").c_str(), MNT_DETACH));
}

// A recursive bind of a tree onto a directory inside that tree copies the
// mounts that were there before the call, not the new mount itself (Linux
// copies the tree, then attaches it).
TEST_F(Mount, RecursiveBindIntoItself) {
  ASSERT_OK(mkdir(P("x").c_str(), 0755));
  ASSERT_OK(mkdir(P("x/sub").c_str(), 0755));
  ASSERT_OK(mkdir(P("x/in").c_str(), 0755));
  ASSERT_OK(mount("none", P("x/sub").c_str(), "tmpfs", 0, nullptr));
  FD f(open(P("x/sub/inner").c_str(), O_CREAT | O_RDWR, 0644));
  ASSERT_OK(f.get());
  ASSERT_OK(mount(P("x").c_str(), P("x/in").c_str(), nullptr, MS_BIND | MS_REC, nullptr));
  EXPECT_TRUE(Exists(P("x/in/sub/inner")));
  EXPECT_TRUE(Exists(P("x/in/in")));
  EXPECT_FALSE(Exists(P("x/in/in/sub")));
  ASSERT_OK(umount2(P("x/in").c_str(), MNT_DETACH));
  EXPECT_FALSE(Exists(P("x/in/sub")));
  ASSERT_OK(umount2(P("x/sub").c_str(), MNT_DETACH));
}

TEST_F(Mount, Proc) {
  ASSERT_OK(mkdir(P("proc").c_str(), 0755));
  ASSERT_OK(mount("proc", P("proc").c_str(), "proc", 0, nullptr));
  EXPECT_TRUE(Exists(P("proc/self/status")));
  MountInfo m;
  ASSERT_TRUE(FindMount(P("proc"), &m));
  EXPECT_EQ(m.fstype, "proc");
  ASSERT_OK(umount2(P("proc").c_str(), 0));
}

TEST_F(Mount, MountFlags) {
  ASSERT_OK(mkdir(P("nodev").c_str(), 0755));
  ASSERT_OK(mount("none", P("nodev").c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr));
  MountInfo m;
  ASSERT_TRUE(FindMount(P("nodev"), &m));
  EXPECT_EQ(m.opts, "rw,nosuid,nodev,noexec,relatime");
  // No device node opens on a nodev mount; O_PATH still does.
  ASSERT_OK(mknod(P("nodev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)));
  EXPECT_ERRNO(EACCES, open(P("nodev/null").c_str(), O_RDWR));
  FD path(open(P("nodev/null").c_str(), O_PATH));
  EXPECT_OK(path.get());
  path.reset();
  // The same node on a mount without nodev opens.
  ASSERT_OK(mknod(P("null").c_str(), S_IFCHR | 0666, makedev(1, 3)));
  FD null(open(P("null").c_str(), O_RDWR));
  EXPECT_OK(null.get());
  ASSERT_OK(umount2(P("nodev").c_str(), 0));
}

TEST_F(Mount, Mqueue) {
  ASSERT_OK(mkdir(P("mq").c_str(), 0755));
  ASSERT_OK(mount("mqueue", P("mq").c_str(), "mqueue", 0, nullptr));
  MountInfo m;
  ASSERT_TRUE(FindMount(P("mq"), &m));
  EXPECT_EQ(m.fstype, "mqueue");
  // The mount shows the queues mq_open makes, and the reverse.
  std::string name = "bz_mount_mq_" + std::to_string(getpid());
  mqd_t q = mq_open(("/" + name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, nullptr);
  ASSERT_OK(q);
  EXPECT_TRUE(Exists(P("mq/" + name)));
  ASSERT_OK(unlink(P("mq/" + name).c_str()));
  EXPECT_ERRNO(ENOENT, mq_unlink(("/" + name).c_str()));
  mq_close(q);
  ASSERT_OK(umount2(P("mq").c_str(), 0));
}

TEST_F(Mount, Errors) {
  ASSERT_OK(mkdir(P("d").c_str(), 0755));
  FD f(open(P("file").c_str(), O_CREAT | O_RDWR, 0644));
  EXPECT_ERRNO(ENODEV, mount("none", P("d").c_str(), "no-such-fs", 0, nullptr));
  EXPECT_ERRNO(ENOENT, mount("none", P("missing").c_str(), "tmpfs", 0, nullptr));
  EXPECT_ERRNO(ENOTDIR, mount("none", P("file").c_str(), "tmpfs", 0, nullptr));
  EXPECT_ERRNO(EINVAL, mount("none", P("d").c_str(), "tmpfs", 0, "bogus=1"));
  EXPECT_ERRNO(EINVAL, umount2(P("d").c_str(), 0));  // Not a mount point.
  EXPECT_ERRNO(EINVAL, umount2(dir_.c_str(), 0x100));
  EXPECT_ERRNO(ENOENT, umount2(P("missing").c_str(), 0));
  EXPECT_ERRNO(EFAULT, umount2((const char*)BadPointer(), 0));
}

TEST_F(Mount, NeedsCapSysAdmin) {
  ASSERT_OK(mkdir(P("d").c_str(), 0777));
  pid_t pid = fork();
  ASSERT_OK(pid);
  if (pid == 0) {
    // Relative paths: the directories above may not be searchable.
    if (chdir(dir_.c_str()) != 0) _exit(4);
    if (setresuid(65534, 65534, 65534) != 0) _exit(1);
    if (mount("none", "d", "tmpfs", 0, nullptr) == 0 || errno != EPERM) _exit(2);
    if (umount2(".", 0) == 0 || errno != EPERM) _exit(3);
    _exit(0);
  }
  int status;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
}

}  // namespace
}  // namespace bz
