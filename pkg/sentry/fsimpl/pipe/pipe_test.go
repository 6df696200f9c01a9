package pipe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/syserr"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// testCtx is a vfs.Context whose interrupt channel the test controls and
// whose CopyOut records what was copied.
type testCtx struct {
	intr chan struct{}
	mu   sync.Mutex
	out  []byte
}

func newCtx() *testCtx { return &testCtx{intr: make(chan struct{})} }

func (c *testCtx) Credentials() *auth.Credentials      { return auth.NewUser(1000, 1000, nil) }
func (c *testCtx) CopyIn(uintptr, []byte) (int, error) { return 0, unix.EFAULT }
func (c *testCtx) Interrupted() <-chan struct{}        { return c.intr }
func (c *testCtx) interrupt()                          { close(c.intr) }
func (c *testCtx) copied() []byte                      { c.mu.Lock(); defer c.mu.Unlock(); return c.out }
func (c *testCtx) CopyOut(_ uintptr, b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.out = append([]byte(nil), b...)
	return len(b), nil
}

// guard fails the test if ch does not deliver within a generous bound; it
// is a hang detector, not synchronisation.
func guard[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: timed out", what)
		panic("unreachable")
	}
}

type result struct {
	n   int
	err error
}

func TestOrderAndEOF(t *testing.T) {
	for _, tc := range []struct {
		name   string
		writes []string
		bufLen int
	}{
		{"single", []string{"hello"}, 100},
		{"several", []string{"a", "bc", "def"}, 100},
		{"small reads", []string{"abcdefghij", "klmnop"}, 3},
		{"empty write", []string{"", "x"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx()
			r, w := NewPipe(ctx, 0, 0)
			var want []byte
			for _, s := range tc.writes {
				n, err := w.Write(ctx, []byte(s))
				if err != nil || n != len(s) {
					t.Fatalf("Write(%q) = %d, %v", s, n, err)
				}
				want = append(want, s...)
			}
			w.DecRef()
			var got []byte
			buf := make([]byte, tc.bufLen)
			for {
				n, err := r.Read(ctx, buf)
				if err != nil {
					t.Fatalf("Read: %v", err)
				}
				if n == 0 {
					break
				}
				got = append(got, buf[:n]...)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("read %q, want %q", got, want)
			}
			r.DecRef()
		})
	}
}

func TestEPIPE(t *testing.T) {
	ctx := newCtx()
	r, w := NewPipe(ctx, 0, 0)
	r.DecRef()
	if n, err := w.Write(ctx, []byte("x")); n != 0 || err != ErrBrokenPipe {
		t.Fatalf("Write with no reader = %d, %v, want EPIPE", n, err)
	}
	w.DecRef()
}

func TestReleaseWakesOtherSide(t *testing.T) {
	for _, tc := range []struct {
		name    string
		block   func(ctx *testCtx, r, w *vfs.FileDescription) (int, error)
		release func(r, w *vfs.FileDescription)
		wantErr error
	}{
		{
			name:    "reader sees EOF",
			block:   func(ctx *testCtx, r, w *vfs.FileDescription) (int, error) { return r.Read(ctx, make([]byte, 10)) },
			release: func(r, w *vfs.FileDescription) { w.DecRef() },
		},
		{
			name: "writer sees EPIPE",
			block: func(ctx *testCtx, r, w *vfs.FileDescription) (int, error) {
				if _, err := w.Write(ctx, make([]byte, DefaultCapacity)); err != nil {
					return 0, err
				}
				return w.Write(ctx, []byte("more"))
			},
			release: func(r, w *vfs.FileDescription) { r.DecRef() },
			wantErr: unix.EPIPE,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx()
			r, w := NewPipe(ctx, 0, 0)
			done := make(chan result, 1)
			go func() {
				n, err := tc.block(ctx, r, w)
				done <- result{n, err}
			}()
			tc.release(r, w)
			res := guard(t, done, "blocked operation")
			if res.n != 0 || res.err != tc.wantErr {
				t.Fatalf("got %d, %v; want 0, %v", res.n, res.err, tc.wantErr)
			}
		})
	}
}

