package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/test/e2e/runsctest"
)

// The container's mount tree as an OCI bundle describes it: the spec's
// mounts in /proc/self/mountinfo in spec order, linux.maskedPaths,
// linux.readonlyPaths and linux.devices, checked against what runc makes
// on Linux.

// mountinfoEntry is one line of /proc/self/mountinfo.
type mountinfoEntry struct {
	root, point, fstype, source string
}

// script is the argv of a shell running lines.
func script(lines ...string) []string {
	return []string{"/bin/sh", "-c", strings.Join(lines, "\n")}
}

// expectRun runs the bundle as container id and wants its exit status and
// exactly the lines of output (stdout and stderr together).
func (e *ociEnv) expectRun(id string, status int, lines ...string) {
	e.t.Helper()
	want := strings.Join(append(lines, ""), "\n")
	out, code := e.run("run", "--bundle", e.bundle, id)
	if code != status || out != want {
		e.t.Errorf("run: exit %d, output:\n%s\nwant exit %d, output:\n%s", code, out, status, want)
	}
}

func parseMountinfo(t *testing.T, out string) []mountinfoEntry {
	t.Helper()
	var ms []mountinfoEntry
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 6 || len(g) < 2 {
			t.Fatalf("malformed mountinfo line %q in:\n%s", line, out)
		}
		ms = append(ms, mountinfoEntry{root: f[3], point: f[4], fstype: g[0], source: g[1]})
	}
	return ms
}

