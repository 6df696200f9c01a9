package inet

import (
	"math"
	"sync"
	"sync/atomic"
)

// The net.* sysctls of a network namespace: integer parameters a stack
// keeps and /proc/sys/net shows. A stack lists only the parameters it
// honours; a sysctl it cannot back is absent, as a sysctl of a kernel
// built without the feature is.

// DefaultSomaxconn is net.core.somaxconn's initial value in a new network
// namespace (SOMAXCONN).
const DefaultSomaxconn = 4096

// DefaultUnprivilegedPortStart is net.ipv4.ip_unprivileged_port_start's
// initial value: binding a port below it needs CAP_NET_BIND_SERVICE.
// Container engines set it (Docker sets 0 in every container).
const DefaultUnprivilegedPortStart = 1024

// UnprivilegedPortStartSysctl returns net.ipv4.ip_unprivileged_port_start
// kept in *v. Linux refuses a value that reaches into the local
// (ephemeral) port range.
func UnprivilegedPortStartSysctl(v *atomic.Int32) Sysctl {
	return AtomicSysctl("ipv4/ip_unprivileged_port_start", 0, EphemeralFirst-1, v)
}

// MayBindPort reports whether creds may bind port, given the stack's
// net.ipv4.ip_unprivileged_port_start: ports below it need
// CAP_NET_BIND_SERVICE (nil credentials: a bind from inside the Sentry).
func MayBindPort(creds interface{ HasCapability(int) bool }, port uint16, unprivilegedStart int) bool {
	const capNetBindService = 10
	return port == 0 || int(port) >= unprivilegedStart || creds == nil || creds.HasCapability(capNetBindService)
}

// Sysctl is one integer net.* sysctl of a stack (proc_dointvec's kind:
// one int written and printed in decimal).
type Sysctl struct {
	// Path is the file's path under /proc/sys/net, as "ipv4/ip_forward".
	Path string
	// Min and Max bound a written value; one outside is EINVAL.
	Min, Max int32
	// Get returns the current value.
	Get func() int32
	// Set applies a value within [Min, Max], returning an errno if it
	// cannot; nil makes the sysctl read-only (its file is mode 0444 and
	// opening it for writing is EACCES).
	Set func(v int32) error
	// Pair, if set, makes the sysctl two numbers (written and printed
	// "lo\thi"); Min, Max, Get and Set are then unused.
	Pair *PairSysctl
}

// PairSysctl is the value of a two-number sysctl.
type PairSysctl struct {
	// Min and Max bound each written number; one outside is EINVAL.
	Min, Max int64
	// Get returns the current values.
	Get func() (lo, hi int64)
	// Set applies two values within [Min, Max]; nil makes the sysctl
	// read-only.
	Set func(lo, hi int64) error
}

// PingGroupRange is net.ipv4.ping_group_range: the groups whose members
// may create ICMP echo (ping) sockets, socket(AF_INET, SOCK_DGRAM,
// IPPROTO_ICMP) and its IPv6 twin. A new network namespace's is empty
// ("1 0"); container engines widen it (Docker to "0 2147483647").
type PingGroupRange struct {
	mu     sync.Mutex
	lo, hi uint32
}

// NewPingGroupRange returns a new namespace's range: no group.
func NewPingGroupRange() *PingGroupRange { return &PingGroupRange{lo: 1, hi: 0} }

// Sysctl returns net.ipv4.ping_group_range kept in r: two group IDs, up
// to 4294967294 (-1 is no group). A range whose end is below its start is
// stored as the empty "1 0", as Linux does.
func (r *PingGroupRange) Sysctl() Sysctl {
	return Sysctl{Path: "ipv4/ping_group_range", Pair: &PairSysctl{Min: 0, Max: math.MaxUint32 - 1,
		Get: func() (int64, int64) {
			r.mu.Lock()
			defer r.mu.Unlock()
			return int64(r.lo), int64(r.hi)
		},
		Set: func(lo, hi int64) error {
			if hi < lo {
				lo, hi = 1, 0
			}
			r.mu.Lock()
			r.lo, r.hi = uint32(lo), uint32(hi)
			r.mu.Unlock()
			return nil
		},
	}}
}

// Allows reports whether a process with effective group egid and
// supplementary groups extra may create a ping socket (Linux's
// ping_init_sock: root is not exempt).
func (r *PingGroupRange) Allows(egid uint32, extra []uint32) bool {
	r.mu.Lock()
	lo, hi := r.lo, r.hi
	r.mu.Unlock()
	in := func(g uint32) bool { return g >= lo && g <= hi }
	if in(egid) {
		return true
	}
	for _, g := range extra {
		if in(g) {
			return true
		}
	}
	return false
}

// Sysctler is a Stack with net.* sysctls.
type Sysctler interface {
	Stack
	// Sysctls returns the stack's sysctls, the same set on every call.
	Sysctls() []Sysctl
	// Somaxconn returns net.core.somaxconn: listen(2) caps every
	// backlog (of any socket family) at it.
	Somaxconn() int
}

// AtomicSysctl returns a sysctl whose value is *v: for a parameter that a
// stack reads where it applies (somaxconn by listen(2)), or that has
// nothing else to change.
func AtomicSysctl(path string, min, max int32, v *atomic.Int32) Sysctl {
	return Sysctl{Path: path, Min: min, Max: max, Get: v.Load,
		Set: func(n int32) error { v.Store(n); return nil }}
}

// Full range of an int sysctl without bounds (proc_dointvec).
const (
	SysctlIntMin = math.MinInt32
	SysctlIntMax = math.MaxInt32
)

// Loopback's sysctls: net.core.somaxconn,
// net.ipv4.ip_unprivileged_port_start, net.ipv4.ping_group_range (kept:
// the loopback offers no ICMP sockets to anyone), and net.ipv4.ip_forward,
// whose value is kept but has nothing to forward between: lo is the only
// interface, as in a Linux network namespace that has only lo.

// Sysctls implements Sysctler.
func (l *Loopback) Sysctls() []Sysctl {
	return []Sysctl{
		AtomicSysctl("core/somaxconn", 0, SysctlIntMax, &l.somaxconn),
		AtomicSysctl("ipv4/ip_forward", SysctlIntMin, SysctlIntMax, &l.ipForward),
		UnprivilegedPortStartSysctl(&l.unprivPortStart),
		l.pingGroups.Sysctl(),
	}
}

// Somaxconn implements Sysctler.
func (l *Loopback) Somaxconn() int { return int(l.somaxconn.Load()) }
