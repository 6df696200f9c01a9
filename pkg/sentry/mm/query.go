package mm

import "golang.org/x/sys/unix"

// CheckMapped returns ENOMEM if any page of [addr, addr+length) is not
// mapped, as mlock(2), msync(2) and mincore(2) report; EINVAL for an
// unaligned address. A zero length is valid.
func (mm *MemoryManager) CheckMapped(addr, length uintptr) error {
	if addr&pageMask != 0 {
		return unix.EINVAL
	}
	end, ok := pageRoundUp(addr + length)
	if !ok || addr+length < addr {
		return unix.ENOMEM
	}
	mm.mu.Lock()
	defer mm.unlock()
	for a := addr; a < end; {
		v := mm.vmas.find(a)
		if v == nil {
			return unix.ENOMEM
		}
		a = v.end
	}
	return nil
}

// SetStackLimit sets how far a grows-down stack may extend (RLIMIT_STACK's
// soft limit; 0 means the default of 8 MiB).
func (mm *MemoryManager) SetStackLimit(limit uint64) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if limit > uint64(^uintptr(0)>>1) {
		limit = uint64(^uintptr(0) >> 1)
	}
	mm.stackLimit = uintptr(limit)
}

// ResidentBytes returns how much of the address space is backed by
// memory-file pages (its resident set: pages populated by faults or
// copies).
func (mm *MemoryManager) ResidentBytes() uint64 {
	mm.mu.Lock()
	defer mm.unlock()
	var n uint64
	for _, p := range mm.pmas.all() {
		n += uint64(p.end - p.start)
	}
	return n
}
