package kernel

import (
	"sync"

	"bufferzone.dev/pkg/sentry/loader"
	"bufferzone.dev/pkg/sentry/vdso"
)

// kernelVDSOs holds each kernel's vDSO: its parameter page and image in the
// kernel's memory file, and the Timekeeper goroutine that updates the page
// until the kernel ends.
//
// It lives here rather than in a Kernel field only to keep the vDSO's hook
// in one file; an entry is created by the first exec and removed when the
// kernel's first process exits. Lock order: a leaf.
var kernelVDSOs struct {
	mu sync.Mutex
	m  map[*Kernel]*loader.VDSO
	// failed records kernels whose vDSO could not be allocated: their
	// programs run without one (and trap for the time).
	failed map[*Kernel]bool
}

// vdso returns the vDSO the loader maps into k's processes, creating it
// and starting its Timekeeper on first use; nil if it cannot be allocated.
func (k *Kernel) vdso() *loader.VDSO {
	kernelVDSOs.mu.Lock()
	defer kernelVDSOs.mu.Unlock()
	if v, ok := kernelVDSOs.m[k]; ok {
		return v
	}
	if kernelVDSOs.failed[k] {
		return nil
	}
	v, err := vdso.New(k.MemoryFile)
	if err != nil {
		k.Logf("vdso: %v; time calls will trap", err)
		if kernelVDSOs.failed == nil {
			kernelVDSOs.failed = make(map[*Kernel]bool)
		}
		kernelVDSOs.failed[k] = true
		return nil
	}
	lv := &loader.VDSO{Params: v.Params(), Image: v.Text()}
	if kernelVDSOs.m == nil {
		kernelVDSOs.m = make(map[*Kernel]*loader.VDSO)
	}
	kernelVDSOs.m[k] = lv
	v.Timekeeper.Logf = k.Logf
	go func() {
		// The page stays valid (the memory file outlives the kernel's
		// processes); it just stops being updated.
		v.Timekeeper.Run(k.exited)
		<-k.exited
		kernelVDSOs.mu.Lock()
		delete(kernelVDSOs.m, k)
		kernelVDSOs.mu.Unlock()
	}()
	return lv
}
