package inotify

import (
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

func TestEventSizes(t *testing.T) {
	for _, tc := range []struct {
		name string
		want int
	}{
		{"", 16},
		{"a", 32},
		{"fifteen-chars!!", 32},
		{"sixteen-chars!!!", 48},
	} {
		e := event{name: tc.name}
		if got := e.size(); got != tc.want {
			t.Errorf("size(%q) = %d, want %d", tc.name, got, tc.want)
		}
		if got := len(e.encode(nil)); got != tc.want {
			t.Errorf("len(encode(%q)) = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestQueue(t *testing.T) {
	f := New(unix.O_NONBLOCK)
	defer f.DecRef()
	in := f.Impl().(*Instance)
	w := &vfs.Watch{WD: 3}
	buf := make([]byte, 4096)
	for _, tc := range []struct {
		name   string
		events []event
		want   int // bytes read
		err    error
	}{
		{"empty", nil, 0, unix.EAGAIN},
		{"one", []event{{mask: unix.IN_MODIFY}}, 16, nil},
		{"repeats merge", []event{{mask: unix.IN_MODIFY}, {mask: unix.IN_MODIFY}}, 16, nil},
		{"different names stay", []event{{mask: unix.IN_CREATE, name: "a"}, {mask: unix.IN_CREATE, name: "b"}}, 64, nil},
	} {
		for _, e := range tc.events {
			in.Event(w, e.mask, e.cookie, e.name)
		}
		n, err := in.Read(nil, buf, 0)
		if n != tc.want || err != tc.err {
			t.Errorf("%s: read %d, %v; want %d, %v", tc.name, n, err, tc.want, tc.err)
		}
	}
	in.Event(w, unix.IN_CREATE, 0, "name")
	if _, err := in.Read(nil, buf[:16], 0); err != unix.EINVAL {
		t.Errorf("short buffer: %v, want EINVAL", err)
	}
}

func TestOverflow(t *testing.T) {
	f := New(unix.O_NONBLOCK)
	defer f.DecRef()
	in := f.Impl().(*Instance)
	w := &vfs.Watch{WD: 1}
	for i := 0; i < MaxQueuedEvents+10; i++ {
		in.Event(w, unix.IN_MODIFY, uint32(i), "")
	}
	if got := len(in.events); got != MaxQueuedEvents+1 {
		t.Fatalf("%d events queued, want %d", got, MaxQueuedEvents+1)
	}
	if last := in.events[len(in.events)-1]; last.mask != unix.IN_Q_OVERFLOW || last.wd != -1 {
		t.Errorf("last event %+v, want IN_Q_OVERFLOW on wd -1", last)
	}
}
