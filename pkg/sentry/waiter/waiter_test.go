package waiter

import (
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// countingWaker counts its Wake calls.
type countingWaker struct{ n int }

func (w *countingWaker) Wake() { w.n++ }

func TestWakerEntry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mask   EventMask
		events EventMask
		want   int
	}{
		{"matching event", ReadableEvents, EventIn, 1},
		{"other event", ReadableEvents, EventOut, 0},
		{"hang-up always reported", EventIn, EventHUp, 1},
		{"error always reported", EventOut, EventErr, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var q Queue
			w := &countingWaker{}
			e := NewWakerEntry(tc.mask, w)
			q.EventRegister(e)
			q.Notify(tc.events)
			if w.n != tc.want {
				t.Fatalf("Notify(%#x) on an entry for %#x: %d wake-ups, want %d", tc.events, tc.mask, w.n, tc.want)
			}
			q.EventUnregister(e)
			q.Notify(tc.events)
			if w.n != tc.want {
				t.Fatalf("Notify after EventUnregister woke the waker")
			}
		})
	}
}

// fakeBlocker is a Blocker whose Block returns a set result and counts
// its Wake calls.
type fakeBlocker struct {
	countingWaker
	result error
}

func (b *fakeBlocker) Interrupted() <-chan struct{}   { return nil }
func (b *fakeBlocker) Block(deadline time.Time) error { return b.result }

// chanCtx is a Context that is not a Blocker.
type chanCtx struct{ intr chan struct{} }

func (c chanCtx) Interrupted() <-chan struct{} { return c.intr }

func TestCondBlocker(t *testing.T) {
	var c Cond
	b := &fakeBlocker{}
	c.Prepare(b)
	c.Prepare(b) // a second wait before any Broadcast registers once
	c.Broadcast()
	if b.n != 1 {
		t.Fatalf("Broadcast woke the task %d times, want 1", b.n)
	}
	c.Broadcast()
	if b.n != 1 {
		t.Fatalf("a second Broadcast woke a task that had not prepared again")
	}
	for _, tc := range []struct {
		block error
		want  error
	}{
		{nil, nil},
		{unix.ETIMEDOUT, unix.ETIMEDOUT},
		{errors.New("task interrupted"), ErrInterrupted},
	} {
		b.result = tc.block
		if got := c.Prepare(b).Wait(time.Time{}); got != tc.want {
			t.Errorf("Wait with Block returning %v = %v, want %v", tc.block, got, tc.want)
		}
	}
}

func TestSleepChannel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		wake     func(*Cond, chanCtx)
		deadline time.Time
		want     error
	}{
		{"broadcast", func(c *Cond, _ chanCtx) { c.Broadcast() }, time.Time{}, nil},
		{"interrupted", func(_ *Cond, x chanCtx) { x.intr <- struct{}{} }, time.Time{}, ErrInterrupted},
		{"interrupt wins over broadcast", func(c *Cond, x chanCtx) { c.Broadcast(); x.intr <- struct{}{} }, time.Time{}, ErrInterrupted},
		{"deadline passed", func(*Cond, chanCtx) {}, time.Now().Add(-time.Second), unix.ETIMEDOUT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c Cond
			x := chanCtx{intr: make(chan struct{}, 1)}
			s := c.Prepare(x)
			tc.wake(&c, x)
			if got := s.Wait(tc.deadline); got != tc.want {
				t.Fatalf("Wait = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestEntryFor(t *testing.T) {
	var q Queue
	x := chanCtx{intr: make(chan struct{}, 1)}
	e, s := EntryFor(x, EventIn)
	q.EventRegister(e)
	q.Notify(EventIn)
	if err := s.Wait(time.Time{}); err != nil {
		t.Fatalf("Wait after Notify = %v, want nil", err)
	}
	b := &fakeBlocker{}
	e, _ = EntryFor(b, EventIn)
	q.EventRegister(e)
	q.Notify(EventIn)
	if b.n != 1 {
		t.Fatalf("Notify woke the task %d times, want 1", b.n)
	}
}

// TestCondTake: Take empties the Cond of every kind of waiter, Wake wakes
// exactly those, and a waiter prepared after Take waits for the next one.
func TestCondTake(t *testing.T) {
	for _, tasks := range []int{0, 1, 3} {
		var c Cond
		bs := make([]*fakeBlocker, tasks)
		for i := range bs {
			bs[i] = &fakeBlocker{}
			c.Prepare(bs[i])
		}
		x := chanCtx{intr: make(chan struct{})}
		s := c.Prepare(x)
		w := c.Take()
		late := &fakeBlocker{}
		c.Prepare(late)
		for i, b := range bs {
			if b.n != 0 {
				t.Fatalf("%d tasks: task %d woken by Take, before Wake", tasks, i)
			}
		}
		w.Wake()
		for i, b := range bs {
			if b.n != 1 {
				t.Errorf("%d tasks: task %d woken %d times, want 1", tasks, i, b.n)
			}
		}
		if got := s.Wait(time.Time{}); got != nil { // blocks forever if not woken
			t.Errorf("%d tasks: channel waiter after Wake: %v, want woken", tasks, got)
		}
		if late.n != 0 {
			t.Errorf("%d tasks: a task prepared after Take was woken by its Wake", tasks)
		}
		c.Broadcast()
		if late.n != 1 {
			t.Errorf("%d tasks: the next Broadcast woke the late task %d times, want 1", tasks, late.n)
		}
	}
}
