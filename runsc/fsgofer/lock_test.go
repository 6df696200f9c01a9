package fsgofer

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"bufferzone.dev/pkg/p9"
	"golang.org/x/sys/unix"
)

// openFid walks r to name and opens it with flags. The donated host file,
// if any, is returned for the caller to close.
func openFid(t *testing.T, r *p9.File, name string, flags uint32) (*p9.File, *os.File) {
	t.Helper()
	f, _ := walk(t, r, name)
	donated, _, _, err := f.Open(flags)
	if err != nil {
		t.Fatalf("open %s: %v", name, err)
	}
	return f, donated
}

func lockStatus(t *testing.T, f *p9.File, typ uint8, start, length uint64) uint8 {
	t.Helper()
	st, err := f.Lock(typ, 0, start, length, 1, "test")
	if err != nil {
		t.Fatalf("lock type %d [%d,+%d): %v", typ, start, length, err)
	}
	return st
}

func TestLockConflictsBetweenFids(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, false)
	a, da := openFid(t, r, "file", unix.O_RDWR)
	b, db := openFid(t, r, "file", unix.O_RDWR)
	defer a.Close()
	defer b.Close()
	defer da.Close()
	defer db.Close()

	cases := []struct {
		name          string
		f             *p9.File
		typ           uint8
		start, length uint64
		want          uint8
	}{
		{"a write-locks [0,10)", a, p9.LockTypeWrite, 0, 10, p9.LockStatusOK},
		{"b cannot write-lock [5,15)", b, p9.LockTypeWrite, 5, 10, p9.LockStatusBlocked},
		{"b cannot read-lock [9,10)", b, p9.LockTypeRead, 9, 1, p9.LockStatusBlocked},
		{"b read-locks [10,20): no overlap", b, p9.LockTypeRead, 10, 10, p9.LockStatusOK},
		{"a read-locks [15,16): read locks share", a, p9.LockTypeRead, 15, 1, p9.LockStatusOK},
		{"a re-locks its own range as read", a, p9.LockTypeRead, 0, 10, p9.LockStatusOK},
		{"b read-locks [0,10) now", b, p9.LockTypeRead, 0, 10, p9.LockStatusOK},
		{"a cannot upgrade [0,10) to write", a, p9.LockTypeWrite, 0, 10, p9.LockStatusBlocked},
		{"b unlocks everything (length 0 = to EOF)", b, p9.LockTypeUnlock, 0, 0, p9.LockStatusOK},
		{"a upgrades [0,10) to write", a, p9.LockTypeWrite, 0, 10, p9.LockStatusOK},
		{"a write-locks [100, EOF)", a, p9.LockTypeWrite, 100, 0, p9.LockStatusOK},
		{"b cannot lock far beyond EOF", b, p9.LockTypeRead, 1 << 40, 1, p9.LockStatusBlocked},
		{"unlocking what one does not hold is fine", b, p9.LockTypeUnlock, 0, 0, p9.LockStatusOK},
	}
	for _, c := range cases {
		if got := lockStatus(t, c.f, c.typ, c.start, c.length); got != c.want {
			t.Errorf("%s: status %d, want %d", c.name, got, c.want)
		}
	}

	// Tgetlock reports a's conflicting write lock to b...
	g, err := b.GetLock(p9.LockTypeRead, 5, 1, 7, "b")
	if err != nil {
		t.Fatal(err)
	}
	if g.LockType != p9.LockTypeWrite || g.Start != 0 || g.Length != 10 || g.ProcID != 0xffffffff {
		t.Errorf("getlock conflict: %+v, want write [0,+10) pid -1", g)
	}
	g, err = b.GetLock(p9.LockTypeWrite, 200, 5, 7, "b")
	if err != nil || g.LockType != p9.LockTypeWrite || g.Start != 100 || g.Length != 0 {
		t.Errorf("getlock of [200,205): %+v, %v; want write [100, EOF)", g, err)
	}
	// ...and no conflict where there is none, echoing the request.
	g, err = b.GetLock(p9.LockTypeWrite, 20, 30, 7, "b")
	if err != nil || g != (p9.Rgetlock{LockType: p9.LockTypeUnlock, Start: 20, Length: 30, ProcID: 7, ClientID: "b"}) {
		t.Errorf("getlock free range: %+v, %v", g, err)
	}
	// A fid never conflicts with itself.
	g, err = a.GetLock(p9.LockTypeWrite, 0, 0, 7, "a")
	if err != nil || g.LockType != p9.LockTypeUnlock {
		t.Errorf("getlock against own locks: %+v, %v", g, err)
	}
}

