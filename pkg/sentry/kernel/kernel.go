// Package kernel is the core of the Sentry: the Kernel object that owns
// every piece of global state of one sandbox, and the tasks (one goroutine
// per application thread) with their thread groups, file descriptor tables,
// credentials, resource limits, signal state and exit.
//
// Lock order: Kernel.mu > ThreadGroup.mu > Task.mu > FDTable.mu.
package kernel

import (
	"fmt"
	"io"
	"log"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/kernel/futex"
	"bufferzone.dev/pkg/sentry/memory"
	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Config describes a kernel to create.
type Config struct {
	Platform   platform.Platform
	MemoryFile *memory.File
	VFS        *vfs.VFS
	// Syscalls is the system call table.
	Syscalls *SyscallTable
	// Release and Version are what uname(2) reports.
	Release string
	Version string
	// Hostname and Domainname are the UTS names.
	Hostname   string
	Domainname string
	// Tracer, if set, sees every system call (--strace).
	Tracer SyscallTracer
	// Log receives the kernel's own messages (unimplemented syscalls,
	// warnings). nil discards them.
	Log io.Writer
	// NumCPU is the number of CPUs applications see.
	NumCPU int
}

// Kernel is one sandbox's kernel. All of its mutable state is here, not in
// package variables.
type Kernel struct {
	Platform   platform.Platform
	MemoryFile *memory.File
	VFS        *vfs.VFS
	// Futexes holds every futex waiter of the sandbox.
	Futexes  *futex.Manager
	syscalls *SyscallTable
	tracer   SyscallTracer
	logger   *log.Logger
	numCPU   int
	bootTime time.Time

	// shm is the System V shared memory registry.
	shm shmRegistry
	// vdsoState is the vDSO mapped into every process.
	vdsoState kernelVDSO

	// treeMu guards the process tree (parents, children, zombies).
	treeMu sync.Mutex
	// initTG is the sandbox's first process (PID 1).
	initTG *ThreadGroup
	// containerOOMScoreAdj is the oom_score_adj the first process was
	// created with, which processes started from outside the sandbox get
	// too (guarded by treeMu).
	containerOOMScoreAdj int32

	mu         sync.Mutex
	release    string
	version    string
	hostname   string
	domainname string
	nextTID    int32
	tasks      map[int32]*Task
	// taskLimit, if positive, is the task count at which clone fails
	// (see SetTaskLimit).
	taskLimit int
	// warned holds the syscall numbers already logged as unimplemented.
	warned map[uintptr]bool
	// exited is closed when the init thread group has exited.
	exited     chan struct{}
	exitStatus WaitStatus
}

// New returns a kernel with no tasks.
func New(c Config) (*Kernel, error) {
	if c.Platform == nil || c.MemoryFile == nil || c.VFS == nil || c.Syscalls == nil {
		return nil, fmt.Errorf("kernel: incomplete config")
	}
	out := c.Log
	if out == nil {
		out = io.Discard
	}
	n := c.NumCPU
	if n <= 0 {
		n = 1
	}
	return &Kernel{
		Platform:   c.Platform,
		MemoryFile: c.MemoryFile,
		VFS:        c.VFS,
		Futexes:    futex.NewManager(),
		syscalls:   c.Syscalls,
		tracer:     c.Tracer,
		logger:     log.New(out, "sentry: ", log.Lmicroseconds),
		numCPU:     n,
		bootTime:   time.Now(),
		release:    c.Release,
		version:    c.Version,
		hostname:   c.Hostname,
		domainname: c.Domainname,
		nextTID:    1,
		tasks:      make(map[int32]*Task),
		warned:     make(map[uintptr]bool),
		exited:     make(chan struct{}),
	}, nil
}

// Logf logs a kernel message.
func (k *Kernel) Logf(format string, args ...any) { k.logger.Printf(format, args...) }

// NumCPU is the number of CPUs applications see.
func (k *Kernel) NumCPU() int { return k.numCPU }

// BootTime is when the kernel started.
func (k *Kernel) BootTime() time.Time { return k.bootTime }

// UTS returns the kernel's uname fields: release, version, hostname, domain.
func (k *Kernel) UTS() (release, version, hostname, domainname string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.release, k.version, k.hostname, k.domainname
}

// SetHostname sets the UTS host name (sethostname(2)).
func (k *Kernel) SetHostname(name string) {
	k.mu.Lock()
	k.hostname = name
	k.mu.Unlock()
}

// SetDomainname sets the UTS domain name (setdomainname(2)).
func (k *Kernel) SetDomainname(name string) {
	k.mu.Lock()
	k.domainname = name
	k.mu.Unlock()
}

// warnUnimplemented logs an unimplemented system call once per number.
func (k *Kernel) warnUnimplemented(sysno uintptr, name string) {
	k.mu.Lock()
	first := !k.warned[sysno]
	k.warned[sysno] = true
	k.mu.Unlock()
	if first {
		k.Logf("unimplemented system call %s (%d): returning ENOSYS", name, sysno)
	}
}

// allocTID returns a fresh thread ID.
func (k *Kernel) allocTID(t *Task) int32 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.allocTIDLocked(t)
}

// allocTIDLocked is allocTID with k.mu held.
func (k *Kernel) allocTIDLocked(t *Task) int32 {
	for {
		tid := k.nextTID
		k.nextTID++
		if k.nextTID <= 0 {
			k.nextTID = 1
		}
		if _, ok := k.tasks[tid]; !ok {
			k.tasks[tid] = t
			return tid
		}
	}
}

// SetTaskLimit makes clone(2), fork(2) and vfork(2) fail with EAGAIN while
// the kernel holds n tasks or more, as Linux's pids cgroup controller does
// for pids.max: every thread counts, and a process counts until it is
// reaped. n <= 0 removes the limit. Lowering the limit below the current
// count kills nothing; it only refuses new tasks. Processes the runtime
// creates (the first process, runsc exec) count but are not refused.
func (k *Kernel) SetTaskLimit(n int64) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.taskLimit = int(max(n, 0))
}

// allocCloneTID is allocTID for a task clone makes: it returns false,
// allocating nothing, if the kernel is at its task limit.
func (k *Kernel) allocCloneTID(t *Task) (int32, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.taskLimit > 0 && len(k.tasks) >= k.taskLimit {
		return 0, false
	}
	return k.allocTIDLocked(t), true
}

// TaskByTID returns the live task with the given thread ID, or nil.
func (k *Kernel) TaskByTID(tid int32) *Task {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.tasks[tid]
}

// Wait blocks until the first (init) process has exited and returns its
// wait status.
func (k *Kernel) Wait() WaitStatus {
	<-k.exited
	return k.exitStatus
}

// WaitStatus is a wait(2) status word.
type WaitStatus uint32

// Exited builds the status of a process that exited with code.
func Exited(code int) WaitStatus { return WaitStatus((code & 0xff) << 8) }

// Signaled builds the status of a process killed by signo.
func Signaled(signo unix.Signal, core bool) WaitStatus {
	s := WaitStatus(signo & 0x7f)
	if core {
		s |= 0x80
	}
	return s
}

// ShellStatus returns the status as a shell reports it: the exit code, or
// 128+N for death by signal N.
func (s WaitStatus) ShellStatus() int {
	if s&0x7f == 0 {
		return int(s>>8) & 0xff
	}
	return 128 + int(s&0x7f)
}

// Credentials used by the first process when none are given.
func rootCredentials() *auth.Credentials { return auth.NewUser(0, 0, nil) }
