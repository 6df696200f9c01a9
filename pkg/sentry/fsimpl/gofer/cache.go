package gofer

// The page cache of a regular file: memory file pages that hold the
// file's bytes while the file is mapped, so that every MAP_SHARED mapping
// of it, in any address space, maps the same pages (mm.MemoryMappable),
// and read(2) and write(2) in the sandbox agree with them.
//
//   - A page enters the cache when a shared mapping first faults on it: it
//     is filled from the host file.
//   - While pages are cached, read(2) takes cached bytes from the cache and
//     the rest from the host; write(2) goes to the host (write-through) and
//     into any cached page it covers, so mappings see it at once.
//   - Stores through mappings land in cached pages only. They reach the
//     host file on msync(2), fsync(2) and fdatasync(2) of the file, and
//     when the last mapping goes (then the cache is emptied). mm does not
//     track dirty pages, so write-back writes every cached page below the
//     file's size; a file is cached only while it is mapped.
//   - Truncation drops cached pages beyond the new end from the cache and
//     from every address space that maps them (mm.InvalidateMappable), so
//     an access beyond the end gets SIGBUS; the kept partial page is
//     zeroed past the end, as on Linux.
//   - fallocate(2) punching or zeroing a range zeroes it in the cache;
//     collapsing or inserting a range writes the cache back first and
//     empties it after.
//   - Private mappings copy from the cache where it has the page, from
//     the host otherwise. Where the platform maps host files
//     (mm.HostMappable), a private mapping maps the host file's own pages
//     until it writes them, as long as no open file that can write is
//     mapped: only stores through such a file's shared mappings make the
//     cache hold what the host file does not. When one is mapped, every
//     address space drops the host pages it maps (mm.InvalidateHostPages).
//
// The file's size is the inode's cached size (see the package doc on
// attribute caching); mappings never change it.
//
// Lock order: mm.MemoryManager.mu > pageCache.mu > inode.mu >
// memory.File.mu. Host I/O for fills is done under pageCache.mu; calls
// into mm (InvalidateMappable) are made with no cache lock held.

import (
	"io"
	"maps"
	"os"
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/platform"
)

const pageSize = 4096

// pageCache is the cache of one inode; it is the mm.Mappable of every
// mapping of the file.
type pageCache struct {
	inode *inode
	mf    *memory.File
	// npages counts the cached pages, so that reads and writes of an
	// unmapped file skip the cache without locking.
	npages atomic.Int64

	mu sync.Mutex
	// refs counts the VMAs that map the file (mm.RefCounted).
	refs int64
	// pages maps a page index of the file to the memory file offset of
	// its cached copy; the cache holds one reference on each.
	pages map[int64]int64
	// spaces counts the VMAs of each address space that maps the file
	// (mm.MappingTracker).
	spaces map[*mm.MemoryManager]int
	// readFD fills pages; writeFD, a descriptor of the file open for
	// writing, writes them back. writeFD is set when a file open for
	// writing is mapped, which any writable shared mapping needs.
	readFD, writeFD *os.File
	// host is the host file that private mappings may map, made on first
	// use; noHost is set if its mount forbids executable mappings.
	host   *hostFile
	noHost bool
}

// hostFile is a cached file's host file as address spaces map it
// (platform.HostFile): the inode's read descriptor, which is never closed
// while anything refers to it.
type hostFile struct{ f *os.File }

// FD implements platform.HostFile.
func (h *hostFile) FD() int { return int(h.f.Fd()) }

// HostFile implements mm.HostMappable: the host file, while no open file
// that can write is mapped, if its mount allows executable mappings.
func (c *pageCache) HostFile() platform.HostFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writeFD != nil || c.noHost {
		return nil
	}
	if c.host == nil {
		var st unix.Statfs_t
		if err := unix.Fstatfs(int(c.readFD.Fd()), &st); err != nil || st.Flags&unix.ST_NOEXEC != 0 {
			c.noHost = true
			return nil
		}
		c.host = &hostFile{c.readFD}
	}
	return c.host
}

// Mappable implements vfs.Mappable: the page cache, or without a memory
// file a host descriptor that private mappings copy from.
func (f *regularFile) Mappable() (mm.Mappable, error) {
	i := f.inode
	// A read-only open's host descriptor serves as the inode's read
	// descriptor: no second open of the file (two 9P round trips).
	var from *os.File
	if !f.writable {
		from = f.host
	}
	if i.fs.mf == nil {
		return i.mappable(from)
	}
	c, err := i.pageCache(from)
	if err != nil {
		return nil, err
	}
	if f.writable && f.host != nil {
		c.mu.Lock()
		var spaces []*mm.MemoryManager
		if c.writeFD == nil {
			fd, err := unix.FcntlInt(f.host.Fd(), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				c.mu.Unlock()
				return nil, err
			}
			c.writeFD = os.NewFile(uintptr(fd), "gofer-writeback")
			if c.host != nil {
				spaces = slices.Collect(maps.Keys(c.spaces))
			}
		}
		c.mu.Unlock()
		// Stores through the new mapping may stay in the cache: private
		// mappings must copy from it from now on.
		for _, s := range spaces {
			s.InvalidateHostPages(c)
		}
	}
	return c, nil
}