func TestLockBlockingRequestDoesNotBlock(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, false)
	a, da := openFid(t, r, "file", unix.O_RDWR)
	b, db := openFid(t, r, "file", unix.O_RDWR)
	defer da.Close()
	defer db.Close()
	if st := lockStatus(t, a, p9.LockTypeWrite, 0, 0); st != p9.LockStatusOK {
		t.Fatalf("lock: %d", st)
	}
	done := make(chan uint8)
	go func() {
		st, err := b.Lock(p9.LockTypeWrite, p9.LockFlagsBlock, 0, 0, 2, "b")
		if err != nil {
			t.Error(err)
		}
		done <- st
	}()
	select {
	case st := <-done:
		if st != p9.LockStatusBlocked {
			t.Errorf("blocking Tlock on a held lock: status %d, want Blocked", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a blocking Tlock blocked the Gofer")
	}
	// The client retries, as for F_SETLKW; after the unlock it succeeds.
	if st := lockStatus(t, a, p9.LockTypeUnlock, 0, 0); st != p9.LockStatusOK {
		t.Fatalf("unlock: %d", st)
	}
	st, err := b.Lock(p9.LockTypeWrite, p9.LockFlagsBlock, 0, 0, 2, "b")
	if err != nil || st != p9.LockStatusOK {
		t.Errorf("retry: %d, %v", st, err)
	}
	a.Close()
	b.Close()
}

func TestLockAgainstHostLocks(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, false)
	a, da := openFid(t, r, "file", unix.O_RDWR)
	defer a.Close()
	defer da.Close()

	// A traditional POSIX lock held on the host (by this test process,
	// standing in for another host program) conflicts with the Gofer's
	// OFD lock even though the Gofer runs in the same process: the OFD
	// lock is owned by the open file, not by the process.
	host, err := os.OpenFile(filepath.Join(root, "file"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	posix := unix.Flock_t{Type: unix.F_WRLCK, Start: 0, Len: 4}
	if err := unix.FcntlFlock(host.Fd(), unix.F_SETLK, &posix); err != nil {
		t.Fatal(err)
	}
	if st := lockStatus(t, a, p9.LockTypeRead, 2, 1); st != p9.LockStatusBlocked {
		t.Errorf("lock over a host POSIX lock: status %d, want Blocked", st)
	}
	g, err := a.GetLock(p9.LockTypeRead, 0, 1, 1, "a")
	if err != nil || g.LockType != p9.LockTypeWrite || g.ProcID != uint32(os.Getpid()) || g.Length != 4 {
		t.Errorf("getlock over a host POSIX lock: %+v, %v; want write [0,+4) pid %d", g, err, os.Getpid())
	}
	posix.Type = unix.F_UNLCK
	if err := unix.FcntlFlock(host.Fd(), unix.F_SETLK, &posix); err != nil {
		t.Fatal(err)
	}
	// And the other way round: a host program sees the Gofer's lock.
	if st := lockStatus(t, a, p9.LockTypeWrite, 0, 100); st != p9.LockStatusOK {
		t.Fatalf("lock: %d", st)
	}
	probe := unix.Flock_t{Type: unix.F_RDLCK, Start: 50, Len: 1}
	if err := unix.FcntlFlock(host.Fd(), unix.F_OFD_GETLK, &probe); err != nil {
		t.Fatal(err)
	}
	if probe.Type != unix.F_WRLCK || probe.Start != 0 || probe.Len != 100 {
		t.Errorf("host F_OFD_GETLK sees %+v, want the Gofer's write lock [0,+100)", probe)
	}
}

func TestLockReleasedWithOpenFile(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, false)
	a, da := openFid(t, r, "file", unix.O_RDWR)
	b, db := openFid(t, r, "file", unix.O_RDWR)
	defer b.Close()
	defer db.Close()
	if st := lockStatus(t, a, p9.LockTypeWrite, 0, 0); st != p9.LockStatusOK {
		t.Fatalf("lock: %d", st)
	}
	// Clunking the fid is not enough while the donated descriptor (the
	// same open file description) is still open in the client.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if da == nil {
		t.Fatal("no descriptor donated for a regular file")
	}
	if st := lockStatus(t, b, p9.LockTypeWrite, 0, 1); st != p9.LockStatusBlocked {
		t.Errorf("after clunk with the donated fd open: status %d, want Blocked", st)
	}
	da.Close()
	if st := lockStatus(t, b, p9.LockTypeWrite, 0, 1); st != p9.LockStatusOK {
		t.Errorf("after clunk and close of the donated fd: status %d, want OK", st)
	}
}

