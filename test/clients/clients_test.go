package clients

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/test/e2e/runsctest"
)

func TestMain(m *testing.M) { runsctest.Main(m) }

// cmdTimeout bounds one engine command (a `podman run`, a `ctr task exec`).
const cmdTimeout = time.Minute

// world is one engine's private corner of the machine: a temporary
// directory holding its configuration, storage, state and sockets, and a
// wrapper around runsc that logs every invocation's argv.
type world struct {
	t *testing.T
	// dir holds everything; no path outside it is written except the
	// few that globalPaths lists.
	dir string
	// runsc is the wrapper script engines are given as their runtime.
	runsc string
	// stateRoot is the runsc --root that the wrapper passes before the
	// engine's own flags (so an engine that names its own --root wins).
	stateRoot string
	argvLog   string
	// strayMountsOK says mounts left under dir are expected (and only
	// unmounted), not a failure.
	strayMountsOK bool
}

// newWorld skips t unless the caller is root and runsc runs programs on
// ptrace, then makes the world's directory and runsc wrapper. At the end of
// t it checks that nothing the engine started is still running and nothing
// is still mounted under the directory (failing t and cleaning up if so),
// and removes the global paths the engine made (see globalPaths).
func newWorld(t *testing.T) *world {
	t.Helper()
	if os.Getuid() != 0 {
		t.Skip("needs root: container engines manage mounts, cgroups and namespaces")
	}
	runsctest.RequirePlatform(t, "ptrace")
	// Not t.TempDir: its name repeats the test's, and engines put
	// 64-hex-digit IDs under it, so a short name keeps socket paths
	// within sockaddr_un's 108 bytes.
	dir, err := os.MkdirTemp("", "bzc")
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, dir: dir, stateRoot: filepath.Join(dir, "runsc"), argvLog: filepath.Join(dir, "runsc-argv.log")}
	made := newGlobalPaths()
	t.Cleanup(func() {
		w.reapLeftovers()
		made.remove(t)
		if err := os.RemoveAll(dir); err != nil {
			t.Errorf("removing %s: %v", dir, err)
		}
	})
	w.runsc = filepath.Join(dir, "runsc-wrapper")
	script := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> %s\nexec %s --root=%s \"$@\"\n",
		w.argvLog, runsctest.Binary(t), w.stateRoot)
	if err := os.WriteFile(w.runsc, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return w
}

// path returns a path under the world's directory.
func (w *world) path(elem ...string) string {
	return filepath.Join(append([]string{w.dir}, elem...)...)
}

// env is the environment of every engine command: a fixed PATH plus kv.
func env(kv ...string) []string {
	return append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, kv...)
}

// daemonEnv is env() with TMPDIR in the world, where the runc shims put
// their console sockets and process files.
func (w *world) daemonEnv() []string {
	tmp := w.path("daemon-tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		w.t.Fatal(err)
	}
	return env("TMPDIR=" + tmp)
}

// run runs argv with environment envv and fails t unless it exits 0. It
// returns stdout.
func (w *world) run(envv []string, argv ...string) string {
	w.t.Helper()
	r := w.try(envv, argv...)
	if r.Status != 0 {
		w.t.Fatalf("%s: %s\nrunsc calls:\n%s", strings.Join(argv, " "), r, w.calls())
	}
	return string(r.Stdout)
}

// try runs argv with environment envv and returns what happened.
func (w *world) try(envv []string, argv ...string) runsctest.Result {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	return runsctest.Run(ctx, runsctest.Command{Argv: argv, Env: envv, Dir: w.dir})
}

// calls returns the runsc invocations logged so far, one per line.
func (w *world) calls() string {
	data, _ := os.ReadFile(w.argvLog)
	return string(data)
}

// commands returns the runsc subcommands logged so far, in order, each
// with the flags that follow it (sorted, without values) and its numeric
// arguments, without the container ID or paths: "create --bundle
// --pid-file", "kill 9".
func (w *world) commands() []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(w.calls()))
	for sc.Scan() {
		out = append(out, subcommand(strings.Fields(sc.Text())))
	}
	return out
}

