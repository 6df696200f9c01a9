// Package runsctest finds or builds the runsc binary for tests, tells
// whether it can run programs yet (`runsc do`), which platforms work, and runs
// commands natively or under `runsc do` with a timeout, reporting their exit
// status the way a shell would (128+N for a program killed by signal N).
//
// It is shared by test/e2e and test/syscalls. Nothing here sleeps: every wait
// is on a process, bounded by a context deadline.
package runsctest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// DefaultTimeout bounds one command run by Run when the caller's context has
// no earlier deadline.
const DefaultTimeout = 2 * time.Minute

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	tempRoot  string
	atExit    []func()
	atExitMu  sync.Mutex
)

// AtExit registers f to run when Main returns, after all tests.
func AtExit(f func()) {
	atExitMu.Lock()
	defer atExitMu.Unlock()
	atExit = append(atExit, f)
}

// Main runs the tests of a package that uses runsctest and removes the files
// runsctest made (a runsc binary built for this process) before exiting.
// Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	for _, f := range atExit {
		f()
	}
	if tempRoot != "" {
		os.RemoveAll(tempRoot)
	}
	os.Exit(code)
}

// Binary returns the path of the runsc binary under test: $RUNSC if it is
// set, otherwise bufferzone.dev/runsc built once per test process with
// `go build` (the Go build cache keeps that fast). Under Bazel, set $RUNSC to
// the runsc target's path, since a Bazel test has no go tool.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("RUNSC"); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			t.Fatalf("RUNSC=%q: %v", p, err)
		}
		return abs
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bufferzone-runsc-")
		if err != nil {
			buildErr = err
			return
		}
		tempRoot = dir
		out := filepath.Join(dir, "runsc")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "bufferzone.dev/runsc")
		cmd.Dir = sourceDir()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build bufferzone.dev/runsc: %v\n%s", err, b)
			return
		}
		buildPath = out
	})
	if buildErr != nil {
		t.Fatalf("building runsc (set $RUNSC to use a prebuilt one): %v", buildErr)
	}
	return buildPath
}

// sourceDir is a directory inside the bufferzone.dev module, for running the
// go tool there.
func sourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if ok {
		if _, err := os.Stat(file); err == nil {
			return filepath.Dir(file)
		}
	}
	wd, _ := os.Getwd()
	return wd
}

var (
	doOnce   sync.Once
	doReason string
)

// RequireDo skips t unless runsc has the `do` command. `runsc help do` must
// exit 0 and say something; a runsc without `do` either prints nothing (the
// empty main that starts the tree) or says it does not know the command.
//
// This skip exists only while `do` is being written: once `runsc help do`
// works it never triggers, and every sandbox test runs.
func RequireDo(t testing.TB) string {
	t.Helper()
	bin := Binary(t)
	doOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r := Run(ctx, Command{Argv: []string{bin, "help", "do"}})
		out := strings.TrimSpace(string(r.Stdout) + string(r.Stderr))
		switch {
		case r.Err != nil:
			doReason = fmt.Sprintf("running `runsc help do`: %v", r.Err)
		case r.Status != 0:
			doReason = fmt.Sprintf("`runsc help do` exited %d: %s", r.Status, out)
		case out == "":
			doReason = "`runsc help do` printed nothing"
		case strings.Contains(out, "not understood"):
			doReason = "`runsc help do`: " + out
		}
	})
	if doReason != "" {
		t.Skipf("runsc has no `do` command yet (%s); this skip goes away once `runsc do` lands", doReason)
	}
	return bin
}

// Command describes one process to run.
type Command struct {
	Argv []string
	// Env is the process's whole environment; nil means an empty one (never
	// the test process's, so results do not depend on who runs the tests).
	Env   []string
	Dir   string
	Stdin []byte
}

// Result is what a finished (or failed to start) command produced.
type Result struct {
	Stdout, Stderr []byte
	// Status is the exit code, or 128+N if the process was killed by signal
	// N, or -1 if it could not be started (then Err says why).
	Status   int
	Err      error
	TimedOut bool
}

