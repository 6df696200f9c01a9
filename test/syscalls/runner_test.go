package syscalls

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"bufferzone.dev/test/e2e/runsctest"
)

func TestMain(m *testing.M) { runsctest.Main(m) }

// maxSandboxRuns bounds how often one test binary is restarted in the
// sandbox after a case crashes it, skipping the cases that already have a
// result each time.
const maxSandboxRuns = 12

// sandboxRunTimeout bounds one sandboxed run of a test binary, so that a
// case that hangs in the sandbox costs this much, not the file's deadline.
// Every file must finish natively in a couple of seconds.
const sandboxRunTimeout = 30 * time.Second

// srcDir finds linux/: relative to the working directory (go test and Bazel
// both run a test in its package's directory), else beside this file.
func srcDir(t *testing.T) string {
	if fi, err := os.Stat("linux"); err == nil && fi.IsDir() {
		abs, _ := filepath.Abs("linux")
		return abs
	}
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "linux")
}

// env is the environment of every test binary, native or sandboxed.
func env(tmp string) []string {
	return []string{"PATH=/usr/bin:/bin", "TEST_TMPDIR=" + tmp}
}

// TestSyscalls builds each linux/*.cc, runs it natively, then under each
// platform, as subtests TestSyscalls/FILE/native and TestSyscalls/FILE/PLATFORM,
// each with one subtest per gtest case.
func TestSyscalls(t *testing.T) {
	b := NewBuilder(srcDir(t), DefaultCacheDir(), runtime.NumCPU())
	names, err := b.Sources()
	if err != nil || len(names) == 0 {
		t.Fatalf("no test sources in %s: %v", b.SrcDir, err)
	}
	checkSkipKeys(t, names)
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			bin, err := b.Build(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			var native Results
			t.Run("native", func(t *testing.T) { native = runNative(t, ctx, bin) })
			if native == nil {
				return
			}
			for key := range SandboxSkips {
				if f, c, ok := strings.Cut(key, "/"); ok && f == name {
					if _, known := native[c]; !known {
						t.Errorf("skip list names %q, which %s.cc does not have", key, name)
					}
				}
			}
			for _, p := range runsctest.Platforms() {
				t.Run(p, func(t *testing.T) { runSandbox(t, ctx, p, name, bin, native) })
			}
		})
	}
}

// checkSkipKeys fails the test for a skip-list entry naming no test file,
// or lacking a reason or an issue.
func checkSkipKeys(t *testing.T, names []string) {
	have := map[string]bool{}
	for _, n := range names {
		have[n] = true
	}
	for key, s := range SandboxSkips {
		file, _, _ := strings.Cut(key, "/")
		if !have[file] {
			t.Errorf("skip list entry %q names no file linux/%s.cc", key, file)
		}
		if s.Reason == "" || s.Issue == "" {
			t.Errorf("skip list entry %q needs both a reason and an issue", key)
		}
	}
}

// runNative runs bin on the host with a JSON report, checks the text parser
// against it, and reports each case as a subtest. It returns the results.
func runNative(t *testing.T, ctx context.Context, bin string) Results {
	tmp := t.TempDir()
	report := filepath.Join(tmp, "report.json")
	r := runsctest.Run(ctx, runsctest.Command{
		Argv: []string{bin, "--gtest_color=no", "--gtest_output=json:" + report},
		Env:  env(tmp),
	})
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("no JSON report (%v): %s", err, r)
	}
	res, err := ParseJSON(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) == 0 {
		t.Fatalf("no test cases ran: %s", r)
	}
	text := ParseText(r.Stdout)
	for _, n := range res.Names() {
		if text[n].Status != res[n].Status {
			t.Errorf("text report says %s is %v, JSON says %v", n, text[n].Status, res[n].Status)
		}
	}
	if len(text) != len(res) {
		t.Errorf("text report has %d cases, JSON %d", len(text), len(res))
	}
	for _, n := range res.Names() {
		t.Run(n, func(t *testing.T) {
			switch res[n].Status {
			case Passed:
			case Skipped:
				t.Skipf("skipped natively:\n%s", text[n].Output)
			default:
				t.Errorf("%v natively (Linux is the oracle: fix the test):\n%s", res[n].Status, text[n].Output)
			}
		})
	}
	if r.Status != 0 && !t.Failed() {
		t.Errorf("binary exited with %s", r)
	}
	return res
}

