package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"syscall"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/container"
	"bufferzone.dev/runsc/sandbox"
)

// Kill is `runsc kill`: it sends a signal to a container's process.
type Kill struct {
	all bool
}

// Name implements subcommands.Command.
func (*Kill) Name() string { return "kill" }

// Synopsis implements subcommands.Command.
func (*Kill) Synopsis() string { return "send a signal to a container's process" }

// Usage implements subcommands.Command.
func (*Kill) Usage() string {
	return `kill [--all] ID [SIGNAL]

Sends SIGNAL (a name such as KILL or SIGKILL, or a number; TERM by default)
to the first process of container ID, or with --all to every process of the
container.
`
}

// SetFlags implements subcommands.Command.
func (k *Kill) SetFlags(f *flag.FlagSet) {
	f.BoolVar(&k.all, "all", false, "send the signal to every process of the container")
	f.BoolVar(&k.all, "a", false, "same as --all")
}

// Execute implements subcommands.Command.
func (k *Kill) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() < 1 || f.NArg() > 2 {
		return Usagef(args, "kill: want ID [SIGNAL]")
	}
	id := f.Arg(0)
	if err := container.ValidateID(id); err != nil {
		return Usagef(args, "kill: %v", err)
	}
	sig := unix.SIGTERM
	if f.NArg() == 2 {
		var err error
		if sig, err = parseSignal(f.Arg(1)); err != nil {
			return Usagef(args, "kill %s: %v", id, err)
		}
	}
	if err := killContainer(storeFor(ConfigFrom(args)), id, sig, k.all); err != nil {
		return Fatalf(args, "kill %s: %v", id, err)
	}
	return subcommands.ExitSuccess
}

// killContainer delivers sig to the container's first process (or to all
// of its processes). A SIGKILL for a Sentry that no longer answers kills
// the sandbox on the host.
func killContainer(store container.Store, id string, sig unix.Signal, all bool) error {
	ctr, err := store.Load(id)
	if err != nil {
		return err
	}
	switch st := ctr.Status(); st {
	case container.Created, container.Running:
	case container.Paused:
		if sig != unix.SIGKILL {
			return notPaused(st)
		}
		// The frozen Sentry cannot relay it: end the sandbox on the host,
		// and thaw it so that the kernel carries the kill out.
		for _, p := range []container.Proc{ctr.Sandbox, ctr.Gofer} {
			if err := p.Kill(syscall.SIGKILL); err != nil && !isNoProcess(err) {
				return fmt.Errorf("killing the sandbox: %w", err)
			}
		}
		return ctr.Cgroup.Thaw()
	default:
		return fmt.Errorf("container is %s, not running", st)
	}
	_, err = sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: boot.CmdSignal, Signal: int(sig), All: all})
	if errors.Is(err, sandbox.ErrNotReachable) && sig == unix.SIGKILL {
		if err := ctr.Sandbox.Kill(syscall.SIGKILL); err != nil && !isNoProcess(err) {
			return fmt.Errorf("killing the sandbox: %w", err)
		}
		return nil
	}
	return err
}
