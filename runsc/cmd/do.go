package cmd

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/sandbox"
)

// Do is `runsc do`: run a command in a new sandbox whose root is a host
// directory (the host's / by default), with the caller's stdio, and exit
// with the command's status.
type Do struct {
	rootfs   string
	readOnly bool
	cwd      string
	env      stringList
	user     string
	volumes  stringList
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// Name implements subcommands.Command.
func (*Do) Name() string { return "do" }

// Synopsis implements subcommands.Command.
func (*Do) Synopsis() string { return "run a command in a new sandbox (no OCI bundle needed)" }

// Usage implements subcommands.Command.
func (*Do) Usage() string {
	return `do [--rootfs DIR] [--cwd DIR] [--env K=V]... [--user UID[:GID]] [--volume SRC:DST[:ro]]... CMD [ARG]...

Runs CMD in a new sandbox and exits with its status (128+N if it is killed by
signal N). The root file system is DIR (the host's / by default), served by a
Gofer. With the default --overlay=memory, writes go to an in-memory layer and
the host is never changed; with --overlay=none they reach DIR; with
--read-only they fail with EROFS. The environment is the caller's, with --env
added. The command runs as the caller's user and group unless --user names
numeric ones (the group is then also the one supplementary group).
--volume bind-mounts the host directory or file SRC at DST in the sandbox;
writes go through to the host (whatever --overlay says), unless ":ro" makes
it read-only (EROFS).
`
}

// SetFlags implements subcommands.Command.
func (d *Do) SetFlags(f *flag.FlagSet) {
	f.StringVar(&d.rootfs, "rootfs", "/", "host directory to use as the root file system")
	f.StringVar(&d.cwd, "cwd", "", "working directory in the sandbox (default: the caller's, if it exists there, else /)")
	f.Var(&d.env, "env", "set an environment variable K=V (repeatable)")
	f.BoolVar(&d.readOnly, "read-only", false, "make the root file system read-only (EROFS on writes)")
	f.Var(&d.volumes, "volume", "bind-mount host path SRC at DST, read-only with :ro (SRC:DST[:ro], repeatable)")
	f.StringVar(&d.user, "user", "", "run the command as numeric UID[:GID] (default: the caller's; GID 0 if not given, as with exec)")
}

// Execute implements subcommands.Command.
func (d *Do) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() == 0 {
		fmt.Fprint(StreamsFrom(args).Stderr, "runsc: do: no command given\nusage: runsc "+d.Usage())
		return subcommands.ExitUsageError
	}
	conf := ConfigFrom(args)
	rootfs, err := absDir(d.rootfs)
	if err != nil {
		return Fatalf(args, "do: --rootfs: %v", err)
	}
	cwd := d.cwd
	if cwd == "" {
		cwd = "/"
		if wd, err := os.Getwd(); err == nil && rootfs == "/" {
			cwd = wd
		}
	}
	env := os.Environ()
	for _, kv := range d.env {
		if !strings.Contains(kv, "=") {
			return Usagef(args, "do: --env %q: want K=V", kv)
		}
		env = append(env, kv)
	}
	user := specs.User{UID: uint32(os.Getuid()), GID: uint32(os.Getgid())}
	if d.user != "" {
		if user.UID, user.GID, err = parseUser(d.user); err != nil {
			return Usagef(args, "do: %v", err)
		}
		// As with runc, the primary group is also a supplementary one.
		user.AdditionalGids = []uint32{user.GID}
	}
	spec := &specs.Spec{
		Version: specs.Version,
		Process: &specs.Process{
			Args: f.Args(),
			Env:  env,
			Cwd:  cwd,
			User: user,
			// A command run with `do` keeps its caller's resource limits,
			// as it would natively.
			Rlimits: callerRlimits(),
		},
		Root: &specs.Root{Path: rootfs, Readonly: d.readOnly},
	}
	if h, err := os.Hostname(); err == nil {
		spec.Hostname = h
	}
	for _, v := range d.volumes {
		m, err := parseVolume(v)
		if err != nil {
			return Usagef(args, "do: %v", err)
		}
		spec.Mounts = append(spec.Mounts, m)
	}
	// The Gofer may write to the host only when writes go through to it.
	goferReadOnly := d.readOnly || conf.Overlay != config.OverlayNone
	code, err := runSandbox(conf.ToFlags(), conf.Network, conf.Platform == config.PlatformSystrap, spec, goferReadOnly)
	if err != nil {
		return Fatalf(args, "do: %v", err)
	}
	os.Exit(code)
	return subcommands.ExitSuccess
}

