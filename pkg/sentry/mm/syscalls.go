package mm

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/platform"
)

// MMap creates a mapping as mmap(2) does and returns its address.
func (mm *MemoryManager) MMap(opts MMapOpts) (uintptr, error) {
	if opts.Length == 0 {
		return 0, unix.EINVAL
	}
	length, ok := pageRoundUp(opts.Length)
	if !ok {
		return 0, unix.ENOMEM
	}
	if opts.Private == opts.Shared {
		return 0, unix.EINVAL
	}
	if opts.Anonymous {
		if opts.Mappable != nil {
			return 0, unix.EINVAL
		}
		opts.Offset = 0
	} else {
		if opts.Mappable == nil {
			return 0, unix.EBADF
		}
		if opts.Offset < 0 || opts.Offset&pageMask != 0 {
			return 0, unix.EINVAL
		}
		if uint64(opts.Offset)+uint64(length) < uint64(opts.Offset) || uint64(opts.Offset)+uint64(length) > 1<<63-1 {
			return 0, unix.EOVERFLOW
		}
	}
	perms, ok := protToAccess(opts.Prot)
	if !ok {
		return 0, unix.EINVAL
	}
	maxPerms := opts.MaxPerms
	if maxPerms == (platform.AccessType{}) {
		maxPerms = platform.AnyAccess
	}
	if opts.Private {
		maxPerms.Write = true
	} else if _, ok := opts.Mappable.(MemoryMappable); !ok && !opts.Anonymous {
		maxPerms.Write = false
	}
	if !subset(perms, maxPerms) {
		return 0, unix.EACCES
	}
	if length > mm.maxAddr-mm.minAddr {
		return 0, unix.ENOMEM
	}

	mm.mu.Lock()
	defer mm.unlock()
	if mm.as == nil {
		return 0, unix.ENOMEM
	}
	var addr uintptr
	if opts.Fixed || opts.FixedNoReplace {
		addr = opts.Addr
		if addr&pageMask != 0 {
			return 0, unix.EINVAL
		}
		if addr > mm.maxAddr-length {
			return 0, unix.ENOMEM
		}
		if addr < mm.minAddr {
			return 0, unix.EPERM
		}
		if len(mm.vmas.overlapping(addr, addr+length)) != 0 {
			if !opts.Fixed {
				return 0, unix.EEXIST
			}
		}
	} else {
		var err error
		if addr, err = mm.findAvailable(opts.Addr, length); err != nil {
			return 0, err
		}
	}
	// Splitting a VMA to make room can add one segment, the new one another.
	if mm.vmas.len()+2 > mm.maxMapCount {
		return 0, unix.ENOMEM
	}

	v := vma{
		perms:     perms,
		maxPerms:  maxPerms,
		private:   opts.Private,
		growsDown: opts.GrowsDown,
		mappable:  opts.Mappable,
		off:       opts.Offset,
		name:      opts.Name,
	}
	if opts.Anonymous && opts.Shared {
		shm := NewSharedMemory(mm.mf, int64(length))
		v.mappable = shm
		// addVMA takes the VMA's reference; drop the creation one.
		defer shm.DecRef()
	}
	mm.unmapLocked(addr, addr+length)
	mm.addVMA(&seg[vma]{start: addr, end: addr + length, val: v})
	mm.mergeVMAsAround(addr, addr+length)
	return addr, nil
}

