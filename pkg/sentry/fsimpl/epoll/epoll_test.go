package epoll

import (
	"testing"

	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// fakeFile is a Waitable whose readiness the test sets.
type fakeFile struct {
	vfs.FileDefaults
	q     waiter.Queue
	ready waiter.EventMask
}

func (f *fakeFile) Readiness(m waiter.EventMask) waiter.EventMask { return f.ready & m }
func (f *fakeFile) EventRegister(e *waiter.Entry)                 { f.q.EventRegister(e) }
func (f *fakeFile) EventUnregister(e *waiter.Entry)               { f.q.EventUnregister(e) }

// set changes readiness and notifies, as a file does when data arrives.
func (f *fakeFile) set(m waiter.EventMask) {
	f.ready = m
	f.q.Notify(m)
}

func TestTriggering(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags uint32
		// steps: true = a new event arrives before the wait; want is the
		// number of events each wait returns.
		arrive []bool
		want   []int
	}{
		{"level", 0, []bool{true, false, false}, []int{1, 1, 1}},
		{"edge", EPOLLET, []bool{true, false, true}, []int{1, 0, 1}},
		{"oneshot", EPOLLONESHOT, []bool{true, false, true}, []int{1, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			epfd := New()
			defer epfd.DecRef()
			ep, _ := FromFile(epfd)
			f := &fakeFile{}
			fd := vfs.NewFileDescription(f, vfs.VirtualDentry{}, 0)
			if err := ep.Add(fd, 3, uint32(waiter.EventIn)|tc.flags, 99); err != nil {
				t.Fatal(err)
			}
			for i, a := range tc.arrive {
				if a {
					f.set(waiter.EventIn)
				}
				got := ep.Collect(8)
				if len(got) != tc.want[i] {
					t.Fatalf("wait %d: got %d events, want %d", i, len(got), tc.want[i])
				}
				if len(got) == 1 && got[0].Data != 99 {
					t.Fatalf("data %d, want 99", got[0].Data)
				}
			}
			fd.DecRef()
			f.set(waiter.EventIn)
			if got := ep.Collect(8); len(got) != 0 {
				t.Fatalf("released file still reported: %v", got)
			}
		})
	}
}

func TestNestingLimits(t *testing.T) {
	var eps []*EventPoll
	for i := 0; i < 6; i++ {
		f := New()
		defer f.DecRef()
		ep, _ := FromFile(f)
		eps = append(eps, ep)
		if i == 0 {
			continue
		}
		err := eps[i-1].Add(f, int32(i), uint32(waiter.EventIn), 0)
		if wantErr := i == 5; (err != nil) != wantErr {
			t.Fatalf("adding level %d: err %v", i, err)
		}
	}
}
