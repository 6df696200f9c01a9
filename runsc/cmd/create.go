package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/cgroup"
	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/container"
	"bufferzone.dev/runsc/sandbox"
)

// Create is `runsc create`: it starts a container's sandbox (the Gofer and
// a Sentry that has built the kernel) but not its process, which `runsc
// start` starts.
type Create struct {
	bundle        string
	pidFile       string
	consoleSocket string
	compat        runcFlags
}

// runcFlags are create and run flags of runc that engines may pass:
// runsc accepts those that change nothing for a sandbox and refuses, in
// one line, what it cannot do.
type runcFlags struct {
	noPivot      bool
	noNewKeyring bool
	preserveFDs  int
}

func (r *runcFlags) setFlags(f *flag.FlagSet) {
	f.BoolVar(&r.noPivot, "no-pivot", false, "accepted for runc compatibility: the container's root is the Sentry's own, never a host mount to pivot from")
	f.BoolVar(&r.noNewKeyring, "no-new-keyring", false, "accepted for runc compatibility: the Sentry's keyrings are the sandbox's own")
	f.IntVar(&r.preserveFDs, "preserve-fds", 0, "extra host file descriptors to pass in (only 0 is supported)")
}

// check refuses what runsc cannot do.
func (r *runcFlags) check() error {
	if r.preserveFDs != 0 {
		return fmt.Errorf("--preserve-fds=%d: passing extra host file descriptors into the sandbox is not supported", r.preserveFDs)
	}
	return nil
}

// Name implements subcommands.Command.
func (*Create) Name() string { return "create" }

// Synopsis implements subcommands.Command.
func (*Create) Synopsis() string { return "create a container from a bundle (start it with start)" }

// Usage implements subcommands.Command.
func (*Create) Usage() string {
	return `create [--bundle DIR] [--pid-file FILE] [--console-socket PATH] ID

Creates container ID from the bundle (config.json and its root file
system): the sandbox is started and the container's process is ready but
not running; "runsc start ID" runs it. The container's stdio are this
command's. The sandbox's host PID is written to --pid-file.
`
}

// SetFlags implements subcommands.Command.
func (c *Create) SetFlags(f *flag.FlagSet) {
	f.StringVar(&c.bundle, "bundle", ".", "path to the bundle directory")
	f.StringVar(&c.bundle, "b", ".", "same as --bundle")
	f.StringVar(&c.pidFile, "pid-file", "", "file to write the sandbox's host PID to")
	f.StringVar(&c.consoleSocket, "console-socket", "", "unix socket to send the terminal's master to (process.terminal)")
	c.compat.setFlags(f)
}

// Execute implements subcommands.Command.
func (c *Create) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	id, err := oneID(f.Args(), "create")
	if err != nil {
		return Usagef(args, "%v", err)
	}
	if err := c.compat.check(); err != nil {
		return Usagef(args, "create %s: %v", id, err)
	}
	conf := ConfigFrom(args)
	req := createRequest{id: id, bundle: c.bundle, pidFile: c.pidFile, detach: true, terminal: terminalOptions{consoleSocket: c.consoleSocket}}
	if _, err := createContainer(conf, req); err != nil {
		return Fatalf(args, "create %s: %v", id, err)
	}
	return subcommands.ExitSuccess
}

// terminalOptions say where a container's terminal goes.
type terminalOptions struct {
	// consoleSocket receives the master of a new host terminal.
	consoleSocket string
	// force gives the process a terminal whatever its spec says (run -t).
	force bool
}

// createRequest is a container for createContainer to make.
type createRequest struct {
	id, bundle string
	// pidFile, if set, gets the sandbox's host PID.
	pidFile string
	// detach lets the sandbox outlive this process; otherwise it dies
	// with it.
	detach bool
	// terminal says where the process's terminal, if any, goes.
	terminal terminalOptions
	// start starts the container's process too (runsc run); its
	// poststart hooks are the caller's to run.
	start bool
}

