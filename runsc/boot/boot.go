// Package boot turns an OCI spec into a running sandbox kernel: it creates
// the memory file and the platform, mounts the root file system served by
// the Gofer, wires the caller's stdio, starts the container's first process
// and waits for it. It runs in the `runsc boot` process, the Sentry.
package boot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/gofer"
	"bufferzone.dev/pkg/sentry/fsimpl/overlay"
	"bufferzone.dev/pkg/sentry/fsimpl/tmpfs"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/platform/ptrace"
	"bufferzone.dev/pkg/sentry/platform/systrap"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/strace"
	"bufferzone.dev/pkg/sentry/syscalls/linux"
	"bufferzone.dev/pkg/sentry/vfs"
	"bufferzone.dev/runsc/config"
)

// Args are what the Sentry needs to start.
type Args struct {
	Config *config.Config
	Spec   *specs.Spec
	// GoferConn is the Sentry's end of the 9P connection to the Gofer
	// serving the root file system.
	GoferConn *os.File
	// MountConns are the Sentry's ends of the 9P connections to the Gofer
	// serving the spec's bind mounts (IsBindMount), one per bind mount in
	// spec order.
	MountConns []*os.File
	// Stdio are the host FDs given to the application as 0, 1 and 2.
	Stdio []*os.File
	// Terminal says Stdio[0] is a host terminal: the application then gets
	// a terminal of the Sentry's own, relayed to it (see terminal.go).
	Terminal bool
	// Network is the sandbox's network stack; NewNetworkStack(Config.Network)
	// if nil. `runsc boot` makes it before the seccomp filter is installed
	// (host networking reads the host's interfaces).
	Network inet.Stack
	// Log receives kernel messages and --strace output.
	Log io.Writer
	// HostReady, if set, waits until the runtime has finished the
	// sandbox's host set-up (the Sentry is in the sandbox's cgroup). Run
	// builds the kernel, which forks no host process, first, and calls
	// HostReady before the platform may fork: before it warms the
	// platform and creates the first process.
	HostReady func() error
	// BeforeStart, if set, is called with the built kernel just before the
	// first process is created; the process is created only if it returns
	// nil. `runsc create` waits here for `runsc start` (see Controller).
	BeforeStart func(k *kernel.Kernel) error
	// Started, if set, is called once the first process exists.
	Started func()
}

