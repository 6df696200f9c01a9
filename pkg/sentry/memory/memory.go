// Package memory owns the Sentry's memory file: one memfd from which every
// page an application sees is allocated. The file is large and sparse; the
// Sentry maps all of it once for copy-in and copy-out, and platforms map
// ranges of it into application address spaces.
//
// The File is a page allocator over that memfd. Allocated pages carry
// reference counts so that copy-on-write and shared mappings can share them;
// when a page's count drops to zero its space is freed for reuse and its
// contents are released to the host (so it reads as zero when reused).
//
// Lock order: File.mu is a leaf; no other lock is taken while it is held.
package memory

import (
	"fmt"
	"sync"

	"github.com/google/btree"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/abi/linux"
)

// DefaultSize is the size of the memory file's address range: 64 GiB. The
// file is sparse, so only pages that are written cost memory.
const DefaultSize = 64 << 30

const pageMask = linux.PageSize - 1

// File is the memory file. It is safe for concurrent use.
type File struct {
	fd      int
	size    uint64
	mapping []byte

	mu sync.Mutex
	// free holds the free extents below top, ordered by start and
	// coalesced (no two are adjacent).
	free *btree.BTreeG[extent]
	// freeBySize holds the same extents ordered by (length, start), for
	// best-fit allocation.
	freeBySize *btree.BTreeG[extent]
	// top is the end of the space ever handed out; [top, size) is free.
	top uint64
	// refs holds the reference counts of allocated pages as maximal runs of
	// pages with equal counts (adjacent runs have different counts or are
	// not contiguous). Unallocated pages are absent.
	refs *btree.BTreeG[extent]
	// usage is the number of bytes allocated.
	usage uint64
}

// extent is a page-aligned range [start, end) of the file; refs is its
// reference count in File.refs and unused in File.free.
type extent struct {
	start, end uint64
	refs       int32
}

func extentLess(a, b extent) bool { return a.start < b.start }

func extentSizeLess(a, b extent) bool {
	la, lb := a.end-a.start, b.end-b.start
	if la != lb {
		return la < lb
	}
	return a.start < b.start
}

// New creates a memory file named name (the name shows up in /proc on the
// host and is only informative) of DefaultSize bytes and maps it into the
// Sentry.
func New(name string) (*File, error) {
	return NewSize(name, DefaultSize)
}

// NewSize is like New with a size in bytes (rounded up to a page).
func NewSize(name string, size uint64) (*File, error) {
	size = (size + pageMask) &^ pageMask
	if size == 0 || size > 1<<46 {
		return nil, unix.EINVAL
	}
	fd, err := unix.MemfdCreate(name, unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("ftruncate memory file: %w", err)
	}
	m, err := unix.Mmap(fd, 0, int(size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_NORESERVE)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("mmap memory file: %w", err)
	}
	return &File{
		fd:         fd,
		size:       size,
		mapping:    m,
		free:       btree.NewG(16, extentLess),
		freeBySize: btree.NewG(16, extentSizeLess),
		refs:       btree.NewG(16, extentLess),
	}, nil
}

// FD returns the memfd's file descriptor. Platforms map ranges of it into
// application address spaces. It stays owned by the File.
func (f *File) FD() int { return f.fd }

// Size returns the size of the file's address range in bytes.
func (f *File) Size() uint64 { return f.size }

// Close unmaps and closes the file. Nothing may use it afterwards.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.mapping == nil {
		return nil
	}
	err := unix.Munmap(f.mapping)
	f.mapping = nil
	if cerr := unix.Close(f.fd); err == nil {
		err = cerr
	}
	return err
}

