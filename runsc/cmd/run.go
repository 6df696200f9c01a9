package cmd

import (
	"context"
	"flag"
	"os"
	"os/signal"

	"github.com/google/subcommands"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/sandbox"
)

// Run is `runsc run`: create and start a container, and, unless
// --detach, wait for it, delete it and exit with its status.
type Run struct {
	bundle        string
	pidFile       string
	consoleSocket string
	detach        bool
	tty           bool
	compat        runcFlags
}

// Name implements subcommands.Command.
func (*Run) Name() string { return "run" }

// Synopsis implements subcommands.Command.
func (*Run) Synopsis() string { return "create and start a container, and wait for it" }

// Usage implements subcommands.Command.
func (*Run) Usage() string {
	return `run [--detach] [-t] [--console-socket PATH] [--bundle DIR] [--pid-file FILE] ID

Creates and starts container ID from the bundle. Without --detach, runsc
waits for the container's process, forwarding signals it receives to it,
then deletes the container and exits with the process's status (128+N if
it was killed by signal N). With process.terminal (or -t) the process
gets a terminal: a new one whose master is sent to --console-socket, or,
without it, the caller's own terminal.
`
}

// SetFlags implements subcommands.Command.
func (r *Run) SetFlags(f *flag.FlagSet) {
	f.StringVar(&r.bundle, "bundle", ".", "path to the bundle directory")
	f.StringVar(&r.bundle, "b", ".", "same as --bundle")
	f.StringVar(&r.pidFile, "pid-file", "", "file to write the sandbox's host PID to")
	f.StringVar(&r.consoleSocket, "console-socket", "", "unix socket to send the terminal's master to (process.terminal)")
	r.compat.setFlags(f)
	f.BoolVar(&r.tty, "tty", false, "give the process a terminal (as process.terminal): the caller's, or a new one sent to --console-socket")
	f.BoolVar(&r.tty, "t", false, "same as --tty")
	f.BoolVar(&r.detach, "detach", false, "do not wait for the container")
	f.BoolVar(&r.detach, "d", false, "same as --detach")
}

// Execute implements subcommands.Command.
func (r *Run) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	id, err := oneID(f.Args(), "run")
	if err != nil {
		return Usagef(args, "%v", err)
	}
	if err := r.compat.check(); err != nil {
		return Usagef(args, "run %s: %v", id, err)
	}
	conf := ConfigFrom(args)
	req := createRequest{id: id, bundle: r.bundle, pidFile: r.pidFile, detach: r.detach, start: true,
		terminal: terminalOptions{consoleSocket: r.consoleSocket, force: r.tty}}
	c, err := createContainer(conf, req)
	if err != nil {
		return Fatalf(args, "run %s: %v", id, err)
	}
	runPoststart(c.ctr, args)
	if r.detach {
		return subcommands.ExitSuccess
	}
	// Forward the signals a terminal or supervisor sends to the container.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	defer signal.Stop(sigs)
	sock := c.ctr.ControlSocket()
	go func() {
		for s := range sigs {
			sandbox.Call(sock, &boot.ControlRequest{Cmd: boot.CmdSignal, Signal: int(s.(unix.Signal))})
		}
	}()
	code, err := c.sb.WaitStatus()
	if c.restoreTerminal != nil {
		c.restoreTerminal()
	}
	if err != nil {
		Fatalf(args, "run %s: %v", id, err)
		code = 1
	}
	if err := deleteContainer(storeFor(conf), id, true, args); err != nil {
		Fatalf(args, "run %s: %v", id, err)
	}
	exitWith(code)
	return subcommands.ExitSuccess
}
