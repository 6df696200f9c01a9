package p9

import (
	"os"

	"golang.org/x/sys/unix"
)

// Attacher is a server backend: it hands out the root of a file tree.
type Attacher interface {
	// Attach returns the root ServerFile for a Tattach with the given aname and
	// numeric user id (n_uname; NoUID if the client sent none).
	Attach(aname string, uid uint32) (ServerFile, error)
}

// ServerFile is one fid's file on the server side. The server calls methods of
// one ServerFile concurrently, except that Open, Create, Close and Remove are
// never concurrent with any other method of the same ServerFile. Errors that
// wrap a unix.Errno are sent to the client as that errno; other errors are
// sent as EIO.
//
// Embed UnimplementedServerFile to get ENOSYS for methods a
// backend does not support.
type ServerFile interface {
	// Walk walks names from this file. With no names it returns a clone.
	// If it walks every name it returns one QID per name and the ServerFile of
	// the last one. If it stops early it returns the QIDs walked so far
	// (at least one) and a nil ServerFile. If the first name fails it returns
	// an error.
	Walk(names []string) ([]QID, ServerFile, error)
	// GetAttr returns the QID and the attributes in mask (or more; the
	// returned mask says which are valid).
	GetAttr(mask AttrMask) (QID, AttrMask, Attr, error)
	// SetAttr applies the fields of attr that valid selects.
	SetAttr(valid SetAttrMask, attr SetAttr) error
	// Open opens the file with Linux open flags. It may return a host
	// file to donate to the client; the ServerFile keeps ownership of it and
	// must keep it open until Close (the server only sends it).
	Open(flags uint32) (donate *os.File, qid QID, iounit uint32, err error)
	// Create creates and opens name in this directory. The returned ServerFile
	// replaces this one for the fid; the server closes this one. The
	// donated file follows Open's rules and belongs to the new ServerFile.
	Create(name string, flags, mode, gid uint32) (newFile ServerFile, donate *os.File, qid QID, iounit uint32, err error)
	// ReadAt reads from the opened file at off.
	ReadAt(p []byte, off uint64) (int, error)
	// WriteAt writes to the opened file at off.
	WriteAt(p []byte, off uint64) (int, error)
	// Readdir returns entries of the opened directory after offset (0
	// means the start). Entries whose encoded size exceeds count are
	// dropped by the server, and the client continues after the last
	// entry it received.
	Readdir(offset uint64, count uint32) ([]Dirent, error)
	// Readlink returns the target of this symbolic link.
	Readlink() (string, error)
	// Mkdir creates a directory in this directory.
	Mkdir(name string, mode, gid uint32) (QID, error)
	// Symlink creates a symbolic link in this directory.
	Symlink(name, target string, gid uint32) (QID, error)
	// Mknod creates a node in this directory.
	Mknod(name string, mode, major, minor, gid uint32) (QID, error)
	// Link creates name in this directory as a hard link to target.
	Link(target ServerFile, name string) error
	// Rename moves this file to newName in newDir.
	Rename(newDir ServerFile, newName string) error
	// RenameAt renames oldName in this directory to newName in newDir.
	RenameAt(oldName string, newDir ServerFile, newName string) error
	// UnlinkAt removes name from this directory; flags may hold
	// AT_REMOVEDIR.
	UnlinkAt(name string, flags uint32) error
	// Remove removes this file from its directory. The server closes the
	// ServerFile afterwards.
	Remove() error
	// FSync flushes the opened file.
	FSync(dataSync bool) error
	// StatFS describes the file system of this file.
	StatFS() (StatFS, error)
	// Close releases the ServerFile. It is called once, when its fid is
	// clunked, removed or replaced, or when the connection ends.
	Close() error
}

// UnimplementedServerFile implements every ServerFile method by failing with ENOSYS (Close
// succeeds). Embed it in a backend type to implement only some methods.
type UnimplementedServerFile struct{}

// Walk implements ServerFile.
func (UnimplementedServerFile) Walk([]string) ([]QID, ServerFile, error) {
	return nil, nil, unix.ENOSYS
}

// GetAttr implements ServerFile.
func (UnimplementedServerFile) GetAttr(AttrMask) (QID, AttrMask, Attr, error) {
	return QID{}, 0, Attr{}, unix.ENOSYS
}

// SetAttr implements ServerFile.
func (UnimplementedServerFile) SetAttr(SetAttrMask, SetAttr) error { return unix.ENOSYS }

// Open implements ServerFile.
func (UnimplementedServerFile) Open(uint32) (*os.File, QID, uint32, error) {
	return nil, QID{}, 0, unix.ENOSYS
}

// Create implements ServerFile.
func (UnimplementedServerFile) Create(string, uint32, uint32, uint32) (ServerFile, *os.File, QID, uint32, error) {
	return nil, nil, QID{}, 0, unix.ENOSYS
}

// ReadAt implements ServerFile.
func (UnimplementedServerFile) ReadAt([]byte, uint64) (int, error) { return 0, unix.ENOSYS }

// WriteAt implements ServerFile.
func (UnimplementedServerFile) WriteAt([]byte, uint64) (int, error) { return 0, unix.ENOSYS }

// Readdir implements ServerFile.
func (UnimplementedServerFile) Readdir(uint64, uint32) ([]Dirent, error) { return nil, unix.ENOSYS }

// Readlink implements ServerFile.
func (UnimplementedServerFile) Readlink() (string, error) { return "", unix.ENOSYS }

// Mkdir implements ServerFile.
func (UnimplementedServerFile) Mkdir(string, uint32, uint32) (QID, error) { return QID{}, unix.ENOSYS }

// Symlink implements ServerFile.
func (UnimplementedServerFile) Symlink(string, string, uint32) (QID, error) {
	return QID{}, unix.ENOSYS
}

// Mknod implements ServerFile.
func (UnimplementedServerFile) Mknod(string, uint32, uint32, uint32, uint32) (QID, error) {
	return QID{}, unix.ENOSYS
}

// Link implements ServerFile.
func (UnimplementedServerFile) Link(ServerFile, string) error { return unix.ENOSYS }

// Rename implements ServerFile.
func (UnimplementedServerFile) Rename(ServerFile, string) error { return unix.ENOSYS }

// RenameAt implements ServerFile.
func (UnimplementedServerFile) RenameAt(string, ServerFile, string) error { return unix.ENOSYS }

// UnlinkAt implements ServerFile.
func (UnimplementedServerFile) UnlinkAt(string, uint32) error { return unix.ENOSYS }

// Remove implements ServerFile.
func (UnimplementedServerFile) Remove() error { return unix.ENOSYS }

// FSync implements ServerFile.
func (UnimplementedServerFile) FSync(bool) error { return unix.ENOSYS }

// StatFS implements ServerFile.
func (UnimplementedServerFile) StatFS() (StatFS, error) { return StatFS{}, unix.ENOSYS }

// Close implements ServerFile.
func (UnimplementedServerFile) Close() error { return nil }

// Locker is optionally implemented by a ServerFile that supports Tlock and
// Tgetlock. Without it the server answers both with ENOSYS.
type Locker interface {
	// Lock implements Tlock and returns an Rlock status.
	Lock(lockType uint8, flags uint32, start, length uint64, procID uint32, clientID string) (uint8, error)
	// GetLock implements Tgetlock.
	GetLock(lockType uint8, start, length uint64, procID uint32, clientID string) (Rgetlock, error)
}
