package inet

import (
	"math"
	"sync/atomic"
)

// The net.* sysctls of a network namespace: integer parameters a stack
// keeps and /proc/sys/net shows. A stack lists only the parameters it
// honours; a sysctl it cannot back is absent, as a sysctl of a kernel
// built without the feature is.

// DefaultSomaxconn is net.core.somaxconn's initial value in a new network
// namespace (SOMAXCONN).
const DefaultSomaxconn = 4096

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

// Loopback's sysctls: net.core.somaxconn, and net.ipv4.ip_forward, whose
// value is kept but has nothing to forward between: lo is the only
// interface, as in a Linux network namespace that has only lo.

// Sysctls implements Sysctler.
func (l *Loopback) Sysctls() []Sysctl {
	return []Sysctl{
		AtomicSysctl("core/somaxconn", 0, SysctlIntMax, &l.somaxconn),
		AtomicSysctl("ipv4/ip_forward", SysctlIntMin, SysctlIntMax, &l.ipForward),
	}
}

// Somaxconn implements Sysctler.
func (l *Loopback) Somaxconn() int { return int(l.somaxconn.Load()) }
