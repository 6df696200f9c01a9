package futex

// Robust futex word bits and limits (robust futexes, set_robust_list(2)).
const (
	// Waiters is FUTEX_WAITERS: some thread waits on the lock.
	Waiters = 0x80000000
	// OwnerDied is FUTEX_OWNER_DIED: the owner exited holding the lock.
	OwnerDied = 0x40000000
	// TIDMask is FUTEX_TID_MASK: the owner's thread ID.
	TIDMask = 0x3fffffff
	// RobustListLimit is ROBUST_LIST_LIMIT: at most this many entries are
	// walked, so a corrupt or cyclic list cannot hold up an exit.
	RobustListLimit = 2048
	// RobustListHeadSize is sizeof(struct robust_list_head) on x86-64,
	// the only len set_robust_list(2) accepts.
	RobustListHeadSize = 24
)

// RobustMemory is the exiting thread's address space as the robust-list
// walk sees it. Every method fails (EFAULT) on an unmapped or unreadable
// address.
type RobustMemory interface {
	// ReadU64 reads the 64-bit word at addr.
	ReadU64(addr uint64) (uint64, error)
	// ReadU32 reads the 32-bit word at addr.
	ReadU32(addr uint64) (uint32, error)
	// CompareAndSwapU32 atomically replaces the word at addr by new if it
	// holds old, and returns the value it held.
	CompareAndSwapU32(addr uint64, old, new uint32) (uint32, error)
	// Key returns the futex key of the word at addr, resolved as a shared
	// futex would be (private mappings give a private key).
	Key(addr uint64) (Key, error)
}

// ExitRobustList is what a thread's exit does with the robust list it
// registered with set_robust_list(2) at head (an address; 0 means none),
// tid being its thread ID. struct robust_list_head is, on x86-64:
//
//	struct robust_list *next;        // at head+0: first entry, or head
//	long futex_offset;               // at head+8: entry to futex word
//	struct robust_list *list_op_pending; // at head+16
//
// For each entry (each an address whose first word is the next entry's
// address, the low bit flagging a PI futex), and for list_op_pending, the
// futex word at entry+futex_offset that still names tid as owner gets
// OwnerDied set (keeping Waiters), and if it had waiters one of them is
// woken. The walk ends back at head, at the first unreadable entry, or
// after RobustListLimit entries, so a cyclic list terminates. It returns
// the number of futexes marked.
func (m *Manager) ExitRobustList(mem RobustMemory, head uint64, tid uint32) int {
	if head == 0 {
		return 0
	}
	entry, err := mem.ReadU64(head)
	if err != nil {
		return 0
	}
	off, err := mem.ReadU64(head + 8)
	if err != nil {
		return 0
	}
	pending, err := mem.ReadU64(head + 16)
	if err != nil {
		return 0
	}
	futexOffset := int64(off)
	pendingPI := pending&1 != 0
	pending &^= 1
	marked := 0
	for limit := RobustListLimit; entry&^1 != head; limit-- {
		if limit == 0 {
			break
		}
		pi := entry&1 != 0
		entry &^= 1
		// Read the next entry before the futex is released, as the
		// owner-died marking lets another thread reuse this one.
		next, nextErr := mem.ReadU64(entry)
		if entry != pending {
			if m.handleDeath(mem, entry, futexOffset, tid, pi, false) {
				marked++
			}
		}
		if nextErr != nil {
			return marked
		}
		entry = next
	}
	if pending != 0 {
		if m.handleDeath(mem, pending, futexOffset, tid, pendingPI, true) {
			marked++
		}
	}
	return marked
}

// handleDeath marks the futex of one robust entry whose owner died and wakes
// a waiter. pendingOp says the entry is list_op_pending, whose lock may
// have been released already: if its word is 0, a waiter may have missed
// its wake, so one is woken anyway. It reports whether the word was marked.
func (m *Manager) handleDeath(mem RobustMemory, entry uint64, futexOffset int64, tid uint32, pi, pendingOp bool) bool {
	addr := uint64(int64(entry) + futexOffset)
	if addr%4 != 0 {
		return false
	}
	val, err := mem.ReadU32(addr)
	if err != nil {
		return false
	}
	for {
		if pendingOp && !pi && val == 0 {
			m.wakeOne(mem, addr)
			return false
		}
		if val&TIDMask != tid {
			return false
		}
		nval := val&Waiters | OwnerDied
		prev, err := mem.CompareAndSwapU32(addr, val, nval)
		if err != nil {
			return false
		}
		if prev != val {
			// Changed under us (a waiter set Waiters): look again.
			val = prev
			continue
		}
		// PI futexes are woken by the PI machinery, which we lack.
		if !pi && val&Waiters != 0 {
			m.wakeOne(mem, addr)
		}
		return true
	}
}

// wakeOne wakes one waiter on the futex at addr.
func (m *Manager) wakeOne(mem RobustMemory, addr uint64) {
	if k, err := mem.Key(addr); err == nil {
		m.Wake(k, 1, BitsetMatchAny)
	}
}
