package p9

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

var testQID = QID{Type: QIDTypeDir, Version: 7, Path: 0x0102030405060708}

// allMessages has one populated value of every message type, with its
// expected encoded size (header included).
var allMessages = []struct {
	m    Message
	size int
}{
	{&Rlerror{Errno: 2}, 7 + 4},
	{&Tstatfs{FID: 1}, 7 + 4},
	{&Rstatfs{StatFS: StatFS{Type: 1, BlockSize: 2, Blocks: 3, BlocksFree: 4, BlocksAvailable: 5, Files: 6, FilesFree: 7, FSID: 8, NameLength: 255}}, 7 + 4 + 4 + 8*6 + 4},
	{&Tlopen{FID: 3, Flags: 0x8002}, 7 + 8},
	{&Rlopen{QID: testQID, IOUnit: 8192}, 7 + 13 + 4},
	{&Tlcreate{FID: 4, Name: "new", Flags: 1, Mode: 0o644, GID: 5}, 7 + 4 + 2 + 3 + 12},
	{&Rlcreate{QID: testQID, IOUnit: 1}, 7 + 17},
	{&Tsymlink{DirFID: 1, Name: "l", Target: "/etc/passwd", GID: 0}, 7 + 4 + 3 + 13 + 4},
	{&Rsymlink{QID: testQID}, 7 + 13},
	{&Tmknod{DirFID: 1, Name: "fifo", Mode: 0o10644, Major: 1, Minor: 2, GID: 3}, 7 + 4 + 6 + 16},
	{&Rmknod{QID: testQID}, 7 + 13},
	{&Trename{FID: 1, DirFID: 2, Name: "x"}, 7 + 8 + 3},
	{&Rrename{}, 7},
	{&Treadlink{FID: 9}, 7 + 4},
	{&Rreadlink{Target: "../a"}, 7 + 6},
	{&Tgetattr{FID: 2, Mask: AttrAll}, 7 + 12},
	{&Rgetattr{Valid: AttrBasic, QID: testQID, Attr: Attr{Mode: 0o100644, UID: 1, GID: 2, NLink: 3, RDev: 4, Size: 5, BlockSize: 6, Blocks: 7, ATimeSec: 8, ATimeNSec: 9, MTimeSec: 10, MTimeNSec: 11, CTimeSec: 12, CTimeNSec: 13, BTimeSec: 14, BTimeNSec: 15, Gen: 16, DataVersion: 17}}, 7 + 8 + 13 + 12 + 15*8},
	{&Tsetattr{FID: 2, Valid: SetAttrMode | SetAttrSize, Attr: SetAttr{Mode: 0o600, UID: 1, GID: 2, Size: 3, ATimeSec: 4, ATimeNSec: 5, MTimeSec: 6, MTimeNSec: 7}}, 7 + 4 + 4 + 12 + 40},
	{&Rsetattr{}, 7},
	{&Txattrwalk{FID: 1, NewFID: 2, Name: "user.x"}, 7 + 8 + 8},
	{&Rxattrwalk{Size: 99}, 7 + 8},
	{&Txattrcreate{FID: 1, Name: "user.x", AttrSize: 3, Flags: 1}, 7 + 4 + 8 + 8 + 4},
	{&Rxattrcreate{}, 7},
	{&Treaddir{FID: 1, Offset: 2, Count: 3}, 7 + 16},
	{&Rreaddir{Entries: []Dirent{{QID: testQID, Offset: 1, Type: 4, Name: "dir"}, {QID: QID{Path: 9}, Offset: 2, Type: 8, Name: "f"}}}, 7 + 4 + (24 + 3) + (24 + 1)},
	{&Tfsync{FID: 1, DataSync: 1}, 7 + 8},
	{&Rfsync{}, 7},
	{&Tlock{FID: 1, LockType: LockTypeWrite, Flags: LockFlagsBlock, Start: 2, Length: 3, ProcID: 4, ClientID: "host"}, 7 + 4 + 1 + 4 + 16 + 4 + 6},
	{&Rlock{Status: LockStatusBlocked}, 7 + 1},
	{&Tgetlock{FID: 1, LockType: LockTypeRead, Start: 2, Length: 3, ProcID: 4, ClientID: "h"}, 7 + 4 + 1 + 16 + 4 + 3},
	{&Rgetlock{LockType: LockTypeUnlock, Start: 2, Length: 3, ProcID: 4, ClientID: "h"}, 7 + 1 + 16 + 4 + 3},
	{&Tlink{DirFID: 1, FID: 2, Name: "hl"}, 7 + 8 + 4},
	{&Rlink{}, 7},
	{&Tmkdir{DirFID: 1, Name: "d", Mode: 0o755, GID: 0}, 7 + 4 + 3 + 8},
	{&Rmkdir{QID: testQID}, 7 + 13},
	{&Trenameat{OldDirFID: 1, OldName: "a", NewDirFID: 2, NewName: "bb"}, 7 + 4 + 3 + 4 + 4},
	{&Rrenameat{}, 7},
	{&Tunlinkat{DirFID: 1, Name: "a", Flags: 0x200}, 7 + 4 + 3 + 4},
	{&Runlinkat{}, 7},
	{&Tversion{MSize: 8192, Version: Version}, 7 + 4 + 2 + 8},
	{&Rversion{MSize: 8192, Version: Version}, 7 + 4 + 2 + 8},
	{&Tauth{AuthFID: 1, UName: "u", AName: "a", UID: 0}, 7 + 4 + 3 + 3 + 4},
	{&Rauth{QID: testQID}, 7 + 13},
	{&Tattach{FID: 0, AuthFID: NoFID, UName: "root", AName: "/", UID: 0}, 7 + 8 + 6 + 3 + 4},
	{&Rattach{QID: testQID}, 7 + 13},
	{&Tflush{OldTag: 5}, 7 + 2},
	{&Rflush{}, 7},
	{&Twalk{FID: 1, NewFID: 2, Names: []string{"a", "bc"}}, 7 + 8 + 2 + 3 + 4},
	{&Rwalk{QIDs: []QID{testQID, {Path: 1}}}, 7 + 2 + 26},
	{&Tread{FID: 1, Offset: 2, Count: 3}, 7 + 16},
	{&Rread{Data: []byte("hello")}, 7 + 4 + 5},
	{&Twrite{FID: 1, Offset: 2, Data: []byte("hi")}, 7 + 16 + 2},
	{&Rwrite{Count: 2}, 7 + 4},
	{&Tclunk{FID: 1}, 7 + 4},
	{&Rclunk{}, 7},
	{&Tremove{FID: 1}, 7 + 4},
	{&Rremove{}, 7},
}

