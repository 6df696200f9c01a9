package mm

import (
	"bytes"
	"encoding/binary"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/platform"
)

// The copy functions move data between the Sentry and application memory
// through the memory file, populating pages as needed and checking VMA
// permissions as the kernel's copy_to_user/copy_from_user do: unmapped
// addresses and mappings without the needed access give EFAULT, with the
// count of bytes copied before the fault. They never use the platform for
// data; writes to pages shared copy-on-write copy them first.

// access calls fn on the memory file bytes backing [addr, addr+n) in order,
// until fn returns stop. It returns the number of bytes fn consumed, and
// EFAULT if the range could not be accessed whole.
func (mm *MemoryManager) access(addr uintptr, n int, write bool, fn func(b []byte) (consumed int, stop bool)) (int, error) {
	if n <= 0 {
		return 0, nil
	}
	at := platform.Read
	if write {
		at = platform.AccessType{Write: true}
	}
	mm.mu.Lock()
	defer mm.unlock()
	if mm.as == nil {
		return 0, unix.EFAULT
	}
	done := 0
	for done < n {
		a := addr + uintptr(done)
		if a < addr {
			return done, unix.EFAULT
		}
		v := mm.vmas.find(a)
		if v == nil || !mm.allows(v, at) {
			return done, unix.EFAULT
		}
		segEnd := v.end
		if rem := uintptr(n - done); a+rem > a && a+rem < segEnd {
			segEnd = a + rem
		}
		ps := max((a&^pageMask)&^(faultChunk-1), v.start)
		pe := v.end
		if r, ok := pageRoundUp(segEnd); ok {
			if c := (r + faultChunk - 1) &^ (faultChunk - 1); c > r && c < pe {
				pe = c
			}
		}
		popEnd, _ := mm.populate(v, ps, pe)
		if popEnd <= a {
			return done, unix.EFAULT
		}
		segEnd = min(segEnd, popEnd)
		if write && v.val.private {
			ce, _ := pageRoundUp(segEnd)
			if err := mm.breakCOW(a&^pageMask, ce, true); err != nil {
				return done, unix.EFAULT
			}
		} else if v.val.private && v.val.mappable != nil {
			// Host file pages (only private file mappings have
			// them) are read from copies, made a copy-on-write
			// window at a time (program text and strings are read
			// again and again).
			ce, _ := pageRoundUp(segEnd)
			ws := max(a&^(cowChunk-1), ps)
			we := min((ce+cowChunk-1)&^(cowChunk-1), popEnd)
			if err := mm.copyHostPages(ws, we); err != nil {
				return done, unix.EFAULT
			}
		}
		for _, p := range mm.pmas.overlapping(a, segEnd) {
			s, e := max(a, p.start), min(segEnd, p.end)
			b := mm.mf.Bytes(p.val.off+int64(s-p.start), uint64(e-s))
			c, stop := fn(b)
			done += c
			if stop {
				return done, nil
			}
		}
	}
	return done, nil
}

// CopyIn copies len(dst) bytes from application memory at addr into dst.
func (mm *MemoryManager) CopyIn(addr uintptr, dst []byte) (int, error) {
	pos := 0
	return mm.access(addr, len(dst), false, func(b []byte) (int, bool) {
		n := copy(dst[pos:], b)
		pos += n
		return n, false
	})
}

// CopyOut copies src into application memory at addr.
func (mm *MemoryManager) CopyOut(addr uintptr, src []byte) (int, error) {
	pos := 0
	return mm.access(addr, len(src), true, func(b []byte) (int, bool) {
		n := copy(b, src[pos:])
		pos += n
		return n, false
	})
}

// ZeroOut writes n zero bytes to application memory at addr.
func (mm *MemoryManager) ZeroOut(addr uintptr, n int) (int, error) {
	return mm.access(addr, n, true, func(b []byte) (int, bool) {
		clear(b)
		return len(b), false
	})
}