// pageCache returns the inode's cache, making it the first time (with
// openReadFD(from)).
func (i *inode) pageCache(from *os.File) (*pageCache, error) {
	readFD, err := i.openReadFD(from)
	if err != nil {
		return nil, err
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	if i.cache == nil {
		i.cache = &pageCache{inode: i, mf: i.fs.mf, readFD: readFD,
			pages: make(map[int64]int64), spaces: make(map[*mm.MemoryManager]int)}
	}
	return i.cache, nil
}

// Size implements mm.Mappable.
func (c *pageCache) Size() int64 {
	c.inode.mu.Lock()
	defer c.inode.mu.Unlock()
	return int64(c.inode.attr.Size)
}

// ReadAt implements mm.Mappable (private mappings' copies).
func (c *pageCache) ReadAt(p []byte, off int64) (int, error) {
	size := c.Size()
	if off >= size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > size-off {
		p = p[:size-off]
	}
	n, err := c.read(p, off)
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

// read reads p at off, cached bytes from the cache and the rest from the
// host; off+len(p) is within the file.
func (c *pageCache) read(p []byte, off int64) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	done := 0
	for done < len(p) {
		pos := off + int64(done)
		idx, in := pos/pageSize, pos%pageSize
		if foff, ok := c.pages[idx]; ok {
			done += copy(p[done:], c.mf.Bytes(foff+in, uint64(pageSize-in)))
			continue
		}
		// Read up to the next cached page from the host.
		end := len(p)
		for j := idx + 1; int64(j*pageSize) < off+int64(len(p)); j++ {
			if _, ok := c.pages[j]; ok {
				end = int(j*pageSize - off)
				break
			}
		}
		chunk := p[done:end]
		n, err := unix.Pread(int(c.readFD.Fd()), chunk, pos)
		if err != nil {
			return done, err
		}
		// A host file shorter than the inode says reads as zero there,
		// as a hole would.
		clear(chunk[n:])
		done = end
	}
	return done, nil
}

// write copies p, just written to the host at off, into the cached pages
// it covers.
func (c *pageCache) write(p []byte, off int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for done := 0; done < len(p); {
		pos := off + int64(done)
		idx, in := pos/pageSize, pos%pageSize
		n := min(len(p)-done, int(pageSize-in))
		if foff, ok := c.pages[idx]; ok {
			copy(c.mf.Bytes(foff+in, uint64(n)), p[done:done+n])
		}
		done += n
	}
}

// zero clears the cached bytes of [off, off+length) (a hole punched in the
// host file).
func (c *pageCache) zero(off, length int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for pos, end := off, off+length; pos < end; {
		idx, in := pos/pageSize, pos%pageSize
		n := min(end-pos, pageSize-in)
		if foff, ok := c.pages[idx]; ok {
			clear(c.mf.Bytes(foff+in, uint64(n)))
		}
		pos += n
	}
}

// Pages implements mm.MemoryMappable: cached pages, filling missing ones
// from the host.
func (c *pageCache) Pages(off int64, length uint64) ([]mm.PageRange, error) {
	if off < 0 || off%pageSize != 0 || length%pageSize != 0 {
		return nil, unix.EINVAL
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	first, n := off/pageSize, int64(length/pageSize)
	for idx := first; idx < first+n; {
		if _, ok := c.pages[idx]; ok {
			idx++
			continue
		}
		run := int64(1)
		for idx+run < first+n {
			if _, ok := c.pages[idx+run]; ok {
				break
			}
			run++
		}
		if err := c.fillLocked(idx, run); err != nil {
			return nil, err
		}
		idx += run
	}
	var r []mm.PageRange
	for idx := first; idx < first+n; idx++ {
		foff := c.pages[idx]
		if k := len(r); k > 0 && r[k-1].FileOff+int64(r[k-1].Length) == foff {
			r[k-1].Length += pageSize
		} else {
			r = append(r, mm.PageRange{Off: idx * pageSize, FileOff: foff, Length: pageSize})
		}
	}
	for _, x := range r {
		c.mf.IncRef(x.FileOff, x.Length)
	}
	return r, nil
}

// fillLocked caches pages [idx, idx+n) with the host's bytes (zero past
// the host file's end). c.mu is held.
func (c *pageCache) fillLocked(idx, n int64) error {
	length := uint64(n * pageSize)
	foff, err := c.mf.Allocate(length)
	if err != nil {
		return err
	}
	b := c.mf.Bytes(foff, length)
	for done := 0; done < len(b); {
		k, err := unix.Pread(int(c.readFD.Fd()), b[done:], idx*pageSize+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			c.mf.DecRef(foff, length)
			return err
		}
		if k == 0 {
			break
		}
		done += k
	}
	for j := int64(0); j < n; j++ {
		c.pages[idx+j] = foff + j*pageSize
	}
	c.npages.Add(n)
	return nil
}

// writeBack writes the cached pages that overlap [off, off+length) and lie
// below the file's size to the host.
func (c *pageCache) writeBack(off int64, length uint64) error {
	size := c.Size()
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.writeBackLocked(off, length, size)
}

func (c *pageCache) writeBackLocked(off int64, length uint64, size int64) error {
	if c.writeFD == nil || len(c.pages) == 0 {
		// Nothing was mapped writable: nothing is dirty.
		return nil
	}
	end := min(size, off+int64(min(length, 1<<62)))
	idxs := slices.Sorted(maps.Keys(c.pages))
	for k := 0; k < len(idxs); {
		idx := idxs[k]
		if idx*pageSize >= end || (idx+1)*pageSize <= off {
			k++
			continue
		}
		// A run of pages contiguous in the file and the memory file.
		run := int64(1)
		for k+int(run) < len(idxs) && idxs[k+int(run)] == idx+run &&
			c.pages[idx+run] == c.pages[idx]+run*pageSize && (idx+run)*pageSize < end {
			run++
		}
		start := max(idx*pageSize, off)
		stop := min((idx+run)*pageSize, end)
		b := c.mf.Bytes(c.pages[idx]+(start-idx*pageSize), uint64(stop-start))
		for len(b) > 0 {
			n, err := unix.Pwrite(int(c.writeFD.Fd()), b, start)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			b, start = b[n:], start+int64(n)
		}
		k += int(run)
	}
	return nil
}

// truncate drops cached pages beyond size from the cache and from every
// address space that maps them, and zeroes the kept page past size.
func (c *pageCache) truncate(size int64) {
	keep := (size + pageSize - 1) / pageSize
	c.mu.Lock()
	spaces := slices.Collect(maps.Keys(c.spaces))
	c.mu.Unlock()
	for _, s := range spaces {
		s.InvalidateMappable(c, keep*pageSize)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for idx, foff := range c.pages {
		if idx >= keep {
			c.mf.DecRef(foff, pageSize)
			delete(c.pages, idx)
			c.npages.Add(-1)
		}
	}
	if in := size % pageSize; in != 0 {
		if foff, ok := c.pages[size/pageSize]; ok {
			clear(c.mf.Bytes(foff+in, uint64(pageSize-in)))
		}
	}
}

// IncRef implements mm.RefCounted.
func (c *pageCache) IncRef() {
	c.mu.Lock()
	c.refs++
	c.mu.Unlock()
}

// DecRef implements mm.RefCounted. When the last mapping goes, the cache
// is written back and emptied. Its write-back descriptor stays (a mapping
// being made may have just set it up) until the file's name is removed
// (releaseWriteFD).
func (c *pageCache) DecRef() {
	size := c.Size()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs--
	if c.refs > 0 {
		return
	}
	// A failed write-back has no one to report to; fsync(2) and msync(2)
	// report theirs.
	c.writeBackLocked(0, 1<<62, size)
	for idx, foff := range c.pages {
		c.mf.DecRef(foff, pageSize)
		delete(c.pages, idx)
	}
	c.npages.Store(0)
}

// releaseWriteFD closes the write-back descriptor if nothing maps the file
// (its name was removed: the descriptor must not keep the host file's
// space).
func (c *pageCache) releaseWriteFD() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs == 0 && c.writeFD != nil {
		c.writeFD.Close()
		c.writeFD = nil
	}
}

// Mapped implements mm.MappingTracker.
func (c *pageCache) Mapped(s *mm.MemoryManager) {
	c.mu.Lock()
	c.spaces[s]++
	c.mu.Unlock()
}

// Unmapped implements mm.MappingTracker.
func (c *pageCache) Unmapped(s *mm.MemoryManager) {
	c.mu.Lock()
	if c.spaces[s]--; c.spaces[s] <= 0 {
		delete(c.spaces, s)
	}
	c.mu.Unlock()
}

// SyncMapping implements vfs.MappingSyncer (msync(2)): the cached pages of
// [off, off+length) go to the host, and with sync set to stable storage.
func (c *pageCache) SyncMapping(off int64, length uint64, sync bool) error {
	if err := c.writeBack(off, length); err != nil {
		return err
	}
	if !sync {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writeFD == nil {
		return nil
	}
	return unix.Fdatasync(int(c.writeFD.Fd()))
}
