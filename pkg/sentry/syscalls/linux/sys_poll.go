package linux

import (
	"encoding/binary"
	"errors"
	"math/bits"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/epoll"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/pkg/sentry/waiter"
)

// errWaitInterrupted is what waitUntil returns when the task was
// interrupted; each caller maps it to its own errno.
var errWaitInterrupted = errors.New("wait interrupted")

// deadline is an optional absolute time on the monotonic clock.
type deadline struct {
	at  time.Time
	set bool
}

// after returns a deadline d from now (d < 0: none).
func after(d time.Duration) deadline {
	if d < 0 {
		return deadline{}
	}
	return deadline{at: time.Now().Add(d), set: true}
}

// remaining is the time left (0 once passed).
func (d deadline) remaining() time.Duration {
	return max(time.Until(d.at), 0)
}

// waitUntil registers one wake-up entry on every Waitable in ws, then calls
// check until it reports something ready (n > 0), the deadline passes, or
// the task is interrupted or has a deliverable signal (errWaitInterrupted),
// readiness being checked first as in Linux. An expired or zero deadline
// makes it check once. It never spins: between checks the task sleeps in
// Block, which the entry, the deadline and an interruption end.
func waitUntil(t *kernel.Task, ws []waiter.Waitable, dl deadline, check func() int) (int, error) {
	if dl.set && dl.remaining() == 0 {
		return check(), nil
	}
	entry := waiter.NewWakerEntry(^waiter.EventMask(0), t)
	for _, w := range ws {
		w.EventRegister(entry)
	}
	defer func() {
		for _, w := range ws {
			w.EventUnregister(entry)
		}
	}()
	var at time.Time
	if dl.set {
		at = dl.at
	}
	for {
		if n := check(); n > 0 {
			return n, nil
		}
		// A signal the call's own mask unblocked (ppoll, pselect6,
		// epoll_pwait) sent no wake-up when it arrived.
		if signalDeliverable(t) {
			return 0, errWaitInterrupted
		}
		switch err := t.Block(at); err {
		case nil:
		case unix.ETIMEDOUT:
			return check(), nil
		default:
			return 0, errWaitInterrupted
		}
	}
}

// tempSignalMask installs the sigmask argument of ppoll, pselect6 and
// epoll_pwait (nothing if addr is 0) and returns the function that ends
// it: if the call is failing because of a signal that a handler will take,
// the old mask stays saved for the handler frame to restore (as Linux's
// restore_saved_sigmask_unless); otherwise it is put back at once.
func tempSignalMask(t *kernel.Task, addr uintptr, size uintptr) (func(err error), error) {
	if addr == 0 {
		return func(error) {}, nil
	}
	if size != sigsetSize {
		return nil, unix.EINVAL
	}
	var mask uint64
	if err := copyInObj(t, addr, &mask); err != nil {
		return nil, err
	}
	t.SetSavedSignalMask(t.SignalMask())
	t.SetSignalMask(mask)
	return func(err error) {
		if isInterruption(err) && signalDeliverable(t) {
			return
		}
		t.RestoreSavedSignalMask()
	}, nil
}

// isInterruption reports the errors a call returns when a signal stops it.
func isInterruption(err error) bool {
	switch err {
	case unix.EINTR, kernel.ERESTARTNOHAND, kernel.ERESTARTSYS, kernel.ERESTART_RESTARTBLOCK:
		return true
	}
	return false
}

// signalDeliverable reports whether a signal not blocked by the current
// mask is pending, i.e. whether an interruption was for a signal rather
// than a stale wake-up.
func signalDeliverable(t *kernel.Task) bool {
	return t.PendingSignals()&^t.SignalMask() != 0
}

// pollFD is struct pollfd.
type pollFD struct {
	FD      int32
	Events  int16
	Revents int16
}

// pollNVal is POLLNVAL.
const pollNVal = 0x20