func TestAtomicSmallWrites(t *testing.T) {
	const writers, records = 8, 200
	ctx := newCtx()
	r, w := NewPipe(ctx, 0, 0)
	var wg sync.WaitGroup
	for id := 0; id < writers; id++ {
		w.IncRef()
		wg.Add(1)
		go func(id byte) {
			defer wg.Done()
			defer w.DecRef()
			rec := bytes.Repeat([]byte{id}, PipeBuf)
			for i := 0; i < records; i++ {
				if n, err := w.Write(ctx, rec); n != PipeBuf || err != nil {
					t.Errorf("writer %d: Write = %d, %v", id, n, err)
					return
				}
			}
		}(byte(id + 1))
	}
	w.DecRef()
	// Read in chunks that do not divide the record size.
	var stream []byte
	buf := make([]byte, 1000)
	for {
		n, err := r.Read(ctx, buf)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if n == 0 {
			break
		}
		stream = append(stream, buf[:n]...)
	}
	wg.Wait()
	if len(stream) != writers*records*PipeBuf {
		t.Fatalf("read %d bytes, want %d", len(stream), writers*records*PipeBuf)
	}
	counts := map[byte]int{}
	for off := 0; off < len(stream); off += PipeBuf {
		rec := stream[off : off+PipeBuf]
		if !bytes.Equal(rec, bytes.Repeat(rec[:1], PipeBuf)) {
			t.Fatalf("record at %d is interleaved", off)
		}
		counts[rec[0]]++
	}
	for id := byte(1); id <= writers; id++ {
		if counts[id] != records {
			t.Errorf("writer %d: %d records, want %d", id, counts[id], records)
		}
	}
}

func TestLargeWriteContinues(t *testing.T) {
	ctx := newCtx()
	r, w := NewPipe(ctx, 0, 0)
	want := make([]byte, 5*DefaultCapacity+123)
	for i := range want {
		want[i] = byte(i * 7)
	}
	done := make(chan result, 1)
	go func() {
		n, err := w.Write(ctx, want)
		w.DecRef()
		done <- result{n, err}
	}()
	var got []byte
	buf := make([]byte, 3000)
	for {
		n, err := r.Read(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		got = append(got, buf[:n]...)
	}
	if res := guard(t, done, "write"); res.n != len(want) || res.err != nil {
		t.Fatalf("Write = %d, %v", res.n, res.err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("data differs")
	}
}

func TestNonblocking(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prefill int // bytes written before the test write
		write   int // 0 means test a read instead
		wantN   int
		wantErr error
	}{
		{name: "read empty", wantErr: unix.EAGAIN},
		{name: "read data", prefill: 10, wantN: 10},
		{name: "write full", prefill: DefaultCapacity, write: 1, wantErr: unix.EAGAIN},
		{name: "atomic write lacking room", prefill: DefaultCapacity - 100, write: 200, wantErr: unix.EAGAIN},
		{name: "atomic write fits", prefill: DefaultCapacity - 200, write: 200, wantN: 200},
		{name: "large write partial", prefill: DefaultCapacity - 100, write: 2 * PipeBuf, wantN: 100},
		{name: "large write full pipe", prefill: DefaultCapacity, write: 2 * PipeBuf, wantErr: unix.EAGAIN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx()
			// Created blocking; F_SETFL must take effect on the live ends.
			r, w := NewPipe(ctx, 0, 0)
			defer r.DecRef()
			defer w.DecRef()
			if tc.prefill > 0 {
				if n, err := w.Write(ctx, make([]byte, tc.prefill)); n != tc.prefill || err != nil {
					t.Fatalf("prefill: %d, %v", n, err)
				}
			}
			r.SetStatusFlags(unix.O_NONBLOCK)
			w.SetStatusFlags(unix.O_NONBLOCK)
			var n int
			var err error
			if tc.write == 0 {
				n, err = r.Read(ctx, make([]byte, 100))
			} else {
				n, err = w.Write(ctx, make([]byte, tc.write))
			}
			if n != tc.wantN || err != tc.wantErr {
				t.Fatalf("got %d, %v; want %d, %v", n, err, tc.wantN, tc.wantErr)
			}
		})
	}
	// pipe2(O_NONBLOCK) gives non-blocking ends from the start.
	ctx := newCtx()
	r, w := NewPipe(ctx, 0, unix.O_NONBLOCK|unix.O_CLOEXEC)
	if _, err := r.Read(ctx, make([]byte, 1)); err != unix.EAGAIN {
		t.Fatalf("pipe2(O_NONBLOCK) read: %v", err)
	}
	if r.Flags()&unix.O_CLOEXEC != 0 {
		t.Fatal("O_CLOEXEC kept in status flags")
	}
	r.DecRef()
	w.DecRef()
}

