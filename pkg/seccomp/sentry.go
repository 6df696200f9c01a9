package seccomp

import "golang.org/x/sys/unix"

// Platform names accepted by SentryFilter (the values of runsc's
// --platform).
const (
	PlatformPtrace  = "ptrace"
	PlatformSystrap = "systrap"
)

// SentryFilter is what the Sentry (runsc boot) may ask of the host once it
// runs application code with the named platform ("ptrace" or "systrap";
// any other name gets only the common list). It is the union of the Go
// runtime's needs (threads, memory, signals, timers, futexes), I/O on
// descriptors the Sentry already holds (the Gofer's socket, donated files,
// the memory file, stdio, the control socket) and the platform's own list.
//
// It names no path: there is no open, openat, execve, socket(AF_INET) or
// stat of a path (newfstatat and statx are allowed only with
// AT_EMPTY_PATH, on a descriptor). Arguments are checked where they widen
// what the Sentry can reach: clone flags (threads and stub forks, never a
// namespace), socket families (AF_UNIX only), ioctl commands (terminal
// ioctls on stdio and donated terminals), mmap flag sets and protections
// (no writable and executable private memory), mprotect (never write and
// execute together), prctl options and futex operations.
//
// kill and tgkill are allowed with any PID: the Sentry signals its own
// stubs, whose host PIDs are only known at run time. The Sentry runs in a
// PID namespace of its own, so it can name no other host process.
func SentryFilter(platform string) Filter {
	f := commonSentryFilter()
	switch platform {
	case PlatformPtrace:
		f.Merge(ptraceFilter())
	case PlatformSystrap:
		f.Merge(systrapFilter())
	}
	return f
}

// goThreadClone are the clone flags of a Go runtime thread (runtime.clone
// adds CLONE_SETTLS when it has an m to run).
const goThreadClone = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND |
	unix.CLONE_SYSVSEM | unix.CLONE_THREAD

// nsCloneFlags are the clone flags that create namespaces; no process of
// the sandbox ever needs them after it started.
const nsCloneFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
	unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP

// Futex operations (with FUTEX_PRIVATE_FLAG where named so).
const (
	futexWait        = 0
	futexWake        = 1
	futexWaitPrivate = 128
	futexWakePrivate = 129
)

// mapDroppable is MAP_DROPPABLE (Linux 6.11), which the Go runtime uses
// for the vDSO getrandom state.
const mapDroppable = 0x08

// TerminalIoctls are the ioctl commands the Sentry issues on host
// terminals (its stdio or a terminal handed to it): termios get and set,
// the window size and the input queue length.
var TerminalIoctls = []uint64{
	unix.TCGETS, unix.TCSETS, unix.TCSETSW, unix.TCSETSF,
	unix.TIOCGWINSZ, unix.TIOCSWINSZ, unix.TIOCINQ,
}

