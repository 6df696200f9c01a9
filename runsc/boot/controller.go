package boot

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/host"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/vfs"
)

// The control protocol: `runsc start`, `kill`, `exec`, `ps` and `wait`
// talk to the Sentry over a SOCK_SEQPACKET unix socket whose listening end
// `runsc create` binds under the container's state directory and hands to
// `runsc boot`. Each connection carries one ControlRequest (one packet,
// with any file descriptors attached as SCM_RIGHTS) and gets one
// ControlResponse back.

// Control commands.
const (
	// CmdStart starts the container's first process.
	CmdStart = "start"
	// CmdSignal sends a signal to the first process, or to every process.
	CmdSignal = "signal"
	// CmdExec starts a new process; the request carries its stdio FDs.
	CmdExec = "exec"
	// CmdWaitPID waits for a process started by CmdExec.
	CmdWaitPID = "waitpid"
	// CmdWait waits for the first process (the container) to exit.
	CmdWait = "wait"
	// CmdPs lists the sandbox's processes.
	CmdPs = "ps"
	// CmdReady waits until the kernel is built and the first process can
	// be started; it fails if the Sentry gave up first.
	CmdReady = "ready"
	// CmdStats reports the sandbox's usage as the Sentry counts it.
	CmdStats = "stats"
	// CmdPidsLimit sets the most tasks the sandbox may hold (runsc update's
	// linux.resources.pids.limit; see kernel.SetTaskLimit).
	CmdPidsLimit = "pids-limit"
)

// MaxControlMessage bounds one control packet.
const MaxControlMessage = 1 << 20

// ControlRequest is one control command.
type ControlRequest struct {
	Cmd string `json:"cmd"`
	// Signal and All are for CmdSignal.
	Signal int  `json:"signal,omitempty"`
	All    bool `json:"all,omitempty"`
	// PID is for CmdWaitPID.
	PID int32 `json:"pid,omitempty"`
	// PidsLimit is for CmdPidsLimit: 0 or less is no limit.
	PidsLimit int64 `json:"pidsLimit,omitempty"`
	// Exec is for CmdExec.
	Exec *ExecArgs `json:"exec,omitempty"`
}

// ExecArgs describe a process to start with CmdExec. Its stdin, stdout and
// stderr are the three FDs sent with the request.
type ExecArgs struct {
	Args           []string `json:"args"`
	Env            []string `json:"env,omitempty"`
	Cwd            string   `json:"cwd,omitempty"`
	UID            uint32   `json:"uid"`
	GID            uint32   `json:"gid"`
	AdditionalGids []uint32 `json:"additionalGids,omitempty"`
	Umask          *uint32  `json:"umask,omitempty"`
	// Terminal says the stdio FDs are one host terminal: the process gets
	// a terminal of the Sentry's own, relayed to it, as its stdio and
	// controlling terminal.
	Terminal bool `json:"terminal,omitempty"`
	// Capabilities are the process's capability sets (all of them for
	// root if nil).
	Capabilities *specs.LinuxCapabilities `json:"capabilities,omitempty"`
	// NoNewPrivileges is the process's noNewPrivileges.
	NoNewPrivileges bool `json:"noNewPrivileges,omitempty"`
}

// ControlResponse answers a ControlRequest. Error is empty on success.
type ControlResponse struct {
	Error string `json:"error,omitempty"`
	// ErrorCode is a shell-style status for an exec that failed to start
	// (127: not found, 126: not executable).
	ErrorCode int `json:"errorCode,omitempty"`
	// PID is the process started by CmdExec.
	PID int32 `json:"pid,omitempty"`
	// Status is the shell-style exit status for CmdWait and CmdWaitPID.
	Status int `json:"status"`
	// Processes answers CmdPs.
	Processes []ProcessEntry `json:"processes,omitempty"`
	// Stats answers CmdStats.
	Stats *SandboxStats `json:"stats,omitempty"`
}

// SandboxStats is the sandbox's usage as the Sentry counts it: the
// container's own processes and memory, not the host's view of the
// sandbox (which the cgroup gives).
type SandboxStats struct {
	// Processes and Threads count the live processes and their threads.
	Processes int `json:"processes"`
	Threads   int `json:"threads"`
	// CPU is the CPU time the processes used (user and system), living
	// and exited alike as far as their thread groups remember.
	CPU time.Duration `json:"cpu"`
	// Memory is the memory file's allocated bytes: every page the
	// container's address spaces, tmpfs files and pipes hold.
	Memory uint64 `json:"memory"`
}

