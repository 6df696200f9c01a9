package transport

import (
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/waiter"
)

// testCtx is a vfs.Context that is never interrupted.
type testCtx struct{ ch chan struct{} }

func (testCtx) Credentials() *auth.Credentials       { return auth.NewUser(0, 0, nil) }
func (testCtx) CopyIn(uintptr, []byte) (int, error)  { return 0, unix.EFAULT }
func (testCtx) CopyOut(uintptr, []byte) (int, error) { return 0, unix.EFAULT }
func (c testCtx) Interrupted() <-chan struct{}       { return c.ch }

var nb = Wait{Nonblock: true}

func TestStreamReadiness(t *testing.T) {
	ctx := testCtx{make(chan struct{})}
	all := waiter.ReadableEvents | waiter.WritableEvents | waiter.EventRdHUp
	for _, tc := range []struct {
		name  string
		setup func(a, b *Endpoint)
		want  waiter.EventMask // of b
	}{
		{"idle", func(a, b *Endpoint) {}, waiter.WritableEvents},
		{"data", func(a, b *Endpoint) { a.Write(ctx, nil, []byte("x"), Control{}, nil, nb) }, waiter.WritableEvents | waiter.ReadableEvents},
		{"peer shut write", func(a, b *Endpoint) { a.Shutdown(false, true) }, all},
		{"both shut", func(a, b *Endpoint) { b.Shutdown(true, true) }, all | waiter.EventHUp},
		{"peer closed", func(a, b *Endpoint) { a.Close() }, all | waiter.EventHUp},
		{"peer closed unread", func(a, b *Endpoint) {
			b.Write(ctx, nil, []byte("x"), Control{}, nil, nb)
			a.Close()
		}, all | waiter.EventHUp | waiter.EventErr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, b := NewEndpoint(unix.SOCK_STREAM, false), NewEndpoint(unix.SOCK_STREAM, false)
			Pair(a, b)
			tc.setup(a, b)
			if got := b.Readiness(all); got != tc.want {
				t.Errorf("readiness %#x, want %#x", got, tc.want)
			}
		})
	}
}

func TestStreamFillsAndDrains(t *testing.T) {
	ctx := testCtx{make(chan struct{})}
	a, b := NewEndpoint(unix.SOCK_STREAM, false), NewEndpoint(unix.SOCK_STREAM, false)
	Pair(a, b)
	a.SetSndBuf(MinSndBuf / 2)
	buf := make([]byte, 3*MinSndBuf)
	n, err := a.Write(ctx, nil, buf, Control{}, nil, nb)
	if err != nil || n != MinSndBuf {
		t.Fatalf("write = %d, %v; want %d", n, err, MinSndBuf)
	}
	if _, err := a.Write(ctx, nil, buf, Control{}, nil, nb); err != unix.EAGAIN {
		t.Fatalf("full write: %v, want EAGAIN", err)
	}
	if a.Readiness(waiter.WritableEvents) != 0 {
		t.Errorf("full endpoint is writable")
	}
	r, err := b.Read(ctx, buf, ReadOptions{Wait: nb})
	if err != nil || r.N != MinSndBuf {
		t.Fatalf("read = %d, %v", r.N, err)
	}
	if a.Readiness(waiter.WritableEvents) == 0 {
		t.Errorf("drained endpoint is not writable")
	}
}

func TestInterruptedReadRestarts(t *testing.T) {
	ctx := testCtx{make(chan struct{})}
	close(ctx.ch)
	a, b := NewEndpoint(unix.SOCK_STREAM, false), NewEndpoint(unix.SOCK_STREAM, false)
	Pair(a, b)
	if _, err := b.Read(ctx, make([]byte, 1), ReadOptions{}); err == nil || err == unix.EAGAIN {
		t.Fatalf("read: %v, want a restart errno", err)
	}
}
