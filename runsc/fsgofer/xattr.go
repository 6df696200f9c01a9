package fsgofer

// Extended attributes (p9.Xattrer). Only the user.* namespace is served:
// trusted.* and security.* are the host's (a root Gofer could otherwise
// set attributes the host's overlayfs or security modules act on), and
// system.* holds host ACLs, which mean nothing in the sandbox's user
// namespace. The host applies its own rules to what is served (permission,
// file type, size, the file system's support); symbolic links have no
// user.* attributes on Linux, so they are answered without a host call
// and no link is ever followed.
//
// Lock order: as in fsgofer.go; no lock is held across host calls.

import (
	"strings"

	"golang.org/x/sys/unix"
)

const userXattrPrefix = "user."

// xattrName returns EOPNOTSUPP for names outside user.*.
func xattrName(name string) error {
	if !strings.HasPrefix(name, userXattrPrefix) || len(name) == len(userXattrPrefix) {
		return unix.EOPNOTSUPP
	}
	return nil
}

// withXattrFD runs fn on a path or descriptor naming exactly this file:
// its /proc/self/fd magic link (which getxattr and friends follow to the
// inode itself, never further), or a reopened descriptor.
func (f *file) withXattrFD(fn func(path string, fd int) error) error {
	if f.a.procFD {
		return fn(procPath(f.fd.fd), -1)
	}
	return f.viaOpen(func(fd int) error { return fn("", fd) })
}

// GetXattr implements p9.Xattrer.
func (f *file) GetXattr(name string) ([]byte, error) {
	if err := xattrName(name); err != nil {
		return nil, err
	}
	if f.isSymlink() {
		return nil, unix.ENODATA
	}
	var val []byte
	err := f.withXattrFD(func(path string, fd int) error {
		var err error
		val, err = readSized(func(b []byte) (int, error) {
			if fd < 0 {
				return unix.Getxattr(path, name, b)
			}
			return unix.Fgetxattr(fd, name, b)
		})
		return err
	})
	return val, errno("getxattr", f.label, err)
}

// ListXattrs implements p9.Xattrer: the user.* names only.
func (f *file) ListXattrs() ([]string, error) {
	if f.isSymlink() {
		return nil, nil
	}
	var list []byte
	err := f.withXattrFD(func(path string, fd int) error {
		var err error
		list, err = readSized(func(b []byte) (int, error) {
			if fd < 0 {
				return unix.Listxattr(path, b)
			}
			return unix.Flistxattr(fd, b)
		})
		return err
	})
	if err != nil {
		return nil, errno("listxattr", f.label, err)
	}
	var names []string
	for _, n := range strings.Split(string(list), "\x00") {
		if xattrName(n) == nil {
			names = append(names, n)
		}
	}
	return names, nil
}

// SetXattr implements p9.Xattrer.
func (f *file) SetXattr(name string, value []byte, flags uint32) error {
	if err := f.writable("setxattr"); err != nil {
		return err
	}
	if err := xattrName(name); err != nil {
		return err
	}
	if f.isSymlink() {
		return errno("setxattr", f.label, unix.EPERM)
	}
	return errno("setxattr", f.label, f.withXattrFD(func(path string, fd int) error {
		if fd < 0 {
			return unix.Setxattr(path, name, value, int(flags))
		}
		return unix.Fsetxattr(fd, name, value, int(flags))
	}))
}

// RemoveXattr implements p9.Xattrer.
func (f *file) RemoveXattr(name string) error {
	if err := f.writable("removexattr"); err != nil {
		return err
	}
	if err := xattrName(name); err != nil {
		return err
	}
	if f.isSymlink() {
		return errno("removexattr", f.label, unix.EPERM)
	}
	return errno("removexattr", f.label, f.withXattrFD(func(path string, fd int) error {
		if fd < 0 {
			return unix.Removexattr(path, name)
		}
		return unix.Fremovexattr(fd, name)
	}))
}

// readSized calls get with a buffer large enough for its answer, asking
// for the size first and retrying if the value grew in between.
func readSized(get func([]byte) (int, error)) ([]byte, error) {
	for {
		n, err := get(nil)
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return nil, nil
		}
		b := make([]byte, n)
		n, err = get(b)
		if err == unix.ERANGE {
			continue
		}
		if err != nil {
			return nil, err
		}
		return b[:n], nil
	}
}
