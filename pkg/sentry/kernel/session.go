package kernel

import "golang.org/x/sys/unix"

// Process groups and sessions. pgid and sid are guarded by Kernel.treeMu.

// ProcessGroup returns the process group ID.
func (tg *ThreadGroup) ProcessGroup() int32 {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	return tg.pgid
}

// Session returns the session ID.
func (tg *ThreadGroup) Session() int32 {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	return tg.sid
}

// liveGroupsLocked returns the processes that are not reaped.
func (k *Kernel) liveGroupsLocked() []*ThreadGroup {
	k.mu.Lock()
	defer k.mu.Unlock()
	seen := make(map[*ThreadGroup]bool)
	var out []*ThreadGroup
	for _, t := range k.tasks {
		if !seen[t.tg] && !t.tg.reaped {
			seen[t.tg] = true
			out = append(out, t.tg)
		}
	}
	return out
}

// Setsid makes tg the leader of a new session and process group
// (setsid(2)); EPERM if it already leads a process group.
func (tg *ThreadGroup) Setsid() (int32, error) {
	k := tg.k
	k.treeMu.Lock()
	defer k.treeMu.Unlock()
	for _, o := range k.liveGroupsLocked() {
		if o.pgid == tg.pid {
			return 0, unix.EPERM
		}
	}
	tg.sid, tg.pgid = tg.pid, tg.pid
	return tg.pid, nil
}

// Setpgid moves process pid (0: tg) into process group pgid (0: its own
// PID), with setpgid(2)'s rules.
func (tg *ThreadGroup) Setpgid(pid, pgid int32) error {
	if pid < 0 || pgid < 0 {
		return unix.EINVAL
	}
	k := tg.k
	k.treeMu.Lock()
	defer k.treeMu.Unlock()
	target := tg
	if pid != 0 && pid != tg.pid {
		target = nil
		for c := range tg.children {
			if c.pid == pid && !c.zombie {
				target = c
			}
		}
		if target == nil {
			return unix.ESRCH
		}
		if target.sid != tg.sid {
			return unix.EPERM
		}
		if target.execed {
			return unix.EACCES
		}
	}
	if pgid == 0 {
		pgid = target.pid
	}
	if target.sid == target.pid {
		return unix.EPERM // a session leader cannot move
	}
	if pgid != target.pid {
		found := false
		for _, o := range k.liveGroupsLocked() {
			if o.pgid == pgid && o.sid == target.sid {
				found = true
				break
			}
		}
		if !found {
			return unix.EPERM
		}
	}
	target.pgid = pgid
	return nil
}
