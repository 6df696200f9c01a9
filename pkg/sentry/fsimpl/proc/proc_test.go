package proc

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/platform"
)

func TestFormatMapsLine(t *testing.T) {
	for _, tc := range []struct {
		e    mapsEntry
		want string
	}{
		{mapsEntry{Start: 0x400000, End: 0x40b000, R: true, X: true, Offset: 0, DevMajor: 8, DevMinor: 1, Ino: 1234, Path: "/bin/cat"},
			"00400000-0040b000 r-xp 00000000 08:01 1234                               /bin/cat\n"},
		{mapsEntry{Start: 0x7ffd0000, End: 0x7ffd1000, R: true, W: true},
			"7ffd0000-7ffd1000 rw-p 00000000 00:00 0 \n"},
		{mapsEntry{Start: 0x7f0000000000, End: 0x7f0000001000, R: true, Share: true, Offset: 0x1000, Path: "[stack]"},
			"7f0000000000-7f0000001000 r--s 00001000 00:00 0                          [stack]\n"},
	} {
		if got := formatMapsLine(tc.e); got != tc.want {
			t.Errorf("formatMapsLine(%+v) =\n%q, want\n%q", tc.e, got, tc.want)
		}
	}
}

// TestMapsLikeHost reformats every line of the host's own maps and expects
// the same bytes back.
func TestMapsLikeHost(t *testing.T) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		fields := strings.Fields(line)
		var e mapsEntry
		fmt.Sscanf(fields[0], "%x-%x", &e.Start, &e.End)
		p := fields[1]
		e.R, e.W, e.X, e.Share = p[0] == 'r', p[1] == 'w', p[2] == 'x', p[3] == 's'
		e.Offset, _ = strconv.ParseUint(fields[2], 16, 64)
		fmt.Sscanf(fields[3], "%x:%x", &e.DevMajor, &e.DevMinor)
		e.Ino, _ = strconv.ParseUint(fields[4], 10, 64)
		if len(fields) > 5 {
			e.Path = strings.Join(fields[5:], " ")
		}
		if got := formatMapsLine(e); got != line+"\n" {
			t.Errorf("got  %q\nwant %q", got, line+"\n")
		}
	}
}

