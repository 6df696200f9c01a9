package p9

// Extended attributes in 9P2000.L, as Linux's v9fs client uses them:
//
//   - Txattrwalk fid newfid name binds newfid to the value of attribute
//     name of fid's file (or, for an empty name, to the list of names, each
//     NUL-terminated) and answers its size; the client reads newfid with
//     Tread and clunks it.
//   - Txattrcreate fid name size flags turns fid into a write-only fid for
//     the attribute; the client writes exactly size bytes with Twrite, and
//     the Tclunk that follows sets the attribute (its error is the
//     setxattr's). flags are setxattr(2)'s XATTR_CREATE and XATTR_REPLACE.
//     A size of 0 with XATTR_REPLACE removes the attribute: that is what
//     Linux's removexattr sends, so an empty value cannot be set with
//     XATTR_REPLACE over 9P (a limit of the protocol, not of this code).
//
// Lock order: xattrWriter.mu is a leaf.

import (
	"sync"

	"golang.org/x/sys/unix"
)

// Limits from linux/limits.h, which bound what a Server accepts.
const (
	xattrSizeMax = 65536 // XATTR_SIZE_MAX
	xattrListMax = 65536 // XATTR_LIST_MAX
	xattrReplace = 2     // XATTR_REPLACE
)

// Xattrer is implemented by ServerFiles whose extended attributes can be
// read and changed. Without it, Txattrwalk and Txattrcreate fail with
// EOPNOTSUPP.
type Xattrer interface {
	// GetXattr returns the value of attribute name (ENODATA if absent).
	GetXattr(name string) ([]byte, error)
	// ListXattrs returns the attribute names.
	ListXattrs() ([]string, error)
	// SetXattr sets attribute name to value; flags are XATTR_CREATE and
	// XATTR_REPLACE.
	SetXattr(name string, value []byte, flags uint32) error
	// RemoveXattr removes attribute name (ENODATA if absent).
	RemoveXattr(name string) error
}

// xattrReader is the file a Txattrwalk binds newfid to: the bytes read
// when the walk was made.
type xattrReader struct {
	UnimplementedServerFile
	data []byte
}

// ReadAt implements ServerFile.
func (r *xattrReader) ReadAt(p []byte, off uint64) (int, error) {
	if off >= uint64(len(r.data)) {
		return 0, nil
	}
	return copy(p, r.data[off:]), nil
}

// xattrWalk handles Txattrwalk.
func (c *conn) xattrWalk(m *Txattrwalk, e, ne *fidEntry) Message {
	if ne == nil || m.NewFID == m.FID {
		return &Rlerror{Errno: uint32(unix.EBADF)}
	}
	defer close(ne.ready)
	fail := func(err error) Message {
		c.dropPending(m.NewFID, ne)
		return errReply(err)
	}
	f, err := use(e)
	if err != nil {
		return fail(err)
	}
	defer e.mu.RUnlock()
	x, ok := f.(Xattrer)
	if !ok {
		return fail(unix.EOPNOTSUPP)
	}
	var data []byte
	if m.Name == "" {
		names, err := x.ListXattrs()
		if err != nil {
			return fail(err)
		}
		for _, n := range names {
			data = append(data, n...)
			data = append(data, 0)
		}
		if len(data) > xattrListMax {
			return fail(unix.E2BIG)
		}
	} else if data, err = x.GetXattr(m.Name); err != nil {
		return fail(err)
	}
	ne.file = &xattrReader{data: data}
	return &Rxattrwalk{Size: uint64(len(data))}
}

// xattrWriter is what Txattrcreate turns a fid into: it collects the
// value and sets it on the fid's file when clunked.
type xattrWriter struct {
	UnimplementedServerFile
	target ServerFile
	x      Xattrer
	name   string
	flags  uint32

	mu      sync.Mutex
	value   []byte
	written uint64
}

