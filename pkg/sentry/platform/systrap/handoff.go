//go:build linux && amd64

package systrap

import (
	"sync/atomic"
	"time"
	"unsafe"

	"bufferzone.dev/pkg/sentry/platform/internal/stubproc"
	"golang.org/x/sys/unix"
)

// The hand-off between a Sentry thread and a stub thread; the policy is
// described in the package documentation.

const (
	// spinBudget bounds how long either side spins before it sleeps.
	spinBudget = 20 * time.Microsecond
	// livenessPeriod is how often the watchdog checks that the stubs of
	// waiting Sentry threads are still alive.
	livenessPeriod = 50 * time.Millisecond
	// probeEvery is how many block-mode exchanges pass between attempts
	// to spin again at first; maxProbeAfter bounds the backoff after
	// failed attempts (a busy machine).
	probeEvery    = 32
	maxProbeAfter = 1 << 14
)

var (
	// allowedCPUs are the CPUs the Sentry may run on; ncpu their count.
	allowedCPUs unix.CPUSet
	ncpu        int
	// stubSpinIters is the number of PAUSE loop iterations that take about
	// spinBudget.
	stubSpinIters uint64
	// spinBudgetTicks is spinBudget in time stamp counter ticks: the
	// policy's clock (see stubproc.Ticks).
	spinBudgetTicks int64
	// spinners counts Sentry threads spinning right now.
	spinners atomic.Int32
)

// Hand-off statistics, for benchmarks and tests.
var (
	statSpinHits, statSpinMisses, statBlocks, statWakes atomic.Uint64
)

// initHandoff measures the machine: usable CPUs, and PAUSE's latency.
func initHandoff() {
	if ncpu != 0 {
		return
	}
	if err := unix.SchedGetaffinity(0, &allowedCPUs); err != nil || allowedCPUs.Count() == 0 {
		allowedCPUs.Zero()
		allowedCPUs.Set(0)
	}
	ncpu = allowedCPUs.Count()
	// Three runs of 500 PAUSEs: ~10-70 µs each, depending on the CPU's
	// PAUSE latency. This runs at every Sentry start, on the way to the
	// container's first process.
	const n = 500
	best := time.Duration(1 << 62)
	t0, c0 := time.Now(), stubproc.Ticks()
	for i := 0; i < 3; i++ {
		start := time.Now()
		stubproc.PauseLoop(n)
		if d := time.Since(start); d < best {
			best = d
		}
	}
	if ns, ticks := time.Since(t0), stubproc.Ticks()-c0; ns > 0 && ticks > 0 {
		spinBudgetTicks = int64(float64(ticks) / float64(ns) * float64(spinBudget))
	}
	if spinBudgetTicks <= 0 {
		spinBudgetTicks = int64(spinBudget) // a 1 GHz guess
	}
	if best <= 0 {
		best = 1
	}
	// The stub's loop is a load, a compare and the PAUSE.
	stubSpinIters = uint64(int64(spinBudget) * n / int64(best))
	if stubSpinIters < 16 {
		stubSpinIters = 16
	}
}

// handoffPolicy is the per-thread history the mode is chosen from. It is
// used only by the Sentry thread that owns the stub thread.
type handoffPolicy struct {
	// spin is the mode of the last exchange.
	spin bool
	// history has a bit per recent spin-mode exchange: 1 if the stub
	// came back within the budget; 0 for a miss.
	history uint8
	// blockRounds counts block-mode exchanges since the last probe;
	// probeAfter is how many must pass before the next one (doubled after
	// each failed probe, up to maxProbeAfter).
	blockRounds, probeAfter int
	// blockEMA is a moving average of block-mode round trips, in ticks.
	blockEMA int64
	// handleEMA is a moving average of the Sentry's time between an event
	// and the next exchange, in ticks.
	handleEMA int64
	// eventAt is when the last event arrived (ticks), or 0 if none did
	// or the task slept since (idle).
	eventAt uint64
}

