package sandbox

import (
	"bytes"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestReceiveSpec(t *testing.T) {
	spec := &specs.Spec{Version: specs.Version, Hostname: "h"}
	var whole bytes.Buffer
	if err := SendSpec(&whole, spec); err != nil {
		t.Fatal(err)
	}
	var specOnly bytes.Buffer
	if err := writeSpec(&specOnly, spec); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in, wantErr string
	}{
		{"spec-and-go", whole.String(), ""},
		{"runtime-gone", specOnly.String(), "went away"},
		{"nothing", "", "reading the spec"},
		{"not-a-spec", `"go"`, "reading the spec"},
		{"other-word", specOnly.String() + `"stop"`, `got "stop"`},
		{"garbage", specOnly.String() + "{", "after the spec"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReceiveSpec(strings.NewReader(tc.in))
			if tc.wantErr == "" {
				if err != nil || got.Hostname != "h" {
					t.Fatalf("ReceiveSpec = %+v, %v; want the spec", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ReceiveSpec error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
