package cmd

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/subcommands"

	"bufferzone.dev/runsc/container"
)

// DefaultDockerConfig is the file `runsc install` edits by default.
const DefaultDockerConfig = "/etc/docker/daemon.json"

// Install is `runsc install`: it adds runsc to Docker's runtimes in
// daemon.json, keeping everything else in the file.
type Install struct {
	configFile string
	runtime    string
}

// Name implements subcommands.Command.
func (*Install) Name() string { return "install" }

// Synopsis implements subcommands.Command.
func (*Install) Synopsis() string { return "add runsc to Docker's daemon.json runtimes" }

// Usage implements subcommands.Command.
func (*Install) Usage() string {
	return `install [--config-file FILE] [--runtime NAME] [-- RUNSC_FLAGS...]

Adds (or replaces) the entry NAME in the "runtimes" object of Docker's
daemon configuration: {"path": this runsc binary, "runtimeArgs":
RUNSC_FLAGS}. Other keys and runtimes in the file are kept; the file is
created if missing. Restart dockerd afterwards, then run containers with
"docker run --runtime=NAME".
`
}

// SetFlags implements subcommands.Command.
func (i *Install) SetFlags(f *flag.FlagSet) {
	f.StringVar(&i.configFile, "config-file", DefaultDockerConfig, "Docker daemon configuration file to edit")
	f.StringVar(&i.runtime, "runtime", "runsc", "name of the runtime entry")
}

// Execute implements subcommands.Command.
func (i *Install) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if i.runtime == "" {
		return Usagef(args, "install: --runtime must not be empty")
	}
	exe, err := os.Executable()
	if err != nil {
		return Fatalf(args, "install: finding runsc: %v", err)
	}
	if err := installRuntime(i.configFile, i.runtime, exe, f.Args()); err != nil {
		return Fatalf(args, "install: %v", err)
	}
	fmt.Fprintf(StreamsFrom(args).Stdout, "runtime %q added to %s; restart dockerd to use it\n", i.runtime, i.configFile)
	return subcommands.ExitSuccess
}

// Uninstall is `runsc uninstall`: it removes runsc's entry from Docker's
// daemon.json runtimes.
type Uninstall struct {
	configFile string
	runtime    string
}

// Name implements subcommands.Command.
func (*Uninstall) Name() string { return "uninstall" }

// Synopsis implements subcommands.Command.
func (*Uninstall) Synopsis() string { return "remove runsc from Docker's daemon.json runtimes" }

// Usage implements subcommands.Command.
func (*Uninstall) Usage() string {
	return `uninstall [--config-file FILE] [--runtime NAME]

Removes the entry NAME from the "runtimes" object of Docker's daemon
configuration (and the object itself if it becomes empty), keeping
everything else in the file.
`
}

// SetFlags implements subcommands.Command.
func (u *Uninstall) SetFlags(f *flag.FlagSet) {
	f.StringVar(&u.configFile, "config-file", DefaultDockerConfig, "Docker daemon configuration file to edit")
	f.StringVar(&u.runtime, "runtime", "runsc", "name of the runtime entry")
}

// Execute implements subcommands.Command.
func (u *Uninstall) Execute(_ context.Context, f *flag.FlagSet, args ...any) subcommands.ExitStatus {
	if f.NArg() != 0 {
		return Usagef(args, "uninstall: takes no arguments")
	}
	if err := uninstallRuntime(u.configFile, u.runtime); err != nil {
		return Fatalf(args, "uninstall: %v", err)
	}
	fmt.Fprintf(StreamsFrom(args).Stdout, "runtime %q removed from %s; restart dockerd\n", u.runtime, u.configFile)
	return subcommands.ExitSuccess
}

// dockerRuntime is one entry of daemon.json's "runtimes".
type dockerRuntime struct {
	Path        string   `json:"path"`
	RuntimeArgs []string `json:"runtimeArgs,omitempty"`
}

// daemonConfig is daemon.json: every key kept as it was, but "runtimes"
// opened up.
type daemonConfig struct {
	keys     map[string]json.RawMessage
	runtimes map[string]json.RawMessage
	perm     fs.FileMode
}

// readDaemonConfig reads path; a missing file is an empty configuration.
func readDaemonConfig(path string) (*daemonConfig, error) {
	c := &daemonConfig{keys: map[string]json.RawMessage{}, runtimes: map[string]json.RawMessage{}, perm: 0o644}
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if st, err := os.Stat(path); err == nil {
		c.perm = st.Mode().Perm()
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return c, nil
	}
	if err := json.Unmarshal(data, &c.keys); err != nil {
		return nil, fmt.Errorf("%s: not a JSON object: %w", path, err)
	}
	if raw, ok := c.keys["runtimes"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		if err := json.Unmarshal(raw, &c.runtimes); err != nil {
			return nil, fmt.Errorf("%s: \"runtimes\" is not a JSON object: %w", path, err)
		}
	}
	return c, nil
}

// write saves c to path atomically, keys sorted, indented.
func (c *daemonConfig) write(path string) error {
	if len(c.runtimes) == 0 {
		delete(c.keys, "runtimes")
	} else {
		raw, err := json.Marshal(c.runtimes)
		if err != nil {
			return err
		}
		c.keys["runtimes"] = raw
	}
	data, err := json.MarshalIndent(c.keys, "", "    ")
	if err != nil {
		return fmt.Errorf("encoding %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return container.WriteFileAtomic(path, append(data, '\n'), c.perm)
}

// installRuntime sets runtime name in path's runtimes to exe with args.
func installRuntime(path, name, exe string, args []string) error {
	c, err := readDaemonConfig(path)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(dockerRuntime{Path: exe, RuntimeArgs: args})
	if err != nil {
		return err
	}
	c.runtimes[name] = raw
	return c.write(path)
}

// uninstallRuntime removes runtime name from path's runtimes.
func uninstallRuntime(path, name string) error {
	c, err := readDaemonConfig(path)
	if err != nil {
		return err
	}
	if _, ok := c.runtimes[name]; !ok {
		return fmt.Errorf("%s has no runtime %q", path, name)
	}
	delete(c.runtimes, name)
	return c.write(path)
}
