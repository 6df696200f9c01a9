package vfs

import (
	"errors"
	"fmt"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/syserr"
)

// describe renders the record locks as "owner:type[start,end)" in order.
func describe(l *fileLocks) string {
	s := ""
	for _, r := range l.records {
		t := "R"
		if r.Type == WriteLock {
			t = "W"
		}
		end := fmt.Sprint(r.End)
		if r.End == LockEOF {
			end = "EOF"
		}
		s += fmt.Sprintf("%v:%s[%d,%s) ", r.owner, t, r.Start, end)
	}
	return s
}

func TestRecordLockRanges(t *testing.T) {
	type op struct {
		owner      string
		typ        LockType
		start, end uint64
	}
	for _, tc := range []struct {
		name string
		ops  []op
		want string
	}{
		{"one", []op{{"a", WriteLock, 0, 10}}, "a:W[0,10) "},
		{"merge adjacent same type", []op{{"a", ReadLock, 0, 10}, {"a", ReadLock, 10, 20}}, "a:R[0,20) "},
		{"merge overlapping", []op{{"a", ReadLock, 0, 10}, {"a", ReadLock, 5, 30}}, "a:R[0,30) "},
		{"adjacent other type stays", []op{{"a", ReadLock, 0, 10}, {"a", WriteLock, 10, 20}}, "a:R[0,10) a:W[10,20) "},
		{"split by other type", []op{{"a", ReadLock, 0, 30}, {"a", WriteLock, 10, 20}}, "a:R[0,10) a:W[10,20) a:R[20,30) "},
		{"unlock middle", []op{{"a", WriteLock, 0, 30}, {"a", Unlock, 10, 20}}, "a:W[0,10) a:W[20,30) "},
		{"unlock all", []op{{"a", WriteLock, 0, 30}, {"a", Unlock, 0, LockEOF}}, ""},
		{"to EOF", []op{{"a", ReadLock, 100, LockEOF}, {"a", Unlock, 200, 300}}, "a:R[100,200) a:R[300,EOF) "},
		{"owners kept apart", []op{{"a", ReadLock, 0, 10}, {"b", ReadLock, 5, 15}}, "a:R[0,10) b:R[5,15) "},
		{"unlock other owner's range untouched", []op{{"a", ReadLock, 0, 10}, {"b", Unlock, 0, 10}}, "a:R[0,10) "},
		{"bridge two ranges", []op{{"a", WriteLock, 0, 5}, {"a", WriteLock, 10, 15}, {"a", WriteLock, 5, 10}}, "a:W[0,15) "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var l fileLocks
			for _, o := range tc.ops {
				l.setRecordLocked(o.owner, RecordLock{Type: o.typ, Start: o.start, End: o.end})
			}
			if got := describe(&l); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestRecordLockConflicts(t *testing.T) {
	var l fileLocks
	l.setRecordLocked("a", RecordLock{Type: ReadLock, Start: 0, End: 10})
	l.setRecordLocked("b", RecordLock{Type: WriteLock, Start: 20, End: 30})
	for _, tc := range []struct {
		owner      string
		typ        LockType
		start, end uint64
		conflict   string
	}{
		{"c", ReadLock, 0, 10, ""},
		{"c", WriteLock, 0, 10, "a"},
		{"c", ReadLock, 25, 26, "b"},
		{"c", WriteLock, 10, 20, ""},
		{"b", WriteLock, 20, 30, ""},
		{"a", WriteLock, 0, 10, ""},
		{"a", ReadLock, 0, LockEOF, "b"},
	} {
		c := l.recordConflictLocked(tc.owner, tc.typ, tc.start, tc.end)
		got := ""
		if c != nil {
			got = c.owner.(string)
		}
		if got != tc.conflict {
			t.Errorf("%s %v [%d,%d): conflict with %q, want %q", tc.owner, tc.typ, tc.start, tc.end, got, tc.conflict)
		}
	}
}

// intrCtx is a Context whose Interrupted channel the test controls.
type intrCtx struct {
	testCtx
	ch chan struct{}
}

func (c intrCtx) Interrupted() <-chan struct{} { return c.ch }

func newLockFile(inode Inode) *FileDescription {
	fi := &FilesystemInstance{}
	d := &Dentry{name: "f", inode: inode, fs: fi}
	return NewFileDescription(&memFile{}, VirtualDentry{Dentry: d}, unix.O_RDWR)
}

func TestFlock(t *testing.T) {
	ctx := testCtx{creds: auth.NewUser(0, 0, nil)}
	inode := file("x")
	a, b := newLockFile(inode), newLockFile(inode)
	for _, step := range []struct {
		fd    *FileDescription
		typ   LockType
		err   error
		label string
	}{
		{a, ReadLock, nil, "a shared"},
		{b, ReadLock, nil, "b shared too"},
		{b, WriteLock, unix.EAGAIN, "b exclusive refused (and b's shared lock dropped)"},
		{a, WriteLock, nil, "a upgrades once alone"},
		{b, ReadLock, unix.EAGAIN, "b refused"},
		{a, Unlock, nil, "a unlocks"},
		{b, WriteLock, nil, "b exclusive"},
	} {
		if err := step.fd.Flock(ctx, step.typ, false); !errors.Is(err, step.err) && err != step.err {
			t.Fatalf("%s: got %v, want %v", step.label, err, step.err)
		}
	}
	// The last close releases b's lock.
	b.DecRef()
	if err := a.Flock(ctx, WriteLock, false); err != nil {
		t.Fatalf("after b's close: %v", err)
	}
	a.DecRef()
	if s := lookupState(inode); s != nil {
		putState(s)
		t.Errorf("inode state kept after every lock went")
	}
}

func TestRecordLockWaitAndInterrupt(t *testing.T) {
	ctx := intrCtx{testCtx: testCtx{creds: auth.NewUser(0, 0, nil)}, ch: make(chan struct{}, 1)}
	inode := file("x")
	f := newLockFile(inode)
	defer f.DecRef()
	all := RecordLock{Type: WriteLock, Start: 0, End: LockEOF}
	if err := f.SetRecordLock(ctx, "p1", 1, all, false); err != nil {
		t.Fatal(err)
	}
	if err := f.SetRecordLock(ctx, "p2", 2, all, false); err != unix.EAGAIN {
		t.Fatalf("conflicting F_SETLK: %v", err)
	}
	if c, ok := f.TestRecordLock("p2", all); !ok || c.PID != 1 || c.Type != WriteLock {
		t.Fatalf("F_GETLK: %+v %v", c, ok)
	}
	// A blocked waiter is woken by the release.
	done := make(chan error)
	go func() { done <- f.SetRecordLock(ctx, "p2", 2, all, true) }()
	f.ReleaseRecordLocks("p1")
	if err := <-done; err != nil {
		t.Fatalf("F_SETLKW after release: %v", err)
	}
	// p1 now blocks on p2; an interrupt ends the wait with ERESTARTSYS.
	ctx.ch <- struct{}{}
	if err := f.SetRecordLock(ctx, "p1", 1, all, true); err != syserr.ERESTARTSYS {
		t.Fatalf("interrupted F_SETLKW: %v", err)
	}
	// OFD locks conflict with POSIX locks and report pid -1.
	if err := f.SetOFDLock(ctx, RecordLock{Type: ReadLock, Start: 0, End: 1}, false); err != unix.EAGAIN {
		t.Fatalf("OFD lock over a POSIX write lock: %v", err)
	}
	f.ReleaseRecordLocks("p2")
	if err := f.SetOFDLock(ctx, RecordLock{Type: ReadLock, Start: 0, End: 1}, false); err != nil {
		t.Fatal(err)
	}
	if c, ok := f.TestRecordLock("p3", all); !ok || c.PID != -1 || !c.OFD {
		t.Fatalf("F_GETLK of an OFD lock: %+v %v", c, ok)
	}
}

func TestRecordLockDeadlock(t *testing.T) {
	ctx := testCtx{creds: auth.NewUser(0, 0, nil)}
	f1, f2 := newLockFile(file("1")), newLockFile(file("2"))
	defer f1.DecRef()
	defer f2.DecRef()
	all := RecordLock{Type: WriteLock, Start: 0, End: LockEOF}
	if err := f1.SetRecordLock(ctx, "A", 1, all, false); err != nil {
		t.Fatal(err)
	}
	if err := f2.SetRecordLock(ctx, "B", 2, all, false); err != nil {
		t.Fatal(err)
	}
	// B waits for A on f1; then A asking for f2 would close the cycle.
	done := make(chan error)
	go func() { done <- f1.SetRecordLock(ctx, "B", 2, all, true) }()
	for {
		deadlock.mu.Lock()
		_, waiting := deadlock.waitsFor["B"]
		deadlock.mu.Unlock()
		if waiting {
			break
		}
		select {
		case err := <-done:
			t.Fatalf("B got the lock early: %v", err)
		default:
			runtime.Gosched()
		}
	}
	if err := f2.SetRecordLock(ctx, "A", 1, all, true); err != unix.EDEADLK {
		t.Fatalf("A closing the cycle: %v, want EDEADLK", err)
	}
	f1.ReleaseRecordLocks("A")
	if err := <-done; err != nil {
		t.Fatalf("B after A released: %v", err)
	}
}
