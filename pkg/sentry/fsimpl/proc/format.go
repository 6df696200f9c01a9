package proc

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/mm"
)

// The text formats of the per-process files, as pure functions of
// snapshots so that they can be tested against Linux's output.

// pageSize is the page size reported in statm and smaps.
const pageSize = 4096

// clockTicks is USER_HZ: the unit of times in stat files.
const clockTicks = 100

// memStats summarises an address space for status and statm.
type memStats struct {
	Size, RSS, Data, Stack, Exe, Lib uint64 // bytes
}

// vmStats computes memStats from a list of mappings. Resident sizes are
// not tracked by mm yet and are reported as 0.
func vmStats(vmas []mm.VMAInfo) memStats {
	var s memStats
	for _, v := range vmas {
		n := uint64(v.End - v.Start)
		s.Size += n
		switch {
		case v.Name == "[stack]" || v.GrowsDown:
			s.Stack += n
		case v.Mappable != nil && v.Perms.Execute:
			s.Exe += n
		case v.Private && v.Perms.Write:
			s.Data += n
		}
	}
	return s
}

// taskSnapshot is what stat and status say about one task or process.
type taskSnapshot struct {
	PID, TID, PPID, PGID, SID, TracerPID int32
	Comm                                 string
	// State is one of R, S, T, Z.
	State      byte
	NumThreads int
	// Times in clock ticks.
	StartTicks, UTicks, STicks, CUTicks, CSTicks uint64
	// HasMM is false for zombies: status then has no Vm lines.
	HasMM                          bool
	Mem                            memStats
	RSSLimit                       uint64
	StartCode, EndCode, StartStack uint64
	StartBrk                       uint64
	ArgStart, ArgEnd               uint64
	EnvStart, EnvEnd               uint64
	SigPnd, ShdPnd, SigBlk         uint64
	SigIgn, SigCgt                 uint64
	SigQueued                      int
	SigLimit                       uint64
	ExitSignal                     int
	ExitCode                       int
	Umask                          uint32
	Creds                          *auth.Credentials
	NoNewPrivs                     bool
	FDSize                         int
	NumCPU                         int
}

// stateNames are the State: lines of status.
var stateNames = map[byte]string{
	'R': "R (running)", 'S': "S (sleeping)", 'T': "T (stopped)", 'Z': "Z (zombie)", 'D': "D (disk sleep)",
}

// formatStat returns a /proc/[pid]/stat line: the 52 fields of proc(5).
func formatStat(s *taskSnapshot) string {
	pages := func(b uint64) uint64 { return b / pageSize }
	f := []string{
		strconv.Itoa(int(s.TID)), "(" + s.Comm + ")", string(s.State),
		d(s.PPID), d(s.PGID), d(s.SID),
		"0",                // tty_nr
		"-1",               // tpgid
		"4194560",          // flags: PF_RANDOMIZE | PF_FORKNOEXEC, as a typical process
		"0", "0", "0", "0", // minflt cminflt majflt cmajflt
		u(s.UTicks), u(s.STicks), u(s.CUTicks), u(s.CSTicks),
		"20", "0", // priority nice
		strconv.Itoa(s.NumThreads),
		"0", // itrealvalue
		u(s.StartTicks),
		u(s.Mem.Size), u(pages(s.Mem.RSS)), u(s.RSSLimit),
		u(s.StartCode), u(s.EndCode), u(s.StartStack),
		"0", "0", // kstkesp kstkeip
		u(s.SigPnd | s.ShdPnd), u(s.SigBlk), u(s.SigIgn), u(s.SigCgt),
		"0", "0", "0", // wchan nswap cnswap
		strconv.Itoa(s.ExitSignal),
		"0", "0", "0", "0", "0", "0", // processor rt_priority policy delayacct guest cguest
		"0", "0", // start_data end_data
		u(s.StartBrk), u(s.ArgStart), u(s.ArgEnd), u(s.EnvStart), u(s.EnvEnd),
		strconv.Itoa(s.ExitCode),
	}
	return strings.Join(f, " ") + "\n"
}

func d(v int32) string  { return strconv.Itoa(int(v)) }
func u(v uint64) string { return strconv.FormatUint(v, 10) }

