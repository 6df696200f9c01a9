package mm

import (
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// LoadUint32 atomically loads the aligned 32-bit word at addr (futex
// values). It fails with EINVAL for an unaligned address and EFAULT for
// unreadable memory.
func (mm *MemoryManager) LoadUint32(addr uintptr) (uint32, error) {
	if addr&3 != 0 {
		return 0, unix.EINVAL
	}
	var v uint32
	n, err := mm.access(addr, 4, false, func(b []byte) (int, bool) {
		v = atomic.LoadUint32((*uint32)(unsafe.Pointer(&b[0])))
		return 4, true
	})
	if err != nil || n != 4 {
		return 0, unix.EFAULT
	}
	return v, nil
}

// CompareAndSwapUint32 atomically replaces the aligned 32-bit word at addr
// with new if it holds old, and returns the value it held. It needs write
// access, as the kernel's futex_atomic_cmpxchg_inatomic does: EFAULT
// otherwise; EINVAL for an unaligned address.
func (mm *MemoryManager) CompareAndSwapUint32(addr uintptr, old, new uint32) (uint32, error) {
	if addr&3 != 0 {
		return 0, unix.EINVAL
	}
	var prev uint32
	n, err := mm.access(addr, 4, true, func(b []byte) (int, bool) {
		p := (*uint32)(unsafe.Pointer(&b[0]))
		for {
			prev = atomic.LoadUint32(p)
			if prev != old || atomic.CompareAndSwapUint32(p, old, new) {
				return 4, true
			}
		}
	})
	if err != nil || n != 4 {
		return 0, unix.EFAULT
	}
	return prev, nil
}

// SharedFutexKey identifies the futex word at addr for a shared futex
// operation. For shared mappings it returns the mapped object (comparable:
// the *SharedMemory or the file's Mappable) and the word's offset in it,
// with shared set, so every address space mapping the object meets at the
// same key. For private mappings shared is false and the caller uses a
// private key (address space and address): private pages are copies here.
// It fails with EFAULT if addr is not mapped.
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
