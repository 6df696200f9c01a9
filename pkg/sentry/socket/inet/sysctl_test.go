package inet

import "testing"

// capSet is a credential holding the listed capabilities.
type capSet map[int]bool

func (c capSet) HasCapability(cp int) bool { return c[cp] }

// TestMayBindPort: ports below net.ipv4.ip_unprivileged_port_start need
// CAP_NET_BIND_SERVICE (10); port 0 asks for an ephemeral one.
func TestMayBindPort(t *testing.T) {
	for _, tc := range []struct {
		port  uint16
		start int
		caps  capSet
		want  bool
	}{
		{80, DefaultUnprivilegedPortStart, capSet{}, false},
		{80, DefaultUnprivilegedPortStart, capSet{10: true}, true},
		{1024, DefaultUnprivilegedPortStart, capSet{}, true},
		{0, DefaultUnprivilegedPortStart, capSet{}, true},
		{80, 0, capSet{}, true}, // Docker's setting
		{1, 0, capSet{}, true},
		{2000, 3000, capSet{}, false},
		{2000, 3000, capSet{12: true}, false}, // CAP_NET_ADMIN is not enough
	} {
		if got := MayBindPort(tc.caps, tc.port, tc.start); got != tc.want {
			t.Errorf("MayBindPort(%v, %d, start %d) = %v, want %v", tc.caps, tc.port, tc.start, got, tc.want)
		}
	}
}
