package mm

import (
	"iter"

	"bufferzone.dev/pkg/sentry/platform"
)

// VMAInfo describes one mapping, as /proc/[pid]/maps shows it.
type VMAInfo struct {
	Start, End uintptr
	Perms      platform.AccessType
	// MaxPerms is the most the mapping may be mprotect'ed to.
	MaxPerms platform.AccessType
	// Private is true for MAP_PRIVATE mappings, false for MAP_SHARED.
	Private   bool
	GrowsDown bool
	// Mappable is the mapped object: nil for private anonymous memory, a
	// *SharedMemory for shared anonymous memory, else the mapped file.
	Mappable Mappable
	// Offset is the offset into Mappable of Start.
	Offset int64
	// Name is "[heap]" for the data segment, "[stack]" for the initial
	// stack, the name given at mmap time, or empty.
	Name string
}

// VMAs returns the mappings in address order, as a snapshot taken when
// iteration starts.
func (mm *MemoryManager) VMAs() iter.Seq[VMAInfo] {
	return func(yield func(VMAInfo) bool) {
		mm.mu.Lock()
		var out []VMAInfo
		for _, v := range mm.vmas.all() {
			info := VMAInfo{
				Start:     v.start,
				End:       v.end,
				Perms:     v.val.perms,
				MaxPerms:  v.val.maxPerms,
				Private:   v.val.private,
				GrowsDown: v.val.growsDown,
				Mappable:  v.val.mappable,
				Offset:    v.val.off,
				Name:      v.val.name,
			}
			switch {
			case info.Name != "":
			case v.val.mappable == nil && mm.brk > mm.brkStart && v.start < mm.brk && v.end > mm.brkStart:
				info.Name = "[heap]"
			case mm.stackStart != 0 && v.start <= mm.stackStart && mm.stackStart < v.end:
				info.Name = "[stack]"
			}
			out = append(out, info)
		}
		mm.mu.Unlock()
		for _, info := range out {
			if !yield(info) {
				return
			}
		}
	}
}

// VMACount returns the number of mappings.
func (mm *MemoryManager) VMACount() int {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return mm.vmas.len()
}

// SetStackStart records the initial stack pointer's region (for
// /proc/[pid]/stat's startstack and the "[stack]" name).
func (mm *MemoryManager) SetStackStart(addr uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.stackStart = addr
}

// StackStart returns the address set by SetStackStart.
func (mm *MemoryManager) StackStart() uintptr {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return mm.stackStart
}

// SetArgvRange records where the argument strings are: [start, end).
func (mm *MemoryManager) SetArgvRange(start, end uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.argv = [2]uintptr{start, end}
}

// ArgvRange returns the range set by SetArgvRange (/proc/[pid]/cmdline).
func (mm *MemoryManager) ArgvRange() (start, end uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return mm.argv[0], mm.argv[1]
}

// SetEnvvRange records where the environment strings are: [start, end).
func (mm *MemoryManager) SetEnvvRange(start, end uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.envv = [2]uintptr{start, end}
}

// EnvvRange returns the range set by SetEnvvRange (/proc/[pid]/environ).
func (mm *MemoryManager) EnvvRange() (start, end uintptr) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return mm.envv[0], mm.envv[1]
}

// SetAuxv records the auxiliary vector as (type, value) pairs, AT_NULL
// included (/proc/[pid]/auxv).
func (mm *MemoryManager) SetAuxv(auxv []uint64) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.auxv = append([]uint64(nil), auxv...)
}

// Auxv returns a copy of the vector set by SetAuxv.
func (mm *MemoryManager) Auxv() []uint64 {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return append([]uint64(nil), mm.auxv...)
}