// Allocate returns the offset of length bytes (rounded up to whole pages) of
// contiguous, zero-filled file space with a reference count of one. It is
// cheap: the pages cost nothing until they are touched. It fails with ENOMEM
// when the file has no contiguous free range that large and EINVAL for a
// zero length.
func (f *File) Allocate(length uint64) (int64, error) {
	if length == 0 {
		return 0, unix.EINVAL
	}
	if length > f.size {
		return 0, unix.ENOMEM
	}
	length = (length + pageMask) &^ pageMask
	f.mu.Lock()
	defer f.mu.Unlock()

	start, ok := uint64(0), false
	// Best fit among the free extents below top.
	var found extent
	f.freeBySize.AscendGreaterOrEqual(extent{start: 0, end: length}, func(e extent) bool {
		found, ok = e, true
		return false
	})
	if ok {
		f.removeFree(found)
		start = found.start
		if found.end-found.start > length {
			f.insertFree(extent{start: start + length, end: found.end})
		}
	} else {
		if f.size-f.top < length {
			return 0, unix.ENOMEM
		}
		start = f.top
		f.top += length
	}
	f.refs.ReplaceOrInsert(extent{start: start, end: start + length, refs: 1})
	f.mergeRefsAround(start, start+length)
	f.usage += length
	return int64(start), nil
}

// IncRef takes a reference on each page of [off, off+length). The pages must
// be allocated.
func (f *File) IncRef(off int64, length uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start, end := f.checkRange(off, length)
	if start == end {
		return
	}
	f.forEachRef(start, end, func(e *extent) { e.refs++ })
	f.mergeRefsAround(start, end)
}

// DecRef drops a reference on each page of [off, off+length). Pages whose
// count reaches zero are freed: their space can be allocated again and their
// contents are released to the host. The pages must be allocated.
func (f *File) DecRef(off int64, length uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	start, end := f.checkRange(off, length)
	if start == end {
		return
	}
	var freed []extent
	f.forEachRef(start, end, func(e *extent) {
		e.refs--
		if e.refs == 0 {
			if n := len(freed); n > 0 && freed[n-1].end == e.start {
				freed[n-1].end = e.end
			} else {
				freed = append(freed, extent{start: e.start, end: e.end})
			}
		}
	})
	for _, e := range freed {
		// e may cover several runs; remove them all.
		for {
			var next extent
			found := false
			f.refs.AscendRange(extent{start: e.start}, extent{start: e.end}, func(x extent) bool {
				next, found = x, true
				return false
			})
			if !found {
				break
			}
			f.refs.Delete(next)
		}
		f.usage -= e.end - e.start
		// Release the pages: they read as zero when the space is reused.
		if err := unix.Fallocate(f.fd, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, int64(e.start), int64(e.end-e.start)); err != nil {
			// Without the hole the pages would leak their old
			// contents into a later allocation; zero them instead.
			clear(f.mapping[e.start:e.end])
		}
		f.addFree(e.start, e.end)
	}
	f.mergeRefsAround(start, end)
}

// RefCount returns the reference count of the page containing off (zero if
// it is not allocated).
func (f *File) RefCount(off int64) int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	var e extent
	found := false
	f.refs.DescendLessOrEqual(extent{start: uint64(off)}, func(x extent) bool {
		e, found = x, true
		return false
	})
	if !found || uint64(off) >= e.end {
		return 0
	}
	return e.refs
}

// Exclusive reports whether every page of [off, off+length) has a reference
// count of exactly one: the holder of that reference is its only user and
// may write it without copying.
func (f *File) Exclusive(off int64, length uint64) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	start, end := f.checkRange(off, length)
	excl := true
	pos := start
	f.refs.DescendLessOrEqual(extent{start: start}, func(x extent) bool {
		if x.end > start {
			if x.refs != 1 {
				excl = false
			}
			pos = x.end
		}
		return false
	})
	if !excl {
		return false
	}
	f.refs.AscendRange(extent{start: pos}, extent{start: end}, func(x extent) bool {
		if x.start != pos || x.refs != 1 {
			excl = false
			return false
		}
		pos = x.end
		return true
	})
	return excl && pos >= end
}

// Bytes returns the Sentry's view of [off, off+length) of the file. The
// slice aliases the file: writes go to the pages applications see.
func (f *File) Bytes(off int64, length uint64) []byte {
	if off < 0 || uint64(off) > f.size || length > f.size-uint64(off) {
		panic(fmt.Sprintf("memory: Bytes(%#x, %#x) outside the file", off, length))
	}
	return f.mapping[off : uint64(off)+length : uint64(off)+length]
}