// runscCommands are runsc's subcommands, to find where the global flags
// end in a logged argv.
var runscCommands = map[string]bool{
	"create": true, "start": true, "run": true, "exec": true, "kill": true, "delete": true, "state": true,
	"list": true, "ps": true, "events": true, "wait": true, "pause": true, "resume": true, "update": true,
	"spec": true, "features": true, "checkpoint": true, "restore": true,
}

// subcommand reduces argv to the subcommand and what follows it: its
// flags (sorted, without values) and then its numbers (signals), dropping
// IDs and paths.
func subcommand(argv []string) string {
	for i, a := range argv {
		if !runscCommands[a] {
			continue
		}
		var flags, numbers []string
		for _, f := range argv[i+1:] {
			if strings.HasPrefix(f, "-") {
				f, _, _ = strings.Cut(f, "=")
				flags = append(flags, f)
			} else if _, err := strconv.Atoi(f); err == nil {
				numbers = append(numbers, f)
			}
		}
		sort.Strings(flags)
		return strings.Join(append(append([]string{a}, flags...), numbers...), " ")
	}
	return strings.Join(argv, " ")
}

// requireCalled fails t unless every command in want appears in the
// world's log of runsc calls (as commands reduces them).
func (w *world) requireCalled(want ...string) {
	w.t.Helper()
	got := map[string]bool{}
	for _, c := range w.commands() {
		got[c] = true
	}
	for _, c := range want {
		if !got[c] {
			w.t.Errorf("runsc was never called as %q; calls:\n%s", c, strings.Join(w.commands(), "\n"))
		}
	}
}

// lookPath finds a client program, skipping t (with the package to
// install) if the machine lacks it. Absolute paths avoid look-alikes
// earlier in PATH.
func lookPath(t *testing.T, path, pkg string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Skipf("%s not installed (apt-get install %s)", path, pkg)
	}
	return path
}

// busyboxApplets are linked in the test image's /bin.
var busyboxApplets = []string{"sh", "echo", "sleep", "cat", "ls", "ps", "id", "hostname", "env", "tty", "stty", "true", "false", "chown"}

// rootfs makes the test image's root file system in the world's
// directory: a static busybox with its applets, and the directories an
// image has. It returns its path.
func (w *world) rootfs() string {
	w.t.Helper()
	bb := runsctest.StaticBusybox(w.t)
	root := w.path("rootfs")
	for _, d := range []string{"bin", "etc", "tmp", "proc", "sys", "dev", "root"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			w.t.Fatal(err)
		}
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		w.t.Fatal(err)
	}
	for _, a := range busyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			w.t.Fatal(err)
		}
	}
	passwd := "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n"
	if err := os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte(passwd), 0o644); err != nil {
		w.t.Fatal(err)
	}
	return root
}

// rootfsTar makes the test image's root file system as a tarball, the
// input of `podman import` and `docker import`.
func (w *world) rootfsTar() string {
	w.t.Helper()
	root := w.rootfs()
	out := w.path("rootfs.tar")
	w.run(env(), "tar", "--numeric-owner", "-C", root, "-cf", out, ".")
	return out
}

// reapLeftovers fails t if any process whose command line names the
// world's directory (an engine daemon, conmon, a shim, a sandbox) outlives
// the test's own clean-up, kills it, and unmounts whatever is still
// mounted under the directory.
func (w *world) reapLeftovers() {
	t := w.t
	procs := processesNaming(w.dir)
	// Processes on their way out get a moment to finish.
	var alive []int
	for _, pid := range procs {
		if !waitExit(pid, 5*time.Second) {
			alive = append(alive, pid)
		}
	}
	for _, pid := range alive {
		cmd, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		t.Errorf("process %d outlived the test: %s", pid, bytes.ReplaceAll(cmd, []byte{0}, []byte{' '}))
		unix.Kill(pid, unix.SIGKILL)
		waitExit(pid, 5*time.Second)
	}
	mounts := mountsUnder(w.dir)
	for i := len(mounts) - 1; i >= 0; i-- {
		if w.strayMountsOK {
			t.Logf("unmounting %s", mounts[i])
		} else {
			t.Errorf("%s is still mounted after the test", mounts[i])
		}
		if err := unix.Unmount(mounts[i], unix.MNT_DETACH); err != nil {
			t.Errorf("unmounting %s: %v", mounts[i], err)
		}
	}
}

