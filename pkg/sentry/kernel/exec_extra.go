package kernel

import (
	"sort"
	"time"
)

// This file holds what `runsc exec`, `runsc ps` and `runsc kill --all`
// need from the kernel: processes started from outside the sandbox after
// the first one, and a snapshot of the process table.

// CreateExecProcess starts a process in the running sandbox, as `runsc
// exec` (setns + execve in Linux terms) does: it has no parent inside the
// sandbox (its PPID is 0), it is in a session and process group of its
// own, and its exit does not end the sandbox. Its exit status is collected
// with WaitExecProcess, which also frees its PID; nothing in the sandbox
// can reap it. Its oom_score_adj is the one the first process was created
// with, whatever either has set since, as runc gives an exec'd process the
// container's process.oomScoreAdj.
func (k *Kernel) CreateExecProcess(a CreateProcessArgs) (*ThreadGroup, error) {
	k.treeMu.Lock()
	a.OOMScoreAdj = k.containerOOMScoreAdj
	k.treeMu.Unlock()
	t, err := k.createProcess(a, false)
	if err != nil {
		return nil, err
	}
	return t.tg, nil
}

// WaitExecProcess blocks until tg, a process from CreateExecProcess, has
// exited or done is closed; it reaps the process (freeing its PID) and
// returns its wait status. ok is false if done was closed first.
func (k *Kernel) WaitExecProcess(tg *ThreadGroup, done <-chan struct{}) (status WaitStatus, ok bool) {
	select {
	case <-tg.exited:
	case <-done:
		return 0, false
	}
	k.treeMu.Lock()
	if !tg.reaped {
		tg.reapLocked()
	}
	k.treeMu.Unlock()
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.status, true
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