// TestLimitsLikeHost formats the test process's own limits and compares
// them with the host's /proc/self/limits.
func TestLimitsLikeHost(t *testing.T) {
	want, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		t.Skip(err)
	}
	lim := make([][2]uint64, 16)
	for i := range lim {
		var r unix.Rlimit
		if err := unix.Getrlimit(i, &r); err != nil {
			t.Fatal(err)
		}
		lim[i] = [2]uint64{r.Cur, r.Max}
	}
	if got := formatLimits(lim); got != string(want) {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func snapshotForTest() *taskSnapshot {
	return &taskSnapshot{
		PID: 7, TID: 8, PPID: 1, PGID: 7, SID: 1, Comm: "my prog", State: 'S', NumThreads: 2,
		HasMM: true, Mem: memStats{Size: 8 << 20, Data: 1 << 20, Stack: 132 << 10, Exe: 64 << 10},
		SigBlk: 1 << 1, SigIgn: 1 << 12, SigCgt: 1<<1 | 1<<16, ShdPnd: 1 << 9,
		SigLimit: 63469, ExitSignal: 17, Umask: 0o022, FDSize: 64, NumCPU: 4,
		Creds: &auth.Credentials{RealUID: 1000, EffectiveUID: 1001, SavedUID: 1002, FSUID: 1003,
			RealGID: 100, EffectiveGID: 101, SavedGID: 102, FSGID: 103, ExtraGIDs: []uint32{4, 24},
			Inheritable: 1 << 13, Permitted: 1<<13 | 1<<5, Effective: 1 << 5, Bounding: auth.AllCapabilities, Ambient: 1 << 13},
		NoNewPrivs: true,
	}
}

func TestFormatStat(t *testing.T) {
	s := snapshotForTest()
	line := formatStat(s)
	if !strings.HasSuffix(line, "\n") {
		t.Fatalf("no newline: %q", line)
	}
	// The command is in parentheses and may hold spaces; split after it.
	i := strings.LastIndexByte(line, ')')
	head, rest := line[:i+1], strings.Fields(line[i+1:])
	if head != "8 (my prog)" {
		t.Errorf("head = %q", head)
	}
	if got := 2 + len(rest); got != 52 {
		t.Fatalf("%d fields, want 52: %q", got, line)
	}
	for _, tc := range []struct {
		field int // 1-based, as in proc(5)
		want  string
	}{
		{3, "S"}, {4, "1"}, {5, "7"}, {6, "1"}, {7, "0"}, {20, "2"}, {23, strconv.Itoa(8 << 20)},
		{31, "512"}, {32, "2"}, {33, "4096"}, {34, strconv.Itoa(1<<1 | 1<<16)}, {38, "17"},
	} {
		if got := rest[tc.field-3]; got != tc.want {
			t.Errorf("field %d = %q, want %q", tc.field, got, tc.want)
		}
	}
}

func TestFormatStatus(t *testing.T) {
	s := snapshotForTest()
	got := formatStatus(s)
	for _, want := range []string{
		"Name:\tmy prog\n", "Umask:\t0022\n", "State:\tS (sleeping)\n", "Tgid:\t7\n", "Pid:\t8\n", "PPid:\t1\n",
		"TracerPid:\t0\n", "Uid:\t1000\t1001\t1002\t1003\n", "Gid:\t100\t101\t102\t103\n", "FDSize:\t64\n",
		"Groups:\t4 24 \n", "VmSize:\t    8192 kB\n", "VmStk:\t     132 kB\n", "Threads:\t2\n", "SigQ:\t0/63469\n",
		"SigPnd:\t0000000000000000\n", "ShdPnd:\t0000000000000200\n", "SigBlk:\t0000000000000002\n",
		"SigIgn:\t0000000000001000\n", "SigCgt:\t0000000000010002\n",
		"CapInh:\t0000000000002000\n", "CapPrm:\t0000000000002020\n", "CapEff:\t0000000000000020\n",
		"CapBnd:\t000001ffffffffff\n", "CapAmb:\t0000000000002000\n", "NoNewPrivs:\t1\n", "Seccomp:\t0\n", "Cpus_allowed:\tf\n", "Cpus_allowed_list:\t0-3\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
	s.HasMM, s.State = false, 'Z'
	got = formatStatus(s)
	if strings.Contains(got, "VmSize") || !strings.Contains(got, "State:\tZ (zombie)\n") {
		t.Errorf("zombie status:\n%s", got)
	}
}

func TestVMStats(t *testing.T) {
	rw := platform.ReadWrite
	vmas := []mm.VMAInfo{
		{Start: 0x1000, End: 0x3000, Perms: platform.ReadExec, Private: true, Mappable: fakeMappable{}},
		{Start: 0x3000, End: 0x4000, Perms: rw, Private: true},
		{Start: 0x10000, End: 0x20000, Perms: rw, Private: true, GrowsDown: true, Name: "[stack]"},
		{Start: 0x30000, End: 0x31000, Perms: platform.Read, Private: false},
	}
	got := vmStats(vmas)
	want := memStats{Size: 0x2000 + 0x1000 + 0x10000 + 0x1000, Exe: 0x2000, Data: 0x1000, Stack: 0x10000}
	if got != want {
		t.Errorf("vmStats = %+v, want %+v", got, want)
	}
	if s := formatStatm(got); s != "20 0 0 2 0 17 0\n" {
		t.Errorf("statm = %q", s)
	}
}

type fakeMappable struct{}

func (fakeMappable) ReadAt([]byte, int64) (int, error) { return 0, nil }
func (fakeMappable) Size() int64                       { return 0 }

func TestCPUList(t *testing.T) {
	for _, tc := range []struct {
		n    int
		list string
		mask uint64
	}{{1, "0", 1}, {2, "0-1", 3}, {8, "0-7", 0xff}, {64, "0-63", ^uint64(0)}} {
		if got := cpuList(tc.n); got != tc.list {
			t.Errorf("cpuList(%d) = %q, want %q", tc.n, got, tc.list)
		}
		if got := cpuMask(tc.n); got != tc.mask {
			t.Errorf("cpuMask(%d) = %x, want %x", tc.n, got, tc.mask)
		}
	}
}

// fakeCPUID answers like an Intel CPU with a few features.
func fakeCPUID(leaf, _ uint32) (uint32, uint32, uint32, uint32) {
	str := func(s string, i int) uint32 {
		b := []byte(s)[4*i:]
		return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	}
	brand := "Intel(R) Xeon(R) CPU @ 2.00GHz" + strings.Repeat("\x00", 18)
	switch leaf {
	case 0:
		v := "GenuineIntel"
		return 0xd, str(v, 0), str(v, 2), str(v, 1)
	case 1:
		// family 6, model 0x55, stepping 7; clflush 8*8; fpu, sse2; sse4_2, hypervisor.
		return 0x00050657, 8 << 8, 1<<20 | 1<<31, 1<<0 | 1<<26
	case 0x80000000:
		return 0x80000008, 0, 0, 0
	case 0x80000001:
		return 0, 0, 0, 1 << 29
	case 0x80000002, 0x80000003, 0x80000004:
		i := int(leaf-0x80000002) * 4
		return str(brand, i), str(brand, i+1), str(brand, i+2), str(brand, i+3)
	case 0x80000008:
		return 46 | 48<<8, 0, 0, 0
	}
	return 0, 0, 0, 0
}

func TestDescribeCPU(t *testing.T) {
	c := describeCPU(fakeCPUID)
	if c.vendor != "GenuineIntel" || c.model != "Intel(R) Xeon(R) CPU @ 2.00GHz" || c.family != 6 ||
		c.modelNum != 0x55 || c.stepping != 7 || c.clflush != 64 || c.physBits != 46 || c.virtBits != 48 {
		t.Errorf("describeCPU = %+v", c)
	}
	if got, want := strings.Join(c.flags, " "), "fpu sse2 lm sse4_2 hypervisor"; got != want {
		t.Errorf("flags = %q, want %q", got, want)
	}
	info := formatCPUInfo(c, 2)
	for _, want := range []string{"processor\t: 1\n", "vendor_id\t: GenuineIntel\n", "model\t\t: 85\n",
		"flags\t\t: fpu sse2 lm sse4_2 hypervisor\n", "address sizes\t: 46 bits physical, 48 bits virtual\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("cpuinfo lacks %q:\n%s", want, info)
		}
	}
}

func TestFormatMeminfo(t *testing.T) {
	got := formatMeminfo(16<<30, 8<<30)
	for _, want := range []string{"MemTotal:       16777216 kB\n", "MemFree:         8388608 kB\n",
		"MemAvailable:    8388608 kB\n", "SwapTotal:             0 kB\n", "HugePages_Total:       0\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("meminfo lacks %q:\n%s", want, got)
		}
	}
}

