package boot

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/devpts"
	"bufferzone.dev/pkg/sentry/fsimpl/host"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Terminals. A container process with a terminal (process.terminal, exec
// -t) gets a pseudo-terminal of the Sentry's devpts as its stdin, stdout
// and stderr and as its controlling terminal, so that the line
// discipline, job control (foreground process group, SIGINT from ^C,
// SIGTSTP from ^Z, SIGTTIN/SIGTTOU, SIGWINCH) and termios are all the
// Sentry's and follow the sandbox's own process groups. Its master is
// relayed to a host terminal that runsc created (the one whose master went
// to --console-socket) or the caller's own terminal (runsc run -t in a
// real terminal): the host terminal is put in raw mode and only carries
// bytes; its window size is copied into the Sentry's terminal.
//
// The simpler design, giving the application the host terminal itself with
// its ioctls passed through, cannot do job control: the host terminal's
// foreground process group is a host process group, which the sandbox's
// processes are not, so tcsetpgrp, ^C and ^Z would reach the wrong
// processes.

// winsizePoll is how often a relayed terminal's window size is copied
// from the host terminal: the Sentry is not the host terminal's
// controlling process, so no SIGWINCH tells it.
const winsizePoll = 100 * time.Millisecond

// sandboxPts is the sandbox's devpts, for terminals of exec'd processes.
var sandboxPts atomic.Pointer[devpts.Filesystem]

// hostStdio wraps host FDs as the application's stdio files.
func hostStdio(stdio []*os.File) ([]*vfs.FileDescription, error) {
	files := make([]*vfs.FileDescription, len(stdio))
	for i, f := range stdio {
		fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
		if err != nil {
			releaseFiles(files[:i])
			return nil, fmt.Errorf("stdio fd %d: %w", i, err)
		}
		files[i] = host.New(f, uint32(fl)&unix.O_ACCMODE)
	}
	return files, nil
}

// terminalStdio allocates a terminal of pts relayed to the host terminal
// hostTTY (which it takes over) and returns its slave three times, as
// stdin, stdout and stderr. The first session leader that uses it makes
// it its controlling terminal. The relay ends when the host terminal
// hangs up or every file of the terminal is closed.
func terminalStdio(v *vfs.VFS, pts *devpts.Filesystem, hostTTY *os.File) ([]*vfs.FileDescription, error) {
	if pts == nil {
		hostTTY.Close()
		return nil, errors.New("no devpts for the terminal")
	}
	master, term, err := pts.OpenMaster()
	if err != nil {
		hostTTY.Close()
		return nil, fmt.Errorf("allocating a terminal: %w", err)
	}
	ctx := &bootContext{creds: auth.NewUser(0, 0, nil)}
	root := v.Root()
	name := "/dev/pts/" + strconv.FormatUint(uint64(term.Index()), 10)
	slave, err := v.OpenAt(ctx, vfs.Resolution{Root: root, Start: root, Path: name, FollowFinal: true}, unix.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		master.DecRef()
		hostTTY.Close()
		return nil, fmt.Errorf("opening %s: %w", name, err)
	}
	term.AcquireOnFirstUse()
	if err := relayTerminal(hostTTY, term, master); err != nil {
		master.DecRef()
		slave.DecRef()
		return nil, err
	}
	slave.IncRef()
	slave.IncRef()
	return []*vfs.FileDescription{slave, slave, slave}, nil
}

// relayTerminal puts the host terminal hostTTY in raw mode and copies
// bytes both ways between it and term, whose master file (held by the
// relay, released at its end) is master; it also copies the window size.
func relayTerminal(hostTTY *os.File, term *devpts.Terminal, master *vfs.FileDescription) error {
	// A non-blocking descriptor of its own, so that the relay's reads go
	// through the Go poller and can be ended with a deadline.
	fd, err := unix.FcntlInt(hostTTY.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	hostTTY.Close()
	if err != nil {
		return fmt.Errorf("the container's terminal: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return fmt.Errorf("the container's terminal: %w", err)
	}
	hostTTY = os.NewFile(uintptr(fd), "terminal")
	tio, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		hostTTY.Close()
		return fmt.Errorf("the container's terminal is not a terminal: %w", err)
	}
	raw := *tio
	raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	raw.Oflag &^= unix.OPOST
	raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	raw.Cflag &^= unix.CSIZE | unix.PARENB
	raw.Cflag |= unix.CS8
	raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &raw); err != nil {
		hostTTY.Close()
		return fmt.Errorf("raw mode for the container's terminal: %w", err)
	}
	if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
		term.SetWindowSize(*ws)
	}
	term.SetWindowSizeSource(func() (unix.Winsize, bool) {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err != nil {
			return unix.Winsize{}, false
		}
		return *ws, true
	})
	stop := make(chan struct{})
	done := make(chan struct{}, 2)
	// Host to sandbox: typed input, through the Sentry's line discipline.
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 4096)
		for {
			n, err := hostTTY.Read(buf)
			if n > 0 {
				term.Input(buf[:n])
			}
			if err != nil {
				// EIO: the host master is gone. The sandbox's terminal
				// hangs up.
				term.Hangup()
				return
			}
		}
	}()
	// Sandbox to host: output and echo.
	go func() {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			n, err := term.ReadOutput(buf, stop)
			if n > 0 {
				if _, werr := hostTTY.Write(buf[:n]); werr != nil {
					term.Hangup()
					return
				}
			}
			if err != nil {
				return
			}
		}
	}()
	// Window size, and the end of the relay.
	go func() {
		tick := time.NewTicker(winsizePoll)
		defer tick.Stop()
		ended := 0
		for ended == 0 {
			select {
			case <-done:
				ended++
			case <-tick.C:
				if ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ); err == nil {
					term.SetWindowSize(*ws)
				}
			}
		}
		term.SetWindowSizeSource(nil)
		close(stop)
		hostTTY.SetReadDeadline(time.Now())
		<-done
		master.DecRef()
		hostTTY.Close()
	}()
	return nil
}
