//go:build linux && amd64

package apptest

import (
	"encoding/binary"
	"runtime"
	"sync"
	"testing"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
)

// PageSize is the host page size the test applications are laid out in.
const PageSize = 4096

// Offsets of the programs in ThreadsCode.
const (
	ProgLoop      = 0     // ThreadLoop
	ProgWriteRO   = 0x100 // mov edi, ROAddr; mov [rdi], rsi
	ProgExecData  = 0x200 // mov edi, DataAddr; jmp rdi
	ProgSpin      = 0x300 // jmp .
	ProgReadXmm0  = 0x400 // movq rsi, xmm0; syscall
	ProgWriteHole = 0x500 // mov edi, HoleAddr; mov [rdi], rsi; syscall
)

// ThreadsCode is a code page of several programs, at the Prog* offsets,
// for tests whose threads run different code; the rest of the page is
// int3.
func ThreadsCode() []byte {
	code := make([]byte, PageSize)
	for i := range code {
		code[i] = Int3[0]
	}
	copy(code[ProgLoop:], ThreadLoop)
	copy(code[ProgWriteRO:], Cat(MovEDI(ROAddr), Store))
	copy(code[ProgExecData:], Cat(MovEDI(DataAddr), JmpRDI))
	copy(code[ProgSpin:], JmpSelf)
	copy(code[ProgReadXmm0:], Cat(Xmm0RSI, Syscall))
	copy(code[ProgWriteHole:], Cat(MovEDI(HoleAddr), Store, Syscall))
	return code
}

// markOff is where SpinCode leaves its mark, in the data page.
const markOff = 0x400

// SpinCode stores 1 in the data page and then spins
// at SpinRIP: a test that must act on running application code waits for
// the mark instead of sleeping (see SwitchSpinning).
var SpinCode = Cat(MovEDI(DataAddr+markOff), MovESI(1), Store, JmpSelf)

// SpinRIP is the address of SpinCode's spin loop.
const SpinRIP = CodeAddr + 13

// NewPlatform returns a platform under test over the memory file memfd,
// configured for tests; it may skip t.
type NewPlatform func(t testing.TB, memfd int) platform.Platform

// App is a tiny application run by a platform under test: code at CodeAddr
// (r-x), a data and stack page at DataAddr (rw-), a read-only page at
// ROAddr and 64 thread stack pages at StacksAddr, all in a memory file Mem.
// Its address space goes away with the test.
type App struct {
	P   platform.Platform
	AS  platform.AddressSpace
	Ctx platform.Context
	Mem []byte

	release sync.Once
}

// NewApp starts an application running code on the platform newPlatform
// returns.
func NewApp(t testing.TB, newPlatform NewPlatform, code []byte) *App {
	t.Helper()
	fd, mem := NewMemFile(t)
	copy(mem[CodeOff:], code)
	p := newPlatform(t, fd)
	as, err := p.NewAddressSpace()
	if err != nil {
		t.Fatalf("NewAddressSpace: %v", err)
	}
	a := &App{P: p, AS: as, Mem: mem}
	t.Cleanup(a.Release)
	if a.Ctx, err = p.NewContext(); err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	for _, m := range []struct {
		addr   uintptr
		off    int64
		length uintptr
		at     platform.AccessType
	}{
		{CodeAddr, CodeOff, PageSize, platform.ReadExec},
		{DataAddr, DataOff, PageSize, platform.ReadWrite},
		{ROAddr, ROOff, PageSize, platform.Read},
		{StacksAddr, StacksOff, 64 * PageSize, platform.ReadWrite},
	} {
		if err := as.MapFile(m.addr, m.off, m.length, m.at); err != nil {
			t.Fatalf("MapFile(%#x): %v", m.addr, err)
		}
	}
	return a
}

// Typed is an App with its parts in their platform's own types, for the
// platform's own tests.
type Typed[P platform.Platform, S platform.AddressSpace, C platform.Context] struct {
	*App
	Plat    P
	Space   S
	Context C
}