// Usage returns the number of bytes allocated.
func (f *File) Usage() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.usage
}

// checkRange validates a page range given to IncRef/DecRef. Bad ranges are
// Sentry bugs, not application errors.
func (f *File) checkRange(off int64, length uint64) (uint64, uint64) {
	if off < 0 || uint64(off)&pageMask != 0 || length&pageMask != 0 || uint64(off) > f.size || length > f.size-uint64(off) {
		panic(fmt.Sprintf("memory: bad page range [%#x, +%#x)", off, length))
	}
	return uint64(off), uint64(off) + length
}

// forEachRef splits the reference runs at start and end and calls fn on
// each run inside [start, end), which must be fully allocated. Callers hold
// f.mu.
func (f *File) forEachRef(start, end uint64, fn func(e *extent)) {
	f.splitRefs(start)
	f.splitRefs(end)
	var runs []extent
	pos := start
	f.refs.AscendRange(extent{start: start}, extent{start: end}, func(x extent) bool {
		if x.start != pos {
			return false
		}
		runs = append(runs, x)
		pos = x.end
		return true
	})
	if pos != end {
		panic(fmt.Sprintf("memory: reference count change on unallocated page %#x", pos))
	}
	for i := range runs {
		fn(&runs[i])
		f.refs.ReplaceOrInsert(runs[i])
	}
}

// splitRefs makes a run boundary at off if a run spans it.
func (f *File) splitRefs(off uint64) {
	var e extent
	found := false
	f.refs.DescendLessOrEqual(extent{start: off}, func(x extent) bool {
		e, found = x, true
		return false
	})
	if !found || e.start == off || e.end <= off {
		return
	}
	f.refs.ReplaceOrInsert(extent{start: e.start, end: off, refs: e.refs})
	f.refs.ReplaceOrInsert(extent{start: off, end: e.end, refs: e.refs})
}

// mergeRefsAround coalesces adjacent runs with equal counts in and next to
// [start, end).
func (f *File) mergeRefsAround(start, end uint64) {
	var runs []extent
	lo := extent{start: 0}
	f.refs.DescendLessOrEqual(extent{start: start}, func(x extent) bool {
		lo = x
		if x.start == start {
			// Include the run before too.
			return true
		}
		return false
	})
	f.refs.AscendGreaterOrEqual(lo, func(x extent) bool {
		if x.start > end {
			return false
		}
		runs = append(runs, x)
		return true
	})
	for i := 1; i < len(runs); i++ {
		prev, cur := runs[i-1], runs[i]
		if prev.end == cur.start && prev.refs == cur.refs {
			f.refs.Delete(cur)
			merged := extent{start: prev.start, end: cur.end, refs: prev.refs}
			f.refs.ReplaceOrInsert(merged)
			runs[i] = merged
		}
	}
}

// addFree returns [start, end) to the free space, coalescing with neighbours
// and with the never-used space above top.
func (f *File) addFree(start, end uint64) {
	var prev, next extent
	hasPrev, hasNext := false, false
	f.free.DescendLessOrEqual(extent{start: start}, func(x extent) bool {
		prev, hasPrev = x, true
		return false
	})
	f.free.AscendGreaterOrEqual(extent{start: end}, func(x extent) bool {
		next, hasNext = x, true
		return false
	})
	if hasPrev && prev.end == start {
		f.removeFree(prev)
		start = prev.start
	}
	if hasNext && next.start == end {
		f.removeFree(next)
		end = next.end
	}
	if end == f.top {
		f.top = start
		return
	}
	f.insertFree(extent{start: start, end: end})
}

func (f *File) insertFree(e extent) {
	f.free.ReplaceOrInsert(e)
	f.freeBySize.ReplaceOrInsert(e)
}

func (f *File) removeFree(e extent) {
	f.free.Delete(e)
	f.freeBySize.Delete(e)
}
