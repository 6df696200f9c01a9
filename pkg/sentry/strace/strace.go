// Package strace implements --strace: it logs the system calls of the
// sandboxed application as strace(1) prints them, with decoded arguments,
// return values, error names and durations, one line per call where it can.
//
// The kernel calls a Tracer's Enter before it runs a system call and Exit
// after. A call that may block for long (read, wait4, futex waits, poll...)
// or that does not return (execve, exit_group, rt_sigreturn) is logged at
// Enter too, ending in " ...", and its Exit line reads
// "... name resumed> = ret". Every other call is logged once, at Exit:
//
//	[  12] openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC) = 3 (12.3µs)
//	[  12] openat(AT_FDCWD, "/nope", O_RDONLY) = -1 ENOENT (No such file or directory) (8.1µs)
//
// Decoding never trusts the application: a pointer that cannot be read
// prints as its address.
//
// The package depends on nothing in the Sentry. The kernel's *Task already
// has the methods of Task, so the kernel adapts a Tracer to its
// SyscallTracer with a shim like:
//
//	type straceShim struct{ tr *strace.Tracer }
//
//	func (s straceShim) Enter(t *Task, n uintptr, a SyscallArgs) any {
//		return s.tr.Enter(t, n, a)
//	}
//
//	func (s straceShim) Exit(t *Task, n uintptr, a SyscallArgs, ret uintptr, err error, st any) {
//		s.tr.Exit(t, n, a, ret, err, st)
//	}
//
// Calls outside the --strace-syscalls filter cost one slice lookup
// (Tracer.Traced) in Enter and in Exit.
package strace

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"bufferzone.dev/pkg/abi/sysno"
	"golang.org/x/sys/unix"
)

// Task is what the tracer needs from the task making a system call.
type Task interface {
	// TID is the task's thread ID, as the application sees it.
	TID() int32
	// CopyIn copies len(dst) bytes of the task's memory at addr into dst. It
	// returns the number of bytes copied and an error (EFAULT-style) when
	// it could not copy them all.
	CopyIn(addr uintptr, dst []byte) (int, error)
	// CopyInString copies the NUL-terminated string at addr, without its
	// NUL. When there is no NUL in the first maxLen bytes it returns an
	// error (ENAMETOOLONG-style), with or without those bytes; when the
	// memory cannot be read it returns an error.
	CopyInString(addr uintptr, maxLen int) (string, error)
}

// Filter is the set of system calls a Tracer logs. A nil Filter holds every
// system call.
type Filter []bool

// ParseFilter returns the Filter holding the named system calls. Each element
// of names is a Linux system call name ("openat"), a comma-separated list of
// them ("open,read"), or "syscall_N" for a number. Empty names are skipped;
// when none is left, the Filter holds every call. An unknown name is an
// error that names it.
func ParseFilter(names []string) (Filter, error) {
	var f Filter
	for _, list := range names {
		for _, name := range strings.Split(list, ",") {
			name = strings.TrimSpace(name)
			if name == "" {
				continue
			}
			n, ok := sysno.Lookup(name)
			if !ok {
				num, err := strconv.ParseUint(strings.TrimPrefix(name, "syscall_"), 10, 16)
				if !strings.HasPrefix(name, "syscall_") || err != nil {
					return nil, fmt.Errorf("strace: unknown system call %q", name)
				}
				n = uintptr(num)
			}
			if f == nil {
				f = make(Filter, sysno.Count)
			}
			if n >= uintptr(len(f)) {
				f = append(f, make(Filter, n+1-uintptr(len(f)))...)
			}
			f[n] = true
		}
	}
	return f, nil
}

// Has reports whether the Filter holds system call n.
func (f Filter) Has(n uintptr) bool {
	return f == nil || (n < uintptr(len(f)) && f[n])
}

// Tracer logs system calls to a writer. It is safe for concurrent use by
// many tasks; each line is written with one Write call.
type Tracer struct {
	filter Filter
	// now returns the current time; tests replace it.
	now func() time.Time

	// mu serializes writes to w.
	mu sync.Mutex
	w  io.Writer
}

// New returns a Tracer that logs to w the system calls named in only (see
// ParseFilter; empty means all of them). An unknown name is an error.
func New(w io.Writer, only []string) (*Tracer, error) {
	f, err := ParseFilter(only)
	if err != nil {
		return nil, err
	}
	return &Tracer{filter: f, now: time.Now, w: w}, nil
}

// Traced reports whether the Tracer logs system call n. It costs one slice
// lookup; callers may use it to skip Enter and Exit altogether.
func (tr *Tracer) Traced(n uintptr) bool {
	return tr != nil && tr.filter.Has(n)
}

// record is the state Enter hands to Exit for one call.
type record struct {
	start time.Time
	// in holds the arguments as decoded on entry.
	in []string
	// announced is true when Enter printed a line.
	announced bool
}

