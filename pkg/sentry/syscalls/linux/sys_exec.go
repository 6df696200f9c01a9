package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// maxArgBytes bounds the total size of argv and envp strings, as the
// kernel's limit derived from an 8 MiB stack (a quarter of it).
const maxArgBytes = 2 << 20

// copyInStringArray copies a NULL-terminated array of string pointers.
func copyInStringArray(t *kernel.Task, addr uintptr, total *int) ([]string, error) {
	var out []string
	if addr == 0 {
		return nil, nil
	}
	for i := 0; ; i++ {
		var p uint64
		if err := copyInObj(t, addr+uintptr(8*i), &p); err != nil {
			return nil, err
		}
		if p == 0 {
			return out, nil
		}
		s, err := t.CopyInString(uintptr(p), unix.PathMax*32)
		if err != nil {
			if err == unix.ENAMETOOLONG {
				return nil, unix.E2BIG
			}
			return nil, err
		}
		*total += len(s) + 1
		if *total > maxArgBytes {
			return nil, unix.E2BIG
		}
		out = append(out, s)
	}
}

// Execve implements execve(2).
func Execve(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	filename, err := copyInPath(t, a[0])
	if err != nil {
		return 0, err
	}
	total := 0
	argv, err := copyInStringArray(t, a[1], &total)
	if err != nil {
		return 0, err
	}
	envv, err := copyInStringArray(t, a[2], &total)
	if err != nil {
		return 0, err
	}
	return 0, t.Exec(filename, argv, envv)
}

// Execveat implements execveat(2). With AT_EMPTY_PATH the program is the
// file dirfd refers to (fexecve).
func Execveat(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	dirfd, flags := argFD(a[0]), argInt(a[4])
	if flags&^(unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW) != 0 {
		return 0, unix.EINVAL
	}
	path, err := copyInPath(t, a[1])
	if err != nil {
		return 0, err
	}
	vd, err := t.LookupAt(dirfd, path, flags&unix.AT_SYMLINK_NOFOLLOW == 0, flags&unix.AT_EMPTY_PATH != 0)
	if err != nil {
		return 0, err
	}
	st, err := vd.Dentry.Inode().Stat(t)
	if err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return 0, unix.ELOOP
	}
	total := 0
	argv, err := copyInStringArray(t, a[2], &total)
	if err != nil {
		return 0, err
	}
	envv, err := copyInStringArray(t, a[3], &total)
	if err != nil {
		return 0, err
	}
	return 0, t.Exec(t.Kernel().VFS.PathName(t.FSContext().Root(), vd), argv, envv)
}