// NewTyped is NewApp for a platform whose platform, address space and
// context types are P, S and C.
func NewTyped[P platform.Platform, S platform.AddressSpace, C platform.Context](t testing.TB, newPlatform NewPlatform, code []byte) *Typed[P, S, C] {
	t.Helper()
	a := NewApp(t, newPlatform, code)
	return &Typed[P, S, C]{App: a, Plat: a.P.(P), Space: a.AS.(S), Context: a.Ctx.(C)}
}

// RunOnce maps the code page and the first stack page in as (an address
// space of p, whose code starts with a system call, as ThreadLoop does)
// and runs it to its first system call on a new context, which it then
// releases.
func RunOnce(t testing.TB, p platform.Platform, as platform.AddressSpace) {
	t.Helper()
	if err := as.MapFile(CodeAddr, CodeOff, PageSize, platform.ReadExec); err != nil {
		t.Fatal(err)
	}
	if err := as.MapFile(StacksAddr, StacksOff, PageSize, platform.ReadWrite); err != nil {
		t.Fatal(err)
	}
	c, err := p.NewContext()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Release()
	regs := ThreadRegs(0, ProgLoop)
	if ev, err := c.Switch(as, &regs); err != nil || ev.Kind != platform.EventSyscall {
		t.Fatalf("got %+v %v, want a system call", ev, err)
	}
}

// Release releases the application's address space, once however often
// it is called.
func (a *App) Release() { a.release.Do(a.AS.Release) }

// SwitchOK runs the application on its first context and fails t if the
// platform reports an error.
func (a *App) SwitchOK(t testing.TB, regs *platform.Registers) platform.Event {
	t.Helper()
	ev, err := a.Ctx.Switch(a.AS, regs)
	if err != nil {
		t.Fatalf("Switch: %v", err)
	}
	return ev
}

// SwitchSpinning runs the application, which must run SpinCode, on its
// first context; once it spins, act runs on another goroutine (and should
// end the Switch, by interrupting it or killing the stub). It returns what
// Switch returned, after act returned (or was never called, if the
// application did not reach its loop).
func (a *App) SwitchSpinning(regs *platform.Registers, act func()) (platform.Event, error) {
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for binary.LittleEndian.Uint64(a.Mem[DataOff+markOff:]) == 0 {
			select {
			case <-stop:
				return
			default:
				runtime.Gosched()
			}
		}
		act()
	}()
	ev, err := a.Ctx.Switch(a.AS, regs)
	close(stop)
	<-done
	return ev, err
}

// ThreadRegs are the registers of the application's thread i running the
// program at offset prog of the code page, on stack page i.
func ThreadRegs(i int, prog uint64) platform.Registers {
	r := InitialRegs()
	r.Rip = CodeAddr + prog
	r.Rsp = uint64(StacksAddr + i*PageSize + 64)
	return r
}

// OnThread runs f on a new goroutine locked to its own OS thread, with a
// new context of the application, and returns a channel closed once f
// returned (after releasing the context if releaseCtx). The goroutine, and
// with it its thread, exits when release is closed.
func (a *App) OnThread(t testing.TB, releaseCtx bool, release <-chan struct{}, f func(ctx platform.Context)) <-chan struct{} {
	ctx, err := a.P.NewContext()
	if err != nil {
		t.Fatalf("NewContext: %v", err)
	}
	done := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		f(ctx)
		if releaseCtx {
			ctx.Release()
		}
		close(done)
		<-release
	}()
	return done
}

// WaitTasks waits up to a second for process pid to have want threads
// (released stub threads exit asynchronously) and returns how many it has.
func WaitTasks(pid, want int) int {
	deadline := time.Now().Add(time.Second)
	for {
		n := Tasks(pid)
		if n == want || time.Now().After(deadline) {
			return n
		}
		time.Sleep(time.Millisecond)
	}
}
