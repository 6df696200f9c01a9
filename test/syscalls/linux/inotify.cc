// inotify(7): events for changes in a watched directory and to a watched
// file (IN_CREATE, IN_MODIFY, IN_CLOSE_WRITE, IN_DELETE, IN_MOVED_FROM/TO
// with one cookie, IN_ATTRIB, IN_DELETE_SELF then IN_IGNORED), watch
// flags (IN_ONESHOT, IN_ONLYDIR, IN_MASK_ADD, IN_MASK_CREATE), the record
// format, merging of repeats, and readiness through poll and epoll.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "test_util.h"

namespace bz {
namespace {

struct Ev {
  int wd;
  uint32_t mask;
  uint32_t cookie;
  std::string name;
};

class Inotify : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* base = getenv("TEST_TMPDIR");
    if (base == nullptr || *base == 0) base = "/tmp";
    std::string tmpl = std::string(base) + "/bz-inotify-XXXXXX";
    ASSERT_NE(mkdtemp(&tmpl[0]), nullptr) << strerror(errno);
    dir_ = tmpl;
    fd_.reset(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
    ASSERT_OK(fd_.get());
  }

  void TearDown() override {
    fd_.reset();
    DIR* d = opendir(dir_.c_str());
    if (d != nullptr) {
      while (struct dirent* e = readdir(d)) {
        std::string n = e->d_name;
        if (n == "." || n == "..") continue;
        std::string p = Path(n);
        if (unlink(p.c_str()) != 0) rmdir(p.c_str());
      }
      closedir(d);
    }
    rmdir(dir_.c_str());
  }

  std::string Path(const std::string& n) { return dir_ + "/" + n; }

  void Touch(const std::string& n) {
    int fd = open(Path(n).c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_OK(fd);
    close(fd);
  }

  // Reads every queued event.
  std::vector<Ev> Events() {
    std::vector<Ev> out;
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
      ssize_t n = read(fd_.get(), buf, sizeof(buf));
      if (n < 0) {
        EXPECT_EQ(errno, EAGAIN);
        break;
      }
      for (ssize_t off = 0; off < n;) {
        auto* e = reinterpret_cast<struct inotify_event*>(buf + off);
        out.push_back({e->wd, e->mask, e->cookie, e->len ? std::string(e->name) : ""});
        off += sizeof(*e) + e->len;
      }
    }
    return out;
  }

  std::string dir_;
  FD fd_;
};

TEST_F(Inotify, DirectoryEvents) {
  int wd = inotify_add_watch(fd_.get(), dir_.c_str(),
                             IN_CREATE | IN_MODIFY | IN_CLOSE_WRITE | IN_DELETE);
  ASSERT_OK(wd);
  int f = open(Path("f").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_OK(f);
  ASSERT_EQ(write(f, "x", 1), 1);
  close(f);
  ASSERT_OK(unlink(Path("f").c_str()));
  ASSERT_OK(mkdir(Path("d").c_str(), 0755));
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 5u);
  uint32_t want[] = {IN_CREATE, IN_MODIFY, IN_CLOSE_WRITE, IN_DELETE, IN_CREATE | IN_ISDIR};
  for (int i = 0; i < 5; i++) {
    EXPECT_EQ(ev[i].wd, wd);
    EXPECT_EQ(ev[i].mask, want[i]) << i;
    EXPECT_EQ(ev[i].name, i == 4 ? "d" : "f") << i;
    EXPECT_EQ(ev[i].cookie, 0u);
  }
}

TEST_F(Inotify, RepeatedEventsMerge) {
  Touch("f");
  int wd = inotify_add_watch(fd_.get(), Path("f").c_str(), IN_MODIFY);
  ASSERT_OK(wd);
  FD f(open(Path("f").c_str(), O_WRONLY));
  ASSERT_EQ(write(f.get(), "a", 1), 1);
  ASSERT_EQ(write(f.get(), "b", 1), 1);
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].mask, (uint32_t)IN_MODIFY);
  EXPECT_EQ(ev[0].name, "");
}