// formatStatus returns /proc/[pid]/status.
func formatStatus(s *taskSnapshot) string {
	var b strings.Builder
	kv := func(k, v string) { b.WriteString(k + ":\t" + v + "\n") }
	kb := func(k string, v uint64) { fmt.Fprintf(&b, "%s:\t%8d kB\n", k, v/1024) }
	mask := func(k string, v uint64) { fmt.Fprintf(&b, "%s:\t%016x\n", k, v) }
	c := s.Creds
	kv("Name", s.Comm)
	kv("Umask", fmt.Sprintf("%04o", s.Umask))
	kv("State", stateNames[s.State])
	kv("Tgid", d(s.PID))
	kv("Ngid", "0")
	kv("Pid", d(s.TID))
	kv("PPid", d(s.PPID))
	kv("TracerPid", d(s.TracerPID))
	kv("Uid", fmt.Sprintf("%d\t%d\t%d\t%d", c.RealUID, c.EffectiveUID, c.SavedUID, c.FSUID))
	kv("Gid", fmt.Sprintf("%d\t%d\t%d\t%d", c.RealGID, c.EffectiveGID, c.SavedGID, c.FSGID))
	kv("FDSize", strconv.Itoa(s.FDSize))
	var groups strings.Builder
	for _, g := range c.ExtraGIDs {
		groups.WriteString(strconv.FormatUint(uint64(g), 10) + " ")
	}
	kv("Groups", groups.String())
	kv("NStgid", d(s.PID))
	kv("NSpid", d(s.TID))
	kv("NSpgid", d(s.PGID))
	kv("NSsid", d(s.SID))
	if s.HasMM {
		m := s.Mem
		kb("VmPeak", m.Size)
		kb("VmSize", m.Size)
		kb("VmLck", 0)
		kb("VmPin", 0)
		kb("VmHWM", m.RSS)
		kb("VmRSS", m.RSS)
		kb("RssAnon", m.RSS)
		kb("RssFile", 0)
		kb("RssShmem", 0)
		kb("VmData", m.Data)
		kb("VmStk", m.Stack)
		kb("VmExe", m.Exe)
		kb("VmLib", m.Lib)
		kb("VmPTE", 0)
		kb("VmSwap", 0)
		kb("HugetlbPages", 0)
	}
	kv("CoreDumping", "0")
	kv("THP_enabled", "0")
	kv("Threads", strconv.Itoa(s.NumThreads))
	kv("SigQ", fmt.Sprintf("%d/%d", s.SigQueued, s.SigLimit))
	mask("SigPnd", s.SigPnd)
	mask("ShdPnd", s.ShdPnd)
	mask("SigBlk", s.SigBlk)
	mask("SigIgn", s.SigIgn)
	mask("SigCgt", s.SigCgt)
	mask("CapInh", c.Inheritable)
	mask("CapPrm", c.Permitted)
	mask("CapEff", c.Effective)
	mask("CapBnd", c.Bounding)
	mask("CapAmb", c.Ambient)
	nnp := "0"
	if s.NoNewPrivs {
		nnp = "1"
	}
	kv("NoNewPrivs", nnp)
	kv("Seccomp", "0")
	kv("Seccomp_filters", "0")
	kv("Speculation_Store_Bypass", "thread vulnerable")
	kv("Cpus_allowed", fmt.Sprintf("%x", cpuMask(s.NumCPU)))
	kv("Cpus_allowed_list", cpuList(s.NumCPU))
	kv("Mems_allowed", "00000001")
	kv("Mems_allowed_list", "0")
	kv("voluntary_ctxt_switches", "0")
	kv("nonvoluntary_ctxt_switches", "0")
	return b.String()
}

// cpuMask is the bit mask of n CPUs (the low 64 at most).
func cpuMask(n int) uint64 {
	if n >= 64 {
		return ^uint64(0)
	}
	return uint64(1)<<uint(n) - 1
}

// cpuList is the list form of CPUs 0..n-1: "0" or "0-3".
func cpuList(n int) string {
	if n <= 1 {
		return "0"
	}
	return "0-" + strconv.Itoa(n-1)
}

// formatStatm returns /proc/[pid]/statm: sizes in pages.
func formatStatm(m memStats) string {
	p := func(b uint64) uint64 { return b / pageSize }
	return fmt.Sprintf("%d %d %d %d %d %d %d\n", p(m.Size), p(m.RSS), 0, p(m.Exe), 0, p(m.Data+m.Stack), 0)
}

// mapsEntry is one line of maps: a mapping and what backs it.
type mapsEntry struct {
	Start, End     uint64
	R, W, X, Share bool
	Offset         uint64
	DevMajor       uint32
	DevMinor       uint32
	Ino            uint64
	Path           string
}

// formatMapsLine returns one line of /proc/[pid]/maps, as Linux's
// show_map_vma prints it: the path, if any, starts at column 73.
func formatMapsLine(e mapsEntry) string {
	flag := func(ok bool, c byte) byte {
		if ok {
			return c
		}
		return '-'
	}
	share := byte('p')
	if e.Share {
		share = 's'
	}
	line := fmt.Sprintf("%08x-%08x %c%c%c%c %08x %02x:%02x %d ", e.Start, e.End,
		flag(e.R, 'r'), flag(e.W, 'w'), flag(e.X, 'x'), share, e.Offset, e.DevMajor, e.DevMinor, e.Ino)
	if e.Path != "" {
		const width = 25 + 8*6 - 1
		if len(line) < width {
			line += strings.Repeat(" ", width-len(line))
		}
		line += " " + e.Path
	}
	return line + "\n"
}

