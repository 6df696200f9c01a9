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

// TestSentryFilter checks the Sentry's filter on key calls and that every
// listed call is allowed, against the interpreter.
func TestSentryFilter(t *testing.T) {
	f := SentryFilter()
	prog, err := f.Program(RetKillProcess)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want uint32
	}{
		{"openat", Data(unix.SYS_OPENAT), RetKillProcess},
		{"execve", Data(unix.SYS_EXECVE), RetKillProcess},
		{"inet-socket", Data(unix.SYS_SOCKET, unix.AF_INET), RetKillProcess},
		{"unix-socket", Data(unix.SYS_SOCKET, unix.AF_UNIX), RetAllow},
		{"go-thread", Data(unix.SYS_CLONE, unix.CLONE_VM|unix.CLONE_FS|unix.CLONE_FILES|unix.CLONE_SIGHAND|unix.CLONE_SYSVSEM|unix.CLONE_THREAD), RetAllow},
		{"fork", Data(unix.SYS_CLONE, uint64(unix.SIGCHLD)), RetAllow},
		{"clone-newuser", Data(unix.SYS_CLONE, unix.CLONE_NEWUSER), RetKillProcess},
		{"mmap-anon", Data(unix.SYS_MMAP, 0, 4096, 3, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS), RetAllow},
		{"mmap-hugetlb", Data(unix.SYS_MMAP, 0, 4096, 3, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_HUGETLB), RetKillProcess},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, err := bpf.Exec(prog, tc.data); err != nil || got != tc.want {
				t.Errorf("decision %#x, %v; want %#x", got, err, tc.want)
			}
		})
	}
	for s, rules := range f {
		if rules != nil {
			continue
		}
		if got, _ := bpf.Exec(prog, Data(s)); got != RetAllow {
			t.Errorf("syscall %d listed but not allowed", s)
		}
	}
}

// TestGolden fails when a process's list of allowed host system calls
// changes: review the change, then run `go test ./pkg/seccomp -update`.
func TestGolden(t *testing.T) {
	for name, f := range map[string]Filter{"sentry": SentryFilter()} {
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
		"rseq": unix.SYS_RSEQ, "close_range": unix.SYS_CLOSE_RANGE, "newfstatat": unix.SYS_NEWFSTATAT, "ptrace": unix.SYS_PTRACE,
	} {
		sysNames[s] = n
	}
}
