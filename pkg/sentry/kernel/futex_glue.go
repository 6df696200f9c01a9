package kernel

import (
	"encoding/binary"

	"bufferzone.dev/pkg/sentry/kernel/futex"
)

// futexKey returns the key of the futex word at addr for a private futex
// (FUTEX_PRIVATE_FLAG): the address space and address.
func (t *Task) futexKey(addr uintptr) futex.Key {
	return futex.PrivateKey(t.MemoryManager(), uint64(addr))
}

// FutexKey returns the key of the futex word at addr. Private futexes and
// futexes in private mappings are keyed by address space and address;
// futexes in shared mappings by the memory they live in, so processes
// sharing it meet on the same futex.
func (t *Task) FutexKey(addr uintptr, private bool) (futex.Key, error) {
	m := t.MemoryManager()
	if !private {
		obj, off, shared, err := m.SharedFutexKey(addr)
		if err != nil {
			return futex.Key{}, err
		}
		if shared {
			return futex.SharedKey(obj, off), nil
		}
	}
	return futex.PrivateKey(m, uint64(addr)), nil
}

// robustMemory gives the futex package access to the task's memory.
type robustMemory struct{ t *Task }

func (r robustMemory) ReadU64(addr uint64) (uint64, error) {
	var b [8]byte
	if _, err := r.t.CopyIn(uintptr(addr), b[:]); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), nil
}

func (r robustMemory) ReadU32(addr uint64) (uint32, error) {
	return r.t.MemoryManager().LoadUint32(uintptr(addr))
}

func (r robustMemory) CompareAndSwapU32(addr uint64, old, new uint32) (uint32, error) {
	return r.t.MemoryManager().CompareAndSwapUint32(uintptr(addr), old, new)
}

func (r robustMemory) Key(addr uint64) (futex.Key, error) {
	return r.t.FutexKey(uintptr(addr), false)
}

// exitRobustList releases the robust futexes the exiting thread holds.
func (t *Task) exitRobustList() {
	if t.robustList == 0 || t.MemoryManager() == nil {
		return
	}
	t.k.Futexes.ExitRobustList(robustMemory{t}, uint64(t.robustList), uint32(t.tid))
	t.robustList = 0
}
