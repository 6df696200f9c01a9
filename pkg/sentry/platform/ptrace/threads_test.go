//go:build linux && amd64

package ptrace

import (
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
)

const (
	// Offsets of programs in the code page.
	progLoop      = 0     // see apptest.ThreadLoop
	progWriteRO   = 0x100 // mov edi, apptest.ROAddr; mov [rdi], rsi
	progExecData  = 0x200 // mov edi, apptest.DataAddr; jmp rdi
	progSpin      = 0x300 // jmp .
	progReadXmm0  = 0x400 // movq rsi, xmm0; syscall
	progWriteHole = 0x500 // mov edi, apptest.HoleAddr; mov [rdi], rsi; syscall
)

func threadsCode() []byte {
	code := make([]byte, pageSize)
	for i := range code {
		code[i] = 0xcc
	}
	copy(code[progLoop:], apptest.ThreadLoop)
	copy(code[progWriteRO:], apptest.Cat(apptest.MovEDI(apptest.ROAddr), apptest.Store))
	copy(code[progExecData:], apptest.Cat(apptest.MovEDI(apptest.DataAddr), apptest.JmpRDI))
	copy(code[progSpin:], apptest.JmpSelf)
	copy(code[progReadXmm0:], apptest.Cat(apptest.Xmm0RSI, apptest.Syscall))
	copy(code[progWriteHole:], apptest.Cat(apptest.MovEDI(apptest.HoleAddr), apptest.Store, apptest.Syscall))
	return code
}

// newThreadsApp is a test app whose address space has nThreads stack pages.
func newThreadsApp(t testing.TB, nThreads int) *testApp {
	t.Helper()
	a := newTestApp(t, threadsCode())
	if err := a.as.MapFile(apptest.StacksAddr, apptest.StacksOff, uintptr(nThreads)*pageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	return a
}

// onThread runs f on a new goroutine locked to its own OS thread with a new
// context, and returns a channel closed once f returned. The goroutine exits
// (destroying its thread) when release is closed; it releases its context
// first if releaseCtx.
func onThread(a *testApp, releaseCtx bool, release <-chan struct{}, f func(ctx *Context)) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		ctx, _ := a.p.NewContext()
		c := ctx.(*Context)
		f(c)
		if releaseCtx {
			c.Release()
		}
		close(done)
		<-release
	}()
	return done
}

// waitTasks waits up to a second for the stub pid to have want threads
// (released threads exit asynchronously) and returns how many it has.
func waitTasks(pid, want int) int {
	deadline := time.Now().Add(time.Second)
	for {
		n := apptest.Tasks(pid)
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}

// TestThreads runs 8 threads in one address space at once, each in its own
// stub thread with its own stack page, and checks every system call event.
// Threads release at different times; the others keep running. Finally the
// address space is released with some contexts still holding threads.
func TestThreads(t *testing.T) {
	const n = 8
	a := newThreadsApp(t, n)
	release := make(chan struct{})
	defer close(release)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	var dones []<-chan struct{}
	for i := 0; i < n; i++ {
		iters := 200 + 100*i // thread 0 finishes (and releases) first
		wg.Add(1)
		dones = append(dones, onThread(a, i%2 == 0, release, func(ctx *Context) {
			defer wg.Done()
			regs := apptest.InitialRegs()
			regs.Rip = apptest.CodeAddr + progLoop
			regs.Rsp = uint64(apptest.StacksAddr + i*pageSize + 64)
			regs.Rdi = uint64(i) << 32
			for k := 0; k < iters; k++ {
				ev, err := ctx.Switch(a.as, &regs)
				if err != nil {
					errs <- err.Error()
					return
				}
				if ev.Kind != platform.EventSyscall || regs.Orig_rax != 39 || regs.Rsi != regs.Rdi {
					errs <- fmt.Sprintf("thread %d iteration %d: %+v orig_rax=%d rsi=%#x rdi=%#x rip=%#x", i, k, ev, regs.Orig_rax, regs.Rsi, regs.Rdi, regs.Rip)
					return
				}
				if got := binary.LittleEndian.Uint64(a.mem[apptest.StacksOff+i*pageSize+64:]); got != regs.Rdi {
					errs <- "thread " + strconv.Itoa(i) + ": stack page mismatch"
					return
				}
				regs.Rdi++
			}
		}))
	}
	// While they run, a non-tracer thread maps a page: one running thread
	// is interrupted to do it.
	time.Sleep(5 * time.Millisecond)
	if err := a.as.MapFile(apptest.HoleAddr, apptest.ExtraOff, pageSize, platform.ReadWrite); err != nil {
		t.Errorf("MapFile while threads run: %v", err)
	}
	for _, d := range dones { // closed after the context's Release
		<-d
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// Threads of released contexts are gone; the others and the leader
	// remain.
	if want := 1 + n/2; waitTasks(a.as.pid, want) != want {
		got := apptest.Tasks(a.as.pid)
		t.Errorf("stub has %d threads, want %d", got, want)
	}
	pid := a.as.pid
	a.as.Release()
	// Release reaps in the background: the stub must be gone soon.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := os.Stat("/proc/" + strconv.Itoa(pid))
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("stub %d still exists after Release", pid)
			break
		}
		time.Sleep(time.Millisecond)
	}
	for _, k := range apptest.Children(t) {
		if k == pid {
			t.Errorf("stub %d still a child", pid)
		}
	}
}

