package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/google/subcommands"

	"bufferzone.dev/runsc/container"
)

// Delete is `runsc delete`: it removes a container and its sandbox.
type Delete struct {
	force bool
}

// Name implements subcommands.Command.
func (*Delete) Name() string { return "delete" }

// Synopsis implements subcommands.Command.
func (*Delete) Synopsis() string { return "delete a container and its state" }

// Usage implements subcommands.Command.
func (*Delete) Usage() string {
	return `delete [--force] ID...

Deletes stopped or created containers, killing their sandboxes and
removing their state, then runs the poststop hooks. A running container is
refused unless --force is given. --force also succeeds for a container that
does not exist and cleans up what a crashed runsc left behind.
`
}

// SetFlags implements subcommands.Command.
func (d *Delete) SetFlags(f *flag.FlagSet) {
	f.BoolVar(&d.force, "force", false, "kill a running container, and ignore missing ones")
	f.BoolVar(&d.force, "f", false, "same as --force")
}

// Execute implements subcommands.Command.
func (d *Delete) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() == 0 {
		return Usagef(args, "delete: want at least one container ID")
	}
	store := storeFor(ConfigFrom(args))
	status := subcommands.ExitSuccess
	for _, id := range f.Args() {
		if err := container.ValidateID(id); err != nil {
			return Usagef(args, "delete: %v", err)
		}
		if err := deleteContainer(store, id, d.force, args); err != nil {
			status = Fatalf(args, "delete %s: %v", id, err)
		}
	}
	return status
}

// deleteContainer removes container id; see Delete.Usage.
func deleteContainer(store container.Store, id string, force bool, args []any) error {
	unlock, err := store.Lock(id)
	if errors.Is(err, container.ErrNotExist) && force {
		return nil
	}
	if err != nil {
		return err
	}
	defer unlock()
	ctr, err := store.Load(id)
	if err != nil {
		return err
	}
	if st := ctr.Status(); (st == container.Running || st == container.Paused) && !force {
		return fmt.Errorf("container is %s; stop it first or use --force", st)
	}
	st := ctr.OCIState()
	st.Status = container.Stopped
	if err := ctr.Destroy(); err != nil {
		return err
	}
	if ctr.Spec != nil && ctr.Spec.Hooks != nil {
		if err := container.RunHooks(ctr.Spec.Hooks.Poststop, st); err != nil {
			fmt.Fprintf(StreamsFrom(args).Stderr, "runsc: delete %s: warning: poststop %v\n", id, err)
		}
	}
	return nil
}