func TestInterrupt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prefill int
		op      func(ctx *testCtx, r, w *vfs.FileDescription) (int, error)
		wantN   int
		wantErr error
	}{
		{
			name:    "read",
			op:      func(ctx *testCtx, r, w *vfs.FileDescription) (int, error) { return r.Read(ctx, make([]byte, 1)) },
			wantErr: syserr.ERESTARTSYS,
		},
		{
			name:    "small write",
			prefill: DefaultCapacity,
			op:      func(ctx *testCtx, r, w *vfs.FileDescription) (int, error) { return w.Write(ctx, make([]byte, 1)) },
			wantErr: syserr.ERESTARTSYS,
		},
		{
			name:    "large write after partial progress",
			prefill: DefaultCapacity - 100,
			op: func(ctx *testCtx, r, w *vfs.FileDescription) (int, error) {
				return w.Write(ctx, make([]byte, 2*PipeBuf))
			},
			wantN: 100,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx()
			r, w := NewPipe(ctx, 0, 0)
			defer r.DecRef()
			defer w.DecRef()
			if tc.prefill > 0 {
				if _, err := w.Write(ctx, make([]byte, tc.prefill)); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan result, 1)
			go func() {
				n, err := tc.op(ctx, r, w)
				done <- result{n, err}
			}()
			ctx.interrupt()
			res := guard(t, done, "interrupted operation")
			if res.n != tc.wantN || res.err != tc.wantErr {
				t.Fatalf("got %d, %v; want %d, %v", res.n, res.err, tc.wantN, tc.wantErr)
			}
		})
	}
}

func TestReadiness(t *testing.T) {
	all := waiter.ReadableEvents | waiter.WritableEvents | waiter.EventErr | waiter.EventHUp
	for _, tc := range []struct {
		name      string
		prefill   int
		closeR    bool
		closeW    bool
		wantRead  waiter.EventMask
		wantWrite waiter.EventMask
	}{
		{name: "empty", wantWrite: waiter.WritableEvents},
		{name: "data", prefill: 1, wantRead: waiter.ReadableEvents, wantWrite: waiter.WritableEvents},
		{name: "less than PIPE_BUF free", prefill: DefaultCapacity - PipeBuf + 1, wantRead: waiter.ReadableEvents},
		{name: "exactly PIPE_BUF free", prefill: DefaultCapacity - PipeBuf, wantRead: waiter.ReadableEvents, wantWrite: waiter.WritableEvents},
		{name: "no writer", closeW: true, wantRead: waiter.EventHUp},
		{name: "no writer, data", prefill: 5, closeW: true, wantRead: waiter.EventHUp | waiter.ReadableEvents},
		{name: "no reader", closeR: true, wantWrite: waiter.EventErr | waiter.WritableEvents},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx()
			r, w := NewPipe(ctx, 0, 0)
			if tc.prefill > 0 {
				if _, err := w.Write(ctx, make([]byte, tc.prefill)); err != nil {
					t.Fatal(err)
				}
			}
			rf, wf := r.Impl().(*File), w.Impl().(*File)
			if tc.closeR {
				r.DecRef()
			}
			if tc.closeW {
				w.DecRef()
			}
			if !tc.closeR {
				if got := rf.Readiness(all); got != tc.wantRead {
					t.Errorf("read end: %#x, want %#x", got, tc.wantRead)
				}
			}
			if !tc.closeW {
				if got := wf.Readiness(all); got != tc.wantWrite {
					t.Errorf("write end: %#x, want %#x", got, tc.wantWrite)
				}
			}
			if !tc.closeR {
				r.DecRef()
			}
			if !tc.closeW {
				w.DecRef()
			}
		})
	}
}

