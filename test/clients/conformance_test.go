package clients

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"bufferzone.dev/test/e2e/runsctest"
)

// runtimeToolsModule is the OCI conformance suite's module. v0.9.0 has no
// go.mod (it vendored with Godeps); testdata/runtime-tools.mod and .sum
// pin the versions of its dependencies that build it.
const runtimeToolsModule = "github.com/opencontainers/runtime-tools@v0.9.0"

// knownRuntimeToolsFailures are the validation programs that pass with runc
// on this machine and fail with runsc, and why. TestRuntimeTools fails when
// another one fails, and when one of these passes (remove it then).
var knownRuntimeToolsFailures = map[string]string{
	"linux_ns_itype":              "the container's namespaces are the Sentry's own, never the caller's",
	"linux_ns_path":               "namespaces given by path are not joined (only the network namespace is)",
	"linux_cgroups_pids":          pidsHeadroom,
	"linux_cgroups_relative_pids": pidsHeadroom,
	"delete_resources":            pidsHeadroom,
	"killsig":                     "the container's signal handler writes a file into its root file system, which stays in runsc's memory overlay (--overlay=memory, the default)",
}

// pidsHeadroom is why the programs that read the sandbox's pids.max fail:
// runsc enforces linux.resources.pids.limit on the container's tasks in
// the Sentry, and gives the host cgroup room for the Sentry's own threads
// and the stubs' (runsc/cgroup: 4×limit+256), so that the limit makes fork
// fail with EAGAIN rather than the Sentry fail to start a thread.
const pidsHeadroom = "the host cgroup's pids.max is the spec's limit with headroom for the Sentry's threads (the Sentry enforces the limit itself)"

// racyRuntimeTools are validation programs whose outcome depends on timing,
// with either runtime: TestRuntimeTools logs their result and nothing more.
var racyRuntimeTools = map[string]string{
	"pidfile": "the container runs true, which may exit before the test's kill; kill on a stopped container is an error, as the spec says",
}

// tapResult is one validation program's run.
type tapResult struct {
	pass, fail, skip int
	// status is the program's exit status (-1: it did not run).
	status int
	// planned is the count of the plan line ("1..N"), -1 without one.
	planned int
	// failures are the "not ok" lines, and a missing or unmet plan.
	failures []string
}

// passed says whether the program ran, exited 0 and had only passing or
// skipped assertions, at least one passing, as many as its plan says (a
// stream that ends early, as runtimetest's does when one of its checks
// fails with an error, has no plan).
func (r tapResult) passed() bool {
	return r.status == 0 && r.fail == 0 && r.pass > 0 && r.planned == r.pass+r.fail+r.skip
}

func (r tapResult) String() string {
	return fmt.Sprintf("%d/%d", r.pass, r.pass+r.fail)
}

// parseTAP counts a TAP stream's results: "ok N" and "not ok N" lines,
// with "# SKIP" and "# TODO" directives counted as skipped, and reads its
// plan line ("1..N"). Indented lines are not results: runtime-tools
// quotes runtimetest's own TAP output, run inside the container, in its
// indented YAML diagnostics.
func parseTAP(out []byte) tapResult {
	r := tapResult{planned: -1}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		if n, found := strings.CutPrefix(line, "1.."); found {
			n, _, _ = strings.Cut(n, " ")
			if v, err := strconv.Atoi(n); err == nil {
				r.planned = v
			}
			continue
		}
		ok := strings.HasPrefix(line, "ok ")
		notOK := strings.HasPrefix(line, "not ok ")
		if !ok && !notOK {
			continue
		}
		_, directive, _ := strings.Cut(line, "#")
		directive = strings.ToUpper(strings.TrimSpace(directive))
		switch {
		case strings.HasPrefix(directive, "SKIP") || strings.HasPrefix(directive, "TODO"):
			r.skip++
		case ok:
			r.pass++
		default:
			r.fail++
			r.failures = append(r.failures, line)
		}
	}
	if n := r.pass + r.fail + r.skip; r.planned < 0 {
		r.failures = append(r.failures, fmt.Sprintf("no plan line after %d results: the stream ended early", n))
	} else if r.planned != n {
		r.failures = append(r.failures, fmt.Sprintf("plan 1..%d but %d results", r.planned, n))
	}
	return r
}