// goRuntimeFilter is what the Go runtime of any runsc process needs once
// it runs: threads, memory (never writable and executable), signals,
// timers, private futexes, the netpoller, and exiting.
func goRuntimeFilter() Filter {
	f := Filter{}
	f.Allow(
		unix.SYS_ARCH_PRCTL, unix.SYS_CLOCK_GETTIME, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_EPOLL_CREATE1,
		unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_PWAIT, unix.SYS_EPOLL_WAIT, unix.SYS_EXIT, unix.SYS_EXIT_GROUP,
		unix.SYS_GETPID, unix.SYS_GETTID, unix.SYS_MADVISE, unix.SYS_MINCORE,
		unix.SYS_MUNMAP, unix.SYS_NANOSLEEP, unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK,
		unix.SYS_RT_SIGRETURN, unix.SYS_SCHED_GETAFFINITY, unix.SYS_SCHED_YIELD, unix.SYS_SIGALTSTACK,
		unix.SYS_TGKILL, unix.SYS_SETITIMER, unix.SYS_TIMER_CREATE, unix.SYS_TIMER_SETTIME,
		unix.SYS_TIMER_DELETE, unix.SYS_PIPE2, unix.SYS_EVENTFD2, unix.SYS_GETRANDOM,
		unix.SYS_READ, unix.SYS_WRITE, unix.SYS_CLOSE, unix.SYS_FSTAT,
		// A sleep or futex wait interrupted by a signal resumes with it.
		unix.SYS_RESTART_SYSCALL,
		unix.SYS_GETUID, unix.SYS_GETEUID, unix.SYS_GETGID, unix.SYS_GETEGID,
	)
	for _, cmd := range []uint64{
		unix.F_GETFD, unix.F_SETFD, unix.F_GETFL, unix.F_SETFL, unix.F_DUPFD_CLOEXEC,
	} {
		f.AllowIf(unix.SYS_FCNTL, Rule{{Index: 1, Value: cmd}})
	}
	// Go's futexes are private to the process.
	f.AllowIf(unix.SYS_FUTEX, Rule{{Index: 1, Value: futexWaitPrivate}}, Rule{{Index: 1, Value: futexWakePrivate}})
	f.AllowIf(unix.SYS_CLONE,
		Rule{{Index: 0, Value: goThreadClone}},
		Rule{{Index: 0, Value: goThreadClone | unix.CLONE_SETTLS}},
	)
	for _, flags := range []uint64{
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_NORESERVE,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED | unix.MAP_STACK,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED_NOREPLACE,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED_NOREPLACE | unix.MAP_NORESERVE,
		mapDroppable | unix.MAP_ANONYMOUS,
	} {
		for _, r := range noWX {
			f.AllowIf(unix.SYS_MMAP, append(Rule{{Index: 3, Value: flags}}, r...))
		}
	}
	f.AllowIf(unix.SYS_MPROTECT, noWX...)
	return f
}

// noWX are the rules (either matches) for a protection argument (arg 2)
// that is not writable and executable at once.
var noWX = []Rule{
	{{Index: 2, Mask: unix.PROT_EXEC, Value: 0}},
	{{Index: 2, Mask: unix.PROT_WRITE, Value: 0}},
}

func commonSentryFilter() Filter {
	f := goRuntimeFilter()
	f.Allow(
		// I/O on descriptors the Sentry already holds.
		unix.SYS_PREAD64, unix.SYS_PWRITE64, unix.SYS_READV,
		unix.SYS_WRITEV, unix.SYS_PREADV, unix.SYS_PWRITEV,
		unix.SYS_LSEEK, unix.SYS_DUP, unix.SYS_DUP3, unix.SYS_PPOLL,
		unix.SYS_POLL, unix.SYS_FALLOCATE, unix.SYS_FTRUNCATE, unix.SYS_FSYNC, unix.SYS_FDATASYNC,
		unix.SYS_RECVMSG, unix.SYS_SENDMSG, unix.SYS_SHUTDOWN, unix.SYS_ACCEPT4, unix.SYS_GETSOCKOPT,
		unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME, unix.SYS_MEMFD_CREATE,
		unix.SYS_UNAME, unix.SYS_GETCPU, unix.SYS_PRLIMIT64, unix.SYS_GETRLIMIT, unix.SYS_SYSINFO, unix.SYS_CLOSE_RANGE,
		// Reaping and signalling children (stubs), any PID: see above.
		unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_KILL, unix.SYS_GETPPID,
	)
	// Stat only an open descriptor, never a path; fstatfs tells whether a
	// host file's mount allows the executable mappings of MapHostFile.
	f.Allow(unix.SYS_FSTATFS)
	f.AllowIf(unix.SYS_NEWFSTATAT, Rule{{Index: 3, Value: unix.AT_EMPTY_PATH}})
	f.AllowIf(unix.SYS_STATX, Rule{{Index: 2, Value: unix.AT_EMPTY_PATH}})
	for _, cmd := range TerminalIoctls {
		f.AllowIf(unix.SYS_IOCTL, Rule{{Index: 1, Value: cmd}})
	}
	// Shared mappings are of the memory file: in the Sentry, and remotely
	// in stubs with MAP_FIXED, where the application's protections apply.
	for _, flags := range []uint64{
		unix.MAP_SHARED,
		unix.MAP_SHARED | unix.MAP_NORESERVE,
		unix.MAP_SHARED | unix.MAP_POPULATE,
		unix.MAP_SHARED | unix.MAP_FIXED,
		unix.MAP_SHARED | unix.MAP_FIXED | unix.MAP_POPULATE,
	} {
		f.AllowIf(unix.SYS_MMAP, Rule{{Index: 3, Value: flags}})
	}
	// socket: only unix sockets (the control socket is already open; the
	// Sentry's networking, netlink included, is implemented inside it).
	f.AllowIf(unix.SYS_SOCKET, Rule{{Index: 0, Value: unix.AF_UNIX}})
	f.AllowIf(unix.SYS_SOCKETPAIR, Rule{{Index: 0, Value: unix.AF_UNIX}})
	return f
}