// Run starts the sandbox and waits for its first process; it returns the
// process's status as a shell reports it (128+N for death by signal N).
func Run(a Args) (int, error) {
	spec := a.Spec
	if spec.Process == nil || len(spec.Process.Args) == 0 {
		return 0, errors.New("spec has no process to run")
	}
	mf, err := memory.New("runsc-memory")
	if err != nil {
		return 0, fmt.Errorf("creating the memory file: %w", err)
	}
	p, err := newPlatform(a.Config, mf)
	if err != nil {
		return 0, err
	}
	v := vfs.New()
	root, err := mountRoot(a, v, mf)
	if err != nil {
		return 0, err
	}

	var tracer kernel.SyscallTracer
	if a.Config.Strace {
		tr, err := strace.New(a.Log, a.Config.StraceSyscalls)
		if err != nil {
			return 0, fmt.Errorf("--strace-syscalls: %w", err)
		}
		tracer = straceShim{tr}
	}
	release := a.Config.KernelRelease
	if r := spec.Annotations[AnnotationKernelRelease]; r != "" {
		release = r
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = "buffer-zone"
	}
	k, err := kernel.New(kernel.Config{
		Platform:   p,
		MemoryFile: mf,
		VFS:        v,
		Syscalls:   linux.Table(),
		Release:    release,
		Version:    "#1 SMP Sun Jan 10 15:06:54 PST 2016",
		Hostname:   hostname,
		Domainname: spec.Domainname,
		Tracer:     tracer,
		Log:        a.Log,
		NumCPU:     runtime.NumCPU(),
	})
	if err != nil {
		return 0, err
	}
	// The spec's pids limit is the Sentry's to enforce: the host cgroup's
	// pids.max also counts the sandbox's own threads (see
	// cgroup.HostPidsMax), and hitting it would fail the Sentry's thread
	// creation, not the application's fork.
	if r := spec.Linux; r != nil && r.Resources != nil && r.Resources.Pids != nil && r.Resources.Pids.Limit != nil {
		k.SetTaskLimit(*r.Resources.Pids.Limit)
	}
	netStack := a.Network
	if netStack == nil {
		if netStack, err = NewNetworkStack(a.Config.Network, false); err != nil {
			return 0, err
		}
	}
	linux.SetNetworkStack(k, netStack)
	if err := applySysctls(k, netStack, spec); err != nil {
		return 0, err
	}
	pts, err := mountContainer(k, root, spec, a.MountConns)
	if err != nil {
		return 0, err
	}
	sandboxPts.Store(pts)
	var files []*vfs.FileDescription
	if a.Terminal && len(a.Stdio) > 0 {
		if files, err = terminalStdio(v, pts, a.Stdio[0]); err == nil {
			if err = bindConsole(v, files[0]); err != nil {
				releaseFiles(files)
			}
		}
	} else {
		files, err = hostStdio(a.Stdio)
	}
	if err != nil {
		return 0, err
	}
	proc := spec.Process
	creds := auth.NewUser(proc.User.UID, proc.User.GID, proc.User.AdditionalGids)
	if err := applyCapabilities(creds, proc.Capabilities); err != nil {
		return 0, err
	}
	limits := kernel.DefaultLimits()
	for _, rl := range proc.Rlimits {
		if r, ok := rlimitByName[rl.Type]; ok {
			limits.Set(r, unix.Rlimit{Cur: rl.Soft, Max: rl.Hard}, true)
		}
	}
	filename, err := lookPath(k, proc.Args[0], proc.Env, proc.Cwd, creds)
	if err != nil {
		return 0, err
	}
	umask := uint32(0o022)
	if proc.User.Umask != nil {
		umask = *proc.User.Umask
	}
	if a.HostReady != nil {
		if err := a.HostReady(); err != nil {
			return 0, err
		}
	}
	if w, ok := p.(platform.Warmer); ok {
		w.Warm()
	}
	if a.BeforeStart != nil {
		if err := a.BeforeStart(k); err != nil {
			return 0, err
		}
	}
	if _, err := k.CreateProcess(kernel.CreateProcessArgs{
		Filename:         filename,
		Argv:             proc.Args,
		Envv:             proc.Env,
		WorkingDirectory: proc.Cwd,
		Credentials:      creds,
		NoNewPrivs:       proc.NoNewPrivileges,
		OOMScoreAdj:      oomScoreAdj(proc),
		Umask:            umask,
		Limits:           limits,
		Files:            files,
	}); err != nil {
		return 0, err
	}
	if a.Started != nil {
		a.Started()
	}
	stop := make(chan struct{})
	defer close(stop)
	ForwardSignals(k, stop)
	return k.Wait().ShellStatus(), nil
}

// mountRoot mounts the root file system served by the Gofer, as
// --overlay says: "memory" (the default) puts a tmpfs upper layer in the
// Sentry over the Gofer's tree, which the Gofer then serves read-only;
// "none" uses the Gofer's tree directly, writable unless the spec's root is
// read-only. A read-only root needs no overlay.
func mountRoot(a Args, v *vfs.VFS, mf *memory.File) (*vfs.Mount, error) {
	fs, err := gofer.New(a.GoferConn, "/")
	if err != nil {
		return nil, fmt.Errorf("mounting the root file system: %w", err)
	}
	fs.EnablePageCache(mf)
	readOnly := a.Spec.Root != nil && a.Spec.Root.Readonly
	if readOnly || a.Config.Overlay == config.OverlayNone {
		return v.MountRoot(v.NewFilesystemInstance(fs), "/", readOnly), nil
	}
	ctx := &bootContext{creds: auth.NewUser(0, 0, nil)}
	ov, err := overlay.New(ctx, fs, tmpfs.New(mf, tmpfs.Options{}))
	if err != nil {
		return nil, fmt.Errorf("making the root overlay: %w", err)
	}
	return v.MountRoot(v.NewFilesystemInstance(ov), "overlay", false), nil
}