// TestParseTAP checks the TAP counting on the shapes runtime-tools prints.
func TestParseTAP(t *testing.T) {
	for _, tc := range []struct {
		name, in         string
		pass, fail, skip int
		passed           bool
	}{
		{"empty", "", 0, 0, 0, false},
		{"plan and results", "TAP version 13\nok 1 - a\nnot ok 2 - b\nok 3 - c\n1..3\n", 2, 1, 0, false},
		{"all pass", "TAP version 13\nok 1 - a\nok 2 # SKIP b\n1..2\n", 1, 0, 1, true},
		{"plan first", "1..1\nok 1 - a\n", 1, 0, 0, true},
		{"no plan: ended early", "ok 1 - a\nok 2 - b\n", 2, 0, 0, false},
		{"plan unmet", "ok 1 - a\n1..2\n", 1, 0, 0, false},
		{"skip and todo", "ok 1 # SKIP no cgroup\nnot ok 2 # TODO later\nok 3 # skip lower case\n1..3\n", 0, 0, 3, false},
		{"yaml diagnostics ignored", "not ok 1 - x\n  ---\n  ok: not a result\n  1..9\n  ...\n1..1\n", 0, 1, 0, false},
		{"indented lines are not results", "    ok 1 - inner\n  not ok 2 - inner\n    1..2\nok 1 - outer\n1..1\n", 1, 0, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := parseTAP([]byte(tc.in))
			if r.pass != tc.pass || r.fail != tc.fail || r.skip != tc.skip {
				t.Errorf("parseTAP: pass %d fail %d skip %d, want %d %d %d", r.pass, r.fail, r.skip, tc.pass, tc.fail, tc.skip)
			}
			if got := r.passed(); got != tc.passed {
				t.Errorf("parseTAP(...).passed() = %v, want %v (%+v)", got, tc.passed, r)
			}
		})
	}
}

// TestRuntimeTools builds the validation programs of the OCI conformance
// suite (runtime-tools v0.9.0, from the Go module proxy into the module
// cache, never into our go.mod) and runs each with RUNTIME=runc (Debian's)
// and RUNTIME=runsc on this machine, then logs the pass counts side by
// side. It takes about ten minutes: it runs only with BZ_CLIENTS=1
// (`BZ_CLIENTS=1 go test ./test/clients -run RuntimeTools -v -timeout 40m`).
func TestRuntimeTools(t *testing.T) {
	if os.Getenv("BZ_CLIENTS") == "" {
		t.Skip("the OCI conformance suite takes about ten minutes: set BZ_CLIENTS=1 (and -timeout 40m)")
	}
	runc := lookPath(t, "/usr/sbin/runc", "runc")
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool to build runtime-tools")
	}
	w := newWorld(t)
	// runc's run of linux_rootfs_propagation leaves its bundle's mounts in
	// this mount namespace; the world's clean-up removes them.
	w.strayMountsOK = true
	suite := buildRuntimeTools(t, w, goTool)

	runcWrapper := w.path("runc-wrapper")
	script := fmt.Sprintf("#!/bin/sh\nexec %s --root=%s \"$@\"\n", runc, w.path("runc-state"))
	if err := os.WriteFile(runcWrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// The suite deletes what it creates; whatever a crashed program
		// left goes here.
		for _, rt := range []string{runcWrapper, w.runsc} {
			for _, id := range strings.Fields(string(w.try(env(), rt, "list", "--quiet").Stdout)) {
				w.try(env(), rt, "delete", "--force", id)
			}
		}
	})

	programs, err := filepath.Glob(filepath.Join(suite, "bin", "*"))
	if err != nil || len(programs) == 0 {
		t.Fatalf("no validation programs built in %s: %v", suite, err)
	}
	sort.Strings(programs)
	results := map[string][2]tapResult{}
	for _, prog := range programs {
		name := filepath.Base(prog)
		var r [2]tapResult
		for i, rt := range []string{runcWrapper, w.runsc} {
			r[i] = runValidation(w, suite, prog, rt)
		}
		results[name] = r
	}
	reportRuntimeTools(t, programs, results)
}

