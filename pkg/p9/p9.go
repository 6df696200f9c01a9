// Package p9 implements the 9P2000.L file protocol that the Sentry and the
// Gofer speak over a Unix socket: the wire encoding of every 9P2000.L
// message, a client safe for concurrent use, and a server that dispatches
// requests to a backend (the Attacher and File interfaces).
//
// Beyond the standard protocol, both ends understand one optional extension
// that changes no message format: an Rlopen or Rlcreate reply may carry one
// host file descriptor as SCM_RIGHTS ancillary data on the same sendmsg
// call. A peer that sends no descriptor (such as diod or the Linux v9fs
// client) still interoperates.
//
// A second extension is a server-side ordering guarantee: a request that
// names a fid created by an earlier request on the same connection (the
// newfid of Twalk or Txattrwalk, the fid of Tattach) waits for that request
// to finish. This lets a client pipeline Twalk and Tgetattr in one round
// trip (File.WalkGetAttr) without any new message type. Against a server
// without it (diod answers the early Tgetattr with EIO) the client asks
// again after the walk.
//
// Both ends run over a Unix socket or over TCP (diod's usual transport;
// no descriptors travel over TCP). Interoperability with diod, an
// independent 9P2000.L implementation, is tested in test/p9interop; what
// it taught is pinned in interop_test.go: request counts leave
// IOHeaderSize bytes of room, Tauth answers ENOENT ("no authentication
// needed"), and the client falls back to Trename and Tremove when a
// server lacks Trenameat or Tunlinkat.
package p9

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Version is the only protocol version this package speaks.
const Version = "9P2000.L"

// Tag identifies one outstanding request on a connection.
type Tag uint16

// NoTag is the tag of Tversion, which has no tag.
const NoTag Tag = 0xffff

// FID is a client-chosen handle for a file on the server.
type FID uint32

// NoFID means "no fid" (for example, the afid of an unauthenticated Tattach).
const NoFID FID = 0xffffffff

// NoUID means "no user id" in n_uname and uid fields.
const NoUID uint32 = 0xffffffff

// MaxWalkElements is the largest number of names in one Twalk (MAXWELEM).
const MaxWalkElements = 16

// QIDType is the type byte of a QID: the high bits of a file's mode.
type QIDType uint8

// QID types.
const (
	QIDTypeDir     QIDType = 0x80
	QIDTypeAppend  QIDType = 0x40
	QIDTypeExcl    QIDType = 0x20
	QIDTypeMount   QIDType = 0x10
	QIDTypeAuth    QIDType = 0x08
	QIDTypeTemp    QIDType = 0x04
	QIDTypeSymlink QIDType = 0x02
	QIDTypeLink    QIDType = 0x01
	QIDTypeRegular QIDType = 0x00
)

// QIDTypeFromMode returns the QID type of a file with the given st_mode.
func QIDTypeFromMode(mode uint32) QIDType {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return QIDTypeDir
	case unix.S_IFLNK:
		return QIDTypeSymlink
	default:
		return QIDTypeRegular
	}
}

// QID is the server's unique identity of a file: 13 bytes on the wire.
type QID struct {
	Type    QIDType
	Version uint32
	Path    uint64
}

// String implements fmt.Stringer.
func (q QID) String() string {
	return fmt.Sprintf("QID{type=%#x version=%d path=%d}", uint8(q.Type), q.Version, q.Path)
}

// AttrMask selects the fields of a Tgetattr request and says which fields of
// the Rgetattr reply are valid.
type AttrMask uint64

// AttrMask bits, as in the 9P2000.L specification.
const (
	AttrMode        AttrMask = 0x00000001
	AttrNLink       AttrMask = 0x00000002
	AttrUID         AttrMask = 0x00000004
	AttrGID         AttrMask = 0x00000008
	AttrRDev        AttrMask = 0x00000010
	AttrATime       AttrMask = 0x00000020
	AttrMTime       AttrMask = 0x00000040
	AttrCTime       AttrMask = 0x00000080
	AttrIno         AttrMask = 0x00000100
	AttrSize        AttrMask = 0x00000200
	AttrBlocks      AttrMask = 0x00000400
	AttrBTime       AttrMask = 0x00000800
	AttrGen         AttrMask = 0x00001000
	AttrDataVersion AttrMask = 0x00002000

	// AttrBasic is every field that stat(2) returns.
	AttrBasic AttrMask = 0x000007ff
	// AttrAll is every field.
	AttrAll AttrMask = 0x00003fff
)

// Attr is the attribute block of Rgetattr (without the valid mask and QID).
type Attr struct {
	Mode        uint32
	UID         uint32
	GID         uint32
	NLink       uint64
	RDev        uint64
	Size        uint64
	BlockSize   uint64
	Blocks      uint64
	ATimeSec    uint64
	ATimeNSec   uint64
	MTimeSec    uint64
	MTimeNSec   uint64
	CTimeSec    uint64
	CTimeNSec   uint64
	BTimeSec    uint64
	BTimeNSec   uint64
	Gen         uint64
	DataVersion uint64
}

// SetAttrMask says which fields of a Tsetattr request to apply.
type SetAttrMask uint32

// SetAttrMask bits, as in the 9P2000.L specification.
const (
	SetAttrMode     SetAttrMask = 0x00000001
	SetAttrUID      SetAttrMask = 0x00000002
	SetAttrGID      SetAttrMask = 0x00000004
	SetAttrSize     SetAttrMask = 0x00000008
	SetAttrATime    SetAttrMask = 0x00000010
	SetAttrMTime    SetAttrMask = 0x00000020
	SetAttrCTime    SetAttrMask = 0x00000040
	SetAttrATimeSet SetAttrMask = 0x00000080 // use ATimeSec/ATimeNSec, not the current time
	SetAttrMTimeSet SetAttrMask = 0x00000100 // use MTimeSec/MTimeNSec, not the current time
)

// SetAttr holds the values of a Tsetattr request.
type SetAttr struct {
	Mode      uint32
	UID       uint32
	GID       uint32
	Size      uint64
	ATimeSec  uint64
	ATimeNSec uint64
	MTimeSec  uint64
	MTimeNSec uint64
}

// Dirent is one directory entry of Rreaddir.
type Dirent struct {
	QID QID
	// Offset is the offset to pass to the next Treaddir to continue after
	// this entry.
	Offset uint64
	// Type is the d_type value (unix.DT_*).
	Type uint8
	Name string
}

// StatFS is the body of Rstatfs, as statfs(2) returns it.
type StatFS struct {
	Type            uint32
	BlockSize       uint32
	Blocks          uint64
	BlocksFree      uint64
	BlocksAvailable uint64
	Files           uint64
	FilesFree       uint64
	FSID            uint64
	NameLength      uint32
}

// Lock types of Tlock and Tgetlock.
const (
	LockTypeRead   uint8 = 0
	LockTypeWrite  uint8 = 1
	LockTypeUnlock uint8 = 2
)

// Lock status values of Rlock.
const (
	LockStatusOK      uint8 = 0
	LockStatusBlocked uint8 = 1
	LockStatusError   uint8 = 2
	LockStatusGrace   uint8 = 3
)

// Lock flags of Tlock.
const (
	LockFlagsBlock   uint32 = 1
	LockFlagsReclaim uint32 = 2
)
