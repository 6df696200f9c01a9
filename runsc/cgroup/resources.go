package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// cpuList matches a cpuset list: "0-3,5,7-8". It is compiled on first
// use, not in every runsc process's start-up.
var cpuList = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9]+(-[0-9]+)?(,[0-9]+(-[0-9]+)?)*$`)
})

// Validate rejects resources no cgroup can apply, before anything is
// created: negative limits other than -1 (unlimited), a memory+swap limit
// below the memory limit, malformed cpu lists, an unknown unified key.
func Validate(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if m := r.Memory; m != nil {
		for _, v := range []struct {
			name string
			p    *int64
		}{{"limit", m.Limit}, {"swap", m.Swap}, {"reservation", m.Reservation}, {"kernelTCP", m.KernelTCP}} {
			if v.p != nil && *v.p < -1 {
				return fmt.Errorf("linux.resources.memory.%s %d: must be -1 (unlimited) or positive", v.name, *v.p)
			}
		}
		if m.Limit != nil && m.Swap != nil && *m.Limit > 0 && *m.Swap > 0 && *m.Swap < *m.Limit {
			return fmt.Errorf("linux.resources.memory.swap %d: the memory+swap limit must be at least the memory limit %d", *m.Swap, *m.Limit)
		}
		if m.Swappiness != nil && *m.Swappiness > 100 {
			return fmt.Errorf("linux.resources.memory.swappiness %d: must be 0..100", *m.Swappiness)
		}
	}
	if c := r.CPU; c != nil {
		if c.Quota != nil && *c.Quota < -1 {
			return fmt.Errorf("linux.resources.cpu.quota %d: must be -1 (unlimited) or positive", *c.Quota)
		}
		if c.Cpus != "" && !cpuList().MatchString(c.Cpus) {
			return fmt.Errorf("linux.resources.cpu.cpus %q: want a list such as 0-3,5", c.Cpus)
		}
		if c.Mems != "" && !cpuList().MatchString(c.Mems) {
			return fmt.Errorf("linux.resources.cpu.mems %q: want a list such as 0-1", c.Mems)
		}
	}
	for k := range r.Unified {
		if k == "" || strings.ContainsAny(k, "/\x00") || k == "." || k == ".." || !strings.Contains(k, ".") {
			return fmt.Errorf("linux.resources.unified: invalid file name %q", k)
		}
	}
	if n := r.Network; n != nil && (n.ClassID != nil || len(n.Priorities) > 0) {
		return errors.New("linux.resources.network: net_cls and net_prio are not supported (the sandbox has its own network stack)")
	}
	if len(r.Rdma) > 0 {
		return errors.New("linux.resources.rdma: not supported (the sandbox has no RDMA devices)")
	}
	return nil
}

// Apply writes the limits in r to c (runsc create and update). Fields
// left unset keep their current values. memory.kernel is ignored, as the
// spec allows: Linux dropped kernel memory limits in 5.4.
func (c *Cgroup) Apply(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	if err := Validate(r); err != nil {
		return err
	}
	if c.V2 {
		return c.applyV2(r)
	}
	return c.applyV1(r)
}

// setting is one cgroup file to write if its value is set.
type setting struct {
	controller, file, value string
}

// writeAll writes each setting to its controller's directory; a controller
// that is not mounted makes a setting for it an error.
func (c *Cgroup) writeAll(ss []setting) error {
	for _, s := range ss {
		d := c.Dir(s.controller)
		if d == "" {
			return fmt.Errorf("cannot set %s: the %s cgroup controller is not mounted", s.file, s.controller)
		}
		if err := writeFile(d, s.file, s.value); err != nil {
			return err
		}
	}
	return nil
}

func i64(p *int64) string  { return strconv.FormatInt(*p, 10) }
func u64(p *uint64) string { return strconv.FormatUint(*p, 10) }
func u16(p *uint16) string { return strconv.FormatUint(uint64(*p), 10) }
func limitV2(v int64) string {
	if v < 0 {
		return "max"
	}
	return strconv.FormatInt(v, 10)
}

func (c *Cgroup) applyV1(r *specs.LinuxResources) error {
	var ss []setting
	if m := r.Memory; m != nil {
		if err := c.setMemoryV1(m.Limit, m.Swap); err != nil {
			return err
		}
		if m.Reservation != nil {
			ss = append(ss, setting{"memory", "memory.soft_limit_in_bytes", i64(m.Reservation)})
		}
		if m.Swappiness != nil {
			ss = append(ss, setting{"memory", "memory.swappiness", u64(m.Swappiness)})
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			ss = append(ss, setting{"memory", "memory.oom_control", "1"})
		}
		if m.KernelTCP != nil {
			ss = append(ss, setting{"memory", "memory.kmem.tcp.limit_in_bytes", i64(m.KernelTCP)})
		}
	}
	if p := r.CPU; p != nil {
		if p.Shares != nil && *p.Shares != 0 {
			ss = append(ss, setting{"cpu", "cpu.shares", u64(p.Shares)})
		}
		// The period first: a quota is checked against the period.
		if p.Period != nil && *p.Period != 0 {
			ss = append(ss, setting{"cpu", "cpu.cfs_period_us", u64(p.Period)})
		}
		if p.Quota != nil && *p.Quota != 0 {
			ss = append(ss, setting{"cpu", "cpu.cfs_quota_us", i64(p.Quota)})
		}
		if p.RealtimePeriod != nil && *p.RealtimePeriod != 0 {
			ss = append(ss, setting{"cpu", "cpu.rt_period_us", u64(p.RealtimePeriod)})
		}
		if p.RealtimeRuntime != nil && *p.RealtimeRuntime != 0 {
			ss = append(ss, setting{"cpu", "cpu.rt_runtime_us", i64(p.RealtimeRuntime)})
		}
	}
	ss = append(ss, sharedSettings(r)...)
	if b := r.BlockIO; b != nil {
		if b.Weight != nil && *b.Weight != 0 {
			ss = append(ss, setting{"blkio", "blkio.weight", u16(b.Weight)})
		}
		if b.LeafWeight != nil && *b.LeafWeight != 0 {
			ss = append(ss, setting{"blkio", "blkio.leaf_weight", u16(b.LeafWeight)})
		}
		for _, d := range b.WeightDevice {
			if d.Weight != nil {
				ss = append(ss, setting{"blkio", "blkio.weight_device", fmt.Sprintf("%d:%d %d", d.Major, d.Minor, *d.Weight)})
			}
		}
		for _, t := range []struct {
			file string
			ds   []specs.LinuxThrottleDevice
		}{
			{"blkio.throttle.read_bps_device", b.ThrottleReadBpsDevice},
			{"blkio.throttle.write_bps_device", b.ThrottleWriteBpsDevice},
			{"blkio.throttle.read_iops_device", b.ThrottleReadIOPSDevice},
			{"blkio.throttle.write_iops_device", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.ds {
				ss = append(ss, setting{"blkio", t.file, fmt.Sprintf("%d:%d %d", d.Major, d.Minor, d.Rate)})
			}
		}
	}
	for _, h := range r.HugepageLimits {
		ss = append(ss, setting{"hugetlb", "hugetlb." + h.Pagesize + ".limit_in_bytes", strconv.FormatUint(h.Limit, 10)})
	}
	if len(r.Unified) > 0 {
		return errors.New("linux.resources.unified: needs cgroup v2 (this host's controllers are on v1)")
	}
	return c.writeAll(ss)
}

// setMemoryV1 sets memory.limit_in_bytes and memory.memsw.limit_in_bytes
// (memory+swap), in the order the kernel accepts: the memory limit may
// never exceed the memory+swap limit, so a raise of both sets memsw first.
func (c *Cgroup) setMemoryV1(limit, swap *int64) error {
	d := c.Dir("memory")
	if limit == nil && swap == nil {
		return nil
	}
	if d == "" {
		return errors.New("cannot set memory limits: the memory cgroup controller is not mounted")
	}
	const memsw = "memory.memsw.limit_in_bytes"
	if swap != nil && *swap != 0 {
		if _, err := os.Stat(filepath.Join(d, memsw)); err != nil {
			if *swap > 0 {
				return errors.New("linux.resources.memory.swap: the host has no swap accounting (memory.memsw.limit_in_bytes)")
			}
			// Unlimited swap (Docker sends -1 on such hosts) needs no file.
			swap = nil
		}
	}
	setLimit := func() error {
		if limit == nil || *limit == 0 {
			return nil
		}
		return writeFile(d, "memory.limit_in_bytes", i64(limit))
	}
	setSwap := func() error {
		if swap == nil || *swap == 0 {
			return nil
		}
		return writeFile(d, memsw, i64(swap))
	}
	if err := setLimit(); err != nil {
		// The new limit is above the current memory+swap limit.
		if err2 := setSwap(); err2 != nil {
			return err
		}
		return setLimit()
	}
	return setSwap()
}

// sharedSettings are the settings whose files are the same on v1 and v2:
// cpu.idle, cpuset.cpus, cpuset.mems and pids.max.
func sharedSettings(r *specs.LinuxResources) []setting {
	var ss []setting
	if p := r.CPU; p != nil {
		if p.Idle != nil {
			ss = append(ss, setting{"cpu", "cpu.idle", i64(p.Idle)})
		}
		if p.Cpus != "" {
			ss = append(ss, setting{"cpuset", "cpuset.cpus", p.Cpus})
		}
		if p.Mems != "" {
			ss = append(ss, setting{"cpuset", "cpuset.mems", p.Mems})
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil {
		ss = append(ss, setting{"pids", "pids.max", pidsMax(*p.Limit)})
	}
	return ss
}

// The host threads a sandbox needs, for pids.max (see HostPidsMax).
const (
	// HostThreadsPerTask bounds what one task of the Sentry costs the
	// host on either platform (ptrace, systrap): the Sentry thread its
	// goroutine is locked to, its stub thread and, for a task that is a
	// process of its own, its stub process's leader and (systrap) mapper
	// thread.
	HostThreadsPerTask = 4
	// HostThreadsReserve is for the host threads no task accounts for:
	// the Go runtimes of the Sentry and the Gofer (sysmon, GC workers,
	// threads blocked in host system calls), the platform's stub factory
	// and template.
	HostThreadsReserve = 256
)

// HostPidsMax returns the pids.max a sandbox gets for the spec's pids
// limit: limit*HostThreadsPerTask + HostThreadsReserve, or 0 (no limit)
// for a limit of 0 or less. The host counts the sandbox's own threads,
// not the application's tasks, so the spec's limit is enforced by the
// Sentry on its tasks (clone fails with EAGAIN, as Linux's pids
// controller does) and pids.max is only a backstop: reached, it would
// fail the Sentry's thread creation, which the Go runtime makes fatal.
func HostPidsMax(limit int64) int64 {
	if limit <= 0 {
		return 0
	}
	return limit*HostThreadsPerTask + HostThreadsReserve
}

// pidsMax is pids.max for a spec's pids limit (see HostPidsMax).
func pidsMax(limit int64) string {
	if limit <= 0 {
		return "max"
	}
	return strconv.FormatInt(HostPidsMax(limit), 10)
}

// sharesToWeight maps v1 cpu.shares (2..262144) onto v2 cpu.weight
// (1..10000) linearly, as the runtime spec's cgroup v2 conversion does.
func sharesToWeight(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	if shares < 2 {
		shares = 2
	}
	if shares > 262144 {
		shares = 262144
	}
	return 1 + (shares-2)*9999/262142
}

func (c *Cgroup) applyV2(r *specs.LinuxResources) error {
	var ss []setting
	if m := r.Memory; m != nil {
		if m.Limit != nil && *m.Limit != 0 {
			ss = append(ss, setting{"memory", "memory.max", limitV2(*m.Limit)})
		}
		if m.Swap != nil && *m.Swap != 0 {
			// The spec's swap is memory+swap; v2's swap.max is swap alone.
			v := "max"
			if *m.Swap > 0 {
				if m.Limit == nil || *m.Limit <= 0 {
					return errors.New("linux.resources.memory.swap: on cgroup v2 a swap limit needs a memory limit")
				}
				v = strconv.FormatInt(*m.Swap-*m.Limit, 10)
			}
			ss = append(ss, setting{"memory", "memory.swap.max", v})
		}
		if m.Reservation != nil && *m.Reservation != 0 {
			ss = append(ss, setting{"memory", "memory.low", limitV2(*m.Reservation)})
		}
		if m.DisableOOMKiller != nil && *m.DisableOOMKiller {
			return errors.New("linux.resources.memory.disableOOMKiller: cgroup v2 has no way to disable the OOM killer")
		}
	}
	if p := r.CPU; p != nil {
		if p.Shares != nil && *p.Shares != 0 {
			ss = append(ss, setting{"cpu", "cpu.weight", strconv.FormatUint(sharesToWeight(*p.Shares), 10)})
		}
		if (p.Quota != nil && *p.Quota != 0) || (p.Period != nil && *p.Period != 0) {
			quota, period := "max", "100000"
			if p.Quota != nil && *p.Quota > 0 {
				quota = i64(p.Quota)
			}
			if p.Period != nil && *p.Period != 0 {
				period = u64(p.Period)
			}
			ss = append(ss, setting{"cpu", "cpu.max", quota + " " + period})
		}
	}
	ss = append(ss, sharedSettings(r)...)
	if b := r.BlockIO; b != nil {
		if b.Weight != nil && *b.Weight != 0 {
			// blkio.weight is 10..1000, io.weight 1..10000.
			w := 1 + (uint64(*b.Weight)-10)*9999/990
			ss = append(ss, setting{"io", "io.weight", strconv.FormatUint(w, 10)})
		}
		for _, t := range []struct {
			key string
			ds  []specs.LinuxThrottleDevice
		}{
			{"rbps", b.ThrottleReadBpsDevice}, {"wbps", b.ThrottleWriteBpsDevice},
			{"riops", b.ThrottleReadIOPSDevice}, {"wiops", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.ds {
				ss = append(ss, setting{"io", "io.max", fmt.Sprintf("%d:%d %s=%d", d.Major, d.Minor, t.key, d.Rate)})
			}
		}
	}
	for _, h := range r.HugepageLimits {
		ss = append(ss, setting{"hugetlb", "hugetlb." + h.Pagesize + ".max", strconv.FormatUint(h.Limit, 10)})
	}
	keys := make([]string, 0, len(r.Unified))
	for k := range r.Unified {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ss = append(ss, setting{"", k, r.Unified[k]})
	}
	return c.writeAll(ss)
}
