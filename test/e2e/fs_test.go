package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/test/e2e/runsctest"
)

// File system behaviour that needs host files: MAP_SHARED mappings of
// Gofer files against read(2) and write(2) (the page cache), and a Gofer
// that dies under a running program.

func TestMmapSharedVolume(t *testing.T) {
	prog := staticCProgram(t, "mmapshared", "mmapshared.c")
	native := t.TempDir()
	want, err := exec.Command(prog, native, native).CombinedOutput()
	if err != nil {
		t.Fatalf("native run: %v\n%s", err, want)
	}
	if strings.Contains(string(want), "FAIL") {
		t.Fatalf("native run fails its own checks (Linux is the oracle):\n%s", want)
	}
	dir := runsctest.SharedDir(t)
	// Two mounts of one directory: the second reaches the host file
	// around the first's page cache, so the checks see what the host has.
	vols := []string{"--volume", dir + ":/mnt/a", "--volume", dir + ":/mnt/b"}
	r := doVolume(t, vols, prog, "/mnt/a", "/mnt/b")
	if r.Status != 0 || string(r.Stdout) != string(want) {
		t.Errorf("in the sandbox: %s\nwant stdout:\n%s", r, want)
	}
	if _, err := os.Stat(filepath.Join(dir, "mapped")); !os.IsNotExist(err) {
		t.Errorf("the program's file is left on the host: %v", err)
	}
}

// TestGoferDeathIsEIO kills the Gofer of a volume while a program in the
// sandbox reads a file of it in a loop, asking the Gofer something each
// time: the program must get EIO and the sandbox exit normally, neither
// hanging nor panicking.
func TestGoferDeathIsEIO(t *testing.T) {
	prog := staticCProgram(t, "goferloop", "goferloop.c")
	runsc := runsctest.RequireDo(t)
	dir := runsctest.SharedDir(t)
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx(t), runsc, "do", "--volume", dir+":/mnt/x", prog, "/mnt/x/f")
	cmd.Env = baseEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "looping" {
		cmd.Wait()
		t.Fatalf("the program did not start its loop: %q, stderr:\n%s", lines.Text(), stderr.String())
	}
	gofers := childrenWith(t, cmd.Process.Pid, " gofer ")
	if len(gofers) == 0 {
		t.Fatal("no gofer process under runsc do")
	}
	for _, pid := range gofers {
		// One Gofer serves the root and the volume.
		syscall.Kill(pid, syscall.SIGKILL)
	}
	var rest []string
	for lines.Scan() {
		rest = append(rest, lines.Text())
	}
	err = cmd.Wait()
	// Reads of a file open before the Gofer died use the host descriptor
	// it donated and may go on working; the next request that needs the
	// Gofer (open of a file not open yet, the lookup) fails.
	if got := strings.Join(rest, "\n"); got != "open: Input/output error" && got != "stat: Input/output error" {
		t.Errorf("after the Gofer died the program printed %q, want EIO from open or stat", got)
	}
	if err != nil {
		t.Errorf("runsc do: %v (the program exits 0 after printing); stderr:\n%s", err, stderr.String())
	}
	if strings.Contains(stderr.String(), "panic") {
		t.Errorf("the Sentry panicked:\n%s", stderr.String())
	}
}

// childrenWith returns the PIDs of the children of ppid whose command line
// contains substr.
func childrenWith(t *testing.T, ppid int, substr string) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		// The fields after the command name (which may hold spaces).
		f := strings.Fields(string(stat[strings.LastIndexByte(string(stat), ')')+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(ppid) {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(strings.ReplaceAll(string(cmdline), "\x00", " "), substr) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// TestXattrs sets and reads extended attributes in the sandbox: on a
// volume they are the host file's own; on the root file system (memory
// overlay) a change copies the file up with its attributes and leaves the
// host file alone.
func TestXattrs(t *testing.T) {
	prog := staticCProgram(t, "xattrs", "xattrs.c")
	vol, rootfs := runsctest.SharedDir(t), runsctest.SharedDir(t)
	vf, rf := filepath.Join(vol, "f"), filepath.Join(rootfs, "f")
	for _, f := range []string{vf, rf} {
		if err := os.WriteFile(f, []byte("data"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(f, "user.host", []byte("from the host"), 0); err != nil {
			t.Skipf("the host file system has no user.* attributes: %v", err)
		}
	}
	r := doVolume(t, []string{"--volume", vol + ":/mnt/vol"}, prog, "/mnt/vol/f", rf)
	want := `volume: user.host=from the host
volume: user.sandbox=set inside
volume: list: user.sandbox
rootfs: user.host=from the host
rootfs: user.host=from the host
rootfs: user.sandbox=copied up
rootfs: list: user.host user.sandbox
`
	if r.Status != 0 || string(r.Stdout) != want {
		t.Errorf("in the sandbox: %s\nwant stdout:\n%s", r, want)
	}
	buf := make([]byte, 64)
	if n, err := unix.Getxattr(vf, "user.sandbox", buf); err != nil || string(buf[:n]) != "set inside" {
		t.Errorf("the volume's host file has user.sandbox = %q, %v", buf[:n], err)
	}
	if _, err := unix.Getxattr(vf, "user.host", buf); err != unix.ENODATA {
		t.Errorf("the volume's host file kept user.host: %v", err)
	}
	if _, err := unix.Getxattr(rf, "user.sandbox", buf); err != unix.ENODATA {
		t.Errorf("the overlay changed the host's root file system: %v", err)
	}
}

// TestWriteUpdatesCachedTimes checks that stat(2) by path of a file the
// sandbox wrote shows the write, though the path's attributes are cached.
func TestWriteUpdatesCachedTimes(t *testing.T) {
	vol := runsctest.SharedDir(t)
	f := filepath.Join(vol, "f")
	if err := os.WriteFile(f, []byte("a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	if err := os.Chtimes(f, old, old); err != nil {
		t.Fatal(err)
	}
	r := doVolume(t, []string{"--volume", vol + ":/mnt/v"}, "/bin/sh", "-c",
		"stat -c %Y /mnt/v/f; echo b >> /mnt/v/f; stat -c '%Y %s' /mnt/v/f")
	lines := strings.Fields(string(r.Stdout))
	if r.Status != 0 || len(lines) != 3 {
		t.Fatalf("in the sandbox: %s", r)
	}
	before, _ := strconv.ParseInt(lines[0], 10, 64)
	after, _ := strconv.ParseInt(lines[1], 10, 64)
	if before != old.Unix() || after <= old.Unix() || lines[2] != "4" {
		t.Errorf("mtime %d before the write, %d and size %s after; want %d, later, and 4", before, after, lines[2], old.Unix())
	}
}
