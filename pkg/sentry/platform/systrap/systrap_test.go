//go:build linux && amd64

package systrap

import (
	"errors"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
	"golang.org/x/sys/unix"
)

// testApp is an apptest.App on the systrap platform, with its parts
// typed.
type testApp = apptest.Typed[*Platform, *AddressSpace, *Context]

// newPlatform is the platform under test: systrap's, without its pool of
// ready stubs (see TestPool).
func newPlatform(t testing.TB, memfd int) platform.Platform {
	t.Helper()
	p, err := New(memfd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true
	return p
}

func newTestApp(t testing.TB, code []byte) *testApp {
	t.Helper()
	return apptest.NewTyped[*Platform, *AddressSpace, *Context](t, newPlatform, code)
}

// TestConformance runs the behaviour every platform shares.
func TestConformance(t *testing.T) {
	apptest.RunConformance(t, apptest.Target{
		New:         newPlatform,
		StubPID:     func(as platform.AddressSpace) int { return as.(*AddressSpace).pid },
		Settle:      func(p platform.Platform) { p.(*Platform).reaping.Wait() },
		StubFDs:     2, // the memory file and the channel
		MaxStubVMAs: 6, // the stub's code and data, the context pages; [vsyscall]
		CheckStub: func(t *testing.T, a *apptest.App) {
			as, ctx := a.AS.(*AddressSpace), a.Ctx.(*Context)
			th := ctx.threads[as]
			fds, err := os.ReadDir("/proc/" + strconv.Itoa(as.pid) + "/task/" + strconv.Itoa(th.tid) + "/fd")
			if err != nil || len(fds) != 0 {
				t.Errorf("the application thread has descriptors %v (%v), want none", fds, err)
			}
			status, err := os.ReadFile("/proc/" + strconv.Itoa(as.pid) + "/status")
			if err != nil || !strings.Contains(string(status), "Seccomp:\t2") {
				t.Errorf("stub has no seccomp filter (%v)", err)
			}
		},
	})
}

// TestPool takes address spaces from a full pool of ready stubs; they
// work like fresh ones.
func TestPool(t *testing.T) {
	fd, mem := apptest.NewMemFile(t)
	copy(mem[apptest.CodeOff:], apptest.ThreadLoop)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true // no refills behind the test's back
	p.fillPool()
	if len(p.pool) != poolSize {
		t.Fatalf("pool holds %d stubs, want %d", len(p.pool), poolSize)
	}
	p.noPool = false
	for i := 0; i < poolSize; i++ {
		p.poolFilling.Store(true) // keep refill from starting
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		apptest.RunOnce(t, p, as)
		as.Release()
	}
	if len(p.pool) != 0 {
		t.Errorf("pool holds %d stubs after %d taken", len(p.pool), poolSize)
	}
	p.reaping.Wait()
}

// TestQueuedMappings: mappings are queued and sent with the next Switch,
// all in one request.
func TestQueuedMappings(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.Load, apptest.Syscall))
	regs := apptest.InitialRegs()
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventFault {
		t.Fatalf("got %+v, want a fault at the hole", ev)
	}
	r0 := a.Plat.Requests()
	for i := uintptr(0); i < 16; i++ {
		if err := a.Space.MapFile(apptest.HoleAddr+i*pageSize, apptest.ExtraOff, pageSize, platform.Read); err != nil {
			t.Fatal(err)
		}
	}
	if n := a.Plat.Requests() - r0; n != 0 {
		t.Fatalf("%d requests before the Switch, want 0", n)
	}
	regs.Rip = apptest.CodeAddr
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v after mapping the hole", ev)
	}
	if n := a.Plat.Requests() - r0; n != 1 {
		t.Errorf("%d requests for 16 queued mappings, want 1", n)
	}
	// A queued mapping that fails makes that Switch fail.
	if err := a.Space.MapFile(apptest.HoleAddr, int64(apptest.MemSize)*1024, pageSize, platform.Read); err != nil {
		t.Fatal(err)
	}
	a.Space.queued[len(a.Space.queued)-1].args[4] = 1 << 20 // no such descriptor
	regs.Rip = apptest.CodeAddr
	if _, err := a.Context.Switch(a.Space, &regs); !errors.Is(err, platform.ErrContextDead) {
		t.Errorf("Switch with a failing queued mapping: %v, want ErrContextDead", err)
	}
}

