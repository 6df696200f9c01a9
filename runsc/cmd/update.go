package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/cgroup"
	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/container"
	"bufferzone.dev/runsc/sandbox"
)

// Update is `runsc update`: it changes a container's resource limits.
type Update struct {
	resources string
	values    map[string]*string
}

// updateFlags are update's limit flags, as runc names them.
var updateFlags = []struct{ name, usage string }{
	{"memory", "memory limit in bytes (suffixes k, m, g; -1: unlimited)"},
	{"memory-swap", "memory+swap limit in bytes (suffixes k, m, g; -1: unlimited)"},
	{"memory-reservation", "memory soft limit in bytes (suffixes k, m, g)"},
	{"cpu-shares", "CPU shares (relative weight)"},
	{"cpu-quota", "CPU time in microseconds per --cpu-period (-1: unlimited)"},
	{"cpu-period", "CFS period in microseconds"},
	{"cpu-rt-period", "real-time period in microseconds"},
	{"cpu-rt-runtime", "real-time runtime in microseconds per period"},
	{"cpuset-cpus", "CPUs to run on (0-3,5)"},
	{"cpuset-mems", "memory nodes to use (0-1)"},
	{"pids-limit", "maximum number of tasks (0 or less: unlimited)"},
	{"blkio-weight", "block IO weight (10-1000)"},
}

// Name implements subcommands.Command.
func (*Update) Name() string { return "update" }

// Synopsis implements subcommands.Command.
func (*Update) Synopsis() string { return "change a container's resource limits" }

// Usage implements subcommands.Command.
func (*Update) Usage() string {
	return `update [-r FILE] [--memory N] [--pids-limit N] [--cpu-quota N] ... ID

Changes the resource limits of container ID: those in FILE (an OCI
linux.resources JSON object; "-" reads standard input), then those given
by flags. Limits not mentioned keep their values.
`
}

// SetFlags implements subcommands.Command.
func (u *Update) SetFlags(f *flag.FlagSet) {
	f.StringVar(&u.resources, "resources", "", `file with an OCI linux.resources JSON object ("-": standard input)`)
	f.StringVar(&u.resources, "r", "", "same as --resources")
	u.values = map[string]*string{}
	for _, fl := range updateFlags {
		u.values[fl.name] = f.String(fl.name, "", fl.usage)
	}
}

// Execute implements subcommands.Command.
func (u *Update) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	id, err := oneID(f.Args(), "update")
	if err != nil {
		return Usagef(args, "%v", err)
	}
	res := &specs.LinuxResources{}
	if u.resources != "" {
		if res, err = readResources(u.resources); err != nil {
			return Usagef(args, "update %s: %v", id, err)
		}
	}
	set := map[string]string{}
	f.Visit(func(fl *flag.Flag) {
		if v, ok := u.values[fl.Name]; ok {
			set[fl.Name] = *v
		}
	})
	if err := resourcesFromFlags(res, set); err != nil {
		return Usagef(args, "update %s: %v", id, err)
	}
	if err := cgroup.Validate(res); err != nil {
		return Usagef(args, "update %s: %v", id, err)
	}
	if err := updateContainer(ConfigFrom(args), id, res); err != nil {
		return Fatalf(args, "update %s: %v", id, err)
	}
	return subcommands.ExitSuccess
}

// readResources reads a linux.resources object from a file or stdin.
func readResources(name string) (*specs.LinuxResources, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, fmt.Errorf("--resources: %w", err)
	}
	var r specs.LinuxResources
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("--resources %s: %w", name, err)
	}
	return &r, nil
}

// parseBytes parses a size: a number of bytes with an optional k, m or g
// suffix (powers of 1024, any case, with or without a trailing b), or -1.
func parseBytes(s string) (int64, error) {
	t := strings.TrimSuffix(strings.ToLower(strings.TrimSpace(s)), "b")
	mult := int64(1)
	switch {
	case strings.HasSuffix(t, "k"):
		mult, t = 1<<10, strings.TrimSuffix(t, "k")
	case strings.HasSuffix(t, "m"):
		mult, t = 1<<20, strings.TrimSuffix(t, "m")
	case strings.HasSuffix(t, "g"):
		mult, t = 1<<30, strings.TrimSuffix(t, "g")
	}
	n, err := strconv.ParseInt(t, 10, 64)
	if err != nil || n < -1 || (n == -1 && mult != 1) || n > (1<<62)/mult {
		return 0, fmt.Errorf("invalid size %q: want bytes, with an optional k, m or g suffix, or -1", s)
	}
	if n == -1 {
		return -1, nil
	}
	return n * mult, nil
}

