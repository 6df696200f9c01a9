package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/test/e2e/runsctest"
)

// The OCI lifecycle over a busybox bundle: runsc create/start/state/kill/
// delete/run/exec/list/ps/wait as container engines call them.

// ociEnv is one test's runsc binary, --root and bundle.
type ociEnv struct {
	t      *testing.T
	runsc  string
	root   string
	bundle string
}

// newOCIEnv builds a bundle whose rootfs is busybox with its applets
// linked, and whose config.json comes from `runsc spec`, running argv with
// no terminal.
func newOCIEnv(t *testing.T, argv ...string) *ociEnv {
	t.Helper()
	runsctest.RequireDo(t)
	bb, err := exec.LookPath("busybox")
	if err != nil {
		t.Skip("busybox not installed")
	}
	dir, err := os.MkdirTemp("", "oci")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	e := &ociEnv{t: t, runsc: runsctest.Binary(t), root: filepath.Join(dir, "root"), bundle: filepath.Join(dir, "bundle")}
	bin := filepath.Join(e.bundle, "rootfs", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"tmp", "dev", "proc"} {
		os.MkdirAll(filepath.Join(e.bundle, "rootfs", d), 0o755)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, a := range []string{"sh", "echo", "sleep", "true", "false", "cat", "ls", "kill", "trap"} {
		if err := os.Symlink("busybox", filepath.Join(bin, a)); err != nil {
			t.Fatal(err)
		}
	}
	e.mustRun(append([]string{"spec", "--bundle", e.bundle, "--"}, argv...)...)
	e.editSpec(func(s *specs.Spec) { s.Process.Terminal = false })
	t.Cleanup(func() {
		// Leave nothing running, whatever the test did.
		out, _ := e.run("list", "-q")
		for _, id := range strings.Fields(out) {
			e.run("delete", "--force", id)
		}
	})
	return e
}

func (e *ociEnv) editSpec(f func(*specs.Spec)) {
	e.t.Helper()
	p := filepath.Join(e.bundle, "config.json")
	data, err := os.ReadFile(p)
	if err != nil {
		e.t.Fatal(err)
	}
	var s specs.Spec
	if err := json.Unmarshal(data, &s); err != nil {
		e.t.Fatal(err)
	}
	f(&s)
	if data, err = json.Marshal(&s); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		e.t.Fatal(err)
	}
}

// cmd returns runsc with --root and args. Its stdio are files, never
// pipes: a created container's Sentry keeps create's stdio open.
func (e *ociEnv) cmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, e.runsc, append([]string{"--root=" + e.root}, args...)...)
}

// run runs runsc with args and returns its stdout+stderr and exit code.
func (e *ociEnv) run(args ...string) (string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := os.CreateTemp("", "runsc-out")
	if err != nil {
		e.t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	c := e.cmd(ctx, args...)
	c.Stdout, c.Stderr = out, out
	err = c.Run()
	data, _ := os.ReadFile(out.Name())
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("runsc %v: %v", args, err)
	}
	return string(data), code
}

func (e *ociEnv) mustRun(args ...string) string {
	e.t.Helper()
	out, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("runsc %s: exit %d: %s", strings.Join(args, " "), code, out)
	}
	return out
}

func (e *ociEnv) state(id string) specs.State {
	e.t.Helper()
	out := e.mustRun("state", id)
	var st specs.State
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		e.t.Fatalf("state %s: %v: %q", id, err, out)
	}
	return st
}

