// POSIX message queues (mq_overview(7)): mq_open's creation rules and
// attributes, priority order, full and empty queues with O_NONBLOCK and
// absolute timeouts, mq_getsetattr, unlink of an open queue, the status
// line read(2) shows, mq_notify with SIGEV_SIGNAL, and poll readiness.
#include <fcntl.h>
#include <mqueue.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "test_util.h"

namespace bz {
namespace {

// MQ_PRIO_MAX: <limits.h> does not define it on Linux (sysconf does).
constexpr unsigned kPrioMax = 32768;

// A queue name of this process, removed when the test ends.
class QueueName {
 public:
  explicit QueueName(const char* what)
      : name_("/bz_mq_" + std::string(what) + "_" + std::to_string(getpid())) {
    mq_unlink(name_.c_str());
  }
  ~QueueName() { mq_unlink(name_.c_str()); }
  const char* c_str() const { return name_.c_str(); }

 private:
  std::string name_;
};

mqd_t OpenNew(const QueueName& name, int flags, long maxmsg, long msgsize) {
  struct mq_attr attr = {};
  attr.mq_maxmsg = maxmsg;
  attr.mq_msgsize = msgsize;
  return mq_open(name.c_str(), flags | O_CREAT | O_EXCL, 0600, &attr);
}

// An absolute CLOCK_REALTIME time delta_ms from now (negative: past).
struct timespec AbsIn(long delta_ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  long long ns = ts.tv_nsec + delta_ms * 1000000LL;
  ts.tv_sec += ns / 1000000000LL;
  ns %= 1000000000LL;
  if (ns < 0) {
    ns += 1000000000LL;
    ts.tv_sec--;
  }
  ts.tv_nsec = ns;
  return ts;
}

TEST(Mqueue, PriorityOrderThenSendOrder) {
  QueueName name("order");
  mqd_t q = OpenNew(name, O_RDWR, 4, 16);
  ASSERT_OK(q);
  ASSERT_OK(mq_send(q, "a", 1, 1));
  ASSERT_OK(mq_send(q, "bb", 2, 5));
  ASSERT_OK(mq_send(q, "c", 1, 5));
  ASSERT_OK(mq_send(q, "d", 1, 0));
  const char* want[] = {"bb", "c", "a", "d"};
  unsigned want_prio[] = {5, 5, 1, 0};
  for (int i = 0; i < 4; i++) {
    char buf[16] = {};
    unsigned prio = 99;
    ASSERT_EQ(mq_receive(q, buf, sizeof(buf), &prio), (ssize_t)strlen(want[i]));
    EXPECT_STREQ(buf, want[i]);
    EXPECT_EQ(prio, want_prio[i]);
  }
  mq_close(q);
}

TEST(Mqueue, OpenRules) {
  QueueName name("open");
  EXPECT_ERRNO(ENOENT, mq_open(name.c_str(), O_RDWR));
  mqd_t q = OpenNew(name, O_RDWR, 2, 8);
  ASSERT_OK(q);
  EXPECT_ERRNO(EEXIST, OpenNew(name, O_RDWR, 2, 8));
  // O_CREAT without O_EXCL opens the existing queue, ignoring the
  // attributes, even invalid ones.
  struct mq_attr bad = {};
  mqd_t q2 = mq_open(name.c_str(), O_RDONLY | O_CREAT, 0600, &bad);
  ASSERT_OK(q2);
  struct mq_attr attr;
  ASSERT_OK(mq_getattr(q2, &attr));
  EXPECT_EQ(attr.mq_maxmsg, 2);
  EXPECT_EQ(attr.mq_msgsize, 8);
  EXPECT_EQ(attr.mq_curmsgs, 0);
  mq_close(q2);
  mq_close(q);

  QueueName other("open_attr");
  EXPECT_ERRNO(EINVAL, OpenNew(other, O_RDWR, 0, 8));
  EXPECT_ERRNO(EINVAL, OpenNew(other, O_RDWR, 2, 0));
  EXPECT_ERRNO(EINVAL, OpenNew(other, O_RDWR, 2, -1));
  EXPECT_ERRNO(EINVAL, OpenNew(other, O_RDWR, 70000, 8));  // past HARD_MSGMAX
  // Access mode 3 is refused for an existing queue only; the creator gets
  // a descriptor that can neither send nor receive.
  mqd_t odd = mq_open(other.c_str(), O_RDWR | O_WRONLY | O_CREAT, 0600, nullptr);
  ASSERT_OK(odd);
  char buf[8192];
  EXPECT_ERRNO(EBADF, mq_send(odd, "x", 1, 0));
  EXPECT_ERRNO(EBADF, mq_receive(odd, buf, sizeof(buf), nullptr));
  mq_close(odd);
  EXPECT_ERRNO(EINVAL, mq_open(other.c_str(), O_RDWR | O_WRONLY));
  ASSERT_OK(mq_unlink(other.c_str()));

  // The system call takes the name without glibc's leading slash.
  EXPECT_ERRNO(ENOENT, syscall(SYS_mq_open, "", O_RDWR, 0, nullptr));
  EXPECT_ERRNO(EACCES, syscall(SYS_mq_open, "a/b", O_RDWR | O_CREAT, 0600, nullptr));
  EXPECT_ERRNO(EACCES, syscall(SYS_mq_open, "..", O_RDWR | O_CREAT, 0600, nullptr));
  std::string longname(256, 'x');
  EXPECT_ERRNO(ENAMETOOLONG, syscall(SYS_mq_open, longname.c_str(), O_RDWR | O_CREAT, 0600, nullptr));
}

TEST(Mqueue, DefaultAttributes) {
  QueueName name("defaults");
  mqd_t q = mq_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600, nullptr);
  ASSERT_OK(q);
  struct mq_attr attr;
  ASSERT_OK(mq_getattr(q, &attr));
  EXPECT_EQ(attr.mq_maxmsg, 10);
  EXPECT_EQ(attr.mq_msgsize, 8192);
  EXPECT_EQ(attr.mq_flags, 0);
  mq_close(q);
}

TEST(Mqueue, SizesModesAndDescriptors) {
  QueueName name("sizes");
  mqd_t q = OpenNew(name, O_RDWR, 2, 8);
  ASSERT_OK(q);
  char buf[16] = {};
  EXPECT_ERRNO(EMSGSIZE, mq_send(q, buf, 9, 0));
  EXPECT_ERRNO(EINVAL, mq_send(q, buf, 1, kPrioMax));
  ASSERT_OK(mq_send(q, buf, 8, kPrioMax - 1));
  EXPECT_ERRNO(EMSGSIZE, mq_receive(q, buf, 7, nullptr));
  EXPECT_EQ(mq_receive(q, buf, 8, nullptr), 8);

  mqd_t ro = mq_open(name.c_str(), O_RDONLY);
  ASSERT_OK(ro);
  EXPECT_ERRNO(EBADF, mq_send(ro, "x", 1, 0));
  mqd_t wo = mq_open(name.c_str(), O_WRONLY);
  ASSERT_OK(wo);
  EXPECT_ERRNO(EBADF, mq_receive(wo, buf, sizeof(buf), nullptr));
  int p[2];
  ASSERT_OK(pipe(p));
  EXPECT_ERRNO(EBADF, mq_send(p[1], "x", 1, 0));
  struct mq_attr attr;
  EXPECT_ERRNO(EBADF, mq_getattr(p[0], &attr));
  close(p[0]);
  close(p[1]);
  mq_close(ro);
  mq_close(wo);
  mq_close(q);
}

TEST(Mqueue, FullAndEmptyQueues) {
  QueueName name("full");
  mqd_t q = OpenNew(name, O_RDWR | O_NONBLOCK, 2, 8);
  ASSERT_OK(q);
  char buf[8];
  EXPECT_ERRNO(EAGAIN, mq_receive(q, buf, sizeof(buf), nullptr));
  ASSERT_OK(mq_send(q, "1", 1, 0));
  ASSERT_OK(mq_send(q, "2", 1, 0));
  EXPECT_ERRNO(EAGAIN, mq_send(q, "3", 1, 0));

  // Blocking again: a timeout already past ends the wait at once, and an
  // invalid one is refused before anything else.
  struct mq_attr nb = {}, old;
  ASSERT_OK(mq_setattr(q, &nb, &old));
  EXPECT_EQ(old.mq_flags, O_NONBLOCK);
  EXPECT_EQ(old.mq_curmsgs, 2);
  struct timespec past = AbsIn(-1000);
  EXPECT_ERRNO(ETIMEDOUT, mq_timedsend(q, "3", 1, 0, &past));
  struct timespec bad = {0, 1000000000};
  EXPECT_ERRNO(EINVAL, mq_timedsend(q, "3", 1, 0, &bad));
  EXPECT_ERRNO(EINVAL, mq_timedreceive(q, buf, sizeof(buf), nullptr, &bad));
  EXPECT_EQ(mq_receive(q, buf, sizeof(buf), nullptr), 1);
  EXPECT_EQ(mq_receive(q, buf, sizeof(buf), nullptr), 1);
  struct timespec soon = AbsIn(20);
  EXPECT_ERRNO(ETIMEDOUT, mq_timedreceive(q, buf, sizeof(buf), nullptr, &soon));

  // Only O_NONBLOCK can change.
  struct mq_attr other = {};
  other.mq_flags = O_APPEND;
  EXPECT_ERRNO(EINVAL, mq_setattr(q, &other, nullptr));
  mq_close(q);
}

TEST(Mqueue, UnlinkKeepsOpenQueue) {
  QueueName name("unlink");
  mqd_t q = OpenNew(name, O_RDWR, 2, 8);
  ASSERT_OK(q);
  ASSERT_OK(mq_unlink(name.c_str()));
  EXPECT_ERRNO(ENOENT, mq_unlink(name.c_str()));
  EXPECT_ERRNO(ENOENT, mq_open(name.c_str(), O_RDWR));
  ASSERT_OK(mq_send(q, "kept", 4, 0));
  char buf[8];
  EXPECT_EQ(mq_receive(q, buf, sizeof(buf), nullptr), 4);
  mq_close(q);
}

TEST(Mqueue, BlockedReceiverAndSenderAreWoken) {
  QueueName name("block");
  mqd_t q = OpenNew(name, O_RDWR, 1, 8);
  ASSERT_OK(q);
  // The receiver usually blocks on the empty queue before the send; the
  // result is the same either way.
  ssize_t got = -1;
  char buf[8] = {};
  std::thread receiver([&] { got = mq_receive(q, buf, sizeof(buf), nullptr); });
  ASSERT_OK(mq_send(q, "wake", 4, 0));
  receiver.join();
  EXPECT_EQ(got, 4);
  EXPECT_STREQ(buf, "wake");

  ASSERT_OK(mq_send(q, "full", 4, 0));
  int sent = -1;
  std::thread sender([&] { sent = mq_send(q, "next", 4, 0); });
  EXPECT_EQ(mq_receive(q, buf, sizeof(buf), nullptr), 4);
  sender.join();
  EXPECT_EQ(sent, 0);
  EXPECT_EQ(mq_receive(q, buf, sizeof(buf), nullptr), 4);
  EXPECT_EQ(std::string(buf, 4), "next");
  mq_close(q);
}

std::string Status(mqd_t q) {
  char buf[128] = {};
  EXPECT_GT(pread(q, buf, sizeof(buf) - 1, 0), 0);
  return buf;
}

TEST(Mqueue, StatusLineAndSignalNotification) {
  QueueName name("notify");
  mqd_t q = OpenNew(name, O_RDWR, 4, 16);
  ASSERT_OK(q);
  ASSERT_OK(mq_send(q, "abc", 3, 0));
  ASSERT_OK(mq_send(q, "de", 2, 0));
  EXPECT_EQ(Status(q), "QSIZE:5          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n");
  char buf[16];
  ASSERT_OK(mq_receive(q, buf, sizeof(buf), nullptr));
  ASSERT_OK(mq_receive(q, buf, sizeof(buf), nullptr));

  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR1);
  ASSERT_OK(sigprocmask(SIG_BLOCK, &set, &old));
  struct sigevent ev = {};
  ev.sigev_notify = SIGEV_SIGNAL;
  ev.sigev_signo = SIGUSR1;
  ev.sigev_value.sival_int = 1234;
  ASSERT_OK(mq_notify(q, &ev));
  EXPECT_ERRNO(EBUSY, mq_notify(q, &ev));
  char want[128];
  snprintf(want, sizeof(want), "QSIZE:0          NOTIFY:0     SIGNO:%-5d NOTIFY_PID:%-6d\n", SIGUSR1, getpid());
  EXPECT_EQ(Status(q), want);

