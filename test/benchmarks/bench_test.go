// Package benchmarks measures the sandbox against native execution in the
// same run: system call round trips, start-up time and memory. Results are
// reported as benchmark metrics (ratios included), never as pass/fail
// timings.
//
//	go test ./test/benchmarks -run '^$' -bench . -benchtime 5x
package benchmarks

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"bufferzone.dev/test/e2e/runsctest"
)

func TestMain(m *testing.M) { runsctest.Main(m) }

// buildLoop compiles testdata/syscall_loop.c statically.
func buildLoop(b *testing.B) string {
	b.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		b.Skip("gcc not installed")
	}
	_, file, _, _ := runtime.Caller(0)
	src := filepath.Join(filepath.Dir(file), "testdata", "syscall_loop.c")
	out := filepath.Join(b.TempDir(), "syscall_loop")
	if msg, err := exec.Command("gcc", "-O2", "-static", "-o", out, src).CombinedOutput(); err != nil {
		b.Fatalf("gcc: %v\n%s", err, msg)
	}
	return out
}

func run(b *testing.B, argv []string) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	r := runsctest.Run(ctx, runsctest.Command{Argv: argv})
	if r.Status != 0 {
		b.Fatalf("%v: %v", argv, r)
	}
	return strings.TrimSpace(string(r.Stdout))
}

// BenchmarkGetpid reports the mean cost of one getpid round trip natively
// and in the sandbox (ns/syscall), and their ratio.
func BenchmarkGetpid(b *testing.B) {
	loop := buildLoop(b)
	runsc := runsctest.RequireDo(b)
	const calls = "20000"
	for _, p := range append([]string{"native"}, runsctest.Platforms()...) {
		if p != "native" && !runsctest.Required(p) {
			continue
		}
		b.Run(p, func(b *testing.B) {
			var total float64
			for i := 0; i < b.N; i++ {
				argv := []string{loop, "getpid", calls}
				if p != "native" {
					argv = runsctest.DoArgv(runsc, []string{"--platform=" + p}, nil, argv)
				}
				ns, err := strconv.ParseFloat(run(b, argv), 64)
				if err != nil {
					b.Fatal(err)
				}
				total += ns
			}
			b.ReportMetric(total/float64(b.N), "ns/syscall")
		})
	}
}

// BenchmarkStartup reports the wall time from start to exit of /bin/true,
// natively and under `runsc do`.
func BenchmarkStartup(b *testing.B) {
	runsc := runsctest.RequireDo(b)
	for _, p := range append([]string{"native"}, runsctest.Platforms()...) {
		if p != "native" && !runsctest.Required(p) {
			continue
		}
		b.Run(p, func(b *testing.B) {
			argv := []string{"/bin/true"}
			if p != "native" {
				argv = runsctest.DoArgv(runsc, []string{"--platform=" + p}, nil, argv)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				run(b, argv)
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/start")
		})
	}
}

// BenchmarkSandboxMemory reports the resident memory of the Sentry (runsc
// boot) and the Gofer while a program that has started waits on stdin.
func BenchmarkSandboxMemory(b *testing.B) {
	loop := buildLoop(b)
	runsc := runsctest.RequireDo(b)
	var sentryKB, goferKB float64
	for i := 0; i < b.N; i++ {
		cmd := exec.Command(runsc, "do", loop, "wait")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			b.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			b.Fatal(err)
		}
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil || line != "ready\n" {
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			cmd.Wait()
			b.Fatalf("sandbox did not become ready: %q %v", line, err)
		}
		for _, child := range childrenOf(cmd.Process.Pid) {
			rss := rssKB(child)
			switch commandOf(child) {
			case "boot":
				sentryKB += rss
			case "gofer":
				goferKB += rss
			}
		}
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(sentryKB/float64(b.N)/1024, "sentry-MB")
	b.ReportMetric(goferKB/float64(b.N)/1024, "gofer-MB")
}

// childrenOf lists the PIDs whose parent is pid.
func childrenOf(pid int) []int {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + strconv.Itoa(pid) + "/children")
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

// commandOf returns the runsc subcommand a process runs ("boot", "gofer").
func commandOf(pid int) string {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return ""
	}
	for _, a := range strings.Split(string(data), "\x00") {
		if a == "boot" || a == "gofer" {
			return a
		}
	}
	return ""
}

// rssKB returns a process's VmRSS in KiB.
func rssKB(pid int) float64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.ParseFloat(f[0], 64)
				return n
			}
		}
	}
	return 0
}
