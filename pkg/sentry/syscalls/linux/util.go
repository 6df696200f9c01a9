// Package linux is the x86-64 Linux system call table of the Sentry: one
// file per family of calls. Handlers only decode arguments, copy them in
// and out of application memory, and call into kernel, mm and vfs.
package linux

import (
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// copyInObj copies a fixed-size value of type T from application memory.
func copyInObj[T any](t *kernel.Task, addr uintptr, v *T) error {
	b := unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
	n, err := t.CopyIn(addr, b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return unix.EFAULT
	}
	return nil
}

// copyOutObj copies a fixed-size value of type T to application memory.
func copyOutObj[T any](t *kernel.Task, addr uintptr, v *T) error {
	b := unsafe.Slice((*byte)(unsafe.Pointer(v)), unsafe.Sizeof(*v))
	n, err := t.CopyOut(addr, b)
	if err != nil {
		return err
	}
	if n != len(b) {
		return unix.EFAULT
	}
	return nil
}

// copyInPath copies a path argument: EFAULT for a bad pointer,
// ENAMETOOLONG past PATH_MAX.
func copyInPath(t *kernel.Task, addr uintptr) (string, error) {
	return t.CopyInString(addr, unix.PathMax)
}

// Argument decoding helpers: the kernel passes raw 64-bit registers.

func argInt(a uintptr) int32   { return int32(a) }
func argUint(a uintptr) uint32 { return uint32(a) }
func argInt64(a uintptr) int64 { return int64(a) }
func argFD(a uintptr) int32    { return int32(a) }

// Constants x/sys/unix does not name.
const (
	fionclex  = 0x5450 // FIONCLEX
	fioclex   = 0x5451 // FIOCLEX
	fionbio   = 0x5421 // FIONBIO
	uioMaxIOV = 1024   // UIO_MAXIOV
	ssOnStack = 1      // SS_ONSTACK
	ssDisable = 2      // SS_DISABLE
)