// exchange posts stateRun to t and waits until t posts stateEvent: it
// runs application code, whose history drives the mode.
func (t *stubThread) exchange() error {
	pol := &t.pol
	now := stubproc.Ticks()
	if pol.eventAt != 0 {
		pol.handleEMA = ema(pol.handleEMA, int64(now-pol.eventAt))
	}
	cpu := stubproc.CurrentCPU()
	probing := false
	if !pol.spin && ncpu > 1 {
		// In block mode: probe now and then, if round trips are short.
		if pol.probeAfter == 0 {
			pol.probeAfter = probeEvery
		}
		pol.blockRounds++
		if pol.blockRounds >= pol.probeAfter {
			pol.blockRounds = 0
			// Only if both sides would spin: a stub thread told not to
			// spin (the Sentry's handling is long) is asleep at every
			// exchange, and waking it across CPUs costs more than
			// blocking.
			if pol.blockEMA < 4*spinBudgetTicks && pol.handleEMA < spinBudgetTicks {
				pol.spin, pol.history, probing = true, 0xff, true
			}
		}
	}
	spin := pol.spin && spinners.Load() < int32(ncpu-1)
	if spin {
		t.pinAway(cpu)
		if pol.handleEMA < spinBudgetTicks {
			t.setStubSpin(stubSpinIters)
		} else {
			t.setStubSpin(0)
		}
	} else {
		t.pinTo(cpu)
		t.setStubSpin(0)
	}

	t.state.Store(stateRun) // XCHG: a full barrier before the load below
	if t.stubSleeping.Load() != 0 {
		// Asleep: it did not see its reply within its spin budget, or
		// was told not to spin (block mode, Idle). In spin mode it is
		// woken where it is, on another CPU, and the exchange is judged
		// as any other, except a probe's first (see below).
		statWakes.Add(1)
		futexWakeOne(t.state)
	}

	outcome := spinRefused
	if spin {
		outcome = t.spinWait(cpu)
	}
	if outcome == spinHit {
		statSpinHits.Add(1)
		pol.history = pol.history<<1 | 1
	} else {
		switch {
		case !spin:
			statBlocks.Add(1)
		case outcome == spinMiss && !probing:
			statSpinMisses.Add(1)
			pol.history <<= 1
		}
		if err := t.blockWait(stateRun); err != nil {
			return err
		}
		if !spin {
			pol.blockEMA = ema(pol.blockEMA, int64(stubproc.Ticks()-now))
		}
	}
	pol.eventAt = stubproc.Ticks()
	switch {
	case pol.spin && missesIn(pol.history) >= 2:
		// Spinning does not pay (a long-running application, a slow
		// Sentry, a busy machine): block, and probe less often.
		pol.spin = false
		pol.probeAfter = min(2*pol.probeAfter, maxProbeAfter)
	case pol.spin && pol.history == 0xff:
		// Eight hits in a row: the machine has room; probe soon again
		// if it ever falls back.
		pol.probeAfter = probeEvery
	}
	return nil
}

// ema moves the average avg toward v by 1/8.
func ema(avg, v int64) int64 { return avg + (v-avg)/8 }

// missesIn counts the misses among the last eight spin exchanges.
func missesIn(h uint8) int {
	n := 0
	for i := 0; i < 8; i++ {
		if h&(1<<i) == 0 {
			n++
		}
	}
	return n
}

// Outcomes of spinWait.
const (
	// spinHit: the stub thread posted its event within the budget.
	spinHit = iota
	// spinMiss: it did not.
	spinMiss
	// spinRefused: the wait was cut short for reasons that say nothing
	// of the stub thread: too many threads spin, or the caller moved to
	// the CPU the stub thread may use.
	spinRefused
)

// spinWait spins for up to spinBudget until t posts stateEvent. It gives
// up early if the calling thread lands on a CPU the stub thread may run on
// (never spin on the CPU the peer needs) or if too many threads spin.
func (t *stubThread) spinWait(cpu int) int {
	if n := spinners.Add(1); n > int32(ncpu-1) {
		spinners.Add(-1)
		return spinRefused
	}
	defer spinners.Add(-1)
	start := stubproc.Ticks()
	for i := 0; ; i++ {
		if t.state.Load() == stateEvent {
			return spinHit
		}
		stubproc.Relax()
		if i&31 == 31 {
			switch {
			case t.state.Load() == stateEvent:
				return spinHit
			case stubproc.CurrentCPU() != cpu:
				return spinRefused
			case int64(stubproc.Ticks()-start) > spinBudgetTicks:
				return spinMiss
			}
		}
	}
}

// idle tells t, whose task now sleeps in the Sentry, to stop spinning:
// the reply is far off, and its CPU is better given to another stub
// thread. The sleep is not part of the Sentry's handling time.
func (t *stubThread) idle() {
	t.setStubSpin(0)
	t.pol.eventAt = 0
}