// ProcessEntry is one process in a CmdPs answer.
type ProcessEntry struct {
	PID     int32     `json:"pid"`
	PPID    int32     `json:"ppid"`
	UID     uint32    `json:"uid"`
	Threads int       `json:"threads"`
	Name    string    `json:"cmd"`
	Started time.Time `json:"started"`
	// CPU is the process's CPU time in nanoseconds.
	CPU time.Duration `json:"cpu"`
}

// Controller serves the control socket in the Sentry. It is created before
// the kernel exists; Run's BeforeStart hook (WaitForStart) hands it the
// kernel and blocks until a CmdStart arrives.
type Controller struct {
	ln *net.UnixListener

	mu      sync.Mutex
	k       *kernel.Kernel
	started bool
	// execs holds processes started by CmdExec until they are waited for.
	execs map[int32]*execProcess
	// exitStatus is the first process's status, valid once exited is closed.
	exitStatus int
	// startErr is why the first process never started, or "": valid
	// once exited is closed.
	startErr string

	startCh chan error
	// ready is closed when the kernel is built (WaitForStart is called).
	ready chan struct{}
	// abort is closed when the container is killed before it started.
	abort     chan struct{}
	abortOnce sync.Once
	abortSig  int
	// initCreated is closed when the first process exists (InitCreated).
	initCreated chan struct{}
	exited      chan struct{}
	// replies counts responses being written, so Exited can let them
	// finish before the Sentry exits.
	replies sync.WaitGroup
}

type execProcess struct {
	done   chan struct{}
	status int
}

// NewController starts serving control requests on the listening unix
// socket ln (SOCK_SEQPACKET).
func NewController(ln *os.File) (*Controller, error) {
	l, err := net.FileListener(ln)
	ln.Close()
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	ul, ok := l.(*net.UnixListener)
	if !ok {
		l.Close()
		return nil, errors.New("control socket: not a unix socket")
	}
	c := &Controller{
		ln:          ul,
		execs:       make(map[int32]*execProcess),
		startCh:     make(chan error, 1),
		ready:       make(chan struct{}),
		abort:       make(chan struct{}),
		exited:      make(chan struct{}),
		initCreated: make(chan struct{}),
	}
	go c.serve()
	return c, nil
}

// ErrKilledBeforeStart is returned by WaitForStart when the container was
// killed while created. Signal tells which signal killed it.
type ErrKilledBeforeStart struct{ Signal int }

func (e *ErrKilledBeforeStart) Error() string {
	return fmt.Sprintf("container killed by signal %d before it started", e.Signal)
}

// WaitForStart records the kernel and blocks until the container is
// started (nil) or killed before it started (*ErrKilledBeforeStart). Use
// it as Args.BeforeStart.
func (c *Controller) WaitForStart(k *kernel.Kernel) error {
	c.mu.Lock()
	c.k = k
	c.mu.Unlock()
	close(c.ready)
	select {
	case <-c.startCh:
		c.mu.Lock()
		c.started = true
		c.mu.Unlock()
		return nil
	case <-c.abort:
		return &ErrKilledBeforeStart{Signal: c.abortSig}
	}
}

// Exited records the first process's status, and err, the reason it never
// started (if so), answers everyone waiting for them, and returns once
// those answers are written (or after a second): a start or ready request
// is answered with err.
func (c *Controller) Exited(status int, err error) {
	c.mu.Lock()
	c.exitStatus = status
	select {
	case <-c.initCreated:
	default:
		if err != nil {
			c.startErr = err.Error()
		}
	}
	c.mu.Unlock()
	close(c.exited)
	done := make(chan struct{})
	go func() { c.replies.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Second):
	}
	c.ln.Close()
}

func (c *Controller) serve() {
	for {
		conn, err := c.ln.AcceptUnix()
		if err != nil {
			return
		}
		c.replies.Add(1)
		go func() {
			defer c.replies.Done()
			defer conn.Close()
			c.handle(conn)
		}()
	}
}

// handle reads one request from conn and answers it.
func (c *Controller) handle(conn *net.UnixConn) {
	buf := make([]byte, MaxControlMessage)
	oob := make([]byte, unix.CmsgSpace(3*4))
	n, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err != nil {
					continue
				}
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "exec-stdio"))
				}
			}
		}
	}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var req ControlRequest
	var resp ControlResponse
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		resp.Error = fmt.Sprintf("decoding request: %v", err)
	} else {
		resp = c.dispatch(&req, files)
	}
	out, _ := json.Marshal(&resp)
	conn.Write(out)
}