// TestUnmapRanges: several ranges go in one request, and each is gone.
func TestUnmapRanges(t *testing.T) {
	a := newTestApp(t, apptest.Cat(apptest.Load, apptest.Syscall))
	for _, addr := range []uintptr{apptest.HoleAddr, apptest.HoleAddr + 2*pageSize} {
		if err := a.Space.MapFile(addr, apptest.ExtraOff, pageSize, platform.Read); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Space.flush(); err != nil {
		t.Fatal(err)
	}
	r0 := a.Plat.Requests()
	a.Space.UnmapRanges([][2]uintptr{
		{apptest.HoleAddr, apptest.HoleAddr + pageSize},
		{apptest.HoleAddr + 2*pageSize, apptest.HoleAddr + 3*pageSize},
	})
	if n := a.Plat.Requests() - r0; n != 1 {
		t.Errorf("two ranges took %d requests, want 1", n)
	}
	for _, addr := range []uintptr{apptest.HoleAddr, apptest.HoleAddr + 2*pageSize} {
		regs := apptest.InitialRegs()
		regs.Rdi = uint64(addr)
		if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventFault || ev.Addr != addr {
			t.Errorf("load at %#x after UnmapRanges: %+v, want a fault there", addr, ev)
		}
	}
}

func TestStubDisassembly(t *testing.T) {
	code, _ := stubProgram(0x7e0000000000, 1)
	apptest.Disassemble(t, code)
	t.Logf("%d bytes", len(code))
}

func BenchmarkGetpidRoundTrip(b *testing.B) {
	// again: mov eax, 39; syscall; jmp again
	a := newTestApp(b, apptest.Cat(apptest.MovEAX(39), apptest.Syscall, []byte{0xeb, 0xf7}))
	regs := apptest.InitialRegs()
	for i := 0; i < 200; i++ {
		a.SwitchOK(b, &regs)
	}
	d := make([]time.Duration, 0, b.N)
	h0, m0, bl0, w0 := statSpinHits.Load(), statSpinMisses.Load(), statBlocks.Load(), statWakes.Load()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		ev, err := a.Context.Switch(a.Space, &regs)
		d = append(d, time.Since(start))
		if err != nil || ev.Kind != platform.EventSyscall {
			b.Fatalf("%+v %v", ev, err)
		}
	}
	b.StopTimer()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds())/1000, "median-µs")
	b.ReportMetric(float64(d[len(d)*9/10].Nanoseconds())/1000, "p90-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds())/1000, "p99-µs")
	n := float64(b.N)
	var slow time.Duration
	for _, x := range d {
		if x > time.Millisecond {
			slow += x
		}
	}
	b.ReportMetric(float64(d[len(d)-1].Nanoseconds())/1000, "max-µs")
	b.ReportMetric(float64(slow.Milliseconds()), "ms-in-over-1ms")
	b.ReportMetric(float64(statSpinHits.Load()-h0)/n, "spinhits/op")
	b.ReportMetric(float64(statSpinMisses.Load()-m0)/n, "spinmisses/op")
	b.ReportMetric(float64(statBlocks.Load()-bl0)/n, "blocks/op")
	b.ReportMetric(float64(statWakes.Load()-w0)/n, "wakes/op")
}

// TestTemplate: stubs are forked by the template, yet are the Sentry's
// apptest.Children (CLONE_PARENT), and the template survives them.
func TestTemplate(t *testing.T) {
	fd, _ := apptest.NewMemFile(t)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true
	p.Warm()
	if p.tmplSock < 0 {
		t.Fatal("no template")
	}
	for i := 0; i < 3; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatal(err)
		}
		pid := as.(*AddressSpace).pid
		stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		// pid (comm) state ppid ...: comm has no spaces here.
		if f := strings.Fields(string(stat)); len(f) < 4 || f[3] != strconv.Itoa(os.Getpid()) {
			t.Errorf("stub %d: stat %q, want the test as its parent", pid, stat)
		}
		as.Release()
	}
	if p.tmplSock < 0 {
		t.Error("the template was given up")
	}
	if err := unix.Kill(p.tmplPid, 0); err != nil {
		t.Errorf("template: %v", err)
	}
	p.reaping.Wait()
}

