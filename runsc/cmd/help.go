package cmd

import (
	"context"
	"flag"

	"github.com/google/subcommands"
)

// Help is `runsc help [command]`: it lists the commands by group, or
// explains one command.
type Help struct {
	// Commander is the commander whose commands are explained.
	Commander *subcommands.Commander
}

// NewHelp returns the help command for cdr.
func NewHelp(cdr *subcommands.Commander) *Help { return &Help{Commander: cdr} }

// Name implements subcommands.Command.
func (*Help) Name() string { return "help" }

// Synopsis implements subcommands.Command.
func (*Help) Synopsis() string { return "list commands, or explain one" }

// Usage implements subcommands.Command.
func (*Help) Usage() string {
	return "help [<command>]\n\nWithout an argument, lists the commands; with one, prints its usage and flags.\n"
}

// SetFlags implements subcommands.Command.
func (*Help) SetFlags(*flag.FlagSet) {}

// Execute implements subcommands.Command.
func (h *Help) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	out := StreamsFrom(args).Stdout
	switch f.NArg() {
	case 0:
		h.Commander.Explain(out)
		return subcommands.ExitSuccess
	case 1:
		c, _ := commandByName(h.Commander, f.Arg(0))
		if c == nil {
			return Usagef(args, "help: unknown command %q (see \"runsc help\")", f.Arg(0))
		}
		explainCommand(out, c)
		return subcommands.ExitSuccess
	default:
		return Usagef(args, "help: want at most one command name, got %d arguments", f.NArg())
	}
}