// formatSmapsEntry returns the smaps block of one mapping: its maps line
// and its sizes. Residency is not tracked, so Rss and its parts are 0.
func formatSmapsEntry(e mapsEntry, v mm.VMAInfo) string {
	var b strings.Builder
	b.WriteString(formatMapsLine(e))
	kbLine := func(k string, n uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", k+":", n/1024) }
	kbLine("Size", e.End-e.Start)
	kbLine("KernelPageSize", pageSize)
	kbLine("MMUPageSize", pageSize)
	for _, k := range []string{"Rss", "Pss", "Pss_Dirty", "Shared_Clean", "Shared_Dirty", "Private_Clean",
		"Private_Dirty", "Referenced", "Anonymous", "LazyFree", "AnonHugePages", "ShmemPmdMapped",
		"FilePmdMapped", "Shared_Hugetlb", "Private_Hugetlb", "Swap", "SwapPss", "Locked"} {
		kbLine(k, 0)
	}
	fmt.Fprintf(&b, "%-16s%d\n", "THPeligible:", 0)
	b.WriteString("VmFlags:")
	for _, f := range []struct {
		ok   bool
		name string
	}{
		{v.Perms.Read, "rd"}, {v.Perms.Write, "wr"}, {v.Perms.Execute, "ex"}, {!v.Private, "sh"},
		{v.MaxPerms.Read, "mr"}, {v.MaxPerms.Write, "mw"}, {v.MaxPerms.Execute, "me"},
		{v.GrowsDown, "gd"}, {v.Private && v.Perms.Write, "ac"},
	} {
		if f.ok {
			b.WriteString(" " + f.name)
		}
	}
	b.WriteString(" \n")
	return b.String()
}

// limitNames are the rows of /proc/[pid]/limits, by resource number.
var limitNames = [...]struct{ name, unit string }{
	{"Max cpu time", "seconds"},
	{"Max file size", "bytes"},
	{"Max data size", "bytes"},
	{"Max stack size", "bytes"},
	{"Max core file size", "bytes"},
	{"Max resident set", "bytes"},
	{"Max processes", "processes"},
	{"Max open files", "files"},
	{"Max locked memory", "bytes"},
	{"Max address space", "bytes"},
	{"Max file locks", "locks"},
	{"Max pending signals", "signals"},
	{"Max msgqueue size", "bytes"},
	{"Max nice priority", ""},
	{"Max realtime priority", ""},
	{"Max realtime timeout", "us"},
}

// formatLimits returns /proc/[pid]/limits from (soft, hard) pairs indexed
// by resource number; ^0 is unlimited.
func formatLimits(lim [][2]uint64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%-25s %-20s %-20s %-10s\n", "Limit", "Soft Limit", "Hard Limit", "Units")
	val := func(v uint64) string {
		if v == ^uint64(0) {
			return "unlimited"
		}
		return strconv.FormatUint(v, 10)
	}
	for i, l := range lim {
		if i >= len(limitNames) {
			break
		}
		fmt.Fprintf(&b, "%-25s %-20s %-20s ", limitNames[i].name, val(l[0]), val(l[1]))
		if limitNames[i].unit != "" {
			fmt.Fprintf(&b, "%-10s", limitNames[i].unit)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// procNumBuf is PROC_NUMBUF: a number written to a /proc file is read
// from its first procNumBuf-1 bytes.
const procNumBuf = 13

// parseOOMScoreAdj parses a value written to oom_score_adj as Linux's
// kstrtoint with base 0 does, after stripping surrounding white space: an
// optional sign, then hexadecimal after "0x", octal after "0", decimal
// otherwise. A number beyond an int is ERANGE, anything else EINVAL.
func parseOOMScoreAdj(p []byte) (int32, error) {
	if len(p) > procNumBuf-1 {
		p = p[:procNumBuf-1]
	}
	s := strings.TrimSpace(string(p))
	neg := false
	if s != "" && (s[0] == '+' || s[0] == '-') {
		neg = s[0] == '-'
		s = s[1:]
	}
	base, s := cBase(s)
	// ParseUint takes no sign, prefix or underscore in an explicit base.
	n, err := strconv.ParseUint(s, base, 64)
	if errors.Is(err, strconv.ErrRange) || n > 1<<31 || (!neg && n == 1<<31) {
		return 0, unix.ERANGE
	}
	if err != nil {
		return 0, unix.EINVAL
	}
	if neg {
		return int32(-int64(n)), nil
	}
	return int32(n), nil
}

// cBase returns the base of a number in C notation (kstrto*'s base 0) and
// its digits: hexadecimal after "0x", octal if it starts with 0 (which is
// kept), decimal otherwise.
func cBase(s string) (int, string) {
	switch {
	case len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') && digitValue(s[2]) < 16:
		return 16, s[2:]
	case len(s) > 1 && s[0] == '0':
		return 8, s
	}
	return 10, s
}

// digitValue returns the value of the digit c in bases up to 16, or 16.
func digitValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return 16
}

// oomScore is /proc/[pid]/oom_score as Linux computes it (oom_badness and
// proc_oom_score): the resident pages plus adj thousandths of all pages,
// scaled into [0, 2000]; 0 for a process with no memory or with adj -1000,
// which the OOM killer never picks.
func oomScore(rssPages, totalPages uint64, adj int32, hasMM bool) uint64 {
	if !hasMM || adj == -1000 || totalPages == 0 {
		return 0
	}
	badness := int64(rssPages) + int64(adj)*int64(totalPages/1000)
	return uint64((1000 + badness*1000/int64(totalPages)) * 2 / 3)
}