// waitStatus polls `runsc state` until the container has the status.
func (e *ociEnv) waitStatus(id string, want specs.ContainerState) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := e.state(id)
		if st.Status == want {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("container %s is %s, want %s", id, st.Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestOCILifecycle(t *testing.T) {
	e := newOCIEnv(t, "/bin/sh", "-c", "trap 'exit 42' TERM; while true; do sleep 0.05; done")
	pidFile := filepath.Join(t.TempDir(), "pid")
	e.mustRun("create", "--bundle", e.bundle, "--pid-file", pidFile, "c1")

	st := e.state("c1")
	if st.Status != specs.StateCreated || st.ID != "c1" || st.Bundle != e.bundle || st.Pid <= 0 || !strings.HasPrefix(st.Version, "1.") {
		t.Fatalf("state after create = %+v", st)
	}
	pid, _ := os.ReadFile(pidFile)
	if strings.TrimSpace(string(pid)) != strings.TrimSpace(jsonInt(st.Pid)) {
		t.Errorf("--pid-file has %q, state pid %d", pid, st.Pid)
	}
	if out, code := e.run("create", "--bundle", e.bundle, "c1"); code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("duplicate create: exit %d, output %q; want one line, non-zero", code, out)
	}

	e.mustRun("start", "c1")
	if st := e.state("c1"); st.Status != specs.StateRunning {
		t.Fatalf("status after start = %s", st.Status)
	}
	if _, code := e.run("start", "c1"); code == 0 {
		t.Errorf("second start succeeded")
	}
	if out, code := e.run("delete", "c1"); code == 0 {
		t.Errorf("delete of a running container succeeded: %s", out)
	}

	var pids []int
	if err := json.Unmarshal([]byte(e.mustRun("ps", "--format", "json", "c1")), &pids); err != nil || len(pids) == 0 || pids[0] != 1 {
		t.Errorf("ps --format json = %v (%v), want [1 ...]", pids, err)
	}
	var list []map[string]any
	if err := json.Unmarshal([]byte(e.mustRun("list", "--format", "json")), &list); err != nil || len(list) != 1 || list[0]["id"] != "c1" || list[0]["status"] != "running" {
		t.Errorf("list --format json = %v (%v)", list, err)
	}
	if out := e.mustRun("list"); !strings.Contains(out, "c1") || !strings.Contains(out, "running") {
		t.Errorf("list = %q", out)
	}

	// The shell sets its trap before its loop: once a sleep of the loop
	// shows in ps, TERM is trapped (sent earlier, init would ignore it:
	// see oci_init_signals_test.go).
	deadline := time.Now().Add(30 * time.Second)
	for {
		var pids []int
		json.Unmarshal([]byte(e.mustRun("ps", "--format", "json", "c1")), &pids)
		if len(pids) > 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the container's loop never started: ps %v", pids)
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.mustRun("kill", "c1", "TERM")
	e.waitStatus("c1", specs.StateStopped)
	var w struct {
		ExitStatus int `json:"exitStatus"`
	}
	if err := json.Unmarshal([]byte(e.mustRun("wait", "c1")), &w); err != nil || w.ExitStatus != 42 {
		t.Errorf("wait: exitStatus %d (%v), want 42", w.ExitStatus, err)
	}
	if _, code := e.run("kill", "c1", "KILL"); code == 0 {
		t.Errorf("kill of a stopped container succeeded")
	}
	e.mustRun("delete", "c1")
	if _, code := e.run("state", "c1"); code == 0 {
		t.Errorf("state after delete succeeded")
	}
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Errorf("--root not empty after delete: %v", ents)
	}
}

func jsonInt(n int) string { b, _ := json.Marshal(n); return string(b) }

func TestOCIKillSignals(t *testing.T) {
	e := newOCIEnv(t, "/bin/sleep", "1000")
	for _, tc := range []struct {
		name, sig string
		all       bool
		status    int
	}{
		{"name", "KILL", false, 137},
		// TERM would be ignored: init (sleep) has no handler for it.
		{"sig-prefix", "SIGKILL", false, 137},
		{"number", "9", false, 137},
		{"all", "KILL", true, 137},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "k-" + tc.name
			e.mustRun("run", "--detach", "--bundle", e.bundle, id)
			args := []string{"kill"}
			if tc.all {
				args = append(args, "--all")
			}
			e.mustRun(append(args, id, tc.sig)...)
			e.waitStatus(id, specs.StateStopped)
			var w struct {
				ExitStatus int `json:"exitStatus"`
			}
			json.Unmarshal([]byte(e.mustRun("wait", id)), &w)
			if w.ExitStatus != tc.status {
				t.Errorf("exit status %d, want %d", w.ExitStatus, tc.status)
			}
			e.mustRun("delete", id)
		})
	}
	if out, code := e.run("kill", "nope", "BOGUS"); code == 0 || strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("kill with a bad signal: exit %d, %q", code, out)
	}
}

