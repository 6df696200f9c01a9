// /dev/tty: the controlling terminal. A process in a session without one
// gets ENXIO; after a session leader opens a pty replica (which makes it
// the controlling terminal), /dev/tty reaches that terminal.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <termios.h>
#include <unistd.h>

#include <string>

#include "proc_util.h"
#include "test_util.h"

namespace bz {
namespace {

TEST(DevTty, IsACharacterDevice) {
  struct stat st;
  ASSERT_OK(stat("/dev/tty", &st));
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 5u);
  EXPECT_EQ(minor(st.st_rdev), 0u);
}

TEST(DevTty, NoControllingTerminalIsEnxio) {
  EXPECT_CHILD_OK([] {
    CHILD_CHECK(setsid() >= 0);
    errno = 0;
    CHILD_CHECK(open("/dev/tty", O_RDWR) == -1);
    CHILD_CHECK(errno == ENXIO);
    return 0;
  });
}

TEST(DevTty, ReachesTheControllingTerminal) {
  EXPECT_CHILD_OK([] {
    // Closing the master hangs the terminal up: SIGHUP for its session.
    signal(SIGHUP, SIG_IGN);
    CHILD_CHECK(setsid() >= 0);
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    CHILD_CHECK(master >= 0);
    CHILD_CHECK(grantpt(master) == 0 && unlockpt(master) == 0);
    const char* name = ptsname(master);
    CHILD_CHECK(name != nullptr);
    // Opened without O_NOCTTY by a session leader without a terminal:
    // it becomes the controlling terminal.
    int replica = open(name, O_RDWR);
    CHILD_CHECK(replica >= 0);
    struct termios tio;
    CHILD_CHECK(tcgetattr(replica, &tio) == 0);
    cfmakeraw(&tio);
    CHILD_CHECK(tcsetattr(replica, TCSANOW, &tio) == 0);
    int tty = open("/dev/tty", O_RDWR);
    CHILD_CHECK(tty >= 0);
    CHILD_CHECK(write(tty, "via tty", 7) == 7);
    char buf[16];
    CHILD_CHECK(read(master, buf, sizeof(buf)) == 7);
    CHILD_CHECK(std::string(buf, 7) == "via tty");
    CHILD_CHECK(write(master, "in", 2) == 2);
    CHILD_CHECK(read(tty, buf, sizeof(buf)) == 2);
    // The same terminal: its process group is the session's.
    CHILD_CHECK(tcgetpgrp(tty) == getpgrp());
    close(tty);
    close(replica);
    close(master);
    return 0;
  });
}

}  // namespace
}  // namespace bz
