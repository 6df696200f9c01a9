package cmd

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"

	"github.com/google/subcommands"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/runsc/boot"
	"bufferzone.dev/runsc/container"
	"bufferzone.dev/runsc/sandbox"
)

// Exec is `runsc exec`: it runs a new process in a running container.
type Exec struct {
	process string
	env     stringList
	cwd     string
	// noNewPrivs is --no-new-privs.
	noNewPrivs bool
	user       string
	detach     bool
	pidFile    string
	terminal   bool
	console    string
	// startedFD is internal: the detached parent's pipe, on which a
	// re-executed `runsc exec` reports whether the process started.
	startedFD int
}

// Name implements subcommands.Command.
func (*Exec) Name() string { return "exec" }

// Synopsis implements subcommands.Command.
func (*Exec) Synopsis() string { return "run a new process in a running container" }

// Usage implements subcommands.Command.
func (*Exec) Usage() string {
	return `exec [--process FILE | CMD [ARG]...] [--env K=V]... [--cwd DIR] [--user UID[:GID]] [--no-new-privs] [-d] [--pid-file F] ID [CMD [ARG]...]

Runs a process in running container ID, with this command's stdio, and
exits with its status. The process is described by --process (an OCI
process JSON file) or by CMD and its arguments, with the container's
environment, working directory and user unless --env, --cwd and --user
say otherwise. With --detach, runsc returns once the process has started;
--pid-file then names a host process that exits with the process's status.
`
}

// SetFlags implements subcommands.Command.
func (e *Exec) SetFlags(f *flag.FlagSet) {
	f.StringVar(&e.process, "process", "", "OCI process JSON file describing the process")
	f.StringVar(&e.process, "p", "", "same as --process")
	f.Var(&e.env, "env", "set an environment variable K=V (repeatable)")
	f.Var(&e.env, "e", "same as --env")
	f.StringVar(&e.cwd, "cwd", "", "working directory in the container")
	f.BoolVar(&e.noNewPrivs, "no-new-privs", false, "set no_new_privs for the process (it is set anyway if the container's process has it)")
	f.StringVar(&e.user, "user", "", "UID[:GID] to run as")
	f.StringVar(&e.user, "u", "", "same as --user")
	f.BoolVar(&e.detach, "detach", false, "return once the process has started")
	f.BoolVar(&e.detach, "d", false, "same as --detach")
	f.StringVar(&e.pidFile, "pid-file", "", "file to write the PID of the host process that waits for the process")
	f.BoolVar(&e.terminal, "tty", false, "give the process a terminal: a new one whose master goes to --console-socket, or the caller's")
	f.BoolVar(&e.terminal, "t", false, "same as --tty")
	f.StringVar(&e.console, "console-socket", "", "unix socket to send the terminal's master to")
	f.IntVar(&e.startedFD, "internal-started-fd", -1, "internal: report that the process started on this FD")
}

// Execute implements subcommands.Command.
func (e *Exec) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() < 1 {
		return Usagef(args, "exec: want a container ID")
	}
	id := f.Arg(0)
	if err := container.ValidateID(id); err != nil {
		return Usagef(args, "exec: %v", err)
	}
	conf := ConfigFrom(args)
	ctr, err := storeFor(conf).Load(id)
	if err != nil {
		return Fatalf(args, "exec %s: %v", id, err)
	}
	if st := ctr.Status(); st != container.Running {
		return Fatalf(args, "exec %s: container is %s, not running", id, st)
	}
	proc, err := e.processSpec(ctr.Spec, f.Args()[1:])
	if err != nil {
		return Usagef(args, "exec %s: %v", id, err)
	}
	if e.detach {
		return e.execDetached(args, conf.ToFlags(), f, id, proc.Terminal)
	}
	stdio := []*os.File{os.Stdin, os.Stdout, os.Stderr}
	if proc.Terminal {
		term, err := setupTerminal(e.console, true, proc.ConsoleSize)
		if err != nil {
			e.reportStarted(err)
			return Fatalf(args, "exec %s: %v", id, err)
		}
		defer term.close()
		if term.restore != nil {
			defer term.restore()
		}
		stdio = term.stdio()
	}
	resp, err := sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: boot.CmdExec, Exec: &boot.ExecArgs{
		Args: proc.Args, Env: proc.Env, Cwd: proc.Cwd, UID: proc.User.UID, GID: proc.User.GID,
		AdditionalGids: proc.User.AdditionalGids, Umask: proc.User.Umask, Terminal: proc.Terminal,
		Capabilities: proc.Capabilities, NoNewPrivileges: proc.NoNewPrivileges,
	}}, stdio...)
	if err != nil {
		restoreStdinTerminal()
		e.reportStarted(err)
		Fatalf(args, "exec %s: %v", id, err)
		if resp != nil && resp.ErrorCode != 0 {
			exitWith(resp.ErrorCode)
		}
		return subcommands.ExitFailure
	}
	e.reportStarted(nil)
	wr, err := sandbox.Call(ctr.ControlSocket(), &boot.ControlRequest{Cmd: boot.CmdWaitPID, PID: resp.PID})
	if proc.Terminal && len(stdio) > 0 && stdio[0] == os.Stdin {
		// exitWith skips deferred calls: give the caller's terminal its
		// settings back now.
		restoreStdinTerminal()
	}
	if err != nil {
		if errors.Is(err, sandbox.ErrNotReachable) {
			// The container ended, and every process with it.
			exitWith(128 + int(syscall.SIGKILL))
		}
		return Fatalf(args, "exec %s: %v", id, err)
	}
	exitWith(wr.Status)
	return subcommands.ExitSuccess
}

