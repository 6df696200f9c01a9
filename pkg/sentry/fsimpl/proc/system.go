package proc

import (
	"crypto/rand"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/vfs"
)

// The system-wide files of /proc.

// newUUID returns a random (version 4) UUID in its text form.
func newUUID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// genVersion returns /proc/version from the kernel's uname fields.
func (fs *Filesystem) genVersion(vfs.Context) ([]byte, error) {
	release, version, _, _ := fs.k.UTS()
	return []byte(formatVersion(release, version)), nil
}

// formatVersion returns the /proc/version line.
func formatVersion(release, version string) string {
	return fmt.Sprintf("Linux version %s (root@buffer-zone) (gcc version 4.9.2 (Buffer Zone)) %s\n", release, version)
}

// genUptime returns /proc/uptime: seconds since boot, and idle seconds
// summed over CPUs (all the time no task ran, as far as we know).
func (fs *Filesystem) genUptime(vfs.Context) ([]byte, error) {
	up := fs.uptime().Seconds()
	return []byte(fmt.Sprintf("%.2f %.2f\n", up, up*float64(fs.k.NumCPU()))), nil
}

// genLoadavg returns /proc/loadavg. Load is not measured; the averages
// are 0.
func (fs *Filesystem) genLoadavg(vfs.Context) ([]byte, error) {
	return []byte(fmt.Sprintf("0.00 0.00 0.00 1/%d %d\n", fs.k.NumTasks(), fs.k.LastPID())), nil
}

// genStat returns /proc/stat. CPU time per CPU is not measured: all of
// it appears idle.
func (fs *Filesystem) genStat(vfs.Context) ([]byte, error) {
	n := fs.k.NumCPU()
	idle := ticks(fs.uptime())
	var b strings.Builder
	fmt.Fprintf(&b, "cpu  0 0 0 %d 0 0 0 0 0 0\n", idle*uint64(n))
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "cpu%d 0 0 0 %d 0 0 0 0 0 0\n", i, idle)
	}
	b.WriteString("intr 0\nctxt 0\n")
	fmt.Fprintf(&b, "btime %d\n", fs.k.BootTime().Unix())
	fmt.Fprintf(&b, "processes %d\n", fs.k.TasksCreated())
	b.WriteString("procs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n")
	return []byte(b.String()), nil
}

// memInfo is the memory the sandbox reports: the same numbers as
// sysinfo(2) gives inside it.
func memInfo() (total, free uint64) {
	var si unix.Sysinfo_t
	if err := unix.Sysinfo(&si); err != nil {
		return 0, 0
	}
	unit := uint64(si.Unit)
	if unit == 0 {
		unit = 1
	}
	return uint64(si.Totalram) * unit, uint64(si.Freeram) * unit
}

// genMeminfo returns /proc/meminfo.
func (fs *Filesystem) genMeminfo(vfs.Context) ([]byte, error) {
	total, free := memInfo()
	return []byte(formatMeminfo(total, free)), nil
}

