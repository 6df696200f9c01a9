package waiter

import "testing"

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
