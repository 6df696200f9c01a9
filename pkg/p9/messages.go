package p9

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// MsgType is the type byte of a 9P message.
type MsgType uint8

// Message types of 9P2000.L. Each R type is its T type plus one.
const (
	MsgTlerror      MsgType = 6
	MsgRlerror      MsgType = 7
	MsgTstatfs      MsgType = 8
	MsgRstatfs      MsgType = 9
	MsgTlopen       MsgType = 12
	MsgRlopen       MsgType = 13
	MsgTlcreate     MsgType = 14
	MsgRlcreate     MsgType = 15
	MsgTsymlink     MsgType = 16
	MsgRsymlink     MsgType = 17
	MsgTmknod       MsgType = 18
	MsgRmknod       MsgType = 19
	MsgTrename      MsgType = 20
	MsgRrename      MsgType = 21
	MsgTreadlink    MsgType = 22
	MsgRreadlink    MsgType = 23
	MsgTgetattr     MsgType = 24
	MsgRgetattr     MsgType = 25
	MsgTsetattr     MsgType = 26
	MsgRsetattr     MsgType = 27
	MsgTxattrwalk   MsgType = 30
	MsgRxattrwalk   MsgType = 31
	MsgTxattrcreate MsgType = 32
	MsgRxattrcreate MsgType = 33
	MsgTreaddir     MsgType = 40
	MsgRreaddir     MsgType = 41
	MsgTfsync       MsgType = 50
	MsgRfsync       MsgType = 51
	MsgTlock        MsgType = 52
	MsgRlock        MsgType = 53
	MsgTgetlock     MsgType = 54
	MsgRgetlock     MsgType = 55
	MsgTlink        MsgType = 70
	MsgRlink        MsgType = 71
	MsgTmkdir       MsgType = 72
	MsgRmkdir       MsgType = 73
	MsgTrenameat    MsgType = 74
	MsgRrenameat    MsgType = 75
	MsgTunlinkat    MsgType = 76
	MsgRunlinkat    MsgType = 77
	MsgTversion     MsgType = 100
	MsgRversion     MsgType = 101
	MsgTauth        MsgType = 102
	MsgRauth        MsgType = 103
	MsgTattach      MsgType = 104
	MsgRattach      MsgType = 105
	MsgTflush       MsgType = 108
	MsgRflush       MsgType = 109
	MsgTwalk        MsgType = 110
	MsgRwalk        MsgType = 111
	MsgTread        MsgType = 116
	MsgRread        MsgType = 117
	MsgTwrite       MsgType = 118
	MsgRwrite       MsgType = 119
	MsgTclunk       MsgType = 120
	MsgRclunk       MsgType = 121
	MsgTremove      MsgType = 122
	MsgRremove      MsgType = 123
)

// HeaderSize is the size of size[4] type[1] tag[2].
const HeaderSize = 7

// qidSize is the wire size of a QID.
const qidSize = 13

// direntFixedSize is the wire size of a Dirent without its name bytes:
// qid[13] offset[8] type[1] name-length[2].
const direntFixedSize = qidSize + 8 + 1 + 2

// ReadOverhead is the size of an Rread (or Rreaddir) message without its
// data: the largest read that fits a message of msize bytes is
// msize-ReadOverhead.
const ReadOverhead = HeaderSize + 4

// WriteOverhead is the size of a Twrite message without its data.
const WriteOverhead = HeaderSize + 4 + 8 + 4

// IOHeaderSize is the room that 9P2000.L peers reserve for the header of
// a data-carrying message (P9_IOHDRSZ in Linux and diod): the count of a
// Tread, Twrite or Treaddir must not exceed msize-IOHeaderSize. It is
// larger than ReadOverhead and WriteOverhead, and diod refuses larger
// counts with EIO, so a client sizes its requests by it (a server may
// accept up to the exact overheads).
const IOHeaderSize = 24

// Errors of message decoding.
var (
	// ErrShortMessage means a message ended before one of its fields.
	ErrShortMessage = errors.New("p9: message too short")
	// ErrTrailingBytes means a message had bytes after its last field.
	ErrTrailingBytes = errors.New("p9: trailing bytes after message")
	// ErrUnknownType means the message type byte is not a 9P2000.L type.
	ErrUnknownType = errors.New("p9: unknown message type")
	// ErrBadSize means the size field disagrees with the buffer.
	ErrBadSize = errors.New("p9: bad message size")
	// ErrStringTooLong means a string does not fit the 16-bit length field.
	ErrStringTooLong = errors.New("p9: string longer than 65535 bytes")
	// ErrTooManyElements means a walk has more than MaxWalkElements names.
	ErrTooManyElements = errors.New("p9: too many walk elements")
)

// Message is one 9P2000.L message body (without size, type and tag).
type Message interface {
	// Type returns the message type byte.
	Type() MsgType
	encode(e *encoder)
	decode(d *decoder)
}

// encoder appends little-endian fields to a buffer.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) u8(v uint8)   { e.b = append(e.b, v) }
func (e *encoder) u16(v uint16) { e.b = binary.LittleEndian.AppendUint16(e.b, v) }
func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) str(s string) {
	if len(s) > 0xffff {
		e.err = ErrStringTooLong
		s = s[:0xffff]
	}
	e.u16(uint16(len(s)))
	e.b = append(e.b, s...)
}
func (e *encoder) qid(q QID) {
	e.u8(uint8(q.Type))
	e.u32(q.Version)
	e.u64(q.Path)
}

