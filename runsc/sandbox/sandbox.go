// Package sandbox is the host side of a sandbox: it starts the Gofer
// (`runsc gofer`) and the Sentry (`runsc boot`) connected by a socketpair
// (and one more per bind mount of a host path),
// hands the Sentry its OCI spec, stdio, control socket and exit-status
// file, and talks to a running Sentry over its control socket (see
// runsc/boot's Controller for the protocol).
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"unsafe"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/cgroup"
	"bufferzone.dev/runsc/config"
)

// Options describe a sandbox to start.
type Options struct {
	// Exe is the runsc binary; os.Executable() if empty.
	Exe string
	// GlobalFlags are passed to both children before the command name.
	GlobalFlags []string
	// Spec is the container's spec; Spec.Root.Path must be absolute.
	Spec *specs.Spec
	// Stdio are the Sentry's (and so the container's) stdin, stdout and
	// stderr; the caller's if nil.
	Stdio []*os.File
	// Control, if set, is the listening control socket: the Sentry waits
	// on it for `start` before it creates the first process.
	Control *os.File
	// ExitFile, if set, is where the Sentry writes the first process's
	// exit status when it ends.
	ExitFile *os.File
	// Terminal says Stdio[0] is a host terminal (the container's
	// process.terminal): the Sentry relays a terminal of its own to it.
	Terminal bool
	// Detach makes both processes outlive the caller: they get a session
	// of their own and no parent-death signal.
	Detach bool
	// Isolate starts the Sentry in new pid, mount, ipc, uts and network
	// namespaces (see IsolationCloneFlags and Confine) and confines the
	// Gofer likewise (GoferCloneFlags, ConfineGofer).
	Isolate bool
	// Network is the sandbox's network mode (see SentryCloneFlags).
	Network config.Network
	// Rootless, with Isolate, starts both processes in a new user
	// namespace that maps the caller to root (see inUserNS): how a caller
	// without root privileges gets isolated processes.
	Rootless bool
	// SchedBatch starts the Sentry, and so every process it forks, with
	// the host scheduling policy SCHED_BATCH: a woken thread then never
	// preempts the running one (see the systrap platform's hand-off
	// policy, which asks for it).
	SchedBatch bool
	// Cgroup, if set, is the created cgroup both processes are put in.
	// The Sentry joins it before it reads its spec, so that every stub
	// process it forks is born in it.
	Cgroup *cgroup.Cgroup
}

// Sandbox is a started Gofer and Sentry.
type Sandbox struct {
	Gofer  *exec.Cmd
	Sentry *exec.Cmd
}

