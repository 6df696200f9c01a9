package cmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/google/subcommands"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/container"
	"bufferzone.dev/runsc/sandbox"
)

// Ps is `runsc ps`: it lists the processes running in a container, as
// the Sentry sees them (PIDs are the sandbox's, not the host's).
type Ps struct {
	format string
}

// Name implements subcommands.Command.
func (*Ps) Name() string { return "ps" }

// Synopsis implements subcommands.Command.
func (*Ps) Synopsis() string { return "list the processes of a container" }

// Usage implements subcommands.Command.
func (*Ps) Usage() string {
	return "ps [--format table|json] ID\n\nLists the processes of container ID. --format json prints their PIDs as a\nJSON array, as runc does.\n"
}

// SetFlags implements subcommands.Command.
func (p *Ps) SetFlags(f *flag.FlagSet) {
	f.StringVar(&p.format, "format", "table", "output format: table or json")
	f.StringVar(&p.format, "f", "table", "same as --format")
}

// Execute implements subcommands.Command.
func (p *Ps) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	id, err := oneID(f.Args(), "ps")
	if err != nil {
		return Usagef(args, "%v", err)
	}
	if p.format != "table" && p.format != "json" {
		return Usagef(args, "ps: --format %q: must be table or json", p.format)
	}
	ctr, err := storeFor(ConfigFrom(args)).Load(id)
	if err != nil {
		return Fatalf(args, "ps %s: %v", id, err)
	}
	var procs []boot.ProcessEntry
	if st := ctr.Status(); st == container.Running {
		resp, err := sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: boot.CmdPs})
		if err != nil {
			return Fatalf(args, "ps %s: %v", id, err)
		}
		procs = resp.Processes
	} else if st != container.Created {
		return Fatalf(args, "ps %s: container is %s, not running", id, st)
	}
	out := StreamsFrom(args).Stdout
	if p.format == "json" {
		pids := []int32{}
		for _, pr := range procs {
			pids = append(pids, pr.PID)
		}
		data, _ := json.Marshal(pids)
		fmt.Fprintf(out, "%s\n", data)
		return subcommands.ExitSuccess
	}
	w := tabwriter.NewWriter(out, 0, 1, 2, ' ', 0)
	fmt.Fprint(w, "UID\tPID\tPPID\tTHREADS\tSTIME\tTIME\tCMD\n")
	for _, pr := range procs {
		fmt.Fprintf(w, "%d\t%d\t%d\t%d\t%s\t%s\t%s\n", pr.UID, pr.PID, pr.PPID, pr.Threads,
			pr.Started.Local().Format("15:04"), formatCPU(pr.CPU), pr.Name)
	}
	w.Flush()
	return subcommands.ExitSuccess
}

// formatCPU prints CPU time as ps does: HH:MM:SS.
func formatCPU(d time.Duration) string {
	s := int(d.Seconds())
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}
