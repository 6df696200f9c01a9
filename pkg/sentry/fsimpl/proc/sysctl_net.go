package proc

import (
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/vfs"
)

// /proc/sys/net: the network stack's sysctls (inet.Sysctler), and only
// those, so that a sysctl the stack cannot honour is ENOENT as on a
// kernel without it.

// capNetAdmin is CAP_NET_ADMIN.
const capNetAdmin = 12

// newNetSysDir builds /proc/sys/net for the stack st (nil: no stack).
func (fs *Filesystem) newNetSysDir(st inet.Stack) *dirNode {
	var sysctls []inet.Sysctl
	if sx, ok := st.(inet.Sysctler); ok {
		sysctls = sx.Sysctls()
	}
	return fs.sysctlDir("sys/net", sysctls)
}

// sysctlDir returns the directory at path (inside /proc) holding sysctls,
// whose paths are relative to it; entries are sorted by name, as Linux
// lists sysctl directories.
func (fs *Filesystem) sysctlDir(path string, sysctls []inet.Sysctl) *dirNode {
	var entries []entry
	sub := make(map[string][]inet.Sysctl)
	for _, s := range sysctls {
		name, rest, isDir := strings.Cut(s.Path, "/")
		if !isDir {
			entries = append(entries, entry{name, fs.intSysctlFile(path+"/"+name, s)})
			continue
		}
		if _, ok := sub[name]; !ok {
			entries = append(entries, entry{name: name})
		}
		s.Path = rest
		sub[name] = append(sub[name], s)
	}
	for i, e := range entries {
		if e.node == nil {
			entries[i].node = fs.sysctlDir(path+"/"+e.name, sub[e.name])
		}
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	return fs.dirOf(path, entries...)
}

// intSysctlFile returns the file of an integer sysctl: its value in
// decimal and a newline; writable by root (effective UID 0) or a holder of
// CAP_NET_ADMIN if s.Set is not nil.
func (fs *Filesystem) intSysctlFile(path string, s inet.Sysctl) *fileNode {
	if s.Pair != nil {
		return fs.pairSysctlFile(path, s)
	}
	n := &fileNode{fs: fs, ino: inoOf(path), perm: 0o444, owner: rootOwned,
		gen: func(vfs.Context) ([]byte, error) { return []byte(strconv.Itoa(int(s.Get())) + "\n"), nil }}
	if s.Set == nil {
		return n
	}
	n.perm = 0o644
	n.write = func(ctx vfs.Context, p []byte) error {
		if c := ctx.Credentials(); c.EffectiveUID != 0 && !c.HasCapability(capNetAdmin) {
			return unix.EACCES
		}
		v, err := parseSysctlInt(p)
		if err != nil {
			return err
		}
		if v < int64(s.Min) || v > int64(s.Max) {
			return unix.EINVAL
		}
		return s.Set(int32(v))
	}
	return n
}

// pairSysctlFile is intSysctlFile for a two-int sysctl (s.Pair): "lo\thi"
// and a newline; a write gives one or both, separated by white space,
// each parsed as parseSysctlInt does.
func (fs *Filesystem) pairSysctlFile(path string, s inet.Sysctl) *fileNode {
	n := &fileNode{fs: fs, ino: inoOf(path), perm: 0o444, owner: rootOwned,
		gen: func(vfs.Context) ([]byte, error) {
			lo, hi := s.Pair.Get()
			return []byte(strconv.FormatInt(lo, 10) + "\t" + strconv.FormatInt(hi, 10) + "\n"), nil
		}}
	if s.Pair.Set == nil {
		return n
	}
	n.perm = 0o644
	n.write = func(ctx vfs.Context, p []byte) error {
		if c := ctx.Credentials(); c.EffectiveUID != 0 && !c.HasCapability(capNetAdmin) {
			return unix.EACCES
		}
		// As Linux's vector sysctls: nothing written changes nothing,
		// one value sets the first alone. (Linux's write(2) then
		// consumes no more than two values; ours consumes all.)
		f := strings.Fields(string(p))
		if len(f) == 0 {
			return nil
		}
		lo, hi := s.Pair.Get()
		v := [2]int64{lo, hi}
		for i := range min(len(f), 2) {
			n, err := parseSysctlUint(f[i])
			if err != nil {
				return err
			}
			if n < s.Pair.Min || n > s.Pair.Max {
				return unix.EINVAL
			}
			v[i] = n
		}
		return s.Pair.Set(v[0], v[1])
	}
	return n
}

// parseSysctlUint parses one unsigned number in C notation that fits 32
// bits (a field of a vector sysctl); anything else is EINVAL.
func parseSysctlUint(s string) (int64, error) {
	base, digits := cBase(s)
	if digits == "" {
		return 0, unix.EINVAL
	}
	for i := 0; i < len(digits); i++ {
		if digitValue(digits[i]) >= base {
			return 0, unix.EINVAL
		}
	}
	v, err := strconv.ParseUint(digits, base, 32)
	if err != nil {
		return 0, unix.EINVAL
	}
	return int64(v), nil
}

// parseSysctlInt parses what is written to an integer sysctl as Linux's
// proc_dointvec does: leading white space, an optional minus sign, a
// number in C notation (0x… hexadecimal, 0… octal, else decimal) that fits
// an int, then the end or a space, tab or newline (what follows is
// ignored). Anything else is EINVAL.
func parseSysctlInt(p []byte) (int64, error) {
	s := strings.TrimLeft(string(p), " \t\n\v\f\r")
	neg := strings.HasPrefix(s, "-")
	if neg {
		s = s[1:]
	}
	base, s := cBase(s)
	end := 0
	for end < len(s) && digitValue(s[end]) < base {
		end++
	}
	if end == 0 || end < len(s) && !strings.ContainsRune(" \t\n", rune(s[end])) {
		return 0, unix.EINVAL
	}
	v, err := strconv.ParseUint(s[:end], base, 32)
	if err != nil || v > 1<<31 || v == 1<<31 && !neg {
		return 0, unix.EINVAL
	}
	if neg {
		return -int64(v), nil
	}
	return int64(v), nil
}
