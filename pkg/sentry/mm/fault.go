package mm

import (
	"errors"
	"fmt"
	"io"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/abi/linux"
	"bufferzone.dev/pkg/sentry/platform"
)

// FaultError is returned by HandleFault when a fault cannot be resolved and
// the application must get a signal. It wraps unix.EFAULT for SIGSEGV and
// unix.EIO for SIGBUS, so errors.Is works on it.
type FaultError struct {
	// Addr is the faulting address.
	Addr uintptr
	// Signo is SIGSEGV or SIGBUS.
	Signo int32
	// Code is the si_code: SEGV_MAPERR (no mapping), SEGV_ACCERR (the
	// mapping does not permit the access) or BUS_ADRERR (beyond the end of
	// a mapped file).
	Code int32
}

// Error implements error.
func (e *FaultError) Error() string {
	return fmt.Sprintf("fault at %#x: signal %d code %d", e.Addr, e.Signo, e.Code)
}

// Unwrap returns EFAULT for SIGSEGV and EIO for SIGBUS.
func (e *FaultError) Unwrap() error {
	if e.Signo == int32(unix.SIGBUS) {
		return unix.EIO
	}
	return unix.EFAULT
}

// errBeyondEOF is returned by populate when the range starts beyond the last
// page of a mapped file.
var errBeyondEOF = errors.New("access beyond the end of a mapped file")

// HandleFault resolves an application fault at addr for an access of type
// at. It returns nil if the fault is resolved (the application retries the
// instruction), a *FaultError if the application must get SIGSEGV or
// SIGBUS, or another error if the platform failed.
//
// The first fault in a chunk of a VMA populates the whole chunk (up to
// faultChunk bytes, or hostFaultChunk where the platform maps the file's
// host pages itself; aligned, clipped to the VMA) and maps it with one
// platform call.
func (mm *MemoryManager) HandleFault(addr uintptr, at platform.AccessType) error {
	if at == (platform.AccessType{}) {
		at = platform.Read
	}
	mm.mu.Lock()
	defer mm.unlock()
	if mm.as == nil {
		return &FaultError{Addr: addr, Signo: int32(unix.SIGSEGV), Code: linux.SEGV_MAPERR}
	}
	v := mm.vmas.find(addr)
	if v == nil {
		v = mm.growStack(addr)
		if v == nil {
			return &FaultError{Addr: addr, Signo: int32(unix.SIGSEGV), Code: linux.SEGV_MAPERR}
		}
	}
	if !mm.allows(v, at) {
		return &FaultError{Addr: addr, Signo: int32(unix.SIGSEGV), Code: linux.SEGV_ACCERR}
	}
	page := addr &^ pageMask
	chunk := uintptr(faultChunk)
	if mm.hostFile(v) != nil {
		chunk = hostFaultChunk
	}
	ws := max(page&^(chunk-1), v.start)
	we := min(page&^(chunk-1)+chunk, v.end)
	we, err := mm.populate(v, ws, we)
	if err != nil {
		if err == errBeyondEOF {
			return &FaultError{Addr: addr, Signo: int32(unix.SIGBUS), Code: linux.BUS_ADRERR}
		}
		return err
	}
	if page >= we {
		return &FaultError{Addr: addr, Signo: int32(unix.SIGBUS), Code: linux.BUS_ADRERR}
	}
	var cs, ce uintptr
	if at.Write && v.val.private {
		cs = max(page&^(cowChunk-1), ws)
		ce = min(page&^(cowChunk-1)+cowChunk, we)
		if err := mm.breakCOW(cs, ce, false); err != nil {
			return err
		}
	}
	return mm.mapLocked(v, ws, we, page, cs, ce)
}

// mapLocked maps the pages of [start, end) in v into the platform address
// space: those not mapped yet, the page at addr, and those in [cs, ce)
// (just made writable). Contiguous pages are mapped with one call. Callers
// hold mu.
func (mm *MemoryManager) mapLocked(v *seg[vma], start, end, addr, cs, ce uintptr) error {
	var runs []mapRun
	var segs []*seg[pma]
	for _, p := range mm.pmas.isolate(start, end) {
		if p.val.mapped && !(p.start <= addr && addr < p.end) && !(p.start < ce && cs < p.end) {
			continue
		}
		at := v.val.perms
		if p.val.needsCopy {
			at.Write = false
		}
		r := mapRun{start: p.start, end: p.end, host: p.val.host, off: p.val.off, at: at}
		if n := len(runs); n > 0 && runs[n-1].joins(r) {
			runs[n-1].end = p.end
		} else {
			runs = append(runs, r)
		}
		segs = append(segs, p)
	}
	var err error
	for _, r := range runs {
		if err = mm.mapRun(r); err != nil {
			break
		}
	}
	for _, p := range segs {
		// Even after a failed call, the pages may be partly mapped.
		p.val.mapped = true
	}
	mm.mergePMAsAround(start, end)
	return err
}