// formatMeminfo returns /proc/meminfo for total and free bytes.
func formatMeminfo(total, free uint64) string {
	var b strings.Builder
	line := func(k string, v uint64) { fmt.Fprintf(&b, "%-16s%8d kB\n", k+":", v/1024) }
	line("MemTotal", total)
	line("MemFree", free)
	line("MemAvailable", free)
	for _, k := range []string{"Buffers", "Cached", "SwapCached", "Active", "Inactive", "Active(anon)",
		"Inactive(anon)", "Active(file)", "Inactive(file)", "Unevictable", "Mlocked", "SwapTotal", "SwapFree",
		"Dirty", "Writeback", "AnonPages", "Mapped", "Shmem", "KReclaimable", "Slab", "SReclaimable",
		"SUnreclaim", "KernelStack", "PageTables", "NFS_Unstable", "Bounce", "WritebackTmp"} {
		line(k, 0)
	}
	line("CommitLimit", total)
	line("Committed_AS", total-free)
	line("VmallocTotal", 34359738367*1024)
	line("VmallocUsed", 0)
	line("VmallocChunk", 0)
	line("AnonHugePages", 0)
	line("ShmemHugePages", 0)
	line("ShmemPmdMapped", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Total:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Free:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Rsvd:", 0)
	fmt.Fprintf(&b, "%-16s%8d\n", "HugePages_Surp:", 0)
	line("Hugepagesize", 2048*1024)
	line("Hugetlb", 0)
	return b.String()
}

// cpuFlag names a CPUID feature bit as /proc/cpuinfo does.
type cpuFlag struct {
	leaf, subleaf uint32
	reg           int // 0 eax, 1 ebx, 2 ecx, 3 edx
	bit           uint
	name          string
}

// cpuFlags are the CPUID feature bits /proc/cpuinfo lists, in Linux's
// order.
var cpuFlags = []cpuFlag{
	{1, 0, 3, 0, "fpu"}, {1, 0, 3, 1, "vme"}, {1, 0, 3, 2, "de"}, {1, 0, 3, 3, "pse"}, {1, 0, 3, 4, "tsc"},
	{1, 0, 3, 5, "msr"}, {1, 0, 3, 6, "pae"}, {1, 0, 3, 7, "mce"}, {1, 0, 3, 8, "cx8"}, {1, 0, 3, 9, "apic"},
	{1, 0, 3, 11, "sep"}, {1, 0, 3, 12, "mtrr"}, {1, 0, 3, 13, "pge"}, {1, 0, 3, 14, "mca"}, {1, 0, 3, 15, "cmov"},
	{1, 0, 3, 16, "pat"}, {1, 0, 3, 17, "pse36"}, {1, 0, 3, 19, "clflush"}, {1, 0, 3, 23, "mmx"},
	{1, 0, 3, 24, "fxsr"}, {1, 0, 3, 25, "sse"}, {1, 0, 3, 26, "sse2"}, {1, 0, 3, 27, "ss"}, {1, 0, 3, 28, "ht"},
	{0x80000001, 0, 3, 11, "syscall"}, {0x80000001, 0, 3, 20, "nx"}, {0x80000001, 0, 3, 22, "mmxext"},
	{0x80000001, 0, 3, 25, "fxsr_opt"}, {0x80000001, 0, 3, 26, "pdpe1gb"}, {0x80000001, 0, 3, 27, "rdtscp"},
	{0x80000001, 0, 3, 29, "lm"},
	{1, 0, 2, 0, "pni"}, {1, 0, 2, 1, "pclmulqdq"}, {1, 0, 2, 3, "monitor"}, {1, 0, 2, 9, "ssse3"},
	{1, 0, 2, 12, "fma"}, {1, 0, 2, 13, "cx16"}, {1, 0, 2, 17, "pcid"}, {1, 0, 2, 19, "sse4_1"},
	{1, 0, 2, 20, "sse4_2"}, {1, 0, 2, 21, "x2apic"}, {1, 0, 2, 22, "movbe"}, {1, 0, 2, 23, "popcnt"},
	{1, 0, 2, 25, "aes"}, {1, 0, 2, 26, "xsave"}, {1, 0, 2, 28, "avx"}, {1, 0, 2, 29, "f16c"},
	{1, 0, 2, 30, "rdrand"}, {1, 0, 2, 31, "hypervisor"},
	{0x80000001, 0, 2, 0, "lahf_lm"}, {0x80000001, 0, 2, 5, "abm"}, {0x80000001, 0, 2, 8, "3dnowprefetch"},
	{7, 0, 1, 0, "fsgsbase"}, {7, 0, 1, 3, "bmi1"}, {7, 0, 1, 4, "hle"}, {7, 0, 1, 5, "avx2"},
	{7, 0, 1, 7, "smep"}, {7, 0, 1, 8, "bmi2"}, {7, 0, 1, 9, "erms"}, {7, 0, 1, 10, "invpcid"},
	{7, 0, 1, 11, "rtm"}, {7, 0, 1, 16, "avx512f"}, {7, 0, 1, 17, "avx512dq"}, {7, 0, 1, 18, "rdseed"},
	{7, 0, 1, 19, "adx"}, {7, 0, 1, 20, "smap"}, {7, 0, 1, 23, "clflushopt"}, {7, 0, 1, 24, "clwb"},
	{7, 0, 1, 28, "avx512cd"}, {7, 0, 1, 29, "sha_ni"}, {7, 0, 1, 30, "avx512bw"}, {7, 0, 1, 31, "avx512vl"},
	{0xd, 1, 0, 0, "xsaveopt"}, {0xd, 1, 0, 1, "xsavec"}, {0xd, 1, 0, 2, "xgetbv1"}, {0xd, 1, 0, 3, "xsaves"},
	{7, 0, 2, 1, "avx512vbmi"}, {7, 0, 2, 2, "umip"}, {7, 0, 2, 3, "pku"}, {7, 0, 2, 6, "avx512_vbmi2"},
	{7, 0, 2, 8, "gfni"}, {7, 0, 2, 9, "vaes"}, {7, 0, 2, 10, "vpclmulqdq"}, {7, 0, 2, 11, "avx512_vnni"},
	{7, 0, 2, 12, "avx512_bitalg"}, {7, 0, 2, 14, "avx512_vpopcntdq"}, {7, 0, 2, 22, "rdpid"},
	{7, 0, 3, 4, "fsrm"}, {7, 0, 3, 10, "md_clear"}, {7, 0, 3, 26, "ibrs"}, {7, 0, 3, 27, "stibp"},
	{7, 0, 3, 29, "arch_capabilities"}, {7, 0, 3, 31, "ssbd"},
}

// cpuidFunc is the CPUID instruction (a variable so tests can fake it).
var cpuidFunc = kernel.CPUID

// cpuDescription is what /proc/cpuinfo says about the host CPU.
type cpuDescription struct {
	vendor, model               string
	family, modelNum, stepping  uint32
	maxLeaf                     uint32
	flags                       []string
	physBits, virtBits, clflush uint32
}

// describeCPU reads the host CPU's identity and features with CPUID.
func describeCPU(cpuid func(leaf, subleaf uint32) (uint32, uint32, uint32, uint32)) cpuDescription {
	var c cpuDescription
	maxLeaf, ebx, ecx, edx := cpuid(0, 0)
	c.maxLeaf = maxLeaf
	c.vendor = regString(ebx, edx, ecx)
	eax, ebx1, _, _ := cpuid(1, 0)
	c.stepping = eax & 0xf
	c.modelNum = (eax >> 4) & 0xf
	c.family = (eax >> 8) & 0xf
	if c.family == 0xf {
		c.family += (eax >> 20) & 0xff
	}
	if c.family == 6 || c.family == 0xf {
		c.modelNum += ((eax >> 16) & 0xf) << 4
	}
	c.clflush = ((ebx1 >> 8) & 0xff) * 8
	maxExt, _, _, _ := cpuid(0x80000000, 0)
	if maxExt >= 0x80000004 {
		var sb strings.Builder
		for l := uint32(0x80000002); l <= 0x80000004; l++ {
			a, b, c2, d := cpuid(l, 0)
			sb.WriteString(regString(a, b, c2, d))
		}
		c.model = strings.TrimSpace(strings.TrimRight(sb.String(), "\x00"))
	}
	c.physBits, c.virtBits = 36, 48
	if maxExt >= 0x80000008 {
		a, _, _, _ := cpuid(0x80000008, 0)
		c.physBits, c.virtBits = a&0xff, (a>>8)&0xff
	}
	for _, f := range cpuFlags {
		if f.leaf < 0x80000000 && f.leaf > maxLeaf || f.leaf >= 0x80000000 && f.leaf > maxExt {
			continue
		}
		r := [4]uint32{}
		r[0], r[1], r[2], r[3] = cpuid(f.leaf, f.subleaf)
		if r[f.reg]&(1<<f.bit) != 0 {
			c.flags = append(c.flags, f.name)
		}
	}
	return c
}

// regString decodes CPUID registers holding ASCII, low byte first.
func regString(regs ...uint32) string {
	b := make([]byte, 0, 4*len(regs))
	for _, r := range regs {
		b = append(b, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	return string(b)
}

// genCPUInfo returns /proc/cpuinfo: one block per CPU the sandbox has.
func (fs *Filesystem) genCPUInfo(vfs.Context) ([]byte, error) {
	return []byte(formatCPUInfo(describeCPU(cpuidFunc), fs.k.NumCPU())), nil
}

// formatCPUInfo returns /proc/cpuinfo for n CPUs like c. The clock speed
// is not measured; it is reported as a fixed 2 GHz.
func formatCPUInfo(c cpuDescription, n int) string {
	var b strings.Builder
	flags := strings.Join(c.flags, " ")
	for i := 0; i < n; i++ {
		kv := func(k string, v any) { fmt.Fprintf(&b, "%s\t: %v\n", k, v) }
		kv("processor", i)
		kv("vendor_id", c.vendor)
		kv("cpu family", c.family)
		kv("model\t", c.modelNum)
		kv("model name", c.model)
		kv("stepping", c.stepping)
		kv("cpu MHz\t", "2000.000")
		kv("cache size", "1024 KB")
		kv("physical id", 0)
		kv("siblings", n)
		kv("core id\t", i)
		kv("cpu cores", n)
		kv("apicid\t", i)
		kv("initial apicid", i)
		kv("fpu\t", "yes")
		kv("fpu_exception", "yes")
		kv("cpuid level", c.maxLeaf)
		kv("wp\t", "yes")
		kv("flags\t", flags)
		kv("bogomips", "4000.00")
		kv("clflush size", c.clflush)
		kv("cache_alignment", c.clflush)
		kv("address sizes", fmt.Sprintf("%d bits physical, %d bits virtual", c.physBits, c.virtBits))
		b.WriteString("power management:\n\n")
	}
	return b.String()
}
