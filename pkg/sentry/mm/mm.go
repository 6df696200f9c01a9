// Package mm owns application address spaces: the virtual memory areas
// (VMAs) a process has mapped, the memory file pages that back them, and the
// platform address space that shows those pages to application code.
//
// A MemoryManager implements mmap, munmap, mprotect, brk, mremap and madvise
// with Linux semantics; resolves application page faults (populating memory
// lazily, one chunk of pages and one platform mapping call at a time); and
// copies data in and out of application memory for system calls, directly
// through the memory file, never through the platform.
//
// Two layers describe an address space, as in Linux:
//   - VMAs (vmas) record what the application asked for: a range, its
//     permissions, and what backs it (anonymous memory, a file, shared
//     memory).
//   - PMAs (pmas) record which memory file pages currently back which
//     addresses. They are created on demand (faults, copies) and each holds a
//     reference on its pages. Private pages shared with another address space
//     after Fork are marked needsCopy and copied on the first write.
//
// Lock order:
//
//	MemoryManager.mu
//	  SharedMemory.mu
//	    memory.File.mu
//
// Mappable methods are called with MemoryManager.mu held and must not call
// back into the MemoryManager. RefCounted.DecRef is called after
// MemoryManager.mu is released.
package mm

import (
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/abi/linux"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/platform"
)

const (
	pageSize = linux.PageSize
	pageMask = pageSize - 1

	// faultChunk is the size and alignment of the window populated and
	// mapped on one fault: one platform mapping call per chunk, never one
	// per page.
	faultChunk = 256 << 10
	// hostFaultChunk is faultChunk for host file pages
	// (platform.HostFileMapper): mapping them costs the Sentry nothing
	// per page (the host faults them in from its page cache), so one
	// fault maps a program's whole text.
	hostFaultChunk = 4 << 20
	// cowChunk is the size and alignment of the window copied when a
	// write breaks copy-on-write sharing.
	cowChunk = 64 << 10
	// mmapGap is the distance kept between the top of the user address
	// space and the mmap base, leaving room for the stack (Linux uses the
	// stack rlimit, clamped to at least 128 MiB).
	mmapGap = 128 << 20
	// stackGuardGap is the gap kept below a grows-down mapping (Linux's
	// stack_guard_gap, 256 pages).
	stackGuardGap = 256 * pageSize
)

// Mappable is an object that can be mapped: a file. Private mappings copy its
// bytes into memory file pages on first access. Its methods are called with
// the MemoryManager's lock held.
type Mappable interface {
	// ReadAt reads len(p) bytes at offset off, as io.ReaderAt. Reading at
	// or beyond the end returns io.EOF with a short count.
	ReadAt(p []byte, off int64) (int, error)
	// Size returns the object's current size in bytes.
	Size() int64
}

// HostMappable is a Mappable whose bytes are a host file's. On platforms
// that map host files (platform.HostFileMapper), a private mapping of it
// maps the host file's pages, read-only, until a write copies them into the
// memory file: a program's text is then the host's page cache, and costs
// neither a copy nor memory of the sandbox's.
type HostMappable interface {
	Mappable
	// HostFile returns the host file, or nil if its pages may not be
	// mapped directly now (they would not show what the object holds).
	HostFile() platform.HostFile
}

// MemoryMappable is a Mappable whose pages live in the memory file
// (anonymous shared memory; System V shared memory, memfd and tmpfs files
// later). Shared mappings of it map those pages directly, so writes through
// any mapping are seen by all of them and by the object's readers.
type MemoryMappable interface {
	Mappable
	// Pages returns the memory file pages backing [off, off+length) of the
	// object in order, allocating any that do not exist yet, and takes a
	// reference on each for the caller, who drops it with
	// memory.File.DecRef. off and length are page aligned and the range
	// lies below Size rounded up to a page.
	Pages(off int64, length uint64) ([]PageRange, error)
}

// PageRange says that Length bytes of an object at offset Off live in the
// memory file at FileOff.
type PageRange struct {
	Off     int64
	FileOff int64
	Length  uint64
}

// RefCounted is implemented by Mappables that want to know how long they
// are mapped: each VMA that maps the object holds a reference, taken with
// IncRef and dropped with DecRef.
type RefCounted interface {
	IncRef()
	DecRef()
}