// reportStarted tells a detached parent whether the process started.
func (e *Exec) reportStarted(err error) {
	if e.startedFD < 0 {
		return
	}
	f := os.NewFile(uintptr(e.startedFD), "started")
	if err != nil {
		fmt.Fprintf(f, "%s\n", strings.ReplaceAll(err.Error(), "\n", " "))
	} else {
		fmt.Fprint(f, "ok\n")
	}
	f.Close()
	e.startedFD = -1
}

// execDetached runs this exec again in the foreground as a host process
// of its own, which outlives this one and exits with the process's status
// (so that a supervisor such as conmon can wait for it), writes that
// process's PID to --pid-file and returns once the process has started.
// With a terminal, the host process keeps none of this one's stdio, as
// runc keeps nothing: a runc shim reads exec's stdout and stderr to their
// end (`docker exec -it` hung until the process exited).
func (e *Exec) execDetached(args []any, globalFlags []string, f *flag.FlagSet, id string, terminal bool) subcommands.ExitStatus {
	self, err := os.Executable()
	if err != nil {
		return Fatalf(args, "exec %s: finding runsc: %v", id, err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return Fatalf(args, "exec %s: %v", id, err)
	}
	var childArgs []string
	childArgs = append(childArgs, globalFlags...)
	childArgs = append(childArgs, "exec", "--internal-started-fd=3")
	if e.process != "" {
		childArgs = append(childArgs, "--process", e.process)
	}
	for _, kv := range e.env {
		childArgs = append(childArgs, "--env", kv)
	}
	if e.cwd != "" {
		childArgs = append(childArgs, "--cwd", e.cwd)
	}
	if e.noNewPrivs {
		childArgs = append(childArgs, "--no-new-privs")
	}
	if e.user != "" {
		childArgs = append(childArgs, "--user", e.user)
	}
	if e.terminal {
		childArgs = append(childArgs, "--tty")
	}
	if e.console != "" {
		childArgs = append(childArgs, "--console-socket", e.console)
	}
	childArgs = append(childArgs, f.Args()...)
	child := exec.Command(self, childArgs...)
	if !terminal {
		child.Stdin, child.Stdout, child.Stderr = os.Stdin, os.Stdout, os.Stderr
	}
	child.ExtraFiles = []*os.File{w}
	child.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = child.Start()
	w.Close()
	if err != nil {
		r.Close()
		return Fatalf(args, "exec %s: %v", id, err)
	}
	line, _ := bufio.NewReader(r).ReadString('\n')
	r.Close()
	line = strings.TrimSpace(line)
	if line != "ok" {
		child.Wait()
		if line == "" {
			line = "the process did not start"
		}
		return Fatalf(args, "exec %s: %s", id, line)
	}
	if err := writePIDFile(e.pidFile, child.Process.Pid); err != nil {
		return Fatalf(args, "exec %s: %v", id, err)
	}
	child.Process.Release()
	return subcommands.ExitSuccess
}

// processSpec builds the process to run: from --process, or from argv
// with the container's own process as the base, then the flags applied.
func (e *Exec) processSpec(spec *specs.Spec, argv []string) (*specs.Process, error) {
	var p specs.Process
	if e.process != "" {
		data, err := os.ReadFile(e.process)
		if err != nil {
			return nil, fmt.Errorf("--process: %w", err)
		}
		if err := json.Unmarshal(data, &p); err != nil {
			return nil, fmt.Errorf("--process %s: %w", e.process, err)
		}
		if len(argv) > 0 {
			p.Args = argv
		}
	} else {
		if len(argv) == 0 {
			return nil, errors.New("no command given (CMD or --process)")
		}
		if spec != nil && spec.Process != nil {
			p.Env = append([]string(nil), spec.Process.Env...)
			p.Cwd = spec.Process.Cwd
			p.User = spec.Process.User
			p.Capabilities = spec.Process.Capabilities
			p.NoNewPrivileges = spec.Process.NoNewPrivileges
		}
		p.Args = argv
	}
	if len(p.Args) == 0 {
		return nil, errors.New("process.args must not be empty")
	}
	if e.terminal {
		p.Terminal = true
	}
	for _, kv := range e.env {
		if !strings.Contains(kv, "=") {
			return nil, fmt.Errorf("--env %q: want K=V", kv)
		}
		p.Env = append(p.Env, kv)
	}
	if e.cwd != "" {
		p.Cwd = e.cwd
	}
	if e.noNewPrivs {
		p.NoNewPrivileges = true
	}
	if p.Cwd == "" {
		p.Cwd = "/"
	}
	if e.user != "" {
		uid, gid, err := parseUser(e.user)
		if err != nil {
			return nil, err
		}
		p.User.UID, p.User.GID = uid, gid
	}
	return &p, nil
}

// parseUser parses --user UID[:GID].
func parseUser(s string) (uint32, uint32, error) {
	us, gs, hasGID := strings.Cut(s, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("--user %q: want UID[:GID] (numbers)", s)
	}
	gid := uint64(0)
	if hasGID {
		if gid, err = strconv.ParseUint(gs, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("--user %q: want UID[:GID] (numbers)", s)
		}
	}
	return uint32(uid), uint32(gid), nil
}
