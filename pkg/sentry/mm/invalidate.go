package mm

// Invalidation of file pages when the file shrinks: a Mappable that can
// lose pages (a page cache truncated under its mappings) tracks the
// address spaces that map it and asks each to drop its pages beyond the
// new end, so that the next access faults and gets SIGBUS, as Linux's
// unmap_mapping_range arranges on truncation.
//
// Lock order: MappingTracker methods are called with no MemoryManager lock
// held (Mapped under the lock of the address space that maps, as
// RefCounted.IncRef); InvalidateMappable takes MemoryManager.mu, so its
// caller holds none of the Mappable's locks.

// MappingTracker is implemented by Mappables that must reach the address
// spaces that map them. Each VMA that maps the object reports its
// MemoryManager with Mapped when it is made and Unmapped when it goes (so
// one MemoryManager may be reported several times).
type MappingTracker interface {
	Mapped(mm *MemoryManager)
	Unmapped(mm *MemoryManager)
}

// unmappedRef defers MappingTracker.Unmapped until MemoryManager.mu is
// released, with the VMA's other references.
type unmappedRef struct {
	mt MappingTracker
	mm *MemoryManager
}

// IncRef implements RefCounted; unused.
func (u unmappedRef) IncRef() {}

// DecRef implements RefCounted.
func (u unmappedRef) DecRef() { u.mt.Unmapped(u.mm) }

// mappableAdded takes what a new VMA segment holds on its mappable.
// Callers hold mu.
func (mm *MemoryManager) mappableAdded(m Mappable) {
	if rc, ok := m.(RefCounted); ok {
		rc.IncRef()
	}
	if mt, ok := m.(MappingTracker); ok {
		mt.Mapped(mm)
	}
}

// mappableDropped schedules the release of what a removed VMA segment held
// on its mappable. Callers hold mu.
func (mm *MemoryManager) mappableDropped(m Mappable) {
	if rc, ok := m.(RefCounted); ok {
		mm.released = append(mm.released, rc)
	}
	if mt, ok := m.(MappingTracker); ok {
		mm.released = append(mm.released, unmappedRef{mt, mm})
	}
}

// InvalidateMappable drops the pages of every shared mapping of m in the
// address space at object offsets from off (page aligned) on, and unmaps
// them from the platform: the next access faults again and, beyond the
// object's size, gets SIGBUS. Private mappings keep their own copies.
func (mm *MemoryManager) InvalidateMappable(m Mappable, off int64) {
	mm.mu.Lock()
	defer mm.unlock()
	for _, v := range mm.vmas.all() {
		if v.val.mappable != m || v.val.private {
			continue
		}
		start := v.start
		if off > v.val.off {
			d := uint64(off - v.val.off)
			if d >= uint64(v.end-v.start) {
				continue
			}
			start = v.start + uintptr(d)
		}
		if mm.freePMAs(start, v.end) && mm.as != nil {
			mm.as.Unmap(start, v.end-start)
		}
	}
}
