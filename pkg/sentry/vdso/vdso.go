// Package vdso owns Buffer Zone's virtual dynamic shared object: the small
// ELF image (vdso.so, built from vdso.c) that the loader maps into every
// process as "[vdso]" and announces with AT_SYSINFO_EHDR, and the parameter
// page ("[vvar]") mapped just below it, from which the image's
// clock_gettime, gettimeofday and time compute the time with the TSC instead
// of trapping into the Sentry.
//
// Both live in the memory file, allocated once per kernel and shared
// read-only by every address space. The Timekeeper writes the page: it
// calibrates the TSC against the host's CLOCK_MONOTONIC, publishes, and
// then keeps every clock continuous, monotonic and close to its host clock
// (Steer). Until the first publication, and for good on a CPU without an
// invariant TSC, the page tells the image to make the system call.
//
// Regenerate vdso.so after changing vdso.c, vdso.lds or vdso.map with
// `go generate` (it needs gcc); TestImageMatchesSource checks the committed
// image against the sources.
package vdso

import (
	_ "embed" // the image
	"io"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/mm"
)

//go:generate sh gen.sh vdso.so

// image is the vDSO ELF image.
//
//go:embed vdso.so
var image []byte

// Image returns a copy of the vDSO ELF image.
func Image() []byte { return append([]byte(nil), image...) }

// VDSO is one kernel's vDSO: the parameter page and the image in the memory
// file, and the Timekeeper that writes the page.
type VDSO struct {
	params *pages
	text   *pages
	// Timekeeper updates the parameter page; the kernel runs it.
	Timekeeper *Timekeeper
}

// New allocates the parameter page and a copy of the image in mf and
// returns them with a Timekeeper for the page (not yet running: the page
// says "fall back" until it runs).
func New(mf *memory.File) (*VDSO, error) {
	poff, err := mf.Allocate(PageSize)
	if err != nil {
		return nil, err
	}
	size := (uint64(len(image)) + PageSize - 1) &^ (PageSize - 1)
	toff, err := mf.Allocate(size)
	if err != nil {
		mf.DecRef(poff, PageSize)
		return nil, err
	}
	copy(mf.Bytes(toff, size), image)
	v := &VDSO{
		params: &pages{mf: mf, off: poff, size: PageSize},
		text:   &pages{mf: mf, off: toff, size: int64(len(image))},
	}
	v.Timekeeper = NewTimekeeper(NewPage(mf.Bytes(poff, PageSize)))
	return v, nil
}

// Params returns the parameter page as a mappable object of one page. Map
// it shared and read-only: it is the same page in every address space.
func (v *VDSO) Params() mm.MemoryMappable { return v.params }

// Text returns the image as a mappable object. Map it shared, readable and
// executable, one page above the parameter page: the image finds the page
// there.
func (v *VDSO) Text() mm.MemoryMappable { return v.text }

// ParamsOffset is how far below the image the parameter page must be
// mapped (vdso.lds's bz_vvar).
const ParamsOffset = PageSize

// pages is a run of memory file pages the VDSO holds for the kernel's
// lifetime (it keeps the reference Allocate gave). It is a MemoryMappable
// whose pages are mapped directly, never copied.
type pages struct {
	mf   *memory.File
	off  int64
	size int64
}

// ReadAt implements mm.Mappable.
func (p *pages) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, unix.EINVAL
	}
	if off >= p.size {
		return 0, io.EOF
	}
	n := copy(b, p.mf.Bytes(p.off+off, uint64(p.size-off)))
	if n < len(b) {
		return n, io.EOF
	}
	return n, nil
}

// Size implements mm.Mappable.
func (p *pages) Size() int64 { return p.size }

// Pages implements mm.MemoryMappable.
func (p *pages) Pages(off int64, length uint64) ([]mm.PageRange, error) {
	limit := uint64(p.size+PageSize-1) &^ (PageSize - 1)
	if off < 0 || off%PageSize != 0 || length%PageSize != 0 || uint64(off)+length < uint64(off) {
		return nil, unix.EINVAL
	}
	if uint64(off)+length > limit {
		return nil, unix.EFAULT
	}
	if length == 0 {
		return nil, nil
	}
	p.mf.IncRef(p.off+off, length)
	return []mm.PageRange{{Off: off, FileOff: p.off + off, Length: length}}, nil
}
