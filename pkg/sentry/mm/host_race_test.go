package mm

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/mm/mmtest"
	"bufferzone.dev/pkg/sentry/platform"
)

// TestForkAfterHostFileWithdrawn follows the gofer's protocol when a
// writable file gets mapped (cache.go, regularFile.Mappable): HostFile
// starts returning nil, the address spaces that map the file are
// collected, and each is told InvalidateHostPages. An address space
// forked from one of them in between is not in the collected list: it
// must still not map (or read) the host file's pages, whose bytes may no
// longer be what the object holds (stores through the new writable shared
// mapping stay in the page cache).
func TestForkAfterHostFileWithdrawn(t *testing.T) {
	mm, _ := newMM(t)
	data := pattern(2 * pg)
	f := newHostFile(t, data)
	addr := mustMMap(t, mm, MMapOpts{Length: 2 * pg, Prot: unix.PROT_READ, Private: true, Mappable: f})
	if err := mm.HandleFault(addr, platform.Read); err != nil {
		t.Fatal(err)
	}
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