// Start starts the Gofer and the Sentry. On error nothing is left running.
func Start(o Options) (*Sandbox, error) {
	exe := o.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("finding runsc: %w", err)
		}
	}
	if o.Spec == nil || o.Spec.Root == nil || o.Spec.Root.Path == "" {
		return nil, errors.New("spec has no root")
	}
	spec, goferMounts, err := BindMounts(o.Spec)
	if err != nil {
		return nil, err
	}
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("creating the gofer socket: %w", err)
	}
	sentryEnd, goferEnd := os.NewFile(uintptr(fds[0]), "sentry-9p"), os.NewFile(uintptr(fds[1]), "gofer-9p")
	defer sentryEnd.Close()
	sentryMounts, goferMountEnds, err := MountSocketpairs(len(goferMounts))
	if err != nil {
		goferEnd.Close()
		return nil, err
	}
	defer CloseFiles(sentryMounts)

	attr := func() *syscall.SysProcAttr {
		if o.Detach {
			return &syscall.SysProcAttr{Setsid: true}
		}
		return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	}
	goferArgs := append(append([]string(nil), o.GlobalFlags...), "gofer", "--root", o.Spec.Root.Path, "--io-fd", "3")
	if o.Spec.Root.Readonly {
		goferArgs = append(goferArgs, "--read-only")
	}
	for i, m := range goferMounts {
		goferArgs = append(goferArgs, "--mount-fd", GoferMountFlag(4+i, m))
	}
	gofer := exec.Command(exe, goferArgs...)
	gofer.ExtraFiles = append([]*os.File{goferEnd}, goferMountEnds...)
	gofer.Stderr = os.Stderr
	gofer.SysProcAttr = attr()
	goferThread := forkThread{}
	if o.Isolate {
		gofer.SysProcAttr.Cloneflags = GoferCloneFlags
		gofer.Args = append(gofer.Args, "--isolate")
		if o.Rootless {
			inUserNS(gofer.SysProcAttr)
		} else {
			goferThread.caps = goferStart()
		}
	}

	specR, specW, err := os.Pipe()
	if err != nil {
		goferEnd.Close()
		CloseFiles(goferMountEnds)
		return nil, fmt.Errorf("creating the spec pipe: %w", err)
	}
	// The spec is written at once, for the Sentry to decode while it
	// starts, and specGo once the Sentry is in the cgroup (see specGo).
	defer specW.Close()
	sent := make(chan error, 1)
	go func() { sent <- writeSpec(specW, spec) }()
	extra := []*os.File{sentryEnd, specR}
	bootArgs := append(append([]string(nil), o.GlobalFlags...), "boot", "--io-fd", "3", "--spec-fd", "4")
	if o.Control != nil {
		bootArgs = append(bootArgs, "--control-fd", fmt.Sprint(3+len(extra)))
		extra = append(extra, o.Control)
	}
	if o.ExitFile != nil {
		bootArgs = append(bootArgs, "--exit-fd", fmt.Sprint(3+len(extra)))
		extra = append(extra, o.ExitFile)
	}
	for _, f := range sentryMounts {
		bootArgs = append(bootArgs, "--mount-fd", fmt.Sprint(3+len(extra)))
		extra = append(extra, f)
	}
	if o.Terminal {
		bootArgs = append(bootArgs, "--terminal")
	}
	sentry := exec.Command(exe, bootArgs...)
	sentry.ExtraFiles = extra
	sentry.Stdin, sentry.Stdout, sentry.Stderr = os.Stdin, os.Stdout, os.Stderr
	if len(o.Stdio) == 3 {
		sentry.Stdin, sentry.Stdout, sentry.Stderr = o.Stdio[0], o.Stdio[1], o.Stdio[2]
	}
	sentry.SysProcAttr = attr()
	sentryThread := forkThread{batch: o.SchedBatch}
	if o.Isolate {
		sentry.SysProcAttr.Cloneflags = SentryCloneFlags(o.Network)
		sentry.Args = append(sentry.Args, "--isolate")
		if o.Rootless {
			inUserNS(sentry.SysProcAttr)
		} else {
			sentryThread.caps = sentryStart()
		}
		if sentryThread.netns = sentryNetns(spec, o.Network); sentryThread.netns != "" {
			sentry.SysProcAttr.Cloneflags &^= syscall.CLONE_NEWNET
		}
	}

	// Both children are forked at once, each from a thread of its own
	// (creating their namespaces takes milliseconds of the forking
	// thread), and each joins the cgroup as soon as it exists: the first
	// move into a cgroup waits for an RCU grace period, which the
	// children's own start-up then hides. The Sentry uses its spec only
	// once it has confined itself and specGo has come, so that every
	// process it forks is born in the cgroup.
	goferc := goferThread.start(gofer, o.Cgroup)
	sentryc := sentryThread.start(sentry, o.Cgroup)
	goferErr, sentryErr := <-goferc, <-sentryc
	goferEnd.Close()
	CloseFiles(goferMountEnds)
	specR.Close()
	if goferErr != nil || sentryErr != nil {
		killWait(sentry)
		killWait(gofer)
		if goferErr != nil {
			return nil, fmt.Errorf("starting the gofer: %w", goferErr)
		}
		return nil, fmt.Errorf("starting the sentry: %w", sentryErr)
	}
	// process.oomScoreAdj is the host's score of the sandbox, as runc
	// sets it for the container process; set before the Sentry forks
	// anything, so that its stubs inherit it.
	if err := boot.SetHostOOMScoreAdj(sentry.Process.Pid, spec.Process); err != nil {
		killWait(sentry)
		killWait(gofer)
		return nil, err
	}
	err = <-sent
	if err == nil {
		err = writeSpecGo(specW)
	}
	if err != nil {
		killWait(sentry)
		killWait(gofer)
		if errors.Is(err, syscall.EPIPE) {
			// The Sentry gave up while it built the kernel (it
			// recorded why in the exit file, if it has one).
			return nil, fmt.Errorf("%w: %v", ErrNotReachable, err)
		}
		return nil, err
	}
	return &Sandbox{Gofer: gofer, Sentry: sentry}, nil
}