// findAvailable picks an address for a mapping of length bytes: hint if
// that range is free, else the highest free range below the mmap base,
// else the lowest free range above it. Callers hold mu.
func (mm *MemoryManager) findAvailable(hint, length uintptr) (uintptr, error) {
	if hint != 0 {
		if h, ok := pageRoundUp(hint); ok && h >= mm.minAddr && h <= mm.maxAddr-length && len(mm.vmas.overlapping(h, h+length)) == 0 {
			return h, nil
		}
	}
	// Top down from the mmap base.
	top := mm.mmapBase
	found, ok := uintptr(0), false
	mm.vmas.t.DescendLessOrEqual(&seg[vma]{start: top - 1}, func(x *seg[vma]) bool {
		gapTop := top
		if x.end < gapTop && gapTop-x.end >= length {
			found, ok = gapTop-length, true
			return false
		}
		top = min(top, x.start)
		if x.val.growsDown {
			// Keep a guard gap below stacks.
			if top > mm.minAddr+stackGuardGap {
				top -= stackGuardGap
			} else {
				top = mm.minAddr
			}
		}
		return top >= mm.minAddr+length
	})
	if ok {
		return found, nil
	}
	if top >= mm.minAddr+length {
		return top - length, nil
	}
	// Bottom up above the mmap base.
	pos := mm.mmapBase
	for _, x := range mm.vmas.overlapping(pos, mm.maxAddr) {
		if x.start > pos && x.start-pos >= length {
			return pos, nil
		}
		pos = max(pos, x.end)
	}
	if mm.maxAddr-pos >= length {
		return pos, nil
	}
	return 0, unix.ENOMEM
}

// checkRange validates an application range for munmap-like calls.
func (mm *MemoryManager) checkRange(addr, length uintptr) (uintptr, uintptr, error) {
	if addr&pageMask != 0 {
		return 0, 0, unix.EINVAL
	}
	length, ok := pageRoundUp(length)
	if !ok || addr > mm.maxAddr || length > mm.maxAddr-addr {
		return 0, 0, unix.EINVAL
	}
	return addr, addr + length, nil
}

// MUnmap removes the mappings in [addr, addr+length) as munmap(2) does.
func (mm *MemoryManager) MUnmap(addr, length uintptr) error {
	if length == 0 {
		return unix.EINVAL
	}
	start, end, err := mm.checkRange(addr, length)
	if err != nil {
		return err
	}
	mm.mu.Lock()
	defer mm.unlock()
	// Unmapping the middle of a VMA splits it in two.
	if v := mm.vmas.find(start); v != nil && v.start < start && v.end > end && mm.vmas.len()+1 > mm.maxMapCount {
		return unix.ENOMEM
	}
	mm.unmapLocked(start, end)
	return nil
}

// MProtect changes the permissions of [addr, addr+length) as mprotect(2)
// does. prot may include PROT_GROWSDOWN.
func (mm *MemoryManager) MProtect(addr, length uintptr, prot int) error {
	growsDown := prot&unix.PROT_GROWSDOWN != 0
	if prot&unix.PROT_GROWSUP != 0 {
		return unix.EINVAL
	}
	perms, ok := protToAccess(prot &^ unix.PROT_GROWSDOWN)
	if !ok {
		return unix.EINVAL
	}
	if addr&pageMask != 0 {
		return unix.EINVAL
	}
	if length == 0 {
		return nil
	}
	rlen, ok := pageRoundUp(length)
	if !ok || addr > mm.maxAddr || rlen > mm.maxAddr-addr {
		return unix.ENOMEM
	}
	start, end := addr, addr+rlen

	mm.mu.Lock()
	defer mm.unlock()
	first := mm.vmas.find(start)
	if first == nil {
		return unix.ENOMEM
	}
	if growsDown {
		if !first.val.growsDown {
			return unix.EINVAL
		}
		start = first.start
	}
	// The whole range must be mapped and allow the new permissions.
	pos := start
	for _, v := range mm.vmas.overlapping(start, end) {
		if v.start > pos {
			return unix.ENOMEM
		}
		if !subset(perms, v.val.maxPerms) {
			return unix.EACCES
		}
		pos = v.end
	}
	if pos < end {
		return unix.ENOMEM
	}
	if mm.vmas.len()+2 > mm.maxMapCount {
		return unix.ENOMEM
	}
	reduced := false
	for _, v := range mm.splitVMAs(start, end) {
		if !subset(v.val.perms, perms) {
			reduced = true
		}
		v.val.perms = perms
	}
	// Pages mapped with more access than now allowed must be unmapped; they
	// are mapped again, with the new permissions, on the next fault.
	// Mappings that only gain access fault and are remapped.
	if reduced {
		mapped := false
		for _, p := range mm.pmas.isolate(start, end) {
			mapped = mapped || p.val.mapped
			p.val.mapped = false
		}
		if mapped && mm.as != nil {
			mm.as.Unmap(start, end-start)
		}
		mm.mergePMAsAround(start, end)
	}
	mm.mergeVMAsAround(start, end)
	return nil
}

