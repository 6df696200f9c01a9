// Package container owns the state of OCI containers on disk: one
// directory per container under runsc's --root, holding state.json
// (written atomically: a temporary file renamed over the old one), a lock
// file that serialises runsc commands on one container, the control
// socket of the container's Sentry and the file the Sentry writes its exit
// status to. It also tells whether a container's sandbox processes are
// still alive, which is what turns a recorded status into the status
// `runsc state` reports.
//
// A runsc command that crashes leaves at worst a directory whose
// state.json is missing or stale; Load reports such a container as
// stopped, and Destroy (delete --force) removes it.
package container

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/cgroup"
)

// File names inside a container's directory.
const (
	stateFile = "state.json"
	lockFile  = "lock"
	// ControlSocketName is the Sentry's control socket.
	ControlSocketName = "control.sock"
	// ExitFileName is where the Sentry writes its exit status.
	ExitFileName = "exit-status"
)

// Status values, as the OCI runtime spec names them.
const (
	Creating = specs.StateCreating
	Created  = specs.StateCreated
	Running  = specs.StateRunning
	Stopped  = specs.StateStopped
	// Paused is a running container whose processes are frozen (runsc
	// pause). The runtime spec leaves it out; runc reports it so.
	Paused specs.ContainerState = "paused"
)

// ErrNotExist is returned for a container ID with no state.
var ErrNotExist = errors.New("container does not exist")

// ErrExist is returned when creating a container whose ID is taken.
var ErrExist = errors.New("container already exists")

// validID matches a container ID. It is compiled on first use, not in
// every runsc process's start-up.
var validID = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_+.-]*$`)
})

// ValidateID checks a container ID: letters, digits and _ + . -, not
// starting with a punctuation character (so never "." or ".."), at most
// 1024 bytes. IDs name directories, so "/" is never allowed.
func ValidateID(id string) error {
	if id == "" {
		return errors.New("container ID must not be empty")
	}
	if len(id) > 1024 || !validID().MatchString(id) {
		return fmt.Errorf("invalid container ID %q: use letters, digits and _+.- (not first)", id)
	}
	return nil
}

// Proc identifies a host process across PID reuse: its PID and its start
// time in clock ticks since boot (field 22 of /proc/PID/stat).
type Proc struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"startTime"`
}

// Alive reports whether p is still running (not a zombie, not reused).
func (p Proc) Alive() bool {
	if p.PID <= 0 {
		return false
	}
	st, state, err := procStat(p.PID)
	if err != nil || st != p.StartTime {
		return false
	}
	return state != 'Z' && state != 'X'
}

// Kill sends sig to p if it is still the process recorded.
func (p Proc) Kill(sig syscall.Signal) error {
	if !p.Alive() {
		return nil
	}
	return syscall.Kill(p.PID, sig)
}

// WaitExit waits until p has exited (or been reused), at most until
// deadline: it waits on a pidfd of the process, which becomes readable
// when the process exits, rather than polling /proc.
func (p Proc) WaitExit(deadline time.Time) error {
	if p.PID <= 0 {
		return nil
	}
	fd, err := unix.PidfdOpen(p.PID, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("opening a pidfd for pid %d: %w", p.PID, err)
	}
	defer unix.Close(fd)
	// The pidfd names whatever process has the PID now: if that is not
	// the one recorded, the recorded one has exited.
	if !p.Alive() {
		return nil
	}
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("pid %d did not exit after SIGKILL", p.PID)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("waiting for pid %d: %w", p.PID, err)
		}
		if n > 0 {
			return nil
		}
	}
}

// NewProc records the running host process pid.
func NewProc(pid int) (Proc, error) {
	st, _, err := procStat(pid)
	if err != nil {
		return Proc{}, err
	}
	return Proc{PID: pid, StartTime: st}, nil
}

// procStat returns a process's start time and state letter.
func procStat(pid int) (uint64, byte, error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that follow start after the last ')'.
	i := strings.LastIndexByte(string(data), ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(data[i+1:]))
	if len(fields) < 20 {
		return 0, 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	st, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("parsing /proc/%d/stat: %w", pid, err)
	}
	return st, fields[0][0], nil
}

