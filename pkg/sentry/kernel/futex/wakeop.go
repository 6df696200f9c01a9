package futex

import "golang.org/x/sys/unix"

// FUTEX_WAKE_OP operations (futex(2)).
const (
	// OpSet stores oparg.
	OpSet = 0
	// OpAdd adds oparg.
	OpAdd = 1
	// OpOr ors in oparg.
	OpOr = 2
	// OpAndN clears the bits of oparg.
	OpAndN = 3
	// OpXor xors with oparg.
	OpXor = 4
	// OpArgShift is the flag in the op field that makes oparg mean
	// 1 << oparg.
	OpArgShift = 8
)

// FUTEX_WAKE_OP comparisons (futex(2)).
const (
	CmpEq = 0 // CmpEq: old == cmparg.
	CmpNe = 1 // CmpNe: old != cmparg.
	CmpLt = 2 // CmpLt: old < cmparg.
	CmpLe = 3 // CmpLe: old <= cmparg.
	CmpGt = 4 // CmpGt: old > cmparg.
	CmpGe = 5 // CmpGe: old >= cmparg.
)

// WakeOp is a decoded FUTEX_WAKE_OP argument (val3): the operation applied
// to the word at uaddr2 and the comparison of its old value that decides
// whether waiters on uaddr2 are woken too.
type WakeOp struct {
	// Op is one of OpSet … OpXor.
	Op uint32
	// OpArg is the operand, already shifted if OpArgShift was set.
	OpArg uint32
	// Cmp is one of CmpEq … CmpGe.
	Cmp uint32
	// CmpArg is the sign-extended 12-bit comparison operand.
	CmpArg int32
}

// signExtend12 sign-extends a 12-bit field.
func signExtend12(v uint32) int32 { return int32(v<<20) >> 20 }

// DecodeWakeOp decodes val3 of FUTEX_WAKE_OP, laid out as futex(2) shows:
// op in bits 28-31 (with OpArgShift as its top bit), cmp in bits 24-27,
// oparg in bits 12-23 and cmparg in bits 0-11, both signed. An unknown op
// or cmp gives ENOSYS, as Linux returns. A shift count outside 0-31 is
// reduced modulo 32, as Linux does.
func DecodeWakeOp(val3 uint32) (WakeOp, error) {
	op := val3 >> 28
	o := WakeOp{
		Op:     op &^ OpArgShift,
		Cmp:    (val3 >> 24) & 0xf,
		CmpArg: signExtend12(val3 & 0xfff),
	}
	oparg := signExtend12((val3 >> 12) & 0xfff)
	if op&OpArgShift != 0 {
		o.OpArg = 1 << (uint32(oparg) & 31)
	} else {
		o.OpArg = uint32(oparg)
	}
	if o.Op > OpXor || o.Cmp > CmpGe {
		return WakeOp{}, unix.ENOSYS
	}
	return o, nil
}

// Apply returns the new value of the word whose old value is old.
func (o WakeOp) Apply(old uint32) uint32 {
	switch o.Op {
	case OpSet:
		return o.OpArg
	case OpAdd:
		return old + o.OpArg
	case OpOr:
		return old | o.OpArg
	case OpAndN:
		return old &^ o.OpArg
	default: // OpXor
		return old ^ o.OpArg
	}
}

// Compare reports whether the old value satisfies the comparison; the
// comparison is signed, as in Linux.
func (o WakeOp) Compare(old uint32) bool {
	v := int32(old)
	switch o.Cmp {
	case CmpEq:
		return v == o.CmpArg
	case CmpNe:
		return v != o.CmpArg
	case CmpLt:
		return v < o.CmpArg
	case CmpLe:
		return v <= o.CmpArg
	case CmpGt:
		return v > o.CmpArg
	default: // CmpGe
		return v >= o.CmpArg
	}
}

// WakeOp is FUTEX_WAKE_OP: with the queues of both keys locked, it calls
// rmw to atomically replace the word at uaddr2 (key2) by modify(old) and
// return old; it then wakes up to nWake1 waiters on key1 and, if op's
// comparison holds for old, up to nWake2 waiters on key2 (each at least one,
// as Linux counts). It returns the total woken. An error from rmw (EFAULT)
// is returned with nobody woken.
func (m *Manager) WakeOp(key1, key2 Key, nWake1, nWake2 int, op WakeOp, rmw func(modify func(old uint32) uint32) (old uint32, err error)) (int, error) {
	b1, b2 := m.lockTwo(key1, key2)
	defer unlockTwo(b1, b2)
	old, err := rmw(op.Apply)
	if err != nil {
		return 0, err
	}
	n := b1.wakeMatchingLocked(key1, nWake1, BitsetMatchAny)
	if op.Compare(old) {
		n += b2.wakeMatchingLocked(key2, nWake2, BitsetMatchAny)
	}
	return n, nil
}
