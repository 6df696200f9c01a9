package mm

import (
	"io"
	"sync"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/memory"
)

// SharedMemory is a MemoryMappable object whose pages live in the memory
// file: the backing of anonymous MAP_SHARED mappings, and a building block
// for System V shared memory, memfd and tmpfs files. Every shared mapping
// of it maps the same pages, so they stay shared across Fork.
//
// Lock order: SharedMemory.mu, then memory.File.mu.
type SharedMemory struct {
	mf *memory.File

	mu   sync.Mutex
	refs int64
	size int64
	// pages maps object offsets to memory file offsets; each segment holds
	// one reference on its pages.
	pages rangeSet[fileRange]
}

// fileRange is the value of a SharedMemory page segment.
type fileRange struct{ off int64 }

func (f fileRange) split(delta uintptr) fileRange { return fileRange{off: f.off + int64(delta)} }

// NewSharedMemory returns a zero-filled object of size bytes with one
// reference, owned by the caller.
func NewSharedMemory(mf *memory.File, size int64) *SharedMemory {
	return &SharedMemory{mf: mf, refs: 1, size: size, pages: newRangeSet[fileRange]()}
}

// IncRef implements RefCounted.
func (s *SharedMemory) IncRef() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs <= 0 {
		panic("mm: SharedMemory.IncRef after release")
	}
	s.refs++
}

// DecRef implements RefCounted. The last reference frees the pages (those
// still mapped stay alive until their mappings go).
func (s *SharedMemory) DecRef() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refs--
	if s.refs > 0 {
		return
	}
	if s.refs < 0 {
		panic("mm: SharedMemory.DecRef without a reference")
	}
	for _, p := range s.pages.all() {
		s.mf.DecRef(p.val.off, uint64(p.end-p.start))
		s.pages.remove(p)
	}
}

// Size implements Mappable.
func (s *SharedMemory) Size() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.size
}

// SetSize changes the object's size (ftruncate). Pages beyond the new size
// are released from the object.
func (s *SharedMemory) SetSize(size int64) error {
	if size < 0 {
		return unix.EINVAL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if size < s.size {
		s.decommitLocked((size+pageMask)&^pageMask, (s.size+pageMask)&^pageMask)
		// Zero the tail of the last page, as truncation does.
		if tail := size & pageMask; tail != 0 {
			if p := s.pages.find(uintptr(size)); p != nil {
				off := p.val.off + int64(uintptr(size)-p.start)
				clear(s.mf.Bytes(off, uint64(pageSize-tail)))
			}
		}
	}
	s.size = size
	return nil
}

// Decommit releases the object's pages in [off, off+length) (MADV_REMOVE,
// fallocate hole punching): they read as zero afterwards.
func (s *SharedMemory) Decommit(off int64, length uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decommitLocked(off, off+int64(length))
}

func (s *SharedMemory) decommitLocked(start, end int64) {
	if start >= end {
		return
	}
	for _, p := range s.pages.isolate(uintptr(start), uintptr(end)) {
		s.mf.DecRef(p.val.off, uint64(p.end-p.start))
		s.pages.remove(p)
	}
}

// ReadAt implements Mappable.
func (s *SharedMemory) ReadAt(p []byte, off int64) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if off < 0 {
		return 0, unix.EINVAL
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > s.size-off {
		p = p[:s.size-off]
	}
	clear(p)
	for _, seg := range s.pages.overlapping(uintptr(off), uintptr(off)+uintptr(len(p))) {
		st := max(uintptr(off), seg.start)
		en := min(uintptr(off)+uintptr(len(p)), seg.end)
		copy(p[st-uintptr(off):], s.mf.Bytes(seg.val.off+int64(st-seg.start), uint64(en-st)))
	}
	if len(p) < want {
		return len(p), io.EOF
	}
	return len(p), nil
}

// WriteAt writes p at off, which must lie within the object's size (as
// write(2) to a memfd would after extending it with SetSize).
func (s *SharedMemory) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) < off {
		return 0, unix.EINVAL
	}
	start := off &^ pageMask
	end := (off + int64(len(p)) + pageMask) &^ pageMask
	if len(p) == 0 {
		return 0, nil
	}
	ranges, err := s.Pages(start, uint64(end-start))
	if err != nil {
		return 0, err
	}
	n := 0
	pos := start
	for _, r := range ranges {
		b := s.mf.Bytes(r.FileOff, r.Length)
		lo := max(off, pos) - pos
		hi := min(off+int64(len(p)), pos+int64(r.Length)) - pos
		if lo < hi {
			n += copy(b[lo:hi], p[max(off, pos)-off:])
		}
		pos += int64(r.Length)
		s.mf.DecRef(r.FileOff, r.Length)
	}
	return n, nil
}

// Pages implements MemoryMappable.
func (s *SharedMemory) Pages(off int64, length uint64) ([]PageRange, error) {
	if off < 0 || off&pageMask != 0 || length&pageMask != 0 || uint64(off)+length < uint64(off) {
		return nil, unix.EINVAL
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if uint64(off)+length > uint64((s.size+pageMask)&^pageMask) {
		return nil, unix.EFAULT
	}
	start, end := uintptr(off), uintptr(off)+uintptr(length)
	for _, g := range s.pages.gaps(start, end) {
		foff, err := s.mf.Allocate(uint64(g[1] - g[0]))
		if err != nil {
			return nil, err
		}
		s.pages.insert(&seg[fileRange]{start: g[0], end: g[1], val: fileRange{off: foff}})
	}
	var r []PageRange
	for _, p := range s.pages.overlapping(start, end) {
		st, en := max(start, p.start), min(end, p.end)
		fo := p.val.off + int64(st-p.start)
		if n := len(r); n > 0 && r[n-1].FileOff+int64(r[n-1].Length) == fo {
			r[n-1].Length += uint64(en - st)
		} else {
			r = append(r, PageRange{Off: int64(st), FileOff: fo, Length: uint64(en - st)})
		}
		s.mf.IncRef(fo, uint64(en-st))
	}
	return r, nil
}