// String summarises r for failure messages.
func (r Result) String() string {
	s := fmt.Sprintf("status %d", r.Status)
	if r.TimedOut {
		s += " (timed out)"
	}
	if r.Err != nil {
		s += fmt.Sprintf(", error %v", r.Err)
	}
	return s + fmt.Sprintf("\n--- stdout ---\n%s\n--- stderr ---\n%s", tail(r.Stdout), tail(r.Stderr))
}

func tail(b []byte) string {
	const max = 4000
	if len(b) > max {
		return "…" + string(b[len(b)-max:])
	}
	return string(b)
}

// Run runs c to completion or until ctx (or DefaultTimeout) expires.
func Run(ctx context.Context, c Command) Result {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = []string{}
	}
	cmd.Dir = c.Dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Stdin = bytes.NewReader(c.Stdin)
	// Kill the whole process group on timeout, so a sandbox's helpers die too.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	r := Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes(), TimedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	switch {
	case err == nil:
		r.Status = 0
	case errors.As(err, &ee):
		ws := ee.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			r.Status = 128 + int(ws.Signal())
		} else {
			r.Status = ws.ExitStatus()
		}
	default:
		r.Status = -1
		r.Err = err
	}
	return r
}

// DoArgv is the argv of `runsc [global...] do [doFlags...] argv...`.
func DoArgv(runsc string, global, doFlags, argv []string) []string {
	a := append([]string{runsc}, global...)
	a = append(a, "do")
	a = append(a, doFlags...)
	return append(a, argv...)
}

// Platforms lists the platforms that sandbox tests should cover: $RUNSC_PLATFORMS
// (comma-separated) if set, otherwise ptrace and systrap, and kvm when
// /dev/kvm exists. Whether each actually works is for Probe to say.
func Platforms() []string {
	if s := os.Getenv("RUNSC_PLATFORMS"); s != "" {
		return strings.Split(s, ",")
	}
	p := []string{"ptrace", "systrap"}
	if _, err := os.Stat("/dev/kvm"); err == nil {
		p = append(p, "kvm")
	}
	return p
}

// Required reports whether a platform must work whenever `runsc do` exists:
// ptrace and systrap (the default); kvm is skipped until it can run the
// probe program.
func Required(platform string) bool { return platform == "ptrace" || platform == "systrap" }

var probes sync.Map // platform -> *probeResult

type probeResult struct {
	once sync.Once
	err  error
}

// RequirePlatform skips t (or, for a required platform, fails it) unless
// `runsc --platform=P do` runs a minimal static program correctly. It
// returns the global flags that select the platform.
func RequirePlatform(t testing.TB, platform string) []string {
	t.Helper()
	bin := RequireDo(t)
	v, _ := probes.LoadOrStore(platform, &probeResult{})
	p := v.(*probeResult)
	p.once.Do(func() { p.err = probe(bin, platform) })
	if p.err != nil {
		if Required(platform) {
			t.Fatalf("platform %s cannot run a minimal static program: %v", platform, p.err)
		}
		t.Skipf("platform %s not available yet: %v", platform, p.err)
	}
	return []string{"--platform=" + platform}
}

func probe(runsc, platform string) error {
	dir, err := os.MkdirTemp(SharedRoot(), "probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	exe := filepath.Join(dir, "probe")
	if err := os.WriteFile(exe, ProbeELF(), 0o755); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := Run(ctx, Command{Argv: DoArgv(runsc, []string{"--platform=" + platform}, nil, []string{exe})})
	if r.Status != 0 || string(r.Stdout) != ProbeOutput {
		return fmt.Errorf("want status 0 and stdout %q, got %s", ProbeOutput, r)
	}
	return nil
}

// SharedRoot is a directory for files that a sandbox must see. It is not
// under /tmp: the sandbox's root is the host's, but a sandbox may mount its
// own /tmp over it.
func SharedRoot() string {
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir := filepath.Join(base, "bufferzone", "shared")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return os.TempDir()
	}
	return dir
}

// SharedDir makes a fresh directory under SharedRoot, removed when t ends.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp(SharedRoot(), "t-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