// AnnotationKernelRelease is the OCI annotation that sets the kernel
// release uname(2) reports, overriding --kernel-release.
const AnnotationKernelRelease = "dev.bufferzone.kernel-release"

func newPlatform(c *config.Config, mf *memory.File) (platform.Platform, error) {
	switch c.Platform {
	case config.PlatformPtrace:
		p, err := ptrace.New(mf.FD())
		if err != nil {
			return nil, fmt.Errorf("ptrace platform: %w", err)
		}
		return p, nil
	case config.PlatformSystrap:
		p, err := systrap.New(mf.FD())
		if err != nil {
			return nil, fmt.Errorf("systrap platform: %w", err)
		}
		return p, nil
	}
	return nil, fmt.Errorf("platform %q is not available yet", c.Platform)
}

// lookPath finds a command the way execvp does: a name with a slash is
// used as is; otherwise each PATH directory is tried in the sandbox's file
// system.
func lookPath(k *kernel.Kernel, name string, env []string, cwd string, creds *auth.Credentials) (string, error) {
	if strings.Contains(name, "/") {
		return name, nil
	}
	pathEnv := "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			pathEnv = v
		}
	}
	ctx := &bootContext{creds: creds}
	root := k.VFS.Root()
	for _, dir := range strings.Split(pathEnv, ":") {
		if dir == "" {
			dir = "."
		}
		p := path.Join(dir, name)
		if !path.IsAbs(p) {
			p = path.Join(cwd, p)
		}
		vd, err := k.VFS.GetDentry(ctx, vfs.Resolution{Root: root, Start: root, Path: p, FollowFinal: true})
		if err != nil {
			continue
		}
		st, err := vd.Dentry.Inode().Stat(ctx)
		if err != nil || vfs.FileType(st.Mode) != unix.S_IFREG {
			continue
		}
		if creds.CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayExecute, false) {
			return p, nil
		}
	}
	return "", &kernel.ExecError{Path: name, Op: "executing", Err: unix.ENOENT}
}

// bootContext is the vfs.Context of work done before any task exists.
type bootContext struct{ creds *auth.Credentials }

func (c *bootContext) Credentials() *auth.Credentials       { return c.creds }
func (c *bootContext) CopyIn(uintptr, []byte) (int, error)  { return 0, unix.EFAULT }
func (c *bootContext) CopyOut(uintptr, []byte) (int, error) { return 0, unix.EFAULT }
func (c *bootContext) Interrupted() <-chan struct{}         { return nil }

// straceShim adapts the strace package to the kernel's tracer interface.
type straceShim struct{ tr *strace.Tracer }

func (s straceShim) Enter(t *kernel.Task, sysno uintptr, args kernel.SyscallArgs) any {
	return s.tr.Enter(t, sysno, [6]uintptr(args))
}

func (s straceShim) Exit(t *kernel.Task, sysno uintptr, args kernel.SyscallArgs, ret uintptr, err error, state any) {
	s.tr.Exit(t, sysno, [6]uintptr(args), ret, err, state)
}

var rlimitByName = map[string]int{
	"RLIMIT_CPU": unix.RLIMIT_CPU, "RLIMIT_FSIZE": unix.RLIMIT_FSIZE, "RLIMIT_DATA": unix.RLIMIT_DATA,
	"RLIMIT_STACK": unix.RLIMIT_STACK, "RLIMIT_CORE": unix.RLIMIT_CORE, "RLIMIT_RSS": unix.RLIMIT_RSS,
	"RLIMIT_NPROC": unix.RLIMIT_NPROC, "RLIMIT_NOFILE": unix.RLIMIT_NOFILE, "RLIMIT_MEMLOCK": unix.RLIMIT_MEMLOCK,
	"RLIMIT_AS": unix.RLIMIT_AS, "RLIMIT_LOCKS": unix.RLIMIT_LOCKS, "RLIMIT_SIGPENDING": unix.RLIMIT_SIGPENDING,
	"RLIMIT_MSGQUEUE": unix.RLIMIT_MSGQUEUE, "RLIMIT_NICE": unix.RLIMIT_NICE, "RLIMIT_RTPRIO": unix.RLIMIT_RTPRIO,
	"RLIMIT_RTTIME": unix.RLIMIT_RTTIME,
}