// decoder consumes little-endian fields from a buffer. The first error is
// sticky: later reads return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || len(d.b) < n {
		d.err = ErrShortMessage
		d.b = nil
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) u8() uint8 {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}
func (d *decoder) u16() uint16 {
	if b := d.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}
func (d *decoder) u32() uint32 {
	if b := d.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}
func (d *decoder) u64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}
func (d *decoder) str() string {
	n := d.u16()
	return string(d.take(int(n)))
}
func (d *decoder) qid() QID {
	return QID{Type: QIDType(d.u8()), Version: d.u32(), Path: d.u64()}
}

// AppendMessage appends the complete wire form of m (size, type, tag, body)
// to b and returns the extended buffer.
func AppendMessage(b []byte, tag Tag, m Message) ([]byte, error) {
	start := len(b)
	e := encoder{b: b}
	e.u32(0) // size, patched below
	e.u8(uint8(m.Type()))
	e.u16(uint16(tag))
	m.encode(&e)
	if e.err != nil {
		return b, fmt.Errorf("encoding message type %d: %w", m.Type(), e.err)
	}
	size := len(e.b) - start
	if uint64(size) > 0xffffffff {
		return b, fmt.Errorf("encoding message type %d: %w", m.Type(), ErrBadSize)
	}
	binary.LittleEndian.PutUint32(e.b[start:], uint32(size))
	return e.b, nil
}

// DecodeMessage decodes one complete message. b must hold exactly the
// message, its size field included. Byte slices in the result (Rread and
// Twrite data) alias b.
func DecodeMessage(b []byte) (Tag, Message, error) {
	if len(b) < HeaderSize {
		return 0, nil, ErrShortMessage
	}
	if size := binary.LittleEndian.Uint32(b); uint64(size) != uint64(len(b)) {
		return 0, nil, fmt.Errorf("%w: header says %d, have %d", ErrBadSize, size, len(b))
	}
	t := MsgType(b[4])
	tag := Tag(binary.LittleEndian.Uint16(b[5:]))
	m := newMessage(t)
	if m == nil {
		return tag, nil, fmt.Errorf("%w %d", ErrUnknownType, t)
	}
	d := decoder{b: b[HeaderSize:]}
	m.decode(&d)
	if d.err != nil {
		return tag, nil, fmt.Errorf("decoding message type %d: %w", t, d.err)
	}
	if len(d.b) != 0 {
		return tag, nil, fmt.Errorf("decoding message type %d: %w (%d)", t, ErrTrailingBytes, len(d.b))
	}
	return tag, m, nil
}

// newMessage returns a zero message of type t, or nil if t is unknown.
func newMessage(t MsgType) Message {
	switch t {
	case MsgRlerror:
		return &Rlerror{}
	case MsgTstatfs:
		return &Tstatfs{}
	case MsgRstatfs:
		return &Rstatfs{}
	case MsgTlopen:
		return &Tlopen{}
	case MsgRlopen:
		return &Rlopen{}
	case MsgTlcreate:
		return &Tlcreate{}
	case MsgRlcreate:
		return &Rlcreate{}
	case MsgTsymlink:
		return &Tsymlink{}
	case MsgRsymlink:
		return &Rsymlink{}
	case MsgTmknod:
		return &Tmknod{}
	case MsgRmknod:
		return &Rmknod{}
	case MsgTrename:
		return &Trename{}
	case MsgRrename:
		return &Rrename{}
	case MsgTreadlink:
		return &Treadlink{}
	case MsgRreadlink:
		return &Rreadlink{}
	case MsgTgetattr:
		return &Tgetattr{}
	case MsgRgetattr:
		return &Rgetattr{}
	case MsgTsetattr:
		return &Tsetattr{}
	case MsgRsetattr:
		return &Rsetattr{}
	case MsgTxattrwalk:
		return &Txattrwalk{}
	case MsgRxattrwalk:
		return &Rxattrwalk{}
	case MsgTxattrcreate:
		return &Txattrcreate{}
	case MsgRxattrcreate:
		return &Rxattrcreate{}
	case MsgTreaddir:
		return &Treaddir{}
	case MsgRreaddir:
		return &Rreaddir{}
	case MsgTfsync:
		return &Tfsync{}
	case MsgRfsync:
		return &Rfsync{}
	case MsgTlock:
		return &Tlock{}
	case MsgRlock:
		return &Rlock{}
	case MsgTgetlock:
		return &Tgetlock{}
	case MsgRgetlock:
		return &Rgetlock{}
	case MsgTlink:
		return &Tlink{}
	case MsgRlink:
		return &Rlink{}
	case MsgTmkdir:
		return &Tmkdir{}
	case MsgRmkdir:
		return &Rmkdir{}
	case MsgTrenameat:
		return &Trenameat{}
	case MsgRrenameat:
		return &Rrenameat{}
	case MsgTunlinkat:
		return &Tunlinkat{}
	case MsgRunlinkat:
		return &Runlinkat{}
	case MsgTversion:
		return &Tversion{}
	case MsgRversion:
		return &Rversion{}
	case MsgTauth:
		return &Tauth{}
	case MsgRauth:
		return &Rauth{}
	case MsgTattach:
		return &Tattach{}
	case MsgRattach:
		return &Rattach{}
	case MsgTflush:
		return &Tflush{}
	case MsgRflush:
		return &Rflush{}
	case MsgTwalk:
		return &Twalk{}
	case MsgRwalk:
		return &Rwalk{}
	case MsgTread:
		return &Tread{}
	case MsgRread:
		return &Rread{}
	case MsgTwrite:
		return &Twrite{}
	case MsgRwrite:
		return &Rwrite{}
	case MsgTclunk:
		return &Tclunk{}
	case MsgRclunk:
		return &Rclunk{}
	case MsgTremove:
		return &Tremove{}
	case MsgRremove:
		return &Rremove{}
	}
	return nil
}