func TestOCIRunForeground(t *testing.T) {
	e := newOCIEnv(t, "/bin/sh", "-c", "echo out-$0; exit 5", "x")
	for _, tc := range []struct {
		name string
		argv []string
		want int
		out  string
	}{
		{"exit-code", []string{"/bin/sh", "-c", "echo out-$0; exit 5", "x"}, 5, "out-x\n"},
		{"true", []string{"/bin/true"}, 0, ""},
		{"not-found", []string{"/bin/nonexistent"}, -1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.editSpec(func(s *specs.Spec) { s.Process.Args = tc.argv })
			out, code := e.run("run", "--bundle", e.bundle, "fg-"+tc.name)
			if tc.want >= 0 && (code != tc.want || out != tc.out) {
				t.Errorf("run: exit %d output %q; want %d %q", code, out, tc.want, tc.out)
			}
			if tc.want < 0 && code == 0 {
				t.Errorf("run of a missing program succeeded: %q", out)
			}
			if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
				t.Errorf("state left after run: %v", ents)
			}
		})
	}
}

func TestOCIExec(t *testing.T) {
	e := newOCIEnv(t, "/bin/sleep", "1000")
	e.editSpec(func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "FROM_SPEC=spec") })
	e.mustRun("run", "--detach", "--bundle", e.bundle, "x1")
	for _, tc := range []struct {
		name string
		args []string
		code int
		out  string
	}{
		{"echo", []string{"/bin/echo", "hi"}, 0, "hi\n"},
		{"status", []string{"/bin/sh", "-c", "exit 7"}, 7, ""},
		{"env-from-spec", []string{"/bin/sh", "-c", "echo $FROM_SPEC"}, 0, "spec\n"},
		{"env-flag", []string{"--env", "A=b", "/bin/sh", "-c", "echo $A"}, 0, "b\n"},
		{"cwd", []string{"--cwd", "/tmp", "/bin/sh", "-c", "pwd"}, 0, "/tmp\n"},
		{"path-lookup", []string{"echo", "p"}, 0, "p\n"},
		{"not-found", []string{"/bin/nope"}, 127, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"exec"}
			// Flags come before the ID; the command after it.
			i := 0
			for i < len(tc.args) && strings.HasPrefix(tc.args[i], "--") {
				args = append(args, tc.args[i], tc.args[i+1])
				i += 2
			}
			args = append(append(args, "x1"), tc.args[i:]...)
			out, code := e.run(args...)
			if code != tc.code || (tc.out != "" && out != tc.out) {
				t.Errorf("exec: exit %d output %q; want %d %q", code, out, tc.code, tc.out)
			}
		})
	}

	t.Run("process-file", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "process.json")
		data, _ := json.Marshal(specs.Process{Args: []string{"/bin/sh", "-c", "echo $K; exit 3"}, Env: []string{"K=v"}, Cwd: "/"})
		os.WriteFile(p, data, 0o644)
		out, code := e.run("exec", "--process", p, "x1")
		if code != 3 || out != "v\n" {
			t.Errorf("exec --process: exit %d output %q", code, out)
		}
	})

	t.Run("detach", func(t *testing.T) {
		pidFile := filepath.Join(t.TempDir(), "pid")
		e.mustRun("exec", "--detach", "--pid-file", pidFile, "x1", "/bin/sh", "-c", "exit 0")
		if data, err := os.ReadFile(pidFile); err != nil || len(bytes.TrimSpace(data)) == 0 {
			t.Errorf("--pid-file: %q %v", data, err)
		}
	})

	e.mustRun("kill", "x1", "KILL")
	e.waitStatus("x1", specs.StateStopped)
	if _, code := e.run("exec", "x1", "/bin/true"); code == 0 {
		t.Errorf("exec in a stopped container succeeded")
	}
	e.mustRun("delete", "x1")
}

func TestOCIBadInput(t *testing.T) {
	e := newOCIEnv(t, "/bin/true")
	good, _ := os.ReadFile(filepath.Join(e.bundle, "config.json"))
	for _, tc := range []struct {
		name   string
		config string
		id     string
	}{
		{"malformed", "{not json", "b1"},
		{"missing", "", "b2"},
		{"bad-version", strings.Replace(string(good), `"ociVersion":"`, `"ociVersion":"2.`, 1), "b3"},
		{"no-process", `{"ociVersion":"1.0.2","root":{"path":"rootfs"}}`, "b4"},
		{"no-rootfs", strings.Replace(string(good), `"path":"rootfs"`, `"path":"nothere"`, 1), "b5"},
		{"id-slash", string(good), "a/b"},
		{"id-dotdot", string(good), ".."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(e.bundle, "config.json")
			os.Remove(p)
			if tc.config != "" {
				os.WriteFile(p, []byte(tc.config), 0o644)
			}
			defer os.WriteFile(p, good, 0o644)
			out, code := e.run("create", "--bundle", e.bundle, tc.id)
			if code == 0 {
				t.Fatalf("create succeeded: %q", out)
			}
			if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 1 {
				t.Errorf("want one error line, got %q", out)
			}
			if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
				t.Errorf("state left behind: %v", ents)
			}
		})
	}
	if _, code := e.run("delete", "--force", "never-created"); code != 0 {
		t.Errorf("delete --force of a missing container failed")
	}
	if _, code := e.run("delete", "never-created"); code == 0 {
		t.Errorf("delete of a missing container succeeded")
	}
}

