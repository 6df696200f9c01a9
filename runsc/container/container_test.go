package container

import (
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/cgroup"
)

func TestStateRoundTripAndDestroy(t *testing.T) {
	store := Store{Root: filepath.Join(t.TempDir(), "root")}
	// Stand-ins for cgroup directories: Destroy removes the ones in Made
	// (children first) and leaves the rest.
	base := t.TempDir()
	parent, leaf := filepath.Join(base, "parent"), filepath.Join(base, "parent", "leaf")
	if err := os.MkdirAll(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	cg := &cgroup.Cgroup{Dirs: map[string]string{"pids": leaf}, Made: []string{parent, leaf}}
	c, err := store.Create(State{ID: "c1", Bundle: "/b", Cgroup: cg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Create(State{ID: "c1"}); err == nil {
		t.Errorf("second create of c1 succeeded")
	}
	self, err := NewProc(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		recorded, want specs.ContainerState
		sandbox        Proc
	}{
		{Paused, Paused, self},
		{Running, Running, self},
		{Paused, Stopped, Proc{PID: self.PID, StartTime: self.StartTime + 1}}, // PID reused
		{Created, Stopped, Proc{}},
	} {
		c.State.Status, c.Sandbox = tc.recorded, tc.sandbox
		if err := c.Save(); err != nil {
			t.Fatal(err)
		}
		l, err := store.Load("c1")
		if err != nil {
			t.Fatal(err)
		}
		if got := l.Status(); got != tc.want {
			t.Errorf("recorded %s: status %s, want %s", tc.recorded, got, tc.want)
		}
		if l.Cgroup == nil || l.Cgroup.Dirs["pids"] != leaf || len(l.Cgroup.Made) != 2 {
			t.Errorf("cgroup after load: %+v", l.Cgroup)
		}
	}
	c.Sandbox = Proc{}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{parent, c.Dir()} {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("%s left after Destroy", d)
		}
	}
	if _, err := os.Stat(base); err != nil {
		t.Errorf("Destroy removed a directory it did not make: %v", err)
	}
}

// TestExitFile: the Sentry's exit-status file gives the status and, for a
// process that never started, the reason.
func TestExitFile(t *testing.T) {
	store := Store{Root: filepath.Join(t.TempDir(), "root")}
	c, err := store.Create(State{ID: "c1", Bundle: "/b"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, data string
		status     int
		ok         bool
		reason     string
	}{
		{"none", "", 0, false, ""},
		{"status", "137\n", 137, true, ""},
		{"start failure", "1\nsysctl \"a.b\": no such file\n", 1, true, `sysctl "a.b": no such file`},
		{"garbage", "x\n", 0, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.data != "" {
				if err := os.WriteFile(store.ExitFile("c1"), []byte(tc.data), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if status, ok := c.ExitStatus(); status != tc.status || ok != tc.ok {
				t.Errorf("ExitStatus = %d, %v; want %d, %v", status, ok, tc.status, tc.ok)
			}
			if got := c.StartError(); got != tc.reason {
				t.Errorf("StartError = %q, want %q", got, tc.reason)
			}
		})
	}
}
