package vdso

import (
	"bytes"
	"debug/elf"
	"fmt"
	"math/big"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/memory"
)

// requireGCC skips unless gcc is installed.
func requireGCC(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("gcc"); err != nil {
		t.Skip("gcc not installed")
	}
}

// TestImageMatchesSource rebuilds the image and fails if the committed
// vdso.so differs: run `go generate` after changing the sources. Another
// compiler than the one that built the blob (vdso.so.gcc) may emit other
// code, so the test skips then.
func TestImageMatchesSource(t *testing.T) {
	requireGCC(t)
	want, err := os.ReadFile("vdso.so.gcc")
	if err != nil {
		t.Fatal(err)
	}
	have, err := exec.Command("sh", "-c", "gcc --version | head -n 1").Output()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.TrimSpace(want), bytes.TrimSpace(have)) {
		t.Skipf("vdso.so was built by %q, this host has %q", bytes.TrimSpace(want), bytes.TrimSpace(have))
	}
	out := filepath.Join(t.TempDir(), "vdso.so")
	if msg, err := exec.Command("sh", "gen.sh", out).CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, msg)
	}
	built, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, image) {
		t.Fatalf("vdso.so (%d bytes) is stale: the sources build %d different bytes; run go generate ./pkg/sentry/vdso", len(image), len(built))
	}
}

var exported = []string{
	"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_clock_getres", "__vdso_getcpu",
}

// symbols returns the image's exported functions by name.
func symbols(t *testing.T) map[string]elf.Symbol {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		t.Fatal(err)
	}
	syms, err := f.DynamicSymbols()
	if err != nil {
		t.Fatal(err)
	}
	m := make(map[string]elf.Symbol)
	for _, s := range syms {
		m[s.Name] = s
	}
	return m
}

// TestImageShape checks what the dynamic linkers rely on: a shared object
// with one read-and-execute segment at address 0, no relocations, and the
// functions under version LINUX_2.6.
func TestImageShape(t *testing.T) {
	f, err := elf.NewFile(bytes.NewReader(image))
	if err != nil {
		t.Fatal(err)
	}
	if f.Type != elf.ET_DYN || f.Machine != elf.EM_X86_64 {
		t.Errorf("type %v machine %v", f.Type, f.Machine)
	}
	loads := 0
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_LOAD:
			loads++
			if p.Vaddr != 0 || p.Off != 0 || p.Flags != elf.PF_R|elf.PF_X || p.Filesz != p.Memsz {
				t.Errorf("PT_LOAD %+v: want one R+X segment at 0 with no bss", p.ProgHeader)
			}
		case elf.PT_DYNAMIC:
		case elf.PT_GNU_EH_FRAME:
		default:
			t.Errorf("unexpected segment %v", p.Type)
		}
	}
	if loads != 1 {
		t.Errorf("%d PT_LOAD segments, want 1", loads)
	}
	for _, s := range f.Sections {
		if s.Type == elf.SHT_RELA || s.Type == elf.SHT_REL {
			t.Errorf("relocation section %s", s.Name)
		}
	}
	libs, _ := f.DynString(elf.DT_SONAME)
	if len(libs) != 1 || libs[0] != "linux-vdso.so.1" {
		t.Errorf("soname %q", libs)
	}
	syms := symbols(t)
	for _, name := range exported {
		s, ok := syms[name]
		if !ok {
			t.Errorf("%s not exported", name)
			continue
		}
		if s.Version != "LINUX_2.6" || elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Section == elf.SHN_UNDEF {
			t.Errorf("%s: version %q info %#x", name, s.Version, s.Info)
		}
	}
}

// TestClockAt checks the fixed-point map against exact arithmetic.
func TestClockAt(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 10000; i++ {
		c := Clock{
			BaseNS:  r.Int63n(1 << 62),
			BaseTSC: r.Uint64() >> 1,
			Mult:    r.Uint64() >> uint(r.Intn(40)),
			Shift:   uint32(r.Intn(80)),
		}
		tsc := c.BaseTSC + r.Uint64()>>uint(1+r.Intn(60))
		p := new(big.Int).Mul(new(big.Int).SetUint64(tsc-c.BaseTSC), new(big.Int).SetUint64(c.Mult))
		p.Rsh(p, uint(c.Shift))
		want := c.BaseNS + int64(p.Uint64())
		if got := c.At(tsc); got != want {
			t.Fatalf("%+v.At(%d) = %d, want %d", c, tsc, got, want)
		}
	}
	c := Clock{BaseNS: 100, BaseTSC: 1000, Mult: 1 << 32, Shift: 32}
	if got := c.At(10); got != 100 {
		t.Errorf("a TSC before the base: %d, want the base 100", got)
	}
}