// resourcesFromFlags sets in r the limits given by flags (name → value).
func resourcesFromFlags(r *specs.LinuxResources, set map[string]string) error {
	mem := func() *specs.LinuxMemory {
		if r.Memory == nil {
			r.Memory = &specs.LinuxMemory{}
		}
		return r.Memory
	}
	cpu := func() *specs.LinuxCPU {
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		return r.CPU
	}
	for name, v := range set {
		bad := func(err error) error { return fmt.Errorf("--%s %q: %v", name, v, err) }
		i64 := func() (*int64, error) {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, bad(errors.New("want an integer"))
			}
			return &n, nil
		}
		u64 := func() (*uint64, error) {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return nil, bad(errors.New("want a non-negative integer"))
			}
			return &n, nil
		}
		var err error
		switch name {
		case "memory", "memory-swap", "memory-reservation":
			n, perr := parseBytes(v)
			if perr != nil {
				return bad(perr)
			}
			switch name {
			case "memory":
				mem().Limit = &n
			case "memory-swap":
				mem().Swap = &n
			default:
				mem().Reservation = &n
			}
		case "cpu-shares":
			cpu().Shares, err = u64()
		case "cpu-quota":
			cpu().Quota, err = i64()
		case "cpu-period":
			cpu().Period, err = u64()
		case "cpu-rt-period":
			cpu().RealtimePeriod, err = u64()
		case "cpu-rt-runtime":
			cpu().RealtimeRuntime, err = i64()
		case "cpuset-cpus":
			cpu().Cpus = v
		case "cpuset-mems":
			cpu().Mems = v
		case "pids-limit":
			var n *int64
			if n, err = i64(); err == nil {
				r.Pids = &specs.LinuxPids{Limit: n}
			}
		case "blkio-weight":
			n, perr := strconv.ParseUint(v, 10, 16)
			if perr != nil || n < 10 || n > 1000 {
				return bad(errors.New("want 10..1000"))
			}
			w := uint16(n)
			r.BlockIO = &specs.LinuxBlockIO{Weight: &w}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// updateContainer applies r to a live container's cgroup and records the
// new limits in its state.
func updateContainer(conf *config.Config, id string, r *specs.LinuxResources) error {
	ctr, unlock, err := lockContainer(conf, id)
	if err != nil {
		return err
	}
	defer unlock()
	if st := ctr.Status(); st == container.Stopped || st == container.Creating {
		return fmt.Errorf("container is %s", st)
	}
	if ctr.Cgroup == nil {
		return errors.New("the container has no cgroup (created with --ignore-cgroups, or rootless without limits)")
	}
	if err := ctr.Cgroup.Apply(r); err != nil {
		return err
	}
	// The Sentry enforces the pids limit on its tasks; pids.max, just
	// written, has room for the sandbox's own threads above it. A paused
	// Sentry cannot answer: resume hands it the limit recorded below.
	if r.Pids != nil && r.Pids.Limit != nil && ctr.Status() != container.Paused {
		if err := setTaskLimit(ctr, *r.Pids.Limit); err != nil {
			return err
		}
	}
	if ctr.Spec != nil {
		if ctr.Spec.Linux == nil {
			ctr.Spec.Linux = &specs.Linux{}
		}
		ctr.Spec.Linux.Resources = mergeResources(ctr.Spec.Linux.Resources, r)
	}
	return ctr.Save()
}

// setTaskLimit gives the container's Sentry its pids limit (see
// kernel.SetTaskLimit).
func setTaskLimit(ctr *container.Container, limit int64) error {
	if _, err := sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: boot.CmdPidsLimit, PidsLimit: limit}); err != nil {
		return fmt.Errorf("setting the sandbox's task limit: %w", err)
	}
	return nil
}

// mergeResources returns old with every limit r sets replaced by r's.
func mergeResources(old, r *specs.LinuxResources) *specs.LinuxResources {
	if old == nil {
		old = &specs.LinuxResources{}
	}
	out := *old
	if m := r.Memory; m != nil {
		mm := valueOf(out.Memory)
		mm.Limit = pick(m.Limit, mm.Limit)
		mm.Swap = pick(m.Swap, mm.Swap)
		mm.Reservation = pick(m.Reservation, mm.Reservation)
		mm.Swappiness = pick(m.Swappiness, mm.Swappiness)
		mm.DisableOOMKiller = pick(m.DisableOOMKiller, mm.DisableOOMKiller)
		mm.KernelTCP = pick(m.KernelTCP, mm.KernelTCP)
		out.Memory = &mm
	}
	if c := r.CPU; c != nil {
		cc := valueOf(out.CPU)
		cc.Shares = pick(c.Shares, cc.Shares)
		cc.Quota = pick(c.Quota, cc.Quota)
		cc.Period = pick(c.Period, cc.Period)
		cc.RealtimePeriod = pick(c.RealtimePeriod, cc.RealtimePeriod)
		cc.RealtimeRuntime = pick(c.RealtimeRuntime, cc.RealtimeRuntime)
		cc.Idle = pick(c.Idle, cc.Idle)
		if c.Cpus != "" {
			cc.Cpus = c.Cpus
		}
		if c.Mems != "" {
			cc.Mems = c.Mems
		}
		out.CPU = &cc
	}
	if r.Pids != nil && r.Pids.Limit != nil {
		out.Pids = r.Pids
	}
	if r.BlockIO != nil {
		out.BlockIO = r.BlockIO
	}
	if len(r.HugepageLimits) > 0 {
		out.HugepageLimits = r.HugepageLimits
	}
	if len(r.Unified) > 0 {
		u := map[string]string{}
		for k, v := range out.Unified {
			u[k] = v
		}
		for k, v := range r.Unified {
			u[k] = v
		}
		out.Unified = u
	}
	return &out
}

// valueOf returns a copy of *p, or the zero value for nil.
func valueOf[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// pick returns v if set, else old.
func pick[T any](v, old *T) *T {
	if v != nil {
		return v
	}
	return old
}
