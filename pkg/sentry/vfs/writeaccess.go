package vfs

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/mm"
)

// Write access and its denial, as Linux's i_writecount: while a program
// runs from a file (execve holds a WriteDenial for each address space that
// runs it), opening the file for writing or truncating it fails with
// ETXTBSY; while the file is open for writing, execve of it fails with
// ETXTBSY. Files are told apart by device and inode number, so that every
// inode object and link of one file counts together.
//
// Lock order: VFS.writeMu is a leaf.

// fileKey identifies a file: its device and inode number.
type fileKey struct {
	devMajor, devMinor uint32
	ino                uint64
}

func keyOf(st *unix.Statx_t) fileKey {
	return fileKey{st.Dev_major, st.Dev_minor, st.Ino}
}

// getWriteAccess counts a writer of the file, unless a program runs from it
// (ETXTBSY). It returns the release of that count.
func (v *VFS) getWriteAccess(k fileKey) (func(), error) {
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	if v.writeCount[k] < 0 {
		return nil, unix.ETXTBSY
	}
	v.writeCount[k]++
	return func() { v.addWriteCount(k, -1) }, nil
}

// checkWriteAccess fails with ETXTBSY if a program runs from the file.
func (v *VFS) checkWriteAccess(k fileKey) error {
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	if v.writeCount[k] < 0 {
		return unix.ETXTBSY
	}
	return nil
}

// addWriteCount adds d to the file's count, forgetting it at zero.
func (v *VFS) addWriteCount(k fileKey, d int) {
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	if n := v.writeCount[k] + d; n != 0 {
		v.writeCount[k] = n
	} else {
		delete(v.writeCount, k)
	}
}

// WriteDenial is execve's denial of writes to the file a program runs from
// (mm.ExecutableHold). Release ends it; Clone makes another for the same
// file (fork: each address space holds its own).
type WriteDenial struct {
	v *VFS
	k fileKey
}

// DenyWrite denies writes to f's file for as long as the returned denial is
// held; it fails with ETXTBSY if the file is open for writing.
func (v *VFS) DenyWrite(ctx Context, f *FileDescription) (*WriteDenial, error) {
	st, err := f.vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return nil, err
	}
	k := keyOf(&st)
	v.writeMu.Lock()
	defer v.writeMu.Unlock()
	if v.writeCount[k] > 0 {
		return nil, unix.ETXTBSY
	}
	v.writeCount[k]--
	return &WriteDenial{v: v, k: k}, nil
}

var _ mm.ExecutableHold = (*WriteDenial)(nil)

// Clone returns another denial of the same file.
func (d *WriteDenial) Clone() mm.ExecutableHold {
	d.v.addWriteCount(d.k, -1)
	return &WriteDenial{v: d.v, k: d.k}
}

// Release ends the denial. It must be called once.
func (d *WriteDenial) Release() { d.v.addWriteCount(d.k, 1) }