func TestRoundTripEveryMessage(t *testing.T) {
	seen := map[MsgType]bool{}
	for _, tc := range allMessages {
		seen[tc.m.Type()] = true
		b, err := AppendMessage(nil, 42, tc.m)
		if err != nil {
			t.Fatalf("%T: encode: %v", tc.m, err)
		}
		if len(b) != tc.size {
			t.Errorf("%T: encoded size %d, want %d", tc.m, len(b), tc.size)
		}
		if MsgType(b[4]) != tc.m.Type() {
			t.Errorf("%T: type byte %d", tc.m, b[4])
		}
		tag, m, err := DecodeMessage(b)
		if err != nil {
			t.Fatalf("%T: decode: %v", tc.m, err)
		}
		if tag != 42 {
			t.Errorf("%T: tag %d", tc.m, tag)
		}
		if !reflect.DeepEqual(m, tc.m) {
			t.Errorf("%T: round trip\n got %+v\nwant %+v", tc.m, m, tc.m)
		}
		// Every strict prefix must fail cleanly.
		for n := 0; n < len(b); n++ {
			p := append([]byte(nil), b[:n]...)
			if n >= 4 {
				putU32(p, uint32(n))
			}
			if _, _, err := DecodeMessage(p); err == nil && !(tc.m.Type() == MsgTfsync && n == len(b)-4) {
				t.Errorf("%T: prefix of %d bytes decoded without error", tc.m, n)
			}
		}
		// A trailing byte is an error.
		long := append(append([]byte(nil), b...), 0)
		putU32(long, uint32(len(long)))
		if _, _, err := DecodeMessage(long); !errors.Is(err, ErrTrailingBytes) {
			t.Errorf("%T: trailing byte: err = %v", tc.m, err)
		}
	}
	for typ := MsgType(0); typ < 255; typ++ {
		if newMessage(typ) != nil && !seen[typ] {
			t.Errorf("message type %d has no round-trip case", typ)
		}
	}
}

func TestWireLayout(t *testing.T) {
	// Twalk fid=1 newfid=2 names=["ab"], tag 3, byte by byte.
	b, err := AppendMessage(nil, 3, &Twalk{FID: 1, NewFID: 2, Names: []string{"ab"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{21, 0, 0, 0, 110, 3, 0, 1, 0, 0, 0, 2, 0, 0, 0, 1, 0, 2, 0, 'a', 'b'}
	if !bytes.Equal(b, want) {
		t.Errorf("Twalk = %v, want %v", b, want)
	}
	// A Tfsync without datasync (the original 9P2000.L form) decodes.
	old := []byte{11, 0, 0, 0, 50, 1, 0, 9, 0, 0, 0}
	if _, m, err := DecodeMessage(old); err != nil || m.(*Tfsync).FID != 9 {
		t.Errorf("old Tfsync: %v %+v", err, m)
	}
}

func TestMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"short header", []byte{7, 0, 0, 0, 100}},
		{"size mismatch", []byte{99, 0, 0, 0, 120, 0, 0, 1, 0, 0, 0}},
		{"unknown type", []byte{7, 0, 0, 0, 1, 0, 0}},
		{"string past end", []byte{13, 0, 0, 0, 23, 0, 0, 0xff, 0xff, 'a', 'b', 'c', 'd'}},
		{"huge read count", []byte{12, 0, 0, 0, 117, 0, 0, 0xff, 0xff, 0xff, 0xff, 0}},
		{"too many walk names", []byte{17, 0, 0, 0, 110, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 17, 0}},
		{"readdir entry cut", []byte{16, 0, 0, 0, 41, 0, 0, 5, 0, 0, 0, 1, 2, 3, 4, 5}},
	} {
		if _, _, err := DecodeMessage(tc.b); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
	if _, err := AppendMessage(nil, 0, &Twalk{Names: make([]string, 17)}); err == nil {
		t.Error("encoding 17 walk names succeeded")
	}
	if _, err := AppendMessage(nil, 0, &Rreadlink{Target: string(make([]byte, 70000))}); err == nil {
		t.Error("encoding a 70000-byte string succeeded")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	for _, tc := range allMessages {
		b, _ := AppendMessage(nil, 1, tc.m)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		tag, m, err := DecodeMessage(b)
		if err != nil {
			return
		}
		// What decodes must re-encode to the same bytes, except Tfsync
		// without datasync.
		out, err := AppendMessage(nil, tag, m)
		if err != nil {
			t.Fatalf("re-encode %T: %v", m, err)
		}
		if !bytes.Equal(out, b) && m.Type() != MsgTfsync {
			t.Fatalf("re-encode %T differs:\n in %v\nout %v", m, b, out)
		}
	})
}
