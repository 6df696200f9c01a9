package futex

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/syserr"
)

// testCtx is a Context the test interrupts by closing intr.
type testCtx struct {
	intr chan struct{}
	// wake holds a pending Wake.
	wake chan struct{}
}

func newCtx() *testCtx {
	return &testCtx{intr: make(chan struct{}), wake: make(chan struct{}, 1)}
}

func (c *testCtx) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *testCtx) Block(deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		tm := time.NewTimer(time.Until(deadline))
		defer tm.Stop()
		timeout = tm.C
	}
	select {
	case <-c.wake:
		return nil
	case <-timeout:
		return unix.ETIMEDOUT
	case <-c.intr:
		return syserr.ERESTARTSYS
	}
}

// guard waits for ch, failing after a generous bound (a hang detector, not
// synchronisation).
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

// blocked is a Wait running in its own goroutine.
type blocked struct {
	ctx  *testCtx
	done chan error
}

// startWait starts Wait on key with bitset and returns once the waiter is
// queued (its check has run, so it is on the queue).
func startWait(t *testing.T, m *Manager, key Key, bitset uint32) *blocked {
	t.Helper()
	b := &blocked{ctx: newCtx(), done: make(chan error, 1)}
	queued := make(chan struct{}, 1)
	go func() {
		b.done <- m.Wait(b.ctx, key, bitset, func() (bool, error) {
			queued <- struct{}{}
			return true, nil
		}, time.Time{})
	}()
	guard(t, queued, "waiter queued")
	return b
}

// finish interrupts b and returns what its Wait returned: nil if it had
// been woken, ERESTARTSYS if it was still waiting.
func (b *blocked) finish(t *testing.T) error {
	t.Helper()
	close(b.ctx.intr)
	return guard(t, b.done, "finish waiter")
}

func TestKeys(t *testing.T) {
	as1, as2 := new(int), new(int)
	for _, tc := range []struct {
		name string
		a, b Key
		same bool
	}{
		{"same private", PrivateKey(as1, 0x1000), PrivateKey(as1, 0x1000), true},
		{"other address space", PrivateKey(as1, 0x1000), PrivateKey(as2, 0x1000), false},
		{"other address", PrivateKey(as1, 0x1000), PrivateKey(as1, 0x1004), false},
		{"same shared", SharedKey("memfile", 0x2000), SharedKey("memfile", 0x2000), true},
		{"shared vs private", SharedKey(as1, 0x1000), PrivateKey(as1, 0x1000), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if (tc.a == tc.b) != tc.same {
				t.Fatalf("%v == %v: %v, want %v", tc.a, tc.b, tc.a == tc.b, tc.same)
			}
		})
	}
}

func TestWaitErrors(t *testing.T) {
	past := time.Now().Add(-time.Second)
	for _, tc := range []struct {
		name     string
		bitset   uint32
		check    func() (bool, error)
		deadline time.Time
		intr     bool
		want     error
	}{
		{"value changed", BitsetMatchAny, func() (bool, error) { return false, nil }, time.Time{}, false, unix.EAGAIN},
		{"fault", BitsetMatchAny, func() (bool, error) { return false, unix.EFAULT }, time.Time{}, false, unix.EFAULT},
		{"zero bitset", 0, func() (bool, error) { return true, nil }, time.Time{}, false, unix.EINVAL},
		{"expired deadline", BitsetMatchAny, func() (bool, error) { return true, nil }, past, false, unix.ETIMEDOUT},
		{"mismatch beats expired deadline", BitsetMatchAny, func() (bool, error) { return false, nil }, past, false, unix.EAGAIN},
		{"short timeout", BitsetMatchAny, func() (bool, error) { return true, nil }, time.Now().Add(5 * time.Millisecond), false, unix.ETIMEDOUT},
		{"interrupted", BitsetMatchAny, func() (bool, error) { return true, nil }, time.Time{}, true, syserr.ERESTARTSYS},
		{"interrupted with deadline", BitsetMatchAny, func() (bool, error) { return true, nil }, time.Now().Add(time.Hour), true, syserr.ERESTARTSYS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager()
			ctx := newCtx()
			if tc.intr {
				close(ctx.intr)
			}
			key := PrivateKey(1, 0x1000)
			if err := m.Wait(ctx, key, tc.bitset, tc.check, tc.deadline); err != tc.want {
				t.Fatalf("Wait = %v, want %v", err, tc.want)
			}
			// Whatever happened, the waiter is gone.
			if n := m.Wake(key, 100, BitsetMatchAny); n != 0 {
				t.Fatalf("Wake after failed Wait woke %d", n)
			}
		})
	}
}

func TestWakeCountAndOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		waiters int
		n       int
		want    []bool // which waiters (oldest first) are woken
	}{
		{"one of three", 3, 1, []bool{true, false, false}},
		{"two of three", 3, 2, []bool{true, true, false}},
		{"all", 3, 10, []bool{true, true, true}},
		{"zero wakes one", 2, 0, []bool{true, false}},
		{"none waiting", 0, 5, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager()
			key := SharedKey("mf", 0x40)
			var ws []*blocked
			for i := 0; i < tc.waiters; i++ {
				ws = append(ws, startWait(t, m, key, BitsetMatchAny))
			}
			wantN := 0
			for _, w := range tc.want {
				if w {
					wantN++
				}
			}
			if n := m.Wake(key, tc.n, BitsetMatchAny); n != wantN {
				t.Fatalf("Wake = %d, want %d", n, wantN)
			}
			for i, w := range ws {
				err := w.finish(t)
				if (err == nil) != tc.want[i] {
					t.Errorf("waiter %d: %v, woken want %v", i, err, tc.want[i])
				}
			}
		})
	}
}

func TestBitset(t *testing.T) {
	for _, tc := range []struct {
		name    string
		waiters []uint32
		wake    uint32
		want    []bool
	}{
		{"match any", []uint32{1, 2, 4}, BitsetMatchAny, []bool{true, true, true}},
		{"one bit", []uint32{1, 2, 4}, 2, []bool{false, true, false}},
		{"two bits", []uint32{1, 2, 4}, 5, []bool{true, false, true}},
		{"any waiter", []uint32{BitsetMatchAny, 8}, 1, []bool{true, false}},
		{"no match", []uint32{1, 2}, 4, []bool{false, false}},
		{"zero", []uint32{BitsetMatchAny}, 0, []bool{false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager()
			key := PrivateKey("as", 0x10)
			var ws []*blocked
			for _, bs := range tc.waiters {
				ws = append(ws, startWait(t, m, key, bs))
			}
			m.Wake(key, len(ws), tc.wake)
			for i, w := range ws {
				if err := w.finish(t); (err == nil) != tc.want[i] {
					t.Errorf("waiter %d (bitset %#x): %v, woken want %v", i, tc.waiters[i], err, tc.want[i])
				}
			}
		})
	}
}

func TestRequeue(t *testing.T) {
	for _, tc := range []struct {
		name            string
		waiters         int
		nWake, nRequeue int
		sameKey         bool
		check           func() (bool, error)
		want            int
		wantErr         error
		leftA, onB      int
	}{
		{name: "wake one move two", waiters: 4, nWake: 1, nRequeue: 2, want: 3, leftA: 1, onB: 2},
		{name: "move all", waiters: 3, nWake: 0, nRequeue: 1 << 30, want: 3, onB: 3},
		{name: "wake only", waiters: 3, nWake: 2, nRequeue: 0, want: 2, leftA: 1},
		{name: "cmp ok", waiters: 2, nWake: 0, nRequeue: 1, check: func() (bool, error) { return true, nil }, want: 1, leftA: 1, onB: 1},
		{name: "cmp mismatch", waiters: 2, nWake: 1, nRequeue: 1, check: func() (bool, error) { return false, nil }, wantErr: unix.EAGAIN, leftA: 2},
		{name: "cmp fault", waiters: 1, nWake: 1, nRequeue: 1, check: func() (bool, error) { return false, unix.EFAULT }, wantErr: unix.EFAULT, leftA: 1},
		{name: "same key", waiters: 3, nWake: 1, nRequeue: 5, sameKey: true, want: 3, leftA: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager()
			a, b := PrivateKey("as", 0x100), PrivateKey("as", 0x200)
			if tc.sameKey {
				b = a
			}
			var ws []*blocked
			for i := 0; i < tc.waiters; i++ {
				ws = append(ws, startWait(t, m, a, BitsetMatchAny))
			}
			n, err := m.CmpRequeue(a, b, tc.nWake, tc.nRequeue, tc.check)
			if n != tc.want || err != tc.wantErr {
				t.Fatalf("CmpRequeue = %d, %v; want %d, %v", n, err, tc.want, tc.wantErr)
			}
			if !tc.sameKey {
				if got := m.Wake(b, 100, BitsetMatchAny); got != tc.onB {
					t.Errorf("woke %d on B, want %d", got, tc.onB)
				}
			}
			if got := m.Wake(a, 100, BitsetMatchAny); got != tc.leftA {
				t.Errorf("woke %d left on A, want %d", got, tc.leftA)
			}
			for i, w := range ws {
				if err := w.finish(t); err != nil {
					t.Errorf("waiter %d: %v", i, err)
				}
			}
		})
	}
}