func TestAnonName(t *testing.T) {
	for _, tc := range []struct {
		st   unix.Statx_t
		want string
	}{
		{unix.Statx_t{Mode: unix.S_IFIFO | 0o600, Ino: 42}, "pipe:[42]"},
		{unix.Statx_t{Mode: unix.S_IFSOCK | 0o777, Ino: 7}, "socket:[7]"},
		{unix.Statx_t{Mode: unix.S_IFCHR | 0o620, Rdev_major: 136, Rdev_minor: 3}, "/dev/pts/3"},
		{unix.Statx_t{Mode: unix.S_IFCHR | 0o666, Rdev_major: 1, Rdev_minor: 3}, "/dev/null"},
		{unix.Statx_t{Mode: unix.S_IFREG | 0o644, Ino: 9}, "host:[9]"},
	} {
		if got := anonName(tc.st); got != tc.want {
			t.Errorf("anonName(%o) = %q, want %q", tc.st.Mode, got, tc.want)
		}
	}
}

func TestMountEscape(t *testing.T) {
	if got, want := mountEscape("/a b\\c\td\ne"), `/a\040b\134c\011d\012e`; got != want {
		t.Errorf("mountEscape = %q, want %q", got, want)
	}
}

func TestFormatVersion(t *testing.T) {
	if got := formatVersion("6.1.0", "#1 SMP"); !strings.HasPrefix(got, "Linux version 6.1.0 (") || !strings.HasSuffix(got, " #1 SMP\n") {
		t.Errorf("formatVersion = %q", got)
	}
}

