package seccomp

import "golang.org/x/sys/unix"

// SentryFilter is what the Sentry (runsc boot) may ask of the host once it
// runs application code, with the ptrace platform: the Go runtime's needs
// (threads, memory, signals, timers, futexes), I/O on FDs it already has
// (the Gofer's socket, the memory file, stdio, the control socket), the
// ptrace platform's (ptrace, wait4, tgkill, and the stubs' own calls: stubs
// are forked from the Sentry and inherit this filter, but the
// application's calls trapped by PTRACE_SYSEMU never reach seccomp). It
// opens no path: there is no open/openat, execve or socket(AF_INET).
func SentryFilter() Filter {
	f := Filter{}
	f.Allow(
		// Go runtime.
		unix.SYS_ARCH_PRCTL, unix.SYS_CLOCK_GETTIME, unix.SYS_CLOCK_NANOSLEEP, unix.SYS_EPOLL_CREATE1,
		unix.SYS_EPOLL_CTL, unix.SYS_EPOLL_PWAIT, unix.SYS_EXIT, unix.SYS_EXIT_GROUP, unix.SYS_FUTEX,
		unix.SYS_GETPID, unix.SYS_GETTID, unix.SYS_MADVISE, unix.SYS_MINCORE, unix.SYS_MPROTECT,
		unix.SYS_MUNMAP, unix.SYS_NANOSLEEP, unix.SYS_RT_SIGACTION, unix.SYS_RT_SIGPROCMASK,
		unix.SYS_RT_SIGRETURN, unix.SYS_SCHED_GETAFFINITY, unix.SYS_SCHED_YIELD, unix.SYS_SIGALTSTACK,
		unix.SYS_TGKILL, unix.SYS_SETITIMER, unix.SYS_TIMER_CREATE, unix.SYS_TIMER_SETTIME,
		unix.SYS_TIMER_DELETE, unix.SYS_PIPE2, unix.SYS_EVENTFD2, unix.SYS_GETRANDOM,
		// I/O on descriptors the Sentry already holds.
		unix.SYS_READ, unix.SYS_WRITE, unix.SYS_PREAD64, unix.SYS_PWRITE64, unix.SYS_READV,
		unix.SYS_WRITEV, unix.SYS_PREADV, unix.SYS_PWRITEV, unix.SYS_CLOSE, unix.SYS_FSTAT,
		unix.SYS_NEWFSTATAT, unix.SYS_LSEEK, unix.SYS_DUP, unix.SYS_DUP3, unix.SYS_PPOLL,
		unix.SYS_POLL, unix.SYS_FALLOCATE, unix.SYS_FTRUNCATE, unix.SYS_FSYNC, unix.SYS_IOCTL,
		unix.SYS_RECVMSG, unix.SYS_SENDMSG, unix.SYS_SHUTDOWN, unix.SYS_ACCEPT4, unix.SYS_GETSOCKOPT,
		unix.SYS_GETSOCKNAME, unix.SYS_GETPEERNAME, unix.SYS_FCNTL, unix.SYS_MEMFD_CREATE,
		unix.SYS_GETDENTS64, unix.SYS_UNAME, unix.SYS_GETCPU, unix.SYS_PRLIMIT64,
		// The ptrace platform and its stubs.
		unix.SYS_PTRACE, unix.SYS_WAIT4, unix.SYS_WAITID, unix.SYS_KILL, unix.SYS_GETPPID,
		unix.SYS_PAUSE, unix.SYS_RSEQ, unix.SYS_SCHED_SETAFFINITY, unix.SYS_PRCTL, unix.SYS_CLOSE_RANGE,
	)
	// mmap: never executable shared mappings of arbitrary files would be
	// ideal, but stubs map the memory file with any protection; refuse
	// only MAP_HUGETLB-style oddities by allowing the flag sets in use.
	for _, flags := range []uint64{
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_NORESERVE,
		unix.MAP_SHARED,
		unix.MAP_SHARED | unix.MAP_FIXED,
		unix.MAP_SHARED | unix.MAP_FIXED | unix.MAP_POPULATE,
		unix.MAP_SHARED | unix.MAP_POPULATE,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED | unix.MAP_STACK,
		unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED_NOREPLACE,
		unix.MAP_SHARED | unix.MAP_NORESERVE,
	} {
		f.AllowIf(unix.SYS_MMAP, Rule{{Index: 3, Value: flags}})
	}
	// clone: Go threads (CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|
	// CLONE_SYSVSEM|CLONE_THREAD), stub threads (the same with
	// CLONE_UNTRACED) and the fork of a stub (no CLONE_VM and no namespace
	// flags).
	const goThread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD
	const nsFlags = unix.CLONE_NEWNS | unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET |
		unix.CLONE_NEWIPC | unix.CLONE_NEWUTS | unix.CLONE_NEWCGROUP
	f.AllowIf(unix.SYS_CLONE,
		Rule{{Index: 0, Value: goThread}},
		// A stub thread (ptrace platform), which no tracer inherits.
		Rule{{Index: 0, Value: goThread | unix.CLONE_UNTRACED}},
		Rule{{Index: 0, Mask: unix.CLONE_VM | nsFlags, Value: 0}},
	)
	// socket: only unix sockets (the control socket is already open; the
	// Sentry's own networking is in-sandbox).
	f.AllowIf(unix.SYS_SOCKET, Rule{{Index: 0, Value: unix.AF_UNIX}})
	f.AllowIf(unix.SYS_SOCKETPAIR, Rule{{Index: 0, Value: unix.AF_UNIX}})
	return f
}
