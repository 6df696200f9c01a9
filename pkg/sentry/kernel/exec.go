package kernel

import (
	"crypto/rand"
	"path"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/loader"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/platform"
	"bufferzone.dev/pkg/sentry/vfs"
)

// MaxArgStrings bounds argv and envp counts, as Linux's MAX_ARG_STRINGS.
const MaxArgStrings = 0x7fffffff

// CreateProcessArgs describes the sandbox's first process.
type CreateProcessArgs struct {
	// Filename is the program to run, resolved in the sandbox (a name
	// without a slash is looked up in PATH from Envv by the caller).
	Filename string
	Argv     []string
	Envv     []string
	// WorkingDirectory is an absolute path in the sandbox.
	WorkingDirectory string
	// Credentials are the process's credentials before it executes
	// Filename: it starts with what execve makes of them, as a process
	// that a runtime set up and that then executed its program.
	Credentials *auth.Credentials
	// NoNewPrivs sets PR_SET_NO_NEW_PRIVS before the program is executed.
	NoNewPrivs bool
	// OOMScoreAdj is the process's oom_score_adj, set as by a runtime with
	// CAP_SYS_RESOURCE (it is also the lowest value the process may set
	// without that capability). CreateExecProcess ignores it.
	OOMScoreAdj int32
	Umask       uint32
	Limits      *Limits
	// Files are installed as descriptors 0, 1, 2, …; the kernel takes
	// over the caller's references.
	Files []*vfs.FileDescription
}

// CreateProcess starts the sandbox's first process, which becomes PID 1.
// The kernel ends (Wait returns) when it exits.
func (k *Kernel) CreateProcess(a CreateProcessArgs) (*Task, error) {
	return k.createProcess(a, true)
}

// createProcess starts a process with no parent in the sandbox: the
// sandbox's init, or (init false) a process started from outside it.
func (k *Kernel) createProcess(a CreateProcessArgs, init bool) (*Task, error) {
	creds := a.Credentials
	if creds == nil {
		creds = rootCredentials()
	}
	creds = creds.Exec(a.NoNewPrivs)
	root := k.VFS.Root()
	limits := a.Limits
	if limits == nil {
		limits = DefaultLimits()
	}
	if a.OOMScoreAdj < OOMScoreAdjMin || a.OOMScoreAdj > OOMScoreAdjMax {
		return nil, &ExecError{Path: a.Filename, Op: "setting oom_score_adj of", Err: unix.EINVAL}
	}
	tg := &ThreadGroup{k: k, tasks: make(map[*Task]struct{}), limits: limits,
		children: make(map[*ThreadGroup]struct{}), exitSignal: unix.SIGCHLD,
		startTime: time.Now(), exited: make(chan struct{}),
		oomScoreAdj: a.OOMScoreAdj, oomScoreAdjMin: a.OOMScoreAdj}
	t := &Task{k: k, tg: tg, interrupt: make(chan struct{}, 1), wakeCh: k.newWakeChan(), fdTable: NewFDTable(), startTime: time.Now()}
	t.creds.Store(creds)
	t.noNewPrivs.Store(a.NoNewPrivs)
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
	m, res, err := k.load(t, a.Filename, a.Argv, a.Envv, creds)
	if err != nil {
		pctx.Release()
		return nil, &ExecError{Path: a.Filename, Op: "executing", Err: err}
	}
	t.mm = m
	t.tid = k.allocTID(t)
	tg.pid, tg.pgid, tg.sid = t.tid, t.tid, t.tid
	tg.tasks[t] = struct{}{}
	if init {
		k.treeMu.Lock()
		k.initTG = tg
		k.containerOOMScoreAdj = a.OOMScoreAdj
		k.treeMu.Unlock()
		tg.unkillable = true
	}
	t.SetName(path.Base(res.Path))
	tg.setExecutablePath(t.canonicalPath(res.Path))
	t.resetRegs(res)
	t.start()
	return t, nil
}

// ExecError is a failure to start a program, with the path and step.
type ExecError struct {
	Path string
	Op   string
	Err  error
}

