package cmd

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// List is `runsc list`: it lists the containers under --root.
type List struct {
	format string
	quiet  bool
}

// Name implements subcommands.Command.
func (*List) Name() string { return "list" }

// Synopsis implements subcommands.Command.
func (*List) Synopsis() string { return "list containers" }

// Usage implements subcommands.Command.
func (*List) Usage() string {
	return "list [--format table|json] [--quiet]\n\nLists the containers under --root, as a table or as JSON.\n"
}

// SetFlags implements subcommands.Command.
func (l *List) SetFlags(f *flag.FlagSet) {
	f.StringVar(&l.format, "format", "table", "output format: table or json")
	f.StringVar(&l.format, "f", "table", "same as --format")
	f.BoolVar(&l.quiet, "quiet", false, "print only the container IDs")
	f.BoolVar(&l.quiet, "q", false, "same as --quiet")
}

// listEntry is one container in `list --format json`, with the fields
// runc prints.
type listEntry struct {
	OCIVersion  string            `json:"ociVersion"`
	ID          string            `json:"id"`
	PID         int               `json:"pid"`
	Status      string            `json:"status"`
	Bundle      string            `json:"bundle"`
	Rootfs      string            `json:"rootfs"`
	Created     time.Time         `json:"created"`
	Owner       string            `json:"owner"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Execute implements subcommands.Command.
func (l *List) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() != 0 {
		return Usagef(args, "list: takes no arguments")
	}
	if l.format != "table" && l.format != "json" {
		return Usagef(args, "list: --format %q: must be table or json", l.format)
	}
	store := storeFor(ConfigFrom(args))
	ids, err := store.List()
	if err != nil {
		return Fatalf(args, "list: %v", err)
	}
	entries := []listEntry{}
	for _, id := range ids {
		ctr, err := store.Load(id)
		if err != nil {
			continue
		}
		st := ctr.OCIState()
		e := listEntry{OCIVersion: specs.Version, ID: id, PID: st.Pid, Status: string(st.Status),
			Bundle: ctr.Bundle, Created: ctr.Created, Owner: ctr.Owner, Annotations: st.Annotations}
		if ctr.Spec != nil && ctr.Spec.Root != nil {
			e.Rootfs = ctr.Spec.Root.Path
		}
		entries = append(entries, e)
	}
	out := StreamsFrom(args).Stdout
	switch {
	case l.quiet:
		for _, e := range entries {
			fmt.Fprintln(out, e.ID)
		}
	case l.format == "json":
		data, err := json.Marshal(entries)
		if err != nil {
			return Fatalf(args, "list: %v", err)
		}
		fmt.Fprintf(out, "%s\n", data)
	default:
		w := tabwriter.NewWriter(out, 12, 1, 3, ' ', 0)
		fmt.Fprint(w, "ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER\n")
		for _, e := range entries {
			fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\n", e.ID, e.PID, e.Status, e.Bundle, e.Created.Format(time.RFC3339Nano), e.Owner)
		}
		w.Flush()
	}
	return subcommands.ExitSuccess
}