// runSandbox runs bin under `runsc --platform=P do` and compares each case
// with its native result.
func runSandbox(t *testing.T, ctx context.Context, platform, name, bin string, native Results) {
	if s, ok := skipFor(name, platform); ok {
		t.Skipf("skip list: %s (issue: %s)", s.Reason, s.Issue)
	}
	global := runsctest.RequirePlatform(t, platform)
	got, last := sandboxResults(ctx, runsctest.Binary(t), global, bin, len(native))
	for _, n := range native.Names() {
		t.Run(n, func(t *testing.T) {
			g, ok := got[n]
			if !ok {
				g = Case{Name: n, Status: Missing, Output: "never ran in the sandbox: " + last.String()}
			}
			if s, skipped := skipFor(name+"/"+n, platform); skipped {
				if g.Status == Passed {
					t.Errorf("passes in the sandbox now: remove %q from the skip list", name+"/"+n)
					return
				}
				t.Skipf("skip list: %s (issue: %s); sandbox: %v", s.Reason, s.Issue, g.Status)
			}
			if native[n].Status != Passed {
				t.Skipf("%v natively", native[n].Status)
			}
			if g.Status != Passed {
				t.Errorf("passes natively, %v on %s:\n%s", g.Status, platform, g.Output)
			}
		})
	}
}

// sandboxResults runs bin under `runsc GLOBAL... do` until every one of its
// want cases has a result. A case that crashes the sandboxed program is
// recorded as Crashed and the program is restarted without it and the cases
// already done (at most maxSandboxRuns times), so one crash does not hide
// the results of the cases after it. It returns the results and the last
// run.
func sandboxResults(ctx context.Context, runsc string, global []string, bin string, want int) (Results, runsctest.Result) {
	got := Results{}
	var last runsctest.Result
	for i := 0; i < maxSandboxRuns; i++ {
		argv := []string{bin, "--gtest_color=no"}
		if len(got) > 0 {
			argv = append(argv, "--gtest_filter=-"+strings.Join(got.Names(), ":"))
		}
		// A case that hangs ends its run (and is recorded as crashed, with
		// "timed out" in its output) instead of the whole file's deadline.
		runCtx, cancel := context.WithTimeout(ctx, sandboxRunTimeout)
		last = runsctest.Run(runCtx, runsctest.Command{
			Argv: runsctest.DoArgv(runsc, global, nil, argv),
			Env:  env("/tmp"),
		})
		cancel()
		crashed := false
		for n, c := range ParseText(last.Stdout) {
			if c.Status == Crashed {
				crashed = true
				c.Output += "\n(sandbox ended: " + last.String() + ")"
			}
			got[n] = c
		}
		if !crashed || len(got) >= want || ctx.Err() != nil {
			break
		}
	}
	return got, last
}

// TestSandboxResultsAfterCrash checks the restart logic with a stand-in for
// runsc that runs the program natively but "crashes" (exit 139) right after
// the second case starts, unless a filter is given.
func TestSandboxResultsAfterCrash(t *testing.T) {
	b := NewBuilder(srcDir(t), DefaultCacheDir(), runtime.NumCPU())
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin, err := b.Build(ctx, "uname")
	if err != nil {
		t.Fatal(err)
	}
	fake := filepath.Join(t.TempDir(), "fake-runsc")
	script := `#!/bin/sh
while [ "$1" != do ]; do shift; done
shift
case "$*" in
*--gtest_filter=*) exec "$@" ;;
esac
"$@" | awk '{print} /^\[ RUN/ {n++; if (n == 2) exit}'
exit 139
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	native := runsctest.Run(ctx, runsctest.Command{Argv: []string{bin, "--gtest_color=no"}})
	want := ParseText(native.Stdout)
	if len(want) < 3 {
		t.Fatalf("uname.cc needs at least 3 cases for this test, has %d", len(want))
	}
	got, _ := sandboxResults(ctx, fake, nil, bin, len(want))
	crashed := 0
	for _, n := range want.Names() {
		switch got[n].Status {
		case Passed:
		case Crashed:
			crashed++
			if !strings.Contains(got[n].Output, "status 139") {
				t.Errorf("%s: crash output does not give the status: %q", n, got[n].Output)
			}
		default:
			t.Errorf("%s: %v", n, got[n].Status)
		}
	}
	if crashed != 1 {
		t.Errorf("got %d crashed cases, want 1: %v", crashed, got)
	}
}
