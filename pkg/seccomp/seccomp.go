// Package seccomp builds and installs seccomp-bpf filters for runsc's own
// host processes (the Sentry and the Gofer): a Filter lists the allowed
// system calls, each optionally restricted by argument values, and
// Program turns it into a classic BPF program (package bpf) that also
// checks the architecture. Programs are tested with bpf.Exec before they
// are ever installed.
package seccomp

import (
	"encoding/binary"
	"fmt"
	"sort"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/bpf"
)

// Seccomp return actions (linux/seccomp.h).
const (
	RetKillProcess = 0x80000000
	RetTrap        = 0x00030000
	RetErrno       = 0x00050000
	RetLog         = 0x7ffc0000
	RetAllow       = 0x7fff0000
)

// auditArchX86_64 is AUDIT_ARCH_X86_64.
const auditArchX86_64 = 0xc000003e

// Offsets in struct seccomp_data.
const (
	offNR   = 0
	offArch = 4
	offArgs = 16
)

// Arg restricts one system call argument (0..5).
type Arg struct {
	Index int
	// Mask selects the bits compared; 0 means all 64.
	Mask uint64
	// Value is what the masked argument must equal.
	Value uint64
}

// Rule is a conjunction of argument conditions; an empty Rule allows any
// arguments.
type Rule []Arg

// Filter maps system call numbers to the rules under which they are
// allowed: a call is allowed if any of its rules matches. A call with no
// rules (an empty slice) is allowed with any arguments.
type Filter map[uintptr][]Rule

// Allow adds sysno with any arguments.
func (f Filter) Allow(sysno ...uintptr) {
	for _, s := range sysno {
		f[s] = nil
	}
}

// AllowIf adds sysno, allowed when one of rules matches.
func (f Filter) AllowIf(sysno uintptr, rules ...Rule) {
	f[sysno] = append(f[sysno], rules...)
}

// Merge adds every rule of o to f.
func (f Filter) Merge(o Filter) {
	for s, rules := range o {
		if old, ok := f[s]; ok && (old == nil || rules == nil) {
			f[s] = nil
			continue
		}
		f[s] = append(f[s], rules...)
	}
}

// Program compiles f: on x86-64, an allowed call returns RetAllow and any
// other call returns deny; another architecture kills the process.
func (f Filter) Program(deny uint32) ([]bpf.Instruction, error) {
	p := bpf.NewProgram()
	p.AddStmt(bpf.Ld|bpf.W|bpf.Abs, offArch)
	// Another architecture is killed at once (a conditional jump reaches
	// only 255 instructions).
	p.AddJump(bpf.Jmp|bpf.Jeq|bpf.K, auditArchX86_64, "arch-ok", "")
	p.AddStmt(bpf.Ret|bpf.K, RetKillProcess)
	p.AddLabel("arch-ok")
	p.AddStmt(bpf.Ld|bpf.W|bpf.Abs, offNR)
	nrs := make([]uintptr, 0, len(f))
	for s := range f {
		nrs = append(nrs, s)
	}
	sort.Slice(nrs, func(i, j int) bool { return nrs[i] < nrs[j] })
	f.dispatch(p, nrs)
	p.AddLabel("allow")
	p.AddStmt(bpf.Ret|bpf.K, RetAllow)
	p.AddLabel("deny")
	p.AddStmt(bpf.Ret|bpf.K, deny)
	return p.Instructions()
}

// leafSize is the most numbers dispatch compares one by one.
const leafSize = 4

// dispatch emits the search for the number in A among nrs (sorted): a
// binary search, so that a call costs about log2(len(nrs)) comparisons
// rather than up to len(nrs) (the Sentry's filter lists ~140 calls, and
// every host system call of the Sentry and of systrap's stubs runs it: a
// futex call paid ~200 ns for the linear scan). An interior node is a
// conditional jump over an unconditional one to the upper half (a
// conditional jump reaches only 255 instructions); a leaf compares its few
// numbers in turn, each followed by its own block, which ends in a jump to
// allow or deny. Every path ends in such a jump, so no block falls through
// into the next.
func (f Filter) dispatch(p *bpf.Program, nrs []uintptr) {
	if len(nrs) <= leafSize {
		for _, s := range nrs {
			f.emitCall(p, s)
		}
		p.AddJumpTo("deny")
		return
	}
	mid := nrs[len(nrs)/2]
	upper, lower := fmt.Sprintf("ge%d", mid), fmt.Sprintf("lt%d", mid)
	p.AddJump(bpf.Jmp|bpf.Jge|bpf.K, uint32(mid), "", lower)
	p.AddJumpTo(upper)
	p.AddLabel(lower)
	f.dispatch(p, nrs[:len(nrs)/2])
	p.AddLabel(upper)
	f.dispatch(p, nrs[len(nrs)/2:])
}

// emitCall emits the comparison of A with s and, on a match, s's rules;
// A still holds the number when s does not match.
func (f Filter) emitCall(p *bpf.Program, s uintptr) {
	after := fmt.Sprintf("after%d", s)
	p.AddJump(bpf.Jmp|bpf.Jeq|bpf.K, uint32(s), "", after)
	if f[s] == nil {
		p.AddJumpTo("allow")
		p.AddLabel(after)
		return
	}
	for i, r := range f[s] {
		next := fmt.Sprintf("sys%d-rule%d", s, i+1)
		for _, a := range r {
			mask := a.Mask
			if mask == 0 {
				mask = ^uint64(0)
			}
			for half := 0; half < 2; half++ {
				m, v := uint32(mask>>(32*half)), uint32(a.Value>>(32*half))
				if m == 0 {
					continue
				}
				p.AddStmt(bpf.Ld|bpf.W|bpf.Abs, uint32(offArgs+8*a.Index+4*half))
				if m != ^uint32(0) {
					p.AddStmt(bpf.Alu|bpf.And|bpf.K, m)
				}
				p.AddJump(bpf.Jmp|bpf.Jeq|bpf.K, v&m, "", next)
			}
		}
		p.AddJumpTo("allow")
		p.AddLabel(next)
	}
	p.AddJumpTo("deny")
	p.AddLabel(after)
}

// Data builds a struct seccomp_data for x86-64, for bpf.Exec.
func Data(sysno uintptr, args ...uint64) []byte {
	b := make([]byte, 64)
	binary.LittleEndian.PutUint32(b[offNR:], uint32(sysno))
	binary.LittleEndian.PutUint32(b[offArch:], auditArchX86_64)
	for i, a := range args {
		binary.LittleEndian.PutUint64(b[offArgs+8*i:], a)
	}
	return b
}

// Install sets no_new_privs and installs prog on every thread of the
// process (SECCOMP_FILTER_FLAG_TSYNC). Children inherit it.
func Install(prog []bpf.Instruction) error {
	if _, _, e := syscall.AllThreadsSyscall6(unix.SYS_PRCTL, unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, 0); e != 0 {
		return fmt.Errorf("seccomp: setting no_new_privs: %w", e)
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: (*unix.SockFilter)(unsafe.Pointer(&prog[0]))}
	if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		return fmt.Errorf("seccomp: installing the filter: %w", e)
	}
	return nil
}
