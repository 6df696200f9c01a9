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
// object's size, gets SIGBUS. Private mappings keep their own copies, but
// lose the host file pages they map (HostMappable).
func (mm *MemoryManager) InvalidateMappable(m Mappable, off int64) {
	mm.invalidate(m, off, false)
}

// InvalidateHostPages drops the host file pages of every private mapping
// of m (HostMappable) and unmaps them from the platform: the next access
// copies the object's bytes instead. m calls it when its host file stops
// showing what the object holds.
func (mm *MemoryManager) InvalidateHostPages(m Mappable) {
	mm.invalidate(m, 0, true)
}

// invalidate implements InvalidateMappable and, with hostOnly,
// InvalidateHostPages.
func (mm *MemoryManager) invalidate(m Mappable, off int64, hostOnly bool) {
	mm.mu.Lock()
	defer mm.unlock()
	for _, v := range mm.vmas.all() {
		if v.val.mappable != m || hostOnly && !v.val.private {
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
		if v.val.private {
			mm.freeHostPMAs(start, v.end)
			continue
		}
		if mm.freePMAs(start, v.end) && mm.as != nil {
			mm.as.Unmap(start, v.end-start)
		}
	}
}

// freeHostPMAs drops the host file pages in [start, end) and unmaps them
// from the platform. Callers hold mu.
func (mm *MemoryManager) freeHostPMAs(start, end uintptr) {
	for _, p := range mm.pmas.overlapping(start, end) {
		if p.val.host == nil {
			continue
		}
		s, e := max(start, p.start), min(end, p.end)
		for _, q := range mm.pmas.isolate(s, e) {
			if q.val.mapped && mm.as != nil {
				mm.as.Unmap(q.start, q.end-q.start)
			}
			mm.pmas.remove(q)
		}
	}
}
