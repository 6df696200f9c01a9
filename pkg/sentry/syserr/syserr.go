// Package syserr holds the Linux kernel's internal errnos that never reach
// applications: a blocking operation interrupted by a signal returns one of
// them, and the kernel turns it into EINTR or restarts the system call
// depending on the signal's disposition, as Linux does.
package syserr

import "golang.org/x/sys/unix"

// Internal restart errnos (include/linux/errno.h).
const (
	// ERESTARTSYS: restart if the handler has SA_RESTART (or there is no
	// handler), else EINTR.
	ERESTARTSYS = unix.Errno(512)
	// ERESTARTNOINTR: always restart.
	ERESTARTNOINTR = unix.Errno(513)
	// ERESTARTNOHAND: restart only if no handler runs, else EINTR.
	ERESTARTNOHAND = unix.Errno(514)
	// ERESTART_RESTARTBLOCK: restart through restart_syscall(2) with
	// state the interrupted call saved (nanosleep's remaining time).
	ERESTART_RESTARTBLOCK = unix.Errno(516)
)

// IsRestart reports whether err is one of the internal restart errnos.
func IsRestart(err error) bool {
	e, ok := err.(unix.Errno)
	return ok && (e == ERESTARTSYS || e == ERESTARTNOINTR || e == ERESTARTNOHAND || e == ERESTART_RESTARTBLOCK)
}
