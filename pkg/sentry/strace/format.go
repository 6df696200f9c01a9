package strace

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"strings"
)

// Limits on how much application memory one argument may print.
const (
	// maxString is how many bytes of a path or other string are printed.
	maxString = 64
	// maxBuffer is how many bytes of a data buffer are printed.
	maxBuffer = 32
	// maxElems is how many elements of an array (argv, iovecs, pollfds,
	// epoll events) are printed.
	maxElems = 8
)

// call is one system call being decoded: its arguments and, at exit, its
// result.
type call struct {
	t    Task
	args [6]uintptr
	ret  uintptr
	// exited is true once the call has returned; failed is true if it
	// returned an error.
	exited bool
	failed bool
}

// arg decodes one argument. in decodes it when the call is entered: inputs
// the call may overwrite (paths, write buffers) must be read then. out decodes
// it after the call returned successfully: results written to the application
// (read buffers, struct timespec results). A nil decoder prints the raw value
// in hex; an arg with neither decoder prints hex.
type arg struct {
	in  func(c *call, i int) string
	out func(c *call, i int) string
}

// enter decodes the argument as it is on entry: with in, or as a pointer for
// results not yet written, or in hex.
func (a arg) enter(c *call, i int) string {
	switch {
	case a.in != nil:
		return a.in(c, i)
	case a.out != nil:
		return fmtPtr(c, i)
	}
	return fmtHex(c, i)
}

// hex formats v as 0x....
func hex(v uint64) string {
	return "0x" + strconv.FormatUint(v, 16)
}

// ptr formats a pointer: NULL or hex.
func ptr(v uintptr) string {
	if v == 0 {
		return "NULL"
	}
	return hex(uint64(v))
}

// quote formats b strace-style: a double-quoted string with C escapes.
func quote(b []byte) string {
	var s strings.Builder
	s.Grow(len(b) + 2)
	s.WriteByte('"')
	for _, c := range b {
		switch c {
		case '"':
			s.WriteString(`\"`)
		case '\\':
			s.WriteString(`\\`)
		case '\n':
			s.WriteString(`\n`)
		case '\t':
			s.WriteString(`\t`)
		case '\r':
			s.WriteString(`\r`)
		case '\v':
			s.WriteString(`\v`)
		case '\f':
			s.WriteString(`\f`)
		default:
			if c >= 0x20 && c < 0x7f {
				s.WriteByte(c)
			} else {
				const digits = "0123456789abcdef"
				s.WriteString(`\x`)
				s.WriteByte(digits[c>>4])
				s.WriteByte(digits[c&0xf])
			}
		}
	}
	s.WriteByte('"')
	return s.String()
}

// readString reads the NUL-terminated string at addr and quotes it,
// truncated to max bytes with "..." after it. A bad address prints in hex.
func readString(t Task, addr uintptr, max int) string {
	if addr == 0 {
		return "NULL"
	}
	s, err := t.CopyInString(addr, max+1)
	switch {
	case len(s) > max:
		return quote([]byte(s[:max])) + "..."
	case err == nil:
		return quote([]byte(s))
	}
	// Either the string is longer than max+1 and CopyInString gave none of
	// it, or the memory cannot be read: read the first max bytes directly.
	b := make([]byte, max)
	if n, err := t.CopyIn(addr, b); err != nil || n != max {
		return hex(uint64(addr))
	}
	for i, c := range b {
		if c == 0 {
			return quote(b[:i])
		}
	}
	return quote(b) + "..."
}

// readBuffer reads n bytes at addr and quotes the first maxBuffer of them,
// with "..." when there were more. A bad address prints in hex.
func readBuffer(t Task, addr uintptr, n uint64) string {
	if addr == 0 && n != 0 {
		return "NULL"
	}
	m := n
	if m > maxBuffer {
		m = maxBuffer
	}
	b := make([]byte, m)
	if got, err := t.CopyIn(addr, b); err != nil || got != len(b) {
		return hex(uint64(addr))
	}
	if n > maxBuffer {
		return quote(b) + "..."
	}
	return quote(b)
}

// readStruct copies len(b) bytes at addr into b, reporting success.
func readStruct(t Task, addr uintptr, b []byte) bool {
	if addr == 0 {
		return false
	}
	n, err := t.CopyIn(addr, b)
	return err == nil && n == len(b)
}