// TestMapWhileThreadsRun maps a page over and over from a thread that
// traces no stub thread while 4 threads run system call loops: each
// MapFile interrupts one of them, whose tracer applies it; no thread may
// resume with the registers of the remote call.
func TestMapWhileThreadsRun(t *testing.T) {
	const n = 4
	a := newThreadsApp(t, n)
	release := make(chan struct{})
	defer close(release)
	var stop atomic.Bool
	var dones []<-chan struct{}
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		dones = append(dones, onThread(a, true, release, func(ctx *Context) {
			regs := apptest.InitialRegs()
			regs.Rip = apptest.CodeAddr + progLoop
			regs.Rsp = uint64(apptest.StacksAddr + i*pageSize + 64)
			for k := 0; !stop.Load(); k++ {
				ev, err := ctx.Switch(a.as, &regs)
				if err != nil || ev.Kind != platform.EventSyscall {
					errs <- fmt.Sprintf("thread %d iteration %d: %+v %v rip=%#x", i, k, ev, err, regs.Rip)
					stop.Store(true)
					return
				}
			}
		}))
	}
	time.Sleep(2 * time.Millisecond)
	calls := a.p.RemoteCalls()
	for k := 0; k < 1000 && !stop.Load(); k++ {
		if err := a.as.MapFile(apptest.HoleAddr, apptest.ExtraOff, pageSize, platform.ReadWrite); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	for _, d := range dones {
		<-d
	}
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	t.Logf("%d remote calls", a.p.RemoteCalls()-calls)
}

