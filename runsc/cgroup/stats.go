package cgroup

import (
	"strconv"
	"strings"
)

// Stats are a cgroup's resource usage, in the shape of the "data" of
// runc's stats events (field names as runc prints them), so that tools
// reading `runc events --stats` read `runsc events --stats` too.
type Stats struct {
	CPU    CPU    `json:"cpu"`
	Memory Memory `json:"memory"`
	Pids   Pids   `json:"pids"`
}

// CPU is CPU time used and throttling.
type CPU struct {
	Usage      CPUUsage   `json:"usage"`
	Throttling Throttling `json:"throttling"`
}

// CPUUsage is CPU time in nanoseconds.
type CPUUsage struct {
	Total  uint64   `json:"total,omitempty"`
	Percpu []uint64 `json:"percpu,omitempty"`
	Kernel uint64   `json:"kernel"`
	User   uint64   `json:"user"`
}

// Throttling is what CFS bandwidth control did.
type Throttling struct {
	Periods          uint64 `json:"periods,omitempty"`
	ThrottledPeriods uint64 `json:"throttledPeriods,omitempty"`
	ThrottledTime    uint64 `json:"throttledTime,omitempty"`
}

// Memory is memory use in bytes.
type Memory struct {
	Cache uint64            `json:"cache,omitempty"`
	Usage MemoryEntry       `json:"usage,omitempty"`
	Swap  MemoryEntry       `json:"swap,omitempty"`
	Raw   map[string]uint64 `json:"raw,omitempty"`
}

// MemoryEntry is one memory counter with its limit and high-water mark.
type MemoryEntry struct {
	Limit   uint64 `json:"limit"`
	Usage   uint64 `json:"usage,omitempty"`
	Max     uint64 `json:"max,omitempty"`
	Failcnt uint64 `json:"failcnt"`
}

// Pids counts tasks (threads) against the pids limit (0: unlimited).
type Pids struct {
	Current uint64 `json:"current,omitempty"`
	Limit   uint64 `json:"limit,omitempty"`
}

// userHZ is the unit of cpuacct.stat (USER_HZ, 100 on every Linux ABI).
const userHZ = 100

// Stats reads c's usage. Controllers that are not mounted read as zero.
func (c *Cgroup) Stats() (*Stats, error) {
	if c.V2 {
		return c.statsV2()
	}
	return c.statsV1()
}

// num reads a cgroup file holding one number ("max" reads as 0).
func num(dir, file string) uint64 {
	s, err := readString(dir, file)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseUint(s, 10, 64)
	return n
}

func (c *Cgroup) statsV1() (*Stats, error) {
	var st Stats
	if d := c.Dir("cpuacct"); d != "" {
		st.CPU.Usage.Total = num(d, "cpuacct.usage")
		if s, err := readString(d, "cpuacct.usage_percpu"); err == nil {
			for _, f := range strings.Fields(s) {
				n, _ := strconv.ParseUint(f, 10, 64)
				st.CPU.Usage.Percpu = append(st.CPU.Usage.Percpu, n)
			}
		}
		if kv, err := keyedValues(d, "cpuacct.stat"); err == nil {
			st.CPU.Usage.User = kv["user"] * (1e9 / userHZ)
			st.CPU.Usage.Kernel = kv["system"] * (1e9 / userHZ)
		}
	}
	if d := c.Dir("cpu"); d != "" {
		if kv, err := keyedValues(d, "cpu.stat"); err == nil {
			st.CPU.Throttling = Throttling{kv["nr_periods"], kv["nr_throttled"], kv["throttled_time"]}
		}
	}
	if d := c.Dir("memory"); d != "" {
		st.Memory.Usage = MemoryEntry{
			Limit:   num(d, "memory.limit_in_bytes"),
			Usage:   num(d, "memory.usage_in_bytes"),
			Max:     num(d, "memory.max_usage_in_bytes"),
			Failcnt: num(d, "memory.failcnt"),
		}
		st.Memory.Swap = MemoryEntry{
			Limit:   num(d, "memory.memsw.limit_in_bytes"),
			Usage:   num(d, "memory.memsw.usage_in_bytes"),
			Max:     num(d, "memory.memsw.max_usage_in_bytes"),
			Failcnt: num(d, "memory.memsw.failcnt"),
		}
		if kv, err := keyedValues(d, "memory.stat"); err == nil {
			st.Memory.Raw = kv
			st.Memory.Cache = kv["cache"]
		}
	}
	if d := c.Dir("pids"); d != "" {
		st.Pids = Pids{Current: num(d, "pids.current"), Limit: num(d, "pids.max")}
	}
	return &st, nil
}

func (c *Cgroup) statsV2() (*Stats, error) {
	var st Stats
	d := c.Dirs[v2Key]
	if kv, err := keyedValues(d, "cpu.stat"); err == nil {
		st.CPU.Usage.Total = kv["usage_usec"] * 1000
		st.CPU.Usage.User = kv["user_usec"] * 1000
		st.CPU.Usage.Kernel = kv["system_usec"] * 1000
		st.CPU.Throttling = Throttling{kv["nr_periods"], kv["nr_throttled"], kv["throttled_usec"] * 1000}
	}
	st.Memory.Usage = MemoryEntry{Limit: num(d, "memory.max"), Usage: num(d, "memory.current"), Max: num(d, "memory.peak")}
	if kv, err := keyedValues(d, "memory.events"); err == nil {
		st.Memory.Usage.Failcnt = kv["max"]
	}
	st.Memory.Swap = MemoryEntry{Limit: num(d, "memory.swap.max"), Usage: num(d, "memory.swap.current")}
	if kv, err := keyedValues(d, "memory.stat"); err == nil {
		st.Memory.Raw = kv
		st.Memory.Cache = kv["file"]
	}
	st.Pids = Pids{Current: num(d, "pids.current"), Limit: num(d, "pids.max")}
	return &st, nil
}

// OOMKills returns how many processes the kernel's OOM killer has killed
// in c (0 where the kernel does not count them).
func (c *Cgroup) OOMKills() uint64 {
	if c.V2 {
		n, _ := keyedValue(c.Dirs[v2Key], "memory.events", "oom_kill")
		return n
	}
	d := c.Dir("memory")
	if d == "" {
		return 0
	}
	n, _ := keyedValue(d, "memory.oom_control", "oom_kill")
	return n
}
