//go:build linux && amd64

package ptrace

import "sort"

// Lock order: mappings has no lock of its own; AddressSpace.mu guards it.

// mapping is a range the platform mapped in a stub, with its protection.
type mapping struct {
	start, end uintptr
	prot       int
}

// mappings records what the platform itself mapped in a stub: sorted,
// non-overlapping ranges. The fault fast path (Context.classify) uses it to
// answer a write fault on a page it mapped readable but not writable without
// the SIGSEGV probe round trip.
type mappings []mapping

// punch removes [start, end) from m.
func (m mappings) punch(start, end uintptr) mappings {
	i := sort.Search(len(m), func(i int) bool { return m[i].end > start })
	j := i
	var keep []mapping
	for ; j < len(m) && m[j].start < end; j++ {
		if m[j].start < start {
			keep = append(keep, mapping{m[j].start, start, m[j].prot})
		}
		if m[j].end > end {
			keep = append(keep, mapping{end, m[j].end, m[j].prot})
		}
	}
	if len(keep) == j-i {
		copy(m[i:j], keep)
		return m
	}
	out := make(mappings, 0, len(m)-(j-i)+len(keep))
	out = append(out, m[:i]...)
	out = append(out, keep...)
	return append(out, m[j:]...)
}

// set records [start, end) as mapped with prot.
func (m mappings) set(start, end uintptr, prot int) mappings {
	m = m.punch(start, end)
	i := sort.Search(len(m), func(i int) bool { return m[i].start >= end })
	m = append(m, mapping{})
	copy(m[i+1:], m[i:])
	m[i] = mapping{start, end, prot}
	return m
}

// protAt returns the protection addr is mapped with, and whether it is
// mapped at all.
func (m mappings) protAt(addr uintptr) (int, bool) {
	i := sort.Search(len(m), func(i int) bool { return m[i].end > addr })
	if i < len(m) && m[i].start <= addr {
		return m[i].prot, true
	}
	return 0, false
}