// Rlerror is the error reply: ecode[4], a Linux errno.
type Rlerror struct{ Errno uint32 }

// Type implements Message.
func (*Rlerror) Type() MsgType       { return MsgRlerror }
func (m *Rlerror) encode(e *encoder) { e.u32(m.Errno) }
func (m *Rlerror) decode(d *decoder) { m.Errno = d.u32() }

// Tversion negotiates msize and version: msize[4] version[s].
type Tversion struct {
	MSize   uint32
	Version string
}

// Type implements Message.
func (*Tversion) Type() MsgType       { return MsgTversion }
func (m *Tversion) encode(e *encoder) { e.u32(m.MSize); e.str(m.Version) }
func (m *Tversion) decode(d *decoder) { m.MSize = d.u32(); m.Version = d.str() }

// Rversion answers Tversion: msize[4] version[s].
type Rversion struct {
	MSize   uint32
	Version string
}

// Type implements Message.
func (*Rversion) Type() MsgType       { return MsgRversion }
func (m *Rversion) encode(e *encoder) { e.u32(m.MSize); e.str(m.Version) }
func (m *Rversion) decode(d *decoder) { m.MSize = d.u32(); m.Version = d.str() }

// Tauth opens an authentication fid: afid[4] uname[s] aname[s] n_uname[4].
type Tauth struct {
	AuthFID FID
	UName   string
	AName   string
	UID     uint32
}

// Type implements Message.
func (*Tauth) Type() MsgType { return MsgTauth }
func (m *Tauth) encode(e *encoder) {
	e.u32(uint32(m.AuthFID))
	e.str(m.UName)
	e.str(m.AName)
	e.u32(m.UID)
}
func (m *Tauth) decode(d *decoder) {
	m.AuthFID = FID(d.u32())
	m.UName = d.str()
	m.AName = d.str()
	m.UID = d.u32()
}

// Rauth answers Tauth: aqid[13].
type Rauth struct{ QID QID }

// Type implements Message.
func (*Rauth) Type() MsgType       { return MsgRauth }
func (m *Rauth) encode(e *encoder) { e.qid(m.QID) }
func (m *Rauth) decode(d *decoder) { m.QID = d.qid() }

// Tattach attaches fid to a file tree: fid[4] afid[4] uname[s] aname[s]
// n_uname[4].
type Tattach struct {
	FID     FID
	AuthFID FID
	UName   string
	AName   string
	UID     uint32
}

// Type implements Message.
func (*Tattach) Type() MsgType { return MsgTattach }
func (m *Tattach) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u32(uint32(m.AuthFID))
	e.str(m.UName)
	e.str(m.AName)
	e.u32(m.UID)
}
func (m *Tattach) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.AuthFID = FID(d.u32())
	m.UName = d.str()
	m.AName = d.str()
	m.UID = d.u32()
}

// Rattach answers Tattach: qid[13].
type Rattach struct{ QID QID }

// Type implements Message.
func (*Rattach) Type() MsgType       { return MsgRattach }
func (m *Rattach) encode(e *encoder) { e.qid(m.QID) }
func (m *Rattach) decode(d *decoder) { m.QID = d.qid() }

// Tflush aborts an outstanding request: oldtag[2].
type Tflush struct{ OldTag Tag }

// Type implements Message.
func (*Tflush) Type() MsgType       { return MsgTflush }
func (m *Tflush) encode(e *encoder) { e.u16(uint16(m.OldTag)) }
func (m *Tflush) decode(d *decoder) { m.OldTag = Tag(d.u16()) }

// Rflush answers Tflush; it has no body.
type Rflush struct{}

// Type implements Message.
func (*Rflush) Type() MsgType     { return MsgRflush }
func (*Rflush) encode(e *encoder) {}
func (*Rflush) decode(d *decoder) {}

// Twalk walks names from fid and binds the result to newfid: fid[4]
// newfid[4] nwname[2] nwname*(wname[s]).
type Twalk struct {
	FID    FID
	NewFID FID
	Names  []string
}

// Type implements Message.
func (*Twalk) Type() MsgType { return MsgTwalk }
func (m *Twalk) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u32(uint32(m.NewFID))
	if len(m.Names) > MaxWalkElements {
		e.err = ErrTooManyElements
	}
	e.u16(uint16(len(m.Names)))
	for _, n := range m.Names {
		e.str(n)
	}
}
func (m *Twalk) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.NewFID = FID(d.u32())
	n := int(d.u16())
	if n > MaxWalkElements {
		if d.err == nil {
			d.err = ErrTooManyElements
		}
		return
	}
	m.Names = make([]string, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		m.Names = append(m.Names, d.str())
	}
}