// parseVolume parses a --volume value, SRC:DST[:ro], into a bind mount.
func parseVolume(v string) (specs.Mount, error) {
	parts := strings.Split(v, ":")
	opts := []string{"rbind"}
	if len(parts) == 3 && parts[2] == "ro" {
		opts = append(opts, "ro")
		parts = parts[:2]
	}
	if len(parts) != 2 || parts[0] == "" || !strings.HasPrefix(parts[1], "/") {
		return specs.Mount{}, fmt.Errorf("--volume %q: want SRC:DST[:ro] with an absolute DST", v)
	}
	return specs.Mount{Type: "bind", Source: parts[0], Destination: parts[1], Options: opts}, nil
}

func absDir(p string) (string, error) {
	st, err := os.Stat(p)
	if err != nil {
		return "", err
	}
	if !st.IsDir() {
		return "", fmt.Errorf("%s is not a directory", p)
	}
	if p[0] != '/' {
		wd, err := os.Getwd()
		if err != nil {
			return "", err
		}
		p = wd + "/" + p
	}
	return p, nil
}

// runSandbox starts a Gofer for spec's root and a Sentry (runsc boot) for
// spec's process, connected by a socketpair, waits for the Sentry and
// returns its exit code.
func runSandbox(globalFlags []string, network config.Network, schedBatch bool, spec *specs.Spec, goferReadOnly bool) (int, error) {
	exe, err := os.Executable()
	if err != nil {
		return 0, fmt.Errorf("finding runsc: %w", err)
	}
	spec, goferMounts, err := sandbox.BindMounts(spec)
	if err != nil {
		return 0, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("creating the gofer socket: %w", err)
	}
	sentryEnd, goferEnd := os.NewFile(uintptr(fds[0]), "sentry-9p"), os.NewFile(uintptr(fds[1]), "gofer-9p")
	defer sentryEnd.Close()
	sentryMounts, goferMountEnds, err := sandbox.MountSocketpairs(len(goferMounts))
	if err != nil {
		goferEnd.Close()
		return 0, err
	}
	defer sandbox.CloseFiles(sentryMounts)

	goferArgs := append(append([]string(nil), globalFlags...), "gofer", "--root", spec.Root.Path, "--io-fd", "3")
	if goferReadOnly {
		goferArgs = append(goferArgs, "--read-only")
	}
	for i, m := range goferMounts {
		goferArgs = append(goferArgs, "--mount-fd", sandbox.GoferMountFlag(4+i, m))
	}
	gofer := exec.Command(exe, goferArgs...)
	gofer.ExtraFiles = append([]*os.File{goferEnd}, goferMountEnds...)
	gofer.Stderr = os.Stderr
	gofer.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if isolateSandbox() {
		gofer.SysProcAttr.Cloneflags = sandbox.GoferCloneFlags
		gofer.Args = append(gofer.Args, "--isolate")
	}
	err = gofer.Start()
	goferEnd.Close()
	sandbox.CloseFiles(goferMountEnds)
	if err != nil {
		return 0, fmt.Errorf("starting the gofer: %w", err)
	}
	defer func() {
		gofer.Process.Kill()
		gofer.Wait()
	}()

	specR, specW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	bootArgs := append(append([]string(nil), globalFlags...), "boot", "--io-fd", "3", "--spec-fd", "4")
	for i := range sentryMounts {
		bootArgs = append(bootArgs, "--mount-fd", fmt.Sprint(5+i))
	}
	boot := exec.Command(exe, bootArgs...)
	boot.ExtraFiles = append([]*os.File{sentryEnd, specR}, sentryMounts...)
	boot.Stdin, boot.Stdout, boot.Stderr = os.Stdin, os.Stdout, os.Stderr
	boot.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if isolateSandbox() {
		boot.SysProcAttr.Cloneflags = sandbox.SentryCloneFlags(network)
		boot.Args = append(boot.Args, "--isolate")
	}
	start := boot.Start
	if schedBatch {
		start = func() error { return sandbox.StartSchedBatch(boot) }
	}
	if err := start(); err != nil {
		specR.Close()
		specW.Close()
		return 0, fmt.Errorf("starting the sentry: %w", err)
	}
	specR.Close()
	err = sandbox.SendSpec(specW, spec)
	specW.Close()
	if err != nil {
		boot.Process.Kill()
		boot.Wait()
		return 0, err
	}
	// The caller's signals are the sandbox's: pass them on to the Sentry,
	// which delivers them inside.
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP, unix.SIGUSR1,
		unix.SIGUSR2, unix.SIGWINCH, unix.SIGTSTP, unix.SIGCONT, unix.SIGALRM)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case s := <-sigs:
				// A terminal sends its signals to the Sentry as well (same
				// process group); forward only those that came to us alone.
				if !fromTerminal(s) {
					boot.Process.Signal(s)
				}
			case <-done:
				return
			}
		}
	}()
	err = boot.Wait()
	signal.Stop(sigs)
	close(done)
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		ws := exitErr.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ws.ExitStatus(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("waiting for the sentry: %w", err)
	}
	return 0, nil
}

