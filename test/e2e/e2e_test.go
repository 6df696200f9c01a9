package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"bufferzone.dev/test/e2e/runsctest"
)

// baseEnv is the caller's environment for every run, native or sandboxed;
// `runsc do` passes the caller's environment on, with --env added.
var baseEnv = []string{"PATH=/usr/bin:/bin"}

var (
	workOnce sync.Once
	workDir  string
	workErr  error
)

func TestMain(m *testing.M) {
	runsctest.AtExit(func() {
		if workDir != "" {
			os.RemoveAll(workDir)
		}
	})
	runsctest.Main(m)
}

// work is a directory for binaries built by the tests, visible to a sandbox
// whose root is the host's.
func work(t *testing.T) string {
	t.Helper()
	workOnce.Do(func() { workDir, workErr = os.MkdirTemp(runsctest.SharedRoot(), "e2e-") })
	if workErr != nil {
		t.Fatal(workErr)
	}
	return workDir
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

var builds sync.Map // name -> *build

type build struct {
	once sync.Once
	path string
	err  error
}

// built runs mk once per process for name and returns the binary's path.
func built(t *testing.T, name string, mk func(out string) error) string {
	t.Helper()
	v, _ := builds.LoadOrStore(name, &build{})
	b := v.(*build)
	b.once.Do(func() {
		b.path = filepath.Join(work(t), name)
		b.err = mk(b.path)
	})
	if b.err != nil {
		t.Fatalf("building %s: %v", name, b.err)
	}
	return b.path
}

func staticC(t *testing.T) string { return staticCProgram(t, "static", "static.c") }

func goHello(t *testing.T) string { return goProgram(t, "gohello") }

// goProgram builds the static Go program ./testdata/NAME once, or skips
// without a go tool.
func goProgram(t *testing.T, name string) string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go tool (under Bazel, this test needs one)")
	}
	return built(t, name, func(out string) error {
		cmd := exec.Command("go", "build", "-o", out, "./testdata/"+name)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		b, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v\n%s", err, b)
		}
		return nil
	})
}

// busybox returns a statically linked busybox, or skips.
func busybox(t *testing.T) string { return runsctest.StaticBusybox(t) }

// run is one program run, natively and in the sandbox.
type run struct {
	argv  []string
	env   []string // the caller's environment; nil means baseEnv
	dir   string
	stdin string
	// doFlags and global are runsc's flags for the sandbox run.
	doFlags, global []string
	// nativeEnv and nativeDir, if set, are the native run's environment
	// and working directory (what --env and --cwd should amount to).
	nativeEnv []string
	nativeDir string
}

func (r run) native(t *testing.T) runsctest.Result {
	t.Helper()
	env := r.env
	if env == nil {
		env = baseEnv
	}
	if r.nativeEnv != nil {
		env = r.nativeEnv
	}
	dir := r.dir
	if r.nativeDir != "" {
		dir = r.nativeDir
	}
	return runsctest.Run(ctx(t), runsctest.Command{Argv: r.argv, Env: env, Dir: dir, Stdin: []byte(r.stdin)})
}

func (r run) sandbox(t *testing.T) runsctest.Result {
	t.Helper()
	runsc := runsctest.RequireDo(t)
	env := r.env
	if env == nil {
		env = baseEnv
	}
	return runsctest.Run(ctx(t), runsctest.Command{
		Argv:  runsctest.DoArgv(runsc, r.global, r.doFlags, r.argv),
		Env:   env,
		Dir:   r.dir,
		Stdin: []byte(r.stdin),
	})
}

// same runs r natively, checks the native run with check (if not nil),
// then requires the sandbox run to have the same stdout, stderr and status.
func same(t *testing.T, r run, check func(t *testing.T, native runsctest.Result)) {
	t.Helper()
	n := r.native(t)
	if n.Err != nil {
		t.Fatalf("native run of %q: %s", r.argv, n)
	}
	if check != nil {
		check(t, n)
		if t.Failed() {
			t.Fatalf("native run of %q is not as expected: %s", r.argv, n)
		}
	}
	s := r.sandbox(t)
	differs := s.Status != n.Status || string(s.Stdout) != string(n.Stdout) || string(s.Stderr) != string(n.Stderr)
	if gap, ok := knownGaps[t.Name()]; ok {
		if !differs {
			t.Fatalf("%s now matches native: remove it from knownGaps", t.Name())
		}
		t.Skipf("known gap: %s (sandbox: status %d)", gap, s.Status)
	}
	if differs {
		t.Errorf("runsc do %q differs from native\n=== native: %s\n=== sandbox: %s", r.argv, n, s)
	}
}