// buildRuntimeTools fetches runtime-tools into the module cache, copies it
// into the world with the pinned go.mod and go.sum, and builds runtimetest
// (static, copied into every bundle by the suite) and the validation
// programs into bin/. It returns the copy's directory, where the programs
// must run (they read rootfs-amd64.tar.gz and runtimetest from there).
func buildRuntimeTools(t *testing.T, w *world, goTool string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	goEnv := append(os.Environ(), "GOFLAGS=-mod=mod", "GO111MODULE=on", "GOWORK=off")
	dl := runsctest.Run(ctx, runsctest.Command{Argv: []string{goTool, "mod", "download", "-json", runtimeToolsModule},
		Env: goEnv, Dir: w.dir})
	if dl.Status != 0 {
		t.Fatalf("go mod download %s: %s", runtimeToolsModule, dl)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(dl.Stdout, &mod); err != nil || mod.Dir == "" {
		t.Fatalf("go mod download %s: no module directory in %q: %v", runtimeToolsModule, dl.Stdout, err)
	}
	src := w.path("runtime-tools")
	w.run(env(), "cp", "-r", mod.Dir, src)
	w.run(env(), "chmod", "-R", "u+w", src)
	for from, to := range map[string]string{"testdata/runtime-tools.mod": "go.mod", "testdata/runtime-tools.sum": "go.sum"} {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, to), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(src, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, argv := range [][]string{
		{goTool, "build", "-o", "runtimetest", "./cmd/runtimetest"},
		{goTool, "build", "-o", "bin/", "./validation/..."},
	} {
		r := runsctest.Run(ctx, runsctest.Command{Argv: argv, Env: append(goEnv, "CGO_ENABLED=0"), Dir: src})
		if r.Status != 0 {
			t.Fatalf("building runtime-tools (%s): %s", strings.Join(argv[1:], " "), r)
		}
	}
	return src
}

// runValidation runs one validation program with RUNTIME=runtime, from the
// suite's directory, with its temporary bundles in the world.
func runValidation(w *world, suite, prog, runtime string) tapResult {
	tmp := w.path("tmp")
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		w.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	res := runsctest.Run(ctx, runsctest.Command{Argv: []string{prog}, Env: env("RUNTIME="+runtime, "TMPDIR="+tmp), Dir: suite})
	r := parseTAP(res.Stdout)
	r.status = res.Status
	if res.TimedOut {
		r.failures = append(r.failures, "timed out")
	}
	return r
}

// reportRuntimeTools logs the table of results and fails t for runsc
// failures that runc passes and knownRuntimeToolsFailures does not list.
func reportRuntimeTools(t *testing.T, programs []string, results map[string][2]tapResult) {
	var table strings.Builder
	fmt.Fprintf(&table, "%-36s %10s %10s\n", "validation program", "runc", "runsc")
	var totals [2]struct{ pass, all, programs int }
	for _, prog := range programs {
		name := filepath.Base(prog)
		r := results[name]
		mark := [2]string{}
		for i := range r {
			totals[i].pass += r[i].pass
			totals[i].all += r[i].pass + r[i].fail
			if r[i].passed() {
				totals[i].programs++
			} else {
				mark[i] = " ✗"
			}
		}
		fmt.Fprintf(&table, "%-36s %10s %10s\n", name, r[0].String()+mark[0], r[1].String()+mark[1])
		reason, known := knownRuntimeToolsFailures[name]
		if why, racy := racyRuntimeTools[name]; racy {
			t.Logf("%s (timing-dependent: %s): runc %s, runsc %s", name, why, r[0], r[1])
			continue
		}
		switch {
		case r[0].passed() && !r[1].passed() && !known:
			t.Errorf("%s passes with runc and fails with runsc (exit %d): %s", name, r[1].status, strings.Join(r[1].failures, "; "))
		case known && r[1].passed():
			t.Errorf("%s passes with runsc now: remove it from knownRuntimeToolsFailures (%s)", name, reason)
		case !r[1].passed():
			t.Logf("%s fails with runsc (exit %d; runc: %s): %s", name, r[1].status, r[0], strings.Join(r[1].failures, "; "))
		}
	}
	fmt.Fprintf(&table, "%-36s %10s %10s\n", "assertions passed",
		fmt.Sprintf("%d/%d", totals[0].pass, totals[0].all), fmt.Sprintf("%d/%d", totals[1].pass, totals[1].all))
	fmt.Fprintf(&table, "%-36s %10s %10s\n", "programs passed",
		fmt.Sprintf("%d/%d", totals[0].programs, len(programs)), fmt.Sprintf("%d/%d", totals[1].programs, len(programs)))
	t.Logf("OCI conformance (%s) on this machine:\n%s", runtimeToolsModule, table.String())
}