// pollSet is a poll(2) request with its files resolved.
type pollSet struct {
	fds   []pollFD
	files []*vfs.FileDescription
}

// resolve looks up the files; a bad fd gets POLLNVAL.
func (s *pollSet) resolve(t *kernel.Task) []waiter.Waitable {
	s.files = make([]*vfs.FileDescription, len(s.fds))
	var ws []waiter.Waitable
	for i := range s.fds {
		s.fds[i].Revents = 0
		if s.fds[i].FD < 0 {
			continue
		}
		f, err := t.GetFile(s.fds[i].FD)
		if err != nil {
			continue
		}
		s.files[i] = f
		if w, ok := f.Impl().(waiter.Waitable); ok {
			ws = append(ws, w)
		}
	}
	return ws
}

// release drops the file references.
func (s *pollSet) release() {
	for _, f := range s.files {
		if f != nil {
			f.DecRef()
		}
	}
}

// check fills in revents and returns how many entries have any.
func (s *pollSet) check() int {
	n := 0
	for i := range s.fds {
		p := &s.fds[i]
		switch {
		case p.FD < 0:
			p.Revents = 0
		case s.files[i] == nil:
			p.Revents = pollNVal
		default:
			mask := waiter.EventMask(uint16(p.Events))
			p.Revents = int16(epoll.Readiness(s.files[i], mask))
		}
		if p.Revents != 0 {
			n++
		}
	}
	return n
}