// TestRequeuedWaiterCancels checks that a waiter moved to another key
// leaves that key's queue when it times out or is interrupted.
func TestRequeuedWaiterCancels(t *testing.T) {
	m := NewManager()
	a, b := PrivateKey("as", 0x100), SharedKey("mf", 0x300)
	w := startWait(t, m, a, BitsetMatchAny)
	if n := m.Requeue(a, b, 0, 1); n != 1 {
		t.Fatalf("Requeue = %d", n)
	}
	if err := w.finish(t); err != syserr.ERESTARTSYS {
		t.Fatalf("interrupted requeued waiter: %v", err)
	}
	if n := m.Wake(b, 1, BitsetMatchAny); n != 0 {
		t.Fatalf("cancelled waiter still on B: woke %d", n)
	}
}

// TestNoLostWakeups races a waker that changes the word and wakes against a
// waiter that checks it: every waiter must return.
func TestNoLostWakeups(t *testing.T) {
	const pairs, rounds = 8, 500
	m := NewManager()
	var wg sync.WaitGroup
	for p := 0; p < pairs; p++ {
		wg.Add(1)
		go func(p int) {
			defer wg.Done()
			ctx := newCtx()
			for r := 0; r < rounds; r++ {
				var word atomic.Uint32
				key := PrivateKey(p, uint64(r)*4)
				done := make(chan error, 1)
				go func() {
					done <- m.Wait(ctx, key, BitsetMatchAny, func() (bool, error) { return word.Load() == 0, nil }, time.Time{})
				}()
				word.Store(1)
				m.Wake(key, 1, BitsetMatchAny)
				select {
				case err := <-done:
					if err != nil && err != unix.EAGAIN {
						t.Errorf("pair %d round %d: %v", p, r, err)
						return
					}
				case <-time.After(10 * time.Second):
					t.Errorf("pair %d round %d: wakeup lost", p, r)
					return
				}
			}
		}(p)
	}
	wg.Wait()
}

// TestWakeRacesInterrupt: when a wake and an interruption race, either the
// wake is reported (nil) or the waiter was gone before the wake (Wake
// returned 0); a wake is never counted and then lost.
func TestWakeRacesInterrupt(t *testing.T) {
	m := NewManager()
	for i := 0; i < 500; i++ {
		key := PrivateKey("as", 0x80)
		w := startWait(t, m, key, BitsetMatchAny)
		woke := make(chan int, 1)
		go func() { woke <- m.Wake(key, 1, BitsetMatchAny) }()
		err := w.finish(t)
		n := guard(t, woke, "wake")
		if (n == 1) != (err == nil) {
			t.Fatalf("round %d: Wake woke %d but Wait returned %v", i, n, err)
		}
	}
}

