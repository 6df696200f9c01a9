package vdso

import (
	"math"
	"time"

	"golang.org/x/sys/unix"
)

// Steering limits.
const (
	// StepLimit is the largest error corrected by slewing. Beyond it a
	// clock jumps to the right time: forward always, backward only for a
	// clock that may go back (REALTIME, when the host's was set back).
	StepLimit = int64(time.Millisecond)
	// MaxSlew bounds the relative rate correction made to work off an
	// error: a clock runs at most 10% fast or slow.
	MaxSlew = 0.1
	// RateWindow is how far back the TSC rate is measured: long enough
	// that sampling noise (well under a microsecond) costs less than a
	// part per million, short enough to follow the host's NTP slewing
	// within seconds.
	RateWindow = 2 * time.Second
)

// Steer returns the parameters clock c takes from TSC value tsc on. The new
// clock agrees with c at tsc, so a reader never sees time jump at an
// update, and since no reader combines c with a TSC value past tsc (see
// Page.Write) nor the new clock with one before it, time never goes back
// across the update either. Its rate is rate (nanoseconds per tick) made
// faster or slower, within MaxSlew, so that the error against ref (the
// clock's true value at tsc) is worked off over the next horizon ticks. An
// error beyond StepLimit is corrected at once instead: forward, or backward
// if mayGoBack.
func Steer(c Clock, tsc uint64, ref int64, rate float64, horizon uint64, mayGoBack bool) Clock {
	now := c.At(tsc)
	n := Clock{BaseNS: now, BaseTSC: tsc, Shift: c.Shift}
	err := ref - now // positive: the clock is behind
	if err > StepLimit || (mayGoBack && err < -StepLimit) {
		n.BaseNS = ref
		err = 0
	}
	corr := 0.0
	if horizon > 0 && rate > 0 {
		corr = float64(err) / (float64(horizon) * rate)
	}
	corr = math.Max(-MaxSlew, math.Min(MaxSlew, corr))
	n.Mult = multFor(rate*(1+corr), n.Shift)
	return n
}

// source is a host clock the page follows, and the clock ids that show it.
type source struct {
	// host is the host clock id that gives the true time.
	host int32
	// ids are the slots that get its parameters: first its own id, then
	// the ids the Sentry also answers with this host clock.
	ids []int
	// mayGoBack is set for REALTIME, which the host may set back.
	mayGoBack bool
}

// sources are the clocks the vDSO computes. They follow the Sentry's
// clock_gettime: MONOTONIC_RAW and the COARSE clocks read the same host
// clocks as MONOTONIC and REALTIME. The COARSE clocks get full precision,
// which is allowed (they only promise to be cheap).
var sources = []source{
	{host: unix.CLOCK_REALTIME, ids: []int{ClockRealtime, ClockRealtimeCoarse}, mayGoBack: true},
	{host: unix.CLOCK_MONOTONIC, ids: []int{ClockMonotonic, ClockMonotonicRaw, ClockMonotonicCoarse}},
	{host: unix.CLOCK_BOOTTIME, ids: []int{ClockBoottime}},
}

// monotonicSource indexes sources: the clock the TSC is calibrated against.
const monotonicSource = 1

// resolution returns clock_getres for id, as the Sentry's clock_getres
// answers.
func resolution(id int) uint32 {
	if id == ClockRealtimeCoarse || id == ClockMonotonicCoarse {
		return 4000000
	}
	return 1
}

// servedMask is the page's served bits: every id of every source.
func servedMask() uint32 {
	var m uint32
	for _, s := range sources {
		for _, id := range s.ids {
			m |= 1 << id
		}
	}
	return m
}

// Sample is one reading of a host clock and the TSC value at that moment.
type Sample struct {
	NS  int64
	TSC uint64
}

// Timekeeper keeps a parameter page in step with the host's clocks. It
// calibrates the TSC against CLOCK_MONOTONIC while the page says "fall
// back", publishes, and then refreshes every clock's parameters every
// Interval, measuring the TSC rate over the last RateWindow and steering
// each clock onto its host clock.
type Timekeeper struct {
	page *Page
	// Interval is the time between updates.
	Interval time.Duration
	// Calibration is how long the TSC is measured before the first
	// publication.
	Calibration time.Duration
	// Logf, if set, receives a line when the page is published.
	Logf func(format string, args ...any)
	// sample reads host clock id; sampleHost, or a fake in tests.
	sample func(host int32) Sample

	// history holds CLOCK_MONOTONIC samples, oldest first, reaching back
	// at least RateWindow (or to the first sample): the TSC rate is
	// measured across it.
	history   []Sample
	rate      float64 // nanoseconds per TSC tick
	clocks    [NumClocks]Clock
	published bool
}

// NewTimekeeper returns a Timekeeper for page and writes the page's initial
// state: every time call falls back to the system call; clock_getres is
// answered.
func NewTimekeeper(page *Page) *Timekeeper {
	tk := &Timekeeper{
		page:        page,
		Interval:    50 * time.Millisecond,
		Calibration: 10 * time.Millisecond,
		sample:      sampleHost,
	}
	tk.init()
	return tk
}