// knownGaps lists tests whose sandbox run is known not to match native yet,
// by test name, with the reason and the issue. A listed test that starts
// matching fails, so the list only shrinks.
var knownGaps = map[string]string{}

func wantStatus(status int, stdout string) func(*testing.T, runsctest.Result) {
	return func(t *testing.T, r runsctest.Result) {
		if r.Status != status {
			t.Errorf("status %d, want %d", r.Status, status)
		}
		if stdout != "" && string(r.Stdout) != stdout {
			t.Errorf("stdout %q, want %q", r.Stdout, stdout)
		}
	}
}

func TestStaticC(t *testing.T) {
	bin := staticC(t)
	want := func(argv []string, envc int, bz string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "argc=%d\n", len(argv))
		for i, a := range argv {
			fmt.Fprintf(&b, "argv[%d]=%s\n", i, a)
		}
		fmt.Fprintf(&b, "envc=%d\nBZ_E2E=%s\npagesz=4096\nrandom=yes\n", envc, bz)
		return b.String()
	}
	t.Run("args", func(t *testing.T) {
		argv := []string{bin, "one", "two words", ""}
		env := append([]string{"BZ_E2E=1"}, baseEnv...)
		same(t, run{argv: argv, env: env}, wantStatus(3, want(argv, 2, "1")))
	})
	t.Run("env-flag", func(t *testing.T) {
		argv := []string{bin}
		same(t, run{argv: argv, doFlags: []string{"--env", "BZ_E2E=from-flag"},
			nativeEnv: append([]string{"BZ_E2E=from-flag"}, baseEnv...)},
			wantStatus(3, want(argv, 2, "from-flag")))
	})
	for _, code := range []int{0, 1, 3, 77, 255} {
		t.Run(fmt.Sprintf("exit-%d", code), func(t *testing.T) {
			same(t, run{argv: []string{bin, "exit", fmt.Sprint(code)}}, wantStatus(code, ""))
		})
	}
	t.Run("segv", func(t *testing.T) {
		same(t, run{argv: []string{bin, "segv"}}, wantStatus(139, ""))
	})
}

func TestStaticGo(t *testing.T) {
	bin := goHello(t)
	env := append([]string{"BZ_E2E=go"}, baseEnv...)
	same(t, run{argv: []string{bin, "a", "b"}, env: env},
		wantStatus(4, "hello from go\nargs: 3 [a b]\nBZ_E2E: go\n"))
}

func TestHostDynamic(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    run
	}{
		{"echo", run{argv: []string{"/bin/echo", "hello"}}},
		{"ls-root", run{argv: []string{"/bin/ls", "/"}}},
		{"ls-la-usr", run{argv: []string{"/bin/ls", "-la", "/usr"}}},
		{"cat-os-release", run{argv: []string{"/bin/cat", "/etc/os-release"}}},
		{"cat-stdin", run{argv: []string{"/bin/cat"}, stdin: "piped\ndata\n"}},
		{"env", run{argv: []string{"/usr/bin/env"}}},
		{"env-flags", run{argv: []string{"/usr/bin/env"},
			doFlags:   []string{"--env", "BZ_A=1", "--env", "BZ_B=two words"},
			nativeEnv: append(append([]string{}, baseEnv...), "BZ_A=1", "BZ_B=two words")}},
		{"env-cleared", run{argv: []string{"/usr/bin/env", "-i", "BZ_A=1", "/usr/bin/env"}}},
		{"pwd-caller-cwd", run{argv: []string{"/bin/pwd"}, dir: "/usr"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := os.Stat(tc.r.argv[0]); err != nil {
				t.Skipf("%s not on this host", tc.r.argv[0])
			}
			same(t, tc.r, func(t *testing.T, n runsctest.Result) {
				if n.Status != 0 || (len(n.Stdout) == 0 && tc.name != "cat-stdin") {
					t.Errorf("want status 0 and output")
				}
			})
		})
	}
}

func TestCwdFlag(t *testing.T) {
	// Called from /etc with --cwd /usr, pwd runs in /usr.
	same(t, run{argv: []string{"/bin/pwd"}, dir: "/etc", doFlags: []string{"--cwd", "/usr"}, nativeDir: "/usr"},
		wantStatus(0, "/usr\n"))
}

