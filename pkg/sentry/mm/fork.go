package mm

import "bufferzone.dev/pkg/sentry/platform"

// Fork returns a copy of the address space for a child created by fork(2)
// (clone without CLONE_VM), in a new platform address space.
//
// Shared mappings share their pages. Private pages are shared copy-on-write:
// both address spaces keep a reference and mark them needsCopy, so each maps
// them read-only and the first write (by the application or by the Sentry)
// copies them. Mappings marked MADV_DONTFORK are left out of the child;
// MADV_WIPEONFORK ones are mapped in the child without their pages.
//
// Where the platform queues mappings (platform.MappingQueuer), the child
// maps what the parent has mapped (read-only where shared copy-on-write)
// ahead of its first faults, up to forkMapAhead runs: they go to its
// address space with its first Switch, in one request, where each would
// otherwise be a fault and its round trip.
func (mm *MemoryManager) Fork() (*MemoryManager, error) {
	child, err := New(mm.p, mm.mf)
	if err != nil {
		return nil, err
	}
	mm.mu.Lock()
	defer mm.unlock()
	child.mmapBase = mm.mmapBase
	child.brkStart, child.brk = mm.brkStart, mm.brk
	child.stackStart = mm.stackStart
	child.argv, child.envv = mm.argv, mm.envv
	child.auxv = append([]uint64(nil), mm.auxv...)
	if mm.exe != nil {
		child.exe = mm.exe.Clone()
	}

	// Parent ranges whose writable private pages must lose write access
	// in the platform, merged so that adjacent ones take one call.
	var protect [][2]uintptr
	var ahead []mapRun
	mq, ok := child.as.(platform.MappingQueuer)
	mapAhead := ok && mq.QueuesMappings()
	hfm, _ := child.as.(platform.HostFileMapper)
	for _, v := range mm.vmas.all() {
		if v.val.dontFork {
			continue
		}
		child.addVMA(&seg[vma]{start: v.start, end: v.end, val: v.val})
		if v.val.wipeOnFork {
			continue
		}
		for _, p := range mm.pmas.isolate(v.start, v.end) {
			length := uint64(p.end - p.start)
			if p.val.host == nil {
				mm.mf.IncRef(p.val.off, length)
			}
			cp := p.val
			cp.mapped = false
			wasMapped := p.val.mapped
			if v.val.private {
				if p.val.mapped && v.val.perms.Write && !p.val.needsCopy {
					if n := len(protect); n > 0 && protect[n-1][1] == p.start {
						protect[n-1][1] = p.end
					} else {
						protect = append(protect, [2]uintptr{p.start, p.end})
					}
					p.val.mapped = false
				}
				p.val.needsCopy = true
				cp.needsCopy = true
			}
			if mapAhead && wasMapped && (cp.host == nil || hfm != nil && hfm.CanMapHostFile(cp.host)) {
				at := v.val.perms
				if cp.needsCopy {
					at.Write = false
				}
				r := mapRun{start: p.start, end: p.end, host: cp.host, off: cp.off, at: at}
				if n := len(ahead); n > 0 && ahead[n-1].joins(r) {
					ahead[n-1].end = r.end
					cp.mapped = true
				} else if n < forkMapAhead {
					ahead = append(ahead, r)
					cp.mapped = true
				}
			}
			child.pmas.insert(&seg[pma]{start: p.start, end: p.end, val: cp})
		}
		mm.mergePMAsAround(v.start, v.end)
	}
	for _, r := range ahead {
		if err := child.mapRun(r); err != nil {
			child.DecUsers()
			return nil, err
		}
	}
	// Unmapped parent pages are mapped again read-only on the next fault.
	if ru, ok := mm.as.(platform.RangeUnmapper); ok && len(protect) > 0 {
		ru.UnmapRanges(protect)
	} else if mm.as != nil {
		for _, r := range protect {
			mm.as.Unmap(r[0], r[1]-r[0])
		}
	}
	return child, nil
}

// forkMapAhead bounds the runs a fork maps ahead in the child: one
// request's worth (the queue of a stub holds 72 operations).
const forkMapAhead = 48
