package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// Processes, threads and signals as real programs use them: shells that
// fork, pipe, wait and trap; a pthreads program; a C program using every
// way of starting and reaping a child; and a Go program (goroutines,
// timers, os/exec, os/signal). Each must match its native run.

// staticCProgram builds testdata/SRC statically (with -pthread) once.
func staticCProgram(t *testing.T, name, src string) string {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed (apt-get install gcc)")
	}
	return built(t, name, func(out string) error {
		b, err := exec.Command("gcc", "-static", "-O1", "-pthread", "-o", out, "testdata/"+src).CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v\n%s", err, b)
		}
		return nil
	})
}

func goProcs(t *testing.T) string { return goProgram(t, "goprocs") }

// shellScripts are run by every shell under test. Each prints what it saw;
// none uses sleep to synchronise (a sleeping child is only ever a victim).
var shellScripts = []struct{ name, script string }{
	{"for", `for i in 1 2 3; do echo "i=$i"; done`},
	{"subst", `x=$(echo sub; echo shell); echo "x=$x"; y=$(echo $(echo nested)); echo "y=$y"`},
	{"pipeline", `echo "c b a" | tr ' ' '\n' | sort; echo "pipestatus=$?"`},
	{"pipeline-status", `true | false; echo "last=$?"; false | true; echo "last=$?"`},
	{"exit-status", `(exit 7); echo "sub=$?"; false; echo "false=$?"; /bin/sh -c 'exit 3'; echo "sh=$?"; /nonexistent/cmd 2>/dev/null; echo "missing=$?"`},
	{"background-wait", `(exit 5) & p=$!; wait $p; echo "bg=$?"; echo a > /dev/null & echo b > /dev/null & wait; echo "all=$?"`},
	{"trap-int", `trap 'echo caught INT' INT; kill -INT $$; echo after-trap`},
	{"trap-exit", `trap 'echo exit-trap' EXIT; echo body`},
	// Whether busybox reports "Terminated" on stderr depends on when it
	// reaps the job, so stderr is not compared.
	{"kill-term", `exec 2>/dev/null; sleep 30 & p=$!; kill -TERM $p; wait $p; echo "term=$?"`},
	// bash reports the killed job with its pid on stderr: not comparable.
	{"kill-kill", `exec 2>/dev/null; sleep 30 & p=$!; kill -9 $p; wait $p; echo "killed=$?"`},
	{"ulimit", `ulimit -n; ulimit -n 64; ulimit -n; sh -c 'ulimit -n'`},
	{"exit-code", `echo out; echo err >&2; exit 42`},
}

func shellTest(t *testing.T, shell []string) {
	for _, s := range shellScripts {
		t.Run(s.name, func(t *testing.T) {
			argv := append(append([]string{}, shell...), "-c", s.script)
			same(t, run{argv: argv}, func(t *testing.T, n runsctest.Result) {
				if len(n.Stdout) == 0 {
					t.Errorf("no output")
				}
			})
		})
	}
}

func TestBusyboxShell(t *testing.T) {
	shellTest(t, []string{busybox(t), "sh"})
}

func TestHostShells(t *testing.T) {
	for _, sh := range []string{"/bin/bash", "/bin/sh"} {
		t.Run(strings.TrimPrefix(sh, "/bin/"), func(t *testing.T) {
			if _, err := os.Stat(sh); err != nil {
				t.Skipf("%s not on this host", sh)
			}
			shellTest(t, []string{sh})
		})
	}
}

// forkScript forks 200 times three ways: an external command, a command
// substitution and a subshell.
const forkScript = `n=0
i=0
while [ $i -lt 200 ]; do
  i=$((i+1))
  /bin/true || exit 1
  v=$(echo $i)
  ( n=0 )
  n=$((n+v))
done
echo "forks=$i sum=$n"`

func TestShellForks200(t *testing.T) {
	for _, sh := range []string{"/bin/bash", "/bin/sh"} {
		t.Run(strings.TrimPrefix(sh, "/bin/"), func(t *testing.T) {
			if _, err := os.Stat(sh); err != nil {
				t.Skipf("%s not on this host", sh)
			}
			same(t, run{argv: []string{sh, "-c", forkScript}}, wantStatus(0, "forks=200 sum=20100\n"))
		})
	}
}

func TestPthreads(t *testing.T) {
	bin := staticCProgram(t, "pthreads", "pthreads.c")
	same(t, run{argv: []string{bin}}, wantStatus(0, "threads=64 counter=64000 ring=128 sum=4032\n"))
}

func TestProcs(t *testing.T) {
	bin := staticCProgram(t, "procs", "procs.c")
	want := `fork: exited 3
child argv: 7 x
execve: exited 7
echo via execve
echo: exited 0
waitid: code=CLD_EXITED status=9 pid-ok=1
killed: killed by 15
child argv: 5 -
posix_spawn: exited 5
posix_spawn missing: No such file or directory
child argv: 11 vforked
vfork: exited 11
wait with no children: -1 No child processes
`
	same(t, run{argv: []string{bin}}, wantStatus(0, want))
}

func TestGoProcs(t *testing.T) {
	bin := goProcs(t)
	env := append([]string{"GOMAXPROCS=2"}, baseEnv...)
	want := `GOMAXPROCS: 2
goroutines: sum 499500
timers: slept enough: true
exec: "from exec\n" err=<nil>
exec false: exit status 1
signal: user defined signal 1
`
	same(t, run{argv: []string{bin}, env: env}, wantStatus(0, want))
}
