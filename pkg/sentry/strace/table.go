package strace

import (
	"strconv"

	"bufferzone.dev/pkg/abi/sysno"
	"golang.org/x/sys/unix"
)

// retKind says how a successful return value prints.
type retKind uint8

const (
	retInt retKind = iota // signed decimal
	retHex                // an address: mmap, brk
	retOct                // a mode: umask
	// retNone is for calls that do not return (exit): whatever the kernel
	// reports, the application never sees a result, and "?" is printed.
	retNone
)

func (k retKind) format(v uintptr) string {
	switch k {
	case retHex:
		return hex(uint64(v))
	case retOct:
		return octal(uint64(v))
	case retNone:
		return "?"
	}
	return strconv.FormatInt(int64(v), 10)
}

// info is how one system call is printed.
type info struct {
	args []arg
	ret  retKind
	// blocks reports whether a call with these arguments may block for long
	// or never return, and so is logged at entry too. nil means never.
	blocks func(args [6]uintptr) bool
}

// announce reports whether the call is logged at entry.
func (in *info) announce(args [6]uintptr) bool {
	return in.blocks != nil && in.blocks(args)
}

// Blocking predicates.
var (
	always = func([6]uintptr) bool { return true }
	// timeoutArg: blocks unless the int timeout argument i is 0 (poll).
	timeoutArg = func(i int) func([6]uintptr) bool {
		return func(a [6]uintptr) bool { return int32(a[i]) != 0 }
	}
)

// Argument kinds shared by many entries.
var (
	aHex      = arg{in: fmtHex}
	aPtr      = arg{in: fmtPtr}
	aInt      = arg{in: fmtInt}
	aLong     = arg{in: fmtLong}
	aUint     = arg{in: fmtUint}
	aFD       = arg{in: fmtFD}
	aDirFD    = arg{in: fmtDirFD}
	aPath     = arg{in: fmtPath}
	aMode     = arg{in: fmtMode}
	aWhence   = enumArg(whence)
	aSigProc  = enumArg(sigprocmaskHow)
	aSigact   = arg{in: fmtSigaction}
	aSigactO  = arg{out: fmtSigaction}
	aRlimIn   = arg{in: fmtRlimit}
	aRlimOut  = arg{out: fmtRlimit}
	aResource = enumArg(rlimitResources)
	aArgv     = arg{in: fmtStringArray}
	aEnvp     = arg{in: fmtEnvp}
	aTimerFl  = flagArg32(timerFlags, "0")
	aDomain   = enumArg(socketDomains)
	aSocklenP = arg{in: structArg(4, func(b []byte) string { return "[" + strconv.FormatUint(uint64(u32(b, 0)), 10) + "]" })}
)

// table maps system call numbers to how they print; nil entries print six
// hex arguments.
var table [sysno.Count]*info

// unknown prints a system call the table does not describe.
var unknown = &info{args: []arg{aHex, aHex, aHex, aHex, aHex, aHex}}

func lookup(n uintptr) *info {
	if n < uintptr(len(table)) && table[n] != nil {
		return table[n]
	}
	return unknown
}

func def(n int, args ...arg) *info {
	in := &info{args: args}
	table[n] = in
	return in
}

func (in *info) returns(k retKind) *info { in.ret = k; return in }

func (in *info) blocking(f func([6]uintptr) bool) *info { in.blocks = f; return in }