TEST_F(Inotify, RenameCookies) {
  Touch("a");
  ASSERT_OK(mkdir(Path("sub").c_str(), 0755));
  int wd = inotify_add_watch(fd_.get(), dir_.c_str(), IN_MOVED_FROM | IN_MOVED_TO);
  int wd2 = inotify_add_watch(fd_.get(), Path("sub").c_str(), IN_MOVED_TO);
  ASSERT_OK(wd);
  ASSERT_OK(wd2);
  ASSERT_OK(rename(Path("a").c_str(), Path("sub/b").c_str()));
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].wd, wd);
  EXPECT_EQ(ev[0].mask, (uint32_t)IN_MOVED_FROM);
  EXPECT_EQ(ev[0].name, "a");
  EXPECT_EQ(ev[1].wd, wd2);
  EXPECT_EQ(ev[1].mask, (uint32_t)IN_MOVED_TO);
  EXPECT_EQ(ev[1].name, "b");
  EXPECT_NE(ev[0].cookie, 0u);
  EXPECT_EQ(ev[0].cookie, ev[1].cookie);
  unlink(Path("sub/b").c_str());
}

TEST_F(Inotify, AttribOnChmod) {
  Touch("f");
  int wd = inotify_add_watch(fd_.get(), Path("f").c_str(), IN_ATTRIB);
  ASSERT_OK(wd);
  ASSERT_OK(chmod(Path("f").c_str(), 0600));
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].mask, (uint32_t)IN_ATTRIB);
}

TEST_F(Inotify, DeleteSelfThenIgnored) {
  Touch("f");
  int wd = inotify_add_watch(fd_.get(), Path("f").c_str(), IN_DELETE_SELF);
  ASSERT_OK(wd);
  ASSERT_OK(unlink(Path("f").c_str()));
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].mask, (uint32_t)IN_DELETE_SELF);
  EXPECT_EQ(ev[1].mask, (uint32_t)IN_IGNORED);
  EXPECT_EQ(ev[1].wd, wd);
  // The watch is gone.
  EXPECT_ERRNO(EINVAL, inotify_rm_watch(fd_.get(), wd));
}

TEST_F(Inotify, RmdirOfWatchedDirectory) {
  ASSERT_OK(mkdir(Path("d").c_str(), 0755));
  int wd = inotify_add_watch(fd_.get(), Path("d").c_str(), IN_DELETE_SELF);
  ASSERT_OK(wd);
  ASSERT_OK(rmdir(Path("d").c_str()));
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_TRUE(ev[0].mask & IN_DELETE_SELF);
  EXPECT_EQ(ev[1].mask, (uint32_t)IN_IGNORED);
}

TEST_F(Inotify, OneShot) {
  Touch("f");
  int wd = inotify_add_watch(fd_.get(), Path("f").c_str(), IN_ATTRIB | IN_ONESHOT);
  ASSERT_OK(wd);
  ASSERT_OK(chmod(Path("f").c_str(), 0600));
  ASSERT_OK(chmod(Path("f").c_str(), 0644));
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].mask, (uint32_t)IN_ATTRIB);
  EXPECT_EQ(ev[1].mask, (uint32_t)IN_IGNORED);
  EXPECT_ERRNO(EINVAL, inotify_rm_watch(fd_.get(), wd));
}

TEST_F(Inotify, WatchFlags) {
  Touch("f");
  EXPECT_ERRNO(ENOTDIR, inotify_add_watch(fd_.get(), Path("f").c_str(), IN_CREATE | IN_ONLYDIR));
  int wd = inotify_add_watch(fd_.get(), dir_.c_str(), IN_CREATE);
  ASSERT_OK(wd);
  // Adding again replaces the mask and keeps the descriptor...
  EXPECT_EQ(inotify_add_watch(fd_.get(), dir_.c_str(), IN_DELETE), wd);
  Touch("g");
  EXPECT_EQ(Events().size(), 0u);
  // ... or adds to it with IN_MASK_ADD.
  EXPECT_EQ(inotify_add_watch(fd_.get(), dir_.c_str(), IN_CREATE | IN_MASK_ADD), wd);
  Touch("h");
  ASSERT_OK(unlink(Path("h").c_str()));
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 2u);
  EXPECT_EQ(ev[0].mask, (uint32_t)IN_CREATE);
  EXPECT_EQ(ev[1].mask, (uint32_t)IN_DELETE);
  EXPECT_ERRNO(EEXIST, inotify_add_watch(fd_.get(), dir_.c_str(), IN_CREATE | IN_MASK_CREATE));
  EXPECT_ERRNO(EINVAL, inotify_add_watch(fd_.get(), dir_.c_str(), IN_CREATE | IN_MASK_CREATE | IN_MASK_ADD));
}

