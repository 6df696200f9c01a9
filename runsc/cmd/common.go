// Package cmd holds runsc's subcommands, one file per command, each a
// github.com/google/subcommands Command, and Main, which parses the global
// flags (package config), finds the command and runs it.
//
// Every command's Execute receives two extra arguments: args[0] is the
// *config.Config built from the global flags and args[1] is the *Streams the
// command should write to. ConfigFrom and StreamsFrom fetch them.
package cmd

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/version"
	"github.com/google/subcommands"
)

// Command groups shown by `runsc help`, in this order. Commands registered
// in GroupInternal are run by runsc itself and are not listed.
const (
	GroupOCI      = "OCI runtime commands"
	GroupSandbox  = "sandbox commands"
	GroupHelpers  = "helpers"
	GroupInternal = "internal"
)

// groupOrder is the order in which help lists groups.
var groupOrder = []string{GroupOCI, GroupSandbox, GroupHelpers}

// Streams are the standard output and error a command writes to.
type Streams struct {
	Stdout io.Writer
	Stderr io.Writer
}

// ConfigFrom returns the global configuration passed to Execute.
func ConfigFrom(args []any) *config.Config {
	if len(args) > 0 {
		if c, ok := args[0].(*config.Config); ok {
			return c
		}
	}
	return config.Default()
}

// StreamsFrom returns the output streams passed to Execute; the process's
// own stdout and stderr if none were passed.
func StreamsFrom(args []any) *Streams {
	if len(args) > 1 {
		if s, ok := args[1].(*Streams); ok {
			return s
		}
	}
	return &Streams{Stdout: os.Stdout, Stderr: os.Stderr}
}

// Fatalf prints a one-line error on the command's stderr, prefixed with
// "runsc: ", and returns subcommands.ExitFailure, for use as
// `return cmd.Fatalf(args, "...: %v", err)` in Execute.
//
// The line also goes to the --log file, where containerd's and Docker's
// runc shims look for the reason a runtime command failed.
func Fatalf(args []any, format string, a ...any) subcommands.ExitStatus {
	msg := oneLine(fmt.Sprintf(format, a...))
	fmt.Fprintf(StreamsFrom(args).Stderr, "runsc: %s\n", msg)
	if len(args) > 0 {
		if c, ok := args[0].(*config.Config); ok {
			appendLog(c, "error", msg)
		}
	}
	return subcommands.ExitFailure
}

// appendLog adds one line at level to the --log file, if there is one, in
// --log-format: JSON as runc writes it ({"level","msg","time"}), or text.
// Logging is best effort: a log that cannot be written never fails the
// command.
func appendLog(c *config.Config, level, msg string) {
	if c.LogFilename == "" {
		return
	}
	f, err := os.OpenFile(c.LogFilename, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var line []byte
	if c.LogFormat == config.LogFormatJSON {
		line, _ = json.Marshal(struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
			Time  string `json:"time"`
		}{level, msg, now})
	} else {
		line = fmt.Appendf(nil, "time=%q level=%s msg=%q", now, level, msg)
	}
	f.Write(append(line, '\n'))
}

// Usagef is Fatalf for a usage error (wrong arguments): it returns
// subcommands.ExitUsageError (exit code 2).
func Usagef(args []any, format string, a ...any) subcommands.ExitStatus {
	Fatalf(args, format, a...)
	return subcommands.ExitUsageError
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", " ") }

// commandByName finds a registered command.
func commandByName(cdr *subcommands.Commander, name string) (subcommands.Command, string) {
	var found subcommands.Command
	var group string
	cdr.VisitCommands(func(g *subcommands.CommandGroup, c subcommands.Command) {
		if found == nil && c.Name() == name {
			found, group = c, g.Name()
		}
	})
	return found, group
}

// NewCommander returns a Commander whose help lists groups in groupOrder
// and hides GroupInternal. register adds the commands (see runsc/main.go).
func NewCommander(topFlags *flag.FlagSet, register func(*subcommands.Commander)) *subcommands.Commander {
	cdr := subcommands.NewCommander(topFlags, "runsc")
	cdr.Explain = func(w io.Writer) { explainAll(cdr, w) }
	cdr.ExplainCommand = explainCommand
	register(cdr)
	return cdr
}

func explainAll(cdr *subcommands.Commander, w io.Writer) {
	fmt.Fprintf(w, "Usage: runsc [global flags] <command> [command flags] [args]\n\n")
	fmt.Fprintf(w, "runsc is the Buffer Zone OCI runtime: it runs containers in a sandbox whose\nkernel (the Sentry) is written in Go.\n\n")
	byGroup := map[string][]subcommands.Command{}
	var extra []string
	cdr.VisitCommands(func(g *subcommands.CommandGroup, c subcommands.Command) {
		if _, ok := byGroup[g.Name()]; !ok && !contains(groupOrder, g.Name()) && g.Name() != GroupInternal {
			extra = append(extra, g.Name())
		}
		byGroup[g.Name()] = append(byGroup[g.Name()], c)
	})
	for _, g := range append(append([]string(nil), groupOrder...), extra...) {
		cmds := byGroup[g]
		if len(cmds) == 0 {
			continue
		}
		name := g
		if name == "" {
			name = "other commands"
		}
		fmt.Fprintf(w, "%s:\n", capitalize(name))
		for _, c := range cmds {
			fmt.Fprintf(w, "  %-12s %s\n", c.Name(), c.Synopsis())
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Run \"runsc help <command>\" for a command's usage and flags,\nand \"runsc flags\" for the global flags.\n")
}

func explainCommand(w io.Writer, c subcommands.Command) {
	fmt.Fprint(w, c.Usage())
	fs := flag.NewFlagSet(c.Name(), flag.ContinueOnError)
	c.SetFlags(fs)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintf(w, "\nFlags:\n")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Main runs runsc with args (without the program name), writing to stdout
// and stderr, and returns the process exit code. register adds the
// commands. Usage errors (unknown command or flag, bad flag value) print
// one line on stderr and return 2.
func Main(args []string, register func(*subcommands.Commander), stdout, stderr io.Writer) int {
	streams := &Streams{Stdout: stdout, Stderr: stderr}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "runsc: "+format+"\n", a...)
		return int(subcommands.ExitUsageError)
	}

	top := config.NewFlagSet("runsc")
	showVersion := top.Bool("version", false, "print runsc's version and exit.")
	conf, rest, err := config.Parse(top, args)
	cdr := NewCommander(top, register)
	switch {
	case errors.Is(err, flag.ErrHelp):
		cdr.Explain(stdout)
		return 0
	case err != nil:
		return usageErr("%s (see \"runsc flags\")", oneLine(err.Error()))
	}
	if *showVersion {
		fmt.Fprint(stdout, version.String())
		return 0
	}
	if len(rest) == 0 {
		cdr.Explain(stderr)
		return int(subcommands.ExitUsageError)
	}

	c, _ := commandByName(cdr, rest[0])
	if c == nil {
		return usageErr("unknown command %q (see \"runsc help\")", rest[0])
	}
	if conf.Debug {
		appendLog(conf, "debug", "runsc "+strings.Join(args, " "))
	}
	fs := config.NewFlagSet(c.Name())
	c.SetFlags(fs)
	if err := fs.Parse(rest[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			explainCommand(stdout, c)
			return 0
		}
		return usageErr("%s: %s (see \"runsc help %s\")", c.Name(), oneLine(err.Error()), c.Name())
	}
	return int(c.Execute(context.Background(), fs, conf, streams))
}
