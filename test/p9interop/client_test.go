package p9interop

import (
	"bytes"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"bufferzone.dev/pkg/p9"
	"golang.org/x/sys/unix"
)

// dialDiod connects our client to the diod server at addr over TCP with
// the given msize and attaches to the export dir as root.
func dialDiod(t *testing.T, addr, dir string, msize uint32) (*p9.Client, *p9.File, p9.QID) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	f, err := conn.(*net.TCPConn).File()
	conn.Close()
	if err != nil {
		t.Fatal(err)
	}
	c, err := p9.NewClient(f, msize)
	f.Close()
	if err != nil {
		t.Fatalf("NewClient over TCP to diod: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	root, qid, err := c.Attach(dir, 0)
	if err != nil {
		t.Fatalf("attach %q: %v", dir, err)
	}
	return c, root, qid
}

// makeExport builds the directory diod exports:
//
//	file      "hello, diod\n"
//	big       200 KiB of patterned bytes (more than one msize)
//	dir/inner "inner"
//	link ->   file
//	many/     300 empty files (more than one Rreaddir)
func makeExport(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(dir, "file"), []byte("hello, diod\n"), 0o644))
	must(os.WriteFile(filepath.Join(dir, "big"), pattern(200<<10), 0o644))
	must(os.Mkdir(filepath.Join(dir, "dir"), 0o755))
	must(os.WriteFile(filepath.Join(dir, "dir", "inner"), []byte("inner"), 0o600))
	must(os.Symlink("file", filepath.Join(dir, "link")))
	must(os.Mkdir(filepath.Join(dir, "many"), 0o755))
	for i := 0; i < 300; i++ {
		must(os.WriteFile(filepath.Join(dir, "many", "entry-with-a-longish-name-"+itoa(i)), nil, 0o644))
	}
	return dir
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func walkOK(t *testing.T, f *p9.File, names ...string) *p9.File {
	t.Helper()
	qids, nf, err := f.Walk(names)
	if err != nil {
		t.Fatalf("walk %q: %v", names, err)
	}
	if len(qids) != len(names) {
		t.Fatalf("walk %q: %d qids", names, len(qids))
	}
	return nf
}

// readAllDir reads every entry of the opened directory d, continuing each
// Treaddir at the offset of the last entry received.
func readAllDir(t *testing.T, d *p9.File, count uint32) []p9.Dirent {
	t.Helper()
	var all []p9.Dirent
	off := uint64(0)
	for calls := 0; ; calls++ {
		if calls > 10000 {
			t.Fatal("readdir does not end")
		}
		ents, err := d.Readdir(off, count)
		if err != nil {
			t.Fatalf("readdir at %d: %v", off, err)
		}
		if len(ents) == 0 {
			return all
		}
		all = append(all, ents...)
		off = ents[len(ents)-1].Offset
	}
}

// hostNames lists dir on the host, sorted, without "." and "..".
func hostNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// direntNames returns the sorted names of ents without "." and "..".
func direntNames(ents []p9.Dirent) []string {
	var names []string
	for _, e := range ents {
		if e.Name != "." && e.Name != ".." {
			names = append(names, e.Name)
		}
	}
	sort.Strings(names)
	return names
}

func lstat(t *testing.T, path string) unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// checkAttr compares an Rgetattr with the host's lstat of path.
func checkAttr(t *testing.T, what string, qid p9.QID, valid p9.AttrMask, a p9.Attr, path string) {
	t.Helper()
	st := lstat(t, path)
	if valid&p9.AttrBasic != p9.AttrBasic {
		t.Errorf("%s: valid mask %#x lacks basic fields", what, valid)
	}
	if qid.Type != p9.QIDTypeFromMode(st.Mode) {
		t.Errorf("%s: qid type %#x, host mode %#o", what, qid.Type, st.Mode)
	}
	if a.Mode != st.Mode || a.UID != st.Uid || a.GID != st.Gid || a.NLink != st.Nlink ||
		a.Size != uint64(st.Size) || a.Blocks != uint64(st.Blocks) ||
		a.MTimeSec != uint64(st.Mtim.Sec) || a.MTimeNSec != uint64(st.Mtim.Nsec) {
		t.Errorf("%s: attr %+v, host stat %+v", what, a, st)
	}
}