// TestOCIDeleteForceCleansCrash checks that state left by a crashed create
// (a directory without state.json) is listed as stopped and removed by
// delete --force.
func TestOCIDeleteForceCleansCrash(t *testing.T) {
	e := newOCIEnv(t, "/bin/true")
	if err := os.MkdirAll(filepath.Join(e.root, "crashed"), 0o711); err != nil {
		t.Fatal(err)
	}
	if st := e.state("crashed"); st.Status != specs.StateStopped {
		t.Errorf("crashed container is %s, want stopped", st.Status)
	}
	e.mustRun("delete", "--force", "crashed")
	if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
		t.Errorf("state left behind: %v", ents)
	}
}

// consoleSocket listens on a unix socket as a container engine's console
// socket (runc's --console-socket) and returns the terminal masters it
// receives.
func consoleSocket(t *testing.T) (string, <-chan *os.File) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "console.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	ch := make(chan *os.File, 4)
	go func() {
		for {
			conn, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			buf, oob := make([]byte, 4096), make([]byte, unix.CmsgSpace(4))
			_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
			conn.Close()
			if err != nil {
				continue
			}
			msgs, _ := unix.ParseSocketControlMessage(oob[:oobn])
			for _, m := range msgs {
				if fds, err := unix.ParseUnixRights(&m); err == nil && len(fds) == 1 {
					ch <- os.NewFile(uintptr(fds[0]), "console-master")
				}
			}
		}
	}()
	return path, ch
}

// createWithConsole creates container id with --console-socket sock and
// returns the terminal master that arrives on masters.
func (e *ociEnv) createWithConsole(id, sock string, masters <-chan *os.File) *os.File {
	e.t.Helper()
	e.mustRun("create", "--bundle", e.bundle, "--console-socket", sock, id)
	select {
	case master := <-masters:
		return master
	case <-time.After(10 * time.Second):
		e.t.Fatal("no terminal master on the console socket")
		return nil
	}
}

// terminalSession drives a terminal master: it writes input and waits for
// output containing a string.
type terminalSession struct {
	t      *testing.T
	master *os.File
	mu     sync.Mutex
	out    bytes.Buffer
}

func newTerminalSession(t *testing.T, master *os.File) *terminalSession {
	s := &terminalSession{t: t, master: master}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			s.mu.Lock()
			s.out.Write(buf[:n])
			s.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	return s
}

func (s *terminalSession) send(in string) {
	s.t.Helper()
	if _, err := s.master.Write([]byte(in)); err != nil {
		s.t.Fatalf("writing to the terminal: %v", err)
	}
}

func (s *terminalSession) expect(want string) {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := s.out.String()
		s.mu.Unlock()
		if strings.Contains(got, want) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.t.Fatalf("terminal output %q does not contain %q", s.out.String(), want)
}

