package seccomp

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/bpf"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the filters")

func TestProgramDecisions(t *testing.T) {
	f := Filter{}
	f.Allow(unix.SYS_READ)
	f.AllowIf(unix.SYS_SOCKET, Rule{{Index: 0, Value: unix.AF_UNIX}})
	f.AllowIf(unix.SYS_MMAP, Rule{{Index: 3, Mask: unix.MAP_SHARED, Value: unix.MAP_SHARED}}, Rule{{Index: 2, Value: 1 << 40}})
	prog, err := f.Program(RetErrno | 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want uint32
	}{
		{"allowed", Data(unix.SYS_READ), RetAllow},
		{"not-listed", Data(unix.SYS_OPENAT), RetErrno | 1},
		{"arg-match", Data(unix.SYS_SOCKET, unix.AF_UNIX), RetAllow},
		{"arg-mismatch", Data(unix.SYS_SOCKET, unix.AF_INET), RetErrno | 1},
		{"arg-high-bits", Data(unix.SYS_SOCKET, 1<<32|unix.AF_UNIX), RetErrno | 1},
		{"mask", Data(unix.SYS_MMAP, 0, 0, 0, unix.MAP_SHARED|unix.MAP_FIXED), RetAllow},
		{"second-rule", Data(unix.SYS_MMAP, 0, 0, 1<<40, unix.MAP_PRIVATE), RetAllow},
		{"no-rule", Data(unix.SYS_MMAP, 0, 0, 1, unix.MAP_PRIVATE), RetErrno | 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := bpf.Exec(prog, tc.data)
			if err != nil || got != tc.want {
				t.Errorf("decision %#x, %v; want %#x", got, err, tc.want)
			}
		})
	}
	other := Data(unix.SYS_READ)
	other[4] = 0 // another architecture
	if got, _ := bpf.Exec(prog, other); got != RetKillProcess {
		t.Errorf("foreign architecture: %#x, want kill", got)
	}
}