// doPoll runs a poll(2)-style request at addr until dl; it returns the
// number of ready entries, or errWaitInterrupted.
func doPoll(t *kernel.Task, addr uintptr, nfds uint64, dl deadline) (int, error) {
	if nfds > t.ThreadGroup().Limits().Get(unix.RLIMIT_NOFILE).Cur {
		return 0, unix.EINVAL
	}
	s := pollSet{fds: make([]pollFD, nfds)}
	if nfds > 0 {
		if err := pollCopyIn(t, addr, s.fds); err != nil {
			return 0, err
		}
	}
	ws := s.resolve(t)
	defer s.release()
	n, err := waitUntil(t, ws, dl, s.check)
	if err != nil {
		return 0, err
	}
	if nfds > 0 {
		if err := pollCopyOut(t, addr, s.fds); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Poll implements poll(2). An interrupted poll with a timeout restarts
// through restart_syscall(2) with the time that was left, as Linux does.
func Poll(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	addr, nfds, ms := a[0], uint64(uint32(a[1])), argInt(a[2])
	dl := deadline{}
	if ms >= 0 {
		dl = after(time.Duration(ms) * time.Millisecond)
	}
	return pollRestartable(t, addr, nfds, dl)
}

func pollRestartable(t *kernel.Task, addr uintptr, nfds uint64, dl deadline) (uintptr, error) {
	n, err := doPoll(t, addr, nfds, dl)
	if err == errWaitInterrupted {
		if !dl.set {
			return 0, kernel.ERESTARTNOHAND
		}
		t.SetRestartBlock(func(t *kernel.Task) (uintptr, error) {
			return pollRestartable(t, addr, nfds, dl)
		})
		return 0, kernel.ERESTART_RESTARTBLOCK
	}
	return uintptr(n), err
}

// copyInTimeout reads a timespec timeout argument (0 address: none).
func copyInTimeout(t *kernel.Task, addr uintptr) (deadline, error) {
	if addr == 0 {
		return deadline{}, nil
	}
	var ts unix.Timespec
	if err := copyInObj(t, addr, &ts); err != nil {
		return deadline{}, err
	}
	if !validTimespec(ts) {
		return deadline{}, unix.EINVAL
	}
	return after(time.Duration(ts.Sec)*time.Second + time.Duration(ts.Nsec)), nil
}

// writeBackTimespec stores the time left in a timespec timeout argument,
// as ppoll and pselect6 do; a fault is ignored, as in Linux.
func writeBackTimespec(t *kernel.Task, addr uintptr, dl deadline) {
	if addr == 0 || !dl.set {
		return
	}
	ts := unix.NsecToTimespec(dl.remaining().Nanoseconds())
	copyOutObj(t, addr, &ts)
}

// Ppoll implements ppoll(2).
func Ppoll(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	addr, nfds, tsAddr := a[0], uint64(uint32(a[1])), a[2]
	dl, err := copyInTimeout(t, tsAddr)
	if err != nil {
		return 0, err
	}
	done, err := tempSignalMask(t, a[3], a[4])
	if err != nil {
		return 0, err
	}
	n, err := doPoll(t, addr, nfds, dl)
	if err == errWaitInterrupted {
		err = kernel.ERESTARTNOHAND
	}
	done(err)
	writeBackTimespec(t, tsAddr, dl)
	return uintptr(n), err
}

// Readiness sets of select(2), as Linux's POLLIN_SET, POLLOUT_SET and
// POLLEX_SET.
const (
	selectIn  = waiter.EventIn | waiter.EventRdNorm | 0x80 /* POLLRDBAND */ | waiter.EventHUp | waiter.EventErr
	selectOut = waiter.EventOut | waiter.EventWrNorm | 0x200 /* POLLWRBAND */ | waiter.EventErr
	selectEx  = waiter.EventPri
)

// doSelect implements select and pselect6 once the timeout is decoded.
func doSelect(t *kernel.Task, nfds int32, inAddr, outAddr, exAddr uintptr, dl deadline) (int, error) {
	if nfds < 0 {
		return 0, unix.EINVAL
	}
	n := min(int(nfds), selectMaxFDs(t))
	words := (n + 63) / 64
	var sets [3][]uint64
	addrs := [3]uintptr{inAddr, outAddr, exAddr}
	for i, addr := range addrs {
		if addr == 0 || words == 0 {
			continue
		}
		sets[i] = make([]uint64, words)
		if err := pollCopyIn(t, addr, sets[i]); err != nil {
			return 0, err
		}
		if r := n % 64; r != 0 {
			sets[i][words-1] &= 1<<r - 1
		}
	}
	type entry struct {
		fd   int32
		file *vfs.FileDescription
		mask [3]bool
	}
	var entries []entry
	defer func() {
		for _, e := range entries {
			e.file.DecRef()
		}
	}()
	var ws []waiter.Waitable
	for w := 0; w < words; w++ {
		any := uint64(0)
		for i := range sets {
			if sets[i] != nil {
				any |= sets[i][w]
			}
		}
		for any != 0 {
			b := bits.TrailingZeros64(any)
			any &^= 1 << b
			fd := int32(w*64 + b)
			f, err := t.GetFile(fd)
			if err != nil {
				return 0, unix.EBADF
			}
			e := entry{fd: fd, file: f}
			for i := range sets {
				e.mask[i] = sets[i] != nil && sets[i][w]&(1<<b) != 0
			}
			entries = append(entries, e)
			if wt, ok := f.Impl().(waiter.Waitable); ok {
				ws = append(ws, wt)
			}
		}
	}
	var res [3][]uint64
	for i := range res {
		if sets[i] != nil {
			res[i] = make([]uint64, words)
		}
	}
	masks := [3]waiter.EventMask{selectIn, selectOut, selectEx}
	check := func() int {
		count := 0
		for i := range res {
			clear(res[i])
		}
		for _, e := range entries {
			var want waiter.EventMask
			for i := range masks {
				if e.mask[i] {
					want |= masks[i]
				}
			}
			ev := epoll.Readiness(e.file, want)
			for i := range masks {
				if e.mask[i] && ev&masks[i] != 0 {
					res[i][e.fd/64] |= 1 << (e.fd % 64)
					count++
				}
			}
		}
		return count
	}
	count, err := waitUntil(t, ws, dl, check)
	if err != nil {
		return 0, err
	}
	for i, addr := range addrs {
		if res[i] != nil {
			if err := pollCopyOut(t, addr, res[i]); err != nil {
				return 0, err
			}
		}
	}
	return count, nil
}

// selectMaxFDs is the size of the descriptor table as select sees it
// (Linux's fdt->max_fds): bits for descriptors beyond it are ignored. It is
// the highest open descriptor plus one, rounded up to a power of two, at
// least 64, and within RLIMIT_NOFILE.
func selectMaxFDs(t *kernel.Task) int {
	high := int32(-1)
	for _, fd := range t.FDTable().FDs() {
		high = max(high, fd)
	}
	n := 64
	for n < int(high)+1 {
		n <<= 1
	}
	return min(n, int(max(t.ThreadGroup().Limits().Get(unix.RLIMIT_NOFILE).Cur, 64)))
}

// Select implements select(2). The timeval is updated with the time left.
func Select(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	dl := deadline{}
	tvAddr := a[4]
	if tvAddr != 0 {
		var tv unix.Timeval
		if err := copyInObj(t, tvAddr, &tv); err != nil {
			return 0, err
		}
		if tv.Sec < 0 || tv.Usec < 0 {
			return 0, unix.EINVAL
		}
		sec := tv.Sec + tv.Usec/1e6
		dl = after(time.Duration(sec)*time.Second + time.Duration(tv.Usec%1e6)*time.Microsecond)
	}
	n, err := doSelect(t, argInt(a[0]), a[1], a[2], a[3], dl)
	if err == errWaitInterrupted {
		err = kernel.ERESTARTNOHAND
	}
	if tvAddr != 0 && (err == nil || err == kernel.ERESTARTNOHAND) {
		left := dl.remaining()
		tv := unix.NsecToTimeval(left.Nanoseconds())
		copyOutObj(t, tvAddr, &tv)
	}
	return uintptr(n), err
}

// Pselect6 implements pselect6(2): a timespec timeout (updated with the
// time left) and a {sigset pointer, size} pair as the sixth argument.
func Pselect6(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	tsAddr := a[4]
	dl, err := copyInTimeout(t, tsAddr)
	if err != nil {
		return 0, err
	}
	var maskAddr, maskSize uintptr
	if a[5] != 0 {
		var b [16]byte
		if err := copyInObj(t, a[5], &b); err != nil {
			return 0, err
		}
		maskAddr = uintptr(binary.LittleEndian.Uint64(b[0:]))
		maskSize = uintptr(binary.LittleEndian.Uint64(b[8:]))
	}
	done, err := tempSignalMask(t, maskAddr, maskSize)
	if err != nil {
		return 0, err
	}
	n, err := doSelect(t, argInt(a[0]), a[1], a[2], a[3], dl)
	if err == errWaitInterrupted {
		err = kernel.ERESTARTNOHAND
	}
	done(err)
	if err == nil || err == kernel.ERESTARTNOHAND {
		writeBackTimespec(t, tsAddr, dl)
	}
	return uintptr(n), err
}

// pollCopyIn copies len(v) values of T from application memory (EFAULT
// unless all of them arrive).
func pollCopyIn[T any](t *kernel.Task, addr uintptr, v []T) error {
	if len(v) == 0 {
		return nil
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(v[0])))
	n, err := t.CopyIn(addr, b)
	if n != len(b) {
		if err == nil {
			err = unix.EFAULT
		}
		return err
	}
	return nil
}

// pollCopyOut copies v to application memory (EFAULT unless all of it
// lands).
func pollCopyOut[T any](t *kernel.Task, addr uintptr, v []T) error {
	if len(v) == 0 {
		return nil
	}
	b := unsafe.Slice((*byte)(unsafe.Pointer(&v[0])), len(v)*int(unsafe.Sizeof(v[0])))
	n, err := t.CopyOut(addr, b)
	if n != len(b) {
		if err == nil {
			err = unix.EFAULT
		}
		return err
	}
	return nil
}
