package e2e

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestConfineSandboxProcesses checks, from the host, what the Sentry and
// the Gofer of a running container are left with once confined: their own
// pid, mount, ipc, uts and network namespaces, no host file system beyond
// what each serves or needs, no_new_privs, a seccomp filter, and only the
// capabilities each keeps (none for the Sentry; CAP_DAC_READ_SEARCH for
// the Gofer of a read-only root).
func TestConfineSandboxProcesses(t *testing.T) {
	ociRoot(t)
	e := newOCIEnv(t, "/bin/sleep", "1000")
	e.mustRun("run", "--detach", "--bundle", e.bundle, "c1")
	sentry := e.state("c1").Pid
	gofer := goferOf(t, filepath.Join(e.bundle, "rootfs"))
	const dacReadSearch = "0000000000000004"
	for _, p := range []struct {
		name string
		pid  int
		caps string
		root []string
	}{
		{"sentry", sentry, "0000000000000000", nil},
		{"gofer", gofer, dacReadSearch, []string{"mnt", "proc", "root"}},
	} {
		t.Run(p.name, func(t *testing.T) {
			status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.pid))
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{
				"CapInh:\t0000000000000000", "CapPrm:\t" + p.caps, "CapEff:\t" + p.caps,
				"CapBnd:\t" + p.caps, "CapAmb:\t0000000000000000", "NoNewPrivs:\t1", "Seccomp:\t2",
			} {
				if !bytes.Contains(status, []byte(want+"\n")) {
					t.Errorf("status lacks %q:\n%s", want, status)
				}
			}
			for _, ns := range []string{"pid", "mnt", "ipc", "uts", "net"} {
				own, err1 := os.Readlink("/proc/self/ns/" + ns)
				its, err2 := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", p.pid, ns))
				if err1 != nil || err2 != nil || own == its {
					t.Errorf("%s namespace is the host's (%s; %v, %v)", ns, its, err1, err2)
				}
			}
			ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/root", p.pid)) // sorted
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if err != nil || strings.Join(names, " ") != strings.Join(p.root, " ") {
				t.Errorf("its root holds %v (%v), want %v", names, err, p.root)
			}
		})
	}
	e.mustRun("delete", "--force", "c1")
}

// goferOf returns the PID of the one Gofer serving root.
func goferOf(t *testing.T, root string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			continue
		}
		args := strings.Split(string(cmdline), "\x00")
		for i, a := range args {
			if a == "gofer" && i+2 < len(args) && args[i+1] == "--root" && args[i+2] == root {
				found = append(found, pid)
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("gofers serving %s: %v, want one", root, found)
	}
	return found[0]
}