// Rwalk answers Twalk: nwqid[2] nwqid*(wqid[13]).
type Rwalk struct{ QIDs []QID }

// Type implements Message.
func (*Rwalk) Type() MsgType { return MsgRwalk }
func (m *Rwalk) encode(e *encoder) {
	if len(m.QIDs) > MaxWalkElements {
		e.err = ErrTooManyElements
	}
	e.u16(uint16(len(m.QIDs)))
	for _, q := range m.QIDs {
		e.qid(q)
	}
}
func (m *Rwalk) decode(d *decoder) {
	n := int(d.u16())
	if n > MaxWalkElements {
		if d.err == nil {
			d.err = ErrTooManyElements
		}
		return
	}
	m.QIDs = make([]QID, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		m.QIDs = append(m.QIDs, d.qid())
	}
}

// Tread reads from an open fid: fid[4] offset[8] count[4].
type Tread struct {
	FID    FID
	Offset uint64
	Count  uint32
}

// Type implements Message.
func (*Tread) Type() MsgType { return MsgTread }
func (m *Tread) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u64(m.Offset)
	e.u32(m.Count)
}
func (m *Tread) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.Offset = d.u64()
	m.Count = d.u32()
}

// Rread answers Tread: count[4] data[count].
type Rread struct{ Data []byte }

// Type implements Message.
func (*Rread) Type() MsgType { return MsgRread }
func (m *Rread) encode(e *encoder) {
	e.u32(uint32(len(m.Data)))
	e.b = append(e.b, m.Data...)
}
func (m *Rread) decode(d *decoder) { m.Data = d.take(int(d.u32())) }

// Twrite writes to an open fid: fid[4] offset[8] count[4] data[count].
type Twrite struct {
	FID    FID
	Offset uint64
	Data   []byte
}

// Type implements Message.
func (*Twrite) Type() MsgType { return MsgTwrite }
func (m *Twrite) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u64(m.Offset)
	e.u32(uint32(len(m.Data)))
	e.b = append(e.b, m.Data...)
}
func (m *Twrite) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.Offset = d.u64()
	m.Data = d.take(int(d.u32()))
}

// Rwrite answers Twrite: count[4].
type Rwrite struct{ Count uint32 }

// Type implements Message.
func (*Rwrite) Type() MsgType       { return MsgRwrite }
func (m *Rwrite) encode(e *encoder) { e.u32(m.Count) }
func (m *Rwrite) decode(d *decoder) { m.Count = d.u32() }

// Tclunk forgets a fid: fid[4].
type Tclunk struct{ FID FID }

// Type implements Message.
func (*Tclunk) Type() MsgType       { return MsgTclunk }
func (m *Tclunk) encode(e *encoder) { e.u32(uint32(m.FID)) }
func (m *Tclunk) decode(d *decoder) { m.FID = FID(d.u32()) }

// Rclunk answers Tclunk; it has no body.
type Rclunk struct{}

// Type implements Message.
func (*Rclunk) Type() MsgType     { return MsgRclunk }
func (*Rclunk) encode(e *encoder) {}
func (*Rclunk) decode(d *decoder) {}

// Tremove removes the file of fid and clunks fid: fid[4].
type Tremove struct{ FID FID }

// Type implements Message.
func (*Tremove) Type() MsgType       { return MsgTremove }
func (m *Tremove) encode(e *encoder) { e.u32(uint32(m.FID)) }
func (m *Tremove) decode(d *decoder) { m.FID = FID(d.u32()) }

// Rremove answers Tremove; it has no body.
type Rremove struct{}

// Type implements Message.
func (*Rremove) Type() MsgType     { return MsgRremove }
func (*Rremove) encode(e *encoder) {}
func (*Rremove) decode(d *decoder) {}

// Tstatfs asks for file system statistics: fid[4].
type Tstatfs struct{ FID FID }

// Type implements Message.
func (*Tstatfs) Type() MsgType       { return MsgTstatfs }
func (m *Tstatfs) encode(e *encoder) { e.u32(uint32(m.FID)) }
func (m *Tstatfs) decode(d *decoder) { m.FID = FID(d.u32()) }

// Rstatfs answers Tstatfs: type[4] bsize[4] blocks[8] bfree[8] bavail[8]
// files[8] ffree[8] fsid[8] namelen[4].
type Rstatfs struct{ StatFS StatFS }

// Type implements Message.
func (*Rstatfs) Type() MsgType { return MsgRstatfs }
func (m *Rstatfs) encode(e *encoder) {
	s := &m.StatFS
	e.u32(s.Type)
	e.u32(s.BlockSize)
	e.u64(s.Blocks)
	e.u64(s.BlocksFree)
	e.u64(s.BlocksAvailable)
	e.u64(s.Files)
	e.u64(s.FilesFree)
	e.u64(s.FSID)
	e.u32(s.NameLength)
}
func (m *Rstatfs) decode(d *decoder) {
	s := &m.StatFS
	s.Type = d.u32()
	s.BlockSize = d.u32()
	s.Blocks = d.u64()
	s.BlocksFree = d.u64()
	s.BlocksAvailable = d.u64()
	s.Files = d.u64()
	s.FilesFree = d.u64()
	s.FSID = d.u64()
	s.NameLength = d.u32()
}