// CopyInString copies a NUL-terminated string of at most maxLen bytes
// (including the NUL) from addr. It fails with ENAMETOOLONG if there is no
// NUL within maxLen bytes and EFAULT if memory before the NUL is not
// readable.
func (mm *MemoryManager) CopyInString(addr uintptr, maxLen int) (string, error) {
	if maxLen <= 0 {
		return "", unix.ENAMETOOLONG
	}
	var buf []byte
	found := false
	// Read a page at a time so that a string ending just before an
	// unmapped page does not fault.
	for !found && len(buf) < maxLen {
		a := addr + uintptr(len(buf))
		if a < addr {
			return "", unix.EFAULT
		}
		chunk := min(int(pageSize-a&pageMask), maxLen-len(buf))
		_, err := mm.access(a, chunk, false, func(b []byte) (int, bool) {
			if i := bytes.IndexByte(b, 0); i >= 0 {
				buf = append(buf, b[:i]...)
				found = true
				return i + 1, true
			}
			buf = append(buf, b...)
			return len(b), false
		})
		if err != nil && !found {
			return "", err
		}
	}
	if !found {
		return "", unix.ENAMETOOLONG
	}
	return string(buf), nil
}

// IOVec is one element of an application's struct iovec array.
type IOVec struct {
	Base uintptr
	Len  uintptr
}

// Limits for iovec arrays (include/uapi/linux/uio.h, include/linux/fs.h).
const (
	// UIOMaxIOV is UIO_MAXIOV: the most iovecs one call accepts.
	UIOMaxIOV = 1024
	// MaxRWCount is MAX_RW_COUNT: the most bytes one read or write moves.
	MaxRWCount = (1<<31 - 1) &^ pageMask
)

// CopyInIOVecs reads count struct iovecs at addr as readv(2) does:
// EINVAL for a count above UIO_MAXIOV or a negative length, EFAULT for
// unreadable memory; lengths are clipped so that their total is at most
// MaxRWCount.
func (mm *MemoryManager) CopyInIOVecs(addr uintptr, count int) ([]IOVec, error) {
	if count < 0 || count > UIOMaxIOV {
		return nil, unix.EINVAL
	}
	buf := make([]byte, 16*count)
	if _, err := mm.CopyIn(addr, buf); err != nil {
		return nil, unix.EFAULT
	}
	iovs := make([]IOVec, count)
	var total uintptr
	for i := range iovs {
		base := binary.LittleEndian.Uint64(buf[16*i:])
		l := binary.LittleEndian.Uint64(buf[16*i+8:])
		if int64(l) < 0 {
			return nil, unix.EINVAL
		}
		if uint64(total)+l > MaxRWCount {
			l = MaxRWCount - uint64(total)
		}
		total += uintptr(l)
		iovs[i] = IOVec{Base: uintptr(base), Len: uintptr(l)}
	}
	return iovs, nil
}

// CopyInVec fills dst from the application buffers iovs in order. It
// returns the bytes copied, and EFAULT if a buffer faulted before dst was
// full.
func (mm *MemoryManager) CopyInVec(iovs []IOVec, dst []byte) (int, error) {
	done := 0
	for _, iov := range iovs {
		if done == len(dst) {
			break
		}
		n := int(min(iov.Len, uintptr(len(dst)-done)))
		c, err := mm.CopyIn(iov.Base, dst[done:done+n])
		done += c
		if err != nil {
			return done, err
		}
	}
	return done, nil
}

// CopyOutVec copies src to the application buffers iovs in order. It
// returns the bytes copied, and EFAULT if a buffer faulted before src was
// consumed.
func (mm *MemoryManager) CopyOutVec(iovs []IOVec, src []byte) (int, error) {
	done := 0
	for _, iov := range iovs {
		if done == len(src) {
			break
		}
		n := int(min(iov.Len, uintptr(len(src)-done)))
		c, err := mm.CopyOut(iov.Base, src[done:done+n])
		done += c
		if err != nil {
			return done, err
		}
	}
	return done, nil
}
