package cmd

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/config"
)

func TestOCIVersion(t *testing.T) {
	for _, tc := range []struct {
		v  string
		ok bool
	}{
		{"1.0.0", true}, {"1.0.2-dev", true}, {"1.1.0", true}, {"1.2.0", true}, {"1.0", true},
		{"1.1.0-rc.1", true}, {"1.0.0+dev", true}, {"1.10.3", true},
		{"", false}, {"1", false}, {"1.", false}, {"1.x", false}, {"2.0.0", false}, {"0.9.0", false},
		{"10.0.0", false}, {" 1.0.0", false}, {"1.0.0\n", false},
	} {
		if got := ociVersion().MatchString(tc.v); got != tc.ok {
			t.Errorf("ociVersion %q: accepted %v, want %v", tc.v, got, tc.ok)
		}
	}
}

func TestErrorsGoToLog(t *testing.T) {
	for _, format := range []config.LogFormat{config.LogFormatJSON, config.LogFormatText} {
		c := config.Default()
		c.LogFilename = filepath.Join(t.TempDir(), "log")
		c.LogFormat = format
		var errb strings.Builder
		Fatalf([]any{c, &Streams{Stdout: &errb, Stderr: &errb}}, "create %s: %v", "c1", "no\nway")
		if errb.String() != "runsc: create c1: no way\n" {
			t.Errorf("%s: stderr %q", format, errb.String())
		}
		data, err := os.ReadFile(c.LogFilename)
		if err != nil {
			t.Fatal(err)
		}
		if format == config.LogFormatJSON {
			var l struct{ Level, Msg, Time string }
			if err := json.Unmarshal(data, &l); err != nil || l.Level != "error" || !strings.HasPrefix(l.Msg, "create c1: no") || l.Time == "" {
				t.Errorf("json log %q: %+v %v", data, l, err)
			}
		} else if !strings.Contains(string(data), `level=error msg="create c1: no`) {
			t.Errorf("text log %q", data)
		}
	}
}

func TestCheckNamespaces(t *testing.T) {
	ns := func(typ specs.LinuxNamespaceType, path string) specs.LinuxNamespace {
		return specs.LinuxNamespace{Type: typ, Path: path}
	}
	for _, tc := range []struct {
		name    string
		nss     []specs.LinuxNamespace
		wantErr string
	}{
		{"new ones", []specs.LinuxNamespace{ns(specs.PIDNamespace, ""), ns(specs.NetworkNamespace, ""), ns(specs.MountNamespace, "")}, ""},
		{"paths of the right type", []specs.LinuxNamespace{ns(specs.NetworkNamespace, "/proc/self/ns/net"), ns(specs.UTSNamespace, "/proc/self/ns/uts")}, ""},
		{"path of another type", []specs.LinuxNamespace{ns(specs.NetworkNamespace, "/proc/self/ns/uts")}, "is not a network namespace"},
		{"not a namespace", []specs.LinuxNamespace{ns(specs.IPCNamespace, "/dev/null")}, "is not a namespace"},
		{"missing path", []specs.LinuxNamespace{ns(specs.PIDNamespace, "/nonexistent/ns")}, "no such file"},
		{"unknown type", []specs.LinuxNamespace{ns("bogus", "")}, `unknown type "bogus"`},
		{"twice", []specs.LinuxNamespace{ns(specs.PIDNamespace, ""), ns(specs.PIDNamespace, "")}, "listed twice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkNamespaces(tc.nss)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("error %v, want none", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
