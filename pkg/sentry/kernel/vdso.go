package kernel

import (
	"sync"

	"bufferzone.dev/pkg/sentry/loader"
	"bufferzone.dev/pkg/sentry/vdso"
)

// kernelVDSO is a kernel's vDSO: its parameter page and image in the
// kernel's memory file, made by the first exec, and the Timekeeper
// goroutine that updates the page until the kernel ends.
type kernelVDSO struct {
	once sync.Once
	// v is nil if the vDSO could not be allocated: programs then run
	// without one (and trap for the time).
	v *loader.VDSO
}

// vdso returns the vDSO the loader maps into k's processes, creating it
// and starting its Timekeeper on first use; nil if it cannot be allocated.
func (k *Kernel) vdso() *loader.VDSO {
	k.vdsoState.once.Do(func() {
		v, err := vdso.New(k.MemoryFile)
		if err != nil {
			k.Logf("vdso: %v; time calls will trap", err)
			return
		}
		k.vdsoState.v = &loader.VDSO{Params: v.Params(), Image: v.Text()}
		v.Timekeeper.Logf = k.Logf
		// The page stays valid (the memory file outlives the kernel's
		// processes); it just stops being updated.
		go v.Timekeeper.Run(k.exited)
	})
	return k.vdsoState.v
}