// State is what runsc records about one container in state.json.
type State struct {
	ID string `json:"id"`
	// Bundle is the bundle's absolute path.
	Bundle string `json:"bundle"`
	// Status is the last status a runsc command recorded: creating,
	// created or running. Container.Status refines it with the liveness
	// of the sandbox.
	Status specs.ContainerState `json:"status"`
	// Sandbox is the Sentry (`runsc boot`) process; its PID is the
	// container's pid in `runsc state`.
	Sandbox Proc `json:"sandbox"`
	// Gofer is the Gofer process.
	Gofer Proc `json:"gofer"`
	// Created is when `runsc create` ran.
	Created time.Time `json:"created"`
	// Owner is the user that created the container.
	Owner string `json:"owner"`
	// Spec is the bundle's configuration as read at create time; delete
	// runs its poststop hooks. runsc update keeps its linux.resources
	// current.
	Spec *specs.Spec `json:"spec"`
	// Cgroup is the sandbox's cgroup, nil without one (--ignore-cgroups,
	// or rootless with no limits). It is recorded before any of its
	// directories is made, so Destroy removes whatever exists of it.
	Cgroup *cgroup.Cgroup `json:"cgroup,omitempty"`
}

// Store is the --root directory.
type Store struct {
	Root string
}

// Dir returns a container's state directory.
func (s Store) Dir(id string) string { return filepath.Join(s.Root, id) }

// ControlSocket returns the path of a container's control socket.
func (s Store) ControlSocket(id string) string {
	return filepath.Join(s.Dir(id), ControlSocketName)
}

// ExitFile returns the path of the file a container's Sentry writes its
// exit status to.
func (s Store) ExitFile(id string) string { return filepath.Join(s.Dir(id), ExitFileName) }

// Container is a container's state loaded from disk.
type Container struct {
	State
	store Store
}

// Create makes the directory of a new container and records st with the
// creating status. It fails with ErrExist if the ID is taken.
func (s Store) Create(st State) (*Container, error) {
	if err := ValidateID(st.ID); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.Root, 0o711); err != nil {
		return nil, fmt.Errorf("creating state root: %w", err)
	}
	if err := os.Mkdir(s.Dir(st.ID), 0o711); err != nil {
		if errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("container %q: %w", st.ID, ErrExist)
		}
		return nil, fmt.Errorf("creating container state: %w", err)
	}
	st.Status = Creating
	c := &Container{State: st, store: s}
	if err := c.Save(); err != nil {
		os.RemoveAll(s.Dir(st.ID))
		return nil, err
	}
	return c, nil
}

// Load reads a container's state. A directory whose state.json is missing
// or unreadable (a create that crashed) loads as a stopped container with
// only its ID, so that it can be listed and deleted.
func (s Store) Load(id string) (*Container, error) {
	if err := ValidateID(id); err != nil {
		return nil, err
	}
	if _, err := os.Stat(s.Dir(id)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("reading container state: %w", err)
	}
	c := &Container{State: State{ID: id, Status: Stopped}, store: s}
	data, err := os.ReadFile(filepath.Join(s.Dir(id), stateFile))
	if err != nil {
		return c, nil
	}
	var st State
	if err := json.Unmarshal(data, &st); err != nil || st.ID != id {
		return c, nil
	}
	c.State = st
	return c, nil
}