TEST_F(Inotify, RmWatchQueuesIgnored) {
  int wd = inotify_add_watch(fd_.get(), dir_.c_str(), IN_CREATE);
  ASSERT_OK(wd);
  ASSERT_OK(inotify_rm_watch(fd_.get(), wd));
  std::vector<Ev> ev = Events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].mask, (uint32_t)IN_IGNORED);
  EXPECT_ERRNO(EINVAL, inotify_rm_watch(fd_.get(), wd));
  Touch("f");
  EXPECT_EQ(Events().size(), 0u);
}

TEST_F(Inotify, BadArguments) {
  EXPECT_ERRNO(EINVAL, inotify_init1(0x4000));
  EXPECT_ERRNO(EBADF, inotify_add_watch(-1, dir_.c_str(), IN_CREATE));
  FD notify(open(dir_.c_str(), O_RDONLY));
  EXPECT_ERRNO(EINVAL, inotify_add_watch(notify.get(), dir_.c_str(), IN_CREATE));
  EXPECT_ERRNO(EINVAL, inotify_rm_watch(notify.get(), 1));
  EXPECT_ERRNO(EINVAL, inotify_add_watch(fd_.get(), dir_.c_str(), 0));
  EXPECT_ERRNO(ENOENT, inotify_add_watch(fd_.get(), Path("missing").c_str(), IN_CREATE));
  EXPECT_ERRNO(EFAULT, inotify_add_watch(fd_.get(), (const char*)BadPointer(), IN_CREATE));
}

TEST_F(Inotify, ReadFormatAndShortBuffer) {
  int wd = inotify_add_watch(fd_.get(), dir_.c_str(), IN_CREATE);
  ASSERT_OK(wd);
  char buf[256];
  EXPECT_ERRNO(EAGAIN, read(fd_.get(), buf, sizeof(buf)));
  Touch("name");
  int avail = 0;
  ASSERT_OK(ioctl(fd_.get(), FIONREAD, &avail));
  EXPECT_EQ(avail, 32);  // Header and "name" NUL-padded to 16 bytes.
  EXPECT_ERRNO(EINVAL, read(fd_.get(), buf, sizeof(struct inotify_event)));
  ASSERT_EQ(read(fd_.get(), buf, sizeof(buf)), 32);
  auto* e = reinterpret_cast<struct inotify_event*>(buf);
  EXPECT_EQ(e->len, 16u);
  EXPECT_STREQ(e->name, "name");
}

TEST_F(Inotify, PollAndEpoll) {
  int wd = inotify_add_watch(fd_.get(), dir_.c_str(), IN_CREATE);
  ASSERT_OK(wd);
  FD ep(epoll_create1(0));
  struct epoll_event ee = {};
  ee.events = EPOLLIN;
  ASSERT_OK(epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd_.get(), &ee));
  struct pollfd p = {fd_.get(), POLLIN, 0};
  EXPECT_EQ(poll(&p, 1, 0), 0);
  EXPECT_EQ(epoll_wait(ep.get(), &ee, 1, 0), 0);
  Touch("f");
  EXPECT_EQ(poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLIN);
  EXPECT_EQ(epoll_wait(ep.get(), &ee, 1, -1), 1);
  Events();
  EXPECT_EQ(poll(&p, 1, 0), 0);
}

TEST_F(Inotify, ProcFdNamesIt) {
  char link[64], target[64] = {};
  snprintf(link, sizeof(link), "/proc/self/fd/%d", fd_.get());
  ASSERT_GT(readlink(link, target, sizeof(target) - 1), 0);
  EXPECT_STREQ(target, "anon_inode:inotify");
}

}  // namespace
}  // namespace bz