// TestOCITerminal runs a shell with process.terminal: its terminal's
// master arrives on the console socket, and the terminal is the Sentry's
// (a /dev/pts/N inside, canonical input with echo, ^C interrupting the
// foreground job and not the shell, the window size set on the master).
func TestOCITerminal(t *testing.T) {
	e := newOCIEnv(t, "/bin/sh")
	for _, a := range []string{"tty", "stty"} {
		os.Symlink("busybox", filepath.Join(e.bundle, "rootfs", "bin", a))
	}
	e.editSpec(func(s *specs.Spec) {
		s.Process.Terminal = true
		s.Process.Env = append(s.Process.Env, "PS1=$ ")
	})
	sock, masters := consoleSocket(t)
	master := e.createWithConsole("t1", sock, masters)
	defer master.Close()
	if err := unix.IoctlSetWinsize(int(master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 33, Col: 77}); err != nil {
		t.Fatal(err)
	}
	e.mustRun("start", "t1")
	s := newTerminalSession(t, master)
	s.send("tty; echo $((6*7))\r")
	s.expect("/dev/pts/0\r\n42\r\n")
	s.send("stty size\r")
	s.expect("33 77\r\n")
	// ^C stops the foreground job, not the shell (which, as Linux shells
	// do, drops the rest of that command line).
	s.send("sleep 100\r")
	// ^C only once sleep runs, or the shell itself would take it.
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(e.mustRun("ps", "t1"), "sleep"); {
		if time.Now().After(deadline) {
			t.Fatalf("sleep never started: %s", e.mustRun("ps", "t1"))
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.send("\x03")
	s.send("echo after=$?\r")
	s.expect("after=130")
	s.send("exit 5\r")
	e.waitStatus("t1", specs.StateStopped)
	e.mustRun("delete", "t1")

	t.Run("exec", func(t *testing.T) {
		e.editSpec(func(s *specs.Spec) { s.Process.Terminal = false; s.Process.Args = []string{"/bin/sleep", "1000"} })
		e.mustRun("run", "--detach", "--bundle", e.bundle, "t2")
		done := make(chan string, 1)
		go func() {
			out, code := e.run("exec", "-t", "--console-socket", sock, "t2", "/bin/sh", "-c", "tty; read x; echo got=$x; exit 4")
			done <- fmt.Sprintf("%d %s", code, out)
		}()
		var m *os.File
		select {
		case m = <-masters:
		case <-time.After(10 * time.Second):
			t.Fatal("no terminal master for exec -t")
		}
		defer m.Close()
		s := newTerminalSession(t, m)
		s.expect("/dev/pts/")
		s.send("hello\r")
		s.expect("hello\r\ngot=hello\r\n")
		if got := <-done; !strings.HasPrefix(got, "4 ") {
			t.Errorf("exec -t: %q, want exit 4", got)
		}
		e.mustRun("delete", "--force", "t2")
	})
}

// TestOCIRunInteractive runs `runsc run -t` in a real terminal (tmux):
// the container's shell reads the caller's typing and the caller's
// terminal gets its settings back afterwards.
func TestOCIRunInteractive(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed")
	}
	e := newOCIEnv(t, "/bin/sh")
	e.editSpec(func(s *specs.Spec) { s.Process.Env = append(s.Process.Env, "PS1=$ ") })
	session := fmt.Sprintf("bz-oci-%d", os.Getpid())
	out := filepath.Join(t.TempDir(), "status")
	shell := fmt.Sprintf("%s --root=%s run -t --bundle %s r1; echo status=$? > %s; stty -a >> %s; sleep 60",
		e.runsc, e.root, e.bundle, out, out)
	if err := exec.Command("tmux", "new-session", "-d", "-s", session, "-x", "90", "-y", "20", shell).Run(); err != nil {
		t.Skipf("tmux cannot start a session: %v", err)
	}
	defer exec.Command("tmux", "kill-session", "-t", session).Run()
	keys := func(k ...string) {
		exec.Command("tmux", append([]string{"send-keys", "-t", session}, k...)...).Run()
		time.Sleep(300 * time.Millisecond)
	}
	pane := func() string {
		b, _ := exec.Command("tmux", "capture-pane", "-p", "-t", session).Output()
		return string(b)
	}
	// capture-pane drops trailing spaces: the prompt "$ " shows as a
	// line "$".
	prompt := func() bool {
		for _, l := range strings.Split(pane(), "\n") {
			if strings.TrimSpace(l) == "$" {
				return true
			}
		}
		return false
	}
	deadline := time.Now().Add(20 * time.Second)
	for !prompt() && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	keys("echo inside $((2+3))", "Enter")
	keys("sleep 100", "Enter")
	keys("C-c")
	keys("exit 9", "Enter")
	deadline = time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if data, _ := os.ReadFile(out); strings.Contains(string(data), "status=") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	data, _ := os.ReadFile(out)
	if p := pane(); !strings.Contains(p, "inside 5") || !strings.Contains(p, "^C") {
		t.Errorf("terminal shows:\n%s", p)
	}
	if !strings.HasPrefix(string(data), "status=9\n") {
		t.Errorf("run -t: %q, want status 9; terminal shows:\n%s", data, pane())
	}
	if !strings.Contains(string(data), " icanon") || !strings.Contains(string(data), " echo") {
		t.Errorf("the caller's terminal was not restored: %s", data)
	}
}
