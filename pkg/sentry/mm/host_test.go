package mm

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/mm/mmtest"
	"bufferzone.dev/pkg/sentry/platform"
)

// testHostFile is a platform.HostFile.
type testHostFile struct{ f *os.File }

func (h *testHostFile) FD() int { return int(h.f.Fd()) }

// hostFile is a HostMappable whose bytes are those of a host file.
type hostFile struct {
	bytesFile
	host *testHostFile
	// off makes HostFile return nil (the host file may not be mapped).
	off bool
}

func (f *hostFile) HostFile() platform.HostFile {
	if f.off {
		return nil
	}
	return f.host
}

// newHostFile writes data to a host file and returns it as a Mappable.
func newHostFile(t *testing.T, data []byte) *hostFile {
	t.Helper()
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return &hostFile{bytesFile: bytesFile{data: data}, host: &testHostFile{f}}
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

// hostMaps returns the recorded MapHostFile calls.
func hostMaps(as *mmtest.AddressSpace) (host, mem []mmtest.MapCall) {
	maps, _ := as.Calls()
	for _, m := range maps {
		if m.Host != nil {
			host = append(host, m)
		} else {
			mem = append(mem, m)
		}
	}
	return host, mem
}

// TestPrivateHostFileMapping: a private mapping of a HostMappable maps the
// host file's pages, read-only, until a write copies them; the Sentry reads
// them as the application does.
func TestPrivateHostFileMapping(t *testing.T) {
	mm, as := newMM(t)
	data := pattern(3*pg + 100) // the last page is partly beyond the end
	f := newHostFile(t, data)
	addr := mustMMap(t, mm, MMapOpts{Length: 4 * pg, Prot: unix.PROT_READ | unix.PROT_EXEC, Private: true, Mappable: f})

	if err := mm.HandleFault(addr+pg, platform.Read); err != nil {
		t.Fatal(err)
	}
	host, mem := hostMaps(as)
	if len(host) != 1 || len(mem) != 0 {
		t.Fatalf("one fault mapped %+v from the host and %+v from the memory file, want the host file's 4 pages at once", host, mem)
	}
	if h := host[0]; h.Addr != addr || h.Offset != 0 || h.Length != 4*pg || h.Access.Write || h.Host != f.host {
		t.Errorf("host mapping %+v, want all 4 pages of the file at %#x, not writable", h, addr)
	}
	got := make([]byte, len(data))
	if n, err := mm.CopyIn(addr, got); err != nil || n != len(data) || !bytes.Equal(got, data) {
		t.Fatalf("CopyIn of the host pages: %d, %v, equal %v", n, err, bytes.Equal(got, data))
	}
	// The Sentry read from copies; the host pages it copied are unmapped,
	// to be mapped again from the copies.
	if _, unmaps := as.Calls(); len(unmaps) == 0 || unmaps[0].Addr != addr {
		t.Errorf("after the Sentry read the host pages, unmaps %+v, want them from %#x", unmaps, addr)
	}
	tail := make([]byte, pg-100)
	if _, err := mm.CopyIn(addr+3*pg+100, tail); err != nil || !bytes.Equal(tail, make([]byte, len(tail))) {
		t.Errorf("the last page past the end reads %v (%v), want zeros", tail[:8], err)
	}

	// A write copies the page (and its copy-on-write window) into the
	// memory file: mapped writable from there, with the file's bytes.
	if err := mm.MProtect(addr, 4*pg, rw); err != nil {
		t.Fatal(err)
	}
	as.Reset()
	if err := mm.HandleFault(addr+2*pg, platform.AccessType{Write: true}); err != nil {
		t.Fatal(err)
	}
	_, mem = hostMaps(as)
	if len(mem) == 0 || !mem[len(mem)-1].Access.Write {
		t.Fatalf("write fault mapped %+v from the memory file, want the page writable", mem)
	}
	if _, err := mm.CopyOut(addr+2*pg, []byte("private")); err != nil {
		t.Fatal(err)
	}
	if _, err := mm.CopyIn(addr, got); err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), data...)
	copy(want[2*pg:], "private")
	if !bytes.Equal(got, want) {
		t.Errorf("after a private write the mapping does not read as the file with the write")
	}
	onDisk, err := os.ReadFile(f.host.f.Name())
	if err != nil || !bytes.Equal(onDisk, data) {
		t.Errorf("the host file changed (%v)", err)
	}

	// A fork shares the host pages; writes stay in their process.
	child, err := mm.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.DecUsers()
	if _, err := child.CopyOut(addr, []byte("child")); err != nil {
		t.Fatal(err)
	}
	if _, err := mm.CopyIn(addr, got[:5]); err != nil || !bytes.Equal(got[:5], data[:5]) {
		t.Errorf("the parent sees %q (%v) after the child's write, want the file's bytes", got[:5], err)
	}
}

