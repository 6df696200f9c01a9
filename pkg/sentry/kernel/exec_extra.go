package kernel

import (
	"path"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/vfs"
)

// This file holds what `runsc exec`, `runsc ps` and `runsc kill --all`
// need from the kernel: processes started from outside the sandbox after
// the first one, and a snapshot of the process table.

// execPollInterval is how often WaitExecProcess looks for the process's
// exit. The process tree has no per-process exit notification a caller
// outside the sandbox can wait on, so exits are polled.
const execPollInterval = 5 * time.Millisecond

// CreateExecProcess starts a process in the running sandbox, as `runsc
// exec` (setns + execve in Linux terms) does: it has no parent inside the
// sandbox (its PPID is 0), it is in a session and process group of its
// own, and its exit does not end the sandbox. Its exit status is collected
// with WaitExecProcess, which also frees its PID; nothing in the sandbox
// can reap it.
func (k *Kernel) CreateExecProcess(a CreateProcessArgs) (*ThreadGroup, error) {
	creds := a.Credentials
	if creds == nil {
		creds = rootCredentials()
	}
	root := k.VFS.Root()
	limits := a.Limits
	if limits == nil {
		limits = DefaultLimits()
	}
	tg := &ThreadGroup{k: k, tasks: make(map[*Task]struct{}), limits: limits,
		children: make(map[*ThreadGroup]struct{}), childEvent: make(chan struct{}), exitSignal: unix.SIGCHLD,
		startTime: time.Now()}
	t := &Task{k: k, tg: tg, interrupt: make(chan struct{}, 1), fdTable: NewFDTable(), startTime: time.Now()}
	t.creds.Store(creds)
	t.fs = NewFSContext(root, root, a.Umask)
	cwd := a.WorkingDirectory
	if cwd == "" {
		cwd = "/"
	}
	vd, err := k.VFS.GetDentry(t, vfs.Resolution{Root: root, Start: root, Path: cwd, FollowFinal: true})
	if err != nil {
		return nil, &ExecError{Path: cwd, Op: "changing to working directory", Err: err}
	}
	t.fs.SetCwd(vd)
	for i, f := range a.Files {
		if f == nil {
			continue
		}
		if err := t.fdTable.SetFD(int32(i), f, false, Infinity); err != nil {
			return nil, err
		}
		f.DecRef()
	}
	pctx, err := k.Platform.NewContext()
	if err != nil {
		return nil, err
	}
	t.pctx = pctx
	m, res, err := k.load(t, a.Filename, a.Argv, a.Envv)
	if err != nil {
		pctx.Release()
		return nil, &ExecError{Path: a.Filename, Op: "executing", Err: err}
	}
	t.mm = m
	t.tid = k.allocTID(t)
	tg.pid, tg.pgid, tg.sid = t.tid, t.tid, t.tid
	tg.tasks[t] = struct{}{}
	t.SetName(path.Base(res.Path))
	t.resetRegs(res)
	t.start()
	return tg, nil
}

// WaitExecProcess blocks until tg, a process from CreateExecProcess, has
// exited or done is closed; it reaps the process (freeing its PID) and
// returns its wait status. ok is false if done was closed first.
func (k *Kernel) WaitExecProcess(tg *ThreadGroup, done <-chan struct{}) (status WaitStatus, ok bool) {
	tick := time.NewTicker(execPollInterval)
	defer tick.Stop()
	for {
		k.treeMu.Lock()
		if tg.zombie {
			if !tg.reaped {
				tg.reapLocked()
			}
			k.treeMu.Unlock()
			tg.mu.Lock()
			defer tg.mu.Unlock()
			return tg.status, true
		}
		k.treeMu.Unlock()
		select {
		case <-tick.C:
		case <-done:
			return 0, false
		}
	}
}

// ProcessInfo describes one process of the sandbox, for `runsc ps`.
type ProcessInfo struct {
	PID       int32
	PPID      int32
	UID       uint32
	Threads   int
	Name      string
	StartTime time.Time
	// CPU is the user plus system time of the process's live and exited
	// threads.
	CPU time.Duration
	// Zombie is true for a process that has exited but was not reaped.
	Zombie bool
}

// Processes returns a snapshot of the sandbox's processes, ordered by PID.
func (k *Kernel) Processes() []ProcessInfo {
	var out []ProcessInfo
	for _, tg := range k.ThreadGroups() {
		info := ProcessInfo{PID: tg.pid, PPID: tg.PPID(), StartTime: tg.startTime}
		k.treeMu.Lock()
		info.Zombie = tg.zombie
		k.treeMu.Unlock()
		tg.mu.Lock()
		info.Threads = len(tg.tasks)
		cpu := tg.exitedCPU
		for t := range tg.tasks {
			t.cpuMu.Lock()
			cpu = cpu.add(t.cpu)
			t.cpuMu.Unlock()
		}
		var leader *Task
		for t := range tg.tasks {
			if leader == nil || t.tid == tg.pid {
				leader = t
			}
		}
		tg.mu.Unlock()
		if leader != nil {
			info.Name = leader.Name()
			info.UID = leader.Credentials().RealUID
		}
		info.CPU = cpu.User + cpu.Sys
		out = append(out, info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].PID < out[j].PID })
	return out
}