// MMapOpts describes a mapping to create. The syscall layer decodes
// mmap(2)'s flags into it.
type MMapOpts struct {
	// Addr is the requested address: a hint, or exact when Fixed or
	// FixedNoReplace is set.
	Addr uintptr
	// Length is the length in bytes; it is rounded up to whole pages.
	Length uintptr
	// Prot is the PROT_* permissions.
	Prot int
	// Fixed (MAP_FIXED) maps exactly at Addr, replacing existing mappings.
	Fixed bool
	// FixedNoReplace (MAP_FIXED_NOREPLACE) maps exactly at Addr, failing
	// with EEXIST if anything is mapped there.
	FixedNoReplace bool
	// Private (MAP_PRIVATE) and Shared (MAP_SHARED, MAP_SHARED_VALIDATE):
	// exactly one must be set.
	Private, Shared bool
	// Anonymous (MAP_ANONYMOUS): no Mappable; Offset is ignored.
	Anonymous bool
	// GrowsDown (MAP_GROWSDOWN): the mapping extends downwards when the
	// application faults just below it, like a stack.
	GrowsDown bool
	// Mappable is the mapped file (nil for anonymous mappings). For Shared
	// mappings that may be writable it should be a MemoryMappable.
	Mappable Mappable
	// Offset is the offset into Mappable of the first mapped byte; page
	// aligned.
	Offset int64
	// MaxPerms is the most the mapping may ever allow (what the file was
	// opened for, noexec mounts). The zero value means no limit. Private
	// mappings may always be made writable. Shared mappings of Mappables
	// that are not MemoryMappable can never be writable: their writes could
	// not reach the file.
	MaxPerms platform.AccessType
	// Name names an anonymous mapping in /proc/[pid]/maps (e.g. "[stack]").
	Name string
}

// vma is the value of one VMA segment.
type vma struct {
	perms    platform.AccessType
	maxPerms platform.AccessType
	private  bool
	// growsDown is set for stacks (MAP_GROWSDOWN).
	growsDown bool
	// mappable backs the VMA; nil for anonymous private memory.
	mappable Mappable
	// off is the offset into mappable of the segment's start.
	off int64
	// dontFork and wipeOnFork record MADV_DONTFORK and MADV_WIPEONFORK.
	dontFork   bool
	wipeOnFork bool
	name       string
}

func (v vma) split(delta uintptr) vma {
	if v.mappable != nil {
		v.off += int64(delta)
	}
	return v
}

// canMergeWith reports whether a segment with value v ending where a segment
// with value w (at distance delta from v's start) begins can become one.
func (v vma) canMergeWith(w vma, delta uintptr) bool {
	if v.perms != w.perms || v.maxPerms != w.maxPerms || v.private != w.private ||
		v.growsDown != w.growsDown || v.mappable != w.mappable || v.dontFork != w.dontFork ||
		v.wipeOnFork != w.wipeOnFork || v.name != w.name {
		return false
	}
	return v.mappable == nil || v.off+int64(delta) == w.off
}

// pma is the value of one PMA segment: the pages backing it.
type pma struct {
	// host, if not nil, is the host file whose pages back the segment: a
	// private mapping of a file the platform maps directly
	// (platform.HostFileMapper), not written yet; needsCopy is then set.
	host platform.HostFile
	// off is the offset of the segment's first page in the memory file,
	// or in host.
	off int64
	// needsCopy is set on private pages shared with another address space
	// (after Fork) or with a host file: they are mapped read-only and
	// copied before the first write.
	needsCopy bool
	// mapped is set when the pages may be mapped in the platform address
	// space.
	mapped bool
}

func (p pma) split(delta uintptr) pma {
	p.off += int64(delta)
	return p
}

// ExecutableHold is what an address space holds on the file its program
// runs from: execve's denial of writes to it (ETXTBSY), which a fork clones
// and the address space's release ends.
type ExecutableHold interface {
	// Clone returns another hold on the same file.
	Clone() ExecutableHold
	// Release ends the hold.
	Release()
}

// MemoryManager is one application address space. It is safe for concurrent
// use by the tasks that share it.
type MemoryManager struct {
	p  platform.Platform
	mf *memory.File

	// users counts the tasks (or other holders) using the address space;
	// at zero it is released.
	users int64

	mu sync.Mutex
	// as is the platform address space; nil after release.
	as   platform.AddressSpace
	vmas rangeSet[vma]
	pmas rangeSet[pma]

	minAddr, maxAddr uintptr
	mmapBase         uintptr
	maxMapCount      int

	brkStart, brk uintptr
	stackStart    uintptr
	// exe is the hold on the program's file (SetExecutable), or nil.
	exe        ExecutableHold
	argv, envv [2]uintptr
	auxv       []uint64

	// released holds references to drop once mu is released.
	released []RefCounted
	// stackLimit bounds stack growth (RLIMIT_STACK); guarded by mu.
	stackLimit uintptr
}

