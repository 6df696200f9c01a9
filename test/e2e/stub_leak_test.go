package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"bufferzone.dev/test/e2e/runsctest"
)

// stubPoolSize is how many spare stubs a platform keeps forked ahead of
// need (poolSize in pkg/sentry/platform/ptrace and .../systrap): the most
// the Sentry's host processes may grow by across the forks, the pool
// having been drawn on and refilled meanwhile.
const stubPoolSize = 2

// TestStubsDoNotLeak runs a program that forks 1000 children one after
// another (100 with -short), each exiting at once or execing /bin/true, and
// reaps them; meanwhile the sandbox runs nothing else. Afterwards, with the
// program still running, the Sentry's host descendants (stubs, the
// platform's template) must be no more than before the forks, but for the
// pool of spare stubs: every stub of a child that exited or exec'd is gone
// and reaped.
func TestStubsDoNotLeak(t *testing.T) {
	prog := staticCProgram(t, "forkmany", "forkmany.c")
	n := 1000
	if testing.Short() {
		n = 100
	}
	onPlatforms(t, func(t *testing.T, global []string) {
		for _, tc := range []struct {
			name string
			args []string
		}{
			{"exit", nil},
			{"exec", []string{"/bin/true"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				argv := append([]string{prog, strconv.Itoa(n)}, tc.args...)
				stubsAfterForks(t, global, argv, n)
			})
		}
	})
}

// stubsAfterForks runs forkmany (argv) in a sandbox and compares the
// Sentry's host descendants before and after its n forks.
func stubsAfterForks(t *testing.T, global, argv []string, n int) {
	runsc := runsctest.RequireDo(t)
	do := runsctest.DoArgv(runsc, global, nil, argv)
	cmd := exec.CommandContext(ctx(t), do[0], do[1:]...)
	cmd.Env = baseEnv
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		io.Copy(io.Discard, out)
		if err := cmd.Wait(); err != nil && !t.Failed() {
			t.Errorf("runsc do: %v; stderr:\n%s", err, stderr.String())
		}
	}()
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		t.Fatalf("the program did not start: %q, stderr:\n%s", lines.Text(), stderr.String())
	}
	sentries := childrenWith(t, cmd.Process.Pid, " boot ")
	if len(sentries) != 1 {
		t.Fatalf("%d Sentry processes under runsc do (%v), want 1", len(sentries), sentries)
	}
	sentry := sentries[0]
	before := descendants(t, sentry)
	if _, err := io.WriteString(stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if want := fmt.Sprintf("forked %d", n); !lines.Scan() || lines.Text() != want {
		t.Fatalf("the program printed %q, want %q; stderr:\n%s", lines.Text(), want, stderr.String())
	}
	t.Logf("%d forks in %v; the Sentry's host descendants before: %v", n, time.Since(start), before)
	// Stubs of exited address spaces are reaped in the background.
	var after []int
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = descendants(t, sentry)
		if len(after) <= len(before)+stubPoolSize || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("after: %v", after)
	var added []string
	for _, pid := range after {
		if !slices.Contains(before, pid) && len(added) < 10 {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			added = append(added, strings.TrimSpace(string(stat)))
		}
	}
	if len(after) > len(before)+stubPoolSize {
		t.Errorf("the Sentry has %d host descendants after %d forks, %d before (at most %d more allowed, for the pool); new ones (up to 10):\n%s",
			len(after), n, len(before), stubPoolSize, strings.Join(added, "\n"))
	}
}

// descendants returns the pids of every host process below pid, zombies
// included.
func descendants(t *testing.T, pid int) []int {
	t.Helper()
	var out []int
	for queue := childrenWith(t, pid, ""); len(queue) > 0; queue = queue[1:] {
		out = append(out, queue[0])
		queue = append(queue, childrenWith(t, queue[0], "")...)
	}
	return out
}