// TestTemplateDeath: when the template dies, stubs are forked by the
// factory, and the template is reaped.
func TestTemplateDeath(t *testing.T) {
	fd, mem := apptest.NewMemFile(t)
	copy(mem[apptest.CodeOff:], apptest.ThreadLoop)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	p.noPool = true
	p.Warm()
	tmpl := p.tmplPid
	if err := unix.Kill(tmpl, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		as, err := p.NewAddressSpace()
		if err != nil {
			t.Fatalf("NewAddressSpace after the template died: %v", err)
		}
		apptest.RunOnce(t, p, as)
		as.Release()
	}
	if p.tmplSock != -1 {
		t.Error("the dead template is still used")
	}
	p.reaping.Wait()
	if err := unix.Kill(tmpl, 0); err != unix.ESRCH {
		t.Errorf("template %d not reaped: %v", tmpl, err)
	}
}

// TestNewForksNothing: New forks no process (the Sentry makes its platform
// before it is in the sandbox's cgroup); Warm forks the template and fills
// the pool.
func TestNewForksNothing(t *testing.T) {
	fd, _ := apptest.NewMemFile(t)
	p, err := New(fd)
	if err != nil {
		t.Fatal(err)
	}
	if p.tmplSock >= 0 || p.tmplPid != 0 || len(p.pool) != 0 || p.poolFilling.Load() {
		t.Fatalf("New forked: template socket %d, pid %d, %d pooled stubs", p.tmplSock, p.tmplPid, len(p.pool))
	}
	p.Warm()
	if p.tmplSock < 0 {
		t.Fatal("Warm started no template")
	}
	for p.poolFilling.Load() { // set by Warm until the pool is full
		runtime.Gosched()
	}
	if len(p.pool) != cap(p.pool) {
		t.Errorf("Warm left %d of %d stubs in the pool", len(p.pool), cap(p.pool))
	}
	for len(p.pool) > 0 {
		(<-p.pool).Release()
	}
	p.reaping.Wait()
}

// TestIdleStopsSpinningStub: a stub thread spinning for its reply with a
// budget of hours goes to sleep as soon as its context is told its task
// sleeps.
func TestIdleStopsSpinningStub(t *testing.T) {
	// again: mov eax, 39; syscall; jmp again
	a := newTestApp(t, apptest.Cat(apptest.MovEAX(39), apptest.Syscall, []byte{0xeb, 0xf7}))
	if ncpu < 2 {
		t.Skip("spinning needs two usable CPUs")
	}
	regs := apptest.InitialRegs()
	a.SwitchOK(t, &regs)
	saved := stubSpinIters
	stubSpinIters = 1 << 50
	defer func() { stubSpinIters = saved }()
	th := a.Context.last
	th.pol.spin, th.pol.history, th.pol.handleEMA = true, 0xff, 0
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v, want a system call", ev)
	}
	if th.stubSpin != 1<<50 {
		t.Fatalf("the exchange set a spin budget of %d, want %d", th.stubSpin, uint64(1<<50))
	}
	// The stub spins now, and for good: it is not asleep a while later.
	time.Sleep(20 * time.Millisecond)
	if th.stubSleeping.Load() != 0 {
		t.Fatal("the stub thread sleeps without being told to")
	}
	a.Context.Idle()
	deadline := time.Now().Add(5 * time.Second)
	for th.stubSleeping.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the stub thread still spins 5 s after Idle")
		}
		time.Sleep(time.Millisecond)
	}
	stubSpinIters = saved
	if ev := a.SwitchOK(t, &regs); ev.Kind != platform.EventSyscall {
		t.Fatalf("after Idle: got %+v, want a system call", ev)
	}
}