// New returns an empty address space backed by a new platform address space
// of p and pages of mf.
func New(p platform.Platform, mf *memory.File) (*MemoryManager, error) {
	as, err := p.NewAddressSpace()
	if err != nil {
		return nil, err
	}
	minAddr := max(p.MinUserAddress(), linux.DefaultMMapMinAddr)
	maxAddr := p.MaxUserAddress() &^ pageMask
	base := maxAddr
	if base-minAddr > 2*mmapGap {
		base -= mmapGap
	}
	return &MemoryManager{
		p:           p,
		mf:          mf,
		users:       1,
		as:          as,
		vmas:        newRangeSet[vma](),
		pmas:        newRangeSet[pma](),
		minAddr:     minAddr,
		maxAddr:     maxAddr,
		mmapBase:    base,
		maxMapCount: linux.DefaultMaxMapCount,
	}, nil
}

// MemoryFile returns the memory file backing the address space.
func (mm *MemoryManager) MemoryFile() *memory.File { return mm.mf }

// AddressSpace returns the platform address space tasks using mm run in. It
// is nil after the MemoryManager has been released.
func (mm *MemoryManager) AddressSpace() platform.AddressSpace {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return mm.as
}

// MMapBase returns the address below which mappings without a usable hint
// are placed, top down.
func (mm *MemoryManager) MMapBase() uintptr { return mm.mmapBase }

// SetMMapBase moves the mmap base (for example to randomise the layout). It
// is meant to be called before anything is mapped.
func (mm *MemoryManager) SetMMapBase(base uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if base&pageMask == 0 && base > mm.minAddr && base <= mm.maxAddr {
		mm.mmapBase = base
	}
}

// MinAddress and MaxAddress bound the addresses applications may map:
// [MinAddress, MaxAddress).
func (mm *MemoryManager) MinAddress() uintptr { return mm.minAddr }

// MaxAddress returns the end of the mappable user address range.
func (mm *MemoryManager) MaxAddress() uintptr { return mm.maxAddr }

// IncUsers takes a reference on the address space (a task sharing it with
// CLONE_VM, or a reader of /proc/[pid]/mem). It returns false if the address
// space was already released.
func (mm *MemoryManager) IncUsers() bool {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	if mm.users == 0 {
		return false
	}
	mm.users++
	return true
}

// DecUsers drops a reference; the last one unmaps everything, frees the
// pages and releases the platform address space.
func (mm *MemoryManager) DecUsers() {
	mm.mu.Lock()
	mm.users--
	if mm.users > 0 {
		mm.mu.Unlock()
		return
	}
	if mm.users < 0 {
		mm.mu.Unlock()
		panic("mm: DecUsers without a matching user")
	}
	for _, p := range mm.pmas.all() {
		mm.dropPages(p)
		mm.pmas.remove(p)
	}
	for _, v := range mm.vmas.all() {
		mm.dropVMA(v)
	}
	as, exe := mm.as, mm.exe
	mm.as, mm.exe = nil, nil
	mm.unlock()
	if exe != nil {
		exe.Release()
	}
	if as != nil {
		as.Release()
	}
}

// unlock releases mu and then drops the references collected while it was
// held.
func (mm *MemoryManager) unlock() {
	rel := mm.released
	mm.released = nil
	mm.mu.Unlock()
	for _, r := range rel {
		r.DecRef()
	}
}

// dropVMA removes a VMA segment and schedules its mappable's reference to be
// dropped. Callers hold mu.
func (mm *MemoryManager) dropVMA(v *seg[vma]) {
	mm.vmas.remove(v)
	mm.mappableDropped(v.val.mappable)
}

// addVMA inserts a VMA segment, taking a reference on its mappable. Callers
// hold mu.
func (mm *MemoryManager) addVMA(v *seg[vma]) {
	mm.mappableAdded(v.val.mappable)
	mm.vmas.insert(v)
}