// mapRun is a range to map in the platform address space with one call:
// contiguous pages of the memory file, or of a host file, with one access.
type mapRun struct {
	start, end uintptr
	host       platform.HostFile
	off        int64
	at         platform.AccessType
}

// joins reports whether r continues m: adjacent, with the next pages of the
// same file and the same access.
func (m mapRun) joins(r mapRun) bool {
	return m.end == r.start && m.at == r.at && m.host == r.host && m.off+int64(m.end-m.start) == r.off
}

// mapRun maps r in the platform address space. Callers hold mu.
func (mm *MemoryManager) mapRun(r mapRun) error {
	if r.host != nil {
		// Only a HostFileMapper's address space has host pmas.
		return mm.as.(platform.HostFileMapper).MapHostFile(r.start, r.host, r.off, r.end-r.start, r.at)
	}
	return mm.as.MapFile(r.start, r.off, r.end-r.start, r.at)
}

// allows reports whether v permits an access of type at, as the MMU would:
// any present page is readable on x86-64.
func (mm *MemoryManager) allows(v *seg[vma], at platform.AccessType) bool {
	p := v.val.perms
	if at.Write && !p.Write || at.Execute && !p.Execute || at.Read && !readable(p) {
		return false
	}
	return true
}

// growStack extends a grows-down VMA just above addr down to addr's page, as
// Linux does for stacks, and returns it; nil if there is none or the gap to
// the mapping below is too small. Callers hold mu.
func (mm *MemoryManager) growStack(addr uintptr) *seg[vma] {
	next := mm.vmas.firstFrom(addr)
	if next == nil || !next.val.growsDown || addr < mm.minAddr {
		return nil
	}
	page := addr &^ pageMask
	// Like Linux, the stack may only grow to RLIMIT_STACK; an access
	// further below is a wild one, not stack growth.
	limit := mm.stackLimit
	if limit == 0 {
		limit = linux.DefaultStackSize
	}
	if next.end-page > limit {
		return nil
	}
	if prev := mm.vmas.prev(next); prev != nil && (page < prev.end || page-prev.end < stackGuardGap) {
		return nil
	}
	mm.vmas.remove(next)
	if next.val.mappable != nil {
		next.val.off -= int64(next.start - page)
	}
	next.start = page
	mm.vmas.insert(next)
	return next
}

// fileEnd returns the address in v past which its mappable has no pages
// (its size rounded up to a page), or v.end for anonymous memory. Callers
// hold mu.
func fileEnd(v *seg[vma]) uintptr {
	if v.val.mappable == nil {
		return v.end
	}
	size := v.val.mappable.Size()
	if size < 0 {
		size = 0
	}
	limit := (uint64(size) + pageMask) &^ pageMask
	if limit <= uint64(v.val.off) {
		return v.start
	}
	if limit-uint64(v.val.off) >= uint64(v.end-v.start) {
		return v.end
	}
	return v.start + uintptr(limit-uint64(v.val.off))
}

// populate makes sure pages back [start, end) of v (page aligned, within v)
// and returns the end of what was populated: less than end if the mapped
// file ends first. It returns errBeyondEOF if start is beyond the file's
// last page. It does not break copy-on-write. Callers hold mu.
func (mm *MemoryManager) populate(v *seg[vma], start, end uintptr) (uintptr, error) {
	if fe := fileEnd(v); fe < end {
		if start >= fe {
			return fe, errBeyondEOF
		}
		end = fe
	}
	mm.dropUnusableHostPages(v, start, end)
	gaps := mm.pmas.gaps(start, end)
	for _, g := range gaps {
		if err := mm.fill(v, g[0], g[1]); err != nil {
			return g[0], err
		}
	}
	if len(gaps) != 0 {
		mm.mergePMAsAround(start, end)
	}
	return end, nil
}

// fill creates pmas for the unbacked range [start, end) of v. Callers hold
// mu.
func (mm *MemoryManager) fill(v *seg[vma], start, end uintptr) error {
	length := uint64(end - start)
	objOff := v.val.off + int64(start-v.start)
	if v.val.mappable == nil {
		off, err := mm.mf.Allocate(length)
		if err != nil {
			return err
		}
		mm.pmas.insert(&seg[pma]{start: start, end: end, val: pma{off: off}})
		return nil
	}
	if shm, ok := v.val.mappable.(MemoryMappable); ok && !v.val.private {
		ranges, err := shm.Pages(objOff, length)
		if err != nil {
			return err
		}
		addr := start
		for _, r := range ranges {
			mm.pmas.insert(&seg[pma]{start: addr, end: addr + uintptr(r.Length), val: pma{off: r.FileOff}})
			addr += uintptr(r.Length)
		}
		return nil
	}
	if hf := mm.hostFile(v); hf != nil {
		// The host file's own pages, until a write copies them.
		mm.pmas.insert(&seg[pma]{start: start, end: end, val: pma{host: hf, off: objOff, needsCopy: true}})
		return nil
	}
	// A private copy of the file's bytes (also used for shared mappings of
	// files whose pages do not live in the memory file: they are never
	// writable). Bytes past the end of the file in its last page stay zero.
	off, err := mm.mf.Allocate(length)
	if err != nil {
		return err
	}
	buf := mm.mf.Bytes(off, length)
	n, err := v.val.mappable.ReadAt(buf, objOff)
	if err != nil && err != io.EOF && n < len(buf) {
		mm.mf.DecRef(off, length)
		return errBeyondEOF
	}
	mm.pmas.insert(&seg[pma]{start: start, end: end, val: pma{off: off}})
	return nil
}