// TestSteerContinuity: an update never moves the clock at the update's TSC
// value, never makes it go back, and slews toward the reference.
func TestSteerContinuity(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	const rate = 1 / 2.5 // 2.5 GHz
	horizon := uint64(100e6 / rate)
	for i := 0; i < 10000; i++ {
		old := Clock{BaseNS: r.Int63n(1 << 60), BaseTSC: r.Uint64() >> 2, Mult: multFor(rate*(1+(r.Float64()-0.5)/100), 32), Shift: 32}
		tsc := old.BaseTSC + uint64(r.Int63n(1<<34))
		now := old.At(tsc)
		errNS := r.Int63n(4*StepLimit) - 2*StepLimit
		ref := now + errNS
		for _, back := range []bool{false, true} {
			n := Steer(old, tsc, ref, rate, horizon, back)
			stepped := errNS > StepLimit || (back && errNS < -StepLimit)
			switch {
			case stepped && n.At(tsc) != ref:
				t.Fatalf("step: At(tsc) = %d, want ref %d", n.At(tsc), ref)
			case !stepped && n.At(tsc) != now:
				t.Fatalf("update moved the clock at tsc: %d -> %d", now, n.At(tsc))
			}
			if !back || errNS >= -StepLimit {
				// Monotonic: every later reading under n is at least every
				// earlier one under old.
				for _, d := range []uint64{0, 1, 7, 1000, 1 << 20} {
					if n.At(tsc+d) < old.At(tsc) || n.At(tsc+d) < old.At(tsc-d) {
						t.Fatalf("went back: old %+v new %+v at +%d", old, n, d)
					}
				}
			}
			if !stepped && errNS != 0 {
				// The rate moved toward the reference.
				if faster := n.NSPerTick() > rate; faster != (errNS > 0) {
					t.Fatalf("error %d ns: rate %v vs nominal %v", errNS, n.NSPerTick(), rate)
				}
			}
			if d := n.NSPerTick()/rate - 1; d > MaxSlew+1e-9 || d < -MaxSlew-1e-9 {
				t.Fatalf("slew %v beyond %v", d, MaxSlew)
			}
		}
	}
}

// fakeHost is a simulated machine: a TSC and host clocks that advance with
// simulated time, the host's MONOTONIC running at a rate that changes (NTP
// slewing, a TSC frequency estimate that is off) and REALTIME stepping.
type fakeHost struct {
	ns      float64 // true monotonic nanoseconds
	tsc     float64
	ghz     float64 // TSC ticks per host nanosecond
	realOff int64
}

func (h *fakeHost) advance(d float64) {
	h.ns += d
	h.tsc += d * h.ghz
}

func (h *fakeHost) sample(id int32) Sample {
	v := int64(h.ns)
	switch id {
	case unix.CLOCK_REALTIME:
		v += h.realOff
	case unix.CLOCK_BOOTTIME:
		v += 5e9
	}
	return Sample{NS: v, TSC: uint64(h.tsc)}
}

