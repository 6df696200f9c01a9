package clients

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// terminal is a pseudo-terminal whose slave is the controlling terminal
// of a client (`podman run -it`), as a person's terminal would be; the
// test types on the master and reads the screen's bytes from it.
type terminal struct {
	t      *testing.T
	master *os.File
	mu     sync.Mutex
	cond   *sync.Cond // signalled on new output and at EOF
	out    bytes.Buffer
	eof    bool
}

// openTerminal opens a new pty pair and returns the master and the
// slave's path.
func openTerminal(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminals: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Fatalf("unlocking the pty: %v", err)
	}
	n, err := unix.IoctlGetUint32(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Fatalf("TIOCGPTN: %v", err)
	}
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 80}); err != nil {
		m.Close()
		t.Fatalf("setting the window size: %v", err)
	}
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

// startInTerminal starts cmd in a new session whose controlling terminal
// is a new pty, and returns the terminal. The caller waits for cmd.
func startInTerminal(t *testing.T, cmd *exec.Cmd) *terminal {
	t.Helper()
	master, slavePath := openTerminal(t)
	slave, err := os.OpenFile(slavePath, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		slave.Close()
		master.Close()
		t.Fatal(err)
	}
	slave.Close()
	term := &terminal{t: t, master: master}
	term.cond = sync.NewCond(&term.mu)
	go term.read()
	t.Cleanup(func() { master.Close() })
	return term
}

func (term *terminal) read() {
	buf := make([]byte, 4096)
	for {
		n, err := term.master.Read(buf)
		term.mu.Lock()
		term.out.Write(buf[:n])
		if err != nil {
			// EIO once the last process holding the slave is gone.
			term.eof = true
		}
		term.cond.Broadcast()
		term.mu.Unlock()
		if err != nil {
			return
		}
	}
}

// send types s.
func (term *terminal) send(s string) {
	term.t.Helper()
	if _, err := term.master.WriteString(s); err != nil {
		term.t.Fatalf("typing %q: %v", s, err)
	}
}

// expect waits (up to a minute) until the terminal has shown want since
// the start, and fails the test otherwise.
func (term *terminal) expect(want string) {
	term.t.Helper()
	expired := false
	timer := time.AfterFunc(time.Minute, func() {
		term.mu.Lock()
		expired = true
		term.cond.Broadcast()
		term.mu.Unlock()
	})
	defer timer.Stop()
	term.mu.Lock()
	defer term.mu.Unlock()
	for !strings.Contains(term.out.String(), want) {
		if term.eof || expired {
			term.t.Fatalf("the terminal never showed %q; it shows:\n%q", want, term.out.String())
		}
		term.cond.Wait()
	}
}

// screen returns everything the terminal has shown.
func (term *terminal) screen() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return term.out.String()
}

// shellSession runs argv, a client command that starts busybox sh with
// PS1 "bz$ " in a container on the caller's terminal, in a new terminal
// of 24x80, as a person would: it types a few commands and `exit N`, and
// requires their output and the client's exit status N. The container's
// terminal must take the caller's size; the shell waits for it, since
// neither Docker 20.10 nor Podman 4.3 passes process.consoleSize: they
// resize the terminal once they have it, which may be after the shell's
// first command (with runc as well).
func shellSession(t *testing.T, envv []string, dir string, argv []string, status int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = envv, dir
	term := startInTerminal(t, cmd)
	term.expect("bz$ ")
	term.send("tty; echo sum=$((2+3))\r")
	term.expect("sum=5")
	term.send("until [ \"$(stty size)\" = '24 80' ]; do sleep 0.1; done; echo size=$(stty size)\r")
	term.expect("size=24 80")
	term.send(fmt.Sprintf("exit %d\r", status))
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case status == 0 && err == nil:
	case errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).ExitStatus() == status:
	default:
		t.Errorf("%s: %v, want exit status %d; the terminal shows:\n%s", strings.Join(argv, " "), err, status, term.screen())
	}
	if s := term.screen(); !strings.Contains(s, "/dev/pts/") {
		t.Errorf("tty in the container does not name a pty; the terminal shows:\n%s", s)
	}
}
