package strace

import (
	"net/netip"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// Open flags (open(2)). O_TMPFILE and O_SYNC include other bits and come
// first; the access mode is printed separately.
var openFlags = flagSet{
	{unix.O_TMPFILE, "O_TMPFILE"},
	{unix.O_SYNC, "O_SYNC"},
	{unix.O_CREAT, "O_CREAT"},
	{unix.O_EXCL, "O_EXCL"},
	{unix.O_NOCTTY, "O_NOCTTY"},
	{unix.O_TRUNC, "O_TRUNC"},
	{unix.O_APPEND, "O_APPEND"},
	{unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_DSYNC, "O_DSYNC"},
	{unix.O_ASYNC, "O_ASYNC"},
	{unix.O_DIRECT, "O_DIRECT"},
	{0x8000, "O_LARGEFILE"}, // 0 in x/sys/unix on amd64, but the bit exists
	{unix.O_DIRECTORY, "O_DIRECTORY"},
	{unix.O_NOFOLLOW, "O_NOFOLLOW"},
	{unix.O_NOATIME, "O_NOATIME"},
	{unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_PATH, "O_PATH"},
}

func formatOpenFlags(v uint64) string {
	var mode string
	switch v & unix.O_ACCMODE {
	case unix.O_RDONLY:
		mode = "O_RDONLY"
	case unix.O_WRONLY:
		mode = "O_WRONLY"
	case unix.O_RDWR:
		mode = "O_RDWR"
	default:
		mode = "O_ACCMODE"
	}
	if rest := v &^ unix.O_ACCMODE; rest != 0 {
		return mode + "|" + openFlags.format(rest, "")
	}
	return mode
}

var aOpenFlags = arg{in: func(c *call, i int) string { return formatOpenFlags(uint64(uint32(c.args[i]))) }}

// cloexecFlags are the flags of pipe2, dup3, eventfd2 and similar calls:
// O_CLOEXEC and O_NONBLOCK and little else.
var cloexecFlags = flagSet{
	{unix.O_CLOEXEC, "O_CLOEXEC"},
	{unix.O_NONBLOCK, "O_NONBLOCK"},
	{unix.O_DIRECT, "O_DIRECT"},
}

var aCloexecFlags = flagArg32(cloexecFlags, "0")

var efdFlags = flagSet{
	{unix.EFD_CLOEXEC, "EFD_CLOEXEC"},
	{unix.EFD_NONBLOCK, "EFD_NONBLOCK"},
	{unix.EFD_SEMAPHORE, "EFD_SEMAPHORE"},
}

var tfdFlags = flagSet{
	{unix.TFD_CLOEXEC, "TFD_CLOEXEC"},
	{unix.TFD_NONBLOCK, "TFD_NONBLOCK"},
	{unix.TFD_TIMER_ABSTIME, "TFD_TIMER_ABSTIME"},
	{unix.TFD_TIMER_CANCEL_ON_SET, "TFD_TIMER_CANCEL_ON_SET"},
}

var mfdFlags = flagSet{
	{unix.MFD_CLOEXEC, "MFD_CLOEXEC"},
	{unix.MFD_ALLOW_SEALING, "MFD_ALLOW_SEALING"},
	{unix.MFD_HUGETLB, "MFD_HUGETLB"},
}

var sockFlags = flagSet{
	{unix.SOCK_CLOEXEC, "SOCK_CLOEXEC"},
	{unix.SOCK_NONBLOCK, "SOCK_NONBLOCK"},
}

// Memory protection and mapping flags (mmap(2)).
var protFlags = flagSet{
	{unix.PROT_READ, "PROT_READ"},
	{unix.PROT_WRITE, "PROT_WRITE"},
	{unix.PROT_EXEC, "PROT_EXEC"},
	{unix.PROT_GROWSDOWN, "PROT_GROWSDOWN"},
	{unix.PROT_GROWSUP, "PROT_GROWSUP"},
}

var aProt = flagArg32(protFlags, "PROT_NONE")

var mmapFlags = flagSet{
	{unix.MAP_FIXED, "MAP_FIXED"},
	{unix.MAP_ANONYMOUS, "MAP_ANONYMOUS"},
	{unix.MAP_32BIT, "MAP_32BIT"},
	{unix.MAP_GROWSDOWN, "MAP_GROWSDOWN"},
	{unix.MAP_DENYWRITE, "MAP_DENYWRITE"},
	{unix.MAP_EXECUTABLE, "MAP_EXECUTABLE"},
	{unix.MAP_LOCKED, "MAP_LOCKED"},
	{unix.MAP_NORESERVE, "MAP_NORESERVE"},
	{unix.MAP_POPULATE, "MAP_POPULATE"},
	{unix.MAP_NONBLOCK, "MAP_NONBLOCK"},
	{unix.MAP_STACK, "MAP_STACK"},
	{unix.MAP_HUGETLB, "MAP_HUGETLB"},
	{unix.MAP_SYNC, "MAP_SYNC"},
	{unix.MAP_FIXED_NOREPLACE, "MAP_FIXED_NOREPLACE"},
	{0x4000000, "MAP_UNINITIALIZED"},
}

var aMmapFlags = arg{in: func(c *call, i int) string {
	v := uint64(uint32(c.args[i]))
	var typ string
	switch v & 0xf {
	case unix.MAP_SHARED:
		typ = "MAP_SHARED"
	case unix.MAP_PRIVATE:
		typ = "MAP_PRIVATE"
	case unix.MAP_SHARED_VALIDATE:
		typ = "MAP_SHARED_VALIDATE"
	default:
		typ = hex(v & 0xf)
	}
	if rest := v &^ 0xf; rest != 0 {
		return typ + "|" + mmapFlags.format(rest, "")
	}
	return typ
}}

var mremapFlags = flagSet{
	{unix.MREMAP_MAYMOVE, "MREMAP_MAYMOVE"},
	{unix.MREMAP_FIXED, "MREMAP_FIXED"},
	{unix.MREMAP_DONTUNMAP, "MREMAP_DONTUNMAP"},
}

var msyncFlags = flagSet{
	{unix.MS_ASYNC, "MS_ASYNC"},
	{unix.MS_INVALIDATE, "MS_INVALIDATE"},
	{unix.MS_SYNC, "MS_SYNC"},
}

var mlockallFlags = flagSet{
	{unix.MCL_CURRENT, "MCL_CURRENT"},
	{unix.MCL_FUTURE, "MCL_FUTURE"},
	{unix.MCL_ONFAULT, "MCL_ONFAULT"},
}

var madvice = enum{
	unix.MADV_NORMAL:      "MADV_NORMAL",
	unix.MADV_RANDOM:      "MADV_RANDOM",
	unix.MADV_SEQUENTIAL:  "MADV_SEQUENTIAL",
	unix.MADV_WILLNEED:    "MADV_WILLNEED",
	unix.MADV_DONTNEED:    "MADV_DONTNEED",
	unix.MADV_FREE:        "MADV_FREE",
	unix.MADV_REMOVE:      "MADV_REMOVE",
	unix.MADV_DONTFORK:    "MADV_DONTFORK",
	unix.MADV_DOFORK:      "MADV_DOFORK",
	unix.MADV_MERGEABLE:   "MADV_MERGEABLE",
	unix.MADV_UNMERGEABLE: "MADV_UNMERGEABLE",
	unix.MADV_HUGEPAGE:    "MADV_HUGEPAGE",
	unix.MADV_NOHUGEPAGE:  "MADV_NOHUGEPAGE",
	unix.MADV_DONTDUMP:    "MADV_DONTDUMP",
	unix.MADV_DODUMP:      "MADV_DODUMP",
	unix.MADV_WIPEONFORK:  "MADV_WIPEONFORK",
	unix.MADV_KEEPONFORK:  "MADV_KEEPONFORK",
	unix.MADV_COLD:        "MADV_COLD",
	unix.MADV_PAGEOUT:     "MADV_PAGEOUT",
	unix.MADV_HWPOISON:    "MADV_HWPOISON",
}

// Signals.

// signalName names signal n: SIGINT, SIGRTMIN+3, or the number.
func signalName(n int64) string {
	switch {
	case n == 0:
		return "0"
	case n > 0 && n < 32:
		if s := unix.SignalName(syscall.Signal(n)); s != "" {
			return s
		}
	case n == 32:
		return "SIGRTMIN"
	case n > 32 && n <= 64:
		return "SIGRTMIN+" + strconv.FormatInt(n-32, 10)
	}
	return strconv.FormatInt(n, 10)
}

var aSignal = arg{in: func(c *call, i int) string { return signalName(int64(int32(c.args[i]))) }}

// formatSigset prints a signal mask as [INT TERM], or ~[...] when most
// signals are in it.
func formatSigset(mask uint64) string {
	prefix := "["
	if popcount(mask) > 32 {
		prefix = "~["
		mask = ^mask
	}
	var names []string
	for sig := int64(1); sig <= 64; sig++ {
		if mask&(1<<(sig-1)) != 0 {
			names = append(names, strings.TrimPrefix(signalName(sig), "SIG"))
		}
	}
	return prefix + strings.Join(names, " ") + "]"
}

func fmtSigset(c *call, i int) string {
	var b [8]byte
	if !readStruct(c.t, c.args[i], b[:]) {
		return ptr(c.args[i])
	}
	return formatSigset(u64(b[:], 0))
}

var (
	aSigsetIn  = arg{in: fmtSigset}
	aSigsetOut = arg{out: fmtSigset}
)

var sigprocmaskHow = enum{
	unix.SIG_BLOCK:   "SIG_BLOCK",
	unix.SIG_UNBLOCK: "SIG_UNBLOCK",
	unix.SIG_SETMASK: "SIG_SETMASK",
}

// Signal action flags (sigaction(2)).
var saFlags = flagSet{
	{0x1, "SA_NOCLDSTOP"},
	{0x2, "SA_NOCLDWAIT"},
	{0x4, "SA_SIGINFO"},
	{0x400, "SA_UNSUPPORTED"},
	{0x800, "SA_EXPOSE_TAGBITS"},
	{0x04000000, "SA_RESTORER"},
	{0x08000000, "SA_ONSTACK"},
	{0x10000000, "SA_RESTART"},
	{0x40000000, "SA_NODEFER"},
	{0x80000000, "SA_RESETHAND"},
}

// fmtSigaction decodes the kernel's struct sigaction: handler, flags,
// restorer, mask, each 8 bytes.
func fmtSigaction(c *call, i int) string {
	var b [32]byte
	if !readStruct(c.t, c.args[i], b[:]) {
		return ptr(c.args[i])
	}
	var handler string
	switch h := u64(b[:], 0); h {
	case 0:
		handler = "SIG_DFL"
	case 1:
		handler = "SIG_IGN"
	default:
		handler = hex(h)
	}
	s := "{sa_handler=" + handler +
		", sa_mask=" + formatSigset(u64(b[:], 24)) +
		", sa_flags=" + saFlags.format(u64(b[:], 8), "0")
	if u64(b[:], 8)&0x04000000 != 0 {
		s += ", sa_restorer=" + hex(u64(b[:], 16))
	}
	return s + "}"
}

var ssFlags = flagSet{
	{1, "SS_ONSTACK"},
	{2, "SS_DISABLE"},
	{1 << 31, "SS_AUTODISARM"},
}

// fmtStack decodes a stack_t: ss_sp, ss_flags (int, padded), ss_size.
func fmtStack(c *call, i int) string {
	var b [24]byte
	if !readStruct(c.t, c.args[i], b[:]) {
		return ptr(c.args[i])
	}
	return "{ss_sp=" + ptr(uintptr(u64(b[:], 0))) +
		", ss_flags=" + ssFlags.format(uint64(u32(b[:], 8)), "0") +
		", ss_size=" + strconv.FormatUint(u64(b[:], 16), 10) + "}"
}

// Time.

var clockIDs = enum{
	unix.CLOCK_REALTIME:           "CLOCK_REALTIME",
	unix.CLOCK_MONOTONIC:          "CLOCK_MONOTONIC",
	unix.CLOCK_PROCESS_CPUTIME_ID: "CLOCK_PROCESS_CPUTIME_ID",
	unix.CLOCK_THREAD_CPUTIME_ID:  "CLOCK_THREAD_CPUTIME_ID",
	unix.CLOCK_MONOTONIC_RAW:      "CLOCK_MONOTONIC_RAW",
	unix.CLOCK_REALTIME_COARSE:    "CLOCK_REALTIME_COARSE",
	unix.CLOCK_MONOTONIC_COARSE:   "CLOCK_MONOTONIC_COARSE",
	unix.CLOCK_BOOTTIME:           "CLOCK_BOOTTIME",
	unix.CLOCK_REALTIME_ALARM:     "CLOCK_REALTIME_ALARM",
	unix.CLOCK_BOOTTIME_ALARM:     "CLOCK_BOOTTIME_ALARM",
	unix.CLOCK_TAI:                "CLOCK_TAI",
}

var aClock = enumArg(clockIDs)

var timerFlags = flagSet{{unix.TIMER_ABSTIME, "TIMER_ABSTIME"}}

func formatTimespec(b []byte) string {
	return "{tv_sec=" + strconv.FormatInt(int64(u64(b, 0)), 10) +
		", tv_nsec=" + strconv.FormatInt(int64(u64(b, 8)), 10) + "}"
}

func formatTimeval(b []byte) string {
	return "{tv_sec=" + strconv.FormatInt(int64(u64(b, 0)), 10) +
		", tv_usec=" + strconv.FormatInt(int64(u64(b, 8)), 10) + "}"
}

// structArg reads size bytes at the argument and decodes them with f; a NULL
// or bad pointer prints as an address.
func structArg(size int, f func([]byte) string) func(c *call, i int) string {
	return func(c *call, i int) string {
		b := make([]byte, size)
		if !readStruct(c.t, c.args[i], b) {
			return ptr(c.args[i])
		}
		return f(b)
	}
}

var (
	fmtTimespec   = structArg(16, formatTimespec)
	fmtTimeval    = structArg(16, formatTimeval)
	fmtItimerspec = structArg(32, func(b []byte) string {
		return "{it_interval=" + formatTimespec(b) + ", it_value=" + formatTimespec(b[16:]) + "}"
	})
	fmtItimerval = structArg(32, func(b []byte) string {
		return "{it_interval=" + formatTimeval(b) + ", it_value=" + formatTimeval(b[16:]) + "}"
	})

	aTimespecIn    = arg{in: fmtTimespec}
	aTimespecOut   = arg{out: fmtTimespec}
	aTimevalIn     = arg{in: fmtTimeval}
	aTimevalOut    = arg{out: fmtTimeval}
	aItimerspecIn  = arg{in: fmtItimerspec}
	aItimerspecOut = arg{out: fmtItimerspec}
	aItimervalIn   = arg{in: fmtItimerval}
	aItimervalOut  = arg{out: fmtItimerval}
)

var itimerWhich = enum{
	unix.ITIMER_REAL:    "ITIMER_REAL",
	unix.ITIMER_VIRTUAL: "ITIMER_VIRTUAL",
	unix.ITIMER_PROF:    "ITIMER_PROF",
}

// Futexes.

var futexCmds = enum{
	0:  "FUTEX_WAIT",
	1:  "FUTEX_WAKE",
	2:  "FUTEX_FD",
	3:  "FUTEX_REQUEUE",
	4:  "FUTEX_CMP_REQUEUE",
	5:  "FUTEX_WAKE_OP",
	6:  "FUTEX_LOCK_PI",
	7:  "FUTEX_UNLOCK_PI",
	8:  "FUTEX_TRYLOCK_PI",
	9:  "FUTEX_WAIT_BITSET",
	10: "FUTEX_WAKE_BITSET",
	11: "FUTEX_WAIT_REQUEUE_PI",
	12: "FUTEX_CMP_REQUEUE_PI",
	13: "FUTEX_LOCK_PI2",
}

const (
	futexPrivate       = 128
	futexClockRealtime = 256
	futexCmdMask       = 0x7f
)

var aFutexOp = arg{in: func(c *call, i int) string {
	op := uint64(uint32(c.args[i]))
	s := futexCmds.format(op & futexCmdMask)
	if op&futexPrivate != 0 {
		s += "_PRIVATE"
	}
	if op&futexClockRealtime != 0 {
		s += "|FUTEX_CLOCK_REALTIME"
	}
	if rest := op &^ (futexCmdMask | futexPrivate | futexClockRealtime); rest != 0 {
		s += "|" + hex(rest)
	}
	return s
}}

// futexWaits reports whether futex op waits, and so takes a timeout.
func futexWaits(op uintptr) bool {
	switch op & futexCmdMask {
	case 0, 6, 9, 11, 13:
		return true
	}
	return false
}

// aFutexTimeout is futex's fourth argument: a timeout for the waiting
// operations, a count (val2) for the others.
var aFutexTimeout = arg{in: func(c *call, i int) string {
	if futexWaits(c.args[1]) {
		return fmtTimespec(c, i)
	}
	return fmtUint(c, i)
}}

// File control.

var fcntlCmds = enum{
	unix.F_DUPFD:         "F_DUPFD",
	unix.F_GETFD:         "F_GETFD",
	unix.F_SETFD:         "F_SETFD",
	unix.F_GETFL:         "F_GETFL",
	unix.F_SETFL:         "F_SETFL",
	unix.F_GETLK:         "F_GETLK",
	unix.F_SETLK:         "F_SETLK",
	unix.F_SETLKW:        "F_SETLKW",
	unix.F_SETOWN:        "F_SETOWN",
	unix.F_GETOWN:        "F_GETOWN",
	unix.F_SETSIG:        "F_SETSIG",
	unix.F_GETSIG:        "F_GETSIG",
	unix.F_SETOWN_EX:     "F_SETOWN_EX",
	unix.F_GETOWN_EX:     "F_GETOWN_EX",
	unix.F_OFD_GETLK:     "F_OFD_GETLK",
	unix.F_OFD_SETLK:     "F_OFD_SETLK",
	unix.F_OFD_SETLKW:    "F_OFD_SETLKW",
	unix.F_SETLEASE:      "F_SETLEASE",
	unix.F_GETLEASE:      "F_GETLEASE",
	unix.F_NOTIFY:        "F_NOTIFY",
	unix.F_DUPFD_CLOEXEC: "F_DUPFD_CLOEXEC",
	unix.F_SETPIPE_SZ:    "F_SETPIPE_SZ",
	unix.F_GETPIPE_SZ:    "F_GETPIPE_SZ",
	unix.F_ADD_SEALS:     "F_ADD_SEALS",
	unix.F_GET_SEALS:     "F_GET_SEALS",
}

var fdFlags = flagSet{{unix.FD_CLOEXEC, "FD_CLOEXEC"}}

var sealFlags = flagSet{
	{unix.F_SEAL_SEAL, "F_SEAL_SEAL"},
	{unix.F_SEAL_SHRINK, "F_SEAL_SHRINK"},
	{unix.F_SEAL_GROW, "F_SEAL_GROW"},
	{unix.F_SEAL_WRITE, "F_SEAL_WRITE"},
	{unix.F_SEAL_FUTURE_WRITE, "F_SEAL_FUTURE_WRITE"},
}

// aFcntlArg is fcntl's third argument, whose type depends on the command.
var aFcntlArg = arg{in: func(c *call, i int) string {
	v := c.args[i]
	switch c.args[1] {
	case unix.F_GETFD, unix.F_GETFL, unix.F_GETOWN, unix.F_GETSIG, unix.F_GETLEASE,
		unix.F_GETPIPE_SZ, unix.F_GET_SEALS:
		return "" // no argument
	case unix.F_SETFD:
		return fdFlags.format(uint64(v), "0")
	case unix.F_SETFL:
		return formatOpenFlags(uint64(uint32(v)))
	case unix.F_ADD_SEALS:
		return sealFlags.format(uint64(v), "0")
	case unix.F_DUPFD, unix.F_DUPFD_CLOEXEC, unix.F_SETOWN, unix.F_SETSIG,
		unix.F_SETLEASE, unix.F_NOTIFY, unix.F_SETPIPE_SZ:
		return fmtInt(c, i)
	}
	return ptr(v)
}}

var ioctlReqs = enum{
	unix.TCGETS:      "TCGETS",
	unix.TCSETS:      "TCSETS",
	unix.TCSETSW:     "TCSETSW",
	unix.TCSETSF:     "TCSETSF",
	unix.TCSBRK:      "TCSBRK",
	unix.TCXONC:      "TCXONC",
	unix.TCFLSH:      "TCFLSH",
	unix.TIOCEXCL:    "TIOCEXCL",
	unix.TIOCNXCL:    "TIOCNXCL",
	unix.TIOCSCTTY:   "TIOCSCTTY",
	unix.TIOCGPGRP:   "TIOCGPGRP",
	unix.TIOCSPGRP:   "TIOCSPGRP",
	unix.TIOCOUTQ:    "TIOCOUTQ",
	unix.TIOCSTI:     "TIOCSTI",
	unix.TIOCGWINSZ:  "TIOCGWINSZ",
	unix.TIOCSWINSZ:  "TIOCSWINSZ",
	unix.TIOCMGET:    "TIOCMGET",
	unix.TIOCMSET:    "TIOCMSET",
	0x541b:           "FIONREAD",
	unix.TIOCCONS:    "TIOCCONS",
	0x5421:           "FIONBIO",
	unix.TIOCNOTTY:   "TIOCNOTTY",
	unix.TIOCSETD:    "TIOCSETD",
	unix.TIOCGETD:    "TIOCGETD",
	unix.TIOCSBRK:    "TIOCSBRK",
	unix.TIOCCBRK:    "TIOCCBRK",
	unix.TIOCGSID:    "TIOCGSID",
	unix.TCGETS2:     "TCGETS2",
	unix.TCSETS2:     "TCSETS2",
	unix.TIOCGPTN:    "TIOCGPTN",
	unix.TIOCSPTLCK:  "TIOCSPTLCK",
	unix.TIOCGPTLCK:  "TIOCGPTLCK",
	unix.TIOCGPTPEER: "TIOCGPTPEER",
	unix.TIOCSIG:     "TIOCSIG",
	unix.TIOCVHANGUP: "TIOCVHANGUP",
	0x5450:           "FIONCLEX",
	0x5451:           "FIOCLEX",
	0x5452:           "FIOASYNC",
	0x5460:           "FIOQSIZE",
	unix.TIOCGEXCL:   "TIOCGEXCL",
}

var aIoctlReq = arg{in: func(c *call, i int) string {
	v := uint64(uint32(c.args[i]))
	if s, ok := ioctlReqs[v]; ok {
		return s
	}
	return hex(v)
}}

var accessModes = flagSet{
	{unix.R_OK, "R_OK"},
	{unix.W_OK, "W_OK"},
	{unix.X_OK, "X_OK"},
}

var aAccessMode = flagArg32(accessModes, "F_OK")

// AT_* flags. AT_REMOVEDIR and AT_EACCESS share a bit; each call's table
// entry picks the set that applies.
var atFlags = flagSet{
	{unix.AT_SYMLINK_NOFOLLOW, "AT_SYMLINK_NOFOLLOW"},
	{unix.AT_SYMLINK_FOLLOW, "AT_SYMLINK_FOLLOW"},
	{unix.AT_NO_AUTOMOUNT, "AT_NO_AUTOMOUNT"},
	{unix.AT_EMPTY_PATH, "AT_EMPTY_PATH"},
	{unix.AT_STATX_FORCE_SYNC, "AT_STATX_FORCE_SYNC"},
	{unix.AT_STATX_DONT_SYNC, "AT_STATX_DONT_SYNC"},
	{unix.AT_RECURSIVE, "AT_RECURSIVE"},
}

var (
	aAtFlags       = flagArg32(atFlags, "0")
	aUnlinkatFlags = flagArg32(append(flagSet{{unix.AT_REMOVEDIR, "AT_REMOVEDIR"}}, atFlags...), "0")
	aFaccessFlags  = flagArg32(append(flagSet{{unix.AT_EACCESS, "AT_EACCESS"}}, atFlags...), "0")
)

var renameFlags = flagSet{
	{unix.RENAME_NOREPLACE, "RENAME_NOREPLACE"},
	{unix.RENAME_EXCHANGE, "RENAME_EXCHANGE"},
	{unix.RENAME_WHITEOUT, "RENAME_WHITEOUT"},
}

var whence = enum{
	unix.SEEK_SET:  "SEEK_SET",
	unix.SEEK_CUR:  "SEEK_CUR",
	unix.SEEK_END:  "SEEK_END",
	unix.SEEK_DATA: "SEEK_DATA",
	unix.SEEK_HOLE: "SEEK_HOLE",
}

var lockOps = flagSet{
	{unix.LOCK_SH, "LOCK_SH"},
	{unix.LOCK_EX, "LOCK_EX"},
	{unix.LOCK_NB, "LOCK_NB"},
	{unix.LOCK_UN, "LOCK_UN"},
}

// fmtPipeFDs decodes the int[2] that pipe(2) and socketpair(2) fill in.
var fmtPipeFDs = structArg(8, func(b []byte) string {
	return "[" + strconv.Itoa(int(int32(u32(b, 0)))) + ", " + strconv.Itoa(int(int32(u32(b, 4)))) + "]"
})

var aPipeFDs = arg{out: fmtPipeFDs}

// iovecArg decodes an array of struct iovec whose length is argument n.
func iovecArg(n int) arg {
	return arg{in: func(c *call, i int) string {
		count := uint64(c.args[n])
		if c.args[i] == 0 || count > 1024 {
			return ptr(c.args[i])
		}
		var parts []string
		var b [16]byte
		for k := uint64(0); k < count; k++ {
			if k == maxElems {
				parts = append(parts, "...")
				break
			}
			if !readStruct(c.t, c.args[i]+uintptr(16*k), b[:]) {
				return ptr(c.args[i])
			}
			parts = append(parts, "{iov_base="+ptr(uintptr(u64(b[:], 0)))+", iov_len="+strconv.FormatUint(u64(b[:], 8), 10)+"}")
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}}
}

// Processes.

var waitOptions = flagSet{
	{unix.WNOHANG, "WNOHANG"},
	{unix.WUNTRACED, "WUNTRACED"},
	{unix.WEXITED, "WEXITED"},
	{unix.WCONTINUED, "WCONTINUED"},
	{unix.WNOWAIT, "WNOWAIT"},
	{unix.WNOTHREAD, "__WNOTHREAD"},
	{unix.WALL, "__WALL"},
	{unix.WCLONE, "__WCLONE"},
}

var aWaitOptions = flagArg32(waitOptions, "0")

// formatWaitStatus decodes a wait status as strace does.
func formatWaitStatus(s uint32) string {
	ws := syscall.WaitStatus(s)
	switch {
	case ws.Exited():
		return "[{WIFEXITED(s) && WEXITSTATUS(s) == " + strconv.Itoa(ws.ExitStatus()) + "}]"
	case ws.Signaled():
		core := ""
		if ws.CoreDump() {
			core = " && WCOREDUMP(s)"
		}
		return "[{WIFSIGNALED(s) && WTERMSIG(s) == " + signalName(int64(ws.Signal())) + core + "}]"
	case ws.Stopped():
		return "[{WIFSTOPPED(s) && WSTOPSIG(s) == " + signalName(int64(ws.StopSignal())) + "}]"
	case ws.Continued():
		return "[{WIFCONTINUED(s)}]"
	}
	return "[" + hex(uint64(s)) + "]"
}

var aWaitStatus = arg{out: structArg(4, func(b []byte) string { return formatWaitStatus(u32(b, 0)) })}

var idTypes = enum{
	unix.P_ALL:   "P_ALL",
	unix.P_PID:   "P_PID",
	unix.P_PGID:  "P_PGID",
	unix.P_PIDFD: "P_PIDFD",
}

var cloneFlags = flagSet{
	{unix.CLONE_VM, "CLONE_VM"},
	{unix.CLONE_FS, "CLONE_FS"},
	{unix.CLONE_FILES, "CLONE_FILES"},
	{unix.CLONE_SIGHAND, "CLONE_SIGHAND"},
	{unix.CLONE_PIDFD, "CLONE_PIDFD"},
	{unix.CLONE_PTRACE, "CLONE_PTRACE"},
	{unix.CLONE_VFORK, "CLONE_VFORK"},
	{unix.CLONE_PARENT, "CLONE_PARENT"},
	{unix.CLONE_THREAD, "CLONE_THREAD"},
	{unix.CLONE_NEWNS, "CLONE_NEWNS"},
	{unix.CLONE_SYSVSEM, "CLONE_SYSVSEM"},
	{unix.CLONE_SETTLS, "CLONE_SETTLS"},
	{unix.CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"},
	{unix.CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"},
	{unix.CLONE_DETACHED, "CLONE_DETACHED"},
	{unix.CLONE_UNTRACED, "CLONE_UNTRACED"},
	{unix.CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"},
	{unix.CLONE_NEWCGROUP, "CLONE_NEWCGROUP"},
	{unix.CLONE_NEWUTS, "CLONE_NEWUTS"},
	{unix.CLONE_NEWIPC, "CLONE_NEWIPC"},
	{unix.CLONE_NEWUSER, "CLONE_NEWUSER"},
	{unix.CLONE_NEWPID, "CLONE_NEWPID"},
	{unix.CLONE_NEWNET, "CLONE_NEWNET"},
	{unix.CLONE_IO, "CLONE_IO"},
	{unix.CLONE_CLEAR_SIGHAND, "CLONE_CLEAR_SIGHAND"},
	{unix.CLONE_INTO_CGROUP, "CLONE_INTO_CGROUP"},
	{unix.CLONE_NEWTIME, "CLONE_NEWTIME"},
}

// formatCloneFlags prints clone flags; the low byte of clone(2)'s flags is
// the exit signal.
func formatCloneFlags(v uint64, withSignal bool) string {
	if !withSignal {
		return cloneFlags.format(v, "0")
	}
	sig := v & 0xff
	rest := v &^ 0xff
	switch {
	case rest == 0:
		return signalName(int64(sig))
	case sig == 0:
		return cloneFlags.format(rest, "0")
	}
	return cloneFlags.format(rest, "0") + "|" + signalName(int64(sig))
}

var (
	aCloneFlags = arg{in: func(c *call, i int) string { return formatCloneFlags(uint64(c.args[i]), true) }}
	aNSFlags    = arg{in: func(c *call, i int) string { return formatCloneFlags(uint64(c.args[i]), false) }}
)

// fmtCloneArgs decodes the first fields of struct clone_args (clone3(2)).
var fmtCloneArgs = structArg(64, func(b []byte) string {
	return "{flags=" + formatCloneFlags(u64(b, 0), false) +
		", exit_signal=" + signalName(int64(u64(b, 32))) +
		", stack=" + ptr(uintptr(u64(b, 40))) +
		", stack_size=" + hex(u64(b, 48)) +
		", tls=" + ptr(uintptr(u64(b, 56))) + "}"
})

// fmtStringArray decodes a NULL-terminated array of string pointers (argv).
func fmtStringArray(c *call, i int) string {
	addr := c.args[i]
	if addr == 0 {
		return "NULL"
	}
	var parts []string
	var b [8]byte
	for k := 0; ; k++ {
		if !readStruct(c.t, addr+uintptr(8*k), b[:]) {
			return ptr(addr)
		}
		p := uintptr(u64(b[:], 0))
		if p == 0 {
			break
		}
		if k == maxElems {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, readString(c.t, p, maxString))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// fmtEnvp prints an environment array as its address and length.
func fmtEnvp(c *call, i int) string {
	addr := c.args[i]
	if addr == 0 {
		return "NULL"
	}
	var b [8]byte
	n := 0
	for ; n < 4096; n++ {
		if !readStruct(c.t, addr+uintptr(8*n), b[:]) {
			return ptr(addr)
		}
		if u64(b[:], 0) == 0 {
			break
		}
	}
	vars := " vars */"
	if n == 1 {
		vars = " var */"
	}
	return ptr(addr) + " /* " + strconv.Itoa(n) + vars
}

var prctlOptions = enum{
	unix.PR_SET_PDEATHSIG:             "PR_SET_PDEATHSIG",
	unix.PR_GET_PDEATHSIG:             "PR_GET_PDEATHSIG",
	unix.PR_GET_DUMPABLE:              "PR_GET_DUMPABLE",
	unix.PR_SET_DUMPABLE:              "PR_SET_DUMPABLE",
	unix.PR_GET_KEEPCAPS:              "PR_GET_KEEPCAPS",
	unix.PR_SET_KEEPCAPS:              "PR_SET_KEEPCAPS",
	unix.PR_SET_NAME:                  "PR_SET_NAME",
	unix.PR_GET_NAME:                  "PR_GET_NAME",
	unix.PR_GET_SECCOMP:               "PR_GET_SECCOMP",
	unix.PR_SET_SECCOMP:               "PR_SET_SECCOMP",
	unix.PR_CAPBSET_READ:              "PR_CAPBSET_READ",
	unix.PR_CAPBSET_DROP:              "PR_CAPBSET_DROP",
	unix.PR_GET_TSC:                   "PR_GET_TSC",
	unix.PR_SET_TSC:                   "PR_SET_TSC",
	unix.PR_GET_SECUREBITS:            "PR_GET_SECUREBITS",
	unix.PR_SET_SECUREBITS:            "PR_SET_SECUREBITS",
	unix.PR_SET_TIMERSLACK:            "PR_SET_TIMERSLACK",
	unix.PR_GET_TIMERSLACK:            "PR_GET_TIMERSLACK",
	unix.PR_MCE_KILL:                  "PR_MCE_KILL",
	unix.PR_MCE_KILL_GET:              "PR_MCE_KILL_GET",
	unix.PR_SET_MM:                    "PR_SET_MM",
	unix.PR_SET_CHILD_SUBREAPER:       "PR_SET_CHILD_SUBREAPER",
	unix.PR_GET_CHILD_SUBREAPER:       "PR_GET_CHILD_SUBREAPER",
	unix.PR_SET_NO_NEW_PRIVS:          "PR_SET_NO_NEW_PRIVS",
	unix.PR_GET_NO_NEW_PRIVS:          "PR_GET_NO_NEW_PRIVS",
	unix.PR_GET_TID_ADDRESS:           "PR_GET_TID_ADDRESS",
	unix.PR_SET_THP_DISABLE:           "PR_SET_THP_DISABLE",
	unix.PR_GET_THP_DISABLE:           "PR_GET_THP_DISABLE",
	unix.PR_SET_FP_MODE:               "PR_SET_FP_MODE",
	unix.PR_GET_FP_MODE:               "PR_GET_FP_MODE",
	unix.PR_CAP_AMBIENT:               "PR_CAP_AMBIENT",
	unix.PR_GET_SPECULATION_CTRL:      "PR_GET_SPECULATION_CTRL",
	unix.PR_SET_SPECULATION_CTRL:      "PR_SET_SPECULATION_CTRL",
	unix.PR_SET_TAGGED_ADDR_CTRL:      "PR_SET_TAGGED_ADDR_CTRL",
	unix.PR_GET_TAGGED_ADDR_CTRL:      "PR_GET_TAGGED_ADDR_CTRL",
	unix.PR_SET_IO_FLUSHER:            "PR_SET_IO_FLUSHER",
	unix.PR_GET_IO_FLUSHER:            "PR_GET_IO_FLUSHER",
	unix.PR_SET_SYSCALL_USER_DISPATCH: "PR_SET_SYSCALL_USER_DISPATCH",
	unix.PR_SET_VMA:                   "PR_SET_VMA",
}

// aPrctlArg2 is prctl's second argument: a signal, a name, or a number.
var aPrctlArg2 = arg{
	in: func(c *call, i int) string {
		switch c.args[0] {
		case unix.PR_SET_PDEATHSIG:
			return signalName(int64(int32(c.args[i])))
		case unix.PR_SET_NAME:
			return readString(c.t, c.args[i], 16)
		case unix.PR_GET_NAME, unix.PR_GET_PDEATHSIG, unix.PR_GET_TID_ADDRESS:
			return ptr(c.args[i])
		}
		return fmtLong(c, i)
	},
	out: func(c *call, i int) string {
		switch c.args[0] {
		case unix.PR_GET_NAME:
			return readString(c.t, c.args[i], 16)
		case unix.PR_SET_PDEATHSIG:
			return signalName(int64(int32(c.args[i])))
		case unix.PR_SET_NAME:
			return readString(c.t, c.args[i], 16)
		case unix.PR_GET_PDEATHSIG, unix.PR_GET_TID_ADDRESS:
			return ptr(c.args[i])
		}
		return fmtLong(c, i)
	},
}

var archPrctlCodes = enum{
	0x1001: "ARCH_SET_GS",
	0x1002: "ARCH_SET_FS",
	0x1003: "ARCH_GET_FS",
	0x1004: "ARCH_GET_GS",
	0x1011: "ARCH_GET_CPUID",
	0x1012: "ARCH_SET_CPUID",
	0x1021: "ARCH_GET_XCOMP_SUPP",
	0x1022: "ARCH_GET_XCOMP_PERM",
	0x1023: "ARCH_REQ_XCOMP_PERM",
	0x1024: "ARCH_GET_XCOMP_GUEST_PERM",
	0x1025: "ARCH_REQ_XCOMP_GUEST_PERM",
	0x2001: "ARCH_MAP_VDSO_X32",
	0x2002: "ARCH_MAP_VDSO_32",
	0x2003: "ARCH_MAP_VDSO_64",
	0x5001: "ARCH_SHSTK_ENABLE",
	0x5002: "ARCH_SHSTK_DISABLE",
	0x5003: "ARCH_SHSTK_LOCK",
	0x5004: "ARCH_SHSTK_UNLOCK",
	0x5005: "ARCH_SHSTK_STATUS",
}

var rlimitResources = enum{
	unix.RLIMIT_CPU:        "RLIMIT_CPU",
	unix.RLIMIT_FSIZE:      "RLIMIT_FSIZE",
	unix.RLIMIT_DATA:       "RLIMIT_DATA",
	unix.RLIMIT_STACK:      "RLIMIT_STACK",
	unix.RLIMIT_CORE:       "RLIMIT_CORE",
	unix.RLIMIT_RSS:        "RLIMIT_RSS",
	unix.RLIMIT_NPROC:      "RLIMIT_NPROC",
	unix.RLIMIT_NOFILE:     "RLIMIT_NOFILE",
	unix.RLIMIT_MEMLOCK:    "RLIMIT_MEMLOCK",
	unix.RLIMIT_AS:         "RLIMIT_AS",
	unix.RLIMIT_LOCKS:      "RLIMIT_LOCKS",
	unix.RLIMIT_SIGPENDING: "RLIMIT_SIGPENDING",
	unix.RLIMIT_MSGQUEUE:   "RLIMIT_MSGQUEUE",
	unix.RLIMIT_NICE:       "RLIMIT_NICE",
	unix.RLIMIT_RTPRIO:     "RLIMIT_RTPRIO",
	unix.RLIMIT_RTTIME:     "RLIMIT_RTTIME",
}

func formatRlim(v uint64) string {
	if v == ^uint64(0) {
		return "RLIM64_INFINITY"
	}
	return strconv.FormatUint(v, 10)
}

var fmtRlimit = structArg(16, func(b []byte) string {
	return "{rlim_cur=" + formatRlim(u64(b, 0)) + ", rlim_max=" + formatRlim(u64(b, 8)) + "}"
})

var rusageWho = enum{
	0:          "RUSAGE_SELF",
	^uint64(0): "RUSAGE_CHILDREN",
	1:          "RUSAGE_THREAD",
}

// fmtUtsname decodes struct utsname: six 65-byte strings.
var fmtUtsname = structArg(6*65, func(b []byte) string {
	field := func(k int) string {
		f := b[k*65 : (k+1)*65]
		for j, c := range f {
			if c == 0 {
				f = f[:j]
				break
			}
		}
		return quote(f)
	}
	return "{sysname=" + field(0) + ", nodename=" + field(1) + ", release=" + field(2) +
		", version=" + field(3) + ", machine=" + field(4) + "}"
})

var grndFlags = flagSet{
	{unix.GRND_NONBLOCK, "GRND_NONBLOCK"},
	{unix.GRND_RANDOM, "GRND_RANDOM"},
	{unix.GRND_INSECURE, "GRND_INSECURE"},
}

// Sockets.

var socketDomains = enum{
	unix.AF_UNSPEC:  "AF_UNSPEC",
	unix.AF_UNIX:    "AF_UNIX",
	unix.AF_INET:    "AF_INET",
	unix.AF_INET6:   "AF_INET6",
	unix.AF_NETLINK: "AF_NETLINK",
	unix.AF_PACKET:  "AF_PACKET",
	unix.AF_VSOCK:   "AF_VSOCK",
}

var socketTypes = enum{
	unix.SOCK_STREAM:    "SOCK_STREAM",
	unix.SOCK_DGRAM:     "SOCK_DGRAM",
	unix.SOCK_RAW:       "SOCK_RAW",
	unix.SOCK_RDM:       "SOCK_RDM",
	unix.SOCK_SEQPACKET: "SOCK_SEQPACKET",
	unix.SOCK_PACKET:    "SOCK_PACKET",
}

var aSocketType = arg{in: func(c *call, i int) string {
	v := uint64(uint32(c.args[i]))
	s := socketTypes.format(v & 0xf)
	if rest := v &^ 0xf; rest != 0 {
		s += "|" + sockFlags.format(rest, "")
	}
	return s
}}

var msgFlags = flagSet{
	{unix.MSG_OOB, "MSG_OOB"},
	{unix.MSG_PEEK, "MSG_PEEK"},
	{unix.MSG_DONTROUTE, "MSG_DONTROUTE"},
	{unix.MSG_CTRUNC, "MSG_CTRUNC"},
	{unix.MSG_TRUNC, "MSG_TRUNC"},
	{unix.MSG_DONTWAIT, "MSG_DONTWAIT"},
	{unix.MSG_EOR, "MSG_EOR"},
	{unix.MSG_WAITALL, "MSG_WAITALL"},
	{unix.MSG_CONFIRM, "MSG_CONFIRM"},
	{unix.MSG_ERRQUEUE, "MSG_ERRQUEUE"},
	{unix.MSG_NOSIGNAL, "MSG_NOSIGNAL"},
	{unix.MSG_MORE, "MSG_MORE"},
	{unix.MSG_WAITFORONE, "MSG_WAITFORONE"},
	{unix.MSG_ZEROCOPY, "MSG_ZEROCOPY"},
	{unix.MSG_FASTOPEN, "MSG_FASTOPEN"},
	{unix.MSG_CMSG_CLOEXEC, "MSG_CMSG_CLOEXEC"},
}

var aMsgFlags = flagArg32(msgFlags, "0")

var shutdownHow = enum{
	unix.SHUT_RD:   "SHUT_RD",
	unix.SHUT_WR:   "SHUT_WR",
	unix.SHUT_RDWR: "SHUT_RDWR",
}

var sockoptLevels = enum{
	unix.SOL_SOCKET:   "SOL_SOCKET",
	unix.IPPROTO_IP:   "SOL_IP",
	unix.IPPROTO_TCP:  "SOL_TCP",
	unix.IPPROTO_UDP:  "SOL_UDP",
	unix.IPPROTO_IPV6: "SOL_IPV6",
}

var socketOptions = enum{
	unix.SO_DEBUG:        "SO_DEBUG",
	unix.SO_REUSEADDR:    "SO_REUSEADDR",
	unix.SO_TYPE:         "SO_TYPE",
	unix.SO_ERROR:        "SO_ERROR",
	unix.SO_DONTROUTE:    "SO_DONTROUTE",
	unix.SO_BROADCAST:    "SO_BROADCAST",
	unix.SO_SNDBUF:       "SO_SNDBUF",
	unix.SO_RCVBUF:       "SO_RCVBUF",
	unix.SO_KEEPALIVE:    "SO_KEEPALIVE",
	unix.SO_OOBINLINE:    "SO_OOBINLINE",
	unix.SO_LINGER:       "SO_LINGER",
	unix.SO_REUSEPORT:    "SO_REUSEPORT",
	unix.SO_PASSCRED:     "SO_PASSCRED",
	unix.SO_PEERCRED:     "SO_PEERCRED",
	unix.SO_RCVLOWAT:     "SO_RCVLOWAT",
	unix.SO_SNDLOWAT:     "SO_SNDLOWAT",
	unix.SO_RCVTIMEO:     "SO_RCVTIMEO",
	unix.SO_SNDTIMEO:     "SO_SNDTIMEO",
	unix.SO_ACCEPTCONN:   "SO_ACCEPTCONN",
	unix.SO_PROTOCOL:     "SO_PROTOCOL",
	unix.SO_DOMAIN:       "SO_DOMAIN",
	unix.SO_BINDTODEVICE: "SO_BINDTODEVICE",
}

var tcpOptions = enum{
	unix.TCP_NODELAY:      "TCP_NODELAY",
	unix.TCP_MAXSEG:       "TCP_MAXSEG",
	unix.TCP_CORK:         "TCP_CORK",
	unix.TCP_KEEPIDLE:     "TCP_KEEPIDLE",
	unix.TCP_KEEPINTVL:    "TCP_KEEPINTVL",
	unix.TCP_KEEPCNT:      "TCP_KEEPCNT",
	unix.TCP_INFO:         "TCP_INFO",
	unix.TCP_QUICKACK:     "TCP_QUICKACK",
	unix.TCP_CONGESTION:   "TCP_CONGESTION",
	unix.TCP_USER_TIMEOUT: "TCP_USER_TIMEOUT",
}

var aSockoptName = arg{in: func(c *call, i int) string {
	v := uint64(uint32(c.args[i]))
	switch c.args[1] {
	case unix.SOL_SOCKET:
		return socketOptions.format(v)
	case unix.IPPROTO_TCP:
		return tcpOptions.format(v)
	}
	return strconv.FormatUint(v, 10)
}}

// formatSockaddr decodes a socket address of n bytes at addr.
func formatSockaddr(t Task, addr uintptr, n uint64) string {
	if addr == 0 {
		return "NULL"
	}
	if n < 2 || n > 128 {
		return hex(uint64(addr))
	}
	b := make([]byte, n)
	if !readStruct(t, addr, b) {
		return hex(uint64(addr))
	}
	family := uint64(uint16(b[0]) | uint16(b[1])<<8)
	name := socketDomains.format(family)
	switch family {
	case unix.AF_UNIX:
		path := b[2:]
		if len(path) == 0 {
			return "{sa_family=AF_UNIX}"
		}
		abstract := path[0] == 0
		if !abstract {
			for j, c := range path {
				if c == 0 {
					path = path[:j]
					break
				}
			}
		}
		s := quote(path)
		if abstract {
			s = "@" + quote(path[1:])
		}
		return "{sa_family=AF_UNIX, sun_path=" + s + "}"
	case unix.AF_INET:
		if n < 8 {
			break
		}
		port := uint16(b[2])<<8 | uint16(b[3])
		ip := netip.AddrFrom4([4]byte(b[4:8]))
		return "{sa_family=AF_INET, sin_port=" + strconv.Itoa(int(port)) + ", sin_addr=" + ip.String() + "}"
	case unix.AF_INET6:
		if n < 24 {
			break
		}
		port := uint16(b[2])<<8 | uint16(b[3])
		ip := netip.AddrFrom16([16]byte(b[8:24]))
		return "{sa_family=AF_INET6, sin6_port=" + strconv.Itoa(int(port)) + ", sin6_addr=" + ip.String() + "}"
	}
	return "{sa_family=" + name + ", ...}"
}

// sockaddrIn is a socket address passed in, whose length is argument n.
func sockaddrIn(n int) arg {
	return arg{in: func(c *call, i int) string {
		return formatSockaddr(c.t, c.args[i], uint64(c.args[n]))
	}}
}

// sockaddrOut is a socket address the call fills in, whose length the call
// stores in the socklen_t that argument n points to.
func sockaddrOut(n int) arg {
	return arg{out: func(c *call, i int) string {
		var b [4]byte
		if c.args[i] == 0 || !readStruct(c.t, c.args[n], b[:]) {
			return ptr(c.args[i])
		}
		return formatSockaddr(c.t, c.args[i], uint64(u32(b[:], 0)))
	}}
}

// Polling.

var pollEvents = flagSet{
	{unix.POLLIN, "POLLIN"},
	{unix.POLLPRI, "POLLPRI"},
	{unix.POLLOUT, "POLLOUT"},
	{unix.POLLERR, "POLLERR"},
	{unix.POLLHUP, "POLLHUP"},
	{unix.POLLNVAL, "POLLNVAL"},
	{0x40, "POLLRDNORM"},
	{0x80, "POLLRDBAND"},
	{0x100, "POLLWRNORM"},
	{0x200, "POLLWRBAND"},
	{unix.POLLRDHUP, "POLLRDHUP"},
}

// pollfdArg is an array of struct pollfd whose length is argument n: on
// entry it prints the events asked for, on exit the events returned.
func pollfdArg(n int) arg {
	format := func(c *call, i int, out bool) string {
		count := uint64(c.args[n])
		if c.args[i] == 0 || count > 1<<16 {
			return ptr(c.args[i])
		}
		var parts []string
		var b [8]byte
		for k := uint64(0); k < count; k++ {
			if len(parts) == maxElems {
				parts = append(parts, "...")
				break
			}
			if !readStruct(c.t, c.args[i]+uintptr(8*k), b[:]) {
				return ptr(c.args[i])
			}
			fd := strconv.Itoa(int(int32(u32(b[:], 0))))
			if out {
				rev := uint64(uint16(b[6]) | uint16(b[7])<<8)
				if rev != 0 {
					parts = append(parts, "{fd="+fd+", revents="+pollEvents.format(rev, "0")+"}")
				}
				continue
			}
			ev := uint64(uint16(b[4]) | uint16(b[5])<<8)
			parts = append(parts, "{fd="+fd+", events="+pollEvents.format(ev, "0")+"}")
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return arg{
		in:  func(c *call, i int) string { return format(c, i, false) },
		out: func(c *call, i int) string { return format(c, i, true) },
	}
}

var epollEvents = flagSet{
	{unix.EPOLLIN, "EPOLLIN"},
	{unix.EPOLLPRI, "EPOLLPRI"},
	{unix.EPOLLOUT, "EPOLLOUT"},
	{unix.EPOLLERR, "EPOLLERR"},
	{unix.EPOLLHUP, "EPOLLHUP"},
	{unix.EPOLLRDNORM, "EPOLLRDNORM"},
	{unix.EPOLLRDBAND, "EPOLLRDBAND"},
	{unix.EPOLLWRNORM, "EPOLLWRNORM"},
	{unix.EPOLLWRBAND, "EPOLLWRBAND"},
	{unix.EPOLLMSG, "EPOLLMSG"},
	{unix.EPOLLRDHUP, "EPOLLRDHUP"},
	{unix.EPOLLEXCLUSIVE, "EPOLLEXCLUSIVE"},
	{unix.EPOLLWAKEUP, "EPOLLWAKEUP"},
	{unix.EPOLLONESHOT, "EPOLLONESHOT"},
	{1 << 31, "EPOLLET"},
}

var epollCtlOps = enum{
	unix.EPOLL_CTL_ADD: "EPOLL_CTL_ADD",
	unix.EPOLL_CTL_DEL: "EPOLL_CTL_DEL",
	unix.EPOLL_CTL_MOD: "EPOLL_CTL_MOD",
}

// formatEpollEvent decodes the packed 12-byte x86-64 struct epoll_event.
func formatEpollEvent(b []byte) string {
	return "{events=" + epollEvents.format(uint64(u32(b, 0)), "0") + ", data=" + hex(u64(b, 4)) + "}"
}

var aEpollEventIn = arg{in: structArg(12, formatEpollEvent)}

// aEpollEventsOut is the array epoll_wait fills in, as many as it returns.
var aEpollEventsOut = arg{out: func(c *call, i int) string {
	n := int(c.ret)
	if c.args[i] == 0 || n < 0 || n > 1<<16 {
		return ptr(c.args[i])
	}
	var parts []string
	b := make([]byte, 12)
	for k := 0; k < n; k++ {
		if k == maxElems {
			parts = append(parts, "...")
			break
		}
		if !readStruct(c.t, c.args[i]+uintptr(12*k), b) {
			return ptr(c.args[i])
		}
		parts = append(parts, formatEpollEvent(b))
	}
	return "[" + strings.Join(parts, ", ") + "]"
}}

var epollCreateFlags = flagSet{{unix.EPOLL_CLOEXEC, "EPOLL_CLOEXEC"}}

// fmtOpenHow decodes struct open_how (openat2(2)).
var fmtOpenHow = structArg(24, func(b []byte) string {
	return "{flags=" + formatOpenFlags(u64(b, 0)) + ", mode=" + octal(u64(b, 8)) +
		", resolve=" + resolveFlags.format(u64(b, 16), "0") + "}"
})

var resolveFlags = flagSet{
	{unix.RESOLVE_NO_XDEV, "RESOLVE_NO_XDEV"},
	{unix.RESOLVE_NO_MAGICLINKS, "RESOLVE_NO_MAGICLINKS"},
	{unix.RESOLVE_NO_SYMLINKS, "RESOLVE_NO_SYMLINKS"},
	{unix.RESOLVE_BENEATH, "RESOLVE_BENEATH"},
	{unix.RESOLVE_IN_ROOT, "RESOLVE_IN_ROOT"},
	{0x20, "RESOLVE_CACHED"},
}

var mountFlags = flagSet{
	{unix.MS_RDONLY, "MS_RDONLY"},
	{unix.MS_NOSUID, "MS_NOSUID"},
	{unix.MS_NODEV, "MS_NODEV"},
	{unix.MS_NOEXEC, "MS_NOEXEC"},
	{unix.MS_SYNCHRONOUS, "MS_SYNCHRONOUS"},
	{unix.MS_REMOUNT, "MS_REMOUNT"},
	{unix.MS_MANDLOCK, "MS_MANDLOCK"},
	{unix.MS_DIRSYNC, "MS_DIRSYNC"},
	{unix.MS_NOATIME, "MS_NOATIME"},
	{unix.MS_NODIRATIME, "MS_NODIRATIME"},
	{unix.MS_BIND, "MS_BIND"},
	{unix.MS_MOVE, "MS_MOVE"},
	{unix.MS_REC, "MS_REC"},
	{unix.MS_SILENT, "MS_SILENT"},
	{unix.MS_UNBINDABLE, "MS_UNBINDABLE"},
	{unix.MS_PRIVATE, "MS_PRIVATE"},
	{unix.MS_SLAVE, "MS_SLAVE"},
	{unix.MS_SHARED, "MS_SHARED"},
	{unix.MS_RELATIME, "MS_RELATIME"},
	{unix.MS_STRICTATIME, "MS_STRICTATIME"},
	{unix.MS_LAZYTIME, "MS_LAZYTIME"},
}

var umountFlags = flagSet{
	{unix.MNT_FORCE, "MNT_FORCE"},
	{unix.MNT_DETACH, "MNT_DETACH"},
	{unix.MNT_EXPIRE, "MNT_EXPIRE"},
	{unix.UMOUNT_NOFOLLOW, "UMOUNT_NOFOLLOW"},
}

var closeRangeFlags = flagSet{
	{unix.CLOSE_RANGE_UNSHARE, "CLOSE_RANGE_UNSHARE"},
	{unix.CLOSE_RANGE_CLOEXEC, "CLOSE_RANGE_CLOEXEC"},
}