// splitVMAs isolates [start, end) in the VMA set, taking mappable references
// for any new segments. Callers hold mu.
func (mm *MemoryManager) splitVMAs(start, end uintptr) []*seg[vma] {
	for _, a := range []uintptr{start, end} {
		if x := mm.vmas.find(a); x != nil && x.start != a {
			mm.mappableAdded(x.val.mappable)
			mm.vmas.splitAt(a)
		}
	}
	return mm.vmas.overlapping(start, end)
}

// mergeVMAsAround joins VMA segments adjacent to [start, end) (and inside
// it) that are compatible. Callers hold mu.
func (mm *MemoryManager) mergeVMAsAround(start, end uintptr) {
	first := mm.vmas.lowerBound(start)
	if first == nil {
		return
	}
	if p := mm.vmas.prev(first); p != nil {
		first = p
	}
	cur := first
	for cur != nil && cur.start <= end {
		next := mm.vmas.firstFrom(cur.end)
		if next == nil || next.start != cur.end {
			cur = next
			continue
		}
		if cur.val.canMergeWith(next.val, cur.end-cur.start) {
			cur.end = next.end
			mm.dropVMA(next)
			continue
		}
		cur = next
	}
}

// mergePMAsAround joins adjacent PMA segments in [start, end) whose pages
// are contiguous in the memory file. Callers hold mu.
func (mm *MemoryManager) mergePMAsAround(start, end uintptr) {
	first := mm.pmas.lowerBound(start)
	if first == nil {
		return
	}
	if p := mm.pmas.prev(first); p != nil {
		first = p
	}
	cur := first
	for cur != nil && cur.start <= end {
		next := mm.pmas.firstFrom(cur.end)
		if next == nil || next.start != cur.end {
			cur = next
			continue
		}
		if next.val.off == cur.val.off+int64(cur.end-cur.start) && next.val.host == cur.val.host &&
			next.val.needsCopy == cur.val.needsCopy && next.val.mapped == cur.val.mapped {
			cur.end = next.end
			mm.pmas.remove(next)
			continue
		}
		cur = next
	}
}

// freePMAs drops the pages backing [start, end) and reports whether any of
// them may have been mapped in the platform. Callers hold mu and must unmap
// the range from the platform if so.
func (mm *MemoryManager) freePMAs(start, end uintptr) bool {
	mapped := false
	for _, p := range mm.pmas.isolate(start, end) {
		mapped = mapped || p.val.mapped
		mm.dropPages(p)
		mm.pmas.remove(p)
	}
	return mapped
}

// dropPages drops the segment's reference on its memory file pages; host
// file pages hold none.
func (mm *MemoryManager) dropPages(p *seg[pma]) {
	if p.val.host == nil {
		mm.mf.DecRef(p.val.off, uint64(p.end-p.start))
	}
}

// unmapLocked removes all mappings in [start, end). Callers hold mu.
func (mm *MemoryManager) unmapLocked(start, end uintptr) {
	for _, v := range mm.splitVMAs(start, end) {
		mm.dropVMA(v)
	}
	if mm.freePMAs(start, end) && mm.as != nil {
		mm.as.Unmap(start, end-start)
	}
}

// pageRoundUp rounds x up to a page; ok is false on overflow.
func pageRoundUp(x uintptr) (uintptr, bool) {
	r := (x + pageMask) &^ pageMask
	return r, r >= x
}

// protToAccess converts PROT_* bits; ok is false for unknown bits.
func protToAccess(prot int) (platform.AccessType, bool) {
	if prot&^(unix.PROT_READ|unix.PROT_WRITE|unix.PROT_EXEC) != 0 {
		return platform.AccessType{}, false
	}
	return platform.AccessType{
		Read:    prot&unix.PROT_READ != 0,
		Write:   prot&unix.PROT_WRITE != 0,
		Execute: prot&unix.PROT_EXEC != 0,
	}, true
}

// subset reports whether a allows nothing that b does not.
func subset(a, b platform.AccessType) bool {
	return (!a.Read || b.Read) && (!a.Write || b.Write) && (!a.Execute || b.Execute)
}

// readable reports whether pages with permissions at can be read: on x86-64
// any present page is readable.
func readable(at platform.AccessType) bool { return at.Read || at.Write || at.Execute }

// SetExecutable gives the address space the hold on its program's file
// (execve), released with the address space.
func (mm *MemoryManager) SetExecutable(h ExecutableHold) {
	mm.mu.Lock()
	old := mm.exe
	mm.exe = h
	mm.mu.Unlock()
	if old != nil {
		old.Release()
	}
}