// Tlopen opens the file of fid: fid[4] flags[4]. Flags are Linux open(2)
// flags (the P9_DOTL_* values equal the x86-64 O_* values).
type Tlopen struct {
	FID   FID
	Flags uint32
}

// Type implements Message.
func (*Tlopen) Type() MsgType       { return MsgTlopen }
func (m *Tlopen) encode(e *encoder) { e.u32(uint32(m.FID)); e.u32(m.Flags) }
func (m *Tlopen) decode(d *decoder) { m.FID = FID(d.u32()); m.Flags = d.u32() }

// Rlopen answers Tlopen: qid[13] iounit[4]. It may carry a donated host FD
// as ancillary data (see the package comment).
type Rlopen struct {
	QID    QID
	IOUnit uint32
}

// Type implements Message.
func (*Rlopen) Type() MsgType       { return MsgRlopen }
func (m *Rlopen) encode(e *encoder) { e.qid(m.QID); e.u32(m.IOUnit) }
func (m *Rlopen) decode(d *decoder) { m.QID = d.qid(); m.IOUnit = d.u32() }

// Tlcreate creates and opens a file in directory fid, which then refers to
// the new file: fid[4] name[s] flags[4] mode[4] gid[4].
type Tlcreate struct {
	FID   FID
	Name  string
	Flags uint32
	Mode  uint32
	GID   uint32
}

// Type implements Message.
func (*Tlcreate) Type() MsgType { return MsgTlcreate }
func (m *Tlcreate) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.str(m.Name)
	e.u32(m.Flags)
	e.u32(m.Mode)
	e.u32(m.GID)
}
func (m *Tlcreate) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.Name = d.str()
	m.Flags = d.u32()
	m.Mode = d.u32()
	m.GID = d.u32()
}

// Rlcreate answers Tlcreate: qid[13] iounit[4]. It may carry a donated
// host FD as ancillary data.
type Rlcreate struct {
	QID    QID
	IOUnit uint32
}

// Type implements Message.
func (*Rlcreate) Type() MsgType       { return MsgRlcreate }
func (m *Rlcreate) encode(e *encoder) { e.qid(m.QID); e.u32(m.IOUnit) }
func (m *Rlcreate) decode(d *decoder) { m.QID = d.qid(); m.IOUnit = d.u32() }

// Tsymlink creates a symbolic link in directory fid: fid[4] name[s]
// symtgt[s] gid[4].
type Tsymlink struct {
	DirFID FID
	Name   string
	Target string
	GID    uint32
}

// Type implements Message.
func (*Tsymlink) Type() MsgType { return MsgTsymlink }
func (m *Tsymlink) encode(e *encoder) {
	e.u32(uint32(m.DirFID))
	e.str(m.Name)
	e.str(m.Target)
	e.u32(m.GID)
}
func (m *Tsymlink) decode(d *decoder) {
	m.DirFID = FID(d.u32())
	m.Name = d.str()
	m.Target = d.str()
	m.GID = d.u32()
}

// Rsymlink answers Tsymlink: qid[13].
type Rsymlink struct{ QID QID }

// Type implements Message.
func (*Rsymlink) Type() MsgType       { return MsgRsymlink }
func (m *Rsymlink) encode(e *encoder) { e.qid(m.QID) }
func (m *Rsymlink) decode(d *decoder) { m.QID = d.qid() }

// Tmknod creates a device node, FIFO or socket in directory dfid: dfid[4]
// name[s] mode[4] major[4] minor[4] gid[4].
type Tmknod struct {
	DirFID FID
	Name   string
	Mode   uint32
	Major  uint32
	Minor  uint32
	GID    uint32
}

// Type implements Message.
func (*Tmknod) Type() MsgType { return MsgTmknod }
func (m *Tmknod) encode(e *encoder) {
	e.u32(uint32(m.DirFID))
	e.str(m.Name)
	e.u32(m.Mode)
	e.u32(m.Major)
	e.u32(m.Minor)
	e.u32(m.GID)
}
func (m *Tmknod) decode(d *decoder) {
	m.DirFID = FID(d.u32())
	m.Name = d.str()
	m.Mode = d.u32()
	m.Major = d.u32()
	m.Minor = d.u32()
	m.GID = d.u32()
}

// Rmknod answers Tmknod: qid[13].
type Rmknod struct{ QID QID }

// Type implements Message.
func (*Rmknod) Type() MsgType       { return MsgRmknod }
func (m *Rmknod) encode(e *encoder) { e.qid(m.QID) }
func (m *Rmknod) decode(d *decoder) { m.QID = d.qid() }

// Trename renames the file of fid into directory dfid: fid[4] dfid[4]
// name[s].
type Trename struct {
	FID    FID
	DirFID FID
	Name   string
}

// Type implements Message.
func (*Trename) Type() MsgType { return MsgTrename }
func (m *Trename) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u32(uint32(m.DirFID))
	e.str(m.Name)
}
func (m *Trename) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.DirFID = FID(d.u32())
	m.Name = d.str()
}

// Rrename answers Trename; it has no body.
type Rrename struct{}

// Type implements Message.
func (*Rrename) Type() MsgType     { return MsgRrename }
func (*Rrename) encode(e *encoder) {}
func (*Rrename) decode(d *decoder) {}

// Treadlink reads the target of the symbolic link fid: fid[4].
type Treadlink struct{ FID FID }