// createContainer creates the container req describes and returns its
// state and its sandbox. A process with a terminal gets one as
// req.terminal says (see setupTerminal). On error nothing is left behind.
func createContainer(conf *config.Config, req createRequest) (_ *created, retErr error) {
	id, topts, detach := req.id, req.terminal, req.detach
	// Reading the host's cgroup mounts overlaps reading the bundle.
	detectCgroups := sync.OnceValues(cgroup.Detect)
	if !conf.IgnoreCgroups {
		go detectCgroups()
	}
	bundle, spec, err := loadBundle(req.bundle)
	if err != nil {
		return nil, err
	}
	if topts.force {
		spec.Process.Terminal = true
	}
	if err := container.ValidateID(id); err != nil {
		return nil, err
	}
	cg, err := sandboxCgroup(conf, id, spec, detectCgroups)
	if err != nil {
		return nil, err
	}
	store := storeFor(conf)
	owner := ""
	if u, err := user.Current(); err == nil {
		owner = u.Username
	}
	ctr, err := store.Create(container.State{ID: id, Bundle: bundle, Created: time.Now().UTC(), Owner: owner, Spec: spec, Cgroup: cg})
	if err != nil {
		return nil, err
	}
	unlock, err := store.Lock(id)
	if err != nil {
		os.RemoveAll(ctr.Dir())
		return nil, err
	}
	defer unlock()
	var sb *sandbox.Sandbox
	defer func() {
		if retErr != nil {
			if sb != nil {
				sb.Kill()
			}
			ctr.Destroy()
		}
	}()
	if cg != nil {
		if err := cg.Create(); err != nil {
			return nil, err
		}
		if spec.Linux != nil {
			if err := cg.Apply(spec.Linux.Resources); err != nil {
				return nil, err
			}
		}
	}
	ctl, err := sandbox.Listen(ctr.ControlSocket())
	if err != nil {
		return nil, err
	}
	defer ctl.Close()
	exitFile, err := os.OpenFile(store.ExitFile(id), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("creating the exit status file: %w", err)
	}
	defer exitFile.Close()
	stdio := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	var term *hostTerminal
	if spec.Process.Terminal {
		if term, err = setupTerminal(topts.consoleSocket, !detach, spec.Process.ConsoleSize); err != nil {
			return nil, err
		}
		defer term.close()
		stdio = term.stdio()
		defer func() {
			if retErr != nil && term.restore != nil {
				term.restore()
			}
		}()
	}
	sb, err = sandbox.Start(sandbox.Options{
		GlobalFlags: conf.ToFlags(),
		Spec:        spec,
		Terminal:    spec.Process.Terminal,
		Stdio:       stdio,
		Control:     ctl,
		ExitFile:    exitFile,
		Detach:      detach,
		Isolate:     isolateContainer(conf),
		Rootless:    os.Geteuid() != 0,
		Network:     conf.Network,
		SchedBatch:  conf.Platform == config.PlatformSystrap,
		Cgroup:      cg,
	})
	// Only the Sentry may hold the listening socket: if it dies, clients
	// (the readiness check below) must see the socket closed, not hang.
	ctl.Close()
	if err != nil {
		return nil, startFailure(ctr, err)
	}
	if ctr.Sandbox, err = container.NewProc(sb.Sentry.Process.Pid); err != nil {
		return nil, fmt.Errorf("recording the sentry: %w", err)
	}
	if ctr.Gofer, err = container.NewProc(sb.Gofer.Process.Pid); err != nil {
		return nil, fmt.Errorf("recording the gofer: %w", err)
	}
	if err := ctr.Save(); err != nil {
		return nil, err
	}
	// Wait until the Sentry has built the kernel and found the program, so
	// that errors are reported by create and start can follow at once. A
	// container to start at once with no hooks to run in between is
	// started by the same request: the Sentry answers a start once the
	// kernel is built and the process exists.
	var hooks []specs.Hook
	if spec.Hooks != nil {
		//lint:ignore SA1019 Prestart is deprecated but still run, as runc does.
		hooks = append(append(hooks, spec.Hooks.Prestart...), spec.Hooks.CreateRuntime...)
	}
	startNow := req.start && len(hooks) == 0
	cmd, status := boot.CmdReady, container.Created
	if startNow {
		cmd, status = boot.CmdStart, container.Running
	}
	if _, err := sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: cmd}); err != nil {
		return nil, startFailure(ctr, err)
	}
	ctr.State.Status = status
	if err := ctr.Save(); err != nil {
		return nil, err
	}
	if len(hooks) > 0 {
		if err := container.RunHooks(hooks, ctr.OCIState()); err != nil {
			return nil, err
		}
	}
	if err := writePIDFile(req.pidFile, sb.Sentry.Process.Pid); err != nil {
		return nil, err
	}
	if req.start && !startNow {
		if err := startLocked(ctr); err != nil {
			return nil, err
		}
	}
	if detach {
		sb.Release()
	}
	c := &created{ctr: ctr, sb: sb}
	if term != nil {
		c.restoreTerminal = term.restore
	}
	return c, nil
}

// created is a container createContainer made.
type created struct {
	ctr *container.Container
	sb  *sandbox.Sandbox
	// restoreTerminal, if set, gives the caller's terminal back its
	// settings once the container is done with it.
	restoreTerminal func()
}

// isolateSandbox says whether the Sentry runs in its own namespaces and
// is confined (sandbox.Confine). That needs root; it is on for root unless
// RUNSC_NO_ISOLATION is set (a debugging aid).
func isolateSandbox() bool {
	return os.Geteuid() == 0 && os.Getenv("RUNSC_NO_ISOLATION") == ""
}

// isolateContainer is isolateSandbox for a container, which other users
// get too with --rootless: in a user namespace of their own that maps
// them to root (sandbox.Options.Rootless).
func isolateContainer(conf *config.Config) bool {
	return isolateSandbox() || (conf.Rootless && os.Getenv("RUNSC_NO_ISOLATION") == "")
}

// startFailure is the error of a sandbox start that failed with err: if
// the Sentry exited first, the reason it recorded (see
// container.StartError), as the one line the user sees.
func startFailure(ctr *container.Container, err error) error {
	if !errors.Is(err, sandbox.ErrNotReachable) {
		return err
	}
	if reason := ctr.StartError(); reason != "" {
		return errors.New(reason)
	}
	// It crashed, and printed why.
	return errors.New("the sandbox exited while starting (see the error above)")
}
