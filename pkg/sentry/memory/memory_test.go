package memory

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

const page = 4096

func newFile(t testing.TB, size uint64) *File {
	t.Helper()
	f, err := NewSize("test", size)
	if err != nil {
		t.Fatalf("NewSize: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestAllocateErrors(t *testing.T) {
	f := newFile(t, 16*page)
	for _, tc := range []struct {
		name   string
		length uint64
		want   error
	}{
		{"zero", 0, unix.EINVAL},
		{"bigger than file", 17 * page, unix.ENOMEM},
		{"huge", ^uint64(0), unix.ENOMEM},
		{"huge minus page", ^uint64(0) - page, unix.ENOMEM},
	} {
		if _, err := f.Allocate(tc.length); !errors.Is(err, tc.want) {
			t.Errorf("%s: Allocate(%#x) = %v, want %v", tc.name, tc.length, err, tc.want)
		}
	}
	if f.Usage() != 0 {
		t.Errorf("Usage after failures = %d", f.Usage())
	}
}

func TestAllocateRoundsAndReuses(t *testing.T) {
	f := newFile(t, 64*page)
	a, err := f.Allocate(1)
	if err != nil {
		t.Fatal(err)
	}
	b, err := f.Allocate(3*page + 1)
	if err != nil {
		t.Fatal(err)
	}
	if a%page != 0 || b%page != 0 || b-a < page || (a < b && b-a != page) {
		t.Fatalf("allocations a=%#x b=%#x not page aligned and contiguous", a, b)
	}
	if got, want := f.Usage(), uint64(5*page); got != want {
		t.Fatalf("Usage = %d, want %d", got, want)
	}
	// Dirty b, free it, reallocate: the same space comes back zeroed.
	buf := f.Bytes(b, 4*page)
	for i := range buf {
		buf[i] = 0xaa
	}
	f.DecRef(b, 4*page)
	if got, want := f.Usage(), uint64(page); got != want {
		t.Fatalf("Usage after free = %d, want %d", got, want)
	}
	c, err := f.Allocate(2 * page)
	if err != nil {
		t.Fatal(err)
	}
	if c != b {
		t.Errorf("Allocate after free = %#x, want reuse of %#x", c, b)
	}
	for i, x := range f.Bytes(c, 2*page) {
		if x != 0 {
			t.Fatalf("reused byte %d = %#x, want 0", i, x)
		}
	}
}

func TestExhaustionAndCoalescing(t *testing.T) {
	f := newFile(t, 8*page)
	var offs []int64
	for i := 0; i < 8; i++ {
		off, err := f.Allocate(page)
		if err != nil {
			t.Fatalf("Allocate %d: %v", i, err)
		}
		offs = append(offs, off)
	}
	if _, err := f.Allocate(page); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("Allocate on full file = %v, want ENOMEM", err)
	}
	// Free pages 1, 3, 2 in that order: they coalesce into one 3-page hole.
	f.DecRef(offs[1], page)
	f.DecRef(offs[3], page)
	if _, err := f.Allocate(2 * page); !errors.Is(err, unix.ENOMEM) {
		t.Fatalf("Allocate(2 pages) across non-adjacent holes = %v, want ENOMEM", err)
	}
	f.DecRef(offs[2], page)
	off, err := f.Allocate(3 * page)
	if err != nil || off != offs[1] {
		t.Fatalf("Allocate(3 pages) = %#x, %v; want %#x", off, err, offs[1])
	}
}

func TestRefCounts(t *testing.T) {
	f := newFile(t, 64*page)
	off, err := f.Allocate(8 * page)
	if err != nil {
		t.Fatal(err)
	}
	type step struct {
		inc         bool
		first, n    int64 // pages relative to off
		wantUsage   uint64
		wantRefs    [8]int32
		wantExclAll bool
	}
	steps := []step{
		{inc: true, first: 2, n: 3, wantUsage: 8 * page, wantRefs: [8]int32{1, 1, 2, 2, 2, 1, 1, 1}},
		{inc: true, first: 4, n: 4, wantUsage: 8 * page, wantRefs: [8]int32{1, 1, 2, 2, 3, 2, 2, 2}},
		{inc: false, first: 0, n: 8, wantUsage: 6 * page, wantRefs: [8]int32{0, 0, 1, 1, 2, 1, 1, 1}},
		{inc: false, first: 4, n: 1, wantUsage: 6 * page, wantRefs: [8]int32{0, 0, 1, 1, 1, 1, 1, 1}, wantExclAll: true},
		{inc: false, first: 3, n: 2, wantUsage: 4 * page, wantRefs: [8]int32{0, 0, 1, 0, 0, 1, 1, 1}},
		{inc: false, first: 2, n: 1, wantUsage: 3 * page, wantRefs: [8]int32{0, 0, 0, 0, 0, 1, 1, 1}},
		{inc: false, first: 5, n: 3, wantUsage: 0, wantRefs: [8]int32{}},
	}
	for i, s := range steps {
		if s.inc {
			f.IncRef(off+s.first*page, uint64(s.n)*page)
		} else {
			f.DecRef(off+s.first*page, uint64(s.n)*page)
		}
		if got := f.Usage(); got != s.wantUsage {
			t.Errorf("step %d: Usage = %d, want %d", i, got, s.wantUsage)
		}
		for p := int64(0); p < 8; p++ {
			if got := f.RefCount(off + p*page); got != s.wantRefs[p] {
				t.Errorf("step %d: RefCount(page %d) = %d, want %d", i, p, got, s.wantRefs[p])
			}
		}
		if s.wantExclAll {
			if !f.Exclusive(off+2*page, 6*page) {
				t.Errorf("step %d: Exclusive(pages 2-7) = false", i)
			}
		}
	}
	// The runs coalesce: after everything is freed, the whole file is one
	// free range again.
	if _, err := f.Allocate(64 * page); err != nil {
		t.Fatalf("Allocate(whole file) after freeing all: %v", err)
	}
}

func TestExclusive(t *testing.T) {
	f := newFile(t, 64*page)
	a, _ := f.Allocate(4 * page)
	if !f.Exclusive(a, 4*page) {
		t.Error("fresh allocation not exclusive")
	}
	f.IncRef(a+page, page)
	if f.Exclusive(a, 4*page) || !f.Exclusive(a+2*page, 2*page) {
		t.Error("Exclusive wrong after IncRef of page 1")
	}
	if f.Exclusive(a+4*page, page) {
		t.Error("unallocated page reported exclusive")
	}
}

func TestBadRangesPanic(t *testing.T) {
	f := newFile(t, 16*page)
	off, _ := f.Allocate(page)
	for _, tc := range []struct {
		name string
		fn   func()
	}{
		{"unaligned", func() { f.IncRef(off+1, page) }},
		{"unallocated", func() { f.IncRef(off+page, page) }},
		{"outside", func() { f.DecRef(1<<40, page) }},
		{"negative", func() { f.DecRef(-page, page) }},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", tc.name)
				}
			}()
			tc.fn()
		}()
	}
}

func TestFDMapsSameMemory(t *testing.T) {
	f := newFile(t, 16*page)
	off, _ := f.Allocate(page)
	copy(f.Bytes(off, page), "hello")
	buf := make([]byte, 5)
	if _, err := unix.Pread(f.FD(), buf, off); err != nil || string(buf) != "hello" {
		t.Fatalf("pread = %q, %v", buf, err)
	}
}

func BenchmarkAllocateDecRef(b *testing.B) {
	f := newFile(b, DefaultSize)
	b.Run("64KiB", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			off, err := f.Allocate(64 << 10)
			if err != nil {
				b.Fatal(err)
			}
			f.DecRef(off, 64<<10)
		}
	})
	b.Run("fragmented", func(b *testing.B) {
		// Keep 1000 live allocations with holes between them.
		var live []int64
		for i := 0; i < 2000; i++ {
			off, _ := f.Allocate(page)
			live = append(live, off)
		}
		for i := 0; i < len(live); i += 2 {
			f.DecRef(live[i], page)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			off, err := f.Allocate(2 * page)
			if err != nil {
				b.Fatal(err)
			}
			f.DecRef(off, 2*page)
		}
	})
}
