package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/config"
	"bufferzone.dev/runsc/container"
)

// This file holds what the OCI lifecycle commands (create, start, run,
// state, kill, delete, list, ps, exec, wait, events) share: reading a
// bundle's config.json, finding a container's state, and parsing signals.

// storeFor returns the container state store under --root.
func storeFor(conf *config.Config) container.Store {
	return container.Store{Root: conf.RootDir}
}

// lockContainer locks container id and loads its state; the caller
// calls unlock when done with it.
func lockContainer(conf *config.Config, id string) (ctr *container.Container, unlock func(), err error) {
	store := storeFor(conf)
	if unlock, err = store.Lock(id); err != nil {
		return nil, nil, err
	}
	if ctr, err = store.Load(id); err != nil {
		unlock()
		return nil, nil, err
	}
	return ctr, unlock, nil
}

// oneID returns the single container ID argument of a command.
func oneID(args []string, cmd string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("%s: want exactly one container ID, got %d arguments", cmd, len(args))
	}
	return args[0], container.ValidateID(args[0])
}

// loadBundle reads and checks bundle/config.json. The spec's root path is
// made absolute (relative paths are relative to the bundle).
func loadBundle(bundle string) (string, *specs.Spec, error) {
	if bundle == "" {
		bundle = "."
	}
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return "", nil, fmt.Errorf("bundle %s: %w", bundle, err)
	}
	data, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		return "", nil, fmt.Errorf("reading the bundle's config: %w", err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		return "", nil, fmt.Errorf("parsing %s: %w", filepath.Join(abs, "config.json"), err)
	}
	if err := checkSpec(abs, &spec); err != nil {
		return "", nil, fmt.Errorf("%s: %w", filepath.Join(abs, "config.json"), err)
	}
	return abs, &spec, nil
}