func (e *ExecError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying errno.
func (e *ExecError) Unwrap() error { return e.Err }

// Exec replaces the task's program (execve(2)). On success the task's
// registers are set for the new program and the caller must not write a
// return value (ErrNoReturn).
func (t *Task) Exec(filename string, argv, envv []string) error {
	creds := t.Credentials().Exec(t.NoNewPrivs())
	m, res, err := t.k.load(t, filename, argv, envv, creds)
	if err != nil {
		return err
	}
	if !t.deThread() {
		// Another thread is exiting the process or execing.
		m.DecUsers()
		return errExitTask
	}
	t.tg.stopAllTimers()
	t.k.treeMu.Lock()
	t.tg.execed = true
	t.k.treeMu.Unlock()
	t.releaseVfork()
	t.mu.Lock()
	old := t.mm
	t.mm = m
	t.mu.Unlock()
	if old != nil {
		old.DecUsers()
	}
	t.fdTable.CloseOnExec()
	t.SetCredentials(creds)
	// Handled signals revert to their default action; ignored stay ignored.
	t.tg.mu.Lock()
	t.tg.notDumpable = 0
	for i := range t.tg.actions {
		if t.tg.actions[i].Handler != SigIgnore {
			t.tg.actions[i] = SigAction{}
		}
	}
	t.tg.mu.Unlock()
	t.clearChildTID = 0
	t.robustList, t.robustLen = 0, 0
	t.SetName(path.Base(res.Path))
	t.tg.setExecutablePath(t.canonicalPath(res.Path))
	if err := t.pctx.ResetFPState(); err != nil {
		t.Debugf("exec: resetting FP state: %v", err)
	}
	t.resetRegs(res)
	return ErrNoReturn
}

// x86-64 user segment selectors and the initial flags (IF set).
const (
	userCS       = 0x33
	userSS       = 0x2b
	initialFlags = 0x202
)

func (t *Task) resetRegs(res loader.LoadResult) {
	t.regs = platform.Registers{}
	t.regs.Rip = uint64(res.Entry)
	t.regs.Rsp = uint64(res.StackTop)
	t.regs.Cs = userCS
	t.regs.Ss = userSS
	t.regs.Eflags = initialFlags
}

// load creates a fresh address space and loads filename into it, for a
// task that will have creds once it runs the program.
func (k *Kernel) load(t *Task, filename string, argv, envv []string, creds *auth.Credentials) (*mm.MemoryManager, loader.LoadResult, error) {
	m, err := mm.New(k.Platform, k.MemoryFile)
	if err != nil {
		return nil, loader.LoadResult{}, err
	}
	m.SetStackLimit(t.tg.limits.Get(unix.RLIMIT_STACK).Cur)
	// Every file opened to load the program is denied to writers
	// (ETXTBSY) while it loads; the program's own (the last ELF file
	// opened, or the one before its interpreter) for the life of the
	// address space, as on Linux.
	var denials []*vfs.WriteDenial
	res, err := loader.Load(m, loader.LoadArgs{
		Filename: filename,
		Open: func(p string) (loader.Executable, error) {
			e, d, err := k.openExecutable(t, p)
			if d != nil {
				denials = append(denials, d)
			}
			return e, err
		},
		Argv:   argv,
		Envv:   envv,
		Random: rand.Reader,
		UID:    creds.RealUID,
		EUID:   creds.EffectiveUID,
		GID:    creds.RealGID,
		EGID:   creds.EffectiveGID,
		HWCap:  hwcap(),
		VDSO:   k.vdso(),
	})
	program := len(denials) - 1
	if res.Interpreter != "" {
		program--
	}
	for i, d := range denials {
		if err == nil && i == program {
			m.SetExecutable(d)
		} else {
			d.Release()
		}
	}
	if err != nil {
		m.DecUsers()
		return nil, loader.LoadResult{}, err
	}
	return m, res, nil
}

// openExecutable opens a program or interpreter for the loader, with the
// checks execve makes: a regular file, executable by the caller, not open
// for writing (ETXTBSY). It returns the file and the denial of writes to
// it that the caller releases.
func (k *Kernel) openExecutable(t *Task, p string) (loader.Executable, *vfs.WriteDenial, error) {
	fs := t.fs
	r := vfs.Resolution{Root: fs.Root(), Start: fs.Cwd(), Path: p, FollowFinal: true}
	vd, err := k.VFS.GetDentry(t, r)
	if err != nil {
		return nil, nil, err
	}
	st, err := vd.Dentry.Inode().Stat(t)
	if err != nil {
		return nil, nil, err
	}
	if vfs.FileType(st.Mode) != unix.S_IFREG {
		return nil, nil, unix.EACCES
	}
	if !t.Credentials().CanAccess(uint32(st.Mode), st.Uid, st.Gid, auth.MayExecute, false) {
		return nil, nil, unix.EACCES
	}
	f, err := k.VFS.Open(t, vd, unix.O_RDONLY)
	if err != nil {
		return nil, nil, err
	}
	defer f.DecRef()
	mf, ok := f.Impl().(vfs.Mappable)
	if !ok {
		return nil, nil, unix.EACCES
	}
	deny, err := k.VFS.DenyWrite(t, f)
	if err != nil {
		return nil, nil, err
	}
	// The mappable outlives the open file: mappings keep what they need,
	// and the loader gets a reference of its own, which it drops.
	mp, err := mf.Mappable()
	if err != nil {
		deny.Release()
		return nil, nil, err
	}
	if rc, ok := mp.(mm.RefCounted); ok {
		rc.IncRef()
	}
	return mp, deny, nil
}

// deThread makes t the only thread of its process, as execve does: every
// other thread is killed, and t takes over the process's PID if it is not
// the leader. It returns false if the process is exiting.
func (t *Task) deThread() bool {
	tg := t.tg
	for {
		tg.mu.Lock()
		if tg.exiting || t.exiting.Load() {
			tg.mu.Unlock()
			return false
		}
		if len(tg.tasks) == 1 {
			tg.mu.Unlock()
			break
		}
		if tg.threadExit == nil {
			tg.threadExit = make(chan struct{})
		}
		wait := tg.threadExit
		var others []*Task
		for o := range tg.tasks {
			if o != t {
				others = append(others, o)
			}
		}
		tg.mu.Unlock()
		for _, o := range others {
			o.exiting.Store(true)
			o.Interrupt()
		}
		<-wait
	}
	if t.tid != tg.pid {
		k := t.k
		k.mu.Lock()
		delete(k.tasks, t.tid)
		t.tid = tg.pid
		k.tasks[t.tid] = t
		k.mu.Unlock()
	}
	return true
}

// canonicalPath returns the path of the file p names, with symlinks
// resolved, as /proc/[pid]/exe shows it; p itself if it cannot be
// resolved.
func (t *Task) canonicalPath(p string) string {
	fs := t.fs
	vd, err := t.k.VFS.GetDentry(t, vfs.Resolution{Root: fs.Root(), Start: fs.Cwd(), Path: p, FollowFinal: true})
	if err != nil {
		return p
	}
	return t.k.VFS.PathName(fs.Root(), vd)
}