// Enter is called before system call n runs, with its arguments. It returns
// the state the kernel must pass to Exit, nil when the call is not traced.
func (tr *Tracer) Enter(t Task, n uintptr, args [6]uintptr) any {
	if !tr.Traced(n) {
		return nil
	}
	info := lookup(n)
	c := &call{t: t, args: args}
	r := &record{in: make([]string, len(info.args))}
	safely(func() {
		for i, a := range info.args {
			r.in[i] = a.enter(c, i)
		}
	}, r.in)
	if info.announce(args) {
		r.announced = true
		tr.writeLine(t, sysno.Name(n)+"("+joinArgs(r.in)+") ...")
	}
	r.start = tr.now()
	return r
}

// Exit is called after system call n returned ret, or failed with err (a
// unix.Errno, or another error whose text is printed). state is what Enter
// returned.
func (tr *Tracer) Exit(t Task, n uintptr, args [6]uintptr, ret uintptr, err error, state any) {
	if !tr.Traced(n) {
		return
	}
	end := tr.now()
	info := lookup(n)
	r, _ := state.(*record)
	c := &call{t: t, args: args, ret: ret, exited: true, failed: err != nil}

	// Arguments: those decoded at entry, with results filled in when the
	// call succeeded.
	out := make([]string, len(info.args))
	hasOut := false
	safely(func() {
		for i, a := range info.args {
			switch {
			case a.out != nil && !c.failed:
				out[i] = a.out(c, i)
				hasOut = true
			case r != nil && i < len(r.in):
				out[i] = r.in[i]
			default:
				out[i] = a.enter(c, i)
			}
		}
	}, out)

	var line strings.Builder
	name := sysno.Name(n)
	if r != nil && r.announced {
		line.WriteString("... " + name + " resumed>")
		if hasOut {
			line.WriteString(" (" + joinArgs(out) + ")")
		}
	} else {
		line.WriteString(name + "(" + joinArgs(out) + ")")
	}
	line.WriteString(" = ")
	if err != nil && info.ret != retNone {
		line.WriteString(formatError(err))
	} else {
		line.WriteString(info.ret.format(ret))
	}
	if r != nil {
		line.WriteString(" (" + formatDuration(end.Sub(r.start)) + ")")
	}
	tr.writeLine(t, line.String())
}

// writeLine writes "[tid] s\n" in one Write.
func (tr *Tracer) writeLine(t Task, s string) {
	b := make([]byte, 0, len(s)+16)
	b = append(b, '[')
	tid := strconv.Itoa(int(t.TID()))
	for k := len(tid); k < 4; k++ {
		b = append(b, ' ')
	}
	b = append(b, tid...)
	b = append(b, "] "...)
	b = append(b, s...)
	b = append(b, '\n')
	tr.mu.Lock()
	defer tr.mu.Unlock()
	tr.w.Write(b) // A log that cannot be written is not the application's problem.
}

// joinArgs joins decoded arguments, dropping empty trailing ones (fcntl
// commands without an argument).
func joinArgs(args []string) string {
	for len(args) > 0 && args[len(args)-1] == "" {
		args = args[:len(args)-1]
	}
	return strings.Join(args, ", ")
}

// safely runs decode; if it panics (a decoder bug, or a Task that panics on
// a bad address) the arguments not yet decoded print as "?" and the panic
// is noted, so that tracing never takes the Sentry down.
func safely(decode func(), args []string) {
	defer func() {
		if p := recover(); p != nil {
			for i := range args {
				if args[i] == "" {
					args[i] = fmt.Sprintf("? /* strace: %v */", p)
					break
				}
			}
		}
	}()
	decode()
}

// formatDuration prints d with three significant digits at most: 850ns,
// 12.3µs, 4.56ms, 1.234s.
func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Microsecond:
		return strconv.FormatInt(int64(d), 10) + "ns"
	case d < time.Millisecond:
		return strconv.FormatFloat(float64(d)/float64(time.Microsecond), 'f', 1, 64) + "µs"
	case d < time.Second:
		return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64) + "ms"
	}
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) + "s"
}

// Linux's internal restart errnos, which a tracer can see on the way out of
// an interrupted call but an application never does.
var restartErrnos = map[unix.Errno][2]string{
	512: {"ERESTARTSYS", "To be restarted if SA_RESTART is set"},
	513: {"ERESTARTNOINTR", "To be restarted"},
	514: {"ERESTARTNOHAND", "To be restarted if no handler"},
	516: {"ERESTART_RESTARTBLOCK", "Interrupted by signal"},
}

// formatError prints a failed call's result: "-1 ENOENT (No such file or
// directory)", "? ERESTARTSYS (...)", or "-1 (text)" for an error that is not
// an errno.
func formatError(err error) string {
	var e unix.Errno
	if !errors.As(err, &e) {
		if ee, ok := err.(interface{ Errno() unix.Errno }); ok {
			e = ee.Errno()
		} else {
			return "-1 (" + err.Error() + ")"
		}
	}
	if r, ok := restartErrnos[e]; ok {
		return "? " + r[0] + " (" + r[1] + ")"
	}
	name := unix.ErrnoName(e)
	if name == "" {
		name = "errno " + strconv.Itoa(int(e))
	}
	desc := e.Error()
	if desc != "" {
		desc = strings.ToUpper(desc[:1]) + desc[1:]
	}
	return "-1 " + name + " (" + desc + ")"
}