// SetBrkStart sets the start (and current end) of the data segment, after
// the executable's highest segment.
func (mm *MemoryManager) SetBrkStart(addr uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.brkStart, mm.brk = addr, addr
}

// BrkRange returns the start and current end of the data segment.
func (mm *MemoryManager) BrkRange() (start, end uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return mm.brkStart, mm.brk
}

// Brk moves the end of the data segment to addr as brk(2) does and returns
// the new end, or the unchanged end if addr is not acceptable (below the
// start, colliding with another mapping, out of memory).
//
// RLIMIT_DATA is not enforced yet.
func (mm *MemoryManager) Brk(addr uintptr) uintptr {
	mm.mu.Lock()
	defer mm.unlock()
	if addr < mm.brkStart || mm.as == nil {
		return mm.brk
	}
	oldEnd, ok1 := pageRoundUp(mm.brk)
	newEnd, ok2 := pageRoundUp(addr)
	if !ok1 || !ok2 || newEnd > mm.maxAddr {
		return mm.brk
	}
	switch {
	case newEnd > oldEnd:
		// The new range must be free, with a guard gap below a stack.
		guardEnd := newEnd
		if n := mm.vmas.lowerBound(oldEnd); n != nil && n.val.growsDown && newEnd <= mm.maxAddr-stackGuardGap {
			guardEnd = newEnd + stackGuardGap
		}
		if len(mm.vmas.overlapping(oldEnd, guardEnd)) != 0 || mm.vmas.len()+1 > mm.maxMapCount {
			return mm.brk
		}
		mm.addVMA(&seg[vma]{start: oldEnd, end: newEnd, val: vma{
			perms:    platform.ReadWrite,
			maxPerms: platform.AnyAccess,
			private:  true,
		}})
		mm.mergeVMAsAround(oldEnd, newEnd)
	case newEnd < oldEnd:
		mm.unmapLocked(newEnd, oldEnd)
	}
	mm.brk = addr
	return addr
}

