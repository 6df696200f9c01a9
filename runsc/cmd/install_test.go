package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestInstallUninstall(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, before string
		runtime      string
		args         []string
		want         string // after install, as JSON
		afterRemove  string // after uninstall; "" means the file is {}
	}{
		{
			name: "missing-file", runtime: "runsc",
			want: `{"runtimes":{"runsc":{"path":"/bin/runsc"}}}`, afterRemove: `{}`,
		},
		{
			name: "empty-file", before: "", runtime: "gvisor", args: []string{"--platform=ptrace", "--strace"},
			want: `{"runtimes":{"gvisor":{"path":"/bin/runsc","runtimeArgs":["--platform=ptrace","--strace"]}}}`, afterRemove: `{}`,
		},
		{
			name:        "keeps-keys",
			before:      `{"storage-driver":"vfs","iptables":false,"exec-opts":["native.cgroupdriver=cgroupfs"],"runtimes":{"crun":{"path":"/usr/bin/crun"}}}`,
			runtime:     "runsc",
			want:        `{"storage-driver":"vfs","iptables":false,"exec-opts":["native.cgroupdriver=cgroupfs"],"runtimes":{"crun":{"path":"/usr/bin/crun"},"runsc":{"path":"/bin/runsc"}}}`,
			afterRemove: `{"storage-driver":"vfs","iptables":false,"exec-opts":["native.cgroupdriver=cgroupfs"],"runtimes":{"crun":{"path":"/usr/bin/crun"}}}`,
		},
		{
			name:    "replaces",
			before:  `{"runtimes":{"runsc":{"path":"/old/runsc","runtimeArgs":["--debug"]}},"debug":true}`,
			runtime: "runsc", args: []string{"--network=none"},
			want:        `{"runtimes":{"runsc":{"path":"/bin/runsc","runtimeArgs":["--network=none"]}},"debug":true}`,
			afterRemove: `{"debug":true}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name, "daemon.json")
			if tc.name != "missing-file" {
				os.MkdirAll(filepath.Dir(path), 0o755)
				os.WriteFile(path, []byte(tc.before), 0o600)
			}
			if err := installRuntime(path, tc.runtime, "/bin/runsc", tc.args); err != nil {
				t.Fatal(err)
			}
			sameJSON(t, path, tc.want)
			if tc.name != "missing-file" {
				if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
					t.Errorf("mode changed to %v", st.Mode().Perm())
				}
			}
			if err := uninstallRuntime(path, tc.runtime); err != nil {
				t.Fatal(err)
			}
			sameJSON(t, path, tc.afterRemove)
			if err := uninstallRuntime(path, tc.runtime); err == nil {
				t.Errorf("second uninstall: no error")
			}
		})
	}
	for name, bad := range map[string]string{"not-json": "{", "not-object": "[1]", "runtimes-not-object": `{"runtimes":[1]}`} {
		path := filepath.Join(dir, name+".json")
		os.WriteFile(path, []byte(bad), 0o644)
		if err := installRuntime(path, "runsc", "/bin/runsc", nil); err == nil || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: install error %v; want one line", name, err)
		}
		if data, _ := os.ReadFile(path); string(data) != bad {
			t.Errorf("%s: file changed to %q", name, data)
		}
	}
}

// sameJSON checks that path holds the JSON want (as values, not bytes).
func sameJSON(t *testing.T, path, want string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got, w any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("%s: %v: %q", path, err, data)
	}
	json.Unmarshal([]byte(want), &w)
	if !reflect.DeepEqual(got, w) {
		t.Errorf("%s = %s, want %s", path, data, want)
	}
}