// TestTimekeeperSimulated runs a Timekeeper over a simulated host whose TSC
// frequency changes under it and whose REALTIME is set back, reading the
// page between and across updates as the vDSO would: MONOTONIC never goes
// back and stays within 50 µs of the host once settled.
func TestTimekeeperSimulated(t *testing.T) {
	h := &fakeHost{ns: 1e12, tsc: 5e12, ghz: 2.9, realOff: 1.7e18}
	page := NewPage(make([]byte, PageSize))
	page.tsc = func() uint64 { h.advance(300); return uint64(h.tsc) } // the write takes 300 ns
	tk := NewTimekeeper(page)
	tk.sample = h.sample
	if s := page.Read(); s.Flags&FlagFallback == 0 {
		t.Fatal("a fresh page does not say fall back")
	}
	tk.Start()
	h.advance(50e6)
	tk.Update()
	if s := page.Read(); s.Flags&FlagFallback != 0 {
		t.Fatal("page still says fall back after calibration")
	}
	r := rand.New(rand.NewSource(3))
	var last int64
	var worst float64
	for step := 0; step < 4000; step++ {
		switch step {
		case 500:
			h.ghz *= 1 + 300e-6 // the TSC runs 300 ppm faster from here on
		case 1500:
			h.ghz *= 1 - 800e-6
		case 2500:
			h.realOff -= 3e9 // the host's clock is set back 3 s
		}
		// Reads until the next update, 50 ms of host time away, taken at
		// random moments; the last ones race with the update.
		for i := 0; i < 20; i++ {
			h.advance(2.5e6 * r.Float64() * 2)
			snap := page.Read()
			v := snap.Clocks[ClockMonotonic].At(uint64(h.tsc))
			if v < last {
				t.Fatalf("step %d: MONOTONIC went back by %d ns", step, last-v)
			}
			last = v
			if step > 20 && (step < 500 || step > 600) && (step < 1500 || step > 1600) {
				if d := float64(v) - h.ns; d > worst || -d > worst {
					worst = max(d, -d)
				}
			}
			if rt := snap.Clocks[ClockRealtime].At(uint64(h.tsc)); step > 20 && (step < 2500 || step > 2501) &&
				(float64(rt)-h.ns-float64(h.realOff) > 1e6 || float64(rt)-h.ns-float64(h.realOff) < -1e6) {
				t.Fatalf("step %d: REALTIME off by %v ns", step, float64(rt)-h.ns-float64(h.realOff))
			}
		}
		tk.Update()
	}
	t.Logf("worst MONOTONIC error after settling: %.0f ns", worst)
	if worst > 50e3 {
		t.Errorf("MONOTONIC strayed %.0f ns from the host, want < 50 µs", worst)
	}
	snap := page.Read()
	if snap.Clocks[ClockMonotonicCoarse] != snap.Clocks[ClockMonotonic] || snap.Res[ClockMonotonicCoarse] != 4000000 {
		t.Errorf("MONOTONIC_COARSE does not follow MONOTONIC: %+v", snap)
	}
	if snap.Served&(1<<unix.CLOCK_PROCESS_CPUTIME_ID) != 0 || snap.Served&(1<<ClockBoottime) == 0 {
		t.Errorf("served mask %#x", snap.Served)
	}
}