// startError is the reply to a request for a start that will never come:
// why, if known, or fallback.
func (c *Controller) startError(fallback string) ControlResponse {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.startErr != "" {
		return ControlResponse{Error: c.startErr}
	}
	return ControlResponse{Error: fallback}
}

func (c *Controller) kernel() (*kernel.Kernel, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.k, c.started
}

func (c *Controller) dispatch(req *ControlRequest, files []*os.File) ControlResponse {
	switch req.Cmd {
	case CmdReady:
		select {
		case <-c.ready:
			return ControlResponse{}
		case <-c.exited:
			return c.startError("sandbox failed to start")
		}
	case CmdStart:
		select {
		case <-c.ready:
		case <-c.exited:
			return c.startError("container is not running")
		}
		if _, started := c.kernel(); started {
			return ControlResponse{Error: "container already started"}
		}
		select {
		case c.startCh <- nil:
		default:
			return ControlResponse{Error: "container already started"}
		}
		return c.waitInit()
	case CmdSignal:
		return c.signal(req.Signal, req.All)
	case CmdExec:
		return c.exec(req.Exec, files)
	case CmdWaitPID:
		return c.waitPID(req.PID)
	case CmdWait:
		<-c.exited
		c.mu.Lock()
		defer c.mu.Unlock()
		return ControlResponse{Status: c.exitStatus}
	case CmdPidsLimit:
		k, _ := c.kernel()
		if k == nil {
			return ControlResponse{Error: "the sandbox's kernel is not built yet"}
		}
		k.SetTaskLimit(req.PidsLimit)
		return ControlResponse{}
	case CmdStats:
		k, started := c.kernel()
		st := &SandboxStats{}
		if k != nil && started {
			for _, p := range k.Processes() {
				if p.Zombie {
					continue
				}
				st.Processes++
				st.Threads += p.Threads
				st.CPU += p.CPU
			}
			st.Memory = k.MemoryFile.Usage()
		}
		return ControlResponse{Stats: st}
	case CmdPs:
		k, started := c.kernel()
		if k == nil || !started {
			return ControlResponse{}
		}
		var resp ControlResponse
		for _, p := range k.Processes() {
			if p.Zombie {
				continue
			}
			resp.Processes = append(resp.Processes, ProcessEntry{PID: p.PID, PPID: p.PPID, UID: p.UID,
				Threads: p.Threads, Name: p.Name, Started: p.StartTime, CPU: p.CPU})
		}
		return resp
	}
	return ControlResponse{Error: fmt.Sprintf("unknown control command %q", req.Cmd)}
}

// InitCreated records that the first process exists; use it as
// Args.Started.
func (c *Controller) InitCreated() { close(c.initCreated) }

// waitInit waits until the first process exists (Run creates it once
// WaitForStart returns), so that a command following start finds it.
func (c *Controller) waitInit() ControlResponse {
	select {
	case <-c.initCreated:
	case <-c.exited:
		// It failed to start: say why, if it was before the process
		// existed (an exec failure is its exit status, 126 or 127).
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.startErr != "" {
			return ControlResponse{Error: c.startErr}
		}
	}
	return ControlResponse{}
}

func (c *Controller) signal(sig int, all bool) ControlResponse {
	if sig <= 0 || sig > kernel.NumSignals {
		return ControlResponse{Error: fmt.Sprintf("invalid signal %d", sig)}
	}
	k, started := c.kernel()
	if !started {
		// A created container has no process yet: a signal whose default
		// action would end it ends the sandbox, as it would end runc's
		// waiting init.
		switch unix.Signal(sig) {
		case unix.SIGCHLD, unix.SIGCONT, unix.SIGURG, unix.SIGWINCH:
			return ControlResponse{}
		}
		c.abortOnce.Do(func() {
			c.abortSig = sig
			close(c.abort)
		})
		return ControlResponse{}
	}
	// runsc kill is the host: like runc's kill(2) from the parent PID
	// namespace, it stops or kills init, and any other signal reaches init
	// only if init handles it.
	info := kernel.SignalInfo{Signo: int32(sig), Code: kernel.SIUser}
	if all {
		for _, tg := range k.ThreadGroups() {
			tg.SendSignalFromHost(info)
		}
		return ControlResponse{}
	}
	tg := k.ThreadGroupByPID(1)
	if tg == nil {
		return ControlResponse{Error: "container is not running"}
	}
	tg.SendSignalFromHost(info)
	return ControlResponse{}
}