// TestThreadsFaultProbe faults in many threads at once: each probe's result
// lands in its own thread's slot.
func TestThreadsFaultProbe(t *testing.T) {
	const n = 6
	a := newThreadsApp(t, n)
	release := make(chan struct{})
	defer close(release)
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		onThread(a, true, release, func(ctx *Context) {
			defer wg.Done()
			prog, want, addr := uint64(progWriteRO), platform.AccessType{Write: true}, uintptr(apptest.ROAddr)
			if i%2 == 1 {
				prog, want, addr = progExecData, platform.AccessType{Execute: true}, apptest.DataAddr
			}
			for k := 0; k < 200; k++ {
				regs := apptest.InitialRegs()
				regs.Rip = apptest.CodeAddr + prog
				regs.Rsp = uint64(apptest.StacksAddr + i*pageSize + 64)
				ev, err := ctx.Switch(a.as, &regs)
				if err != nil {
					errs <- err.Error()
					return
				}
				if ev.Kind != platform.EventFault || ev.Access != want || ev.Addr != addr {
					errs <- fmt.Sprintf("thread %d iteration %d: %+v rip=%#x", i, k, ev, regs.Rip)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestThreadsCreateRelease creates and releases 100 threads, 4 at a time,
// and checks that slots and host threads are recycled.
func TestThreadsCreateRelease(t *testing.T) {
	a := newThreadsApp(t, 5)
	release := make(chan struct{})
	defer close(release)
	// A long-lived thread that keeps running throughout.
	stop := make(chan struct{})
	var bgErr error
	bgDone := onThread(a, true, release, func(ctx *Context) {
		regs := apptest.InitialRegs()
		regs.Rip = apptest.CodeAddr + progLoop
		regs.Rsp = apptest.StacksAddr + 4*pageSize + 64
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := ctx.Switch(a.as, &regs); err != nil {
				bgErr = err
				return
			}
		}
	})
	start := time.Now()
	sem := make(chan struct{}, 4)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var failures []string
	for i := 0; i < 100; i++ {
		sem <- struct{}{}
		wg.Add(1)
		slot := i % 4 // at most 4 at once: no two share a stack page
		onThread(a, false, release, func(ctx *Context) {
			defer func() { ctx.Release(); <-sem; wg.Done() }()
			regs := apptest.InitialRegs()
			regs.Rip = apptest.CodeAddr + progLoop
			regs.Rsp = uint64(apptest.StacksAddr + slot*pageSize + 64)
			regs.Rdi = uint64(i)
			ev, err := ctx.Switch(a.as, &regs)
			if err != nil || ev.Kind != platform.EventSyscall || regs.Rsi != uint64(i) {
				mu.Lock()
				failures = append(failures, fmt.Sprintf("%d: %+v rsi=%#x rip=%#x %v", i, ev, regs.Rsi, regs.Rip, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("100 threads created, run and released in %v", time.Since(start))
	close(stop)
	<-bgDone
	if bgErr != nil {
		t.Errorf("long-lived thread: %v", bgErr)
	}
	for _, f := range failures {
		t.Error(f)
	}
	if got := waitTasks(a.as.pid, 1); got != 1 {
		ents, _ := os.ReadDir("/proc/" + strconv.Itoa(a.as.pid) + "/task")
		for _, e := range ents {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(a.as.pid) + "/task/" + e.Name() + "/stat")
			sc, _ := os.ReadFile("/proc/" + strconv.Itoa(a.as.pid) + "/task/" + e.Name() + "/syscall")
			t.Logf("%s: %s %s", e.Name(), st, sc)
		}
		a.as.mu.Lock()
		for tr, th := range a.as.threads {
			t.Logf("tracer %d: %+v", tr, th)
		}
		a.as.mu.Unlock()
		t.Errorf("stub has %d threads after all released, want 1", got)
	}
	a.as.mu.Lock()
	next := a.as.nextSlot
	a.as.mu.Unlock()
	if next > 1+5+1 {
		t.Errorf("used %d slots for at most 5 concurrent threads", next-1)
	}
}

// TestNewThreadFPState checks that a context's FP state set before its
// first Switch reaches its new stub thread.
func TestNewThreadFPState(t *testing.T) {
	a := newThreadsApp(t, 2)
	regs := apptest.InitialRegs()
	regs.Rip = apptest.CodeAddr + progLoop
	regs.Rsp = apptest.StacksAddr + 64
	a.switchOK(t, &regs)
	fp, _ := a.ctx.FPState()
	const xmm0 = 160
	binary.LittleEndian.PutUint64(fp[xmm0:], 0x5566778899aabbcc)
	if len(fp) > 512 {
		fp[512] |= 2 // XSTATE_BV: SSE state present
	}
	release := make(chan struct{})
	defer close(release)
	var got uint64
	var err error
	<-onThread(a, true, release, func(ctx *Context) {
		if err = ctx.SetFPState(fp); err != nil {
			return
		}
		r := apptest.InitialRegs()
		r.Rip = apptest.CodeAddr + progReadXmm0
		r.Rsp = apptest.StacksAddr + pageSize + 64
		if _, err = ctx.Switch(a.as, &r); err == nil {
			got = r.Rsi
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if got != 0x5566778899aabbcc {
		t.Errorf("new thread saw xmm0 = %#x", got)
	}
}

// TestThreadInterrupt interrupts one spinning thread while another keeps
// making system calls.
func TestThreadInterrupt(t *testing.T) {
	a := newThreadsApp(t, 2)
	release := make(chan struct{})
	defer close(release)
	spinning := make(chan *Context, 1)
	var spinEv platform.Event
	var spinErr error
	spinDone := onThread(a, true, release, func(ctx *Context) {
		spinning <- ctx
		r := apptest.InitialRegs()
		r.Rip = apptest.CodeAddr + progSpin
		r.Rsp = apptest.StacksAddr + 64
		spinEv, spinErr = ctx.Switch(a.as, &r)
	})
	ctx := <-spinning
	regs := apptest.InitialRegs()
	regs.Rip = apptest.CodeAddr + progLoop
	regs.Rsp = apptest.StacksAddr + pageSize + 64
	for i := 0; i < 100; i++ {
		if ev := a.switchOK(t, &regs); ev.Kind != platform.EventSyscall {
			t.Fatalf("got %+v", ev)
		}
	}
	ctx.Interrupt()
	<-spinDone
	if spinErr != nil || spinEv.Kind != platform.EventInterrupted {
		t.Fatalf("spinning thread: %+v %v", spinEv, spinErr)
	}
}

// BenchmarkNewThread measures a new thread's first Switch (clone from the
// leader, attach, run to a system call) plus its release.
func BenchmarkNewThread(b *testing.B) {
	a := newThreadsApp(b, 1)
	release := make(chan struct{})
	defer close(release)
	var lat []time.Duration
	<-onThread(a, false, release, func(ctx *Context) {
		lat = make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			regs := apptest.InitialRegs()
			regs.Rip = apptest.CodeAddr + progLoop
			regs.Rsp = apptest.StacksAddr + 64
			if ev, err := ctx.Switch(a.as, &regs); err != nil || ev.Kind != platform.EventSyscall {
				b.Errorf("%+v %v", ev, err)
				return
			}
			lat = append(lat, time.Since(start))
			ctx.Release()
		}
		b.StopTimer()
	})
	if len(lat) == b.N {
		reportPercentiles(b, lat)
	}
}
