package mm

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Atomic access to 32-bit words of application memory, for futexes. The
// word is accessed through the Sentry's mapping of the memory file, which
// is the same physical memory the application uses, so the operations are
// atomic with respect to application threads.

// word returns a pointer to the aligned 32-bit word at addr, populating it
// for the given access.
func (mm *MemoryManager) word(addr uintptr, write bool, fn func(p *uint32)) error {
	if addr%4 != 0 {
		return unix.EINVAL
	}
	done := false
	_, err := mm.access(addr, 4, write, func(b []byte) (int, bool) {
		if len(b) < 4 {
			return 0, true
		}
		fn((*uint32)(unsafe.Pointer(&b[0])))
		done = true
		return 4, true
	})
	if err != nil {
		return err
	}
	if !done {
		return unix.EFAULT
	}
	return nil
}

// LoadUint32 atomically reads the 32-bit word at addr (4-byte aligned).
func (mm *MemoryManager) LoadUint32(addr uintptr) (uint32, error) {
	var v uint32
	err := mm.word(addr, false, func(p *uint32) { v = atomic.LoadUint32(p) })
	return v, err
}

// CompareAndSwapUint32 atomically replaces the word at addr by new if it
// holds old, and returns the value it held.
func (mm *MemoryManager) CompareAndSwapUint32(addr uintptr, old, new uint32) (uint32, error) {
	var prev uint32
	err := mm.word(addr, true, func(p *uint32) {
		for {
			prev = atomic.LoadUint32(p)
			if prev != old || atomic.CompareAndSwapUint32(p, old, new) {
				return
			}
		}
	})
	return prev, err
}

// SharedFutexKey says what a futex word at addr is shared through: for an
// address in a shared mapping, the mapped object and the word's offset in
// it (shared is true); for a private mapping, shared is false and the
// futex is keyed by address space and address. EFAULT if addr is not
// mapped.
func (mm *MemoryManager) SharedFutexKey(addr uintptr) (obj any, off uint64, shared bool, err error) {
	mm.mu.Lock()
	defer mm.unlock()
	v := mm.vmas.find(addr)
	if v == nil {
		return nil, 0, false, unix.EFAULT
	}
	if v.val.private || v.val.mappable == nil {
		return nil, 0, false, nil
	}
	return v.val.mappable, uint64(v.val.off) + uint64(addr-v.start), true, nil
}
