package runsctest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// TestProbeELFNative checks that the hand-made probe executable runs on the
// host, so that a probe failure under a platform means the platform.
func TestProbeELFNative(t *testing.T) {
	exe := filepath.Join(t.TempDir(), "probe")
	if err := os.WriteFile(exe, ProbeELF(), 0o755); err != nil {
		t.Fatal(err)
	}
	r := Run(context.Background(), Command{Argv: []string{exe}})
	if r.Status != 0 || string(r.Stdout) != ProbeOutput || len(r.Stderr) != 0 {
		t.Fatalf("want status 0 and stdout %q, got %s", ProbeOutput, r)
	}
}

// TestRunStatus checks the shell-style status: exit codes as they are,
// signals as 128+N, and -1 with an error for a missing program.
func TestRunStatus(t *testing.T) {
	for _, tc := range []struct {
		argv []string
		want int
	}{
		{[]string{"/bin/sh", "-c", "exit 7"}, 7},
		{[]string{"/bin/sh", "-c", "kill -SEGV $$"}, 139},
		{[]string{"/nonexistent/bufferzone-missing"}, -1},
	} {
		r := Run(context.Background(), Command{Argv: tc.argv})
		if r.Status != tc.want {
			t.Errorf("%q: want status %d, got %s", tc.argv, tc.want, r)
		}
		if (tc.want == -1) != (r.Err != nil) {
			t.Errorf("%q: error %v, want one only for status -1", tc.argv, r.Err)
		}
	}
}
