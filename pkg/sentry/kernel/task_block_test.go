package kernel

import (
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newSleeper returns a task with just what Block and Wake use: it sleeps
// on a host futex word, or parks on its wake channel (as with a platform
// whose contexts migrate).
func newSleeper(parked bool) *Task {
	t := &Task{interrupt: make(chan struct{}, 1)}
	if parked {
		t.wakeCh = make(chan struct{}, 1)
	}
	return t
}

// sleepModes runs f for each way a task sleeps.
func sleepModes(t *testing.T, f func(t *testing.T, parked bool)) {
	for _, m := range []struct {
		name   string
		parked bool
	}{{"futex", false}, {"parked", true}} {
		t.Run(m.name, func(t *testing.T) { f(t, m.parked) })
	}
}

// interrupt does what Task.Interrupt does to a blocked task (without a
// platform context): the token, then the wake-up.
func interrupt(t *Task) {
	select {
	case t.interrupt <- struct{}{}:
	default:
	}
	t.Wake()
}

// guard waits for ch, failing after a generous bound (a hang detector for
// a lost wake-up, not synchronisation).
func guard(t *testing.T, ch <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(20 * time.Second):
		t.Fatalf("%s: no return (lost wake-up)", what)
		return nil
	}
}

func TestBlockReturns(t *testing.T) {
	sleepModes(t, func(t *testing.T, parked bool) {
		past := time.Now().Add(-time.Second)
		for _, tc := range []struct {
			name     string
			before   func(*Task) // run before Block
			deadline time.Time
			want     error
		}{
			{"pending wake", (*Task).Wake, time.Time{}, nil},
			{"pending wake beats an expired deadline", (*Task).Wake, past, nil},
			{"expired deadline", func(*Task) {}, past, unix.ETIMEDOUT},
			{"short deadline", func(*Task) {}, time.Now().Add(time.Millisecond), unix.ETIMEDOUT},
			{"pending interrupt", interrupt, time.Time{}, ErrInterrupted},
			{"interrupt beats a wake", func(t *Task) { t.Wake(); interrupt(t) }, time.Time{}, ErrInterrupted},
			{"interrupt beats an expired deadline", interrupt, past, ErrInterrupted},
		} {
			t.Run(tc.name, func(t *testing.T) {
				task := newSleeper(parked)
				tc.before(task)
				if err := task.Block(tc.deadline); err != tc.want {
					t.Fatalf("Block: %v, want %v", err, tc.want)
				}
				if s := task.sleepState.Load(); s != sleepRunning {
					t.Errorf("sleepState after Block: %d, want %d (running)", s, sleepRunning)
				}
			})
		}
	})
}

func TestBlockConsumesOneWake(t *testing.T) {
	sleepModes(t, func(t *testing.T, parked bool) {
		task := newSleeper(parked)
		task.Wake()
		task.Wake()
		if err := task.Block(time.Time{}); err != nil {
			t.Fatalf("first Block: %v", err)
		}
		if err := task.Block(time.Now().Add(time.Millisecond)); err != unix.ETIMEDOUT {
			t.Fatalf("second Block: %v, want ETIMEDOUT (wake-ups do not accumulate)", err)
		}
	})
}

func TestBlockWokenWhileAsleep(t *testing.T) {
	sleepModes(t, func(t *testing.T, parked bool) {
		for _, tc := range []struct {
			name string
			end  func(*Task)
			want error
		}{
			{"wake", (*Task).Wake, nil},
			{"interrupt", interrupt, ErrInterrupted},
		} {
			t.Run(tc.name, func(t *testing.T) {
				task := newSleeper(parked)
				done := make(chan error, 1)
				go func() {
					if !parked {
						runtime.LockOSThread() // as a task goroutine is
						defer runtime.UnlockOSThread()
					}
					done <- task.Block(time.Time{})
				}()
				// Wait until the sleeper has announced its sleep, so
				// that the wake-up goes through FUTEX_WAKE or the
				// wake channel.
				for task.sleepState.Load() != sleepAsleep {
					runtime.Gosched()
				}
				tc.end(task)
				if err := guard(t, done, "Block"); err != tc.want {
					t.Fatalf("Block: %v, want %v", err, tc.want)
				}
			})
		}
	})
}

// TestBlockDeadlinesInTurn has one sleeper time out, be woken before its
// deadline, and time out again (a parked task reuses its timer).
func TestBlockDeadlinesInTurn(t *testing.T) {
	sleepModes(t, func(t *testing.T, parked bool) {
		task := newSleeper(parked)
		for i, step := range []struct {
			wake bool
			wait time.Duration
			want error
		}{
			{false, time.Millisecond, unix.ETIMEDOUT},
			{true, time.Hour, nil},
			{false, time.Millisecond, unix.ETIMEDOUT},
			{false, 2 * time.Millisecond, unix.ETIMEDOUT},
		} {
			if step.wake {
				task.Wake()
			}
			if err := task.Block(time.Now().Add(step.wait)); err != step.want {
				t.Fatalf("step %d: Block: %v, want %v", i, err, step.want)
			}
		}
	})
}

// TestBlockPingPong bounces a turn between two sleepers (on locked threads
// if they sleep on futex words), each sleeping until it holds the turn: a
// lost wake-up hangs it.
func TestBlockPingPong(t *testing.T) {
	sleepModes(t, func(t *testing.T, parked bool) {
		const rounds = 20000
		var turn atomic.Int32 // the index of the player to move
		players := [2]*Task{newSleeper(parked), newSleeper(parked)}
		done := make(chan error, 2)
		for me := range players {
			go func() {
				if !parked {
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
				}
				peer := 1 - me
				for range rounds {
					for turn.Load() != int32(me) {
						if err := players[me].Block(time.Time{}); err != nil {
							done <- err
							return
						}
					}
					turn.Store(int32(peer))
					players[peer].Wake()
				}
				done <- nil
			}()
		}
		for range players {
			if err := guard(t, done, "ping-pong"); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkWakeRoundTrip compares a round trip between two goroutines
// locked to their threads, as task goroutines are: each sleeps until the
// other wakes it, through Task.Block/Wake (a host futex word per task) or
// through channels (the Go scheduler's hand-off to a locked thread).
func BenchmarkWakeRoundTrip(b *testing.B) {
	b.Run("futex", func(b *testing.B) {
		var turn atomic.Int32
		players := [2]*Task{newSleeper(false), newSleeper(false)}
		pingPong(b, func(me int) {
			for turn.Load() != int32(me) {
				players[me].Block(time.Time{})
			}
		}, func(peer int) {
			turn.Store(int32(peer))
			players[peer].Wake()
		})
	})
	b.Run("channel", func(b *testing.B) {
		chs := [2]chan struct{}{make(chan struct{}, 1), make(chan struct{}, 1)}
		chs[0] <- struct{}{}
		pingPong(b, func(me int) { <-chs[me] }, func(peer int) { chs[peer] <- struct{}{} })
	})
}

// pingPong runs b.N round trips between players 0 and 1 on locked
// threads: each waits for its turn and passes it on.
func pingPong(b *testing.B, wait func(me int), pass func(peer int)) {
	done := make(chan struct{}, 2)
	b.ResetTimer()
	for me := range 2 {
		go func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for range b.N {
				wait(me)
				pass(1 - me)
			}
			done <- struct{}{}
		}()
	}
	<-done
	<-done
}