func (c *Controller) exec(a *ExecArgs, files []*os.File) ControlResponse {
	k, started := c.kernel()
	if !started {
		return ControlResponse{Error: "container is not running"}
	}
	if a == nil || len(a.Args) == 0 {
		return ControlResponse{Error: "exec: no command"}
	}
	if len(files) != 3 {
		return ControlResponse{Error: fmt.Sprintf("exec: want 3 stdio FDs, got %d", len(files))}
	}
	select {
	case <-c.exited:
		return ControlResponse{Error: "container is not running"}
	default:
	}
	var stdio []*vfs.FileDescription
	if a.Terminal {
		dup, err := unix.FcntlInt(files[0].Fd(), unix.F_DUPFD_CLOEXEC, 0)
		if err != nil {
			return ControlResponse{Error: fmt.Sprintf("exec: terminal: %v", err)}
		}
		if stdio, err = terminalStdio(k.VFS, sandboxPts.Load(), os.NewFile(uintptr(dup), "exec-terminal")); err != nil {
			return ControlResponse{Error: fmt.Sprintf("exec: %v", err)}
		}
	} else {
		stdio = make([]*vfs.FileDescription, 3)
		for i, f := range files {
			fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
			if err != nil {
				releaseFiles(stdio)
				return ControlResponse{Error: fmt.Sprintf("exec: stdio fd %d: %v", i, err)}
			}
			// The host file takes its own duplicate; files are closed by handle.
			dup, err := unix.FcntlInt(f.Fd(), unix.F_DUPFD_CLOEXEC, 0)
			if err != nil {
				releaseFiles(stdio)
				return ControlResponse{Error: fmt.Sprintf("exec: stdio fd %d: %v", i, err)}
			}
			stdio[i] = host.New(os.NewFile(uintptr(dup), "exec-stdio"), uint32(fl)&unix.O_ACCMODE)
		}
	}
	creds := auth.NewUser(a.UID, a.GID, a.AdditionalGids)
	if err := applyCapabilities(creds, a.Capabilities); err != nil {
		releaseFiles(stdio)
		return ControlResponse{Error: fmt.Sprintf("exec: %v", err)}
	}
	cwd := a.Cwd
	if cwd == "" {
		cwd = "/"
	}
	filename, err := lookPath(k, a.Args[0], a.Env, cwd, creds)
	if err != nil {
		releaseFiles(stdio)
		return execFailure(err)
	}
	umask := uint32(0o022)
	if a.Umask != nil {
		umask = *a.Umask
	}
	tg, err := k.CreateExecProcess(kernel.CreateProcessArgs{
		Filename:         filename,
		Argv:             a.Args,
		Envv:             a.Env,
		WorkingDirectory: cwd,
		Credentials:      creds,
		NoNewPrivs:       a.NoNewPrivileges,
		Umask:            umask,
		Files:            stdio,
	})
	if err != nil {
		return execFailure(err)
	}
	ep := &execProcess{done: make(chan struct{})}
	c.mu.Lock()
	c.execs[tg.PID()] = ep
	c.mu.Unlock()
	go func() {
		st, ok := k.WaitExecProcess(tg, c.exited)
		if ok {
			ep.status = st.ShellStatus()
		} else {
			ep.status = 128 + int(unix.SIGKILL)
		}
		close(ep.done)
	}()
	return ControlResponse{PID: tg.PID()}
}

// execFailure reports a process that could not be started, with the
// status a shell gives: 127 for a missing program, 126 otherwise.
func execFailure(err error) ControlResponse {
	code := 126
	if errors.Is(err, unix.ENOENT) {
		code = 127
	}
	return ControlResponse{Error: err.Error(), ErrorCode: code}
}

// releaseFiles drops FDs that were not handed to a process.
func releaseFiles(files []*vfs.FileDescription) {
	for _, f := range files {
		if f != nil {
			f.DecRef()
		}
	}
}

func (c *Controller) waitPID(pid int32) ControlResponse {
	c.mu.Lock()
	ep, ok := c.execs[pid]
	c.mu.Unlock()
	if !ok {
		return ControlResponse{Error: fmt.Sprintf("no exec'd process with pid %d", pid)}
	}
	<-ep.done
	c.mu.Lock()
	delete(c.execs, pid)
	c.mu.Unlock()
	return ControlResponse{Status: ep.status}
}