// List returns the IDs of every container in the store, sorted.
func (s Store) List() ([]string, error) {
	ents, err := os.ReadDir(s.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var ids []string
	for _, e := range ents {
		if e.IsDir() && ValidateID(e.Name()) == nil {
			ids = append(ids, e.Name())
		}
	}
	sort.Strings(ids)
	return ids, nil
}

// Dir returns the container's state directory.
func (c *Container) Dir() string { return c.store.Dir(c.ID) }

// ControlSocket returns the path of the container's control socket.
func (c *Container) ControlSocket() string { return c.store.ControlSocket(c.ID) }

// Save writes the container's state atomically. It is not synced to
// disk: the state describes host processes, which a host crash ends too,
// so only atomicity against a crash of runsc matters, and the rename gives
// that. (An fsync here cost about 10 ms per save on this machine's ext4
// /run, several times per container lifecycle.)
func (c *Container) Save() error {
	data, err := json.MarshalIndent(&c.State, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding container state: %w", err)
	}
	return writeFileAtomic(filepath.Join(c.Dir(), stateFile), data, 0o600, false)
}

// Status returns the container's current status: the recorded one while
// the sandbox lives, stopped once it has exited.
func (c *Container) Status() specs.ContainerState {
	switch c.State.Status {
	case Created, Running, Paused:
		if c.Sandbox.Alive() {
			return c.State.Status
		}
		return Stopped
	case Creating:
		if c.Sandbox.PID != 0 && !c.Sandbox.Alive() {
			return Stopped
		}
		return Creating
	}
	return Stopped
}

// OCIState returns the container's state as the OCI runtime spec defines
// it (`runsc state`, and the input of hooks).
func (c *Container) OCIState() specs.State {
	st := specs.State{
		Version: specs.Version,
		ID:      c.ID,
		Status:  c.Status(),
		Bundle:  c.Bundle,
	}
	if st.Status != Stopped {
		st.Pid = c.Sandbox.PID
	}
	if c.Spec != nil {
		st.Annotations = c.Spec.Annotations
	}
	return st
}

// ExitStatus returns the status the Sentry recorded when its first
// process exited; ok is false if it has not recorded one.
func (c *Container) ExitStatus() (int, bool) {
	status, _, ok := c.readExitFile()
	return status, ok
}

// StartError returns why the Sentry could not start the container's first
// process, as it recorded it after the exit status, or "".
func (c *Container) StartError() string {
	_, reason, _ := c.readExitFile()
	return reason
}

// readExitFile reads the Sentry's exit-status file: the first process's
// status on the first line and, if it never started, the reason on the
// second.
func (c *Container) readExitFile() (status int, reason string, ok bool) {
	data, err := os.ReadFile(c.store.ExitFile(c.ID))
	if err != nil {
		return 0, "", false
	}
	first, rest, _ := strings.Cut(string(data), "\n")
	n, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		return 0, "", false
	}
	return n, strings.TrimSpace(rest), true
}

// Destroy kills what is left of the container's sandbox processes,
// removes its cgroup and then its state directory.
func (c *Container) Destroy() error {
	for _, p := range []Proc{c.Sandbox, c.Gofer} {
		if err := p.Kill(syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("killing pid %d: %w", p.PID, err)
		}
	}
	if c.Cgroup != nil && c.Cgroup.Frozen() {
		// Frozen tasks (v1) act on SIGKILL only once thawed.
		if err := c.Cgroup.Thaw(); err != nil {
			return fmt.Errorf("thawing the cgroup: %w", err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range []Proc{c.Sandbox, c.Gofer} {
		if err := p.WaitExit(deadline); err != nil {
			return err
		}
	}
	if c.Cgroup != nil {
		if err := c.Cgroup.Destroy(); err != nil {
			return err
		}
	}
	if err := os.RemoveAll(c.Dir()); err != nil {
		return fmt.Errorf("removing container state: %w", err)
	}
	return nil
}

// Lock takes an exclusive lock on a container, serialising runsc commands
// on it, and returns the function that releases it. The lock is an flock
// on a file in the container's directory, released by the kernel if the
// command dies.
func (s Store) Lock(id string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.Dir(id), lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotExist)
		}
		return nil, fmt.Errorf("locking container: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("locking container: %w", err)
	}
	return func() { f.Close() }, nil
}

// WriteFileAtomic writes data to name so that readers see either the old
// content or the new, never a mix, even after a host crash: it writes a
// temporary file in the same directory, syncs it and renames it over name.
func WriteFileAtomic(name string, data []byte, perm os.FileMode) error {
	return writeFileAtomic(name, data, perm, true)
}

// writeFileAtomic is WriteFileAtomic, syncing the file before the rename
// only if sync is set.
func writeFileAtomic(name string, data []byte, perm os.FileMode, sync bool) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if sync {
		if err := f.Sync(); err != nil {
			return fail(err)
		}
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