// u32 and u64 read little-endian fields of a struct copied in.
func u32(b []byte, off int) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u64(b []byte, off int) uint64 { return binary.LittleEndian.Uint64(b[off:]) }

// flag is one named bit (or multi-bit value) of a flag word.
type flag struct {
	val  uint64
	name string
}

// flagSet names the bits of a flag word. Entries are matched in order, each
// clearing the bits it names, so multi-bit values (O_SYNC) must come before
// their parts (O_DSYNC).
type flagSet []flag

// format prints v as NAME|NAME|0x..., or zero when v is 0.
func (fs flagSet) format(v uint64, zero string) string {
	if v == 0 {
		return zero
	}
	var parts []string
	for _, f := range fs {
		if f.val != 0 && v&f.val == f.val {
			parts = append(parts, f.name)
			v &^= f.val
		}
	}
	if v != 0 {
		parts = append(parts, hex(v))
	}
	return strings.Join(parts, "|")
}

// enum names distinct values of an argument.
type enum map[uint64]string

// format prints the name of v, or v in decimal when it has none.
func (e enum) format(v uint64) string {
	if s, ok := e[v]; ok {
		return s
	}
	return strconv.FormatInt(int64(v), 10)
}

// Decoders usable as arg.in or arg.out.

func fmtHex(c *call, i int) string  { return hex(uint64(c.args[i])) }
func fmtPtr(c *call, i int) string  { return ptr(c.args[i]) }
func fmtInt(c *call, i int) string  { return strconv.FormatInt(int64(int32(c.args[i])), 10) }
func fmtLong(c *call, i int) string { return strconv.FormatInt(int64(c.args[i]), 10) }
func fmtUint(c *call, i int) string { return strconv.FormatUint(uint64(c.args[i]), 10) }
func fmtMode(c *call, i int) string { return octal(uint64(uint32(c.args[i]))) }

func octal(v uint64) string {
	if v == 0 {
		return "0"
	}
	return "0" + strconv.FormatUint(v, 8)
}

// atFDCWD is AT_FDCWD, the "current directory" directory descriptor.
const atFDCWD = -100

func fmtFD(c *call, i int) string { return strconv.Itoa(int(int32(c.args[i]))) }

func fmtDirFD(c *call, i int) string {
	if int32(c.args[i]) == atFDCWD {
		return "AT_FDCWD"
	}
	return fmtFD(c, i)
}

func fmtPath(c *call, i int) string { return readString(c.t, c.args[i], maxString) }

// inBuf is a buffer the application passes in whose length is argument n.
func inBuf(n int) arg {
	return arg{in: func(c *call, i int) string {
		return readBuffer(c.t, c.args[i], uint64(c.args[n]))
	}}
}

// outBuf is a buffer the call fills in, as many bytes as it returns.
var outBuf = arg{out: func(c *call, i int) string {
	return readBuffer(c.t, c.args[i], uint64(c.ret))
}}

// outString is a string the call fills in, as many bytes as it returns
// (readlink), not NUL-terminated.
var outString = arg{out: func(c *call, i int) string {
	n := uint64(c.ret)
	if n > maxString {
		b := make([]byte, maxString)
		if !readStruct(c.t, c.args[i], b) {
			return ptr(c.args[i])
		}
		return quote(b) + "..."
	}
	b := make([]byte, n)
	if n > 0 && !readStruct(c.t, c.args[i], b) {
		return ptr(c.args[i])
	}
	return quote(b)
}}

// outCString is a NUL-terminated string the call fills in (getcwd).
var outCString = arg{out: func(c *call, i int) string {
	return readString(c.t, c.args[i], maxString)
}}

// flagArg decodes a flag word.
func flagArg(fs flagSet, zero string) arg {
	return arg{in: func(c *call, i int) string { return fs.format(uint64(c.args[i]), zero) }}
}

// flagArg32 decodes a 32-bit flag word (an int argument).
func flagArg32(fs flagSet, zero string) arg {
	return arg{in: func(c *call, i int) string { return fs.format(uint64(uint32(c.args[i])), zero) }}
}

// enumArg decodes an argument with named values, as an int.
func enumArg(e enum) arg {
	return arg{in: func(c *call, i int) string { return e.format(uint64(int64(int32(c.args[i])))) }}
}

// popcount is the number of set bits of v.
func popcount(v uint64) int { return bits.OnesCount64(v) }