func TestParseOOMScoreAdj(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int32
		err  error
	}{
		{"12", 12, nil}, {" -7\n", -7, nil}, {"+3", 3, nil}, {"0x1F", 31, nil}, {"-0x10", -16, nil},
		{"017", 15, nil}, {"0", 0, nil}, {"-2147483648", -1 << 31, nil},
		{"", 0, unix.EINVAL}, {"abc", 0, unix.EINVAL}, {"0x", 0, unix.EINVAL}, {"08", 0, unix.EINVAL},
		{"1 2", 0, unix.EINVAL}, {"1_0", 0, unix.EINVAL}, {"0b1", 0, unix.EINVAL}, {"--1", 0, unix.EINVAL},
		{"2147483648", 0, unix.ERANGE}, {"99999999999", 0, unix.ERANGE},
		// Only the first 12 bytes count, as in Linux.
		{"000000000000005", 0, nil},
	} {
		got, err := parseOOMScoreAdj([]byte(tc.in))
		if got != tc.want || err != tc.err {
			t.Errorf("parseOOMScoreAdj(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestOOMScore(t *testing.T) {
	const total = 1 << 20 // pages: 4 GiB
	for _, tc := range []struct {
		name  string
		rss   uint64
		adj   int32
		hasMM bool
		want  uint64
	}{
		{"empty", 0, 0, true, 666},
		{"half the memory", total / 2, 0, true, 1000},
		{"adj 1000: thousandths of whole pages", 0, 1000, true, 1332},
		{"adj -1000 is never picked", total, -1000, true, 0},
		{"adj -999", 0, -999, true, 1},
		{"no memory", 100, 0, false, 0},
	} {
		if got := oomScore(tc.rss, total, tc.adj, tc.hasMM); got != tc.want {
			t.Errorf("%s: oomScore = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// The cases are what writes to /proc/sys/net/ipv4/ip_forward of a Linux
// 6.1 network namespace did.
func TestParseSysctlInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  error
	}{
		{"1", 1, nil}, {"0\n", 0, nil}, {" 1", 1, nil}, {"1 ", 1, nil}, {"\n7", 7, nil}, {"5\t", 5, nil},
		{"2", 2, nil}, {"-1", -1, nil}, {"-0", 0, nil}, {"0x1", 1, nil}, {"0x10", 16, nil}, {"010", 8, nil},
		{"01", 1, nil}, {"1 2", 1, nil}, {"2147483647", 1<<31 - 1, nil}, {"-2147483648", -1 << 31, nil},
		{"abc", 0, unix.EINVAL}, {"1abc", 0, unix.EINVAL}, {"5x", 0, unix.EINVAL}, {"+1", 0, unix.EINVAL},
		{"- 1", 0, unix.EINVAL}, {"-", 0, unix.EINVAL}, {"   ", 0, unix.EINVAL}, {"08", 0, unix.EINVAL},
		{"2147483648", 0, unix.EINVAL}, {"-2147483649", 0, unix.EINVAL}, {"99999999999", 0, unix.EINVAL},
	} {
		got, err := parseSysctlInt([]byte(tc.in))
		if got != tc.want || err != tc.err {
			t.Errorf("parseSysctlInt(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
