package cgroup

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// settleTimeout bounds how long Freeze, Thaw and Destroy wait for the
// kernel to finish: freezing waits for every task to reach the
// refrigerator, removal for exiting tasks to leave the cgroup.
const settleTimeout = 5 * time.Second

// ErrNoFreezer is returned by Freeze and Thaw when c has no freezer.
var ErrNoFreezer = errors.New("the container's cgroup has no freezer")

// Freeze stops every process in c (runsc pause) and returns once all are
// frozen. A freeze that does not complete is undone.
func (c *Cgroup) Freeze() error {
	if err := c.setFrozen(true); err != nil {
		_ = c.setFrozen(false)
		return err
	}
	return nil
}

// Thaw lets c's processes run again (runsc resume).
func (c *Cgroup) Thaw() error { return c.setFrozen(false) }

func (c *Cgroup) setFrozen(frozen bool) error {
	var dir, file, value string
	var done func() (bool, error)
	if c.V2 {
		dir, file, value = c.Dirs[v2Key], "cgroup.freeze", "0"
		if frozen {
			value = "1"
		}
		done = func() (bool, error) {
			v, err := keyedValue(dir, "cgroup.events", "frozen")
			return (v == 1) == frozen, err
		}
	} else {
		dir, file, value = c.Dirs["freezer"], "freezer.state", "THAWED"
		if frozen {
			value = "FROZEN"
		}
		done = func() (bool, error) {
			s, err := readString(dir, "freezer.state")
			return s == value, err
		}
	}
	if dir == "" {
		return ErrNoFreezer
	}
	if err := writeFile(dir, file, value); err != nil {
		return err
	}
	// The kernel freezes tasks asynchronously: wait until it says all are.
	deadline := time.Now().Add(settleTimeout)
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		ok, err := done()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroup %s: tasks did not reach %s in %v", dir, value, settleTimeout)
		}
		if !frozen {
			// v1 needs the write repeated if it raced with a freeze.
			_ = writeFile(dir, file, value)
		}
		time.Sleep(wait)
	}
}

// Frozen reports whether c is frozen (or being frozen).
func (c *Cgroup) Frozen() bool {
	if c.V2 {
		v, err := readString(c.Dirs[v2Key], "cgroup.freeze")
		return err == nil && v == "1"
	}
	d := c.Dirs["freezer"]
	if d == "" {
		return false
	}
	s, err := readString(d, "freezer.state")
	return err == nil && s != "THAWED"
}

// sharedAfter is how long removeDir lets processes linger in a cgroup
// before it takes them for another container's: the sandbox's own (stub
// processes killed with their PID namespace, victims of the OOM killer)
// take a moment to leave.
const sharedAfter = 2 * time.Second

// removeDir removes a cgroup directory, waiting (up to settleTimeout)
// while tasks that are exiting still hold it. A missing one is fine, and
// so is one that still has processes well after the container's died, or
// a child cgroup: it is shared (two containers given the same
// cgroupsPath, or a parent such as /docker) and its last user removes it.
// start is when the removal of the container's cgroup began.
func removeDir(d string, start time.Time) error {
	deadline := start.Add(settleTimeout)
	for wait := 100 * time.Microsecond; ; wait = min(2*wait, 20*time.Millisecond) {
		err := syscall.Rmdir(d)
		if err == nil || errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if errors.Is(err, syscall.EBUSY) {
			if sub, _ := os.ReadDir(d); hasDir(sub) {
				return nil // a child cgroup someone else made
			}
			procs, rerr := readString(d, "cgroup.procs")
			if rerr == nil && procs != "" && time.Since(start) > sharedAfter {
				return nil
			}
		}
		if !errors.Is(err, syscall.EBUSY) || time.Now().After(deadline) {
			return fmt.Errorf("removing cgroup %s: %w", d, err)
		}
		time.Sleep(wait)
	}
}

func hasDir(ents []os.DirEntry) bool {
	for _, e := range ents {
		if e.IsDir() {
			return true
		}
	}
	return false
}

// keyedValue reads the value of key in a "key value" per line cgroup
// file (memory.events, cgroup.events, cpu.stat, memory.oom_control).
func keyedValue(dir, file, key string) (uint64, error) {
	kv, err := keyedValues(dir, file)
	if err != nil {
		return 0, err
	}
	return kv[key], nil
}

// keyedValues reads every "key value" line of a cgroup file.
func keyedValues(dir, file string) (map[string]uint64, error) {
	s, err := readString(dir, file)
	if err != nil {
		return nil, err
	}
	out := map[string]uint64{}
	for _, line := range strings.Split(s, "\n") {
		k, v, ok := strings.Cut(line, " ")
		if !ok {
			continue
		}
		var n uint64
		if _, err := fmt.Sscan(v, &n); err == nil {
			out[k] = n
		}
	}
	return out, nil
}
