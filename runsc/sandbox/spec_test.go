package sandbox

import (
	"bytes"
	"io"
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
			r := &closeCounter{Reader: strings.NewReader(tc.in)}
			got, hostReady, err := ReceiveSpec(r)
			if err == nil {
				if got.Hostname != "h" {
					t.Fatalf("ReceiveSpec = %+v, want the spec", got)
				}
				if r.closes != 0 {
					t.Fatal("ReceiveSpec closed the pipe before hostReady")
				}
				err = hostReady()
				if again := hostReady(); again != err {
					t.Errorf("hostReady again = %v, want %v", again, err)
				}
			}
			if r.closes != 1 {
				t.Errorf("the pipe was closed %d times, want once", r.closes)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("ReceiveSpec, hostReady: %v; want the spec", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("ReceiveSpec, hostReady: error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// closeCounter is an io.ReadCloser that counts its closes.
type closeCounter struct {
	io.Reader
	closes int
}

func (c *closeCounter) Close() error {
	c.closes++
	return nil
}