// TestSentryFilter checks the Sentry's filters on key calls and that every
// listed call is allowed, against the interpreter.
func TestSentryFilter(t *testing.T) {
	const goThread = unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_FILES | unix.CLONE_SIGHAND | unix.CLONE_SYSVSEM | unix.CLONE_THREAD
	common := []struct {
		name string
		data []byte
		want uint32
	}{
		{"openat", Data(unix.SYS_OPENAT), RetKillProcess},
		{"open", Data(unix.SYS_OPEN), RetKillProcess},
		{"execve", Data(unix.SYS_EXECVE), RetKillProcess},
		{"inet-socket", Data(unix.SYS_SOCKET, unix.AF_INET), RetKillProcess},
		{"netlink-socket", Data(unix.SYS_SOCKET, unix.AF_NETLINK), RetKillProcess},
		{"unix-socket", Data(unix.SYS_SOCKET, unix.AF_UNIX), RetAllow},
		{"go-thread", Data(unix.SYS_CLONE, goThread), RetAllow},
		{"go-thread-tls", Data(unix.SYS_CLONE, goThread|unix.CLONE_SETTLS), RetAllow},
		{"clone-newuser", Data(unix.SYS_CLONE, unix.CLONE_NEWUSER), RetKillProcess},
		{"clone-thread-newns", Data(unix.SYS_CLONE, goThread|unix.CLONE_NEWNS), RetKillProcess},
		{"mmap-anon", Data(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS), RetAllow},
		{"mmap-anon-rx", Data(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS), RetAllow},
		{"mmap-anon-wx", Data(unix.SYS_MMAP, 0, 4096, unix.PROT_WRITE|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS), RetKillProcess},
		{"mmap-droppable", Data(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, mapDroppable|unix.MAP_ANONYMOUS), RetAllow},
		{"mmap-hugetlb", Data(unix.SYS_MMAP, 0, 4096, 3, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_HUGETLB), RetKillProcess},
		{"mmap-private-file", Data(unix.SYS_MMAP, 0, 4096, 1, unix.MAP_PRIVATE, 3), RetKillProcess},
		{"mmap-shared-fixed-rwx", Data(unix.SYS_MMAP, 0, 4096, 7, unix.MAP_SHARED|unix.MAP_FIXED, 3), RetAllow},
		{"mprotect-rx", Data(unix.SYS_MPROTECT, 0, 4096, unix.PROT_READ|unix.PROT_EXEC), RetAllow},
		{"mprotect-wx", Data(unix.SYS_MPROTECT, 0, 4096, unix.PROT_WRITE|unix.PROT_EXEC), RetKillProcess},
		{"ioctl-tcgets", Data(unix.SYS_IOCTL, 0, unix.TCGETS), RetAllow},
		{"ioctl-tiocsti", Data(unix.SYS_IOCTL, 0, unix.TIOCSTI), RetKillProcess},
		{"newfstatat-fd", Data(unix.SYS_NEWFSTATAT, 3, 0, 0, unix.AT_EMPTY_PATH), RetAllow},
		{"newfstatat-path", Data(unix.SYS_NEWFSTATAT, 3, 0, 0, 0), RetKillProcess},
		{"fstatfs", Data(unix.SYS_FSTATFS, 3), RetAllow},
		{"statfs-path", Data(unix.SYS_STATFS), RetKillProcess},
		{"statx-path", Data(unix.SYS_STATX, 3, 0, 0), RetKillProcess},
		{"futex-private", Data(unix.SYS_FUTEX, 0, futexWaitPrivate), RetAllow},
		{"fcntl-setlk", Data(unix.SYS_FCNTL, 3, unix.F_SETLK), RetKillProcess},
		{"mount", Data(unix.SYS_MOUNT), RetKillProcess},
		{"setns", Data(unix.SYS_SETNS), RetKillProcess},
		{"unshare", Data(unix.SYS_UNSHARE), RetKillProcess},
		{"chroot", Data(unix.SYS_CHROOT), RetKillProcess},
	}
	perPlatform := map[string][]struct {
		name string
		data []byte
		want uint32
	}{
		PlatformPtrace: {
			{"ptrace", Data(unix.SYS_PTRACE), RetAllow},
			{"fork", Data(unix.SYS_CLONE, uint64(unix.SIGCHLD)), RetAllow},
			{"stub-thread", Data(unix.SYS_CLONE, goThread|unix.CLONE_UNTRACED), RetAllow},
			{"prctl-pdeathsig", Data(unix.SYS_PRCTL, unix.PR_SET_PDEATHSIG), RetAllow},
			{"prctl-dumpable", Data(unix.SYS_PRCTL, unix.PR_SET_DUMPABLE), RetKillProcess},
			{"futex-shared", Data(unix.SYS_FUTEX, 0, futexWait), RetKillProcess},
			{"mmap-host-file", Data(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_FIXED, 3), RetKillProcess},
		},
		PlatformSystrap: {
			{"futex-shared", Data(unix.SYS_FUTEX, 0, futexWait), RetAllow},
			{"ptrace-stub-thread", Data(unix.SYS_CLONE, goThread|unix.CLONE_UNTRACED), RetKillProcess},
			{"stub-thread", Data(unix.SYS_CLONE, goThread&^unix.CLONE_FILES|unix.CLONE_PARENT_SETTID|unix.CLONE_CHILD_SETTID|unix.CLONE_CHILD_CLEARTID), RetAllow},
			{"stub-thread-sharing-files", Data(unix.SYS_CLONE, goThread|unix.CLONE_CHILD_SETTID|unix.CLONE_CHILD_CLEARTID), RetKillProcess},
			{"seccomp-filter", Data(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER), RetAllow},
			{"seccomp-strict", Data(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_STRICT), RetKillProcess},
			{"ptrace", Data(unix.SYS_PTRACE), RetKillProcess},
			// MapHostFile: private, fixed, never writable.
			{"mmap-host-file", Data(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_EXEC, unix.MAP_PRIVATE|unix.MAP_FIXED, 3), RetAllow},
			{"mmap-host-file-writable", Data(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_FIXED, 3), RetKillProcess},
			{"mmap-host-file-not-fixed", Data(unix.SYS_MMAP, 0, 4096, unix.PROT_READ, unix.MAP_PRIVATE, 3), RetKillProcess},
		},
	}
	for _, platform := range []string{PlatformPtrace, PlatformSystrap} {
		t.Run(platform, func(t *testing.T) {
			f := SentryFilter(platform)
			prog, err := f.Program(RetKillProcess)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range append(common, perPlatform[platform]...) {
				if got, err := bpf.Exec(prog, tc.data); err != nil || got != tc.want {
					t.Errorf("%s: decision %#x, %v; want %#x", tc.name, got, err, tc.want)
				}
			}
			for s, rules := range f {
				if rules != nil {
					continue
				}
				if got, _ := bpf.Exec(prog, Data(s)); got != RetAllow {
					t.Errorf("syscall %d listed but not allowed", s)
				}
			}
		})
	}
}