// blockWait sleeps on t's state word until t posts stateEvent. The sleep
// has no timeout (a futex timeout arms a host timer, ~1.3 µs per wait in
// this VM: 5 µs of a pipe ping-pong's 85 µs round trip): instead the
// platform's watchdog (watchSleepers) wakes the thread when its stub dies
// or ignores an interrupt.
func (t *stubThread) blockWait(posted uint32) error {
	p := t.as.p
	p.addSleeper(t)
	defer p.removeSleeper(t)
	for {
		t.sentrySleeping.Store(1)
		if t.state.Load() == stateEvent {
			t.sentrySleeping.Store(0)
			return nil
		}
		if t.as.isDead() {
			t.sentrySleeping.Store(0)
			return errDead
		}
		futexSleep(t.state, posted)
	}
}

// addSleeper registers t, whose Sentry thread is about to sleep in
// blockWait, with the watchdog, starting the watchdog if it is not
// running.
func (p *Platform) addSleeper(t *stubThread) {
	p.sleepMu.Lock()
	p.sleepers[t] = struct{}{}
	if !p.watching {
		p.watching = true
		go p.watchSleepers()
	}
	p.sleepMu.Unlock()
}

// removeSleeper unregisters t.
func (p *Platform) removeSleeper(t *stubThread) {
	p.sleepMu.Lock()
	delete(p.sleepers, t)
	p.sleepMu.Unlock()
}

// watchSleepers runs while Sentry threads sleep in blockWait: every
// livenessPeriod it checks that each sleeper's stub thread is alive and
// has not ignored an interrupt (ignoresInterrupt), and otherwise marks its
// stub dead and wakes the sleeper, whose blockWait then fails. It ends
// after a period with no sleepers.
func (p *Platform) watchSleepers() {
	tick := time.NewTicker(livenessPeriod)
	defer tick.Stop()
	var check []*stubThread
	for range tick.C {
		p.sleepMu.Lock()
		if len(p.sleepers) == 0 {
			p.watching = false
			p.sleepMu.Unlock()
			return
		}
		check = check[:0]
		for t := range p.sleepers {
			check = append(check, t)
		}
		p.sleepMu.Unlock()
		for _, t := range check {
			if !t.alive() || t.ignoresInterrupt() {
				t.as.markDead()
				futexWakeOne(t.state)
			}
		}
	}
}

// setStubSpin sets how long the stub thread spins after its next event
// (or, if it spins now, for how much longer: 0 stops it). The stub reads
// the word while it spins, hence the atomic store.
func (t *stubThread) setStubSpin(n uint64) {
	if t.stubSpin != n {
		t.stubSpin = n
		atomic.StoreUint64((*uint64)(unsafe.Pointer(&t.mem[ctxStubSpin])), n)
	}
}

// pinTo pins t to cpu, so that hand-offs are same-CPU wakes.
func (t *stubThread) pinTo(cpu int) {
	if ncpu <= 1 || t.pin == cpu {
		return
	}
	var set unix.CPUSet
	set.Set(cpu)
	if setAffinity(t.tid, &set) == nil {
		t.pin = cpu
		t.as.p.repins.Add(1)
	}
}

// pinAway lets t run on every usable CPU but cpu, so that it never spins
// on the CPU of its Sentry thread.
func (t *stubThread) pinAway(cpu int) {
	if want := -2 - cpu; t.pin != want {
		set := allowedCPUs
		set.Clear(cpu)
		if set.Count() == 0 {
			return
		}
		if setAffinity(t.tid, &set) == nil {
			t.pin = want
			t.as.p.repins.Add(1)
		}
	}
}

// interruptGrace is how long a stub thread may leave an interrupt
// unanswered before its stub is killed. A thread running application code
// has the interrupt signal unblocked and traps as soon as it is scheduled;
// one in the handler has posted its event. Only an application that broke
// the protocol (it blocked the signal with an rt_sigreturn of its own, or
// moved its signal stack) ignores an interrupt for that long, and it could
// never be stopped otherwise.
const interruptGrace = 2 * time.Second

// ignoresInterrupt reports whether t was interrupted more than
// interruptGrace ago and has not reported an event since.
func (t *stubThread) ignoresInterrupt() bool {
	at := t.interruptedAt.Load()
	return at != 0 && time.Since(time.Unix(0, at)) >= interruptGrace && t.state.Load() != stateEvent
}
