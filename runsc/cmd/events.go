package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/cgroup"
	"bufferzone.dev/runsc/container"
	"bufferzone.dev/runsc/sandbox"
)

// Events is `runsc events`: it prints a container's resource usage and
// OOM kills as JSON events, one per line, as runc does.
type Events struct {
	stats    bool
	interval time.Duration
}

// Name implements subcommands.Command.
func (*Events) Name() string { return "events" }

// Synopsis implements subcommands.Command.
func (*Events) Synopsis() string { return "print a container's resource usage and OOM events" }

// Usage implements subcommands.Command.
func (*Events) Usage() string {
	return `events [--stats] [--interval DURATION] ID

Prints events of container ID as JSON lines: {"type":"stats","id":ID,"data":
{cpu, memory, pids, sandbox}} every --interval, and {"type":"oom","id":ID}
when the kernel's OOM killer ends a process of the sandbox. With --stats,
prints one stats event and exits; otherwise it runs until the container
stops. cpu, memory and pids are the sandbox's host usage from its cgroup
(as runc reports them); sandbox is the Sentry's own count of the
container's processes, threads, CPU time and memory.
`
}

// SetFlags implements subcommands.Command.
func (e *Events) SetFlags(f *flag.FlagSet) {
	f.BoolVar(&e.stats, "stats", false, "print the container's usage once and exit")
	f.DurationVar(&e.interval, "interval", 5*time.Second, "time between stats events")
}

// event is one line of `runsc events`.
type event struct {
	Type string      `json:"type"`
	ID   string      `json:"id"`
	Data *eventStats `json:"data,omitempty"`
}

// eventStats are the data of a stats event.
type eventStats struct {
	cgroup.Stats
	Sandbox *boot.SandboxStats `json:"sandbox,omitempty"`
}

// Execute implements subcommands.Command.
func (e *Events) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	id, err := oneID(f.Args(), "events")
	if err != nil {
		return Usagef(args, "%v", err)
	}
	if e.interval <= 0 {
		return Usagef(args, "events: --interval %v: must be positive", e.interval)
	}
	store := storeFor(ConfigFrom(args))
	out := StreamsFrom(args).Stdout
	var ooms uint64
	for first := true; ; first = false {
		ctr, err := store.Load(id)
		if err != nil {
			if !first && errors.Is(err, container.ErrNotExist) {
				return subcommands.ExitSuccess // deleted meanwhile
			}
			return Fatalf(args, "events %s: %v", id, err)
		}
		// OOM kills first: one may be what stopped the container.
		if ctr.Cgroup != nil {
			if n := ctr.Cgroup.OOMKills(); n > ooms {
				if !first {
					writeEvent(out, event{Type: "oom", ID: id})
				}
				ooms = n
			}
		}
		st := ctr.Status()
		if st == container.Stopped {
			if first {
				return Fatalf(args, "events %s: container is stopped", id)
			}
			return subcommands.ExitSuccess
		}
		data, err := containerStats(ctr, st)
		if err != nil {
			return Fatalf(args, "events %s: %v", id, err)
		}
		writeEvent(out, event{Type: "stats", ID: id, Data: data})
		if e.stats {
			return subcommands.ExitSuccess
		}
		time.Sleep(e.interval)
	}
}

func writeEvent(w io.Writer, ev event) {
	data, _ := json.Marshal(ev)
	fmt.Fprintf(w, "%s\n", data)
}

// containerStats gathers a container's usage: from its cgroup, and from
// its Sentry unless the Sentry cannot answer (paused, or not started).
// Without a cgroup, cpu, memory and pids come from the Sentry alone.
func containerStats(ctr *container.Container, st specs.ContainerState) (*eventStats, error) {
	out := &eventStats{}
	if ctr.Cgroup != nil {
		cs, err := ctr.Cgroup.Stats()
		if err != nil {
			return nil, err
		}
		out.Stats = *cs
	}
	if st != container.Running {
		return out, nil
	}
	resp, err := sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: boot.CmdStats})
	if err != nil {
		if errors.Is(err, sandbox.ErrNotReachable) {
			return out, nil // it just stopped
		}
		return nil, err
	}
	out.Sandbox = resp.Stats
	if ctr.Cgroup == nil && resp.Stats != nil {
		out.CPU.Usage.Total = uint64(resp.Stats.CPU)
		out.Memory.Usage.Usage = resp.Stats.Memory
		out.Pids.Current = uint64(resp.Stats.Threads)
	}
	return out, nil
}