// MRemap resizes and/or moves a mapping as mremap(2) does and returns its
// new address. flags are MREMAP_* bits.
func (mm *MemoryManager) MRemap(oldAddr, oldLen, newLen uintptr, flags int, newAddr uintptr) (uintptr, error) {
	if flags&^(unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED|unix.MREMAP_DONTUNMAP) != 0 {
		return 0, unix.EINVAL
	}
	mayMove := flags&unix.MREMAP_MAYMOVE != 0
	fixed := flags&unix.MREMAP_FIXED != 0
	dontUnmap := flags&unix.MREMAP_DONTUNMAP != 0
	if (fixed || dontUnmap) && !mayMove {
		return 0, unix.EINVAL
	}
	if oldAddr&pageMask != 0 {
		return 0, unix.EINVAL
	}
	oldLen, _ = pageRoundUp(oldLen) // overflow yields 0, like PAGE_ALIGN
	newLen, ok := pageRoundUp(newLen)
	if !ok || newLen == 0 {
		return 0, unix.EINVAL
	}
	if dontUnmap && oldLen != newLen {
		return 0, unix.EINVAL
	}
	if fixed {
		if newAddr&pageMask != 0 || newAddr > mm.maxAddr || newLen > mm.maxAddr-newAddr {
			return 0, unix.EINVAL
		}
		if newAddr < mm.minAddr {
			return 0, unix.EPERM
		}
		// The ranges must not overlap.
		if newAddr < oldAddr+oldLen && oldAddr < newAddr+newLen {
			return 0, unix.EINVAL
		}
	}

	mm.mu.Lock()
	defer mm.unlock()
	if mm.as == nil {
		return 0, unix.EFAULT
	}
	v := mm.vmas.find(oldAddr)
	if v == nil {
		return 0, unix.EFAULT
	}
	if oldLen == 0 {
		// Duplicate a shared mapping.
		if v.val.private {
			return 0, unix.EINVAL
		}
		if !mayMove {
			return 0, unix.ENOMEM
		}
	} else if oldAddr > ^uintptr(0)-oldLen || oldAddr+oldLen > v.end {
		return 0, unix.EFAULT
	}
	if dontUnmap && (!v.val.private || v.val.mappable != nil) {
		// Linux accepts only private anonymous mappings (before 5.13).
		return 0, unix.EINVAL
	}
	if mm.vmas.len()+3 > mm.maxMapCount {
		return 0, unix.ENOMEM
	}

	if fixed {
		mm.unmapLocked(newAddr, newAddr+newLen)
		if oldLen > newLen {
			mm.unmapLocked(oldAddr+newLen, oldAddr+oldLen)
			oldLen = newLen
		}
		mm.moveLocked(oldAddr, oldLen, newAddr, newLen, dontUnmap)
		return newAddr, nil
	}
	if !dontUnmap && oldLen != 0 {
		if newLen <= oldLen {
			mm.unmapLocked(oldAddr+newLen, oldAddr+oldLen)
			return oldAddr, nil
		}
		// Grow in place if the VMA ends here and the space after it is free.
		oldEnd := oldAddr + oldLen
		if oldEnd == v.end && newLen-oldLen <= mm.maxAddr-oldEnd &&
			len(mm.vmas.overlapping(oldEnd, oldAddr+newLen)) == 0 {
			v.end = oldAddr + newLen
			mm.mergeVMAsAround(oldAddr, v.end)
			return oldAddr, nil
		}
	}
	if !mayMove {
		return 0, unix.ENOMEM
	}
	to, err := mm.findAvailable(0, newLen)
	if err != nil {
		return 0, err
	}
	mm.moveLocked(oldAddr, oldLen, to, newLen, dontUnmap)
	return to, nil
}

// moveLocked moves [oldAddr, oldAddr+oldLen), which lies in one VMA, to
// [newAddr, newAddr+newLen), which is free, with newLen >= oldLen. With
// oldLen == 0 the VMA at oldAddr is duplicated instead. With keepOld the old
// range stays mapped, emptied of pages. Callers hold mu.
func (mm *MemoryManager) moveLocked(oldAddr, oldLen, newAddr, newLen uintptr, keepOld bool) {
	var val vma
	if oldLen == 0 {
		v := mm.vmas.find(oldAddr)
		val = v.val.split(oldAddr - v.start)
	} else {
		segs := mm.splitVMAs(oldAddr, oldAddr+oldLen)
		val = segs[0].val
		if !keepOld {
			for _, s := range segs {
				mm.dropVMA(s)
			}
		}
		// Move the pages; they are mapped again at the new address on
		// the next fault.
		mapped := false
		for _, p := range mm.pmas.isolate(oldAddr, oldAddr+oldLen) {
			mm.pmas.remove(p)
			mapped = mapped || p.val.mapped
			p.start = p.start - oldAddr + newAddr
			p.end = p.end - oldAddr + newAddr
			p.val.mapped = false
			mm.pmas.insert(p)
		}
		if mapped && mm.as != nil {
			mm.as.Unmap(oldAddr, oldLen)
		}
		mm.mergePMAsAround(newAddr, newAddr+newLen)
	}
	mm.addVMA(&seg[vma]{start: newAddr, end: newAddr + newLen, val: val})
	mm.mergeVMAsAround(newAddr, newAddr+newLen)
}

// madvSoftOffline is MADV_SOFT_OFFLINE, which x/sys/unix lacks.
const madvSoftOffline = 101

