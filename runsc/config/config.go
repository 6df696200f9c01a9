// Package config holds runsc's global flags: the Config struct, how its
// flags are registered on a flag.FlagSet and validated, and how a Config is
// turned back into flags (ToFlags) so that a parent runsc can start child
// processes (`runsc boot`, `runsc gofer`) with the same configuration.
package config

import (
	"flag"
	"fmt"
	"sort"
	"strings"
)

// Platform names how the Sentry captures application system calls.
type Platform string

// Supported platforms.
const (
	PlatformPtrace  Platform = "ptrace"
	PlatformSystrap Platform = "systrap"
	PlatformKVM     Platform = "kvm"
)

// Network names the sandbox's networking mode.
type Network string

// Supported network modes.
const (
	// NetworkSandbox gives the sandbox its own network stack (netstack).
	NetworkSandbox Network = "sandbox"
	// NetworkHost passes socket calls through to the host's network stack.
	NetworkHost Network = "host"
	// NetworkNone gives the sandbox only a loopback device.
	NetworkNone Network = "none"
)

// Overlay names where writes to the container's root file system go.
type Overlay string

// Supported overlay modes.
const (
	// OverlayMemory puts an in-memory (tmpfs) upper layer over the root
	// file system; the host's copy is never written.
	OverlayMemory Overlay = "memory"
	// OverlayNone writes through to the root file system via the Gofer.
	OverlayNone Overlay = "none"
)

// LogFormat names the format of the --log and --debug-log files.
type LogFormat string

// Supported log formats.
const (
	LogFormatText LogFormat = "text"
	LogFormatJSON LogFormat = "json"
)

var (
	platforms  = []string{string(PlatformPtrace), string(PlatformSystrap), string(PlatformKVM)}
	networks   = []string{string(NetworkSandbox), string(NetworkHost), string(NetworkNone)}
	overlays   = []string{string(OverlayMemory), string(OverlayNone)}
	logFormats = []string{string(LogFormatText), string(LogFormatJSON)}
)

// Config is runsc's global configuration, set by flags given before the
// subcommand name (`runsc --root=/x --debug run ...`).
type Config struct {
	// RootDir is where container state is kept (--root).
	RootDir string
	// Debug enables debug logging (--debug).
	Debug bool
	// DebugLog is a directory (ending in "/") or file for debug logs
	// (--debug-log). In a file name, %ID% and %COMMAND% are placeholders
	// for the container ID and the runsc subcommand.
	DebugLog string
	// DebugLogFD is an already open file descriptor for debug logs, or -1
	// (--debug-log-fd).
	DebugLogFD int
	// LogFilename is the file runsc writes its (non-debug) log to, as
	// passed by Docker and containerd (--log).
	LogFilename string
	// LogFormat is the format of LogFilename and DebugLog (--log-format).
	LogFormat LogFormat
	// LogFD is an already open file descriptor for the log, or -1 (--log-fd).
	LogFD int
	// Platform is how the Sentry runs application code (--platform).
	Platform Platform
	// Network is the sandbox's networking mode (--network).
	Network Network
	// Strace makes the Sentry log system calls as strace does (--strace).
	Strace bool
	// StraceSyscalls limits Strace to these system call names; empty means
	// all (--strace-syscalls, a comma-separated list).
	StraceSyscalls []string
	// Rootless runs the sandbox without root privileges (--rootless).
	Rootless bool
	// Overlay says where writes to the root file system go (--overlay).
	Overlay Overlay
	// KernelRelease is the release the Sentry reports in uname(2)
	// (--kernel-release).
	KernelRelease string
	// IgnoreCgroups makes runsc ignore the spec's cgroup settings
	// (--ignore-cgroups).
	IgnoreCgroups bool
	// SystemdCgroup is accepted for compatibility with runc users
	// (--systemd-cgroup); cgroups are managed through systemd paths.
	SystemdCgroup bool
}

// Default returns a Config with every field at its flag's default value.
func Default() *Config {
	return &Config{
		RootDir:    "/var/run/runsc",
		DebugLogFD: -1,
		LogFormat:  LogFormatText,
		LogFD:      -1,
		// systrap: faster than ptrace, and its application threads can
		// make no host call of consequence even from the stub's code
		// (see package systrap). ptrace stays selectable.
		Platform:      PlatformSystrap,
		Network:       NetworkSandbox,
		Overlay:       OverlayMemory,
		KernelRelease: "4.4.0",
	}
}

// enumValue is a flag.Value that accepts only one of a fixed set of strings.
type enumValue struct {
	p       *string
	allowed []string
}

func (e enumValue) String() string {
	if e.p == nil {
		return ""
	}
	return *e.p
}

func (e enumValue) Set(s string) error {
	for _, a := range e.allowed {
		if s == a {
			*e.p = s
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(e.allowed, ", "))
}

// listValue is a flag.Value for a comma-separated list of strings.
type listValue struct{ p *[]string }

func (l listValue) String() string {
	if l.p == nil {
		return ""
	}
	return strings.Join(*l.p, ",")
}

func (l listValue) Set(s string) error {
	*l.p = nil
	if s == "" {
		return nil
	}
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			return fmt.Errorf("empty element in list %q", s)
		}
		*l.p = append(*l.p, e)
	}
	return nil
}