func TestDecodeWakeOp(t *testing.T) {
	enc := func(op, cmp, oparg, cmparg uint32) uint32 {
		return op<<28 | cmp<<24 | (oparg&0xfff)<<12 | cmparg&0xfff
	}
	for _, tc := range []struct {
		name    string
		val3    uint32
		old     uint32
		wantNew uint32
		wantCmp bool
		wantErr error
	}{
		{"set eq", enc(OpSet, CmpEq, 5, 7), 7, 5, true, nil},
		{"add ne", enc(OpAdd, CmpNe, 3, 7), 7, 10, false, nil},
		{"or lt", enc(OpOr, CmpLt, 0x10, 2), 1, 0x11, true, nil},
		{"andn le", enc(OpAndN, CmpLe, 0x3, 2), 0xf, 0xc, false, nil},
		{"xor gt", enc(OpXor, CmpGt, 0xff, 0), 1, 0xfe, true, nil},
		{"ge", enc(OpSet, CmpGe, 0, 1), 1, 0, true, nil},
		{"signed cmparg", enc(OpSet, CmpLt, 0, 0xfff /* -1 */), 0xfffffffe /* -2 */, 0, true, nil},
		{"negative oparg", enc(OpAdd, CmpEq, 0xfff /* -1 */, 0), 5, 4, false, nil},
		{"arg shift", enc(OpSet|OpArgShift, CmpEq, 4, 0), 0, 16, true, nil},
		{"arg shift masked", enc(OpOr|OpArgShift, CmpEq, 33, 0), 0, 2, true, nil},
		{"bad op", enc(5, CmpEq, 0, 0), 0, 0, false, unix.ENOSYS},
		{"bad cmp", enc(OpSet, 6, 0, 0), 0, 0, false, unix.ENOSYS},
	} {
		t.Run(tc.name, func(t *testing.T) {
			op, err := DecodeWakeOp(tc.val3)
			if err != tc.wantErr {
				t.Fatalf("DecodeWakeOp(%#x) error %v, want %v", tc.val3, err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if got := op.Apply(tc.old); got != tc.wantNew {
				t.Errorf("Apply(%#x) = %#x, want %#x", tc.old, got, tc.wantNew)
			}
			if got := op.Compare(tc.old); got != tc.wantCmp {
				t.Errorf("Compare(%#x) = %v, want %v", tc.old, got, tc.wantCmp)
			}
		})
	}
}

func TestWakeOp(t *testing.T) {
	for _, tc := range []struct {
		name     string
		word     uint32
		cmpArg   uint32
		rmwErr   error
		want     int
		wantErr  error
		wantWord uint32
		woken1   int
		woken2   bool
	}{
		{name: "both", word: 0, cmpArg: 0, want: 2, wantWord: 1, woken1: 1, woken2: true},
		{name: "first only", word: 3, cmpArg: 0, want: 1, wantWord: 4, woken1: 1},
		{name: "fault", rmwErr: unix.EFAULT, wantErr: unix.EFAULT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager()
			k1, k2 := PrivateKey("as", 0x10), PrivateKey("as", 0x20)
			w1 := startWait(t, m, k1, BitsetMatchAny)
			w2 := startWait(t, m, k2, BitsetMatchAny)
			op, err := DecodeWakeOp(OpAdd<<28 | CmpEq<<24 | 1<<12 | tc.cmpArg)
			if err != nil {
				t.Fatal(err)
			}
			word := tc.word
			n, err := m.WakeOp(k1, k2, 1, 1, op, func(modify func(uint32) uint32) (uint32, error) {
				if tc.rmwErr != nil {
					return 0, tc.rmwErr
				}
				old := word
				word = modify(old)
				return old, nil
			})
			if n != tc.want || err != tc.wantErr {
				t.Fatalf("WakeOp = %d, %v; want %d, %v", n, err, tc.want, tc.wantErr)
			}
			if err == nil && word != tc.wantWord {
				t.Errorf("word = %d, want %d", word, tc.wantWord)
			}
			if err := w1.finish(t); (err == nil) != (tc.woken1 == 1) {
				t.Errorf("waiter 1: %v", err)
			}
			if err := w2.finish(t); (err == nil) != tc.woken2 {
				t.Errorf("waiter 2: %v", err)
			}
		})
	}
}

// fakeMem is a sparse little-endian memory for robust-list walks.
type fakeMem struct {
	mu    sync.Mutex
	words map[uint64][]byte // 8-byte cells at 8-aligned addresses
	reads int
}

func newFakeMem() *fakeMem { return &fakeMem{words: map[uint64][]byte{}} }

func (f *fakeMem) cell(addr uint64) ([]byte, uint64, bool) {
	c, ok := f.words[addr&^7]
	return c, addr & 7, ok
}

func (f *fakeMem) putU64(addr, v uint64) {
	c := make([]byte, 8)
	binary.LittleEndian.PutUint64(c, v)
	f.words[addr] = c
}

func (f *fakeMem) putU32(addr uint64, v uint32) {
	c, off, ok := f.cell(addr)
	if !ok {
		c = make([]byte, 8)
		f.words[addr&^7] = c
	}
	binary.LittleEndian.PutUint32(c[off:], v)
}

func (f *fakeMem) ReadU64(addr uint64) (uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reads++
	c, off, ok := f.cell(addr)
	if !ok || off != 0 {
		return 0, unix.EFAULT
	}
	return binary.LittleEndian.Uint64(c), nil
}

func (f *fakeMem) ReadU32(addr uint64) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, off, ok := f.cell(addr)
	if !ok || off%4 != 0 {
		return 0, unix.EFAULT
	}
	return binary.LittleEndian.Uint32(c[off:]), nil
}

func (f *fakeMem) CompareAndSwapU32(addr uint64, old, new uint32) (uint32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, off, ok := f.cell(addr)
	if !ok || off%4 != 0 {
		return 0, unix.EFAULT
	}
	cur := binary.LittleEndian.Uint32(c[off:])
	if cur == old {
		binary.LittleEndian.PutUint32(c[off:], new)
	}
	return cur, nil
}

func (f *fakeMem) Key(addr uint64) (Key, error) { return PrivateKey(f, addr), nil }

