package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// Shmget implements shmget(2).
func Shmget(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	id, err := t.ShmGet(argInt(a[0]), uint64(a[1]), argInt(a[2]))
	return uintptr(id), err
}

// Shmat implements shmat(2).
func Shmat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return t.ShmAt(argInt(a[0]), a[1], argInt(a[2]))
}

// Shmdt implements shmdt(2).
func Shmdt(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.ShmDt(a[0])
}

// Shmctl implements shmctl(2).
func Shmctl(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	id, cmd := argInt(a[0]), argInt(a[1])&^0x100 // IPC_64
	var ds kernel.ShmIDDS
	switch cmd {
	case unix.IPC_SET:
		if err := copyInObj(t, a[2], &ds); err != nil {
			return 0, err
		}
	case 3, 14: // IPC_INFO, SHM_INFO
		// struct shminfo64: shmmax, shmmin, shmmni, shmseg, shmall, 4 unused.
		info := [9]uint64{kernel.ShmMax, kernel.ShmMin, kernel.ShmMni, kernel.ShmMni, kernel.ShmAll}
		if err := copyOutObj(t, a[2], &info); err != nil {
			return 0, err
		}
		return 0, nil
	}
	if err := t.ShmCtl(id, cmd, &ds); err != nil {
		return 0, err
	}
	if cmd == unix.IPC_STAT {
		return 0, copyOutObj(t, a[2], &ds)
	}
	return 0, nil
}
