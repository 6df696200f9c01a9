package mm

import (
	"math/rand"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/mm/mmtest"
	"bufferzone.dev/pkg/sentry/platform"
)

// checkInvariants verifies that VMAs and PMAs do not overlap, that every PMA
// lies inside a VMA, and that every PMA's pages are allocated.
func checkInvariants(t *testing.T, mm *MemoryManager) {
	t.Helper()
	mm.mu.Lock()
	defer mm.mu.Unlock()
	var prevEnd uintptr
	for _, v := range mm.vmas.all() {
		if v.start >= v.end || v.start < prevEnd || v.start&pageMask != 0 || v.end&pageMask != 0 {
			t.Fatalf("bad VMA [%#x, %#x) after %#x", v.start, v.end, prevEnd)
		}
		prevEnd = v.end
	}
	prevEnd = 0
	for _, p := range mm.pmas.all() {
		if p.start >= p.end || p.start < prevEnd {
			t.Fatalf("bad PMA [%#x, %#x)", p.start, p.end)
		}
		prevEnd = p.end
		for _, g := range mm.vmas.gaps(p.start, p.end) {
			t.Fatalf("PMA [%#x, %#x) outside VMAs at %#x", p.start, p.end, g[0])
		}
		if mm.mf.RefCount(p.val.off) == 0 || mm.mf.RefCount(p.val.off+int64(p.end-p.start)-pageSize) == 0 {
			t.Fatalf("PMA [%#x, %#x) has freed pages", p.start, p.end)
		}
	}
}

// TestRandomOperations applies random (often invalid) operations to a few
// address spaces and checks that nothing panics, the invariants hold, and
// every page is freed at the end.
func TestRandomOperations(t *testing.T) {
	mf, err := memory.NewSize("random", 8<<30)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	p := &mmtest.Platform{}
	root, _ := New(p, mf)
	mms := []*MemoryManager{root}
	rng := rand.New(rand.NewSource(1))
	const lo = 0x10000000
	addr := func() uintptr {
		switch rng.Intn(10) {
		case 0:
			return uintptr(rng.Uint64())
		case 1:
			return lo + uintptr(rng.Intn(64<<20))
		default:
			return lo + uintptr(rng.Intn(16384))*pageSize
		}
	}
	length := func() uintptr {
		switch rng.Intn(10) {
		case 0:
			return uintptr(rng.Uint64())
		case 1:
			return uintptr(rng.Intn(3 * pageSize))
		default:
			return uintptr(rng.Intn(256)+1) * pageSize
		}
	}
	prots := []int{unix.PROT_NONE, unix.PROT_READ, rw, unix.PROT_READ | unix.PROT_EXEC, 0xff}
	file := &bytesFile{data: make([]byte, 100*pageSize+123)}
	for i := range file.data {
		file.data[i] = byte(i)
	}
	buf := make([]byte, 1<<20)
	for i := 0; i < 20000; i++ {
		mm := mms[rng.Intn(len(mms))]
		switch rng.Intn(14) {
		case 0, 1:
			opts := MMapOpts{Addr: addr(), Length: length(), Prot: prots[rng.Intn(len(prots))], Fixed: rng.Intn(2) == 0}
			switch rng.Intn(3) {
			case 0:
				opts.Private, opts.Anonymous = true, true
			case 1:
				opts.Shared, opts.Anonymous = true, true
			case 2:
				opts.Private, opts.Mappable, opts.Offset = true, file, int64(rng.Intn(4))*pageSize
			}
			mm.MMap(opts)
		case 2:
			mm.MUnmap(addr(), length())
		case 3:
			mm.MProtect(addr(), length(), prots[rng.Intn(len(prots))])
		case 4:
			mm.MRemap(addr(), length(), length(), rng.Intn(8), addr())
		case 5:
			advice := []int{unix.MADV_DONTNEED, unix.MADV_FREE, unix.MADV_DONTFORK, unix.MADV_WIPEONFORK, unix.MADV_POPULATE_WRITE, unix.MADV_REMOVE, 12345}
			mm.MAdvise(addr(), length(), advice[rng.Intn(len(advice))])
		case 6, 7:
			at := []platform.AccessType{platform.Read, platform.ReadWrite, platform.ReadExec}[rng.Intn(3)]
			mm.HandleFault(addr(), at)
		case 8:
			n := rng.Intn(len(buf))
			mm.CopyOut(addr(), buf[:n])
		case 9:
			n := rng.Intn(len(buf))
			mm.CopyIn(addr(), buf[:n])
		case 10:
			mm.CopyInString(addr(), rng.Intn(8192))
		case 11:
			if rng.Intn(2) == 0 {
				mm.SetBrkStart(lo + uintptr(rng.Intn(1024))*pageSize)
			}
			mm.Brk(addr())
		case 12:
			if len(mms) < 4 {
				c, err := mm.Fork()
				if err != nil {
					t.Fatal(err)
				}
				mms = append(mms, c)
			}
		case 13:
			if len(mms) > 1 {
				j := rng.Intn(len(mms))
				mms[j].DecUsers()
				mms = append(mms[:j], mms[j+1:]...)
			}
		}
		if i%500 == 0 {
			for _, m := range mms {
				checkInvariants(t, m)
			}
		}
	}
	// Data written by one mapping reads back.
	for _, m := range mms {
		checkInvariants(t, m)
		m.DecUsers()
	}
	if u := mf.Usage(); u != 0 {
		t.Errorf("usage after releasing everything = %d", u)
	}
}
