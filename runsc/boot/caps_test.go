package boot

import (
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

func TestApplyCapabilities(t *testing.T) {
	for _, tc := range []struct {
		name    string
		caps    *specs.LinuxCapabilities
		uid     uint32
		eff     uint64
		bnd     uint64
		amb     uint64
		wantErr bool
	}{
		{name: "none given: root keeps every capability", uid: 0, eff: auth.AllCapabilities, bnd: auth.AllCapabilities},
		{name: "none given: a user has none", uid: 1000, eff: 0, bnd: auth.AllCapabilities},
		{
			name: "exact sets",
			caps: &specs.LinuxCapabilities{
				Bounding:    []string{"CAP_CHOWN", "CAP_KILL", "CAP_CHECKPOINT_RESTORE"},
				Effective:   []string{"CAP_KILL"},
				Permitted:   []string{"CAP_KILL", "CAP_NET_RAW", "CAP_CHOWN"},
				Inheritable: []string{"CAP_NET_RAW", "CAP_KILL"},
				Ambient:     []string{"CAP_NET_RAW", "CAP_CHOWN"},
			},
			eff: 1 << 5, bnd: 1<<0 | 1<<5 | 1<<40, amb: 1 << 13,
		},
		{
			name: "ambient not permitted and inheritable is left out",
			caps: &specs.LinuxCapabilities{Ambient: []string{"CAP_NET_RAW"}, Permitted: []string{"CAP_NET_RAW"}},
		},
		{name: "empty sets drop everything", caps: &specs.LinuxCapabilities{}, eff: 0, bnd: 0},
		{name: "unknown name", caps: &specs.LinuxCapabilities{Effective: []string{"CAP_FLY"}}, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := auth.NewUser(tc.uid, tc.uid, nil)
			err := applyCapabilities(c, tc.caps)
			if (err != nil) != tc.wantErr {
				t.Fatalf("applyCapabilities: %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if c.Effective != tc.eff || c.Bounding != tc.bnd || c.Ambient != tc.amb {
				t.Errorf("effective %#x bounding %#x ambient %#x, want %#x %#x %#x", c.Effective, c.Bounding, c.Ambient, tc.eff, tc.bnd, tc.amb)
			}
		})
	}
}