func TestLockErrors(t *testing.T) {
	root := makeTree(t)
	r := connect(t, root, false)
	ro, dro := openFid(t, r, "file", unix.O_RDONLY)
	defer ro.Close()
	defer dro.Close()
	wo, dwo := openFid(t, r, "file", unix.O_WRONLY)
	defer wo.Close()
	defer dwo.Close()
	unopened, _ := walk(t, r, "file")
	defer unopened.Close()
	d, _ := walk(t, r, "dir")
	defer d.Close()
	if _, _, _, err := d.Open(unix.O_RDONLY | unix.O_DIRECTORY); err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name          string
		f             *p9.File
		typ           uint8
		start, length uint64
		want          error
	}{
		{"unopened fid", unopened, p9.LockTypeRead, 0, 1, unix.EBADF},
		{"write lock on a read-only open", ro, p9.LockTypeWrite, 0, 1, unix.EBADF},
		{"read lock on a write-only open", wo, p9.LockTypeRead, 0, 1, unix.EBADF},
		{"bad type", ro, 7, 0, 1, unix.EINVAL},
		{"start beyond 2^63-1", ro, p9.LockTypeRead, 1 << 63, 1, unix.EINVAL},
		{"length beyond 2^63-1", ro, p9.LockTypeRead, 0, 1 << 63, unix.EINVAL},
		{"start+length overflows", ro, p9.LockTypeRead, 1<<63 - 10, 20, unix.EOVERFLOW},
	} {
		if _, err := c.f.Lock(c.typ, 0, c.start, c.length, 1, "x"); !errors.Is(err, c.want) {
			t.Errorf("Tlock, %s: %v, want %v", c.name, err, c.want)
		}
		if c.typ == p9.LockTypeWrite && c.f == ro {
			continue // Tgetlock needs no write access
		}
		if c.typ == p9.LockTypeRead && c.f == wo {
			continue
		}
		if _, err := c.f.GetLock(c.typ, c.start, c.length, 1, "x"); !errors.Is(err, c.want) {
			t.Errorf("Tgetlock, %s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := ro.GetLock(p9.LockTypeUnlock, 0, 1, 1, "x"); !errors.Is(err, unix.EINVAL) {
		t.Errorf("Tgetlock of type unlock: %v, want EINVAL", err)
	}
	// Directories can be locked (read) like any opened file.
	if st, err := d.Lock(p9.LockTypeRead, 0, 0, 0, 1, "x"); err != nil || st != p9.LockStatusOK {
		t.Errorf("read lock on a directory: %d, %v", st, err)
	}
	// A read-only Gofer still takes read locks.
	rr := connect(t, root, true)
	f, df := openFid(t, rr, "file", unix.O_RDONLY)
	defer f.Close()
	defer df.Close()
	if st := lockStatus(t, f, p9.LockTypeRead, 0, 0); st != p9.LockStatusOK {
		t.Errorf("read lock through a read-only Gofer: %d", st)
	}
}