func TestBusybox(t *testing.T) {
	bb := busybox(t)
	for _, tc := range []struct {
		name string
		argv []string
	}{
		{"echo", []string{bb, "echo", "hello", "world"}},
		{"ls-root", []string{bb, "ls", "/"}},
		{"ls-l-usr", []string{bb, "ls", "-l", "/usr"}},
		{"wc", []string{bb, "wc", "/etc/passwd"}},
		{"md5sum", []string{bb, "md5sum", "/etc/passwd"}},
		{"uname-s", []string{bb, "uname", "-s"}},
		{"false", []string{bb, "false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			same(t, run{argv: tc.argv}, func(t *testing.T, n runsctest.Result) {
				if tc.name == "false" {
					if n.Status != 1 {
						t.Errorf("status %d, want 1", n.Status)
					}
				} else if n.Status != 0 || len(n.Stdout) == 0 {
					t.Errorf("want status 0 and output")
				}
			})
		})
	}
}

func TestKernelRelease(t *testing.T) {
	uname := "/bin/uname"
	if _, err := os.Stat(uname); err != nil {
		t.Skip("no /bin/uname")
	}
	for _, tc := range []struct {
		global []string
		want   string
	}{
		{nil, "4.4.0\n"},
		{[]string{"--kernel-release=6.1.0"}, "6.1.0\n"},
	} {
		s := run{argv: []string{uname, "-r"}, global: tc.global}.sandbox(t)
		if s.Status != 0 || string(s.Stdout) != tc.want {
			t.Errorf("runsc %v do uname -r: want %q, got %s", tc.global, tc.want, s)
		}
	}
}

func TestStrace(t *testing.T) {
	// --strace must not change what the program writes to its stdout.
	s := run{argv: []string{"/bin/echo", "traced"}, global: []string{"--strace"}}.sandbox(t)
	if s.Status != 0 || string(s.Stdout) != "traced\n" {
		t.Errorf("runsc --strace do echo: %s", s)
	}
}

func TestRootfs(t *testing.T) {
	bb := busybox(t)
	root := runsctest.SharedDir(t)
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(bb)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "marker"), []byte("bz-rootfs-marker\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"/bin/busybox", "cat", "/marker"}, "bz-rootfs-marker\n"},
		{[]string{"/bin/busybox", "ls", "/bin"}, "busybox\n"},
		{[]string{"/bin/busybox", "pwd"}, "/\n"},
	} {
		s := run{argv: tc.argv, doFlags: []string{"--rootfs", root}}.sandbox(t)
		if s.Status != 0 || string(s.Stdout) != tc.want {
			t.Errorf("runsc do --rootfs %q: want %q, got %s", tc.argv, tc.want, s)
		}
	}
}

// oneErrorLine checks that a failed `runsc do` said why in exactly one line
// on stderr that names the program and matches what.
func oneErrorLine(t *testing.T, s runsctest.Result, prog string, what *regexp.Regexp) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(string(s.Stderr), "\n"), "\n")
	if s.Status <= 0 || len(s.Stdout) != 0 || len(lines) != 1 || lines[0] == "" {
		t.Fatalf("want a non-zero status, no stdout and one line on stderr, got %s", s)
	}
	if !strings.Contains(lines[0], filepath.Base(prog)) || !what.MatchString(lines[0]) {
		t.Errorf("error line %q should name %s and match %v", lines[0], prog, what)
	}
}

func TestNotELF(t *testing.T) {
	p := filepath.Join(runsctest.SharedDir(t), "not-elf")
	if err := os.WriteFile(p, []byte("this is not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if n := (run{argv: []string{p}}).native(t); n.Err == nil || !strings.Contains(n.Err.Error(), "exec format error") {
		t.Fatalf("native exec of a non-ELF file: want ENOEXEC, got %s", n)
	}
	s := run{argv: []string{p}}.sandbox(t)
	oneErrorLine(t, s, p, regexp.MustCompile(`(?i)exec format|enoexec|not an? (elf|executable)`))
}

func TestMissingProgram(t *testing.T) {
	p := "/bufferzone-e2e-missing/program"
	if n := (run{argv: []string{p}}).native(t); n.Err == nil {
		t.Fatalf("native exec of a missing file succeeded: %s", n)
	}
	s := run{argv: []string{p}}.sandbox(t)
	oneErrorLine(t, s, p, regexp.MustCompile(`(?i)no such file|enoent|not found`))
}

func TestNoCommand(t *testing.T) {
	runsc := runsctest.RequireDo(t)
	s := runsctest.Run(ctx(t), runsctest.Command{Argv: []string{runsc, "do"}, Env: baseEnv})
	if s.Status != 2 || !strings.Contains(strings.ToLower(string(s.Stderr)), "usage") {
		t.Errorf("runsc do with no command: want status 2 and a usage message on stderr, got %s", s)
	}
}
