package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/container"
)

// Pause is `runsc pause`: it freezes every process of a running
// container's sandbox (the Sentry, its stubs and the Gofer) with the
// cgroup freezer, so that the container's processes stop where they are
// and use no CPU until `runsc resume`.
type Pause struct{}

// Name implements subcommands.Command.
func (*Pause) Name() string { return "pause" }

// Synopsis implements subcommands.Command.
func (*Pause) Synopsis() string { return "freeze every process of a running container" }

// Usage implements subcommands.Command.
func (*Pause) Usage() string {
	return "pause ID\n\nFreezes the sandbox of running container ID (cgroup freezer); its status\nbecomes paused until \"runsc resume ID\".\n"
}

// SetFlags implements subcommands.Command.
func (*Pause) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.
func (*Pause) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	return setPaused(f, args, "pause", true)
}

// Resume is `runsc resume`: it thaws a paused container.
type Resume struct{}

// Name implements subcommands.Command.
func (*Resume) Name() string { return "resume" }

// Synopsis implements subcommands.Command.
func (*Resume) Synopsis() string { return "resume a paused container" }

// Usage implements subcommands.Command.
func (*Resume) Usage() string {
	return "resume ID\n\nLets the processes of paused container ID run again; its status becomes\nrunning.\n"
}

// SetFlags implements subcommands.Command.
func (*Resume) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.
func (*Resume) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	return setPaused(f, args, "resume", false)
}

// setPaused is pause (paused) and resume (!paused).
func setPaused(f *flag.FlagSet, args []any, cmd string, paused bool) subcommands.ExitStatus {
	id, err := oneID(f.Args(), cmd)
	if err != nil {
		return Usagef(args, "%v", err)
	}
	if err := pauseContainer(ConfigFrom(args), id, paused); err != nil {
		return Fatalf(args, "%s %s: %v", cmd, id, err)
	}
	return subcommands.ExitSuccess
}

// pauseContainer freezes (paused) or thaws a container's cgroup and
// records its new status.
func pauseContainer(conf *config.Config, id string, paused bool) error {
	ctr, unlock, err := lockContainer(conf, id)
	if err != nil {
		return err
	}
	defer unlock()
	from, to := container.Running, container.Paused
	if !paused {
		from, to = to, from
	}
	if st := ctr.Status(); st != from {
		return fmt.Errorf("container is %s, not %s", st, from)
	}
	if ctr.Cgroup == nil {
		return errors.New("the container has no cgroup to freeze (created with --ignore-cgroups, or rootless without limits)")
	}
	if paused {
		err = ctr.Cgroup.Freeze()
	} else {
		err = ctr.Cgroup.Thaw()
	}
	if err != nil {
		return err
	}
	if s := ctr.Spec; !paused && s != nil && s.Linux != nil && s.Linux.Resources != nil && s.Linux.Resources.Pids != nil && s.Linux.Resources.Pids.Limit != nil {
		// An update while paused may have changed it (see updateContainer).
		if err := setTaskLimit(ctr, *s.Linux.Resources.Pids.Limit); err != nil {
			return err
		}
	}
	ctr.State.Status = to
	return ctr.Save()
}

// notPaused refuses a command that needs the Sentry to answer while the
// container is paused: the frozen Sentry would never reply.
func notPaused(st specs.ContainerState) error {
	if st == container.Paused {
		return errors.New("container is paused; resume it first")
	}
	return nil
}