// TestGoferFilter checks the Gofer's filters on key calls.
func TestGoferFilter(t *testing.T) {
	for _, tc := range []struct {
		name     string
		readOnly bool
		data     []byte
		want     uint32
	}{
		{"openat-path", true, Data(unix.SYS_OPENAT, 3, 0, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC), RetAllow},
		{"openat-rdonly", true, Data(unix.SYS_OPENAT, 3, 0, unix.O_RDONLY|unix.O_CLOEXEC), RetAllow},
		{"openat-write-ro", true, Data(unix.SYS_OPENAT, 3, 0, unix.O_WRONLY), RetKillProcess},
		{"openat-creat-ro", true, Data(unix.SYS_OPENAT, 3, 0, unix.O_CREAT), RetKillProcess},
		{"openat-write", false, Data(unix.SYS_OPENAT, 3, 0, unix.O_RDWR|unix.O_CREAT), RetAllow},
		{"mkdirat-ro", true, Data(unix.SYS_MKDIRAT), RetKillProcess},
		{"mkdirat", false, Data(unix.SYS_MKDIRAT), RetAllow},
		{"socket", false, Data(unix.SYS_SOCKET, unix.AF_UNIX), RetKillProcess},
		{"execve", false, Data(unix.SYS_EXECVE), RetKillProcess},
		{"ptrace", false, Data(unix.SYS_PTRACE), RetKillProcess},
		{"mount", false, Data(unix.SYS_MOUNT), RetKillProcess},
		{"chroot", false, Data(unix.SYS_CHROOT), RetKillProcess},
		{"ioctl", false, Data(unix.SYS_IOCTL, 0, unix.TCGETS), RetKillProcess},
		{"sendmsg", true, Data(unix.SYS_SENDMSG), RetAllow},
	} {
		prog, err := GoferFilter(tc.readOnly).Program(RetKillProcess)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := bpf.Exec(prog, tc.data); err != nil || got != tc.want {
			t.Errorf("%s: decision %#x, %v; want %#x", tc.name, got, err, tc.want)
		}
	}
}