  ASSERT_OK(mq_send(q, "x", 1, 0));
  siginfo_t info = {};
  struct timespec wait = {5, 0};
  ASSERT_EQ(sigtimedwait(&set, &info, &wait), SIGUSR1);
  EXPECT_EQ(info.si_code, SI_MESGQ);
  EXPECT_EQ(info.si_pid, getpid());
  EXPECT_EQ(info.si_uid, getuid());
  EXPECT_EQ(info.si_value.sival_int, 1234);
  // The registration went with the notification; a message to a queue
  // that is not empty notifies nobody.
  EXPECT_EQ(Status(q), "QSIZE:1          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     \n");
  ASSERT_OK(mq_notify(q, &ev));
  ASSERT_OK(mq_send(q, "y", 1, 0));
  struct timespec zero = {0, 0};
  EXPECT_ERRNO(EAGAIN, sigtimedwait(&set, &info, &zero));
  // Removing it with NULL.
  ASSERT_OK(mq_notify(q, nullptr));
  ASSERT_OK(mq_notify(q, &ev));
  ASSERT_OK(mq_notify(q, nullptr));
  ASSERT_OK(sigprocmask(SIG_SETMASK, &old, nullptr));
  mq_close(q);
}

TEST(Mqueue, PollReadiness) {
  QueueName name("poll");
  mqd_t q = OpenNew(name, O_RDWR, 1, 8);
  ASSERT_OK(q);
  struct pollfd p = {q, POLLIN | POLLOUT, 0};
  ASSERT_EQ(poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLOUT);
  ASSERT_OK(mq_send(q, "m", 1, 0));
  ASSERT_EQ(poll(&p, 1, 0), 1);
  EXPECT_EQ(p.revents, POLLIN);
  mq_close(q);
}

}  // namespace
}  // namespace bz
