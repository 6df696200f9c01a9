package cmd

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// This file is the host side of a container's terminal (process.terminal,
// exec -t): the host terminal whose other end the Sentry relays to the
// container's own terminal (runsc/boot/terminal.go). As runc does, runsc
// either creates a new host pseudo-terminal and sends its master over
// --console-socket, or, for a command in the foreground with no console
// socket, uses the caller's own terminal.

// hostTerminal is the host terminal given to the Sentry.
type hostTerminal struct {
	// tty is the terminal the Sentry gets as stdin, stdout and stderr.
	tty *os.File
	// restore undoes what the Sentry's raw mode did to the caller's own
	// terminal; nil for a new terminal.
	restore func()
}

// stdio returns the terminal three times, as stdin, stdout and stderr.
func (h *hostTerminal) stdio() []*os.File { return []*os.File{h.tty, h.tty, h.tty} }

// close closes runsc's descriptor of the terminal (the Sentry has its own).
func (h *hostTerminal) close() {
	if h.restore == nil {
		h.tty.Close()
	}
}

// setupTerminal prepares the host terminal of a process with a terminal:
// a new pseudo-terminal whose master goes to consoleSocket, or, with no
// console socket and foreground set, the caller's own terminal on stdin.
// A new terminal starts with size (process.consoleSize), if given, as
// runc's does: engines send the first resize only after start, and a
// shell that asks before then would see 0x0.
func setupTerminal(consoleSocket string, foreground bool, size *specs.Box) (*hostTerminal, error) {
	if consoleSocket != "" {
		master, slave, err := newHostPTY()
		if err != nil {
			return nil, err
		}
		if size != nil {
			ws := unix.Winsize{Row: uint16(size.Height), Col: uint16(size.Width)}
			if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &ws); err != nil {
				master.Close()
				slave.Close()
				return nil, fmt.Errorf("setting the terminal's size: %w", err)
			}
		}
		err = sendConsole(consoleSocket, master)
		master.Close()
		if err != nil {
			slave.Close()
			return nil, err
		}
		return &hostTerminal{tty: slave}, nil
	}
	if !foreground {
		return nil, errors.New("process.terminal needs --console-socket")
	}
	tio, err := unix.IoctlGetTermios(0, unix.TCGETS)
	if err != nil {
		return nil, errors.New("process.terminal needs --console-socket or a terminal on stdin")
	}
	fl, _ := unix.FcntlInt(0, unix.F_GETFL, 0)
	savedStdin = &savedTerminal{termios: tio, flags: fl}
	return &hostTerminal{tty: os.Stdin, restore: restoreStdinTerminal}, nil
}

// savedTerminal is the caller's terminal's state before the Sentry made
// it raw (and non-blocking: the Sentry shares its open file description).
type savedTerminal struct {
	termios *unix.Termios
	flags   int
}

var savedStdin *savedTerminal

// restoreStdinTerminal gives the caller's terminal on stdin back the
// settings setupTerminal saved; it does nothing the second time.
func restoreStdinTerminal() {
	s := savedStdin
	if s == nil {
		return
	}
	savedStdin = nil
	unix.IoctlSetTermios(0, unix.TCSETS, s.termios)
	if s.flags >= 0 {
		unix.FcntlInt(0, unix.F_SETFL, s.flags)
	}
}

// newHostPTY opens a new host pseudo-terminal and returns its master and
// its (unlocked) slave, neither of them a controlling terminal of runsc.
func newHostPTY() (master, slave *os.File, err error) {
	mfd, err := unix.Open("/dev/ptmx", unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening /dev/ptmx: %w", err)
	}
	master = os.NewFile(uintptr(mfd), "/dev/ptmx")
	if err := unix.IoctlSetPointerInt(mfd, unix.TIOCSPTLCK, 0); err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("unlocking the terminal: %w", err)
	}
	n, err := unix.IoctlGetUint32(mfd, unix.TIOCGPTN)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("terminal number: %w", err)
	}
	name := "/dev/pts/" + strconv.FormatUint(uint64(n), 10)
	sfd, err := unix.Open(name, unix.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening %s: %w", name, err)
	}
	return master, os.NewFile(uintptr(sfd), name), nil
}

// sendConsole sends the terminal master to the unix socket at path, as
// runc does: one message whose data is the master's name and whose
// SCM_RIGHTS carry its descriptor.
func sendConsole(path string, master *os.File) error {
	conn, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return fmt.Errorf("connecting to the console socket: %w", err)
	}
	defer conn.Close()
	if _, _, err := conn.WriteMsgUnix([]byte(master.Name()), unix.UnixRights(int(master.Fd())), nil); err != nil {
		return fmt.Errorf("sending the terminal to the console socket: %w", err)
	}
	return nil
}
