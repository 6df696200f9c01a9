package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestOCIHooks checks that the spec's hooks run on the host in the
// lifecycle's order, each given the container's state with the status of
// its stage, for run and for create and start (then kill and delete); and
// that a failing createRuntime hook fails create and run and leaves
// nothing behind.
func TestOCIHooks(t *testing.T) {
	ociRoot(t)
	e := newOCIEnv(t, "/bin/sleep", "1000")
	log := filepath.Join(t.TempDir(), "hooks")
	// Each hook appends its name and the status in its state to log.
	hook := func(name string) specs.Hook {
		return specs.Hook{Path: "/bin/sh", Args: []string{"sh", "-c",
			`echo ` + name + ` $(grep -o '"status":"[a-z]*"') >> ` + log}}
	}
	e.editSpec(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{
			//lint:ignore SA1019 Prestart is deprecated but still run, as runc does.
			Prestart:      []specs.Hook{hook("prestart")},
			CreateRuntime: []specs.Hook{hook("createRuntime")},
			Poststart:     []specs.Hook{hook("poststart")},
			Poststop:      []specs.Hook{hook("poststop")},
		}
	})
	want := `prestart "status":"created"
createRuntime "status":"created"
poststart "status":"running"
poststop "status":"stopped"
`
	check := func(how string) {
		t.Helper()
		data, err := os.ReadFile(log)
		if err != nil || string(data) != want {
			t.Errorf("%s: hooks ran as\n%s(%v), want\n%s", how, data, err, want)
		}
		os.Remove(log)
	}
	// The process outlives the poststart hooks, which see it running.
	e.mustRun("run", "--detach", "--bundle", e.bundle, "h1")
	e.mustRun("kill", "h1", "KILL")
	e.waitStatus("h1", specs.StateStopped)
	e.mustRun("delete", "h1")
	check("run")
	e.mustRun("create", "--bundle", e.bundle, "h2")
	e.mustRun("start", "h2")
	e.mustRun("kill", "h2", "KILL")
	e.waitStatus("h2", specs.StateStopped)
	e.mustRun("delete", "h2")
	check("create, start, delete")

	e.editSpec(func(s *specs.Spec) {
		s.Hooks = &specs.Hooks{CreateRuntime: []specs.Hook{{Path: "/bin/false"}}}
	})
	for _, cmd := range [][]string{{"create"}, {"run", "--detach"}} {
		if out, code := e.run(append(cmd, "--bundle", e.bundle, "h3")...); code == 0 || !strings.Contains(out, "/bin/false") {
			t.Errorf("%s with a failing hook: exit %d: %s", cmd, code, out)
		}
		if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
			t.Errorf("%s with a failing hook left %v behind", cmd, ents)
		}
	}
}
