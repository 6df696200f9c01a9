package e2e

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// The signals a container's init takes, as pid_namespaces(7) and runc
// have them: init is the init of a PID namespace, so a signal from inside
// the container (`kill 1` from an exec'd process) reaches it only if init
// handles it, even SIGKILL and SIGSTOP; from outside (`kill ID SIG`, the
// parent namespace) SIGKILL and SIGSTOP always do, and other signals again
// only if init handles them. `docker stop` of a shell without a TERM
// handler therefore needs its SIGKILL, with runc as with runsc.
//
// Every case also runs under runc when it is installed, as the oracle.

// runscAndRunc returns the environments to run a case in: runsc, and runc
// (the oracle) over the same bundle when this machine has it and we are
// root.
func runscAndRunc(t *testing.T, argv ...string) map[string]*ociEnv {
	e := newOCIEnv(t, argv...)
	envs := map[string]*ociEnv{"runsc": e}
	if runc, err := exec.LookPath("runc"); err == nil && unix.Geteuid() == 0 {
		r := *e
		r.runsc, r.root = runc, e.root+"-runc"
		t.Cleanup(func() {
			out, _ := r.run("list", "-q")
			for _, id := range strings.Fields(out) {
				r.run("delete", "--force", id)
			}
		})
		envs["runc"] = &r
	}
	return envs
}

// initStatus returns init's /proc/1/status lines, read by a process exec'd
// in the container.
func (e *ociEnv) initStatus(id string) map[string]string {
	e.t.Helper()
	out := e.mustRun("exec", id, "cat", "/proc/1/status")
	m := make(map[string]string)
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}

// waitInitState polls init's State line until it starts with prefix
// (a stop takes effect when init next runs, after kill returns).
func (e *ociEnv) waitInitState(id, prefix string) {
	e.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := e.initStatus(id)["State"]
		if strings.HasPrefix(st, prefix) {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("init is %q, want %s...", st, prefix)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// initMask returns a hex signal mask line of init's status.
func (e *ociEnv) initMask(id, key string) uint64 {
	e.t.Helper()
	v, err := strconv.ParseUint(e.initStatus(id)[key], 16, 64)
	if err != nil {
		e.t.Fatalf("%s of init: %v", key, err)
	}
	return v
}

func sigMask(sig unix.Signal) uint64 { return 1 << (uint(sig) - 1) }

// expectIgnored checks, right after a signal was sent to init, that init
// runs on and has no such signal pending: the signal was discarded, not
// merely not delivered yet.
func (e *ociEnv) expectIgnored(id string, sig unix.Signal, how string) {
	e.t.Helper()
	if st := e.state(id); st.Status != specs.StateRunning {
		e.t.Fatalf("%s: container is %s", how, st.Status)
	}
	st := e.initStatus(id)
	for _, k := range []string{"SigPnd", "ShdPnd"} {
		v, _ := strconv.ParseUint(st[k], 16, 64)
		if v&sigMask(sig) != 0 {
			e.t.Errorf("%s: %v pending for init (%s %s)", how, sig, k, st[k])
		}
	}
	if !strings.HasPrefix(st["State"], "S") && !strings.HasPrefix(st["State"], "R") {
		e.t.Errorf("%s: init is %q", how, st["State"])
	}
}

// exitStatus waits for the container to stop and returns `wait`'s status,
// or -1 under runc, which has no wait command (its cases then check that
// the container stopped, which an ignored signal would not do).
func (e *ociEnv) exitStatus(id, runtime string) int {
	e.t.Helper()
	e.waitStatus(id, specs.StateStopped)
	if runtime == "runc" {
		return -1
	}
	var w struct {
		ExitStatus int `json:"exitStatus"`
	}
	json.Unmarshal([]byte(e.mustRun("wait", id)), &w)
	return w.ExitStatus
}

func TestOCIInitSignalsWithoutHandler(t *testing.T) {
	for name, env := range runscAndRunc(t, "/bin/sleep", "1000") {
		t.Run(name, func(t *testing.T) {
			e := *env
			e.t = t
			id := "nohandler-" + name
			e.mustRun("run", "--detach", "--bundle", e.bundle, id)
			// From inside: nothing reaches init, not even SIGKILL; kill(2)
			// itself succeeds.
			for _, sig := range []unix.Signal{unix.SIGKILL, unix.SIGSTOP, unix.SIGTERM, unix.SIGHUP} {
				if out, code := e.run("exec", id, "kill", "-"+strconv.Itoa(int(sig)), "1"); code != 0 {
					t.Errorf("kill -%d 1 inside: exit %d: %s", sig, code, out)
				}
				e.expectIgnored(id, sig, fmt.Sprintf("kill -%d 1 inside", sig))
			}
			// From outside: signals init does not handle are discarded too.
			for _, sig := range []string{"TERM", "HUP", "USR1"} {
				e.mustRun("kill", id, sig)
				e.expectIgnored(id, unix.SignalNum("SIG"+sig), "kill "+sig)
			}
			// SIGSTOP and SIGCONT from outside do stop and continue it.
			e.mustRun("kill", id, "STOP")
			e.waitInitState(id, "T")
			e.mustRun("kill", id, "CONT")
			e.waitInitState(id, "S")
			e.mustRun("kill", id, "KILL")
			if st := e.exitStatus(id, name); st != -1 && st != 128+int(unix.SIGKILL) {
				t.Errorf("exit status after kill KILL: %d, want %d", st, 128+int(unix.SIGKILL))
			}
			e.mustRun("delete", id)
		})
	}
}

func TestOCIInitSignalsWithHandler(t *testing.T) {
	// The shell traps USR1 and TERM; `sleep & wait` lets a trap run at once.
	script := `trap "exit 3" USR1; trap "exit 4" TERM; sleep 1000 & wait`
	for name, env := range runscAndRunc(t, "/bin/sh", "-c", script) {
		for _, tc := range []struct {
			name   string
			send   func(e *ociEnv, id string)
			status int
		}{
			// The exec'd kill may itself be killed as init's death
			// empties the namespace: its status is not checked.
			{"inside", func(e *ociEnv, id string) { e.run("exec", id, "kill", "-USR1", "1") }, 3},
			{"outside", func(e *ociEnv, id string) { e.mustRun("kill", id, "TERM") }, 4},
		} {
			t.Run(name+"/"+tc.name, func(t *testing.T) {
				e := *env
				e.t = t
				id := "handler-" + tc.name + "-" + name
				e.mustRun("run", "--detach", "--bundle", e.bundle, id)
				// Until the shell has set its traps, the signals have
				// their default action (and init would ignore them).
				want := sigMask(unix.SIGUSR1) | sigMask(unix.SIGTERM)
				deadline := time.Now().Add(30 * time.Second)
				for e.initMask(id, "SigCgt")&want != want {
					if time.Now().After(deadline) {
						t.Fatalf("init never caught USR1 and TERM")
					}
					time.Sleep(10 * time.Millisecond)
				}
				tc.send(&e, id)
				if st := e.exitStatus(id, name); st != -1 && st != tc.status {
					t.Errorf("exit status %d, want %d (the trap's)", st, tc.status)
				}
				e.mustRun("delete", id)
			})
		}
	}
}
