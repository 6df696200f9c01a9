//go:build linux && amd64

package ptrace

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/internal/apptest"
)

// TestThreadsCreateRelease creates and releases 100 threads, 4 at a time,
// and checks that slots and host threads are recycled.
func TestThreadsCreateRelease(t *testing.T) {
	a := newTestApp(t, apptest.ThreadsCode())
	release := make(chan struct{})
	defer close(release)
	// A long-lived thread that keeps running throughout.
	stop := make(chan struct{})
	var bgErr error
	bgDone := a.OnThread(t, true, release, func(ctx platform.Context) {
		regs := apptest.ThreadRegs(4, apptest.ProgLoop)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := ctx.Switch(a.Space, &regs); err != nil {
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
		a.OnThread(t, false, release, func(ctx platform.Context) {
			defer func() { ctx.Release(); <-sem; wg.Done() }()
			regs := apptest.ThreadRegs(slot, apptest.ProgLoop)
			regs.Rdi = uint64(i)
			ev, err := ctx.Switch(a.Space, &regs)
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
	if got := apptest.WaitTasks(a.Space.pid, 1); got != 1 {
		ents, _ := os.ReadDir("/proc/" + strconv.Itoa(a.Space.pid) + "/task")
		for _, e := range ents {
			st, _ := os.ReadFile("/proc/" + strconv.Itoa(a.Space.pid) + "/task/" + e.Name() + "/stat")
			sc, _ := os.ReadFile("/proc/" + strconv.Itoa(a.Space.pid) + "/task/" + e.Name() + "/syscall")
			t.Logf("%s: %s %s", e.Name(), st, sc)
		}
		a.Space.mu.Lock()
		for tr, th := range a.Space.threads {
			t.Logf("tracer %d: %+v", tr, th)
		}
		a.Space.mu.Unlock()
		t.Errorf("stub has %d threads after all released, want 1", got)
	}
	a.Space.mu.Lock()
	next := a.Space.nextSlot
	a.Space.mu.Unlock()
	if next > 1+5+1 {
		t.Errorf("used %d slots for at most 5 concurrent threads", next-1)
	}
}

// BenchmarkNewThread measures a new thread's first Switch (clone from the
// leader, attach, run to a system call) plus its release.
func BenchmarkNewThread(b *testing.B) {
	a := newTestApp(b, apptest.ThreadsCode())
	release := make(chan struct{})
	defer close(release)
	var lat []time.Duration
	<-a.OnThread(b, false, release, func(ctx platform.Context) {
		lat = make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			regs := apptest.ThreadRegs(0, apptest.ProgLoop)
			if ev, err := ctx.Switch(a.Space, &regs); err != nil || ev.Kind != platform.EventSyscall {
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
