// Package sysno holds the x86-64 Linux system call numbers, as Go constants
// (Read, Write, RtSigaction, ExitGroup, ...), and maps numbers back to the
// names Linux uses for them.
//
// The table in sysno_amd64.go is generated from the kernel's UAPI header
// asm/unistd_64.h by the program in gen/.
package sysno

//go:generate go run ./gen -o sysno_amd64.go

import (
	"strconv"
	"sync"
)

// Name returns the Linux name of system call n ("rt_sigaction"), or
// "syscall_N" when n is not a known system call number.
func Name(n uintptr) string {
	if n < uintptr(len(names)) {
		if s := names[n]; s != "" {
			return s
		}
	}
	return "syscall_" + strconv.FormatUint(uint64(n), 10)
}

// Lookup returns the number of the system call Linux calls name
// ("rt_sigaction"), and whether there is one.
func Lookup(name string) (uintptr, bool) {
	lookupOnce.Do(buildLookup)
	n, ok := byName[name]
	return n, ok
}

// Count is the length of the number space covered by the table: every known
// system call number is below Count.
const Count = Max + 1

var (
	lookupOnce sync.Once
	byName     map[string]uintptr
)

func buildLookup() {
	byName = make(map[string]uintptr, len(names))
	for n, s := range names {
		if s != "" {
			byName[s] = uintptr(n)
		}
	}
}