// forkThread is what the thread that forks a sandbox process must be
// first: the child inherits the network namespace and the credentials of
// the thread that forks it, not of the whole process.
type forkThread struct {
	// netns, if set, is the path of a network namespace to enter.
	netns string
	// caps, if set, are the capabilities the child starts with (see
	// startCaps).
	caps *startCaps
	// batch gives the thread, and so the child, SCHED_BATCH.
	batch bool
}

// start starts cmd from an OS thread of its own, made as t says, and then
// puts it in cg, if set. It returns at once; the channel gets the result.
// On error cmd.Process is set if the child was started.
//
// The thread is never given back to the Go scheduler, so no other
// goroutine runs in its namespace or with its bounding set. The kernel
// sends a child its Pdeathsig when the thread that forked it ends, so
// for such a child the thread lives until the child has exited; other
// threads end at once.
func (t forkThread) start(cmd *exec.Cmd, cg *cgroup.Cgroup) <-chan error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := t.enter(); err != nil {
			errc <- err
			return
		}
		if err := cmd.Start(); err != nil {
			errc <- err
			return
		}
		// Opened before anyone else knows the child, so that it names
		// the child: nobody can have reaped it and reused its PID yet.
		pidfd, pidfdErr := -1, error(nil)
		if cmd.SysProcAttr.Pdeathsig != 0 {
			pidfd, pidfdErr = unix.PidfdOpen(cmd.Process.Pid, 0)
		}
		var err error
		if cg != nil {
			if err = cg.Add(cmd.Process.Pid); err != nil {
				err = fmt.Errorf("joining the cgroup: %w", err)
			}
		}
		errc <- err
		switch {
		case pidfdErr != nil:
			select {} // the child's life is unknown: hold the thread for good
		case pidfd >= 0:
			waitReadable(pidfd)
			unix.Close(pidfd)
		}
	}()
	return errc
}

// enter makes the calling thread what t says.
func (t forkThread) enter() error {
	if t.batch {
		// A policy lives across fork and execve: every thread of the
		// child, and every process it forks, inherits it.
		if err := setSchedBatch(); err != nil {
			return err
		}
	}
	if t.netns != "" {
		ns, err := os.Open(t.netns)
		if err != nil {
			return fmt.Errorf("opening the spec's network namespace: %w", err)
		}
		err = unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET)
		ns.Close()
		if err != nil {
			return fmt.Errorf("entering network namespace %s: %w", t.netns, err)
		}
	}
	if t.caps != nil {
		return t.caps.apply()
	}
	return nil
}

// setSchedBatch gives the calling thread the scheduling policy SCHED_BATCH
// (sched_setscheduler(2); any user may choose it).
func setSchedBatch() error { return setSchedPolicy(unix.SCHED_BATCH) }

// setSchedPolicy sets the calling thread's scheduling policy, one without
// a priority.
func setSchedPolicy(policy int) error {
	var param struct{ priority int32 }
	if _, _, e := unix.RawSyscall(unix.SYS_SCHED_SETSCHEDULER, 0, uintptr(policy), uintptr(unsafe.Pointer(&param))); e != 0 {
		return fmt.Errorf("setting scheduling policy %d: %w", policy, e)
	}
	return nil
}

// StartSchedBatch starts cmd as Options.SchedBatch says, from the calling
// thread, which has SCHED_BATCH only meanwhile.
func StartSchedBatch(cmd *exec.Cmd) error {
	runtime.LockOSThread()
	if err := setSchedBatch(); err != nil {
		runtime.UnlockOSThread()
		return err
	}
	err := cmd.Start()
	if setSchedPolicy(unix.SCHED_NORMAL) == nil {
		// Otherwise the thread stays with this goroutine, and ends
		// with it.
		runtime.UnlockOSThread()
	}
	return err
}

// waitReadable blocks the calling thread until fd is readable (a pidfd:
// its process has exited) or polling it fails.
func waitReadable(fd int) {
	for {
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != unix.EINTR {
			return
		}
	}
}

// Kill kills both processes and waits for them.
func (s *Sandbox) Kill() {
	killWait(s.Sentry)
	killWait(s.Gofer)
}

// Release forgets both processes without waiting for them (they run on
// after a detached caller exits).
func (s *Sandbox) Release() {
	s.Sentry.Process.Release()
	s.Gofer.Process.Release()
}