// Type implements Message.
func (*Treadlink) Type() MsgType       { return MsgTreadlink }
func (m *Treadlink) encode(e *encoder) { e.u32(uint32(m.FID)) }
func (m *Treadlink) decode(d *decoder) { m.FID = FID(d.u32()) }

// Rreadlink answers Treadlink: target[s].
type Rreadlink struct{ Target string }

// Type implements Message.
func (*Rreadlink) Type() MsgType       { return MsgRreadlink }
func (m *Rreadlink) encode(e *encoder) { e.str(m.Target) }
func (m *Rreadlink) decode(d *decoder) { m.Target = d.str() }

// Tgetattr asks for attributes: fid[4] request_mask[8].
type Tgetattr struct {
	FID  FID
	Mask AttrMask
}

// Type implements Message.
func (*Tgetattr) Type() MsgType       { return MsgTgetattr }
func (m *Tgetattr) encode(e *encoder) { e.u32(uint32(m.FID)); e.u64(uint64(m.Mask)) }
func (m *Tgetattr) decode(d *decoder) { m.FID = FID(d.u32()); m.Mask = AttrMask(d.u64()) }

// Rgetattr answers Tgetattr: valid[8] qid[13] mode[4] uid[4] gid[4]
// nlink[8] rdev[8] size[8] blksize[8] blocks[8] atime_sec[8] atime_nsec[8]
// mtime_sec[8] mtime_nsec[8] ctime_sec[8] ctime_nsec[8] btime_sec[8]
// btime_nsec[8] gen[8] data_version[8].
type Rgetattr struct {
	Valid AttrMask
	QID   QID
	Attr  Attr
}

// Type implements Message.
func (*Rgetattr) Type() MsgType { return MsgRgetattr }
func (m *Rgetattr) encode(e *encoder) {
	a := &m.Attr
	e.u64(uint64(m.Valid))
	e.qid(m.QID)
	e.u32(a.Mode)
	e.u32(a.UID)
	e.u32(a.GID)
	for _, v := range [...]uint64{a.NLink, a.RDev, a.Size, a.BlockSize, a.Blocks,
		a.ATimeSec, a.ATimeNSec, a.MTimeSec, a.MTimeNSec, a.CTimeSec, a.CTimeNSec,
		a.BTimeSec, a.BTimeNSec, a.Gen, a.DataVersion} {
		e.u64(v)
	}
}
func (m *Rgetattr) decode(d *decoder) {
	a := &m.Attr
	m.Valid = AttrMask(d.u64())
	m.QID = d.qid()
	a.Mode = d.u32()
	a.UID = d.u32()
	a.GID = d.u32()
	for _, p := range [...]*uint64{&a.NLink, &a.RDev, &a.Size, &a.BlockSize, &a.Blocks,
		&a.ATimeSec, &a.ATimeNSec, &a.MTimeSec, &a.MTimeNSec, &a.CTimeSec, &a.CTimeNSec,
		&a.BTimeSec, &a.BTimeNSec, &a.Gen, &a.DataVersion} {
		*p = d.u64()
	}
}

// Tsetattr sets attributes: fid[4] valid[4] mode[4] uid[4] gid[4] size[8]
// atime_sec[8] atime_nsec[8] mtime_sec[8] mtime_nsec[8].
type Tsetattr struct {
	FID   FID
	Valid SetAttrMask
	Attr  SetAttr
}

// Type implements Message.
func (*Tsetattr) Type() MsgType { return MsgTsetattr }
func (m *Tsetattr) encode(e *encoder) {
	a := &m.Attr
	e.u32(uint32(m.FID))
	e.u32(uint32(m.Valid))
	e.u32(a.Mode)
	e.u32(a.UID)
	e.u32(a.GID)
	e.u64(a.Size)
	e.u64(a.ATimeSec)
	e.u64(a.ATimeNSec)
	e.u64(a.MTimeSec)
	e.u64(a.MTimeNSec)
}
func (m *Tsetattr) decode(d *decoder) {
	a := &m.Attr
	m.FID = FID(d.u32())
	m.Valid = SetAttrMask(d.u32())
	a.Mode = d.u32()
	a.UID = d.u32()
	a.GID = d.u32()
	a.Size = d.u64()
	a.ATimeSec = d.u64()
	a.ATimeNSec = d.u64()
	a.MTimeSec = d.u64()
	a.MTimeNSec = d.u64()
}

// Rsetattr answers Tsetattr; it has no body.
type Rsetattr struct{}

// Type implements Message.
func (*Rsetattr) Type() MsgType     { return MsgRsetattr }
func (*Rsetattr) encode(e *encoder) {}
func (*Rsetattr) decode(d *decoder) {}

// Txattrwalk prepares newfid to read extended attribute name of fid (or the
// attribute list if name is empty): fid[4] newfid[4] name[s].
type Txattrwalk struct {
	FID    FID
	NewFID FID
	Name   string
}

// Type implements Message.
func (*Txattrwalk) Type() MsgType { return MsgTxattrwalk }
func (m *Txattrwalk) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u32(uint32(m.NewFID))
	e.str(m.Name)
}
func (m *Txattrwalk) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.NewFID = FID(d.u32())
	m.Name = d.str()
}

// Rxattrwalk answers Txattrwalk: size[8].
type Rxattrwalk struct{ Size uint64 }

