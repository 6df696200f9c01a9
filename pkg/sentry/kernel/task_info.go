package kernel

import (
	"sort"

	"golang.org/x/sys/unix"
)

// Read-only views of kernel state for /proc and /sys. Nothing here changes
// the kernel; every accessor takes the locks the field it reads is guarded
// by, in the kernel's lock order (Kernel.treeMu, Kernel.mu, ThreadGroup.mu,
// Task.mu), and never holds one across a call out of the package.

// Kernel returns the process's kernel.
func (tg *ThreadGroup) Kernel() *Kernel { return tg.k }

// InitThreadGroup returns the sandbox's first process, or nil before it
// exists.
func (k *Kernel) InitThreadGroup() *ThreadGroup {
	k.treeMu.Lock()
	defer k.treeMu.Unlock()
	return k.initTG
}

// LastPID returns the most recently allocated thread ID (/proc/loadavg).
func (k *Kernel) LastPID() int32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.nextTID - 1
}

// TasksCreated returns how many thread IDs the kernel has handed out since
// boot, an approximation of Linux's fork count (/proc/stat "processes").
func (k *Kernel) TasksCreated() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return int(k.nextTID - 1)
}

// SortedThreadGroups returns every process that has not been reaped
// (zombies included), in PID order.
func (k *Kernel) SortedThreadGroups() []*ThreadGroup {
	k.mu.Lock()
	seen := make(map[*ThreadGroup]bool)
	var out []*ThreadGroup
	for _, t := range k.tasks {
		if !seen[t.tg] {
			seen[t.tg] = true
			out = append(out, t.tg)
		}
	}
	k.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// Tasks returns the live (not yet exited) tasks of the process, in TID
// order.
func (tg *ThreadGroup) Tasks() []*Task {
	tg.mu.Lock()
	out := make([]*Task, 0, len(tg.tasks))
	for t := range tg.tasks {
		out = append(out, t)
	}
	tg.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].tid < out[j].tid })
	return out
}

// NumThreads returns the number of live tasks of the process.
func (tg *ThreadGroup) NumThreads() int {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return len(tg.tasks)
}

// Leader returns the task whose TID is the process's PID. It stays
// available after it exits, until the process is reaped; nil after that.
func (tg *ThreadGroup) Leader() *Task {
	t := tg.k.TaskByTID(tg.pid)
	if t == nil || t.tg != tg {
		return nil
	}
	return t
}

// IsZombie reports whether every task of the process has exited and the
// process waits to be reaped.
func (tg *ThreadGroup) IsZombie() bool {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	return tg.zombie
}

// IsStopped reports whether the process is in a group stop.
func (tg *ThreadGroup) IsStopped() bool {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.stopped != nil
}

// ExitSignal returns the signal the parent receives when the process
// exits (SIGCHLD for fork, possibly another for clone).
func (tg *ThreadGroup) ExitSignal() unix.Signal {
	tg.k.treeMu.Lock()
	defer tg.k.treeMu.Unlock()
	return tg.exitSignal
}

// ExitStatus returns the process's wait status once it is exiting, and
// whether it is.
func (tg *ThreadGroup) ExitStatus() (WaitStatus, bool) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.status, tg.exiting
}

// SharedPendingSignals returns the mask of process-directed pending
// signals (ShdPnd).
func (tg *ThreadGroup) SharedPendingSignals() uint64 {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.pending.mask
}

// ThreadPendingSignals returns the mask of signals pending for this thread
// alone (SigPnd).
func (t *Task) ThreadPendingSignals() uint64 {
	t.tg.mu.Lock()
	defer t.tg.mu.Unlock()
	return t.pending.mask
}

// QueuedSignals returns the number of signals queued for the thread and its
// process (the first number of SigQ).
func (t *Task) QueuedSignals() int {
	t.tg.mu.Lock()
	defer t.tg.mu.Unlock()
	n := 0
	for i := range t.pending.queue {
		n += len(t.pending.queue[i]) + len(t.tg.pending.queue[i])
	}
	return n
}

// HasExited reports whether the task has stopped running application code
// for good.
func (t *Task) HasExited() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.mm == nil
}

// CPUID executes the CPUID instruction on the host CPU (/proc/cpuinfo).
func CPUID(leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) { return cpuid(leaf, subleaf) }