// RegisterFlags defines every global flag on fs, storing values into c. The
// current values of c are the flags' defaults, so call it on Default().
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.RootDir, "root", c.RootDir, "root directory for storage of container state.")
	fs.BoolVar(&c.Debug, "debug", c.Debug, "enable debug logging.")
	fs.StringVar(&c.DebugLog, "debug-log", c.DebugLog, "additional location for debug logs: a directory (ending in '/') or a file; %ID% and %COMMAND% are replaced.")
	fs.IntVar(&c.DebugLogFD, "debug-log-fd", c.DebugLogFD, "file descriptor to write debug logs to; -1 for none.")
	fs.StringVar(&c.LogFilename, "log", c.LogFilename, "file path where internal log is written, default is stdout.")
	fs.Var(enumValue{(*string)(&c.LogFormat), logFormats}, "log-format", "log format: "+strings.Join(logFormats, ", ")+".")
	fs.IntVar(&c.LogFD, "log-fd", c.LogFD, "file descriptor to write the log to; -1 for none.")
	fs.Var(enumValue{(*string)(&c.Platform), platforms}, "platform", "how application system calls are captured: "+strings.Join(platforms, ", ")+".")
	fs.Var(enumValue{(*string)(&c.Network), networks}, "network", "networking mode: "+strings.Join(networks, ", ")+".")
	fs.BoolVar(&c.Strace, "strace", c.Strace, "log the application's system calls as strace does.")
	fs.Var(listValue{&c.StraceSyscalls}, "strace-syscalls", "comma-separated list of system calls to trace; empty traces all (needs --strace).")
	fs.BoolVar(&c.Rootless, "rootless", c.Rootless, "run the sandbox without root privileges.")
	fs.Var(enumValue{(*string)(&c.Overlay), overlays}, "overlay", "where root file system writes go: "+strings.Join(overlays, ", ")+".")
	fs.StringVar(&c.KernelRelease, "kernel-release", c.KernelRelease, "kernel release reported to the application by uname(2).")
	fs.BoolVar(&c.IgnoreCgroups, "ignore-cgroups", c.IgnoreCgroups, "ignore the spec's cgroup settings.")
	fs.BoolVar(&c.SystemdCgroup, "systemd-cgroup", c.SystemdCgroup, "use systemd for cgroups (accepted for runc compatibility).")
}

// Validate checks relations between fields that single flags cannot check.
func (c *Config) Validate() error {
	if c.RootDir == "" {
		return fmt.Errorf("--root must not be empty")
	}
	if c.DebugLogFD < -1 {
		return fmt.Errorf("--debug-log-fd=%d: must be -1 or a file descriptor", c.DebugLogFD)
	}
	if c.LogFD < -1 {
		return fmt.Errorf("--log-fd=%d: must be -1 or a file descriptor", c.LogFD)
	}
	if c.KernelRelease == "" || strings.ContainsAny(c.KernelRelease, " \t\n") {
		return fmt.Errorf("--kernel-release=%q: must be a non-empty word", c.KernelRelease)
	}
	if len(c.KernelRelease) > 64 {
		return fmt.Errorf("--kernel-release=%q: longer than uname(2)'s 64 bytes", c.KernelRelease)
	}
	if len(c.StraceSyscalls) > 0 && !c.Strace {
		return fmt.Errorf("--strace-syscalls needs --strace")
	}
	for _, s := range []struct {
		name, val string
		allowed   []string
	}{
		{"log-format", string(c.LogFormat), logFormats},
		{"platform", string(c.Platform), platforms},
		{"network", string(c.Network), networks},
		{"overlay", string(c.Overlay), overlays},
	} {
		if err := (enumValue{&s.val, s.allowed}).Set(s.val); err != nil {
			return fmt.Errorf("--%s=%q: %w", s.name, s.val, err)
		}
	}
	return nil
}

// Parse parses args (global flags only, stopping at the first non-flag
// argument) into a new Config and validates it. It returns the Config and
// the remaining arguments. fs, if not nil, is used and may carry extra flags.
func Parse(fs *flag.FlagSet, args []string) (*Config, []string, error) {
	if fs == nil {
		fs = NewFlagSet("runsc")
	}
	c := Default()
	c.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, err
	}
	return c, fs.Args(), nil
}

// NewFlagSet returns an empty flag set that reports errors by return value
// only: it prints nothing, so callers can print one line of their own.
func NewFlagSet(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(discard{})
	fs.Usage = func() {}
	return fs
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// ToFlags returns c as a list of flags (`--name=value`), sorted by name,
// which Parse turns back into an equal Config. Flags at their default
// values are included too, so the child does not depend on its defaults.
func (c *Config) ToFlags() []string {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	cp := *c
	cp.StraceSyscalls = append([]string(nil), c.StraceSyscalls...)
	cp.RegisterFlags(fs)
	var out []string
	fs.VisitAll(func(f *flag.Flag) {
		out = append(out, "--"+f.Name+"="+f.Value.String())
	})
	sort.Strings(out)
	return out
}

// String returns c's flags joined by spaces, for logs.
func (c *Config) String() string {
	return strings.Join(c.ToFlags(), " ")
}
