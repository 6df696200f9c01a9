package vdso

import (
	"encoding/binary"
	"math"
	"math/bits"
	"sync/atomic"
	"unsafe"
)

// Layout of the parameter page, as vdso.c's struct bz_params reads it.
const (
	offSeq    = 0  // uint32: odd while the Sentry rewrites the page
	offFlags  = 4  // uint32: FlagFallback
	offServed = 8  // uint32: bit i set when clock id i is computed in the vDSO
	offClocks = 64 // [NumClocks]clock slots of clockSize bytes

	// Within a clock slot.
	offBaseNS  = 0  // int64
	offBaseTSC = 8  // uint64
	offMult    = 16 // uint64
	offShift   = 24 // uint32
	offRes     = 28 // uint32: clock_getres, in nanoseconds
	clockSize  = 32

	// NumClocks is the number of clock ids (0 to NumClocks-1) the page
	// has slots for. Higher ids always make the system call.
	NumClocks = 8
)

// FlagFallback in the page's flags makes every vDSO time call make the
// system call: before the TSC is calibrated, and for good when the TSC is
// not invariant.
const FlagFallback = 1

// Clock ids (Linux's CLOCK_*).
const (
	ClockRealtime        = 0
	ClockMonotonic       = 1
	ClockMonotonicRaw    = 4
	ClockRealtimeCoarse  = 5
	ClockMonotonicCoarse = 6
	ClockBoottime        = 7
)

// DefaultShift is the fixed-point shift of every clock's multiplier: a
// multiplier is nanoseconds per TSC tick times 2^32.
const DefaultShift = 32

// Clock is one clock's map from TSC values to nanoseconds, as a slot of the
// page holds it: ns(tsc) = BaseNS + ((tsc - BaseTSC) * Mult) >> Shift, the
// product taken in 128 bits, and a tsc below BaseTSC counting as BaseTSC.
type Clock struct {
	BaseNS  int64
	BaseTSC uint64
	Mult    uint64
	Shift   uint32
}

// At returns the clock's value at tsc, exactly as the vDSO computes it.
func (c Clock) At(tsc uint64) int64 {
	var d uint64
	if tsc > c.BaseTSC {
		d = tsc - c.BaseTSC
	}
	hi, lo := bits.Mul64(d, c.Mult)
	s := c.Shift & 127
	var v uint64
	switch {
	case s == 0:
		v = lo
	case s < 64:
		v = lo>>s | hi<<(64-s)
	default:
		v = hi >> (s - 64)
	}
	return c.BaseNS + int64(v)
}

// NSPerTick returns the clock's rate in nanoseconds per TSC tick.
func (c Clock) NSPerTick() float64 {
	return float64(c.Mult) / math.Ldexp(1, int(c.Shift))
}

// multFor returns the multiplier for rate nanoseconds per tick at shift,
// at least 1 so that a clock never stops.
func multFor(rate float64, shift uint32) uint64 {
	m := math.Round(math.Ldexp(rate, int(shift)))
	if !(m >= 1) {
		return 1
	}
	if m >= math.Ldexp(1, 63) {
		return 1 << 63
	}
	return uint64(m)
}

// Page is the parameter page ("[vvar]") as the Sentry writes it. Readers
// are the vDSO's functions in application processes: they see the page
// through a read-only shared mapping, and retry while the sequence count is
// odd or changes under them.
//
// Only one goroutine may write a Page at a time (the Timekeeper).
type Page struct {
	b []byte
	// tsc reads the TSC: readTSC, or a fake in tests.
	tsc func() uint64
}

// PageSize is the size of the parameter page.
const PageSize = 4096

// NewPage returns a Page over b, which must be PageSize bytes and 8-byte
// aligned (a memory file page is). The page is not changed.
func NewPage(b []byte) *Page {
	if len(b) < PageSize || uintptr(unsafe.Pointer(&b[0]))%8 != 0 {
		panic("vdso: parameter page must be a whole, aligned page")
	}
	return &Page{b: b[:PageSize], tsc: readTSC}
}

func (p *Page) seq() *uint32 { return (*uint32)(unsafe.Pointer(&p.b[offSeq])) }

// Write runs fill with the page's sequence count odd, so that readers
// discard whatever they read while fill changes the page. The count is made
// odd with a locked (fully fenced) store before the TSC value is read, so a
// reader whose own TSC sample comes later than tsc sees the count change and
// retries: no reader combines the old parameters with a TSC value past tsc.
// fill gets that TSC value and must only store (no blocking, no system
// calls): readers spin while it runs.
func (p *Page) Write(fill func(w PageWriter, tsc uint64)) {
	s := atomic.LoadUint32(p.seq())
	if s&1 != 0 {
		s++ // a writer died mid-update; never go back to a value readers saw
	}
	atomic.StoreUint32(p.seq(), s+1)
	tsc := p.tsc()
	fill(PageWriter{p}, tsc)
	// The plain stores of fill stay before this one: Go's compiler does not
	// move stores across an atomic store, and x86 keeps stores in order.
	atomic.StoreUint32(p.seq(), s+2)
}

// PageWriter stores into the page inside Page.Write.
type PageWriter struct{ p *Page }

// SetFlags sets the page's flags (FlagFallback).
func (w PageWriter) SetFlags(flags uint32) {
	binary.LittleEndian.PutUint32(w.p.b[offFlags:], flags)
}

// SetServed sets which clock ids the vDSO computes itself (bit i for id i).
func (w PageWriter) SetServed(mask uint32) {
	binary.LittleEndian.PutUint32(w.p.b[offServed:], mask)
}

// SetClock stores id's parameters and its clock_getres resolution.
func (w PageWriter) SetClock(id int, c Clock, resNS uint32) {
	b := w.p.b[offClocks+id*clockSize:]
	binary.LittleEndian.PutUint64(b[offBaseNS:], uint64(c.BaseNS))
	binary.LittleEndian.PutUint64(b[offBaseTSC:], c.BaseTSC)
	binary.LittleEndian.PutUint64(b[offMult:], c.Mult)
	binary.LittleEndian.PutUint32(b[offShift:], c.Shift)
	binary.LittleEndian.PutUint32(b[offRes:], resNS)
}

// Snapshot is what a reader of the page sees.
type Snapshot struct {
	Seq, Flags, Served uint32
	Clocks             [NumClocks]Clock
	Res                [NumClocks]uint32
}

// Read returns a consistent snapshot of the page, as the vDSO's seqlock
// read sees it (for tests and debugging).
func (p *Page) Read() Snapshot {
	for {
		s := atomic.LoadUint32(p.seq())
		if s&1 != 0 {
			continue
		}
		var snap Snapshot
		snap.Seq = s
		le := binary.LittleEndian
		snap.Flags = le.Uint32(p.b[offFlags:])
		snap.Served = le.Uint32(p.b[offServed:])
		for i := range snap.Clocks {
			b := p.b[offClocks+i*clockSize:]
			snap.Clocks[i] = Clock{
				BaseNS:  int64(le.Uint64(b[offBaseNS:])),
				BaseTSC: le.Uint64(b[offBaseTSC:]),
				Mult:    le.Uint64(b[offMult:]),
				Shift:   le.Uint32(b[offShift:]),
			}
			snap.Res[i] = le.Uint32(b[offRes:])
		}
		if atomic.LoadUint32(p.seq()) == s {
			return snap
		}
	}
}