// TestGolden fails when a process's list of allowed host system calls
// changes: review the change, then run `go test ./pkg/seccomp -update`.
func TestGolden(t *testing.T) {
	for name, f := range map[string]Filter{
		"sentry-ptrace":  SentryFilter(PlatformPtrace),
		"sentry-systrap": SentryFilter(PlatformSystrap),
		"gofer":          GoferFilter(false),
		"gofer-ro":       GoferFilter(true),
	} {
		got := describe(f)
		path := "testdata/" + name + ".golden"
		if *update {
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if got != string(want) {
			t.Errorf("%s's allowed host system calls changed; review, then go test ./pkg/seccomp -update\n--- got\n%s--- want\n%s", name, got, want)
		}
	}
}

// describe lists a filter's calls by name, one a line, with their rules.
func describe(f Filter) string {
	var lines []string
	for s, rules := range f {
		name := sysName(s)
		if rules == nil {
			lines = append(lines, name)
			continue
		}
		for _, r := range rules {
			var conds []string
			for _, a := range r {
				if a.Mask != 0 {
					conds = append(conds, fmt.Sprintf("arg%d&%#x==%#x", a.Index, a.Mask, a.Value))
				} else {
					conds = append(conds, fmt.Sprintf("arg%d==%#x", a.Index, a.Value))
				}
			}
			lines = append(lines, name+" "+strings.Join(conds, " && "))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

var sysNames = map[uintptr]string{}

func sysName(s uintptr) string {
	if n, ok := sysNames[s]; ok {
		return n
	}
	return fmt.Sprintf("syscall_%d", s)
}

func init() {
	for n, s := range map[string]uintptr{
		"read": unix.SYS_READ, "write": unix.SYS_WRITE, "close": unix.SYS_CLOSE, "fstat": unix.SYS_FSTAT,
		"poll": unix.SYS_POLL, "lseek": unix.SYS_LSEEK, "mmap": unix.SYS_MMAP, "mprotect": unix.SYS_MPROTECT,
		"munmap": unix.SYS_MUNMAP, "rt_sigaction": unix.SYS_RT_SIGACTION, "rt_sigprocmask": unix.SYS_RT_SIGPROCMASK,
		"rt_sigreturn": unix.SYS_RT_SIGRETURN, "ioctl": unix.SYS_IOCTL, "pread64": unix.SYS_PREAD64,
		"pwrite64": unix.SYS_PWRITE64, "readv": unix.SYS_READV, "writev": unix.SYS_WRITEV,
		"sched_yield": unix.SYS_SCHED_YIELD, "mincore": unix.SYS_MINCORE, "madvise": unix.SYS_MADVISE,
		"dup": unix.SYS_DUP, "pause": unix.SYS_PAUSE, "nanosleep": unix.SYS_NANOSLEEP, "setitimer": unix.SYS_SETITIMER,
		"getpid": unix.SYS_GETPID, "socket": unix.SYS_SOCKET, "accept4": unix.SYS_ACCEPT4,
		"sendmsg": unix.SYS_SENDMSG, "recvmsg": unix.SYS_RECVMSG, "shutdown": unix.SYS_SHUTDOWN,
		"getsockname": unix.SYS_GETSOCKNAME, "getpeername": unix.SYS_GETPEERNAME, "socketpair": unix.SYS_SOCKETPAIR,
		"getsockopt": unix.SYS_GETSOCKOPT, "clone": unix.SYS_CLONE, "exit": unix.SYS_EXIT, "wait4": unix.SYS_WAIT4,
		"kill": unix.SYS_KILL, "uname": unix.SYS_UNAME, "fcntl": unix.SYS_FCNTL, "fsync": unix.SYS_FSYNC,
		"ftruncate": unix.SYS_FTRUNCATE, "getppid": unix.SYS_GETPPID, "sigaltstack": unix.SYS_SIGALTSTACK,
		"arch_prctl": unix.SYS_ARCH_PRCTL, "prctl": unix.SYS_PRCTL, "gettid": unix.SYS_GETTID, "futex": unix.SYS_FUTEX,
		"sched_setaffinity": unix.SYS_SCHED_SETAFFINITY, "sched_getaffinity": unix.SYS_SCHED_GETAFFINITY,
		"getdents64": unix.SYS_GETDENTS64, "timer_create": unix.SYS_TIMER_CREATE, "timer_settime": unix.SYS_TIMER_SETTIME,
		"timer_delete": unix.SYS_TIMER_DELETE, "clock_gettime": unix.SYS_CLOCK_GETTIME,
		"clock_nanosleep": unix.SYS_CLOCK_NANOSLEEP, "exit_group": unix.SYS_EXIT_GROUP, "tgkill": unix.SYS_TGKILL,
		"waitid": unix.SYS_WAITID, "ppoll": unix.SYS_PPOLL, "epoll_pwait": unix.SYS_EPOLL_PWAIT,
		"epoll_ctl": unix.SYS_EPOLL_CTL, "fallocate": unix.SYS_FALLOCATE, "eventfd2": unix.SYS_EVENTFD2,
		"epoll_create1": unix.SYS_EPOLL_CREATE1, "dup3": unix.SYS_DUP3, "pipe2": unix.SYS_PIPE2,
		"preadv": unix.SYS_PREADV, "pwritev": unix.SYS_PWRITEV, "prlimit64": unix.SYS_PRLIMIT64,
		"getcpu": unix.SYS_GETCPU, "memfd_create": unix.SYS_MEMFD_CREATE, "getrandom": unix.SYS_GETRANDOM,
		"rseq": unix.SYS_RSEQ, "epoll_wait": unix.SYS_EPOLL_WAIT, "getrlimit": unix.SYS_GETRLIMIT,
		"sysinfo": unix.SYS_SYSINFO, "restart_syscall": unix.SYS_RESTART_SYSCALL, "getuid": unix.SYS_GETUID,
		"geteuid": unix.SYS_GETEUID, "getgid": unix.SYS_GETGID, "getegid": unix.SYS_GETEGID, "fstatfs": unix.SYS_FSTATFS, "readlinkat": unix.SYS_READLINKAT,
		"openat": unix.SYS_OPENAT, "mkdirat": unix.SYS_MKDIRAT, "symlinkat": unix.SYS_SYMLINKAT,
		"mknodat": unix.SYS_MKNODAT, "linkat": unix.SYS_LINKAT, "renameat": unix.SYS_RENAMEAT,
		"renameat2": unix.SYS_RENAMEAT2, "unlinkat": unix.SYS_UNLINKAT, "fchownat": unix.SYS_FCHOWNAT,
		"fchmod": unix.SYS_FCHMOD, "utimensat": unix.SYS_UTIMENSAT, "statx": unix.SYS_STATX, "fdatasync": unix.SYS_FDATASYNC, "close_range": unix.SYS_CLOSE_RANGE, "newfstatat": unix.SYS_NEWFSTATAT, "ptrace": unix.SYS_PTRACE, "seccomp": unix.SYS_SECCOMP,
	} {
		sysNames[s] = n
	}
}

// allowsRef is the filter's meaning, straight from the map: the decision
// every compiled program must reach.
func allowsRef(f Filter, nr uintptr, args [6]uint64) bool {
	rules, ok := f[nr]
	if !ok {
		return false
	}
	if rules == nil {
		return true
	}
	for _, r := range rules {
		match := true
		for _, a := range r {
			mask := a.Mask
			if mask == 0 {
				mask = ^uint64(0)
			}
			if args[a.Index]&mask != a.Value&mask {
				match = false
			}
		}
		if match {
			return true
		}
	}
	return false
}

// TestProgramSearch: the binary search reaches the map's decision for every
// number up to 1023 (and its x32 twin, bit 30 set), with zero arguments and
// with the arguments of each rule, in every filter runsc installs.
func TestProgramSearch(t *testing.T) {
	filters := map[string]Filter{
		"sentry-ptrace":  SentryFilter(PlatformPtrace),
		"sentry-systrap": SentryFilter(PlatformSystrap),
		"gofer":          GoferFilter(false),
		"gofer-ro":       GoferFilter(true),
		"empty":          {},
		"one":            {unix.SYS_READ: nil},
	}
	for name, f := range filters {
		t.Run(name, func(t *testing.T) {
			prog, err := f.Program(RetErrno | 1)
			if err != nil {
				t.Fatal(err)
			}
			check := func(nr uintptr, args [6]uint64) {
				got, err := bpf.Exec(prog, Data(nr, args[:]...))
				want := uint32(RetErrno | 1)
				if allowsRef(f, nr, args) {
					want = RetAllow
				}
				if err != nil || got != want {
					t.Errorf("call %d args %#x: %#x, %v; want %#x", nr, args, got, err, want)
				}
			}
			for nr := uintptr(0); nr < 1024; nr++ {
				check(nr, [6]uint64{})
				check(nr|0x40000000, [6]uint64{})
				for _, r := range f[nr] {
					var args [6]uint64
					for _, a := range r {
						args[a.Index] = a.Value
					}
					check(nr, args)
				}
			}
		})
	}
}
