package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The spec's linux.sysctl: the values are what the container reads back
// from /proc/sys, and a sysctl the container may not set or the kernel
// does not have fails the start naming it. Each case runs under runsc and,
// when it is installed, runc; both must agree.

func TestOCISysctl(t *testing.T) {
	for name, env := range runscAndRunc(t, "/bin/cat", "/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/core/somaxconn") {
		t.Run(name, func(t *testing.T) {
			e := *env
			e.t = t
			for _, tc := range []struct{ forward, somaxconn string }{{"1", "77"}, {"0", "4096"}} {
				e.editSpec(func(s *specs.Spec) {
					// Both notations of sysctl.d(5).
					s.Linux.Sysctl = map[string]string{"net.ipv4.ip_forward": tc.forward, "net/core/somaxconn": tc.somaxconn}
				})
				out, code := e.run("run", "--bundle", e.bundle, "sysctl-"+tc.forward)
				if want := tc.forward + "\n" + tc.somaxconn + "\n"; code != 0 || out != want {
					t.Errorf("run with ip_forward=%s somaxconn=%s: exit %d, output %q; want 0, %q", tc.forward, tc.somaxconn, code, out, want)
				}
			}
		})
	}
}

func TestOCISysctlRefused(t *testing.T) {
	withoutNetns := func(s *specs.Spec) {
		s.Linux.Namespaces = slices.DeleteFunc(s.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.NetworkNamespace })
	}
	for name, env := range runscAndRunc(t, "/bin/true") {
		t.Run(name, func(t *testing.T) {
			config := filepath.Join(env.bundle, "config.json")
			orig, err := os.ReadFile(config)
			if err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				name, key, value string
				edit             func(*specs.Spec)
			}{
				{"missing", "net.ipv4.no_such_sysctl", "1", nil},
				{"bad value", "net.ipv4.ip_forward", "abc", nil},
				{"host network", "net.ipv4.ip_forward", "1", withoutNetns},
				{"not namespaced", "kernel.pid_max", "1000", nil},
				{"hostname", "kernel.hostname", "h", nil},
			} {
				t.Run(tc.name, func(t *testing.T) {
					e := *env
					e.t = t
					if err := os.WriteFile(config, orig, 0o644); err != nil {
						t.Fatal(err)
					}
					e.editSpec(func(s *specs.Spec) {
						s.Linux.Sysctl = map[string]string{tc.key: tc.value}
						if tc.edit != nil {
							tc.edit(s)
						}
					})
					id := "bad-" + strings.ReplaceAll(tc.name, " ", "-")
					// Output through a pipe, read to its end: a Sentry
					// that printed an error of its own could do so after
					// run has exited.
					ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
					defer cancel()
					b, err := e.cmd(ctx, "run", "--bundle", e.bundle, id).CombinedOutput()
					out := string(b)
					if err == nil {
						t.Fatalf("run succeeded: %q", out)
					}
					// The first line is the error; runc names the file for
					// a write that fails.
					first, _, _ := strings.Cut(out, "\n")
					path := "/proc/sys/" + strings.ReplaceAll(tc.key, ".", "/")
					if !strings.Contains(first, tc.key) && !(name == "runc" && strings.Contains(first, path)) {
						t.Errorf("the first line of the error does not name %s: %q", tc.key, out)
					}
					// runsc says it in one line (runc logs more).
					if lines := strings.Count(strings.TrimSpace(out), "\n") + 1; name == "runsc" && lines != 1 {
						t.Errorf("%d lines of error, want 1: %q", lines, out)
					}
					e.run("delete", "--force", id)
					if ents, _ := os.ReadDir(e.root); len(ents) != 0 {
						t.Errorf("state left behind: %v", ents)
					}
				})
			}
		})
	}
}