func (tk *Timekeeper) init() {
	tk.page.Write(func(w PageWriter, _ uint64) {
		w.SetFlags(FlagFallback)
		w.SetServed(servedMask())
		for _, s := range sources {
			for _, id := range s.ids {
				w.SetClock(id, Clock{Shift: DefaultShift}, resolution(id))
			}
		}
	})
}

// Run calibrates, publishes and then updates the page every Interval until
// stop is closed. Without an invariant TSC it returns at once and the page
// keeps saying "fall back".
func (tk *Timekeeper) Run(stop <-chan struct{}) {
	if !InvariantTSC() {
		if tk.Logf != nil {
			tk.Logf("vdso: no invariant TSC; time calls make system calls")
		}
		return
	}
	tk.Start()
	select {
	case <-time.After(tk.Calibration):
	case <-stop:
		return
	}
	tk.Update()
	if tk.Logf != nil {
		tk.Logf("vdso: TSC at %.3f MHz; clock_gettime, gettimeofday and time no longer trap", 1e3/tk.rate)
	}
	t := time.NewTicker(tk.Interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			tk.Update()
		case <-stop:
			return
		}
	}
}

// Start takes the calibration's first sample.
func (tk *Timekeeper) Start() {
	if m := tk.sample(sources[monotonicSource].host); m.TSC != 0 {
		tk.history = append(tk.history[:0], m)
	}
}

// Rate returns the TSC rate in nanoseconds per tick (zero before the first
// Update).
func (tk *Timekeeper) Rate() float64 { return tk.rate }

// Update samples the host clocks, re-estimates the TSC rate over the last
// RateWindow, and rewrites the page: the first time
// with each clock set to its host clock, afterwards steered continuously
// (Steer). It clears the fallback flag.
func (tk *Timekeeper) Update() {
	samples := make([]Sample, len(sources))
	for i, s := range sources {
		if samples[i] = tk.sample(s.host); samples[i].TSC == 0 {
			return // the host clock could not be read: keep the page as it is
		}
	}
	m := samples[monotonicSource]
	tk.history = append(tk.history, m)
	for len(tk.history) > 2 && m.NS-tk.history[1].NS >= int64(RateWindow) {
		tk.history = tk.history[1:]
	}
	if a := tk.history[0]; m.TSC > a.TSC && m.NS > a.NS {
		tk.rate = float64(m.NS-a.NS) / float64(m.TSC-a.TSC)
	}
	if tk.rate <= 0 {
		return // no TSC progress yet: keep falling back
	}
	horizon := uint64(2 * float64(tk.Interval) / tk.rate)
	tk.page.Write(func(w PageWriter, tsc uint64) {
		for i, s := range sources {
			// The host clock's value at tsc, a few microseconds after
			// it was sampled.
			ref := samples[i].NS + int64(float64(int64(tsc-samples[i].TSC))*tk.rate)
			var c Clock
			if tk.published {
				c = Steer(tk.clocks[s.ids[0]], tsc, ref, tk.rate, horizon, s.mayGoBack)
			} else {
				c = Clock{BaseNS: ref, BaseTSC: tsc, Mult: multFor(tk.rate, DefaultShift), Shift: DefaultShift}
			}
			for _, id := range s.ids {
				tk.clocks[id] = c
				w.SetClock(id, c, resolution(id))
			}
		}
		w.SetFlags(0)
	})
	tk.published = true
}

// sampleTries is how many times sampleHost reads a clock before it gives
// up, and maxSampleWindow the widest TSC interval around the clock read it
// accepts (13 µs at 2.5 GHz; an undisturbed read takes a few hundred
// ticks). A sample whose read was preempted or interrupted has a wide
// window, and its midpoint can be hundreds of microseconds from the real
// reading: one such sample in the calibration skews the TSC rate, and every
// clock the vDSO computes with it, for a whole RateWindow. So a wide sample
// is never used: the update that wanted it is skipped.
const (
	sampleTries     = 16
	maxSampleWindow = 1 << 15
)

// sampleHost reads host clock id between two TSC reads (see bestSample).
// A zero TSC value means the clock could not be read tightly enough.
func sampleHost(id int32) Sample {
	return bestSample(func() (uint64, int64, uint64, bool) {
		var ts unix.Timespec
		t1 := readTSC()
		if err := unix.ClockGettime(id, &ts); err != nil {
			return 0, 0, 0, false
		}
		return t1, ts.Nano(), readTSC(), true
	})
}

// bestSample calls read up to sampleTries times and keeps the reading with
// the tightest TSC window (t1, t2) around the clock value ns, returning as
// soon as one is tight enough to be trusted; the sample's TSC value is the
// window's midpoint. It returns the zero Sample if no reading had a window
// of at most maxSampleWindow ticks.
func bestSample(read func() (t1 uint64, ns int64, t2 uint64, ok bool)) Sample {
	best := Sample{}
	bestWindow := uint64(math.MaxUint64)
	for try := 0; try < sampleTries; try++ {
		t1, ns, t2, ok := read()
		if !ok || t2 < t1 {
			continue
		}
		if w := t2 - t1; w < bestWindow {
			bestWindow = w
			best = Sample{NS: ns, TSC: t1 + w/2}
		}
		if bestWindow <= maxSampleWindow/8 {
			break // as good as undisturbed reads get
		}
	}
	if bestWindow > maxSampleWindow {
		return Sample{}
	}
	return best
}