// processesNaming lists the processes (other than this one) with s in
// their command line.
func processesNaming(s string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && bytes.Contains(cmd, []byte(s)) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitExit waits up to d for process pid to exit (whoever its parent is)
// and reports whether it did.
func waitExit(pid int, d time.Duration) bool {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return errors.Is(err, unix.ESRCH)
	}
	defer unix.Close(fd)
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
	for deadline := time.Now().Add(d); ; {
		left := time.Until(deadline)
		if left <= 0 {
			return false
		}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if err == unix.EINTR {
			continue
		}
		return err == nil && n > 0
	}
}

// mountsUnder lists the mount points under dir, in mount order.
func mountsUnder(dir string) []string {
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && strings.HasPrefix(f[4], dir+"/") {
			out = append(out, f[4])
		}
	}
	return out
}

// globalPaths are the paths outside a world's directory that the engines
// write whatever their configuration says: Podman's blob-info cache,
// containerd's directory for shim sockets and ctr's FIFOs, dockerd's
// plugin directory. Those that did not exist before a test are removed
// after it.
var globalPaths = []string{"/var/lib/containers", "/run/containerd", "/run/docker"}

type madePaths []string

// newGlobalPaths records which of globalPaths do not exist yet.
func newGlobalPaths() madePaths {
	var m madePaths
	for _, p := range globalPaths {
		if _, err := os.Lstat(p); errors.Is(err, os.ErrNotExist) {
			m = append(m, p)
		}
	}
	return m
}

// remove removes the paths that appeared during the test.
func (m madePaths) remove(t *testing.T) {
	for _, p := range m {
		if err := os.RemoveAll(p); err != nil {
			t.Errorf("removing %s: %v", p, err)
		}
	}
}

// daemon is an engine's long-running process (containerd, dockerd).
type daemon struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd.Wait's result, once done is closed
}

// startDaemon starts argv with environment envv in the world's directory
// and waits until it writes a line containing ready to its stderr or
// stdout (logged to the world's directory as log). At the end of the test
// the daemon gets SIGTERM, and SIGKILL if it has not exited 30 seconds
// later; clean-ups registered after startDaemon run before that.
func (w *world) startDaemon(envv []string, log, ready string, argv ...string) *daemon {
	w.t.Helper()
	r, wr, err := os.Pipe()
	if err != nil {
		w.t.Fatal(err)
	}
	logf, err := os.Create(w.path(log))
	if err != nil {
		w.t.Fatal(err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env, cmd.Dir = envv, w.dir
	cmd.Stdout, cmd.Stderr = wr, wr
	// Its own process group, so that a ^C of the test does not reach it
	// before the clean-up does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		r.Close()
		wr.Close()
		logf.Close()
		w.t.Fatalf("starting %s: %v", argv[0], err)
	}
	wr.Close()
	d := &daemon{cmd: cmd, done: make(chan struct{})}
	go func() {
		d.err = cmd.Wait()
		close(d.done)
	}()
	isReady := make(chan struct{})
	go func() {
		defer r.Close()
		defer logf.Close()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		seen := false
		for sc.Scan() {
			fmt.Fprintln(logf, sc.Text())
			if !seen && strings.Contains(sc.Text(), ready) {
				seen = true
				close(isReady)
			}
		}
	}()
	w.t.Cleanup(func() { d.stop(w.t, argv[0]) })
	select {
	case <-isReady:
	case <-d.done:
		w.t.Fatalf("%s exited while starting: %v\n%s", argv[0], d.err, w.logTail(log))
	case <-time.After(cmdTimeout):
		w.t.Fatalf("%s did not say %q within %v\n%s", argv[0], ready, cmdTimeout, w.logTail(log))
	}
	return d
}

// stop ends the daemon: SIGTERM, then SIGKILL if it is still there after
// 30 seconds.
func (d *daemon) stop(t *testing.T, name string) {
	d.cmd.Process.Signal(unix.SIGTERM)
	select {
	case <-d.done:
		return
	case <-time.After(30 * time.Second):
	}
	t.Errorf("%s did not exit within 30 s of SIGTERM; killing it", name)
	d.cmd.Process.Kill()
	<-d.done
}

// logTail returns the end of a log file in the world's directory.
func (w *world) logTail(name string) string {
	data, _ := os.ReadFile(w.path(name))
	const max = 3000
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}
