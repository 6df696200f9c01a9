package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/sandbox"
)

// Boot is `runsc boot`, the Sentry process. It is started by other runsc
// commands, never by users.
type Boot struct {
	ioFD      int
	specFD    int
	controlFD int
	exitFD    int
	isolate   bool
	terminal  bool
	mountFDs  intList
}

// intList is a repeatable int flag.
type intList []int

func (l *intList) String() string { return fmt.Sprint([]int(*l)) }
func (l *intList) Set(v string) error {
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return fmt.Errorf("want a file descriptor, got %q", v)
	}
	*l = append(*l, n)
	return nil
}

// Name implements subcommands.Command.
func (*Boot) Name() string { return "boot" }

// Synopsis implements subcommands.Command.
func (*Boot) Synopsis() string { return "run the Sentry (internal)" }

// Usage implements subcommands.Command.
func (*Boot) Usage() string {
	return "boot --io-fd FD --spec-fd FD\n\nRuns the sandbox kernel for the spec read from --spec-fd, with its root served by the Gofer on --io-fd.\n"
}

// SetFlags implements subcommands.Command.
func (b *Boot) SetFlags(f *flag.FlagSet) {
	f.IntVar(&b.ioFD, "io-fd", -1, "socket connected to the Gofer serving the root")
	f.Var(&b.mountFDs, "mount-fd", "socket connected to the Gofer serving a bind mount of the spec (repeatable, in spec order)")
	f.IntVar(&b.specFD, "spec-fd", -1, "file descriptor to read the OCI spec (JSON) from")
	f.IntVar(&b.controlFD, "control-fd", -1, "listening control socket; if set, the first process starts only on a start request")
	f.IntVar(&b.exitFD, "exit-fd", -1, "file to write the first process's exit status to")
	f.BoolVar(&b.terminal, "terminal", false, "stdin is a host terminal: give the container a terminal of the Sentry's, relayed to it")
	f.BoolVar(&b.isolate, "isolate", false, "confine the Sentry: pivot_root into an empty directory, drop capabilities (needs new namespaces)")
}

// Execute implements subcommands.Command.
func (b *Boot) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if b.ioFD < 0 || b.specFD < 0 {
		return Usagef(args, "boot: --io-fd and --spec-fd are required")
	}
	conf := ConfigFrom(args)
	// The spec is decoded while the Sentry confines itself; the kernel is
	// built from it while the runtime finishes the sandbox's host set-up,
	// which the Sentry waits for before it forks (see sandbox.ReceiveSpec).
	specc := make(chan specResult, 1)
	go func() {
		spec, hostReady, err := sandbox.ReceiveSpec(os.NewFile(uintptr(b.specFD), "spec"))
		specc <- specResult{spec, hostReady, err}
	}()
	log, closeLog, err := openDebugLog(conf, "boot")
	if err != nil {
		return Fatalf(args, "boot: %v", err)
	}
	defer closeLog()
	stdio := make([]*os.File, 3)
	for i := range stdio {
		fd, err := unix.FcntlInt(uintptr(i), unix.F_DUPFD_CLOEXEC, 3)
		if err != nil {
			return Fatalf(args, "boot: stdio %d: %v", i, err)
		}
		stdio[i] = os.NewFile(uintptr(fd), "stdio")
	}
	// Isolated, the Sentry is in a network namespace of the sandbox's own
	// or the spec's (see sandbox.Start). The sandbox's stack takes its
	// interfaces over netlink and packet sockets, with no path, while the
	// Sentry gives up the host's file system, and before it drops the
	// capabilities that takes; host networking reads /proc/sys/net first.
	netc := make(chan netResult, 1)
	makeNet := func() {
		st, err := boot.NewNetworkStack(conf.Network, b.isolate)
		netc <- netResult{st, err}
	}
	if b.isolate && conf.Network != config.NetworkHost {
		go makeNet()
	} else {
		makeNet()
	}
	var confineErr error
	if b.isolate {
		confineErr = sandbox.ConfineRoot()
	}
	nr := <-netc
	if nr.err != nil {
		return Fatalf(args, "boot: %v", nr.err)
	}
	if confineErr != nil {
		return Fatalf(args, "boot: confining the sandbox: %v", confineErr)
	}
	netStack := nr.stack
	if b.isolate {
		if err := sandbox.DropPrivileges(); err != nil {
			return Fatalf(args, "boot: confining the sandbox: %v", err)
		}
		if err := sandbox.InstallSentryFilter(string(conf.Platform), boot.NetworkFilter(netStack)); err != nil {
			return Fatalf(args, "boot: %v", err)
		}
	}
	spec := <-specc
	if spec.err != nil {
		return Fatalf(args, "boot: %v", spec.err)
	}
	bootArgs := boot.Args{
		Config:    conf,
		Spec:      spec.spec,
		HostReady: spec.hostReady,
		GoferConn: os.NewFile(uintptr(b.ioFD), "gofer"),
		Stdio:     stdio,
		Terminal:  b.terminal,
		Network:   netStack,
		Log:       log,
	}
	for _, fd := range b.mountFDs {
		bootArgs.MountConns = append(bootArgs.MountConns, os.NewFile(uintptr(fd), "gofer-mount"))
	}
	ctrl, err := b.startControl(&bootArgs)
	if err != nil {
		return Fatalf(args, "boot: %v", err)
	}
	code, err := boot.Run(bootArgs)
	code, err, recorded := b.finish(ctrl, code, err)
	if err != nil {
		// The runtime command waiting for the start prints a failure
		// to start that finish recorded for it.
		if !recorded {
			Fatalf(args, "%v", err)
		}
		// As a shell does: 127 when the command is not found, 126 when it
		// cannot be executed.
		var ee *kernel.ExecError
		if errors.As(err, &ee) {
			if errors.Is(err, unix.ENOENT) {
				os.Exit(127)
			}
			os.Exit(126)
		}
		return subcommands.ExitFailure
	}
	os.Exit(code)
	return subcommands.ExitSuccess
}

// netResult is the sandbox's network stack, or why it could not be made.
type netResult struct {
	stack inet.Stack
	err   error
}

// specResult is a spec read from the spec pipe and the wait for the rest of
// the pipe (see sandbox.ReceiveSpec), or why it could not be read.
type specResult struct {
	spec      *specs.Spec
	hostReady func() error
	err       error
}
