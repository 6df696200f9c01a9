package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"time"

	"github.com/google/subcommands"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/sandbox"
)

// Wait is `runsc wait`: it waits for a container's process to exit and
// prints its status.
type Wait struct{}

// Name implements subcommands.Command.
func (*Wait) Name() string { return "wait" }

// Synopsis implements subcommands.Command.
func (*Wait) Synopsis() string { return "wait for a container to exit" }

// Usage implements subcommands.Command.
func (*Wait) Usage() string {
	return "wait ID\n\nWaits for the process of container ID to exit and prints\n{\"id\": ID, \"exitStatus\": N} (128+N for death by signal N).\n"
}

// SetFlags implements subcommands.Command.
func (*Wait) SetFlags(*flag.FlagSet) {}

// waitResult is what `runsc wait` prints.
type waitResult struct {
	ID         string `json:"id"`
	ExitStatus int    `json:"exitStatus"`
}

// Execute implements subcommands.Command.
func (*Wait) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	id, err := oneID(f.Args(), "wait")
	if err != nil {
		return Usagef(args, "%v", err)
	}
	ctr, err := storeFor(ConfigFrom(args)).Load(id)
	if err != nil {
		return Fatalf(args, "wait %s: %v", id, err)
	}
	resp, err := sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: boot.CmdWait})
	code := 0
	switch {
	case err == nil:
		code = resp.Status
	case errors.Is(err, sandbox.ErrNotReachable):
		// Gone or going: the Sentry records the status before it exits.
		var ok bool
		if code, ok = ctr.ExitStatus(); !ok {
			if err := ctr.Sandbox.WaitExit(time.Now().Add(2 * time.Second)); err != nil {
				return Fatalf(args, "wait %s: %v", id, err)
			}
			code, ok = ctr.ExitStatus()
		}
		if !ok {
			return Fatalf(args, "wait %s: the container's exit status was not recorded", id)
		}
	default:
		return Fatalf(args, "wait %s: %v", id, err)
	}
	data, _ := json.Marshal(waitResult{ID: id, ExitStatus: code})
	fmt.Fprintf(StreamsFrom(args).Stdout, "%s\n", data)
	return subcommands.ExitSuccess
}