func (f *fakeMem) u32(addr uint64) uint32 {
	v, _ := f.ReadU32(addr)
	return v
}

func TestExitRobustList(t *testing.T) {
	const (
		tid    = 42
		head   = 0x1000
		offset = 8 // futex word 8 bytes after each entry
	)
	type lock struct {
		entry  uint64
		word   uint32
		want   uint32
		waiter bool // someone waits on the word and must be woken
	}
	for _, tc := range []struct {
		name       string
		locks      []lock
		cyclic     bool // last entry points back at the first, not at head
		pending    *lock
		wantMarked int
	}{
		{
			name: "owned, foreign, with waiters",
			locks: []lock{
				{entry: 0x2000, word: tid, want: OwnerDied},
				{entry: 0x3000, word: 7, want: 7},
				{entry: 0x4000, word: tid | Waiters, want: OwnerDied | Waiters, waiter: true},
			},
			wantMarked: 2,
		},
		{name: "empty list"},
		{
			name:       "cyclic list terminates",
			locks:      []lock{{entry: 0x2000, word: tid, want: OwnerDied}, {entry: 0x3000, word: tid, want: OwnerDied}},
			cyclic:     true,
			wantMarked: 2,
		},
		{
			name:       "pending op owned",
			locks:      []lock{{entry: 0x2000, word: tid, want: OwnerDied}},
			pending:    &lock{entry: 0x5000, word: tid | Waiters, want: OwnerDied | Waiters, waiter: true},
			wantMarked: 2,
		},
		{
			name:    "pending op released wakes anyway",
			pending: &lock{entry: 0x5000, word: 0, want: 0, waiter: true},
		},
		{
			name:       "pending op also on list handled once",
			locks:      []lock{{entry: 0x2000, word: tid | Waiters, want: OwnerDied | Waiters, waiter: true}},
			pending:    &lock{entry: 0x2000, word: tid | Waiters, want: OwnerDied | Waiters},
			wantMarked: 1,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewManager()
			mem := newFakeMem()
			next := uint64(head)
			if tc.cyclic {
				next = tc.locks[0].entry
			}
			for i := len(tc.locks) - 1; i >= 0; i-- {
				l := tc.locks[i]
				mem.putU64(l.entry, next)
				mem.putU32(l.entry+offset, l.word)
				next = l.entry
			}
			mem.putU64(head, next)
			mem.putU64(head+8, offset)
			mem.putU64(head+16, 0)
			all := tc.locks
			if tc.pending != nil {
				mem.putU64(head+16, tc.pending.entry)
				if _, ok := mem.words[tc.pending.entry]; !ok {
					mem.putU64(tc.pending.entry, 0)
					mem.putU32(tc.pending.entry+offset, tc.pending.word)
					all = append(all, *tc.pending)
				}
			}
			var ws []*blocked
			for _, l := range all {
				if l.waiter {
					k, _ := mem.Key(l.entry + offset)
					ws = append(ws, startWait(t, m, k, BitsetMatchAny))
				}
			}
			if got := m.ExitRobustList(mem, head, tid); got != tc.wantMarked {
				t.Errorf("marked %d, want %d", got, tc.wantMarked)
			}
			for _, l := range all {
				if got := mem.u32(l.entry + offset); got != l.want {
					t.Errorf("word of entry %#x = %#x, want %#x", l.entry, got, l.want)
				}
			}
			for i, w := range ws {
				if err := w.finish(t); err != nil {
					t.Errorf("waiter %d not woken: %v", i, err)
				}
			}
			if tc.cyclic && mem.reads > RobustListLimit+10 {
				t.Errorf("cyclic walk read %d words", mem.reads)
			}
		})
	}
}

func TestExitRobustListFaults(t *testing.T) {
	m := NewManager()
	for _, tc := range []struct {
		name string
		head uint64
	}{
		{"no list", 0},
		{"unmapped head", 0x9000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if n := m.ExitRobustList(newFakeMem(), tc.head, 1); n != 0 {
				t.Fatalf("marked %d", n)
			}
		})
	}
	// An entry pointing into unmapped memory ends the walk after it.
	mem := newFakeMem()
	mem.putU64(0x1000, 0x2000)
	mem.putU64(0x1008, 8)
	mem.putU64(0x1010, 0)
	mem.putU64(0x2000, 0xdead0000)
	mem.putU32(0x2008, 5)
	if n := m.ExitRobustList(mem, 0x1000, 5); n != 1 {
		t.Fatalf("marked %d, want 1", n)
	}
}