func init() {
	// Files and file descriptors.
	def(sysno.Read, aFD, outBuf, aUint).blocking(always)
	def(sysno.Write, aFD, inBuf(2), aUint)
	def(sysno.Open, aPath, aOpenFlags, aMode)
	def(sysno.Close, aFD)
	def(sysno.Stat, aPath, aPtr)
	def(sysno.Fstat, aFD, aPtr)
	def(sysno.Lstat, aPath, aPtr)
	def(sysno.Lseek, aFD, aLong, aWhence)
	def(sysno.Pread64, aFD, outBuf, aUint, aLong)
	def(sysno.Pwrite64, aFD, inBuf(2), aUint, aLong)
	def(sysno.Readv, aFD, iovecArg(2), aInt).blocking(always)
	def(sysno.Writev, aFD, iovecArg(2), aInt)
	def(sysno.Preadv, aFD, iovecArg(2), aInt, aLong)
	def(sysno.Pwritev, aFD, iovecArg(2), aInt, aLong)
	def(sysno.Preadv2, aFD, iovecArg(2), aInt, aLong, aLong, aHex)
	def(sysno.Pwritev2, aFD, iovecArg(2), aInt, aLong, aLong, aHex)
	def(sysno.Access, aPath, aAccessMode)
	def(sysno.Faccessat, aDirFD, aPath, aAccessMode)
	def(sysno.Faccessat2, aDirFD, aPath, aAccessMode, aFaccessFlags)
	def(sysno.Pipe, aPipeFDs)
	def(sysno.Pipe2, aPipeFDs, aCloexecFlags)
	def(sysno.Dup, aFD)
	def(sysno.Dup2, aFD, aFD)
	def(sysno.Dup3, aFD, aFD, aCloexecFlags)
	def(sysno.Fcntl, aFD, enumArg(fcntlCmds), aFcntlArg).blocking(func(a [6]uintptr) bool {
		return a[1] == unix.F_SETLKW || a[1] == unix.F_OFD_SETLKW
	})
	def(sysno.Ioctl, aFD, aIoctlReq, aPtr)
	def(sysno.Flock, aFD, flagArg32(lockOps, "0")).blocking(func(a [6]uintptr) bool {
		return a[1]&unix.LOCK_NB == 0 && a[1]&unix.LOCK_UN == 0
	})
	def(sysno.Fsync, aFD)
	def(sysno.Fdatasync, aFD)
	def(sysno.Sync)
	def(sysno.Syncfs, aFD)
	def(sysno.Truncate, aPath, aLong)
	def(sysno.Ftruncate, aFD, aLong)
	def(sysno.Getdents, aFD, aPtr, aUint)
	def(sysno.Getdents64, aFD, aPtr, aUint)
	def(sysno.Getcwd, outCString, aUint)
	def(sysno.Chdir, aPath)
	def(sysno.Fchdir, aFD)
	def(sysno.Chroot, aPath)
	def(sysno.Rename, aPath, aPath)
	def(sysno.Renameat, aDirFD, aPath, aDirFD, aPath)
	def(sysno.Renameat2, aDirFD, aPath, aDirFD, aPath, flagArg32(renameFlags, "0"))
	def(sysno.Mkdir, aPath, aMode)
	def(sysno.Mkdirat, aDirFD, aPath, aMode)
	def(sysno.Rmdir, aPath)
	def(sysno.Creat, aPath, aMode)
	def(sysno.Link, aPath, aPath)
	def(sysno.Linkat, aDirFD, aPath, aDirFD, aPath, aAtFlags)
	def(sysno.Unlink, aPath)
	def(sysno.Unlinkat, aDirFD, aPath, aUnlinkatFlags)
	def(sysno.Symlink, aPath, aPath)
	def(sysno.Symlinkat, aPath, aDirFD, aPath)
	def(sysno.Readlink, aPath, outString, aUint)
	def(sysno.Readlinkat, aDirFD, aPath, outString, aUint)
	def(sysno.Chmod, aPath, aMode)
	def(sysno.Fchmod, aFD, aMode)
	def(sysno.Fchmodat, aDirFD, aPath, aMode)
	def(sysno.Fchmodat2, aDirFD, aPath, aMode, aAtFlags)
	def(sysno.Chown, aPath, aInt, aInt)
	def(sysno.Fchown, aFD, aInt, aInt)
	def(sysno.Lchown, aPath, aInt, aInt)
	def(sysno.Fchownat, aDirFD, aPath, aInt, aInt, aAtFlags)
	def(sysno.Umask, aMode).returns(retOct)
	def(sysno.Openat, aDirFD, aPath, aOpenFlags, aMode)
	def(sysno.Openat2, aDirFD, aPath, arg{in: fmtOpenHow}, aUint)
	def(sysno.Newfstatat, aDirFD, aPath, aPtr, aAtFlags)
	def(sysno.Statx, aDirFD, aPath, aAtFlags, aHex, aPtr)
	def(sysno.Statfs, aPath, aPtr)
	def(sysno.Fstatfs, aFD, aPtr)
	def(sysno.Utimensat, aDirFD, aPath, aPtr, aAtFlags)
	def(sysno.Mknod, aPath, aMode, aHex)
	def(sysno.Mknodat, aDirFD, aPath, aMode, aHex)
	def(sysno.Sendfile, aFD, aFD, aPtr, aUint)
	def(sysno.CopyFileRange, aFD, aPtr, aFD, aPtr, aUint, aHex)
	def(sysno.Splice, aFD, aPtr, aFD, aPtr, aUint, aHex)
	def(sysno.Tee, aFD, aFD, aUint, aHex)
	def(sysno.Fadvise64, aFD, aLong, aLong, aInt)
	def(sysno.Fallocate, aFD, aHex, aLong, aLong)
	def(sysno.CloseRange, aFD, aFD, flagArg32(closeRangeFlags, "0"))
	def(sysno.MemfdCreate, aPath, flagArg32(mfdFlags, "0"))
	def(sysno.Eventfd, aUint)
	def(sysno.Eventfd2, aUint, flagArg32(efdFlags, "0"))
	def(sysno.TimerfdCreate, aClock, flagArg32(tfdFlags, "0"))
	def(sysno.TimerfdSettime, aFD, flagArg32(tfdFlags, "0"), aItimerspecIn, aItimerspecOut)
	def(sysno.TimerfdGettime, aFD, aItimerspecOut)
	def(sysno.Signalfd, aFD, aSigsetIn, aUint)
	def(sysno.Signalfd4, aFD, aSigsetIn, aUint, aCloexecFlags)
	def(sysno.InotifyInit)
	def(sysno.InotifyInit1, aCloexecFlags)
	def(sysno.InotifyAddWatch, aFD, aPath, aHex)
	def(sysno.InotifyRmWatch, aFD, aInt)
	def(sysno.Getxattr, aPath, aPath, aPtr, aUint)
	def(sysno.Lgetxattr, aPath, aPath, aPtr, aUint)
	def(sysno.Fgetxattr, aFD, aPath, aPtr, aUint)
	def(sysno.Setxattr, aPath, aPath, aPtr, aUint, aHex)
	def(sysno.Lsetxattr, aPath, aPath, aPtr, aUint, aHex)
	def(sysno.Fsetxattr, aFD, aPath, aPtr, aUint, aHex)
	def(sysno.Listxattr, aPath, aPtr, aUint)
	def(sysno.Flistxattr, aFD, aPtr, aUint)
	def(sysno.Mount, aPath, aPath, aPath, flagArg(mountFlags, "0"), aPtr)
	def(sysno.Umount2, aPath, flagArg32(umountFlags, "0"))
	def(sysno.PivotRoot, aPath, aPath)

	// Memory.
	def(sysno.Mmap, aPtr, aUint, aProt, aMmapFlags, aFD, aHex).returns(retHex)
	def(sysno.Mprotect, aHex, aUint, aProt)
	def(sysno.Munmap, aHex, aUint)
	def(sysno.Brk, aPtr).returns(retHex)
	def(sysno.Mremap, aHex, aUint, aUint, flagArg32(mremapFlags, "0"), aPtr).returns(retHex)
	def(sysno.Msync, aHex, aUint, flagArg32(msyncFlags, "0"))
	def(sysno.Madvise, aHex, aUint, enumArg(madvice))
	def(sysno.Mincore, aHex, aUint, aPtr)
	def(sysno.Mlock, aHex, aUint)
	def(sysno.Munlock, aHex, aUint)
	def(sysno.Mlockall, flagArg32(mlockallFlags, "0"))
	def(sysno.Munlockall)
	def(sysno.Membarrier, aHex, aHex, aInt)
	def(sysno.Shmget, aHex, aUint, aHex)
	def(sysno.Shmat, aInt, aPtr, aHex).returns(retHex)
	def(sysno.Shmdt, aPtr)
	def(sysno.Shmctl, aInt, aInt, aPtr)

	// Processes and threads.
	def(sysno.Clone, aCloneFlags, aPtr, aPtr, aPtr, aPtr)
	def(sysno.Clone3, arg{in: fmtCloneArgs}, aUint)
	def(sysno.Fork)
	def(sysno.Vfork).blocking(always)
	def(sysno.Execve, aPath, aArgv, aEnvp).blocking(always)
	def(sysno.Execveat, aDirFD, aPath, aArgv, aEnvp, aAtFlags).blocking(always)
	def(sysno.Exit, aInt).blocking(always).returns(retNone)
	def(sysno.ExitGroup, aInt).blocking(always).returns(retNone)
	def(sysno.Wait4, aInt, aWaitStatus, aWaitOptions, aPtr).blocking(func(a [6]uintptr) bool {
		return a[2]&unix.WNOHANG == 0
	})
	def(sysno.Waitid, enumArg(idTypes), aInt, aPtr, aWaitOptions, aPtr).blocking(func(a [6]uintptr) bool {
		return a[3]&unix.WNOHANG == 0
	})
	def(sysno.Kill, aInt, aSignal)
	def(sysno.Tkill, aInt, aSignal)
	def(sysno.Tgkill, aInt, aInt, aSignal)
	def(sysno.Getpid)
	def(sysno.Getppid)
	def(sysno.Gettid)
	def(sysno.Getuid)
	def(sysno.Geteuid)
	def(sysno.Getgid)
	def(sysno.Getegid)
	def(sysno.Setuid, aInt)
	def(sysno.Setgid, aInt)
	def(sysno.Setreuid, aInt, aInt)
	def(sysno.Setregid, aInt, aInt)
	def(sysno.Setresuid, aInt, aInt, aInt)
	def(sysno.Setresgid, aInt, aInt, aInt)
	def(sysno.Getresuid, aPtr, aPtr, aPtr)
	def(sysno.Getresgid, aPtr, aPtr, aPtr)
	def(sysno.Getgroups, aInt, aPtr)
	def(sysno.Setgroups, aInt, aPtr)
	def(sysno.Setsid)
	def(sysno.Getsid, aInt)
	def(sysno.Setpgid, aInt, aInt)
	def(sysno.Getpgid, aInt)
	def(sysno.Getpgrp)
	def(sysno.Prctl, enumArg(prctlOptions), aPrctlArg2, aHex, aHex, aHex)
	def(sysno.ArchPrctl, enumArg(archPrctlCodes), aPtr)
	def(sysno.SetTidAddress, aPtr)
	def(sysno.SetRobustList, aPtr, aUint)
	def(sysno.GetRobustList, aInt, aPtr, aPtr)
	def(sysno.Rseq, aPtr, aUint, aHex, aHex)
	def(sysno.Getrlimit, aResource, aRlimOut)
	def(sysno.Setrlimit, aResource, aRlimIn)
	def(sysno.Prlimit64, aInt, aResource, aRlimIn, aRlimOut)
	def(sysno.Getrusage, enumArg(rusageWho), aPtr)
	def(sysno.Uname, arg{out: fmtUtsname})
	def(sysno.Sysinfo, aPtr)
	def(sysno.Times, aPtr)
	def(sysno.SchedYield)
	def(sysno.SchedGetaffinity, aInt, aUint, aPtr)
	def(sysno.SchedSetaffinity, aInt, aUint, aPtr)
	def(sysno.Getpriority, aInt, aInt)
	def(sysno.Setpriority, aInt, aInt, aInt)
	def(sysno.Getcpu, aPtr, aPtr, aPtr)
	def(sysno.Capget, aPtr, aPtr)
	def(sysno.Capset, aPtr, aPtr)
	def(sysno.Unshare, aNSFlags)
	def(sysno.Setns, aFD, aNSFlags)
	def(sysno.Personality, aHex)
	def(sysno.Seccomp, aInt, aHex, aPtr)
	def(sysno.Getrandom, outBuf, aUint, flagArg32(grndFlags, "0"))
	def(sysno.PidfdOpen, aInt, aHex)
	def(sysno.PidfdSendSignal, aFD, aSignal, aPtr, aHex)
	def(sysno.Futex, aPtr, aFutexOp, aUint, aFutexTimeout, aPtr, aHex).blocking(func(a [6]uintptr) bool {
		return futexWaits(a[1])
	})

	// Signals.
	def(sysno.RtSigaction, aSignal, aSigact, aSigactO, aUint)
	def(sysno.RtSigprocmask, aSigProc, aSigsetIn, aSigsetOut, aUint)
	def(sysno.RtSigreturn).blocking(always)
	def(sysno.RtSigpending, aSigsetOut, aUint)
	def(sysno.RtSigtimedwait, aSigsetIn, aPtr, aTimespecIn, aUint).blocking(always)
	def(sysno.RtSigqueueinfo, aInt, aSignal, aPtr)
	def(sysno.RtTgsigqueueinfo, aInt, aInt, aSignal, aPtr)
	def(sysno.RtSigsuspend, aSigsetIn, aUint).blocking(always)
	def(sysno.Sigaltstack, arg{in: fmtStack}, arg{out: fmtStack})
	def(sysno.Pause).blocking(always)
	def(sysno.Alarm, aUint)

	// Time.
	def(sysno.Nanosleep, aTimespecIn, aTimespecOut).blocking(always)
	def(sysno.ClockNanosleep, aClock, aTimerFl, aTimespecIn, aTimespecOut).blocking(always)
	def(sysno.ClockGettime, aClock, aTimespecOut)
	def(sysno.ClockSettime, aClock, aTimespecIn)
	def(sysno.ClockGetres, aClock, aTimespecOut)
	def(sysno.Gettimeofday, aTimevalOut, aPtr)
	def(sysno.Settimeofday, aTimevalIn, aPtr)
	def(sysno.Time, aPtr)
	def(sysno.Getitimer, enumArg(itimerWhich), aItimervalOut)
	def(sysno.Setitimer, enumArg(itimerWhich), aItimervalIn, aItimervalOut)
	def(sysno.TimerCreate, aClock, aPtr, aPtr)
	def(sysno.TimerSettime, aInt, aTimerFl, aItimerspecIn, aItimerspecOut)
	def(sysno.TimerGettime, aInt, aItimerspecOut)
	def(sysno.TimerGetoverrun, aInt)
	def(sysno.TimerDelete, aInt)

	// Sockets.
	def(sysno.Socket, aDomain, aSocketType, aInt)
	def(sysno.Socketpair, aDomain, aSocketType, aInt, aPipeFDs)
	def(sysno.Connect, aFD, sockaddrIn(2), aUint).blocking(always)
	def(sysno.Accept, aFD, sockaddrOut(2), aSocklenP).blocking(always)
	def(sysno.Accept4, aFD, sockaddrOut(2), aSocklenP, flagArg32(sockFlags, "0")).blocking(always)
	def(sysno.Bind, aFD, sockaddrIn(2), aUint)
	def(sysno.Listen, aFD, aInt)
	def(sysno.Sendto, aFD, inBuf(2), aUint, aMsgFlags, sockaddrIn(5), aUint)
	def(sysno.Recvfrom, aFD, outBuf, aUint, aMsgFlags, sockaddrOut(5), aSocklenP).blocking(always)
	def(sysno.Sendmsg, aFD, aPtr, aMsgFlags)
	def(sysno.Recvmsg, aFD, aPtr, aMsgFlags).blocking(always)
	def(sysno.Sendmmsg, aFD, aPtr, aUint, aMsgFlags)
	def(sysno.Recvmmsg, aFD, aPtr, aUint, aMsgFlags, aTimespecIn).blocking(always)
	def(sysno.Shutdown, aFD, enumArg(shutdownHow))
	def(sysno.Getsockname, aFD, sockaddrOut(2), aSocklenP)
	def(sysno.Getpeername, aFD, sockaddrOut(2), aSocklenP)
	def(sysno.Setsockopt, aFD, enumArg(sockoptLevels), aSockoptName, aPtr, aUint)
	def(sysno.Getsockopt, aFD, enumArg(sockoptLevels), aSockoptName, aPtr, aSocklenP)

	// Polling.
	def(sysno.Poll, pollfdArg(1), aUint, aInt).blocking(timeoutArg(2))
	def(sysno.Ppoll, pollfdArg(1), aUint, aTimespecIn, aSigsetIn, aUint).blocking(always)
	def(sysno.Select, aInt, aPtr, aPtr, aPtr, aTimevalIn).blocking(always)
	def(sysno.Pselect6, aInt, aPtr, aPtr, aPtr, aTimespecIn, aPtr).blocking(always)
	def(sysno.EpollCreate, aInt)
	def(sysno.EpollCreate1, flagArg32(epollCreateFlags, "0"))
	def(sysno.EpollCtl, aFD, enumArg(epollCtlOps), aFD, aEpollEventIn)
	def(sysno.EpollWait, aFD, aEpollEventsOut, aInt, aInt).blocking(timeoutArg(3))
	def(sysno.EpollPwait, aFD, aEpollEventsOut, aInt, aInt, aSigsetIn, aUint).blocking(timeoutArg(3))
	def(sysno.EpollPwait2, aFD, aEpollEventsOut, aInt, aTimespecIn, aSigsetIn, aUint).blocking(always)
}