// ptraceFilter is the ptrace platform's list. Stubs are forked from the
// Sentry after the filter is installed, so they run under it too: their
// own calls (the stub program's prctl, getppid, signal setup, rseq
// unregistration, pause) and the calls the Sentry injects into them
// (mmap/munmap of the memory file, sigaltstack, clone of a stub thread)
// are listed here. The application's calls, stopped by PTRACE_SYSEMU,
// never reach seccomp.
func ptraceFilter() Filter {
	f := Filter{}
	f.Allow(unix.SYS_PTRACE, unix.SYS_PAUSE, unix.SYS_RSEQ, unix.SYS_SCHED_SETAFFINITY)
	f.AllowIf(unix.SYS_PRCTL, Rule{{Index: 0, Value: unix.PR_SET_PDEATHSIG}})
	f.AllowIf(unix.SYS_CLONE,
		// A stub thread, cloned remotely in a stub: no tracer inherits it.
		Rule{{Index: 0, Value: goThreadClone | unix.CLONE_UNTRACED}},
		// The fork of a stub: a new address space, no namespace.
		Rule{{Index: 0, Mask: unix.CLONE_VM | nsCloneFlags, Value: 0}},
	)
	return f
}

// systrapThreadClone are the clone flags of a systrap application thread
// (cloneFlags in package systrap).
const systrapThreadClone = goThreadClone&^unix.CLONE_FILES | unix.CLONE_PARENT_SETTID |
	unix.CLONE_CHILD_SETTID | unix.CLONE_CHILD_CLEARTID

// systrapFilter is the systrap platform's list. Its stubs are forked from
// the Sentry and inherit this filter before they install their own
// (baseFilter and appFilter in package systrap), so the stubs' own calls
// are listed: prctl (PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS), seccomp
// (adding a filter only narrows), close_range and dup3, the shared context
// mapping, futexes on the shared context pages (FUTEX_WAIT/FUTEX_WAKE
// without the private flag, also used by the Sentry's side of the
// hand-off), application threads (cloned by the stub's mapper without
// CLONE_FILES, with their tid written to and cleared from the context
// page) and the fork of a stub. The Sentry pins threads with
// sched_setaffinity. A stub's mapper receives host files (recvmsg is
// common) and maps them private and never writable (MapHostFile). No
// ptrace.
//
// Because seccomp's strictest action wins, the application's calls in a
// stub, which the stub filter traps, must not be killed by this inherited
// filter: with systrap, calls outside this list get SECCOMP_RET_TRAP
// instead of a kill (see runsc/sandbox.InstallSentryFilter).
func systrapFilter() Filter {
	f := Filter{}
	f.Allow(unix.SYS_SCHED_SETAFFINITY)
	f.AllowIf(unix.SYS_FUTEX, Rule{{Index: 1, Value: futexWait}}, Rule{{Index: 1, Value: futexWake}})
	f.AllowIf(unix.SYS_PRCTL,
		Rule{{Index: 0, Value: unix.PR_SET_PDEATHSIG}},
		Rule{{Index: 0, Value: unix.PR_SET_NO_NEW_PRIVS}},
	)
	f.AllowIf(unix.SYS_SECCOMP, Rule{{Index: 0, Value: unix.SECCOMP_SET_MODE_FILTER}})
	f.AllowIf(unix.SYS_MMAP, Rule{{Index: 3, Value: unix.MAP_PRIVATE | unix.MAP_FIXED}, {Index: 2, Mask: unix.PROT_WRITE, Value: 0}})
	f.AllowIf(unix.SYS_CLONE,
		Rule{{Index: 0, Value: systrapThreadClone}},
		Rule{{Index: 0, Mask: unix.CLONE_VM | nsCloneFlags, Value: 0}},
	)
	return f
}