// TestPagesMappable checks the memory file objects the loader maps.
func TestPagesMappable(t *testing.T) {
	mf, err := memory.NewSize("vdso-test", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer mf.Close()
	v, err := New(mf)
	if err != nil {
		t.Fatal(err)
	}
	if v.Params().Size() != PageSize || v.Text().Size() != int64(len(image)) {
		t.Fatalf("sizes %d %d", v.Params().Size(), v.Text().Size())
	}
	hdr := make([]byte, 4)
	if n, err := v.Text().ReadAt(hdr, 0); n != 4 || err != nil || string(hdr) != elf.ELFMAG {
		t.Fatalf("ReadAt: %q %v", hdr, err)
	}
	r, err := v.Params().Pages(0, PageSize)
	if err != nil || len(r) != 1 || r[0].Length != PageSize {
		t.Fatalf("Pages: %+v %v", r, err)
	}
	if mf.RefCount(r[0].FileOff) != 2 {
		t.Errorf("Pages took no reference")
	}
	mf.DecRef(r[0].FileOff, r[0].Length)
	if _, err := v.Params().Pages(0, 2*PageSize); err != unix.EFAULT {
		t.Errorf("Pages beyond the end: %v", err)
	}
	if s := NewPage(mf.Bytes(r[0].FileOff, PageSize)).Read(); s.Flags != FlagFallback {
		t.Errorf("new page flags %#x", s.Flags)
	}
}

// TestImageLive runs the image's code for real: a C harness maps a page this
// test's Timekeeper keeps updating (every millisecond, so a million calls
// race with hundreds of updates) and the image above it, and compares a
// million clock_gettime calls with the system call.
func TestImageLive(t *testing.T) {
	requireGCC(t)
	if !InvariantTSC() {
		t.Skip("no invariant TSC")
	}
	dir := t.TempDir()
	harness := filepath.Join(dir, "harness")
	if msg, err := exec.Command("gcc", "-O2", "-o", harness, "testdata/harness.c").CombinedOutput(); err != nil {
		t.Fatalf("gcc: %v\n%s", err, msg)
	}
	imgPath := filepath.Join(dir, "vdso.so")
	if err := os.WriteFile(imgPath, image, 0o644); err != nil {
		t.Fatal(err)
	}
	paramsPath := filepath.Join(dir, "params")
	f, err := os.Create(paramsPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(PageSize); err != nil {
		t.Fatal(err)
	}
	mem, err := unix.Mmap(int(f.Fd()), 0, PageSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	if uintptr(unsafe.Pointer(&mem[0]))%PageSize != 0 {
		t.Fatal("unaligned mapping")
	}
	tk := NewTimekeeper(NewPage(mem))
	tk.Interval = time.Millisecond
	tk.Calibration = 20 * time.Millisecond

	syms := symbols(t)
	args := []string{paramsPath, imgPath}
	for _, name := range []string{"__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_clock_getres", "__vdso_getcpu"} {
		args = append(args, fmt.Sprint(syms[name].Value))
	}
	run := func(calls string) string {
		t.Helper()
		out, err := exec.Command(harness, append(args, calls)...).CombinedOutput()
		if err != nil {
			t.Fatalf("harness: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// Before the Timekeeper publishes, every call falls back.
	t.Logf("falling back: %s", run("10000"))

	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { tk.Run(stop); close(done) }()
	defer func() { close(stop); <-done }()
	// Wait for the calibration to publish (a condition, not a fixed delay):
	// it takes ~10 ms, far longer on a loaded machine.
	for deadline := time.Now().Add(10 * time.Second); NewPage(mem).Read().Flags&FlagFallback != 0; {
		if time.Now().After(deadline) {
			t.Fatal("not published after calibration")
		}
		runtime.Gosched()
	}
	out := run("1000000")
	t.Logf("TSC %.3f MHz; vDSO vs system call: %s", 1e3/tk.Rate(), out)
	var back, mono, real, boot int64
	if _, err := fmt.Sscanf(out, "backwards=%d mono=%d real=%d boot=%d", &back, &mono, &real, &boot); err != nil {
		t.Fatalf("harness said %q: %v", out, err)
	}
	if back != 0 || mono > 50000 || boot > 50000 || real > 1000000 {
		t.Errorf("want monotonic, MONOTONIC and BOOTTIME within 50 µs, REALTIME within 1 ms: %s", out)
	}
}

// TestBestSample checks that a clock reading is trusted only with a tight
// TSC window around it: a preempted read must never calibrate the TSC.
func TestBestSample(t *testing.T) {
	type reading struct {
		t1   uint64
		ns   int64
		t2   uint64
		fail bool
	}
	tight := uint64(maxSampleWindow / 16)
	for _, tc := range []struct {
		name     string
		readings []reading
		want     Sample
	}{
		{
			name:     "first reading undisturbed",
			readings: []reading{{t1: 1000, ns: 5, t2: 1000 + tight}},
			want:     Sample{NS: 5, TSC: 1000 + tight/2},
		},
		{
			name: "tightest of wide-but-acceptable readings",
			readings: []reading{
				{t1: 0, ns: 1, t2: maxSampleWindow},
				{t1: 0, ns: 2, t2: maxSampleWindow / 2},
				{t1: 0, ns: 3, t2: maxSampleWindow - 1},
			},
			want: Sample{NS: 2, TSC: maxSampleWindow / 4},
		},
		{
			name:     "every reading preempted",
			readings: []reading{{t1: 0, ns: 1, t2: 10 * maxSampleWindow}},
			want:     Sample{},
		},
		{
			name:     "clock errors and TSC going backwards are skipped",
			readings: []reading{{fail: true}, {t1: 50, ns: 1, t2: 10}, {t1: 100, ns: 7, t2: 100 + tight}},
			want:     Sample{NS: 7, TSC: 100 + tight/2},
		},
		{
			name:     "nothing readable",
			readings: []reading{{fail: true}},
			want:     Sample{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			got := bestSample(func() (uint64, int64, uint64, bool) {
				// The last reading repeats for the remaining tries.
				r := tc.readings[min(calls, len(tc.readings)-1)]
				calls++
				return r.t1, r.ns, r.t2, !r.fail
			})
			if got != tc.want {
				t.Errorf("bestSample = %+v, want %+v", got, tc.want)
			}
			if calls > sampleTries {
				t.Errorf("read %d times, want at most %d", calls, sampleTries)
			}
		})
	}
}
