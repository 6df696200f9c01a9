package cmd

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func registerForTest(cdr *subcommands.Commander) {
	cdr.Register(NewHelp(cdr), GroupHelpers)
	cdr.Register(new(Version), GroupHelpers)
	cdr.Register(new(Spec), GroupOCI)
}

// readSpec parses path strictly: every field must be one specs.Spec knows.
func readSpec(t *testing.T, path string) *specs.Spec {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading spec: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s specs.Spec
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return &s
}

func hasNamespace(s *specs.Spec, typ specs.LinuxNamespaceType) bool {
	for _, n := range s.Linux.Namespaces {
		if n.Type == typ {
			return true
		}
	}
	return false
}

func runMain(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Main(args, registerForTest, &out, &errb)
	return code, out.String(), errb.String()
}

func TestSpecDefault(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runMain("spec", "--bundle", dir); code != 0 {
		t.Fatalf("spec: exit %d, stderr %q", code, stderr)
	}
	s := readSpec(t, filepath.Join(dir, "config.json"))
	if s.Version != specs.Version {
		t.Errorf("ociVersion = %q, want %q", s.Version, specs.Version)
	}
	if s.Process == nil || !reflect.DeepEqual(s.Process.Args, []string{"sh"}) || !s.Process.Terminal {
		t.Errorf("process = %+v, want args [sh] on a terminal", s.Process)
	}
	if s.Process.Cwd != "/" || s.Process.User.UID != 0 {
		t.Errorf("process cwd %q uid %d, want / and 0", s.Process.Cwd, s.Process.User.UID)
	}
	if s.Root == nil || s.Root.Path != "rootfs" || !s.Root.Readonly {
		t.Errorf("root = %+v, want read-only rootfs", s.Root)
	}
	for _, ns := range []specs.LinuxNamespaceType{specs.PIDNamespace, specs.NetworkNamespace, specs.MountNamespace, specs.IPCNamespace, specs.UTSNamespace} {
		if !hasNamespace(s, ns) {
			t.Errorf("no %s namespace", ns)
		}
	}
	if hasNamespace(s, specs.UserNamespace) || len(s.Linux.UIDMappings) != 0 {
		t.Errorf("default spec has a user namespace")
	}
	dests := map[string]bool{}
	for _, m := range s.Mounts {
		dests[m.Destination] = true
	}
	for _, d := range []string{"/proc", "/dev", "/dev/pts", "/sys"} {
		if !dests[d] {
			t.Errorf("no mount at %s", d)
		}
	}
}

func TestSpecArgsAndRootless(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runMain("spec", "--bundle", dir, "--rootless", "--", "/bin/echo", "hi"); code != 0 {
		t.Fatalf("spec: exit %d, stderr %q", code, stderr)
	}
	s := readSpec(t, filepath.Join(dir, "config.json"))
	if !reflect.DeepEqual(s.Process.Args, []string{"/bin/echo", "hi"}) {
		t.Errorf("args = %q", s.Process.Args)
	}
	if !hasNamespace(s, specs.UserNamespace) || hasNamespace(s, specs.NetworkNamespace) {
		t.Errorf("rootless namespaces = %+v, want user and no network", s.Linux.Namespaces)
	}
	want := []specs.LinuxIDMapping{{ContainerID: 0, HostID: uint32(os.Getuid()), Size: 1}}
	if !reflect.DeepEqual(s.Linux.UIDMappings, want) {
		t.Errorf("uid mappings = %+v, want %+v", s.Linux.UIDMappings, want)
	}
	if len(s.Linux.GIDMappings) != 1 || s.Linux.GIDMappings[0].HostID != uint32(os.Getgid()) {
		t.Errorf("gid mappings = %+v", s.Linux.GIDMappings)
	}
	if s.Linux.Resources != nil {
		t.Errorf("rootless spec has resources %+v", s.Linux.Resources)
	}
	for _, m := range s.Mounts {
		if m.Type == "cgroup" || m.Type == "sysfs" {
			t.Errorf("rootless spec mounts %s at %s", m.Type, m.Destination)
		}
	}
}

func TestSpecRefusesOverwrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config.json")
	if err := os.WriteFile(path, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runMain("spec", "--bundle", dir)
	if code != 1 || !strings.Contains(stderr, "already exists") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("spec over existing file: exit %d, stderr %q; want 1 and one line", code, stderr)
	}
	if data, _ := os.ReadFile(path); string(data) != "mine" {
		t.Errorf("config.json was overwritten: %q", data)
	}
}

func TestSpecMissingBundle(t *testing.T) {
	code, _, stderr := runMain("spec", "--bundle", filepath.Join(t.TempDir(), "nope"))
	if code != 1 || !strings.HasPrefix(stderr, "runsc: spec: creating config:") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
}