// Type implements Message.
func (*Rxattrwalk) Type() MsgType       { return MsgRxattrwalk }
func (m *Rxattrwalk) encode(e *encoder) { e.u64(m.Size) }
func (m *Rxattrwalk) decode(d *decoder) { m.Size = d.u64() }

// Txattrcreate prepares fid to write extended attribute name: fid[4]
// name[s] attr_size[8] flags[4].
type Txattrcreate struct {
	FID      FID
	Name     string
	AttrSize uint64
	Flags    uint32
}

// Type implements Message.
func (*Txattrcreate) Type() MsgType { return MsgTxattrcreate }
func (m *Txattrcreate) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.str(m.Name)
	e.u64(m.AttrSize)
	e.u32(m.Flags)
}
func (m *Txattrcreate) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.Name = d.str()
	m.AttrSize = d.u64()
	m.Flags = d.u32()
}

// Rxattrcreate answers Txattrcreate; it has no body.
type Rxattrcreate struct{}

// Type implements Message.
func (*Rxattrcreate) Type() MsgType     { return MsgRxattrcreate }
func (*Rxattrcreate) encode(e *encoder) {}
func (*Rxattrcreate) decode(d *decoder) {}

// Treaddir reads directory entries: fid[4] offset[8] count[4].
type Treaddir struct {
	FID    FID
	Offset uint64
	Count  uint32
}

// Type implements Message.
func (*Treaddir) Type() MsgType { return MsgTreaddir }
func (m *Treaddir) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u64(m.Offset)
	e.u32(m.Count)
}
func (m *Treaddir) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.Offset = d.u64()
	m.Count = d.u32()
}

// Rreaddir answers Treaddir: count[4] data[count], where data is a
// sequence of qid[13] offset[8] type[1] name[s].
type Rreaddir struct{ Entries []Dirent }

// Type implements Message.
func (*Rreaddir) Type() MsgType { return MsgRreaddir }
func (m *Rreaddir) encode(e *encoder) {
	n := 0
	for i := range m.Entries {
		n += direntFixedSize + len(m.Entries[i].Name)
	}
	e.u32(uint32(n))
	for i := range m.Entries {
		de := &m.Entries[i]
		e.qid(de.QID)
		e.u64(de.Offset)
		e.u8(de.Type)
		e.str(de.Name)
	}
}
func (m *Rreaddir) decode(d *decoder) {
	data := d.take(int(d.u32()))
	if d.err != nil {
		return
	}
	dd := decoder{b: data}
	m.Entries = nil
	for len(dd.b) > 0 && dd.err == nil {
		var de Dirent
		de.QID = dd.qid()
		de.Offset = dd.u64()
		de.Type = dd.u8()
		de.Name = dd.str()
		if dd.err == nil {
			m.Entries = append(m.Entries, de)
		}
	}
	if dd.err != nil {
		d.err = dd.err
	}
}

// Tfsync flushes a file to stable storage: fid[4] datasync[4]. The
// datasync field was added by Linux after the first 9P2000.L description;
// a Tfsync without it decodes with DataSync zero.
type Tfsync struct {
	FID      FID
	DataSync uint32
}

// Type implements Message.
func (*Tfsync) Type() MsgType       { return MsgTfsync }
func (m *Tfsync) encode(e *encoder) { e.u32(uint32(m.FID)); e.u32(m.DataSync) }
func (m *Tfsync) decode(d *decoder) {
	m.FID = FID(d.u32())
	if d.err == nil && len(d.b) > 0 {
		m.DataSync = d.u32()
	}
}

// Rfsync answers Tfsync; it has no body.
type Rfsync struct{}

// Type implements Message.
func (*Rfsync) Type() MsgType     { return MsgRfsync }
func (*Rfsync) encode(e *encoder) {}
func (*Rfsync) decode(d *decoder) {}

// Tlock acquires or releases a POSIX byte-range lock: fid[4] type[1]
// flags[4] start[8] length[8] proc_id[4] client_id[s].
type Tlock struct {
	FID      FID
	LockType uint8
	Flags    uint32
	Start    uint64
	Length   uint64
	ProcID   uint32
	ClientID string
}

// Type implements Message.
func (*Tlock) Type() MsgType { return MsgTlock }
func (m *Tlock) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u8(m.LockType)
	e.u32(m.Flags)
	e.u64(m.Start)
	e.u64(m.Length)
	e.u32(m.ProcID)
	e.str(m.ClientID)
}
func (m *Tlock) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.LockType = d.u8()
	m.Flags = d.u32()
	m.Start = d.u64()
	m.Length = d.u64()
	m.ProcID = d.u32()
	m.ClientID = d.str()
}

// Rlock answers Tlock: status[1].
type Rlock struct{ Status uint8 }

// Type implements Message.
func (*Rlock) Type() MsgType       { return MsgRlock }
func (m *Rlock) encode(e *encoder) { e.u8(m.Status) }
func (m *Rlock) decode(d *decoder) { m.Status = d.u8() }

// Tgetlock tests for a conflicting POSIX lock: fid[4] type[1] start[8]
// length[8] proc_id[4] client_id[s].
type Tgetlock struct {
	FID      FID
	LockType uint8
	Start    uint64
	Length   uint64
	ProcID   uint32
	ClientID string
}