// breakCOW gives [start, end) private copies of any pages it shares
// copy-on-write. With unmap set, pages whose backing changed are unmapped
// from the platform (the Sentry's copy paths); otherwise the caller remaps
// [start, end) (the fault path). Callers hold mu.
func (mm *MemoryManager) breakCOW(start, end uintptr, unmap bool) error {
	return mm.copyShared(start, end, unmap, false)
}

// copyHostPages gives the host file pages in [start, end) private copies
// and unmaps them from the platform: the Sentry reads and writes
// application memory in the memory file only (a host file read per access
// would cost a host system call each time). Callers hold mu.
func (mm *MemoryManager) copyHostPages(start, end uintptr) error {
	return mm.copyShared(start, end, true, true)
}

// copyShared implements breakCOW and, with hostOnly, copyHostPages.
func (mm *MemoryManager) copyShared(start, end uintptr, unmap, hostOnly bool) error {
	shared := false
	for _, p := range mm.pmas.overlapping(start, end) {
		shared = shared || p.val.needsCopy && (p.val.host != nil || !hostOnly)
	}
	if !shared {
		return nil
	}
	for _, p := range mm.pmas.isolate(start, end) {
		if !p.val.needsCopy || hostOnly && p.val.host == nil {
			continue
		}
		length := uint64(p.end - p.start)
		if p.val.host == nil && mm.mf.Exclusive(p.val.off, length) {
			// The other sharers are gone; the pages are ours. A
			// read-only platform mapping of them stays valid.
			p.val.needsCopy = false
			continue
		}
		off, err := mm.mf.Allocate(length)
		if err != nil {
			return err
		}
		if p.val.host != nil {
			if err := readHost(p.val.host, mm.mf.Bytes(off, length), p.val.off); err != nil {
				mm.mf.DecRef(off, length)
				return err
			}
		} else {
			copy(mm.mf.Bytes(off, length), mm.mf.Bytes(p.val.off, length))
			mm.mf.DecRef(p.val.off, length)
		}
		p.val.host = nil
		p.val.off = off
		p.val.needsCopy = false
		if unmap && p.val.mapped && mm.as != nil {
			mm.as.Unmap(p.start, p.end-p.start)
			p.val.mapped = false
		}
	}
	mm.mergePMAsAround(start, end)
	return nil
}

// hostFile returns the host file whose pages back v's unwritten pages
// directly, or nil: only private mappings of a HostMappable, in an address
// space of a platform that maps host files (and still has room for this
// one). Callers hold mu.
func (mm *MemoryManager) hostFile(v *seg[vma]) platform.HostFile {
	if !v.val.private || v.val.mappable == nil {
		return nil
	}
	hm, ok := v.val.mappable.(HostMappable)
	if !ok {
		return nil
	}
	hfm, ok := mm.as.(platform.HostFileMapper)
	if !ok {
		return nil
	}
	hf := hm.HostFile()
	if hf == nil || !hfm.CanMapHostFile(hf) {
		return nil
	}
	return hf
}

// dropUnusableHostPages drops the host file pages in [start, end) of v
// that may not be used any more: v's object no longer offers that host file
// (it holds bytes the host file does not), or the address space can take
// no more host files. Such pages were never written; the caller populates
// the range again, with copies of the object's bytes. Callers hold mu.
func (mm *MemoryManager) dropUnusableHostPages(v *seg[vma], start, end uintptr) {
	if !v.val.private || v.val.mappable == nil {
		return // only private file mappings have host pages
	}
	var hf platform.HostFile
	checked := false
	for _, p := range mm.pmas.overlapping(start, end) {
		if p.val.host == nil {
			continue
		}
		if !checked {
			hf, checked = mm.hostFile(v), true
		}
		if p.val.host != hf {
			mm.freeHostPMAs(max(start, p.start), min(end, p.end))
		}
	}
}

// readHost fills b with the bytes of hf at off; bytes beyond the host
// file's end read as zero, as in the last page of a file mapping.
func readHost(hf platform.HostFile, b []byte, off int64) error {
	for done := 0; done < len(b); {
		n, err := unix.Pread(hf.FD(), b[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("mm: read a mapped host file: %w", err)
		}
		if n == 0 {
			clear(b[done:])
			break
		}
		done += n
	}
	return nil
}