func TestNotifications(t *testing.T) {
	ctx := newCtx()
	r, w := NewPipe(ctx, 0, 0)
	rf, wf := r.Impl().(*File), w.Impl().(*File)

	in, inCh := waiter.NewChannelEntry(waiter.EventIn)
	rf.EventRegister(in)
	defer rf.EventUnregister(in)
	if _, err := w.Write(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	guard(t, inCh, "EventIn after write")

	// Fill, then a read must report EventOut.
	if _, err := w.Write(ctx, make([]byte, DefaultCapacity-1)); err != nil {
		t.Fatal(err)
	}
	out, outCh := waiter.NewChannelEntry(waiter.EventOut)
	wf.EventRegister(out)
	defer wf.EventUnregister(out)
	if _, err := r.Read(ctx, make([]byte, PipeBuf)); err != nil {
		t.Fatal(err)
	}
	guard(t, outCh, "EventOut after read")

	// Closing the writer hangs up the reader, whatever it asked for.
	hup, hupCh := waiter.NewChannelEntry(waiter.EventIn)
	rf.EventRegister(hup)
	defer rf.EventUnregister(hup)
	w.DecRef()
	guard(t, hupCh, "EventHUp after writer close")
	if rf.Readiness(waiter.EventIn)&waiter.EventHUp == 0 {
		t.Fatal("EventHUp not ready")
	}
	r.DecRef()
}

func TestSetCapacity(t *testing.T) {
	for _, tc := range []struct {
		name    string
		prefill int
		size    uint64
		want    int
		wantErr error
	}{
		{name: "zero rounds to a page", size: 0, want: MinCapacity},
		{name: "one byte", size: 1, want: MinCapacity},
		{name: "page", size: 4096, want: 4096},
		{name: "three pages", size: 3 * 4096, want: 4 * 4096},
		{name: "odd", size: 70000, want: 131072},
		{name: "max", size: MaxCapacity, want: MaxCapacity},
		{name: "over max", size: MaxCapacity + 1, wantErr: unix.EPERM},
		{name: "huge", size: 1 << 40, wantErr: unix.EPERM},
		{name: "content too big", prefill: 10000, size: 8192, wantErr: unix.EBUSY},
		{name: "content fits", prefill: 8192, size: 8192, want: 8192},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx()
			r, w := NewPipe(ctx, 0, 0)
			defer r.DecRef()
			defer w.DecRef()
			p := r.Impl().(*File).Pipe()
			data := make([]byte, tc.prefill)
			for i := range data {
				data[i] = byte(i)
			}
			if _, err := w.Write(ctx, data); err != nil {
				t.Fatal(err)
			}
			got, err := p.SetCapacity(tc.size)
			if got != tc.want || err != tc.wantErr {
				t.Fatalf("SetCapacity(%d) = %d, %v; want %d, %v", tc.size, got, err, tc.want, tc.wantErr)
			}
			wantCap := tc.want
			if err != nil {
				wantCap = DefaultCapacity
			}
			if c := p.Capacity(); c != wantCap {
				t.Fatalf("Capacity() = %d, want %d", c, wantCap)
			}
			// Contents survive a resize.
			buf := make([]byte, len(data)+1)
			r.SetStatusFlags(unix.O_NONBLOCK)
			n, _ := r.Read(ctx, buf)
			if !bytes.Equal(buf[:n], data) {
				t.Fatal("contents changed by resize")
			}
		})
	}
}

func TestResizeWrappedBuffer(t *testing.T) {
	ctx := newCtx()
	r, w := NewPipe(ctx, 4096, 0)
	defer r.DecRef()
	defer w.DecRef()
	p := r.Impl().(*File).Pipe()
	// Move head near the end so the data wraps around.
	if _, err := w.Write(ctx, make([]byte, 4000)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Read(ctx, make([]byte, 4000)); err != nil {
		t.Fatal(err)
	}
	want := []byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz")
	if _, err := w.Write(ctx, want); err != nil {
		t.Fatal(err)
	}
	if _, err := p.SetCapacity(8192); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, 200)
	n, err := r.Read(ctx, got)
	if err != nil || !bytes.Equal(got[:n], want) {
		t.Fatalf("Read = %q, %v; want %q", got[:n], err, want)
	}
}

