package mm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/abi/linux"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/mm/mmtest"
	"bufferzone.dev/pkg/sentry/platform"
)

const pg = pageSize

var sharedMF *memory.File

func testMF(t testing.TB) *memory.File {
	if sharedMF == nil {
		mf, err := memory.New("mm-test")
		if err != nil {
			t.Fatalf("memory.New: %v", err)
		}
		sharedMF = mf
	}
	return sharedMF
}

func newMM(t testing.TB) (*MemoryManager, *mmtest.AddressSpace) {
	t.Helper()
	p := &mmtest.Platform{}
	mm, err := New(p, testMF(t))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(mm.DecUsers)
	return mm, p.ASs[0]
}

// bytesFile is a Mappable file backed by a byte slice.
type bytesFile struct{ data []byte }

func (f *bytesFile) ReadAt(p []byte, off int64) (int, error) {
	if off >= int64(len(f.data)) {
		return 0, io.EOF
	}
	n := copy(p, f.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (f *bytesFile) Size() int64 { return int64(len(f.data)) }

func anon(addr, length uintptr, prot int) MMapOpts {
	return MMapOpts{Addr: addr, Length: length, Prot: prot, Private: true, Anonymous: true, Fixed: addr != 0}
}

const rw = unix.PROT_READ | unix.PROT_WRITE

func mustMMap(t *testing.T, mm *MemoryManager, opts MMapOpts) uintptr {
	t.Helper()
	addr, err := mm.MMap(opts)
	if err != nil {
		t.Fatalf("MMap(%+v): %v", opts, err)
	}
	return addr
}

// layout renders the VMAs as "start-end perms" relative to base.
func layout(mm *MemoryManager, base uintptr) string {
	var b bytes.Buffer
	for v := range mm.VMAs() {
		perm := []byte("---")
		if v.Perms.Read {
			perm[0] = 'r'
		}
		if v.Perms.Write {
			perm[1] = 'w'
		}
		if v.Perms.Execute {
			perm[2] = 'x'
		}
		fmt.Fprintf(&b, "[%d,%d)%s ", (v.Start-base)/pg, (v.End-base)/pg, perm)
	}
	return b.String()
}

func TestMMapErrors(t *testing.T) {
	mm, _ := newMM(t)
	base := mustMMap(t, mm, anon(0x100000, 4*pg, rw))
	file := &bytesFile{data: make([]byte, 3*pg)}
	shm := NewSharedMemory(mm.mf, 4*pg)
	defer shm.DecRef()
	for _, tc := range []struct {
		name string
		opts MMapOpts
		want error
	}{
		{"zero length", anon(0, 0, rw), unix.EINVAL},
		{"huge length", anon(0, ^uintptr(0), rw), unix.ENOMEM},
		{"length beyond address space", anon(0, 1<<62, rw), unix.ENOMEM},
		{"neither private nor shared", MMapOpts{Length: pg, Anonymous: true}, unix.EINVAL},
		{"both private and shared", MMapOpts{Length: pg, Anonymous: true, Private: true, Shared: true}, unix.EINVAL},
		{"bad prot", anon(0, pg, 0x80), unix.EINVAL},
		{"fixed unaligned", anon(0x100001, pg, rw), unix.EINVAL},
		{"fixed beyond top", anon(mmtest.MaxUserAddress, pg, rw), unix.ENOMEM},
		{"fixed overflowing", anon(^uintptr(0)&^pageMask, 2*pg, rw), unix.ENOMEM},
		{"fixed below mmap_min_addr", anon(pg, pg, rw), unix.EPERM},
		{"fixed noreplace overlap", MMapOpts{Addr: base + pg, Length: pg, Prot: rw, Private: true, Anonymous: true, FixedNoReplace: true}, unix.EEXIST},
		{"file unaligned offset", MMapOpts{Length: pg, Prot: rw, Private: true, Mappable: file, Offset: 100}, unix.EINVAL},
		{"file negative offset", MMapOpts{Length: pg, Prot: rw, Private: true, Mappable: file, Offset: -pg}, unix.EINVAL},
		{"file offset overflow", MMapOpts{Length: 2 * pg, Prot: rw, Private: true, Mappable: file, Offset: (1<<63 - 1) &^ pageMask}, unix.EOVERFLOW},
		{"file no mappable", MMapOpts{Length: pg, Prot: rw, Private: true}, unix.EBADF},
		{"shared writable plain file", MMapOpts{Length: pg, Prot: rw, Shared: true, Mappable: file}, unix.EACCES},
		{"shared writable read-only shm", MMapOpts{Length: pg, Prot: rw, Shared: true, Mappable: shm, MaxPerms: platform.ReadExec}, unix.EACCES},
		{"exec on noexec", MMapOpts{Length: pg, Prot: unix.PROT_READ | unix.PROT_EXEC, Private: true, Mappable: file, MaxPerms: platform.ReadWrite}, unix.EACCES},
	} {
		if _, err := mm.MMap(tc.opts); !errors.Is(err, tc.want) {
			t.Errorf("%s: MMap = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Allowed variants.
	for _, opts := range []MMapOpts{
		{Length: pg, Prot: unix.PROT_READ, Shared: true, Mappable: file},
		{Length: pg, Prot: rw, Private: true, Mappable: file, MaxPerms: platform.Read},
		{Length: pg, Prot: rw, Shared: true, Mappable: shm},
	} {
		if _, err := mm.MMap(opts); err != nil {
			t.Errorf("MMap(%+v) = %v", opts, err)
		}
	}
}

func TestMMapPlacement(t *testing.T) {
	mm, _ := newMM(t)
	base := mm.MMapBase()
	a := mustMMap(t, mm, anon(0, 3*pg, rw))
	if a != base-3*pg {
		t.Errorf("first mapping at %#x, want %#x", a, base-3*pg)
	}
	b := mustMMap(t, mm, anon(0, pg+1, rw))
	if b != a-2*pg {
		t.Errorf("second mapping at %#x, want %#x", b, a-2*pg)
	}
	// A free hint is honoured, rounded up to a page.
	opts := anon(0, pg, rw)
	opts.Addr = 0x200000 - 10
	if c := mustMMap(t, mm, opts); c != 0x200000 {
		t.Errorf("hinted mapping at %#x, want 0x200000", c)
	}
	// An occupied hint is not.
	opts.Addr = 0x200000
	if c := mustMMap(t, mm, opts); c != b-pg {
		t.Errorf("mapping with occupied hint at %#x, want %#x", c, b-pg)
	}
	// A hole left by munmap is reused top down.
	if err := mm.MUnmap(a, pg); err != nil {
		t.Fatal(err)
	}
	if d := mustMMap(t, mm, anon(0, pg, rw)); d != a {
		t.Errorf("mapping after munmap at %#x, want %#x", d, a)
	}
	// MAP_FIXED replaces.
	if e := mustMMap(t, mm, anon(b, 2*pg, unix.PROT_READ)); e != b {
		t.Errorf("fixed at %#x, want %#x", e, b)
	}
}

func TestSplitAndMerge(t *testing.T) {
	mm, _ := newMM(t)
	const base = 0x400000
	mustMMap(t, mm, anon(base, 10*pg, rw))
	for _, step := range []struct {
		name string
		do   func() error
		want string
	}{
		{"initial", func() error { return nil }, "[0,10)rw- "},
		{"munmap middle", func() error { return mm.MUnmap(base+4*pg, 2*pg) }, "[0,4)rw- [6,10)rw- "},
		{"mprotect inside", func() error { return mm.MProtect(base+pg, pg, unix.PROT_READ) }, "[0,1)rw- [1,2)r-- [2,4)rw- [6,10)rw- "},
		{"mprotect back merges", func() error { return mm.MProtect(base+pg, pg, rw) }, "[0,4)rw- [6,10)rw- "},
		{"mprotect across hole fails", func() error { return wantErr(mm.MProtect(base, 8*pg, unix.PROT_READ), unix.ENOMEM) }, "[0,4)rw- [6,10)rw- "},
		{"refill hole merges", func() error { _, err := mm.MMap(anon(base+4*pg, 2*pg, rw)); return err }, "[0,10)rw- "},
		{"mprotect tail", func() error { return mm.MProtect(base+8*pg, 2*pg-1, unix.PROT_NONE) }, "[0,8)rw- [8,10)--- "},
		{"munmap across boundary", func() error { return mm.MUnmap(base+7*pg, 2*pg) }, "[0,7)rw- [9,10)--- "},
		{"munmap of nothing", func() error { return mm.MUnmap(base+20*pg, 2*pg) }, "[0,7)rw- [9,10)--- "},
		{"fixed map over two", func() error { _, err := mm.MMap(anon(base+6*pg, 4*pg, unix.PROT_EXEC)); return err }, "[0,6)rw- [6,10)--x "},
		{"munmap all", func() error { return mm.MUnmap(base, 10*pg) }, ""},
	} {
		if err := step.do(); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got := layout(mm, base); got != step.want {
			t.Fatalf("%s: layout %q, want %q", step.name, got, step.want)
		}
	}
}

func wantErr(got, want error) error {
	if !errors.Is(got, want) {
		return fmt.Errorf("got %v, want %v", got, want)
	}
	return nil
}

func TestRangeErrors(t *testing.T) {
	mm, _ := newMM(t)
	mustMMap(t, mm, anon(0x400000, pg, rw))
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"munmap unaligned", mm.MUnmap(0x400001, pg), unix.EINVAL},
		{"munmap zero", mm.MUnmap(0x400000, 0), unix.EINVAL},
		{"munmap huge", mm.MUnmap(0x400000, ^uintptr(0)), unix.EINVAL},
		{"munmap beyond top", mm.MUnmap(mmtest.MaxUserAddress, pg), unix.EINVAL},
		{"mprotect unaligned", mm.MProtect(0x400001, pg, rw), unix.EINVAL},
		{"mprotect bad prot", mm.MProtect(0x400000, pg, 0x40), unix.EINVAL},
		{"mprotect huge", mm.MProtect(0x400000, ^uintptr(0), rw), unix.ENOMEM},
		{"mprotect unmapped", mm.MProtect(0x500000, pg, rw), unix.ENOMEM},
		{"mprotect zero ok", mm.MProtect(0x500000, 0, rw), nil},
		{"madvise bad advice", mm.MAdvise(0x400000, pg, 9999), unix.EINVAL},
		{"madvise unaligned", mm.MAdvise(0x400001, pg, unix.MADV_DONTNEED), unix.EINVAL},
		{"madvise overflow", mm.MAdvise(0x400000, ^uintptr(0)-10, unix.MADV_DONTNEED), unix.EINVAL},
		{"madvise hole", mm.MAdvise(0x400000, 2*pg, unix.MADV_DONTNEED), unix.ENOMEM},
		{"madvise unmapped", mm.MAdvise(0x500000, pg, unix.MADV_NORMAL), unix.ENOMEM},
		{"madvise hwpoison", mm.MAdvise(0x400000, pg, unix.MADV_HWPOISON), unix.EPERM},
		{"madvise wipeonfork on file ok", mm.MAdvise(0x400000, pg, unix.MADV_WIPEONFORK), nil},
	} {
		if !errors.Is(tc.err, tc.want) && !(tc.err == nil && tc.want == nil) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func TestBrk(t *testing.T) {
	mm, _ := newMM(t)
	const start = 0x600000
	mm.SetBrkStart(start)
	if got := mm.Brk(0); got != start {
		t.Fatalf("Brk(0) = %#x, want %#x", got, start)
	}
	if got := mm.Brk(start + 3*pg + 123); got != start+3*pg+123 {
		t.Fatalf("Brk(grow) = %#x", got)
	}
	if n, err := mm.CopyOut(start+3*pg+100, []byte("heap")); err != nil || n != 4 {
		t.Fatalf("CopyOut to heap = %d, %v", n, err)
	}
	if got := layout(mm, 0x600000); got != "[0,4)rw- " {
		t.Fatalf("layout after grow %q", got)
	}
	if got := mm.Brk(start - 1); got != start+3*pg+123 {
		t.Fatalf("Brk(below start) = %#x, want unchanged", got)
	}
	if got := mm.Brk(start + pg); got != start+pg {
		t.Fatalf("Brk(shrink) = %#x", got)
	}
	if got := layout(mm, 0x600000); got != "[0,1)rw- " {
		t.Fatalf("layout after shrink %q", got)
	}
	// A mapping in the way stops growth.
	mustMMap(t, mm, anon(0x600000+10*pg, pg, rw))
	if got := mm.Brk(start + 20*pg); got != start+pg {
		t.Fatalf("Brk(into mapping) = %#x, want unchanged", got)
	}
	if got := mm.Brk(^uintptr(0)); got != start+pg {
		t.Fatalf("Brk(huge) = %#x, want unchanged", got)
	}
	for v := range mm.VMAs() {
		if v.Start == 0x600000 && v.Name != "[heap]" {
			t.Errorf("heap VMA named %q", v.Name)
		}
	}
}

func TestMRemap(t *testing.T) {
	mm, as := newMM(t)
	const a = 0x400000
	mustMMap(t, mm, anon(a, 2*pg, rw))
	mm.CopyOut(a, []byte("remap me"))
	// Grow in place.
	if got, err := mm.MRemap(a, 2*pg, 4*pg, 0, 0); err != nil || got != a {
		t.Fatalf("grow in place = %#x, %v", got, err)
	}
	// Blocked growth without MAYMOVE.
	mustMMap(t, mm, anon(a+4*pg, pg, rw))
	if _, err := mm.MRemap(a, 4*pg, 8*pg, 0, 0); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("blocked grow = %v, want ENOMEM", err)
	}
	// Touch the pages so that the move has to unmap them.
	if err := mm.HandleFault(a, platform.Read); err != nil {
		t.Fatal(err)
	}
	as.Reset()
	b, err := mm.MRemap(a, 4*pg, 8*pg, unix.MREMAP_MAYMOVE, 0)
	if err != nil || b == a {
		t.Fatalf("move = %#x, %v", b, err)
	}
	buf := make([]byte, 8)
	if _, err := mm.CopyIn(b, buf); err != nil || string(buf) != "remap me" {
		t.Fatalf("data after move = %q, %v", buf, err)
	}
	if _, err := mm.CopyIn(a, buf); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("old range after move: %v, want EFAULT", err)
	}
	if _, unmaps := as.Calls(); len(unmaps) != 1 || unmaps[0] != (mmtest.UnmapCall{Addr: a, Length: 4 * pg}) {
		t.Fatalf("unmaps on move = %+v", unmaps)
	}
	// Shrink.
	if got, err := mm.MRemap(b, 8*pg, pg, 0, 0); err != nil || got != b {
		t.Fatalf("shrink = %#x, %v", got, err)
	}
	if _, err := mm.CopyIn(b+pg, buf[:1]); !errors.Is(err, unix.EFAULT) {
		t.Fatalf("after shrink: %v, want EFAULT", err)
	}
	// Fixed.
	const c = 0x800000
	if got, err := mm.MRemap(b, pg, 2*pg, unix.MREMAP_MAYMOVE|unix.MREMAP_FIXED, c); err != nil || got != c {
		t.Fatalf("fixed = %#x, %v", got, err)
	}
	if _, err := mm.CopyIn(c, buf); err != nil || string(buf) != "remap me" {
		t.Fatalf("data after fixed move = %q, %v", buf, err)
	}
	for _, tc := range []struct {
		name                string
		old, oldLen, newLen uintptr
		flags               int
		newAddr             uintptr
		want                error
	}{
		{"bad flags", c, pg, pg, 0x100, 0, unix.EINVAL},
		{"fixed without maymove", c, pg, pg, unix.MREMAP_FIXED, 0x900000, unix.EINVAL},
		{"unaligned", c + 1, pg, pg, 0, 0, unix.EINVAL},
		{"zero new length", c, pg, 0, 0, 0, unix.EINVAL},
		{"huge new length", c, pg, ^uintptr(0), unix.MREMAP_MAYMOVE, 0, unix.EINVAL},
		{"unmapped", 0x300000, pg, 2 * pg, unix.MREMAP_MAYMOVE, 0, unix.EFAULT},
		{"beyond vma", c, 3 * pg, 4 * pg, unix.MREMAP_MAYMOVE, 0, unix.EFAULT},
		{"fixed overlap", c, pg, 2 * pg, unix.MREMAP_MAYMOVE | unix.MREMAP_FIXED, c - pg, unix.EINVAL},
		{"dup private", c, 0, pg, unix.MREMAP_MAYMOVE, 0, unix.EINVAL},
		{"grow too big", c, pg, 1 << 50, unix.MREMAP_MAYMOVE, 0, unix.ENOMEM},
	} {
		if _, err := mm.MRemap(tc.old, tc.oldLen, tc.newLen, tc.flags, tc.newAddr); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestCopyAcrossVMAsAndHoles(t *testing.T) {
	mm, _ := newMM(t)
	const a = 0x400000
	mustMMap(t, mm, anon(a, 2*pg, rw))
	mustMMap(t, mm, anon(a+2*pg, pg, unix.PROT_READ)) // separate VMA
	mustMMap(t, mm, anon(a+4*pg, pg, rw))             // after a hole
	src := bytes.Repeat([]byte{0x5a}, 2*pg)
	// Across two writable VMAs of different permission: stops at the
	// read-only one.
	if n, err := mm.CopyOut(a+pg, src); n != pg || !errors.Is(err, unix.EFAULT) {
		t.Errorf("CopyOut into read-only = %d, %v; want %d, EFAULT", n, err, pg)
	}
	// Reading across VMAs works up to the hole.
	dst := make([]byte, 4*pg)
	if n, err := mm.CopyIn(a+100, dst); n != 3*pg-100 || !errors.Is(err, unix.EFAULT) {
		t.Errorf("CopyIn across hole = %d, %v; want %d, EFAULT", n, err, 3*pg-100)
	}
	if !bytes.Equal(dst[pg-100:2*pg-100], src[:pg]) || dst[0] != 0 {
		t.Error("CopyIn returned wrong data")
	}
	for _, tc := range []struct {
		name  string
		addr  uintptr
		n     int
		write bool
		wantN int
	}{
		{"unmapped", 0x300000, 10, false, 0},
		{"wraps address space", ^uintptr(0) - 10, 100, false, 0},
		{"top of address space", mmtest.MaxUserAddress - 8, 16, true, 0},
		{"end of last vma", a + 5*pg - 8, 16, true, 8},
		{"zero length", 0, 0, true, 0},
	} {
		buf := make([]byte, tc.n)
		var n int
		var err error
		if tc.write {
			n, err = mm.CopyOut(tc.addr, buf)
		} else {
			n, err = mm.CopyIn(tc.addr, buf)
		}
		wantErr := error(unix.EFAULT)
		if tc.n == tc.wantN {
			wantErr = nil
		}
		if n != tc.wantN || !errors.Is(err, wantErr) && !(err == nil && wantErr == nil) {
			t.Errorf("%s: %d, %v; want %d, %v", tc.name, n, err, tc.wantN, wantErr)
		}
	}
	// PROT_NONE and write-only semantics.
	mustMMap(t, mm, anon(a+6*pg, pg, unix.PROT_NONE))
	if _, err := mm.CopyIn(a+6*pg, dst[:1]); !errors.Is(err, unix.EFAULT) {
		t.Errorf("CopyIn from PROT_NONE = %v", err)
	}
	mustMMap(t, mm, anon(a+7*pg, pg, unix.PROT_WRITE))
	if _, err := mm.CopyIn(a+7*pg, dst[:1]); err != nil {
		t.Errorf("CopyIn from write-only (readable on x86) = %v", err)
	}
	if n, err := mm.ZeroOut(a, 2*pg); n != 2*pg || err != nil {
		t.Errorf("ZeroOut = %d, %v", n, err)
	}
}

func TestCopyInString(t *testing.T) {
	mm, _ := newMM(t)
	const a = 0x400000
	mustMMap(t, mm, anon(a, 2*pg, rw))
	// A string ending exactly at the end of the mapping.
	end := uintptr(a + 2*pg)
	mm.CopyOut(end-6, []byte("hello\x00"))
	if s, err := mm.CopyInString(end-6, 4096); s != "hello" || err != nil {
		t.Errorf("CopyInString at end = %q, %v", s, err)
	}
	if s, err := mm.CopyInString(end-6, 6); s != "hello" || err != nil {
		t.Errorf("NUL at maxLen: %q, %v", s, err)
	}
	mm.CopyOut(end-5, []byte("abcde"))
	if _, err := mm.CopyInString(end-5, 4096); !errors.Is(err, unix.EFAULT) {
		t.Errorf("unterminated at end of mapping: %v, want EFAULT", err)
	}
	if _, err := mm.CopyInString(end-5, 5); !errors.Is(err, unix.ENAMETOOLONG) {
		t.Errorf("no NUL within maxLen: %v, want ENAMETOOLONG", err)
	}
	// Spanning a page boundary.
	mm.CopyOut(a+pg-3, []byte("span\x00"))
	if s, err := mm.CopyInString(a+pg-3, 100); s != "span" || err != nil {
		t.Errorf("spanning pages: %q, %v", s, err)
	}
	if _, err := mm.CopyInString(0x300000, 10); !errors.Is(err, unix.EFAULT) {
		t.Errorf("unmapped: %v", err)
	}
}

func TestIOVecs(t *testing.T) {
	mm, _ := newMM(t)
	const a = 0x400000
	mustMMap(t, mm, anon(a, 4*pg, rw))
	raw := make([]byte, 32)
	putIOVec(raw[0:], a+pg, 3)
	putIOVec(raw[16:], a+2*pg, 5)
	mm.CopyOut(a, raw)
	iovs, err := mm.CopyInIOVecs(a, 2)
	if err != nil || len(iovs) != 2 || iovs[1] != (IOVec{a + 2*pg, 5}) {
		t.Fatalf("CopyInIOVecs = %+v, %v", iovs, err)
	}
	if n, err := mm.CopyOutVec(iovs, []byte("abcdefgh")); n != 8 || err != nil {
		t.Fatalf("CopyOutVec = %d, %v", n, err)
	}
	got := make([]byte, 8)
	if n, err := mm.CopyInVec(iovs, got); n != 8 || err != nil || string(got) != "abcdefgh" {
		t.Fatalf("CopyInVec = %d, %v, %q", n, err, got)
	}
	if _, err := mm.CopyInIOVecs(a, 1025); !errors.Is(err, unix.EINVAL) {
		t.Errorf("too many iovecs: %v", err)
	}
	putIOVec(raw[0:], a, ^uint64(0))
	mm.CopyOut(a, raw[:16])
	if _, err := mm.CopyInIOVecs(a, 1); !errors.Is(err, unix.EINVAL) {
		t.Errorf("negative length: %v", err)
	}
	if _, err := mm.CopyInIOVecs(a+4*pg-8, 1); !errors.Is(err, unix.EFAULT) {
		t.Errorf("iovec array faults: %v", err)
	}
}

func putIOVec(b []byte, base uintptr, l uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(uint64(base) >> (8 * i))
		b[8+i] = byte(l >> (8 * i))
	}
}

func TestFaultPopulatesChunks(t *testing.T) {
	mm, as := newMM(t)
	const a = 0x40000000 // chunk aligned
	mustMMap(t, mm, anon(a, 1<<20, rw))
	as.Reset()
	usage := mm.mf.Usage()
	// Touch every page of the first two chunks.
	for off := uintptr(0); off < 2*faultChunk; off += pg {
		if err := mm.HandleFault(a+off, platform.ReadWrite); err != nil {
			t.Fatal(err)
		}
		// Mapped pages do not fault again; only simulate faults on pages
		// not covered by earlier MapFile calls.
		maps, _ := as.Calls()
		last := maps[len(maps)-1]
		off = uintptr(last.Addr+last.Length-a) - pg
	}
	maps, _ := as.Calls()
	if len(maps) != 2 {
		t.Fatalf("MapFile calls = %+v, want one per chunk (2)", maps)
	}
	for i, m := range maps {
		if m.Addr != a+uintptr(i)*faultChunk || m.Length != faultChunk || m.Access != platform.ReadWrite {
			t.Errorf("MapFile %d = %+v", i, m)
		}
	}
	if got := mm.mf.Usage() - usage; got != 2*faultChunk {
		t.Errorf("memory allocated = %d, want %d", got, 2*faultChunk)
	}
	// A fault at the end of a small VMA is clipped to it.
	const b = 0x50000000 + 3*pg
	mustMMap(t, mm, anon(b, 2*pg, unix.PROT_READ))
	as.Reset()
	if err := mm.HandleFault(b+pg+5, platform.Read); err != nil {
		t.Fatal(err)
	}
	maps, _ = as.Calls()
	if len(maps) != 1 || maps[0].Addr != b || maps[0].Length != 2*pg || maps[0].Access != platform.Read {
		t.Errorf("MapFile for small VMA = %+v", maps)
	}
}

func TestFaultErrors(t *testing.T) {
	mm, _ := newMM(t)
	mustMMap(t, mm, anon(0x400000, pg, unix.PROT_READ))
	mustMMap(t, mm, anon(0x500000, pg, unix.PROT_NONE))
	file := &bytesFile{data: []byte("0123456789")}
	fa := mustMMap(t, mm, MMapOpts{Length: 3 * pg, Prot: unix.PROT_READ, Private: true, Mappable: file})
	for _, tc := range []struct {
		name  string
		addr  uintptr
		at    platform.AccessType
		signo unix.Signal
		code  int32
	}{
		{"unmapped", 0x300000, platform.Read, unix.SIGSEGV, linux.SEGV_MAPERR},
		{"null", 0, platform.Read, unix.SIGSEGV, linux.SEGV_MAPERR},
		{"write to read-only", 0x400010, platform.ReadWrite, unix.SIGSEGV, linux.SEGV_ACCERR},
		{"exec of non-exec", 0x400010, platform.AccessType{Execute: true}, unix.SIGSEGV, linux.SEGV_ACCERR},
		{"read of PROT_NONE", 0x500000, platform.Read, unix.SIGSEGV, linux.SEGV_ACCERR},
		{"beyond file end", fa + pg, platform.Read, unix.SIGBUS, linux.BUS_ADRERR},
		{"top", ^uintptr(0), platform.Read, unix.SIGSEGV, linux.SEGV_MAPERR},
	} {
		err := mm.HandleFault(tc.addr, tc.at)
		var fe *FaultError
		if !errors.As(err, &fe) || fe.Signo != int32(tc.signo) || fe.Code != tc.code {
			t.Errorf("%s: HandleFault = %v, want signal %d code %d", tc.name, err, tc.signo, tc.code)
		}
	}
	// The file's last page reads the file then zeros.
	if err := mm.HandleFault(fa+5, platform.Read); err != nil {
		t.Fatalf("fault in file: %v", err)
	}
	buf := make([]byte, 16)
	if n, err := mm.CopyIn(fa, buf); n != 16 || err != nil || !bytes.Equal(buf, append([]byte("0123456789"), 0, 0, 0, 0, 0, 0)) {
		t.Errorf("file page = %q (%d, %v)", buf, n, err)
	}
	if n, err := mm.CopyIn(fa+pg-4, buf); n != 4 || !errors.Is(err, unix.EFAULT) {
		t.Errorf("copy beyond file end = %d, %v; want 4, EFAULT", n, err)
	}
}

func TestStackGrowth(t *testing.T) {
	mm, _ := newMM(t)
	const top = 0x7000000000
	mustMMap(t, mm, MMapOpts{Addr: top - 4*pg, Length: 4 * pg, Prot: rw, Private: true, Anonymous: true, Fixed: true, GrowsDown: true})
	if err := mm.HandleFault(top-10*pg, platform.ReadWrite); err != nil {
		t.Fatalf("fault below stack: %v", err)
	}
	if got := layout(mm, top-10*pg); got != "[0,10)rw- " {
		t.Errorf("after growth %q", got)
	}
	if err := mm.HandleFault(top-1<<30, platform.ReadWrite); err == nil {
		t.Error("fault 1 GiB below stack resolved")
	}
}

func TestDontNeed(t *testing.T) {
	mm, as := newMM(t)
	const a = 0x400000
	mustMMap(t, mm, anon(a, 4*pg, rw))
	mm.CopyOut(a, []byte("data"))
	if err := mm.HandleFault(a, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	usage := mm.mf.Usage()
	as.Reset()
	if err := mm.MAdvise(a, 4*pg, unix.MADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
	if _, unmaps := as.Calls(); len(unmaps) != 1 {
		t.Errorf("unmaps = %+v, want 1", unmaps)
	}
	if mm.mf.Usage() >= usage {
		t.Errorf("usage %d not below %d after DONTNEED", mm.mf.Usage(), usage)
	}
	buf := make([]byte, 4)
	if _, err := mm.CopyIn(a, buf); err != nil || !bytes.Equal(buf, make([]byte, 4)) {
		t.Errorf("after DONTNEED read %q, %v; want zeros", buf, err)
	}
	// Private file mappings read the file again.
	file := &bytesFile{data: []byte("file")}
	fa := mustMMap(t, mm, MMapOpts{Length: pg, Prot: rw, Private: true, Mappable: file})
	mm.CopyOut(fa, []byte("FILE"))
	mm.MAdvise(fa, pg, unix.MADV_DONTNEED)
	mm.CopyIn(fa, buf)
	if string(buf) != "file" {
		t.Errorf("private file after DONTNEED = %q", buf)
	}
}

func TestSharedAnonymousAndFork(t *testing.T) {
	parent, pas := newMM(t)
	const s, p = 0x400000, 0x800000
	mustMMap(t, parent, MMapOpts{Addr: s, Length: 2 * pg, Prot: rw, Shared: true, Anonymous: true, Fixed: true})
	mustMMap(t, parent, anon(p, 2*pg, rw))
	parent.CopyOut(s, []byte("shared"))
	parent.CopyOut(p, []byte("private"))
	// A second mapping of the same shared pages (mremap with old_len 0).
	dup, err := parent.MRemap(s, 0, 2*pg, unix.MREMAP_MAYMOVE, 0)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if parent.CopyIn(dup, buf[:6]); string(buf[:6]) != "shared" {
		t.Fatalf("duplicate mapping reads %q", buf[:6])
	}
	// Map the private pages writable in the parent's platform.
	if err := parent.HandleFault(p, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	pas.Reset()
	child, err := parent.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.DecUsers()
	if _, unmaps := pas.Calls(); len(unmaps) != 1 || unmaps[0].Addr != p {
		t.Errorf("parent unmaps on fork = %+v, want the writable private range", unmaps)
	}
	child.CopyOut(s, []byte("SHARED"))
	child.CopyOut(p, []byte("PRIVATE"))
	if parent.CopyIn(s, buf[:6]); string(buf[:6]) != "SHARED" {
		t.Errorf("parent sees shared %q", buf[:6])
	}
	if parent.CopyIn(p, buf); string(buf) != "private" {
		t.Errorf("parent sees private %q after child write", buf)
	}
	if child.CopyIn(p, buf); string(buf) != "PRIVATE" {
		t.Errorf("child sees private %q", buf)
	}
	// The parent's read fault maps the still-shared... now exclusive pages;
	// a write fault maps them writable.
	pas.Reset()
	if err := parent.HandleFault(p, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	maps, _ := pas.Calls()
	if len(maps) == 0 || !maps[len(maps)-1].Access.Write {
		t.Errorf("parent write fault maps = %+v", maps)
	}
	parent.CopyOut(p, []byte("parent!"))
	if child.CopyIn(p, buf); string(buf) != "PRIVATE" {
		t.Errorf("child sees %q after parent write", buf)
	}
	// A read fault in a COW range maps read-only.
	grand, err := child.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer grand.DecUsers()
	gas := grand.AddressSpace().(*mmtest.AddressSpace)
	if err := grand.HandleFault(p, platform.Read); err != nil {
		t.Fatal(err)
	}
	maps, _ = gas.Calls()
	// The child's copy broke sharing of its first page only, so the two
	// pages are not contiguous in the memory file: two calls.
	if len(maps) != 2 {
		t.Errorf("read fault on COW pages maps %+v, want 2 calls", maps)
	}
	for _, m := range maps {
		if m.Access.Write {
			t.Errorf("read fault on COW pages maps %+v writable", m)
		}
	}
}

func TestReleaseFreesEverything(t *testing.T) {
	p := &mmtest.Platform{}
	mf, err := memory.NewSize("release", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	mm, err := New(p, mf)
	if err != nil {
		t.Fatal(err)
	}
	mustMMap(t, mm, anon(0x400000, 1<<20, rw))
	mustMMap(t, mm, MMapOpts{Length: 1 << 20, Prot: rw, Shared: true, Anonymous: true})
	mm.ZeroOut(0x400000, 1<<20)
	for v := range mm.VMAs() {
		mm.ZeroOut(v.Start, int(v.End-v.Start))
	}
	child, _ := mm.Fork()
	if mf.Usage() == 0 {
		t.Fatal("nothing allocated")
	}
	mm.DecUsers()
	child.DecUsers()
	if got := mf.Usage(); got != 0 {
		t.Errorf("usage after release = %d", got)
	}
	if !p.ASs[0].Released || !p.ASs[1].Released {
		t.Error("address spaces not released")
	}
}

func TestMaxMapCount(t *testing.T) {
	mm, _ := newMM(t)
	mm.maxMapCount = 10
	const a = 0x400000
	mustMMap(t, mm, anon(a, 40*pg, rw))
	var err error
	for i := 0; i < 20 && err == nil; i++ {
		err = mm.MProtect(a+uintptr(2*i)*pg, pg, unix.PROT_READ)
	}
	if !errors.Is(err, unix.ENOMEM) {
		t.Errorf("splitting past max_map_count: %v, want ENOMEM", err)
	}
	if mm.VMACount() > 10 {
		t.Errorf("VMA count %d above limit", mm.VMACount())
	}
}

func TestAtomics(t *testing.T) {
	mm, _ := newMM(t)
	const a = 0x400000
	mustMMap(t, mm, anon(a, pg, rw))
	mustMMap(t, mm, anon(a+pg, pg, unix.PROT_READ))
	mm.CopyOut(a, []byte{1, 0, 0, 0})
	if v, err := mm.LoadUint32(a); v != 1 || err != nil {
		t.Errorf("LoadUint32 = %d, %v", v, err)
	}
	if p, err := mm.CompareAndSwapUint32(a, 1, 7); p != 1 || err != nil {
		t.Errorf("CAS hit = %d, %v", p, err)
	}
	if p, err := mm.CompareAndSwapUint32(a, 1, 9); p != 7 || err != nil {
		t.Errorf("CAS miss = %d, %v", p, err)
	}
	if _, err := mm.LoadUint32(a + 2); !errors.Is(err, unix.EINVAL) {
		t.Errorf("unaligned: %v", err)
	}
	if _, err := mm.CompareAndSwapUint32(a+pg, 0, 1); !errors.Is(err, unix.EFAULT) {
		t.Errorf("CAS on read-only: %v", err)
	}
	if _, err := mm.LoadUint32(0x300000); !errors.Is(err, unix.EFAULT) {
		t.Errorf("unmapped: %v", err)
	}
	s := mustMMap(t, mm, MMapOpts{Length: pg, Prot: rw, Shared: true, Anonymous: true})
	obj, off, shared, err := mm.SharedFutexKey(s + 8)
	if err != nil || !shared || off != 8 || obj == nil {
		t.Errorf("SharedFutexKey(shared) = %v %d %v %v", obj, off, shared, err)
	}
	if _, _, shared, err := mm.SharedFutexKey(a); shared || err != nil {
		t.Errorf("SharedFutexKey(private) = %v %v", shared, err)
	}
}

// countingHold is an ExecutableHold that counts the holds alive.
type countingHold struct{ n *int }

func (h countingHold) Clone() ExecutableHold { *h.n++; return h }
func (h countingHold) Release()              { *h.n-- }

// TestExecutableHold: a fork holds the program's file too; each address
// space releases its hold, and SetExecutable replaces one.
func TestExecutableHold(t *testing.T) {
	n := 1
	mm, _ := newMM(t)
	mm.SetExecutable(countingHold{&n})
	child, err := mm.Fork()
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("%d holds after fork, want 2", n)
	}
	child.DecUsers()
	if n != 1 {
		t.Errorf("%d holds after the child's release, want 1", n)
	}
	m := 1
	mm.SetExecutable(countingHold{&m})
	if n != 0 || m != 1 {
		t.Errorf("after SetExecutable replaced the hold: old %d, new %d; want 0, 1", n, m)
	}
}

// TestForkMapsAhead: where the platform queues mappings, the child maps
// what the parent had mapped, read-only where shared copy-on-write, before
// any fault.
func TestForkMapsAhead(t *testing.T) {
	p := &mmtest.Platform{QueueMappings: true}
	mm, err := New(p, testMF(t))
	if err != nil {
		t.Fatal(err)
	}
	defer mm.DecUsers()
	priv := mustMMap(t, mm, anon(0x100000, 2*pg, rw))
	shared := mustMMap(t, mm, MMapOpts{Addr: 0x200000, Length: pg, Prot: rw, Shared: true, Anonymous: true, Fixed: true})
	unused := mustMMap(t, mm, anon(0x300000, pg, rw))
	for _, a := range []uintptr{priv, shared} {
		if err := mm.HandleFault(a, platform.AccessType{Write: true}); err != nil {
			t.Fatal(err)
		}
	}
	child, err := mm.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.DecUsers()
	maps, _ := p.ASs[1].Calls()
	got := map[uintptr]bool{}
	for _, m := range maps {
		got[m.Addr] = m.Access.Write
	}
	if w, ok := got[priv]; !ok || w {
		t.Errorf("child mapped the private pages: %v, writable %v; want mapped read-only", ok, w)
	}
	if w, ok := got[shared]; !ok || !w {
		t.Errorf("child mapped the shared page: %v, writable %v; want mapped writable", ok, w)
	}
	if _, ok := got[unused]; ok {
		t.Errorf("child mapped a page the parent never touched")
	}
	// A write copies and maps the page writable.
	p.ASs[1].Reset()
	if err := child.HandleFault(priv, platform.AccessType{Write: true}); err != nil {
		t.Fatal(err)
	}
	maps, _ = p.ASs[1].Calls()
	if len(maps) == 0 || !maps[len(maps)-1].Access.Write {
		t.Errorf("write fault in the child mapped %+v, want a writable mapping", maps)
	}
}