// TestOCIMountinfoFollowsSpec checks what runtimetest checks: the spec's
// mounts appear in mountinfo in the spec's order with its types and
// sources (the sandbox's own /dev is the spec's tmpfs, not a mount made
// before the others), and a bind mount's root field is its source
// directory, as Linux shows it.
func TestOCIMountinfoFollowsSpec(t *testing.T) {
	e := newOCIEnv(t, "cat", "/proc/self/mountinfo")
	dir := runsctest.SharedDir(t)
	if err := os.MkdirAll(filepath.Join(e.bundle, "rootfs", "mnt", "b"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.editSpec(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt/b", Type: "bind", Source: dir, Options: []string{"rbind", "ro"}})
		s.Linux.MaskedPaths, s.Linux.ReadonlyPaths = nil, nil
	})
	out, code := e.run("run", "--bundle", e.bundle, "mountinfo")
	if code != 0 {
		t.Fatalf("run: exit %d: %s", code, out)
	}
	got := parseMountinfo(t, out)
	// The spec's nosuid, nodev and noexec options show in each mount's
	// options, as under runc (runsc spec's /proc has none).
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		want := map[string]string{"/proc": "rw,relatime", "/dev/pts": "rw,nosuid,noexec,relatime",
			"/dev/shm": "rw,nosuid,nodev,noexec,relatime", "/sys": "ro,nosuid,nodev,noexec,relatime"}[f[4]]
		if want != "" && f[5] != want {
			t.Errorf("%s has mount options %q, want %q", f[4], f[5], want)
		}
	}
	// runsc spec's mounts, but cgroup, which the sandbox does not have
	// (it is logged and skipped).
	want := []mountinfoEntry{
		{"/", "/", "", ""},
		{"/", "/proc", "proc", "proc"},
		{"/", "/dev", "tmpfs", "tmpfs"},
		{"/", "/dev/pts", "devpts", "devpts"},
		{"/", "/dev/shm", "tmpfs", "shm"},
		{"/", "/dev/mqueue", "mqueue", "mqueue"},
		{"/", "/sys", "sysfs", "sysfs"},
		{dir, "/mnt/b", "9p", dir},
	}
	if len(got) != len(want) {
		t.Fatalf("mountinfo has %d mounts, want %d:\n%s", len(got), len(want), out)
	}
	for i, w := range want {
		g := got[i]
		if i == 0 {
			w.fstype, w.source = g.fstype, g.source
		}
		if g != w {
			t.Errorf("mount %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestOCIMaskedAndReadonlyPaths checks linux.maskedPaths (a file reads as
// /dev/null, a directory is an empty read-only tmpfs) and
// linux.readonlyPaths (writes fail with EROFS though the root is
// writable), and that a process without CAP_SYS_ADMIN cannot unmount a
// mask (EPERM), as under runc.
func TestOCIMaskedAndReadonlyPaths(t *testing.T) {
	e := newOCIEnv(t, script(
		"cat /etc/secret; echo file:$?",
		"ls -A /etc/secretdir; echo dir:$?",
		"echo x 2>&1 > /etc/secretdir/new; echo dirwrite:$?",
		"echo x 2>&1 > /data/new; echo rowrite:$?",
		"cat /data/file",
		"echo x > /tmp/new; echo rootwrite:$?",
		"busybox umount /etc/secret 2>&1; echo umount:$?",
		"busybox umount -l /etc/secretdir 2>&1; echo umountdir:$?",
		"cat /etc/secret /etc/secretdir/file 2>&1",
	)...)
	rootfs := filepath.Join(e.bundle, "rootfs")
	for name, data := range map[string]string{
		"etc/secret":         "secret\n",
		"etc/secretdir/file": "also secret\n",
		"data/file":          "data\n",
	} {
		p := filepath.Join(rootfs, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	e.editSpec(func(s *specs.Spec) {
		s.Root.Readonly = false
		s.Linux.MaskedPaths = []string{"/etc/secret", "/etc/secretdir", "/no/such/path"}
		s.Linux.ReadonlyPaths = []string{"/data", "/no/such/dir"}
	})
	e.expectRun("masked", 1,
		"file:0",
		"dir:0",
		"/bin/sh: can't create /etc/secretdir/new: Read-only file system",
		"dirwrite:1",
		"/bin/sh: can't create /data/new: Read-only file system",
		"rowrite:1",
		"data",
		"rootwrite:0",
		"umount: can't unmount /etc/secret: Operation not permitted",
		"umount:1",
		"umount: can't unmount /etc/secretdir: Operation not permitted",
		"umountdir:1",
		"cat: can't open '/etc/secretdir/file': No such file or directory",
	)
}

// TestOCILinuxDevices checks linux.devices: each node exists with its
// type, number, mode and owner, in directories made for it; its mode is
// enforced (the process has no CAP_DAC_OVERRIDE); a node whose number has
// a driver in the Sentry works, also one made with mknod(2), and one with
// no driver fails to open with ENXIO, as a node with no driver does on
// Linux. A device cgroup rule list (linux.resources.devices) changes
// nothing.
func TestOCILinuxDevices(t *testing.T) {
	e := newOCIEnv(t, script(
		"busybox stat -c '%n %F %t:%T %a %u:%g' /dev/fuse /dev/sda /dev/net/tun /dev/fifo /dev/null2",
		"cat /dev/fuse; echo fuse:$?",
		"cat /dev/net/tun; echo tun:$?",
		"echo discarded > /dev/null2; echo null2:$?",
		"busybox mknod /dev/zero2 c 1 5 && busybox head -c 3 /dev/zero2 | busybox od -An -tx1",
		// /dev/shm is nodev: no device node opens there.
		"busybox mknod /dev/shm/zero c 1 5 && busybox head -c 3 /dev/shm/zero",
	)...)
	mode := func(m os.FileMode) *os.FileMode { return &m }
	id := func(n uint32) *uint32 { return &n }
	e.editSpec(func(s *specs.Spec) {
		s.Process.Capabilities.Bounding = append(s.Process.Capabilities.Bounding, "CAP_MKNOD")
		s.Process.Capabilities.Effective = append(s.Process.Capabilities.Effective, "CAP_MKNOD")
		s.Process.Capabilities.Permitted = append(s.Process.Capabilities.Permitted, "CAP_MKNOD")
		s.Linux.Devices = []specs.LinuxDevice{
			{Path: "/dev/fuse", Type: "c", Major: 10, Minor: 229, FileMode: mode(0o660), UID: id(1000), GID: id(100)},
			{Path: "/dev/sda", Type: "b", Major: 8, Minor: 0, FileMode: mode(0o600)},
			{Path: "/dev/net/tun", Type: "c", Major: 10, Minor: 200},
			{Path: "/dev/fifo", Type: "p", FileMode: mode(0o640), GID: id(5)},
			{Path: "/dev/null2", Type: "c", Major: 1, Minor: 3, FileMode: mode(0o666)},
		}
		s.Linux.Resources = &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{
			{Allow: false, Access: "rwm"},
			{Allow: true, Type: "c", Major: ptr(int64(1)), Minor: ptr(int64(3)), Access: "rwm"},
		}}
	})
	e.expectRun("devices", 1,
		"/dev/fuse character special file a:e5 660 1000:100",
		"/dev/sda block special file 8:0 600 0:0",
		"/dev/net/tun character special file a:c8 666 0:0",
		"/dev/fifo fifo 0:0 640 0:5",
		"/dev/null2 character special file 1:3 666 0:0",
		"cat: can't open '/dev/fuse': Permission denied",
		"fuse:1",
		"cat: can't open '/dev/net/tun': No such device or address",
		"tun:1",
		"null2:0",
		" 00 00 00",
		"head: /dev/shm/zero: Permission denied",
	)
}

// TestOCIMqueueMount checks the spec's mqueue mount: the sandbox's POSIX
// message queues as files, which open(2) with O_CREAT makes (with the
// default attributes), read(2) shows the status line of and unlink(2)
// removes, as on Linux.
func TestOCIMqueueMount(t *testing.T) {
	e := newOCIEnv(t, script(
		"echo -n > /dev/mqueue/q && ls /dev/mqueue && busybox stat -c '%n %A %s' /dev/mqueue/q",
		"cat /dev/mqueue/q",
		"busybox rm /dev/mqueue/q && ls -A /dev/mqueue && echo removed",
	)...)
	e.editSpec(func(s *specs.Spec) { s.Process.User.Umask = ptr(uint32(0o022)) })
	e.expectRun("mqueue", 0,
		"q",
		"/dev/mqueue/q -rw-r--r-- 80",
		"QSIZE:0          NOTIFY:0     SIGNO:0     NOTIFY_PID:0     ",
		"removed",
	)
}

// TestOCIConsole checks that with process.terminal /dev/console is the
// container's terminal, as runc makes it: the terminal's slave bound over
// /dev/console, so that what is written there reaches the console socket's
// master.
func TestOCIConsole(t *testing.T) {
	e := newOCIEnv(t, script(
		"busybox stat -c '%n %F %t:%T' /dev/console /dev/pts/0",
		"echo to-console > /dev/console",
	)...)
	e.editSpec(func(s *specs.Spec) { s.Process.Terminal = true })
	sock, masters := consoleSocket(t)
	master := e.createWithConsole("console", sock, masters)
	defer master.Close()
	e.mustRun("start", "console")
	s := newTerminalSession(t, master)
	s.expect("/dev/console character special file 88:0\r\n/dev/pts/0 character special file 88:0\r\nto-console\r\n")
	e.waitStatus("console", specs.StateStopped)
	e.mustRun("delete", "console")
}

// TestOCIBindMountPoints checks that a bind mount's missing mount point is
// made where the file system under it is writable, as runc makes it: a
// directory for Docker's /dev/shm bind and a file for a bound file, both
// listed in the /dev tmpfs.
func TestOCIBindMountPoints(t *testing.T) {
	e := newOCIEnv(t, script("ls /dev | busybox grep -x -e shm -e extra", "cat /dev/extra /dev/shm/f")...)
	dir := runsctest.SharedDir(t)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("in shm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(runsctest.SharedDir(t), "extra")
	if err := os.WriteFile(file, []byte("a file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.editSpec(func(s *specs.Spec) {
		var mounts []specs.Mount
		for _, m := range s.Mounts {
			if m.Destination != "/dev/shm" {
				mounts = append(mounts, m)
			}
		}
		s.Mounts = append(mounts,
			specs.Mount{Destination: "/dev/shm", Type: "bind", Source: dir, Options: []string{"rbind", "nosuid", "noexec", "nodev"}},
			specs.Mount{Destination: "/dev/extra", Type: "bind", Source: file, Options: []string{"rbind", "ro"}},
		)
	})
	e.expectRun("binds", 0, "extra", "shm", "a file", "in shm")
}