// fromTerminal reports whether s is one a terminal sends to the whole
// foreground process group (which includes the Sentry) when runsc's stdin
// is a terminal.
func fromTerminal(s os.Signal) bool {
	switch s {
	case unix.SIGINT, unix.SIGQUIT, unix.SIGTSTP, unix.SIGWINCH:
		_, err := unix.IoctlGetTermios(0, unix.TCGETS)
		return err == nil
	}
	return false
}

// callerRlimits returns the caller's resource limits in OCI form.
func callerRlimits() []specs.POSIXRlimit {
	names := []struct {
		name string
		r    int
	}{
		{"RLIMIT_CPU", unix.RLIMIT_CPU}, {"RLIMIT_FSIZE", unix.RLIMIT_FSIZE}, {"RLIMIT_DATA", unix.RLIMIT_DATA},
		{"RLIMIT_STACK", unix.RLIMIT_STACK}, {"RLIMIT_CORE", unix.RLIMIT_CORE}, {"RLIMIT_RSS", unix.RLIMIT_RSS},
		{"RLIMIT_NPROC", unix.RLIMIT_NPROC}, {"RLIMIT_NOFILE", unix.RLIMIT_NOFILE},
		{"RLIMIT_MEMLOCK", unix.RLIMIT_MEMLOCK}, {"RLIMIT_AS", unix.RLIMIT_AS}, {"RLIMIT_LOCKS", unix.RLIMIT_LOCKS},
		{"RLIMIT_SIGPENDING", unix.RLIMIT_SIGPENDING}, {"RLIMIT_MSGQUEUE", unix.RLIMIT_MSGQUEUE},
		{"RLIMIT_NICE", unix.RLIMIT_NICE}, {"RLIMIT_RTPRIO", unix.RLIMIT_RTPRIO}, {"RLIMIT_RTTIME", unix.RLIMIT_RTTIME},
	}
	var out []specs.POSIXRlimit
	for _, n := range names {
		var rl unix.Rlimit
		if err := unix.Getrlimit(n.r, &rl); err == nil {
			out = append(out, specs.POSIXRlimit{Type: n.name, Hard: rl.Max, Soft: rl.Cur})
		}
	}
	return out
}
