package cmd

import (
	"context"
	"flag"
	"fmt"

	"github.com/google/subcommands"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/container"
	"bufferzone.dev/runsc/sandbox"
)

// Start is `runsc start`: it runs the process of a created container.
type Start struct{}

// Name implements subcommands.Command.
func (*Start) Name() string { return "start" }

// Synopsis implements subcommands.Command.
func (*Start) Synopsis() string { return "start a created container's process" }

// Usage implements subcommands.Command.
func (*Start) Usage() string {
	return "start ID\n\nRuns the process of container ID, which must be in the created state.\n"
}

// SetFlags implements subcommands.Command.
func (*Start) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.
func (*Start) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	id, err := oneID(f.Args(), "start")
	if err != nil {
		return Usagef(args, "%v", err)
	}
	if err := startContainer(ConfigFrom(args), id, args); err != nil {
		return Fatalf(args, "start %s: %v", id, err)
	}
	return subcommands.ExitSuccess
}

// startContainer starts a created container and runs its poststart hooks
// (whose failures are only warnings, as the runtime spec says).
func startContainer(conf *config.Config, id string, args []any) error {
	ctr, unlock, err := lockContainer(conf, id)
	if err != nil {
		return err
	}
	defer unlock()
	if err := startLocked(ctr); err != nil {
		return err
	}
	runPoststart(ctr, args)
	return nil
}

// startLocked starts ctr, a created container whose lock the caller
// holds, and records it running.
func startLocked(ctr *container.Container) error {
	if st := ctr.Status(); st != container.Created {
		return fmt.Errorf("container is %s, not created", st)
	}
	if _, err := sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: boot.CmdStart}); err != nil {
		return err
	}
	ctr.State.Status = container.Running
	return ctr.Save()
}

// runPoststart runs the poststart hooks of ctr, a started container. A
// failure is only a warning, as the runtime spec says.
func runPoststart(ctr *container.Container, args []any) {
	if ctr.Spec == nil || ctr.Spec.Hooks == nil {
		return
	}
	if err := container.RunHooks(ctr.Spec.Hooks.Poststart, ctr.OCIState()); err != nil {
		fmt.Fprintf(StreamsFrom(args).Stderr, "runsc: start %s: warning: poststart %v\n", ctr.ID, err)
	}
}