// WriteAt implements ServerFile.
func (w *xattrWriter) WriteAt(p []byte, off uint64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if off > uint64(len(w.value)) || uint64(len(p)) > uint64(len(w.value))-off {
		return 0, unix.ENOSPC
	}
	n := copy(w.value[off:], p)
	w.written += uint64(n)
	return n, nil
}

// Close implements ServerFile: it sets (or removes) the attribute and
// closes the file the fid named.
func (w *xattrWriter) Close() error {
	defer w.target.Close()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.value) == 0 && w.flags&xattrReplace != 0 {
		return w.x.RemoveXattr(w.name)
	}
	if w.written != uint64(len(w.value)) {
		return unix.EINVAL
	}
	return w.x.SetXattr(w.name, w.value, w.flags)
}

// xattrCreate handles Txattrcreate.
func (c *conn) xattrCreate(m *Txattrcreate, e *fidEntry) Message {
	f, err := useExclusive(e)
	if err != nil {
		return errReply(err)
	}
	defer e.mu.Unlock()
	x, ok := f.(Xattrer)
	switch {
	case !ok:
		return &Rlerror{Errno: uint32(unix.EOPNOTSUPP)}
	case m.Name == "":
		return &Rlerror{Errno: uint32(unix.EINVAL)}
	case m.AttrSize > xattrSizeMax:
		return &Rlerror{Errno: uint32(unix.E2BIG)}
	}
	e.file = &xattrWriter{target: f, x: x, name: m.Name, flags: m.Flags, value: make([]byte, m.AttrSize)}
	return &Rxattrcreate{}
}

// GetXattr returns the value of extended attribute name of f's file.
func (f *File) GetXattr(name string) ([]byte, error) {
	if name == "" {
		return nil, unix.EINVAL
	}
	return f.xattrRead(name)
}

// ListXattrs returns the names of the extended attributes of f's file.
func (f *File) ListXattrs() ([]string, error) {
	b, err := f.xattrRead("")
	if err != nil {
		return nil, err
	}
	var names []string
	for len(b) > 0 {
		i := 0
		for i < len(b) && b[i] != 0 {
			i++
		}
		if i > 0 {
			names = append(names, string(b[:i]))
		}
		if i < len(b) {
			i++
		}
		b = b[i:]
	}
	return names, nil
}

// xattrRead walks to the value of attribute name (the name list for "")
// and reads it whole.
func (f *File) xattrRead(name string) ([]byte, error) {
	nfid := f.c.allocFID()
	m, err := f.c.rpc(&Txattrwalk{FID: f.fid, NewFID: nfid, Name: name}, MsgRxattrwalk)
	if err != nil {
		f.c.freeFID(nfid)
		return nil, err
	}
	xf := &File{c: f.c, fid: nfid}
	defer xf.Close()
	size := m.(*Rxattrwalk).Size
	if size > xattrSizeMax {
		return nil, unix.E2BIG
	}
	b := make([]byte, size)
	n, err := xf.ReadAt(b, 0)
	if err != nil {
		return nil, err
	}
	return b[:n], nil
}

// SetXattr sets extended attribute name of f's file to value, with
// setxattr(2)'s flags. f itself is not changed: a clone carries the
// request.
func (f *File) SetXattr(name string, value []byte, flags uint32) error {
	_, xf, err := f.Walk(nil)
	if err != nil {
		return err
	}
	if _, err := f.c.rpc(&Txattrcreate{FID: xf.fid, Name: name, AttrSize: uint64(len(value)), Flags: flags}, MsgRxattrcreate); err != nil {
		xf.Close()
		return err
	}
	if len(value) > 0 {
		if _, err := xf.WriteAt(value, 0); err != nil {
			xf.Close()
			return err
		}
	}
	// The clunk sets the attribute; its error is the answer.
	return xf.Close()
}

// RemoveXattr removes extended attribute name of f's file.
func (f *File) RemoveXattr(name string) error {
	return f.SetXattr(name, nil, xattrReplace)
}