// WaitStatus waits for the Sentry and returns its exit status as a shell
// reports it (128+N for death by signal N); it then ends the Gofer.
func (s *Sandbox) WaitStatus() (int, error) {
	err := s.Sentry.Wait()
	code := 0
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		ws := exitErr.Sys().(syscall.WaitStatus)
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		} else {
			code = ws.ExitStatus()
		}
	case err != nil:
		return 0, fmt.Errorf("waiting for the sentry: %w", err)
	}
	// The Gofer serves only this Sentry, and answers each of its requests
	// with file operations done by then: nothing is lost by ending it now
	// rather than when it notices that the Sentry is gone.
	killWait(s.Gofer)
	return code, nil
}

func killWait(c *exec.Cmd) {
	if c.Process == nil {
		return
	}
	c.Process.Kill()
	c.Wait()
}

// Listen creates the listening control socket (SOCK_SEQPACKET) at path and
// returns it as a file to hand to the Sentry.
func Listen(path string) (*os.File, error) {
	name, done, err := SocketName(path)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	defer done()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: name}); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("binding control socket %s: %w", path, err)
	}
	if err := unix.Listen(fd, 16); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("listening on control socket: %w", err)
	}
	return os.NewFile(uintptr(fd), "control"), nil
}

// SocketName returns a name by which the unix socket at path can be bound
// or connected to: path itself if it fits in a sockaddr_un, otherwise
// /proc/self/fd/N/BASE through an O_PATH descriptor of path's directory.
// Engines' state directories make long paths (Docker's
// /run/docker/runtime-runc/moby/<64 hex digits>/ leaves no room for a
// file name in sockaddr_un's 108 bytes). Call done once the socket is
// bound or connected.
func SocketName(path string) (name string, done func(), err error) {
	if len(path) < len(unix.RawSockaddrUnix{}.Path) {
		return path, func() {}, nil
	}
	dir, err := unix.Open(filepath.Dir(path), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, fmt.Errorf("opening the socket's directory: %w", err)
	}
	name = fmt.Sprintf("/proc/self/fd/%d/%s", dir, filepath.Base(path))
	if len(name) >= len(unix.RawSockaddrUnix{}.Path) {
		unix.Close(dir)
		return "", nil, fmt.Errorf("socket name %s is too long", filepath.Base(path))
	}
	return name, func() { unix.Close(dir) }, nil
}

// ErrNotReachable is returned by Call when the Sentry is not answering on
// its control socket (it has exited).
var ErrNotReachable = errors.New("sandbox is not running")

// Call sends req, with files attached, to the Sentry listening at path and
// returns its answer. An error in the answer is returned as an error.
func Call(path string, req *boot.ControlRequest, files ...*os.File) (*boot.ControlResponse, error) {
	name, done, err := SocketName(path)
	if err != nil {
		return nil, fmt.Errorf("%w: control socket %s: %v", ErrNotReachable, path, err)
	}
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: name, Net: "unixpacket"})
	done()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotReachable, err)
	}
	defer conn.Close()
	data, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encoding control request: %w", err)
	}
	var oob []byte
	if len(files) > 0 {
		fds := make([]int, len(files))
		for i, f := range files {
			fds[i] = int(f.Fd())
		}
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := conn.WriteMsgUnix(data, oob, nil); err != nil {
		if errors.Is(err, unix.EPIPE) || errors.Is(err, unix.ECONNRESET) {
			// The Sentry closed its socket between our connect and
			// the request: it exited.
			return nil, fmt.Errorf("%w: sending %s: %v", ErrNotReachable, req.Cmd, err)
		}
		return nil, fmt.Errorf("sending control request: %w", err)
	}
	buf := make([]byte, boot.MaxControlMessage)
	n, err := conn.Read(buf)
	if err != nil || n == 0 {
		// The Sentry closed the connection without answering: it exited.
		return nil, fmt.Errorf("%w: no answer to %s", ErrNotReachable, req.Cmd)
	}
	var resp boot.ControlResponse
	if err := json.Unmarshal(buf[:n], &resp); err != nil {
		return nil, fmt.Errorf("decoding control response: %w", err)
	}
	if resp.Error != "" {
		return &resp, errors.New(resp.Error)
	}
	return &resp, nil
}