// MAdvise gives advice about [addr, addr+length) as madvise(2) does.
// MADV_DONTNEED and MADV_FREE drop the pages (anonymous memory reads as zero
// afterwards, private file mappings read the file again); the fork advice is
// recorded for Fork; MADV_POPULATE_* populate; hints are accepted and
// ignored.
func (mm *MemoryManager) MAdvise(addr, length uintptr, advice int) error {
	switch advice {
	case unix.MADV_NORMAL, unix.MADV_RANDOM, unix.MADV_SEQUENTIAL, unix.MADV_WILLNEED,
		unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_REMOVE, unix.MADV_DONTFORK, unix.MADV_DOFORK,
		unix.MADV_MERGEABLE, unix.MADV_UNMERGEABLE, unix.MADV_HUGEPAGE, unix.MADV_NOHUGEPAGE,
		unix.MADV_DONTDUMP, unix.MADV_DODUMP, unix.MADV_WIPEONFORK, unix.MADV_KEEPONFORK,
		unix.MADV_COLD, unix.MADV_PAGEOUT, unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE,
		unix.MADV_COLLAPSE:
	case unix.MADV_HWPOISON, madvSoftOffline:
		return unix.EPERM
	default:
		return unix.EINVAL
	}
	if addr&pageMask != 0 {
		return unix.EINVAL
	}
	rlen, ok := pageRoundUp(length)
	if !ok || addr+rlen < addr {
		return unix.EINVAL
	}
	if rlen == 0 {
		return nil
	}
	start, end := addr, addr+rlen

	mm.mu.Lock()
	defer mm.unlock()
	segs := mm.vmas.overlapping(start, end)
	// Linux applies the advice to the mapped parts and then reports ENOMEM
	// if there were holes.
	var holeErr error
	if len(mm.vmas.gaps(start, end)) != 0 {
		holeErr = unix.ENOMEM
	}
	if len(segs) == 0 {
		return holeErr
	}
	switch advice {
	case unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_REMOVE:
		for _, v := range segs {
			if advice == unix.MADV_FREE && (!v.val.private || v.val.mappable != nil) {
				return unix.EINVAL
			}
			if advice == unix.MADV_REMOVE && v.val.private {
				return unix.EINVAL
			}
		}
		mapped := false
		for _, v := range segs {
			s, e := max(start, v.start), min(end, v.end)
			if mm.freePMAs(s, e) {
				mapped = true
			}
			if advice == unix.MADV_REMOVE {
				if shm, ok := v.val.mappable.(*SharedMemory); ok {
					shm.Decommit(v.val.off+int64(s-v.start), uint64(e-s))
				}
			}
		}
		if mapped && mm.as != nil {
			mm.as.Unmap(start, end-start)
		}
	case unix.MADV_DONTFORK, unix.MADV_DOFORK, unix.MADV_WIPEONFORK, unix.MADV_KEEPONFORK:
		if advice == unix.MADV_WIPEONFORK {
			for _, v := range segs {
				if !v.val.private || v.val.mappable != nil {
					return unix.EINVAL
				}
			}
		}
		if mm.vmas.len()+2 > mm.maxMapCount {
			return unix.EAGAIN
		}
		for _, v := range mm.splitVMAs(start, end) {
			switch advice {
			case unix.MADV_DONTFORK:
				v.val.dontFork = true
			case unix.MADV_DOFORK:
				v.val.dontFork = false
			case unix.MADV_WIPEONFORK:
				v.val.wipeOnFork = true
			case unix.MADV_KEEPONFORK:
				v.val.wipeOnFork = false
			}
		}
		mm.mergeVMAsAround(start, end)
	case unix.MADV_POPULATE_READ, unix.MADV_POPULATE_WRITE:
		at := platform.Read
		if advice == unix.MADV_POPULATE_WRITE {
			at = platform.ReadWrite
		}
		for _, v := range segs {
			s, e := max(start, v.start), min(end, v.end)
			if !mm.allows(v, at) {
				return unix.EINVAL
			}
			pe, err := mm.populate(v, s, e)
			if err != nil || pe < e {
				return unix.EFAULT
			}
			if at.Write && v.val.private {
				if err := mm.breakCOW(s, e, true); err != nil {
					return unix.ENOMEM
				}
			}
		}
	}
	return holeErr
}
