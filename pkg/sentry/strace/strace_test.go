package strace

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"strings"
	"testing"
	"time"

	"bufferzone.dev/pkg/abi/sysno"
	"golang.org/x/sys/unix"
)

// fakeTask is a task with one small region of memory at base.
type fakeTask struct {
	tid int32
	mem []byte
	// partialLong makes CopyInString return the first maxLen bytes of a
	// string too long for it, with its error; otherwise it returns none.
	partialLong bool
}

const base = 0x10000

func newFakeTask() *fakeTask { return &fakeTask{tid: 12, mem: make([]byte, 4096)} }

func (t *fakeTask) TID() int32 { return t.tid }

func (t *fakeTask) CopyIn(addr uintptr, dst []byte) (int, error) {
	if addr < base || addr-base >= uintptr(len(t.mem)) {
		return 0, unix.EFAULT
	}
	n := copy(dst, t.mem[addr-base:])
	if n < len(dst) {
		return n, unix.EFAULT
	}
	return n, nil
}

func (t *fakeTask) CopyInString(addr uintptr, maxLen int) (string, error) {
	if addr < base || addr-base >= uintptr(len(t.mem)) {
		return "", unix.EFAULT
	}
	b := t.mem[addr-base:]
	for i := 0; i < len(b); i++ {
		if i == maxLen {
			if t.partialLong {
				return string(b[:i]), unix.ENAMETOOLONG
			}
			return "", unix.ENAMETOOLONG
		}
		if b[i] == 0 {
			return string(b[:i]), nil
		}
	}
	return string(b), unix.EFAULT
}

// put stores b at addr.
func (t *fakeTask) put(addr uintptr, b []byte) uintptr {
	copy(t.mem[addr-base:], b)
	return addr
}

func (t *fakeTask) putString(addr uintptr, s string) uintptr {
	return t.put(addr, append([]byte(s), 0))
}

func (t *fakeTask) put64(addr uintptr, vs ...uint64) uintptr {
	for i, v := range vs {
		binary.LittleEndian.PutUint64(t.mem[addr-base+uintptr(8*i):], v)
	}
	return addr
}

// fakeClock advances 12.3µs each time it is read.
func fakeClock() func() time.Time {
	now := time.Unix(1000, 0)
	return func() time.Time {
		now = now.Add(12300 * time.Nanosecond)
		return now
	}
}

func newTestTracer(t *testing.T, only ...string) (*Tracer, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	tr, err := New(&buf, only)
	if err != nil {
		t.Fatal(err)
	}
	tr.now = fakeClock()
	return tr, &buf
}

