//go:build linux && amd64

package stubproc

import (
	"runtime"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestCurrentCPU checks each way of reading the CPU against getcpu(2), with
// the thread pinned so that it cannot move in between.
func TestCurrentCPU(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		t.Fatal(err)
	}
	defer unix.SchedSetaffinity(0, &old)
	ways := map[string]func() int{"CurrentCPU": CurrentCPU}
	if hasRDPID {
		ways["rdpid"] = func() int { return int(rdpid() & 0xfff) }
	}
	if hasRDTSCP {
		ways["rdtscp"] = func() int { return int(rdtscpAux() & 0xfff) }
	}
	for cpu := 0; cpu < runtime.NumCPU(); cpu++ {
		if !old.IsSet(cpu) {
			continue
		}
		var set unix.CPUSet
		set.Set(cpu)
		if err := unix.SchedSetaffinity(0, &set); err != nil {
			t.Fatal(err)
		}
		for name, f := range ways {
			if got := f(); got != cpu || getcpuSyscall() != cpu {
				t.Errorf("pinned to %d: %s says %d, getcpu(2) %d", cpu, name, got, getcpuSyscall())
			}
		}
	}
}

// TestForkEntry forks a child whose entry point is exit_group(r13) in
// machine code and checks the exit status: the child got r13, ran no Go
// code, and the parent's signal mask survived.
func TestForkEntry(t *testing.T) {
	// mov rdi, r13; mov eax, 231 (exit_group); syscall
	code := []byte{0x4c, 0x89, 0xef, 0xb8, 231, 0, 0, 0, 0x0f, 0x05}
	mem, err := unix.Mmap(-1, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(mem)
	copy(mem, code)
	if err := unix.Mprotect(mem, unix.PROT_READ|unix.PROT_EXEC); err != nil {
		t.Fatal(err)
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var before, after unix.Sigset_t
	unix.PthreadSigmask(0, nil, &before)
	pid, err := Fork(uintptr(unsafe.Pointer(&mem[0])), 0, 42, 0)
	if err != nil {
		t.Fatal(err)
	}
	unix.PthreadSigmask(0, nil, &after)
	if before != after {
		t.Errorf("signal mask %v before Fork, %v after", before, after)
	}
	var ws unix.WaitStatus
	if _, err := unix.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !ws.Exited() || ws.ExitStatus() != 42 {
		t.Errorf("child status %v, want exit 42", ws)
	}
}

func BenchmarkCurrentCPU(b *testing.B) {
	b.Run("instruction", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			CurrentCPU()
		}
	})
	b.Run("syscall", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			getcpuSyscall()
		}
	})
}

// TestTicks: the time stamp counter moves forward, and at a rate within a
// factor of 100 of 1 GHz (any x86-64 CPU made this century).
func TestTicks(t *testing.T) {
	t0, c0 := time.Now(), Ticks()
	PauseLoop(100000)
	ns, ticks := time.Since(t0), Ticks()-c0
	if int64(ticks) <= 0 {
		t.Fatalf("Ticks went from %d by %d", c0, int64(ticks))
	}
	if r := float64(ticks) / float64(ns); r < 0.01 || r > 100 {
		t.Errorf("%d ticks in %v: %.3f per ns", ticks, ns, r)
	}
}
