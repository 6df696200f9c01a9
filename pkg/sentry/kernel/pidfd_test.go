package kernel

import (
	"testing"

	"bufferzone.dev/pkg/sentry/waiter"
)

// newLoneGroup returns a process with no parent, children or tasks: just
// what groupExited and a pidfd use.
func newLoneGroup() *ThreadGroup {
	k := &Kernel{tasks: map[int32]*Task{}}
	return &ThreadGroup{k: k, pid: 2, exited: make(chan struct{}), children: map[*ThreadGroup]struct{}{}}
}

func TestPIDFDReadiness(t *testing.T) {
	for _, tc := range []struct {
		name   string
		exit   bool
		mask   waiter.EventMask
		want   waiter.EventMask
		notify bool
	}{
		{"alive", false, waiter.ReadableEvents | waiter.WritableEvents, 0, false},
		{"exited", true, waiter.ReadableEvents | waiter.WritableEvents, waiter.ReadableEvents, true},
		{"exited-write-only", true, waiter.WritableEvents, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg := newLoneGroup()
			f := NewPIDFD(tg, 0)
			defer f.DecRef()
			p := f.Impl().(*PIDFD)
			e, ch := waiter.NewChannelEntry(waiter.ReadableEvents)
			p.EventRegister(e)
			defer p.EventUnregister(e)
			if tc.exit {
				tg.groupExited()
			}
			if got := p.Readiness(tc.mask); got != tc.want {
				t.Errorf("Readiness(%#x) = %#x, want %#x", tc.mask, got, tc.want)
			}
			select {
			case <-ch:
				if !tc.notify {
					t.Error("waiter notified while the process lives")
				}
			default:
				if tc.notify {
					t.Error("waiter not notified by the exit")
				}
			}
			if tg.Exited() != tc.exit {
				t.Errorf("Exited() = %v, want %v", tg.Exited(), tc.exit)
			}
		})
	}
}