// TestClientAgainstDiod runs our client (pkg/p9) against a diod server on
// loopback TCP and checks every answer against the host file system.
func TestClientAgainstDiod(t *testing.T) {
	dir := makeExport(t)
	addr, diodLog := startDiod(t, dir)
	c, root, rootQID := dialDiod(t, addr, dir, 1<<20)

	t.Run("Version", func(t *testing.T) {
		// We asked for 1 MiB; diod caps msize at its own maximum and
		// we must take what it chose.
		if ms := c.MessageSize(); ms == 0 || ms > 1<<20 {
			t.Errorf("negotiated msize %d", ms)
		}
		// A small msize is honoured too.
		c2, _, _ := dialDiod(t, addr, dir, 8192)
		if ms := c2.MessageSize(); ms != 8192 {
			t.Errorf("asked for msize 8192, negotiated %d", ms)
		}
		if rootQID.Type != p9.QIDTypeDir || rootQID.Path != lstat(t, dir).Ino {
			t.Errorf("attach qid %v, host ino %d", rootQID, lstat(t, dir).Ino)
		}
	})

	t.Run("Walk", func(t *testing.T) {
		// Zero names clone the fid.
		qids, clone, err := root.Walk(nil)
		if err != nil || len(qids) != 0 {
			t.Fatalf("walk of zero names: %v, %v", qids, err)
		}
		q, _, _, err := clone.GetAttr(p9.AttrBasic)
		if err != nil || q != rootQID {
			t.Errorf("clone getattr: %v, %v; root %v", q, err, rootQID)
		}
		clone.Close()

		f := walkOK(t, root, "dir", "inner")
		q, valid, a, err := f.GetAttr(p9.AttrAll)
		if err != nil {
			t.Fatal(err)
		}
		checkAttr(t, "dir/inner", q, valid, a, filepath.Join(dir, "dir", "inner"))
		f.Close()

		// First name missing: Rlerror ENOENT.
		if _, f, err := root.Walk([]string{"missing"}); !errors.Is(err, unix.ENOENT) || f != nil {
			t.Errorf("walk missing: %v", err)
		}
		// Later name missing: a partial Rwalk, which the client reports
		// as ENOENT with the QIDs walked.
		qids, f, err = root.Walk([]string{"dir", "missing"})
		if !errors.Is(err, unix.ENOENT) || f != nil || len(qids) != 1 || qids[0].Type != p9.QIDTypeDir {
			t.Errorf("partial walk: %v %v %v", qids, f, err)
		}
		// More names than one Twalk carries.
		deep := filepath.Join(dir, "deep")
		var names []string
		for i := 0; i < p9.MaxWalkElements+3; i++ {
			names = append(names, "d"+itoa(i))
		}
		if err := os.MkdirAll(filepath.Join(append([]string{deep}, names...)...), 0o755); err != nil {
			t.Fatal(err)
		}
		qids, f, err = root.Walk(append([]string{"deep"}, names...))
		if err != nil || len(qids) != len(names)+1 {
			t.Fatalf("deep walk: %d qids, %v", len(qids), err)
		}
		f.Close()
		// Walk and getattr pipelined in one round trip.
		qids, f, valid, a, err = root.WalkGetAttr([]string{"file"}, p9.AttrAll)
		if err != nil || len(qids) != 1 {
			t.Fatalf("WalkGetAttr: %v", err)
		}
		checkAttr(t, "file", qids[0], valid, a, filepath.Join(dir, "file"))
		f.Close()
	})

	t.Run("Readdir", func(t *testing.T) {
		for _, sub := range []string{"", "many"} {
			names := []string{}
			if sub != "" {
				names = append(names, sub)
			}
			d := walkOK(t, root, names...)
			if _, _, _, err := d.Open(unix.O_RDONLY | unix.O_DIRECTORY); err != nil {
				t.Fatalf("lopen %q: %v", sub, err)
			}
			for _, count := range []uint32{64 << 10, 300} {
				ents := readAllDir(t, d, count)
				got, want := direntNames(ents), hostNames(t, filepath.Join(dir, sub))
				if strings.Join(got, "\n") != strings.Join(want, "\n") {
					t.Errorf("readdir %q (count %d): %d names, host has %d", sub, count, len(got), len(want))
				}
				for _, e := range ents {
					if e.Name == "." || e.Name == ".." {
						continue
					}
					st := lstat(t, filepath.Join(dir, sub, e.Name))
					if e.QID.Path != st.Ino || e.QID.Type != p9.QIDTypeFromMode(st.Mode) {
						t.Errorf("entry %q: qid %v, host ino %d mode %#o", e.Name, e.QID, st.Ino, st.Mode)
					}
				}
			}
			d.Close()
		}
	})

	t.Run("Read", func(t *testing.T) {
		for _, name := range []string{"file", "big"} {
			f := walkOK(t, root, name)
			fd, qid, iounit, err := f.Open(unix.O_RDONLY)
			if err != nil {
				t.Fatalf("lopen %s: %v", name, err)
			}
			if fd != nil {
				t.Errorf("diod donated a descriptor over TCP")
				fd.Close()
			}
			if qid.Path != lstat(t, filepath.Join(dir, name)).Ino {
				t.Errorf("lopen %s qid %v", name, qid)
			}
			_ = iounit
			want, _ := os.ReadFile(filepath.Join(dir, name))
			buf := make([]byte, len(want)+100)
			n, err := f.ReadAt(buf, 0)
			if err != nil || !bytes.Equal(buf[:n], want) {
				t.Errorf("read %s: %d bytes (want %d), %v", name, n, len(want), err)
			}
			// A read past the end returns nothing, not an error.
			if n, err := f.ReadAt(buf[:10], uint64(len(want)+5)); n != 0 || err != nil {
				t.Errorf("read past end of %s: %d, %v", name, n, err)
			}
			f.Close()
		}
		// Reading a file opened write-only fails with EBADF from the host.
		f := walkOK(t, root, "file")
		if _, _, _, err := f.Open(unix.O_WRONLY); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ReadAt(make([]byte, 4), 0); !errors.Is(err, unix.EBADF) {
			t.Errorf("read of write-only file: %v, want EBADF", err)
		}
		f.Close()
	})

	t.Run("CreateWriteFsync", func(t *testing.T) {
		d := walkOK(t, root, "dir")
		fd, qid, _, err := d.Create("new", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o640, 0)
		if err != nil {
			t.Fatalf("lcreate: %v", err)
		}
		if fd != nil {
			fd.Close()
		}
		host := filepath.Join(dir, "dir", "new")
		if qid.Path != lstat(t, host).Ino {
			t.Errorf("lcreate qid %v", qid)
		}
		data := pattern(150 << 10)
		if n, err := d.WriteAt(data, 0); err != nil || n != len(data) {
			t.Fatalf("write: %d, %v", n, err)
		}
		if n, err := d.WriteAt([]byte("XY"), 3); err != nil || n != 2 {
			t.Fatalf("write at 3: %d, %v", n, err)
		}
		copy(data[3:], "XY")
		if err := d.FSync(false); err != nil {
			t.Errorf("fsync: %v", err)
		}
		if err := d.FSync(true); err != nil {
			t.Errorf("fdatasync: %v", err)
		}
		got, _ := os.ReadFile(host)
		if !bytes.Equal(got, data) {
			t.Errorf("host file has %d bytes, want %d (content differs)", len(got), len(data))
		}
		if st := lstat(t, host); st.Mode&0o777 != 0o640 {
			t.Errorf("created mode %#o", st.Mode)
		}
		d.Close()
		// Creating an existing name fails with EEXIST.
		d = walkOK(t, root, "dir")
		if _, _, _, err := d.Create("new", unix.O_RDWR|unix.O_CREAT|unix.O_EXCL, 0o640, 0); !errors.Is(err, unix.EEXIST) {
			t.Errorf("lcreate existing: %v, want EEXIST", err)
		}
		d.Close()
	})

	t.Run("MkdirSymlinkReadlink", func(t *testing.T) {
		q, err := root.Mkdir("made", 0o750, 0)
		if err != nil {
			t.Fatal(err)
		}
		st := lstat(t, filepath.Join(dir, "made"))
		if q.Type != p9.QIDTypeDir || q.Path != st.Ino || st.Mode&0o777 != 0o750 {
			t.Errorf("mkdir: qid %v host mode %#o", q, st.Mode)
		}
		if _, err := root.Mkdir("made", 0o750, 0); !errors.Is(err, unix.EEXIST) {
			t.Errorf("mkdir existing: %v, want EEXIST", err)
		}
		q, err = root.Symlink("sym", "made/../file", 0)
		if err != nil {
			t.Fatal(err)
		}
		if target, _ := os.Readlink(filepath.Join(dir, "sym")); target != "made/../file" || q.Type != p9.QIDTypeSymlink {
			t.Errorf("symlink: host target %q, qid %v", target, q)
		}
		l := walkOK(t, root, "link")
		if target, err := l.Readlink(); err != nil || target != "file" {
			t.Errorf("readlink: %q, %v", target, err)
		}
		l.Close()
	})

	t.Run("RenameUnlink", func(t *testing.T) {
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.WriteFile(filepath.Join(dir, "r1"), []byte("r"), 0o644))
		d := walkOK(t, root, "dir")
		must(root.RenameAt("r1", d, "r2"))
		if _, err := os.Stat(filepath.Join(dir, "dir", "r2")); err != nil {
			t.Errorf("renameat: %v", err)
		}
		f := walkOK(t, d, "r2")
		must(f.Rename(root, "r3"))
		if _, err := os.Stat(filepath.Join(dir, "r3")); err != nil {
			t.Errorf("rename: %v", err)
		}
		f.Close()
		must(root.UnlinkAt("r3", 0))
		if _, err := os.Lstat(filepath.Join(dir, "r3")); !os.IsNotExist(err) {
			t.Errorf("unlinkat: file still there: %v", err)
		}
		if err := root.UnlinkAt("r3", 0); !errors.Is(err, unix.ENOENT) {
			t.Errorf("unlinkat missing: %v, want ENOENT", err)
		}
		if err := root.UnlinkAt("dir", 0); !errors.Is(err, unix.EISDIR) {
			t.Errorf("unlinkat dir without AT_REMOVEDIR: %v, want EISDIR", err)
		}
		if err := root.UnlinkAt("file", unix.AT_REMOVEDIR); !errors.Is(err, unix.ENOTDIR) {
			t.Errorf("unlinkat file with AT_REMOVEDIR: %v, want ENOTDIR", err)
		}
		must(os.Mkdir(filepath.Join(dir, "full"), 0o755))
		must(os.WriteFile(filepath.Join(dir, "full", "x"), nil, 0o644))
		if err := root.UnlinkAt("full", unix.AT_REMOVEDIR); !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
			t.Errorf("unlinkat non-empty dir: %v, want ENOTEMPTY", err)
		}
		must(os.Remove(filepath.Join(dir, "full", "x")))
		must(root.UnlinkAt("full", unix.AT_REMOVEDIR))
		if _, err := os.Lstat(filepath.Join(dir, "full")); !os.IsNotExist(err) {
			t.Errorf("unlinkat dir: still there: %v", err)
		}
		d.Close()
	})

	t.Run("Remove", func(t *testing.T) {
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		must(os.WriteFile(filepath.Join(dir, "doomed"), nil, 0o644))
		f := walkOK(t, root, "doomed")
		if err := f.Remove(); err != nil {
			t.Errorf("remove: %v", err)
		}
		if _, err := os.Lstat(filepath.Join(dir, "doomed")); !os.IsNotExist(err) {
			t.Errorf("remove: still there: %v", err)
		}
		// The fid is clunked even when the removal succeeds: reusing it
		// fails. (The client recycles fid numbers, so test with a raw
		// getattr through a fresh walk of the same number.)
		must(os.Mkdir(filepath.Join(dir, "nonempty"), 0o755))
		must(os.WriteFile(filepath.Join(dir, "nonempty", "x"), nil, 0o644))
		f = walkOK(t, root, "nonempty")
		if err := f.Remove(); err == nil {
			t.Errorf("remove of non-empty dir succeeded")
		}
		// The fid is gone after a failed Tremove too: its number is free
		// for the next walk.
		g := walkOK(t, root, "file")
		g.Close()
	})

	t.Run("SetAttr", func(t *testing.T) {
		host := filepath.Join(dir, "attrs")
		if err := os.WriteFile(host, []byte("0123456789"), 0o644); err != nil {
			t.Fatal(err)
		}
		f := walkOK(t, root, "attrs")
		err := f.SetAttr(p9.SetAttrMode|p9.SetAttrSize|p9.SetAttrMTime|p9.SetAttrMTimeSet|p9.SetAttrATime|p9.SetAttrATimeSet,
			p9.SetAttr{Mode: 0o600, Size: 4, MTimeSec: 1_000_000_000, MTimeNSec: 5, ATimeSec: 999, ATimeNSec: 7})
		if err != nil {
			t.Fatalf("setattr: %v", err)
		}
		st := lstat(t, host)
		if st.Mode&0o7777 != 0o600 || st.Size != 4 || st.Mtim.Sec != 1_000_000_000 || st.Mtim.Nsec != 5 || st.Atim.Sec != 999 {
			t.Errorf("after setattr host has mode %#o size %d mtime %d.%d atime %d", st.Mode, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Atim.Sec)
		}
		q, valid, a, err := f.GetAttr(p9.AttrAll)
		if err != nil {
			t.Fatal(err)
		}
		checkAttr(t, "attrs", q, valid, a, host)
		f.Close()
	})

	t.Run("StatFS", func(t *testing.T) {
		s, err := root.StatFS()
		if err != nil {
			t.Fatal(err)
		}
		var h unix.Statfs_t
		if err := unix.Statfs(dir, &h); err != nil {
			t.Fatal(err)
		}
		// diod reports V9FS_MAGIC as the type, not the host's.
		if (s.Type != uint32(h.Type) && s.Type != 0x01021997) || s.BlockSize != uint32(h.Bsize) || s.Blocks != h.Blocks ||
			s.Files != h.Files || s.NameLength != uint32(h.Namelen) {
			t.Errorf("statfs %+v, host %+v", s, h)
		}
	})

	t.Run("Errors", func(t *testing.T) {
		// Opening a directory for writing: EISDIR from the host.
		d := walkOK(t, root, "dir")
		if _, _, _, err := d.Open(unix.O_WRONLY); !errors.Is(err, unix.EISDIR) {
			t.Errorf("lopen dir for writing: %v, want EISDIR", err)
		}
		d.Close()
		// Reading an unopened fid fails (diod: EBADF... or EINVAL).
		f := walkOK(t, root, "file")
		if _, err := f.ReadAt(make([]byte, 4), 0); err == nil {
			t.Errorf("read of an unopened fid succeeded")
		}
		f.Close()
		// Readlink of a regular file: EINVAL.
		f = walkOK(t, root, "file")
		if _, err := f.Readlink(); !errors.Is(err, unix.EINVAL) {
			t.Errorf("readlink of a file: %v, want EINVAL", err)
		}
		f.Close()
	})

	t.Run("PartialWalkLeavesNoFid", func(t *testing.T) {
		// diod binds newfid even when a walk stops early; the client
		// clunks it so that reusing the number finds it free.
		for i := 0; i < 3; i++ {
			if _, _, err := root.Walk([]string{"dir", "missing"}); !errors.Is(err, unix.ENOENT) {
				t.Fatalf("partial walk: %v", err)
			}
			walkOK(t, root, "file").Close()
		}
		if strings.Contains(diodLog.String(), "np_fid_create: unclunked fid") {
			t.Errorf("diod saw a fid number reused while still bound")
		}
	})

	t.Run("Locks", func(t *testing.T) {
		a := walkOK(t, root, "file")
		b := walkOK(t, root, "file")
		for _, f := range []*p9.File{a, b} {
			if _, _, _, err := f.Open(unix.O_RDWR); err != nil {
				t.Fatal(err)
			}
		}
		st, err := a.Lock(p9.LockTypeWrite, 0, 0, 10, 1, "a")
		if err != nil || st != p9.LockStatusOK {
			t.Fatalf("lock: %d, %v", st, err)
		}
		g, err := b.GetLock(p9.LockTypeWrite, 0, 10, 2, "b")
		if err != nil {
			t.Fatalf("getlock: %v", err)
		}
		t.Logf("diod getlock of a locked range: %+v", g)
		st, err = a.Lock(p9.LockTypeUnlock, 0, 0, 10, 1, "a")
		if err != nil || st != p9.LockStatusOK {
			t.Errorf("unlock: %d, %v", st, err)
		}
		a.Close()
		b.Close()
	})
}
