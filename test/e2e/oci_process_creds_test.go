package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The container process's credentials from the spec's process: the five
// capability sets after the runtime's final execve (capabilities(7): root
// gets its bounding and inheritable sets, a user only its ambient set),
// noNewPrivileges and oomScoreAdj, as /proc/self/status and
// /proc/self/oom_score_adj show them inside. Each case runs under runsc
// and, when it is installed, runc; both must print what the case expects.

// capMask returns the mask of capability numbers.
func capMask(caps ...uint) string {
	var m uint64
	for _, c := range caps {
		m |= 1 << c
	}
	return fmt.Sprintf("%016x", m)
}

// Capability numbers of capabilities(7).
const (
	capChown          = 0
	capKill           = 5
	capSetPCap        = 8
	capNetBindService = 10
	capNetRaw         = 13
	capAuditWrite     = 29
)

func TestOCIProcessCredentials(t *testing.T) {
	oom := func(v int) *int { return &v }
	for _, tc := range []struct {
		name string
		edit func(p *specs.Process)
		want map[string]string
	}{
		{
			name: "runsc spec's default",
			edit: func(*specs.Process) {},
			want: map[string]string{
				"CapInh": capMask(), "CapAmb": capMask(),
				"CapPrm":     capMask(capKill, capNetBindService, capAuditWrite),
				"CapEff":     capMask(capKill, capNetBindService, capAuditWrite),
				"CapBnd":     capMask(capKill, capNetBindService, capAuditWrite),
				"NoNewPrivs": "1", "oom_score_adj": "0",
			},
		},
		{
			name: "root gets its bounding set; ambient kept",
			edit: func(p *specs.Process) {
				p.Capabilities = &specs.LinuxCapabilities{
					Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_NET_RAW", "CAP_SETPCAP"},
					Effective:   []string{"CAP_KILL"},
					Permitted:   []string{"CAP_KILL", "CAP_NET_RAW"},
					Inheritable: []string{"CAP_NET_RAW"},
					Ambient:     []string{"CAP_NET_RAW"},
				}
				p.NoNewPrivileges = false
				p.OOMScoreAdj = oom(500)
			},
			want: map[string]string{
				"CapInh": capMask(capNetRaw), "CapAmb": capMask(capNetRaw),
				"CapPrm":     capMask(capChown, capKill, capNetRaw, capSetPCap),
				"CapEff":     capMask(capChown, capKill, capNetRaw, capSetPCap),
				"CapBnd":     capMask(capChown, capKill, capNetRaw, capSetPCap),
				"NoNewPrivs": "0", "oom_score_adj": "500",
			},
		},
		{
			name: "a user keeps only its ambient set",
			edit: func(p *specs.Process) {
				p.User = specs.User{UID: 1000, GID: 1000}
				p.Capabilities = &specs.LinuxCapabilities{
					Bounding:    []string{"CAP_KILL", "CAP_NET_RAW"},
					Effective:   []string{"CAP_KILL", "CAP_NET_RAW"},
					Permitted:   []string{"CAP_KILL", "CAP_NET_RAW"},
					Inheritable: []string{"CAP_NET_RAW"},
					Ambient:     []string{"CAP_NET_RAW"},
				}
				p.OOMScoreAdj = oom(1000)
			},
			want: map[string]string{
				"CapInh": capMask(capNetRaw), "CapAmb": capMask(capNetRaw),
				"CapPrm": capMask(capNetRaw), "CapEff": capMask(capNetRaw),
				"CapBnd":     capMask(capKill, capNetRaw),
				"NoNewPrivs": "1", "oom_score_adj": "1000",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, env := range runscAndRunc(t, "/bin/cat", "/proc/self/status", "/proc/self/oom_score_adj") {
				e := *env
				e.t = t
				e.editSpec(func(s *specs.Spec) { tc.edit(s.Process) })
				out, code := e.run("run", "--bundle", e.bundle, "creds-"+name)
				if code != 0 {
					t.Fatalf("%s run: exit %d: %s", name, code, out)
				}
				got := map[string]string{}
				lines := strings.Split(strings.TrimSpace(out), "\n")
				for _, l := range lines {
					if k, v, ok := strings.Cut(l, ":"); ok {
						got[k] = strings.TrimSpace(v)
					}
				}
				got["oom_score_adj"] = lines[len(lines)-1]
				for k, want := range tc.want {
					if got[k] != want {
						t.Errorf("%s: %s = %q, want %q", name, k, got[k], want)
					}
				}
			}
		})
	}
}

// TestOCIExecOOMScoreAdj checks that an exec'd process gets the
// container's process.oomScoreAdj, even after init changed its own, as
// with runc.
func TestOCIExecOOMScoreAdj(t *testing.T) {
	for name, env := range runscAndRunc(t, "/bin/sleep", "1000") {
		t.Run(name, func(t *testing.T) {
			e := *env
			e.t = t
			adj := 500
			e.editSpec(func(s *specs.Spec) { s.Process.OOMScoreAdj = &adj })
			id := "oom-exec-" + name
			e.mustRun("run", "--detach", "--bundle", e.bundle, id)
			// On the host, the state's pid (runc's container process,
			// runsc's sandbox) has the score too.
			pid := e.state(id).Pid
			if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/oom_score_adj", pid)); err != nil || string(b) != "500\n" {
				t.Errorf("host process %d: oom_score_adj %q, %v; want 500", pid, b, err)
			}
			if got := e.mustRun("exec", id, "cat", "/proc/self/oom_score_adj"); got != "500\n" {
				t.Errorf("exec'd process: oom_score_adj %q, want 500", got)
			}
			e.mustRun("exec", id, "sh", "-c", "echo 700 > /proc/1/oom_score_adj")
			if got := e.mustRun("exec", id, "cat", "/proc/1/oom_score_adj", "/proc/self/oom_score_adj"); got != "700\n500\n" {
				t.Errorf("after init's change: init's and an exec'd process's oom_score_adj %q, want 700 and 500", got)
			}
			e.mustRun("kill", id, "KILL")
			e.waitStatus(id, specs.StateStopped)
			e.mustRun("delete", id)
		})
	}
}

// TestOCIExecNoNewPrivs: an exec'd process has no_new_privs when the
// container's process has it or exec is given --no-new-privs, as with runc.
func TestOCIExecNoNewPrivs(t *testing.T) {
	for name, env := range runscAndRunc(t, "/bin/sleep", "1000") {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				spec bool
				flag []string
				want string
			}{
				{spec: false, want: "0"},
				{spec: false, flag: []string{"--no-new-privs"}, want: "1"},
				{spec: true, want: "1"},
			} {
				e := *env
				e.t = t
				e.editSpec(func(s *specs.Spec) { s.Process.NoNewPrivileges = tc.spec })
				id := fmt.Sprintf("nnp-exec-%s-%v-%d", name, tc.spec, len(tc.flag))
				e.mustRun("run", "--detach", "--bundle", e.bundle, id)
				args := append(append([]string{"exec"}, tc.flag...), id, "cat", "/proc/self/status")
				got := "none"
				for _, line := range strings.Split(e.mustRun(args...), "\n") {
					if f := strings.Fields(line); len(f) == 2 && f[0] == "NoNewPrivs:" {
						got = f[1]
					}
				}
				if got != tc.want {
					t.Errorf("spec noNewPrivileges %v, exec %v: NoNewPrivs %s, want %s", tc.spec, tc.flag, got, tc.want)
				}
				e.mustRun("kill", id, "KILL")
				e.waitStatus(id, specs.StateStopped)
				e.mustRun("delete", id)
			}
		})
	}
}