func TestIoctlStatSeek(t *testing.T) {
	ctx := newCtx()
	r, w := NewPipe(ctx, 0, 0)
	defer r.DecRef()
	defer w.DecRef()
	if _, err := w.Write(ctx, make([]byte, 1234)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Ioctl(ctx, unix.TIOCINQ, 0x1000); err != nil {
		t.Fatalf("FIONREAD: %v", err)
	}
	if got := binary.LittleEndian.Uint32(ctx.copied()); got != 1234 {
		t.Fatalf("FIONREAD = %d, want 1234", got)
	}
	if _, err := r.Ioctl(ctx, 0x1234, 0); err != unix.ENOTTY {
		t.Fatalf("unknown ioctl: %v", err)
	}
	rs, err := r.Stat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ws, _ := w.Stat(ctx)
	if rs.Mode != unix.S_IFIFO|0o600 || rs.Ino == 0 || rs.Ino != ws.Ino || rs.Uid != 1000 {
		t.Fatalf("stat: mode %#o ino %d/%d uid %d", rs.Mode, rs.Ino, ws.Ino, rs.Uid)
	}
	r2, w2 := NewPipe(ctx, 0, 0)
	if s2, _ := r2.Stat(ctx); s2.Ino == rs.Ino {
		t.Fatal("two pipes share an inode number")
	}
	r2.DecRef()
	w2.DecRef()
	if _, err := r.Seek(ctx, 0, unix.SEEK_SET); err != unix.ESPIPE {
		t.Fatalf("Seek: %v, want ESPIPE", err)
	}
	if _, err := r.PRead(ctx, make([]byte, 1), 0); err != unix.ESPIPE {
		t.Fatalf("PRead: %v, want ESPIPE", err)
	}
	if _, err := r.Write(ctx, []byte("x")); err != unix.EBADF {
		t.Fatalf("write to read end: %v, want EBADF", err)
	}
}

// openFD opens a FIFO end and wraps it as vfs would.
func openFD(ctx vfs.Context, p *Pipe, flags uint32) (*vfs.FileDescription, error) {
	f, err := p.Open(ctx, flags)
	if err != nil {
		return nil, err
	}
	fd := vfs.NewFileDescription(f, vfs.VirtualDentry{}, flags)
	f.Bind(fd)
	return fd, nil
}

func TestFIFOOpen(t *testing.T) {
	for _, tc := range []struct {
		name    string
		flags   uint32
		wantErr error
	}{
		{"nonblocking reader", unix.O_RDONLY | unix.O_NONBLOCK, nil},
		{"nonblocking writer without reader", unix.O_WRONLY | unix.O_NONBLOCK, unix.ENXIO},
		{"read-write", unix.O_RDWR, nil},
		{"bad mode", unix.O_ACCMODE, unix.EINVAL},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx()
			p := New(ctx, 0)
			fd, err := openFD(ctx, p, tc.flags)
			if err != tc.wantErr {
				t.Fatalf("Open: %v, want %v", err, tc.wantErr)
			}
			if fd != nil {
				fd.DecRef()
			}
		})
	}
}

func TestFIFOBlockingOpen(t *testing.T) {
	for _, tc := range []struct {
		name         string
		first, other uint32
	}{
		{"reader waits for writer", unix.O_RDONLY, unix.O_WRONLY},
		{"writer waits for reader", unix.O_WRONLY, unix.O_RDONLY},
		{"reader released by read-write", unix.O_RDONLY, unix.O_RDWR},
		{"writer released by nonblocking reader", unix.O_WRONLY, unix.O_RDONLY | unix.O_NONBLOCK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := newCtx()
			p := New(ctx, 0)
			type opened struct {
				fd  *vfs.FileDescription
				err error
			}
			done := make(chan opened, 1)
			go func() {
				fd, err := openFD(ctx, p, tc.first)
				done <- opened{fd, err}
			}()
			other, err := openFD(ctx, p, tc.other)
			if err != nil {
				t.Fatalf("second open: %v", err)
			}
			first := guard(t, done, "blocked open")
			if first.err != nil {
				t.Fatalf("first open: %v", first.err)
			}
			first.fd.DecRef()
			other.DecRef()
		})
	}
}

func TestFIFOOpenInterrupted(t *testing.T) {
	ctx := newCtx()
	p := New(ctx, 0)
	ctx.interrupt()
	if _, err := openFD(ctx, p, unix.O_RDONLY); !errors.Is(err, syserr.ERESTARTSYS) {
		t.Fatalf("Open: %v, want ERESTARTSYS", err)
	}
	// The interrupted reader left no end behind.
	if _, err := openFD(newCtx(), p, unix.O_WRONLY|unix.O_NONBLOCK); err != unix.ENXIO {
		t.Fatalf("writer open after interrupted reader: %v, want ENXIO", err)
	}
}

func TestFIFOHangup(t *testing.T) {
	ctx := newCtx()
	p := New(ctx, 0)
	r, err := openFD(ctx, p, unix.O_RDONLY|unix.O_NONBLOCK)
	if err != nil {
		t.Fatal(err)
	}
	defer r.DecRef()
	rf := r.Impl().(*File)
	// Never had a writer: not hung up, and reads see EOF.
	if ev := rf.Readiness(waiter.EventIn); ev != 0 {
		t.Fatalf("readiness before any writer: %#x", ev)
	}
	if n, err := r.Read(ctx, make([]byte, 1)); n != 0 || err != nil {
		t.Fatalf("read with no writer: %d, %v", n, err)
	}
	w, err := openFD(ctx, p, unix.O_WRONLY)
	if err != nil {
		t.Fatal(err)
	}
	w.DecRef()
	if ev := rf.Readiness(waiter.EventIn); ev != waiter.EventHUp {
		t.Fatalf("readiness after writer left: %#x, want EventHUp", ev)
	}
}