// Type implements Message.
func (*Tgetlock) Type() MsgType { return MsgTgetlock }
func (m *Tgetlock) encode(e *encoder) {
	e.u32(uint32(m.FID))
	e.u8(m.LockType)
	e.u64(m.Start)
	e.u64(m.Length)
	e.u32(m.ProcID)
	e.str(m.ClientID)
}
func (m *Tgetlock) decode(d *decoder) {
	m.FID = FID(d.u32())
	m.LockType = d.u8()
	m.Start = d.u64()
	m.Length = d.u64()
	m.ProcID = d.u32()
	m.ClientID = d.str()
}

// Rgetlock answers Tgetlock: type[1] start[8] length[8] proc_id[4]
// client_id[s].
type Rgetlock struct {
	LockType uint8
	Start    uint64
	Length   uint64
	ProcID   uint32
	ClientID string
}

// Type implements Message.
func (*Rgetlock) Type() MsgType { return MsgRgetlock }
func (m *Rgetlock) encode(e *encoder) {
	e.u8(m.LockType)
	e.u64(m.Start)
	e.u64(m.Length)
	e.u32(m.ProcID)
	e.str(m.ClientID)
}
func (m *Rgetlock) decode(d *decoder) {
	m.LockType = d.u8()
	m.Start = d.u64()
	m.Length = d.u64()
	m.ProcID = d.u32()
	m.ClientID = d.str()
}

// Tlink creates a hard link name in directory dfid to the file of fid:
// dfid[4] fid[4] name[s].
type Tlink struct {
	DirFID FID
	FID    FID
	Name   string
}

// Type implements Message.
func (*Tlink) Type() MsgType { return MsgTlink }
func (m *Tlink) encode(e *encoder) {
	e.u32(uint32(m.DirFID))
	e.u32(uint32(m.FID))
	e.str(m.Name)
}
func (m *Tlink) decode(d *decoder) {
	m.DirFID = FID(d.u32())
	m.FID = FID(d.u32())
	m.Name = d.str()
}

// Rlink answers Tlink; it has no body.
type Rlink struct{}

// Type implements Message.
func (*Rlink) Type() MsgType     { return MsgRlink }
func (*Rlink) encode(e *encoder) {}
func (*Rlink) decode(d *decoder) {}

// Tmkdir creates a directory in dfid: dfid[4] name[s] mode[4] gid[4].
type Tmkdir struct {
	DirFID FID
	Name   string
	Mode   uint32
	GID    uint32
}

// Type implements Message.
func (*Tmkdir) Type() MsgType { return MsgTmkdir }
func (m *Tmkdir) encode(e *encoder) {
	e.u32(uint32(m.DirFID))
	e.str(m.Name)
	e.u32(m.Mode)
	e.u32(m.GID)
}
func (m *Tmkdir) decode(d *decoder) {
	m.DirFID = FID(d.u32())
	m.Name = d.str()
	m.Mode = d.u32()
	m.GID = d.u32()
}

// Rmkdir answers Tmkdir: qid[13].
type Rmkdir struct{ QID QID }

// Type implements Message.
func (*Rmkdir) Type() MsgType       { return MsgRmkdir }
func (m *Rmkdir) encode(e *encoder) { e.qid(m.QID) }
func (m *Rmkdir) decode(d *decoder) { m.QID = d.qid() }

// Trenameat renames oldname in olddirfid to newname in newdirfid:
// olddirfid[4] oldname[s] newdirfid[4] newname[s].
type Trenameat struct {
	OldDirFID FID
	OldName   string
	NewDirFID FID
	NewName   string
}

// Type implements Message.
func (*Trenameat) Type() MsgType { return MsgTrenameat }
func (m *Trenameat) encode(e *encoder) {
	e.u32(uint32(m.OldDirFID))
	e.str(m.OldName)
	e.u32(uint32(m.NewDirFID))
	e.str(m.NewName)
}
func (m *Trenameat) decode(d *decoder) {
	m.OldDirFID = FID(d.u32())
	m.OldName = d.str()
	m.NewDirFID = FID(d.u32())
	m.NewName = d.str()
}

// Rrenameat answers Trenameat; it has no body.
type Rrenameat struct{}

// Type implements Message.
func (*Rrenameat) Type() MsgType     { return MsgRrenameat }
func (*Rrenameat) encode(e *encoder) {}
func (*Rrenameat) decode(d *decoder) {}

// Tunlinkat removes name from directory dirfd: dirfd[4] name[s] flags[4].
// Flags may hold AT_REMOVEDIR.
type Tunlinkat struct {
	DirFID FID
	Name   string
	Flags  uint32
}

// Type implements Message.
func (*Tunlinkat) Type() MsgType { return MsgTunlinkat }
func (m *Tunlinkat) encode(e *encoder) {
	e.u32(uint32(m.DirFID))
	e.str(m.Name)
	e.u32(m.Flags)
}
func (m *Tunlinkat) decode(d *decoder) {
	m.DirFID = FID(d.u32())
	m.Name = d.str()
	m.Flags = d.u32()
}

// Runlinkat answers Tunlinkat; it has no body.
type Runlinkat struct{}

// Type implements Message.
func (*Runlinkat) Type() MsgType     { return MsgRunlinkat }
func (*Runlinkat) encode(e *encoder) {}
func (*Runlinkat) decode(d *decoder) {}