// TestHostPagesInvalidated: InvalidateHostPages drops the host pages of
// private mappings (and unmaps them); copies made by writes stay. Faults
// after that copy the object's bytes if its host file may not be mapped.
func TestHostPagesInvalidated(t *testing.T) {
	mm, as := newMM(t)
	data := pattern(4 * pg)
	f := newHostFile(t, data)
	addr := mustMMap(t, mm, MMapOpts{Length: 4 * pg, Prot: rw, Private: true, Mappable: f})
	if err := mm.HandleFault(addr, platform.Read); err != nil {
		t.Fatal(err)
	}
	if _, err := mm.CopyOut(addr+3*pg, []byte("mine")); err != nil {
		t.Fatal(err)
	}
	as.Reset()
	f.off = true
	mm.InvalidateHostPages(f)
	_, unmaps := as.Calls()
	if len(unmaps) == 0 {
		t.Fatal("InvalidateHostPages unmapped nothing")
	}
	for _, u := range unmaps {
		if u.Addr < addr || u.Addr+u.Length > addr+3*pg {
			t.Errorf("unmapped [%#x, %#x), want only host pages within [%#x, %#x)", u.Addr, u.Addr+u.Length, addr, addr+3*pg)
		}
	}
	as.Reset()
	if err := mm.HandleFault(addr+pg, platform.Read); err != nil {
		t.Fatal(err)
	}
	if host, mem := hostMaps(as); len(host) != 0 || len(mem) == 0 {
		t.Errorf("fault after invalidation mapped %+v from the host and %+v from the memory file, want a copy", host, mem)
	}
	got := make([]byte, 4*pg)
	if _, err := mm.CopyIn(addr, got); err != nil {
		t.Fatal(err)
	}
	want := append([]byte(nil), data...)
	copy(want[3*pg:], "mine")
	if !bytes.Equal(got, want) {
		t.Error("after invalidation the mapping does not read as the file with the private write")
	}
}

// TestSharedMappingNotHost: shared mappings never map host pages.
func TestSharedMappingNotHost(t *testing.T) {
	mm, as := newMM(t)
	f := newHostFile(t, pattern(pg))
	addr := mustMMap(t, mm, MMapOpts{Length: pg, Prot: unix.PROT_READ, Shared: true, Mappable: f})
	if err := mm.HandleFault(addr, platform.Read); err != nil {
		t.Fatal(err)
	}
	if host, _ := hostMaps(as); len(host) != 0 {
		t.Errorf("a shared mapping mapped host pages: %+v", host)
	}
}

// TestHostPagesCopiedWhenFull: pages recorded as host file pages (here by
// fork) are copied, not mapped, in an address space that can take no more
// host files.
func TestHostPagesCopiedWhenFull(t *testing.T) {
	mm, _, data, addr := faultedHostMapping(t)
	child, err := mm.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.DecUsers()
	cas := child.as.(*mmtest.AddressSpace)
	cas.NoHostFiles = true
	if err := child.HandleFault(addr+pg, platform.Read); err != nil {
		t.Fatal(err)
	}
	host, mem := hostMaps(cas)
	if len(host) != 0 || len(mem) == 0 {
		t.Fatalf("the full address space mapped %+v from the host and %+v from the memory file, want copies", host, mem)
	}
	got := make([]byte, 2*pg)
	if _, err := child.CopyIn(addr, got); err != nil || !bytes.Equal(got, data) {
		t.Errorf("the copies do not read as the file (%v)", err)
	}
}

// faultedHostMapping maps two pages of a host file privately, read-only,
// and faults the first in.
func faultedHostMapping(t *testing.T) (*MemoryManager, *hostFile, []byte, uintptr) {
	t.Helper()
	mm, _ := newMM(t)
	data := pattern(2 * pg)
	f := newHostFile(t, data)
	addr := mustMMap(t, mm, MMapOpts{Length: 2 * pg, Prot: unix.PROT_READ, Private: true, Mappable: f})
	if err := mm.HandleFault(addr, platform.Read); err != nil {
		t.Fatal(err)
	}
	return mm, f, data, addr
}

// TestForkAfterHostFileWithdrawn follows the gofer's protocol when a
// writable file gets mapped (cache.go, regularFile.Mappable): HostFile
// starts returning nil, the address spaces that map the file are
// collected, and each is told InvalidateHostPages. An address space
// forked from one of them in between is not in the collected list: it
// must still not map (or read) the host file's pages, whose bytes may no
// longer be what the object holds (stores through the new writable shared
// mapping stay in the page cache).
func TestForkAfterHostFileWithdrawn(t *testing.T) {
	mm, f, _, addr := faultedHostMapping(t)
	// A writable mapping is being made: the host file may no longer be
	// mapped, and the object's bytes now differ from the host file's.
	f.off = true
	copy(f.data, "stored through a shared mapping")
	// The parent forks before the gofer reaches it...
	child, err := mm.Fork()
	if err != nil {
		t.Fatal(err)
	}
	defer child.DecUsers()
	// ...and then only the parent is invalidated.
	mm.InvalidateHostPages(f)

	cas := child.as.(*mmtest.AddressSpace)
	if err := child.HandleFault(addr+pg, platform.Read); err != nil {
		t.Fatal(err)
	}
	if host, _ := hostMaps(cas); len(host) != 0 {
		t.Errorf("the child mapped %+v from the withdrawn host file", host)
	}
	got := make([]byte, 2*pg)
	if _, err := child.CopyIn(addr, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, f.data) {
		t.Errorf("the child reads %q, want the object's bytes %q (it still uses the withdrawn host file)", got[:31], f.data[:31])
	}
}
