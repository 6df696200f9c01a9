package mm

// FillOut calls fn with the memory file bytes backing the application
// range [addr, addr+n), in order, for fn to fill in (as CopyOut would
// write them), until fn returns stop; it returns the bytes fn consumed and
// EFAULT if the range could not be reached whole. File reads use it to
// read straight into application memory, with no copy through a Sentry
// buffer.
//
// fn runs with the address space locked: it must not block on anything
// another task may be waiting to do (only reads of regular files qualify,
// never pipes, sockets or terminals) and must not call into the
// MemoryManager.
func (mm *MemoryManager) FillOut(addr uintptr, n int, fn func(b []byte) (consumed int, stop bool)) (int, error) {
	return mm.access(addr, n, true, fn)
}