// ociVersion matches the spec versions runsc reads: every 1.x release,
// with or without a patch number, pre-release or build suffix (1.0,
// 1.0.2-dev, 1.1.0-rc.1, 1.2.0). It is compiled on first use, not in
// every runsc process's start-up.
var ociVersion = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^1\.[0-9]+(\.[0-9]+)?([-+][0-9A-Za-z.+-]*)?$`)
})

// checkSpec rejects a spec runsc cannot run, before anything is created.
func checkSpec(bundle string, spec *specs.Spec) error {
	if !ociVersion().MatchString(spec.Version) {
		return fmt.Errorf("unsupported ociVersion %q (want 1.x, such as %s)", spec.Version, specs.Version)
	}
	if spec.Root == nil || spec.Root.Path == "" {
		return errors.New("root.path is not set")
	}
	if !filepath.IsAbs(spec.Root.Path) {
		spec.Root.Path = filepath.Join(bundle, spec.Root.Path)
	}
	st, err := os.Stat(spec.Root.Path)
	if err != nil {
		return fmt.Errorf("root file system: %w", err)
	}
	if !st.IsDir() {
		return fmt.Errorf("root file system %s is not a directory", spec.Root.Path)
	}
	if err := checkProcess(spec.Process); err != nil {
		return err
	}
	if spec.Linux != nil {
		if err := checkNamespaces(spec.Linux.Namespaces); err != nil {
			return err
		}
	}
	return nil
}

// namespaceTypes maps the spec's namespace types to the CLONE_NEW* flag
// that NS_GET_NSTYPE returns for a namespace of that type.
var namespaceTypes = map[specs.LinuxNamespaceType]int{
	specs.PIDNamespace:     unix.CLONE_NEWPID,
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.UserNamespace:    unix.CLONE_NEWUSER,
	specs.CgroupNamespace:  unix.CLONE_NEWCGROUP,
	specs.TimeNamespace:    unix.CLONE_NEWTIME,
}

// checkNamespaces rejects what runc rejects in linux.namespaces: an
// unknown type, a type listed twice, and a path that is not a namespace
// of the listed type.
func checkNamespaces(nss []specs.LinuxNamespace) error {
	seen := make(map[specs.LinuxNamespaceType]bool)
	for _, ns := range nss {
		flag, ok := namespaceTypes[ns.Type]
		if !ok {
			return fmt.Errorf("linux.namespaces: unknown type %q", ns.Type)
		}
		if seen[ns.Type] {
			return fmt.Errorf("linux.namespaces: %s is listed twice", ns.Type)
		}
		seen[ns.Type] = true
		if ns.Path == "" {
			continue
		}
		got, err := namespaceType(ns.Path)
		if err != nil {
			return fmt.Errorf("linux.namespaces: %s namespace path: %w", ns.Type, err)
		}
		if got != flag {
			return fmt.Errorf("linux.namespaces: %s is not a %s namespace", ns.Path, ns.Type)
		}
	}
	return nil
}

// namespaceType returns the CLONE_NEW* flag of the namespace at path
// (ioctl NS_GET_NSTYPE).
func namespaceType(path string) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	const nsGetNSType = 0xb703 // _IO(0xb7, 0x3)
	t, err := unix.IoctlRetInt(fd, nsGetNSType)
	if err != nil {
		return 0, fmt.Errorf("%s is not a namespace: %w", path, err)
	}
	return t, nil
}

// checkProcess rejects a process runsc cannot start.
func checkProcess(p *specs.Process) error {
	if p == nil {
		return errors.New("process is not set")
	}
	if len(p.Args) == 0 {
		return errors.New("process.args must not be empty")
	}
	if p.Cwd != "" && !filepath.IsAbs(p.Cwd) {
		return fmt.Errorf("process.cwd %q must be an absolute path", p.Cwd)
	}
	return nil
}

// signalNames maps signal names (without "SIG") to numbers.
var signalNames = map[string]unix.Signal{
	"HUP": unix.SIGHUP, "INT": unix.SIGINT, "QUIT": unix.SIGQUIT, "ILL": unix.SIGILL,
	"TRAP": unix.SIGTRAP, "ABRT": unix.SIGABRT, "IOT": unix.SIGIOT, "BUS": unix.SIGBUS,
	"FPE": unix.SIGFPE, "KILL": unix.SIGKILL, "USR1": unix.SIGUSR1, "SEGV": unix.SIGSEGV,
	"USR2": unix.SIGUSR2, "PIPE": unix.SIGPIPE, "ALRM": unix.SIGALRM, "TERM": unix.SIGTERM,
	"STKFLT": unix.SIGSTKFLT, "CHLD": unix.SIGCHLD, "CONT": unix.SIGCONT, "STOP": unix.SIGSTOP,
	"TSTP": unix.SIGTSTP, "TTIN": unix.SIGTTIN, "TTOU": unix.SIGTTOU, "URG": unix.SIGURG,
	"XCPU": unix.SIGXCPU, "XFSZ": unix.SIGXFSZ, "VTALRM": unix.SIGVTALRM, "PROF": unix.SIGPROF,
	"WINCH": unix.SIGWINCH, "IO": unix.SIGIO, "POLL": unix.SIGPOLL, "PWR": unix.SIGPWR,
	"SYS": unix.SIGSYS,
}

// parseSignal accepts a signal as a number ("9"), a name ("KILL",
// "SIGKILL", any case) or a real-time signal ("RTMIN+3").
func parseSignal(s string) (unix.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("invalid signal number %d", n)
		}
		return unix.Signal(n), nil
	}
	name := strings.TrimPrefix(strings.ToUpper(s), "SIG")
	if sig, ok := signalNames[name]; ok {
		return sig, nil
	}
	if rest, ok := strings.CutPrefix(name, "RTMIN"); ok {
		off := 0
		if rest != "" {
			n, err := strconv.Atoi(rest)
			if err != nil || n < 0 || 34+n > 64 {
				return 0, fmt.Errorf("unknown signal %q", s)
			}
			off = n
		}
		return unix.Signal(34 + off), nil
	}
	return 0, fmt.Errorf("unknown signal %q", s)
}

// writePIDFile writes pid to path atomically, as runc does for
// --pid-file.
func writePIDFile(path string, pid int) error {
	if path == "" {
		return nil
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("pid file: %w", err)
	}
	return container.WriteFileAtomic(abs, []byte(strconv.Itoa(pid)), 0o644)
}

// exitWith ends runsc with a container's shell-style status: a status of
// 128+N (killed by signal N) is passed on as such.
func exitWith(code int) {
	os.Exit(code)
}

// isNoProcess reports whether err means the process is already gone.
func isNoProcess(err error) bool { return errors.Is(err, syscall.ESRCH) }