func TestFormat(t *testing.T) {
	const (
		p1 = base + 0x100
		p2 = base + 0x200
		p3 = base + 0x300
		p4 = base + 0x400
		p5 = base + 0x500
	)
	bad := uintptr(0xdead0000)
	for _, tc := range []struct {
		name  string
		setup func(m *fakeTask)
		sysno uintptr
		args  [6]uintptr
		ret   uintptr
		err   error
		want  string
	}{
		{
			name:  "openat",
			setup: func(m *fakeTask) { m.putString(p1, "/etc/passwd") },
			sysno: sysno.Openat,
			args:  [6]uintptr{uintptr(0xffffff9c), p1, unix.O_RDONLY | unix.O_CLOEXEC},
			ret:   3,
			want:  `[  12] openat(AT_FDCWD, "/etc/passwd", O_RDONLY|O_CLOEXEC, 0) = 3 (12.3µs)`,
		},
		{
			name:  "openat ENOENT",
			setup: func(m *fakeTask) { m.putString(p1, "/nope") },
			sysno: sysno.Openat,
			args:  [6]uintptr{5, p1, unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC, 0o644},
			err:   unix.ENOENT,
			want:  `[  12] openat(5, "/nope", O_WRONLY|O_CREAT|O_TRUNC, 0644) = -1 ENOENT (No such file or directory) (12.3µs)`,
		},
		{
			name:  "bad path pointer",
			sysno: sysno.Open,
			args:  [6]uintptr{bad, unix.O_RDWR | unix.O_TMPFILE},
			err:   unix.EFAULT,
			want:  `[  12] open(0xdead0000, O_RDWR|O_TMPFILE, 0) = -1 EFAULT (Bad address) (12.3µs)`,
		},
		{
			name:  "long path",
			setup: func(m *fakeTask) { m.putString(p1, strings.Repeat("a", 100)) },
			sysno: sysno.Chdir,
			args:  [6]uintptr{p1},
			want:  `[  12] chdir("` + strings.Repeat("a", 64) + `"...) = 0 (12.3µs)`,
		},
		{
			name: "long path, partial CopyInString",
			setup: func(m *fakeTask) {
				m.partialLong = true
				m.putString(p1, strings.Repeat("b", 65))
			},
			sysno: sysno.Chdir,
			args:  [6]uintptr{p1},
			want:  `[  12] chdir("` + strings.Repeat("b", 64) + `"...) = 0 (12.3µs)`,
		},
		{
			name:  "path of 64 bytes",
			setup: func(m *fakeTask) { m.putString(p1, strings.Repeat("c", 64)) },
			sysno: sysno.Chdir,
			args:  [6]uintptr{p1},
			want:  `[  12] chdir("` + strings.Repeat("c", 64) + `") = 0 (12.3µs)`,
		},
		{
			name:  "path running off memory",
			setup: func(m *fakeTask) { m.put(base+4096-10, []byte(strings.Repeat("d", 10))) },
			sysno: sysno.Chdir,
			args:  [6]uintptr{base + 4096 - 10},
			err:   unix.EFAULT,
			want:  `[  12] chdir(0x10ff6) = -1 EFAULT (Bad address) (12.3µs)`,
		},
		{
			name:  "write escapes",
			setup: func(m *fakeTask) { m.put(p1, []byte("a\"\\\n\x00\xff")) },
			sysno: sysno.Write,
			args:  [6]uintptr{1, p1, 6},
			ret:   6,
			want:  `[  12] write(1, "a\"\\\n\x00\xff", 6) = 6 (12.3µs)`,
		},
		{
			name:  "write long buffer",
			setup: func(m *fakeTask) { m.put(p1, []byte(strings.Repeat("x", 40))) },
			sysno: sysno.Write,
			args:  [6]uintptr{2, p1, 40},
			ret:   40,
			want:  `[  12] write(2, "` + strings.Repeat("x", 32) + `"..., 40) = 40 (12.3µs)`,
		},
		{
			name:  "write bad buffer",
			sysno: sysno.Write,
			args:  [6]uintptr{1, bad, 10},
			err:   unix.EFAULT,
			want:  `[  12] write(1, 0xdead0000, 10) = -1 EFAULT (Bad address) (12.3µs)`,
		},
		{
			name:  "read blocks",
			setup: func(m *fakeTask) { m.put(p1, []byte("data")) },
			sysno: sysno.Read,
			args:  [6]uintptr{3, p1, 100},
			ret:   4,
			want: "[  12] read(3, 0x10100, 100) ...\n" +
				`[  12] ... read resumed> (3, "data", 100) = 4 (12.3µs)`,
		},
		{
			name:  "read fails",
			sysno: sysno.Read,
			args:  [6]uintptr{3, p1, 100},
			err:   unix.EAGAIN,
			want: "[  12] read(3, 0x10100, 100) ...\n" +
				`[  12] ... read resumed> = -1 EAGAIN (Resource temporarily unavailable) (12.3µs)`,
		},
		{
			name:  "mmap",
			sysno: sysno.Mmap,
			args:  [6]uintptr{0, 4096, unix.PROT_READ | unix.PROT_WRITE, unix.MAP_PRIVATE | unix.MAP_ANONYMOUS, ^uintptr(0), 0},
			ret:   0x7f0000000000,
			want:  `[  12] mmap(NULL, 4096, PROT_READ|PROT_WRITE, MAP_PRIVATE|MAP_ANONYMOUS, -1, 0x0) = 0x7f0000000000 (12.3µs)`,
		},
		{
			name:  "mprotect none",
			sysno: sysno.Mprotect,
			args:  [6]uintptr{0x7f0000000000, 8192, 0},
			want:  `[  12] mprotect(0x7f0000000000, 8192, PROT_NONE) = 0 (12.3µs)`,
		},
		{
			name: "rt_sigaction",
			setup: func(m *fakeTask) {
				m.put64(p1, 0x401000, 0x04000000|0x10000000, 0x402000, 1<<(unix.SIGTERM-1))
				m.put64(p2, 0, 0, 0, 0)
			},
			sysno: sysno.RtSigaction,
			args:  [6]uintptr{uintptr(unix.SIGINT), p1, p2, 8},
			want:  `[  12] rt_sigaction(SIGINT, {sa_handler=0x401000, sa_mask=[TERM], sa_flags=SA_RESTORER|SA_RESTART, sa_restorer=0x402000}, {sa_handler=SIG_DFL, sa_mask=[], sa_flags=0}, 8) = 0 (12.3µs)`,
		},
		{
			name:  "rt_sigprocmask",
			setup: func(m *fakeTask) { m.put64(p1, ^uint64(0)&^(1<<(unix.SIGKILL-1))) },
			sysno: sysno.RtSigprocmask,
			args:  [6]uintptr{unix.SIG_SETMASK, p1, 0, 8},
			want:  `[  12] rt_sigprocmask(SIG_SETMASK, ~[KILL], NULL, 8) = 0 (12.3µs)`,
		},
		{
			name:  "clock_gettime",
			setup: func(m *fakeTask) { m.put64(p1, 5, 100) },
			sysno: sysno.ClockGettime,
			args:  [6]uintptr{unix.CLOCK_MONOTONIC, p1},
			want:  `[  12] clock_gettime(CLOCK_MONOTONIC, {tv_sec=5, tv_nsec=100}) = 0 (12.3µs)`,
		},
		{
			name:  "clock_gettime fails",
			sysno: sysno.ClockGettime,
			args:  [6]uintptr{99, bad},
			err:   unix.EINVAL,
			want:  `[  12] clock_gettime(99, 0xdead0000) = -1 EINVAL (Invalid argument) (12.3µs)`,
		},
		{
			name:  "nanosleep",
			setup: func(m *fakeTask) { m.put64(p1, 1, 500000000) },
			sysno: sysno.Nanosleep,
			args:  [6]uintptr{p1, 0},
			want: "[  12] nanosleep({tv_sec=1, tv_nsec=500000000}, NULL) ...\n" +
				"[  12] ... nanosleep resumed> (" + "{tv_sec=1, tv_nsec=500000000}, NULL) = 0 (12.3µs)",
		},
		{
			name:  "futex wake",
			sysno: sysno.Futex,
			args:  [6]uintptr{p1, 1 | 128, 1},
			ret:   1,
			want:  `[  12] futex(0x10100, FUTEX_WAKE_PRIVATE, 1, 0, NULL, 0x0) = 1 (12.3µs)`,
		},
		{
			name:  "futex wait",
			sysno: sysno.Futex,
			args:  [6]uintptr{p1, 9 | 128 | 256, 2, 0, 0, 0xffffffff},
			err:   unix.EAGAIN,
			want: "[  12] futex(0x10100, FUTEX_WAIT_BITSET_PRIVATE|FUTEX_CLOCK_REALTIME, 2, NULL, NULL, 0xffffffff) ...\n" +
				"[  12] ... futex resumed> = -1 EAGAIN (Resource temporarily unavailable) (12.3µs)",
		},
		{
			name:  "fcntl getfl",
			sysno: sysno.Fcntl,
			args:  [6]uintptr{3, unix.F_GETFL},
			ret:   0x8002,
			want:  `[  12] fcntl(3, F_GETFL) = 32770 (12.3µs)`,
		},
		{
			name:  "fcntl setfd",
			sysno: sysno.Fcntl,
			args:  [6]uintptr{3, unix.F_SETFD, unix.FD_CLOEXEC},
			want:  `[  12] fcntl(3, F_SETFD, FD_CLOEXEC) = 0 (12.3µs)`,
		},
		{
			name:  "ioctl",
			sysno: sysno.Ioctl,
			args:  [6]uintptr{1, unix.TCGETS, p1},
			err:   unix.ENOTTY,
			want:  `[  12] ioctl(1, TCGETS, 0x10100) = -1 ENOTTY (Inappropriate ioctl for device) (12.3µs)`,
		},
		{
			name:  "ioctl unknown",
			sysno: sysno.Ioctl,
			args:  [6]uintptr{1, 0xc0de, 0},
			want:  `[  12] ioctl(1, 0xc0de, NULL) = 0 (12.3µs)`,
		},
		{
			name:  "access",
			setup: func(m *fakeTask) { m.putString(p1, "/bin/sh") },
			sysno: sysno.Faccessat2,
			args:  [6]uintptr{uintptr(0xffffff9c), p1, unix.R_OK | unix.X_OK, unix.AT_EACCESS | unix.AT_SYMLINK_NOFOLLOW},
			want:  `[  12] faccessat2(AT_FDCWD, "/bin/sh", R_OK|X_OK, AT_EACCESS|AT_SYMLINK_NOFOLLOW) = 0 (12.3µs)`,
		},
		{
			name:  "unlinkat",
			setup: func(m *fakeTask) { m.putString(p1, "d") },
			sysno: sysno.Unlinkat,
			args:  [6]uintptr{4, p1, unix.AT_REMOVEDIR},
			want:  `[  12] unlinkat(4, "d", AT_REMOVEDIR) = 0 (12.3µs)`,
		},
		{
			name:  "wait4",
			setup: func(m *fakeTask) { m.put(p1, []byte{0, 3, 0, 0}) },
			sysno: sysno.Wait4,
			args:  [6]uintptr{^uintptr(0), p1, 0, 0},
			ret:   42,
			want: "[  12] wait4(-1, 0x10100, 0, NULL) ...\n" +
				"[  12] ... wait4 resumed> (-1, [{WIFEXITED(s) && WEXITSTATUS(s) == 3}], 0, NULL) = 42 (12.3µs)",
		},
		{
			name:  "wait4 nohang",
			sysno: sysno.Wait4,
			args:  [6]uintptr{^uintptr(0), 0, unix.WNOHANG, 0},
			want:  `[  12] wait4(-1, NULL, WNOHANG, NULL) = 0 (12.3µs)`,
		},
		{
			name:  "clone",
			sysno: sysno.Clone,
			args:  [6]uintptr{unix.CLONE_VM | unix.CLONE_FS | unix.CLONE_THREAD | unix.CLONE_SETTLS | uintptr(unix.SIGCHLD), 0x7000, 0, 0, 0x8000},
			ret:   13,
			want:  `[  12] clone(CLONE_VM|CLONE_FS|CLONE_THREAD|CLONE_SETTLS|SIGCHLD, 0x7000, NULL, NULL, 0x8000) = 13 (12.3µs)`,
		},
		{
			name: "execve",
			setup: func(m *fakeTask) {
				m.putString(p1, "/bin/sh")
				m.putString(p1+0x10, "sh")
				m.putString(p1+0x20, "-c")
				m.put64(p2, p1+0x10, p1+0x20, 0)
				m.put64(p3, p1, p1, p1, 0)
			},
			sysno: sysno.Execve,
			args:  [6]uintptr{p1, p2, p3},
			want: "[  12] execve(\"/bin/sh\", [\"sh\", \"-c\"], 0x10300 /* 3 vars */) ...\n" +
				"[  12] ... execve resumed> = 0 (12.3µs)",
		},
		{
			name:  "connect",
			setup: func(m *fakeTask) { m.put(p1, []byte{2, 0, 0, 80, 127, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0}) },
			sysno: sysno.Connect,
			args:  [6]uintptr{3, p1, 16},
			err:   unix.ECONNREFUSED,
			want: "[  12] connect(3, {sa_family=AF_INET, sin_port=80, sin_addr=127.0.0.1}, 16) ...\n" +
				"[  12] ... connect resumed> = -1 ECONNREFUSED (Connection refused) (12.3µs)",
		},
		{
			name:  "bind unix",
			setup: func(m *fakeTask) { m.put(p1, append([]byte{1, 0}, "/tmp/sock\x00"...)) },
			sysno: sysno.Bind,
			args:  [6]uintptr{3, p1, 12},
			want:  `[  12] bind(3, {sa_family=AF_UNIX, sun_path="/tmp/sock"}, 12) = 0 (12.3µs)`,
		},
		{
			name:  "socket",
			sysno: sysno.Socket,
			args:  [6]uintptr{unix.AF_INET6, unix.SOCK_STREAM | unix.SOCK_CLOEXEC, 0},
			ret:   4,
			want:  `[  12] socket(AF_INET6, SOCK_STREAM|SOCK_CLOEXEC, 0) = 4 (12.3µs)`,
		},
		{
			name:  "pipe2",
			setup: func(m *fakeTask) { m.put(p1, []byte{3, 0, 0, 0, 4, 0, 0, 0}) },
			sysno: sysno.Pipe2,
			args:  [6]uintptr{p1, unix.O_CLOEXEC},
			want:  `[  12] pipe2([3, 4], O_CLOEXEC) = 0 (12.3µs)`,
		},
		{
			name:  "poll",
			setup: func(m *fakeTask) { m.put(p1, []byte{3, 0, 0, 0, 1, 0, 1, 0, 4, 0, 0, 0, 4, 0, 0, 0}) },
			sysno: sysno.Poll,
			args:  [6]uintptr{p1, 2, ^uintptr(0)},
			ret:   1,
			want: "[  12] poll([{fd=3, events=POLLIN}, {fd=4, events=POLLOUT}], 2, -1) ...\n" +
				"[  12] ... poll resumed> ([{fd=3, revents=POLLIN}], 2, -1) = 1 (12.3µs)",
		},
		{
			name:  "epoll_ctl",
			setup: func(m *fakeTask) { m.put(p1, []byte{1, 0, 0, 0x80, 7, 0, 0, 0, 0, 0, 0, 0}) },
			sysno: sysno.EpollCtl,
			args:  [6]uintptr{5, unix.EPOLL_CTL_ADD, 7, p1},
			want:  `[  12] epoll_ctl(5, EPOLL_CTL_ADD, 7, {events=EPOLLIN|EPOLLET, data=0x7}) = 0 (12.3µs)`,
		},
		{
			name:  "prctl set name",
			setup: func(m *fakeTask) { m.putString(p1, "worker") },
			sysno: sysno.Prctl,
			args:  [6]uintptr{unix.PR_SET_NAME, p1},
			want:  `[  12] prctl(PR_SET_NAME, "worker", 0x0, 0x0, 0x0) = 0 (12.3µs)`,
		},
		{
			name:  "arch_prctl",
			sysno: sysno.ArchPrctl,
			args:  [6]uintptr{0x1002, 0x7f00deadbeef},
			want:  `[  12] arch_prctl(ARCH_SET_FS, 0x7f00deadbeef) = 0 (12.3µs)`,
		},
		{
			name:  "lseek",
			sysno: sysno.Lseek,
			args:  [6]uintptr{3, ^uintptr(9), unix.SEEK_END},
			ret:   90,
			want:  `[  12] lseek(3, -10, SEEK_END) = 90 (12.3µs)`,
		},
		{
			name:  "umask",
			sysno: sysno.Umask,
			args:  [6]uintptr{0o077},
			ret:   0o022,
			want:  `[  12] umask(077) = 022 (12.3µs)`,
		},
		{
			name:  "kill",
			sysno: sysno.Kill,
			args:  [6]uintptr{7, 34},
			want:  `[  12] kill(7, SIGRTMIN+2) = 0 (12.3µs)`,
		},
		{
			name:  "prlimit64",
			setup: func(m *fakeTask) { m.put64(p1, 1024, ^uint64(0)) },
			sysno: sysno.Prlimit64,
			args:  [6]uintptr{0, unix.RLIMIT_NOFILE, 0, p1},
			want:  `[  12] prlimit64(0, RLIMIT_NOFILE, NULL, {rlim_cur=1024, rlim_max=RLIM64_INFINITY}) = 0 (12.3µs)`,
		},
		{
			name:  "readlink",
			setup: func(m *fakeTask) { m.putString(p1, "/proc/self/exe"); m.put(p2, []byte("/bin/busyboxGARBAGE")) },
			sysno: sysno.Readlink,
			args:  [6]uintptr{p1, p2, 4096},
			ret:   12,
			want:  `[  12] readlink("/proc/self/exe", "/bin/busybox", 4096) = 12 (12.3µs)`,
		},
		{
			name:  "writev",
			setup: func(m *fakeTask) { m.put64(p1, p4, 5, p5, 1) },
			sysno: sysno.Writev,
			args:  [6]uintptr{1, p1, 2},
			ret:   6,
			want:  `[  12] writev(1, [{iov_base=0x10400, iov_len=5}, {iov_base=0x10500, iov_len=1}], 2) = 6 (12.3µs)`,
		},
		{
			name:  "getpid",
			sysno: sysno.Getpid,
			ret:   1,
			want:  `[  12] getpid() = 1 (12.3µs)`,
		},
		{
			name:  "unknown",
			sysno: 335,
			args:  [6]uintptr{1, 2, 3, 4, 5, 6},
			err:   unix.ENOSYS,
			want:  `[  12] syscall_335(0x1, 0x2, 0x3, 0x4, 0x5, 0x6) = -1 ENOSYS (Function not implemented) (12.3µs)`,
		},
		{
			name:  "other error",
			sysno: sysno.Close,
			args:  [6]uintptr{3},
			err:   errors.New("boom"),
			want:  `[  12] close(3) = -1 (boom) (12.3µs)`,
		},
		{
			name:  "restart",
			sysno: sysno.Pause,
			err:   unix.Errno(512),
			want: "[  12] pause() ...\n" +
				"[  12] ... pause resumed> = ? ERESTARTSYS (To be restarted if SA_RESTART is set) (12.3µs)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newFakeTask()
			if tc.setup != nil {
				tc.setup(m)
			}
			tr, buf := newTestTracer(t)
			st := tr.Enter(m, tc.sysno, tc.args)
			tr.Exit(m, tc.sysno, tc.args, tc.ret, tc.err, st)
			if got := strings.TrimSuffix(buf.String(), "\n"); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestNoReturn(t *testing.T) {
	tr, buf := newTestTracer(t)
	tr.Enter(newFakeTask(), sysno.ExitGroup, [6]uintptr{2})
	if got, want := buf.String(), "[  12] exit_group(2) ...\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExitGroupExits(t *testing.T) {
	tr, buf := newTestTracer(t)
	m := newFakeTask()
	st := tr.Enter(m, sysno.ExitGroup, [6]uintptr{1})
	tr.Exit(m, sysno.ExitGroup, [6]uintptr{1}, 0, errors.New("task exiting"), st)
	want := "[  12] exit_group(1) ...\n[  12] ... exit_group resumed> = ? (12.3µs)\n"
	if got := buf.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestExitWithoutEnter(t *testing.T) {
	tr, buf := newTestTracer(t)
	tr.Exit(newFakeTask(), sysno.Close, [6]uintptr{4}, 0, nil, nil)
	if got, want := buf.String(), "[  12] close(4) = 0\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestParseFilter(t *testing.T) {
	f, err := ParseFilter([]string{"open, read", "exit_group", "syscall_400"})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[uintptr]bool{
		sysno.Open: true, sysno.Read: true, sysno.ExitGroup: true, 400: true,
		sysno.Write: false, sysno.Openat: false, 100000: false,
	} {
		if got := f.Has(n); got != want {
			t.Errorf("Has(%d) = %v, want %v", n, got, want)
		}
	}

	for _, names := range [][]string{nil, {}, {""}, {" , "}} {
		f, err := ParseFilter(names)
		if err != nil || f != nil || !f.Has(sysno.Write) || !f.Has(100000) {
			t.Errorf("ParseFilter(%q) = %v, %v; want all", names, f, err)
		}
	}

	for _, bad := range []string{"opne", "syscall_x", "read,bogus_call"} {
		_, err := New(&bytes.Buffer{}, []string{bad})
		if err == nil {
			t.Errorf("New(%q) succeeded", bad)
			continue
		}
		name := bad[strings.LastIndex(bad, ",")+1:]
		if !strings.Contains(err.Error(), name) {
			t.Errorf("New(%q) error %q does not name %q", bad, err, name)
		}
	}
}

func TestFiltered(t *testing.T) {
	tr, buf := newTestTracer(t, "openat")
	m := newFakeTask()
	if st := tr.Enter(m, sysno.Read, [6]uintptr{0, base, 1}); st != nil {
		t.Errorf("Enter(read) = %v, want nil", st)
	}
	tr.Exit(m, sysno.Read, [6]uintptr{0, base, 1}, 1, nil, nil)
	if buf.Len() != 0 {
		t.Errorf("untraced call logged: %q", buf.String())
	}
	if !tr.Traced(sysno.Openat) || tr.Traced(sysno.Read) {
		t.Error("Traced disagrees with the filter")
	}
	var nilTracer *Tracer
	if nilTracer.Traced(sysno.Read) || nilTracer.Enter(m, sysno.Read, [6]uintptr{}) != nil {
		t.Error("nil Tracer traces")
	}
}

// TestNoPanic decodes every system call with arguments that point at
// garbage, nowhere, or the edge of memory.
func TestNoPanic(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	m := newFakeTask()
	rng.Read(m.mem)
	// Some pointers in memory to valid addresses, for argv-like arrays.
	for i := 0; i < len(m.mem)/2; i += 64 {
		m.put64(base+uintptr(i), uint64(base+rng.Intn(len(m.mem))))
	}
	tr, buf := newTestTracer(t)
	values := []uintptr{0, 1, 2, 0x7fffffff, ^uintptr(0), base, base + 4090, base + 4095, base + 4096, 0xdead0000}
	for n := uintptr(0); n < sysno.Count+2; n++ {
		for k := 0; k < 50; k++ {
			var args [6]uintptr
			for i := range args {
				if rng.Intn(2) == 0 {
					args[i] = values[rng.Intn(len(values))]
				} else {
					args[i] = base + uintptr(rng.Intn(len(m.mem)))
				}
			}
			var err error
			if k%3 == 0 {
				err = unix.EINVAL
			}
			st := tr.Enter(m, n, args)
			tr.Exit(m, n, args, args[rng.Intn(6)], err, st)
		}
	}
	if s := buf.String(); strings.Contains(s, "strace:") {
		i := strings.Index(s, "strace:")
		t.Errorf("a decoder panicked: %s", s[max(0, i-200):min(len(s), i+200)])
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		850:                     "850ns",
		12345:                   "12.3µs",
		4567 * time.Microsecond: "4.57ms",
		1234 * time.Millisecond: "1.234s",
		-time.Second:            "0s",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func BenchmarkUntraced(b *testing.B) {
	tr, _ := New(&bytes.Buffer{}, []string{"openat"})
	m := newFakeTask()
	args := [6]uintptr{0, base, 1}
	for i := 0; i < b.N; i++ {
		st := tr.Enter(m, sysno.Read, args)
		tr.Exit(m, sysno.Read, args, 1, nil, st)
	}
}

func BenchmarkTracedOpenat(b *testing.B) {
	tr, _ := New(io.Discard, nil)
	m := newFakeTask()
	m.putString(base, "/etc/passwd")
	args := [6]uintptr{uintptr(0xffffff9c), base, unix.O_RDONLY | unix.O_CLOEXEC}
	for i := 0; i < b.N; i++ {
		st := tr.Enter(m, sysno.Openat, args)
		tr.Exit(m, sysno.Openat, args, 3, nil, st)
	}
}
