package proc

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/mm"
	"bufferzone.dev/pkg/sentry/vfs"
)

// procRef names the process (tid == 0) or the thread a node describes. It
// finds them again on every use, so a node outliving its process answers
// ENOENT.
type procRef struct {
	fs       *Filesystem
	pid, tid int32
}

// resolve returns the process, the task the files speak for (the thread,
// or the process's leader, which stays until the process is reaped), and a
// live task of the process for its memory, files and directories (nil for
// a zombie).
func (r procRef) resolve() (tg *kernel.ThreadGroup, named, live *kernel.Task, err error) {
	tg = r.fs.k.ThreadGroupByPID(r.pid)
	if tg == nil {
		return nil, nil, nil, unix.ENOENT
	}
	if r.tid != 0 {
		t := r.fs.k.TaskByTID(r.tid)
		if t == nil || t.ThreadGroup() != tg {
			return nil, nil, nil, unix.ENOENT
		}
		if t.HasExited() {
			return tg, t, nil, nil
		}
		return tg, t, t, nil
	}
	named = tg.Leader()
	if named != nil && !named.HasExited() {
		return tg, named, named, nil
	}
	for _, t := range tg.Tasks() {
		if !t.HasExited() {
			live = t
			break
		}
	}
	if named == nil {
		named = live
	}
	if named == nil {
		return nil, nil, nil, unix.ENOENT
	}
	return tg, named, live, nil
}

// owner implements ownerFunc: a process's files belong to its effective
// user and group.
func (r procRef) owner(vfs.Context) (uint32, uint32, error) {
	_, t, _, err := r.resolve()
	if err != nil {
		return 0, 0, err
	}
	c := t.Credentials()
	return c.EffectiveUID, c.EffectiveGID, nil
}

// capSysPtrace is CAP_SYS_PTRACE.
const capSysPtrace = 19

// mayInspect reports whether the caller may see the process's private
// state (its exe, cwd, root and file links), as Linux's ptrace access
// check: the same user, or CAP_SYS_PTRACE.
func (r procRef) mayInspect(ctx vfs.Context, t *kernel.Task) bool {
	c := ctx.Credentials()
	if c.HasCapability(capSysPtrace) {
		return true
	}
	tc := t.Credentials()
	return c.FSUID == tc.RealUID && c.FSUID == tc.EffectiveUID && c.FSUID == tc.SavedUID
}

// file returns a file of the process directory at base/name.
func (r procRef) file(base, name string, perm uint16, gen func(ctx vfs.Context) ([]byte, error)) *fileNode {
	return &fileNode{fs: r.fs, ino: inoOf(base + "/" + name), perm: perm, owner: r.owner, gen: gen}
}

// processNames and threadNames are the entries of a process's and a
// thread's directory, in readdir order.
var (
	processNames = []string{"auxv", "cgroup", "cmdline", "comm", "cwd", "environ", "exe", "fd", "fdinfo",
		"limits", "loginuid", "maps", "mem", "mountinfo", "mounts", "ns", "oom_score", "oom_score_adj",
		"root", "sessionid", "smaps", "stat", "statm", "status", "task"}
	threadNames = slices.DeleteFunc(slices.Clone(processNames), func(s string) bool { return s == "task" })
)

// newProcessDir returns /proc/[pid].
func (fs *Filesystem) newProcessDir(pid int32) vfs.Inode {
	r := procRef{fs: fs, pid: pid}
	base := strconv.Itoa(int(pid))
	children := r.entries(base)
	children["task"] = r.taskDir(base + "/task")
	return fs.staticDir(base, 0o555, r.owner, processNames, children)
}

// newThreadDir returns /proc/[pid]/task/[tid] (and /proc/[tid]).
func (fs *Filesystem) newThreadDir(pid, tid int32, base string) vfs.Inode {
	r := procRef{fs: fs, pid: pid, tid: tid}
	return fs.staticDir(base, 0o555, r.owner, threadNames, r.entries(base))
}

// taskDir returns /proc/[pid]/task: one directory per live thread.
func (r procRef) taskDir(base string) vfs.Inode {
	fs := r.fs
	return &dirNode{fs: fs, ino: inoOf(base), perm: 0o555, owner: r.owner,
		exists: func(_ vfs.Context, name string) bool {
			tid, err := strconv.ParseInt(name, 10, 32)
			if err != nil {
				return false
			}
			t := fs.k.TaskByTID(int32(tid))
			return t != nil && t.ThreadGroup().PID() == r.pid
		},
		list: func(vfs.Context) ([]string, error) {
			tg, _, _, err := r.resolve()
			if err != nil {
				return nil, err
			}
			var names []string
			for _, t := range tg.Tasks() {
				names = append(names, strconv.Itoa(int(t.TID())))
			}
			return names, nil
		},
		lookup: func(_ vfs.Context, name string) (vfs.Inode, error) {
			tid, err := strconv.ParseInt(name, 10, 32)
			if err != nil || strconv.Itoa(int(tid)) != name {
				return nil, unix.ENOENT
			}
			t := fs.k.TaskByTID(int32(tid))
			if t == nil || t.ThreadGroup().PID() != r.pid {
				return nil, unix.ENOENT
			}
			return fs.newThreadDir(r.pid, int32(tid), base+"/"+name), nil
		}}
}

// entries returns the files common to process and thread directories.
func (r procRef) entries(base string) map[string]vfs.Inode {
	fs := r.fs
	link := func(name string, target func(ctx vfs.Context, tg *kernel.ThreadGroup, named, live *kernel.Task) (string, error)) *symlinkNode {
		return &symlinkNode{fs: fs, ino: inoOf(base + "/" + name), owner: r.owner, target: func(ctx vfs.Context) (string, error) {
			tg, named, live, err := r.resolve()
			if err != nil {
				return "", err
			}
			if !r.mayInspect(ctx, named) {
				return "", unix.EACCES
			}
			return target(ctx, tg, named, live)
		}, magic: func(ctx vfs.Context) (vfs.VirtualDentry, error) {
			return r.magicTarget(ctx, name)
		}}
	}
	return map[string]vfs.Inode{
		"auxv":    r.file(base, "auxv", 0o400, r.genAuxv),
		"cgroup":  r.file(base, "cgroup", 0o444, func(vfs.Context) ([]byte, error) { return []byte("0::/\n"), nil }),
		"cmdline": r.file(base, "cmdline", 0o444, func(vfs.Context) ([]byte, error) { return r.readRange(true) }),
		"comm": &fileNode{fs: fs, ino: inoOf(base + "/comm"), perm: 0o644, owner: r.owner,
			gen:   r.genComm,
			write: r.writeComm},
		"cwd": link("cwd", func(_ vfs.Context, _ *kernel.ThreadGroup, named, _ *kernel.Task) (string, error) {
			fsc := named.FSContext()
			return fs.k.VFS.PathName(fsc.Root(), fsc.Cwd()), nil
		}),
		"environ": r.file(base, "environ", 0o400, func(vfs.Context) ([]byte, error) { return r.readRange(false) }),
		"exe": link("exe", func(_ vfs.Context, _ *kernel.ThreadGroup, named, live *kernel.Task) (string, error) {
			return r.exePath(named, live)
		}),
		"fd":     r.fdDir(base + "/fd"),
		"fdinfo": r.fdinfoDir(base + "/fdinfo"),
		"limits": r.file(base, "limits", 0o444, r.genLimits),
		"loginuid": r.file(base, "loginuid", 0o644, func(vfs.Context) ([]byte, error) {
			return []byte("4294967295"), nil
		}),
		"maps":      r.file(base, "maps", 0o444, func(vfs.Context) ([]byte, error) { return r.genMaps(false) }),
		"mem":       &memNode{r: r, ino: inoOf(base + "/mem")},
		"mountinfo": r.file(base, "mountinfo", 0o444, func(vfs.Context) ([]byte, error) { return r.genMounts(true) }),
		"mounts":    r.file(base, "mounts", 0o444, func(vfs.Context) ([]byte, error) { return r.genMounts(false) }),
		"ns":        r.nsDir(base + "/ns"),
		"oom_score": r.file(base, "oom_score", 0o444, r.genOOMScore),
		"oom_score_adj": &fileNode{fs: fs, ino: inoOf(base + "/oom_score_adj"), perm: 0o644, owner: r.owner,
			gen:   r.genOOMScoreAdj,
			write: r.writeOOMScoreAdj},
		"root": link("root", func(_ vfs.Context, _ *kernel.ThreadGroup, named, _ *kernel.Task) (string, error) {
			fsc := named.FSContext()
			return fs.k.VFS.PathName(fs.k.VFS.Root(), fsc.Root()), nil
		}),
		"sessionid": r.file(base, "sessionid", 0o444, func(vfs.Context) ([]byte, error) {
			return []byte("4294967295"), nil
		}),
		"smaps": r.file(base, "smaps", 0o444, func(vfs.Context) ([]byte, error) { return r.genMaps(true) }),
		"stat": r.file(base, "stat", 0o444, func(ctx vfs.Context) ([]byte, error) {
			s, err := r.snapshot(ctx)
			if err != nil {
				return nil, err
			}
			return []byte(formatStat(s)), nil
		}),
		"statm": r.file(base, "statm", 0o444, func(ctx vfs.Context) ([]byte, error) {
			s, err := r.snapshot(ctx)
			if err != nil {
				return nil, err
			}
			return []byte(formatStatm(s.Mem)), nil
		}),
		"status": r.file(base, "status", 0o444, func(ctx vfs.Context) ([]byte, error) {
			s, err := r.snapshot(ctx)
			if err != nil {
				return nil, err
			}
			return []byte(formatStatus(s)), nil
		}),
	}
}

// cpuTimer is implemented by kernel objects that account CPU time.
type cpuTimer interface {
	CPUTime() (user, sys time.Duration)
}

// childrenCPUTimer is implemented by processes that account their reaped
// children's CPU time.
type childrenCPUTimer interface {
	ChildrenCPUTime() (user, sys time.Duration)
}

// ticks converts a duration to clock ticks.
func ticks(d time.Duration) uint64 { return uint64(d / (time.Second / clockTicks)) }

// snapshot gathers what stat and status show.
func (r procRef) snapshot(ctx vfs.Context) (*taskSnapshot, error) {
	tg, named, live, err := r.resolve()
	if err != nil {
		return nil, err
	}
	k := r.fs.k
	s := &taskSnapshot{
		PID: tg.PID(), TID: tg.PID(), PPID: tg.PPID(), PGID: tg.ProcessGroup(), SID: tg.Session(),
		Comm:       named.Name(),
		NumThreads: tg.NumThreads(),
		Creds:      named.Credentials(),
		NoNewPrivs: named.NoNewPrivs(),
		Umask:      named.FSContext().Umask(),
		ExitSignal: int(tg.ExitSignal()),
		NumCPU:     k.NumCPU(),
		RSSLimit:   tg.Limits().Get(unix.RLIMIT_RSS).Cur,
		SigLimit:   tg.Limits().Get(unix.RLIMIT_SIGPENDING).Cur,
		SigPnd:     named.ThreadPendingSignals(),
		ShdPnd:     tg.SharedPendingSignals(),
		SigBlk:     named.SignalMask(),
		SigQueued:  named.QueuedSignals(),
		// The kernel does not record start times yet: every task
		// appears to have started at boot.
		StartTicks: ticks(named.ThreadGroup().StartTime().Sub(r.fs.k.BootTime())),
	}
	if r.tid != 0 {
		s.TID = r.tid
	}
	caller := taskOf(ctx)
	switch {
	case tg.IsZombie():
		s.State = 'Z'
		if st, ok := tg.ExitStatus(); ok {
			s.ExitCode = int(st)
		}
	case tg.IsStopped():
		s.State = 'T'
	case caller != nil && ((r.tid == 0 && caller.ThreadGroup() == tg) || caller == named):
		s.State = 'R'
	default:
		s.State = 'S'
	}
	if s.NumThreads == 0 {
		s.NumThreads = 1
	}
	var timer any = tg
	if r.tid != 0 {
		timer = named
	}
	if c, ok := timer.(cpuTimer); ok {
		u, sys := c.CPUTime()
		s.UTicks, s.STicks = ticks(u), ticks(sys)
	}
	if c, ok := any(tg).(childrenCPUTimer); ok {
		u, sys := c.ChildrenCPUTime()
		s.CUTicks, s.CSTicks = ticks(u), ticks(sys)
	}
	for sig := 1; sig <= kernel.NumSignals; sig++ {
		switch tg.SigAction(sig).Handler {
		case kernel.SigIgnore:
			s.SigIgn |= 1 << uint(sig-1)
		case kernel.SigDefault:
		default:
			s.SigCgt |= 1 << uint(sig-1)
		}
	}
	s.FDSize = 64
	if live != nil {
		for _, fd := range live.FDTable().FDs() {
			for int(fd) >= s.FDSize {
				s.FDSize *= 2
			}
		}
		if m := live.MemoryManager(); m != nil {
			s.HasMM = true
			vmas := slices.Collect(m.VMAs())
			s.Mem = vmStats(vmas)
			for _, v := range vmas {
				if v.Mappable != nil && v.Perms.Execute {
					s.StartCode, s.EndCode = uint64(v.Start), uint64(v.End)
					break
				}
			}
			s.StartStack = uint64(m.StackStart())
			brk, _ := m.BrkRange()
			s.StartBrk = uint64(brk)
			a0, a1 := m.ArgvRange()
			e0, e1 := m.EnvvRange()
			s.ArgStart, s.ArgEnd, s.EnvStart, s.EnvEnd = uint64(a0), uint64(a1), uint64(e0), uint64(e1)
		}
	}
	return s, nil
}

// maxArgBytes bounds what cmdline and environ read.
const maxArgBytes = 4 << 20

// readRange reads the process's argument (argv) or environment strings
// from its memory. A zombie has none.
func (r procRef) readRange(argv bool) ([]byte, error) {
	_, _, live, err := r.resolve()
	if err != nil {
		return nil, err
	}
	if live == nil {
		return nil, nil
	}
	m := live.MemoryManager()
	if m == nil {
		return nil, nil
	}
	start, end := m.EnvvRange()
	if argv {
		start, end = m.ArgvRange()
	}
	if end <= start {
		return nil, nil
	}
	n := min(end-start, maxArgBytes)
	buf := make([]byte, n)
	got, _ := m.CopyIn(start, buf)
	buf = buf[:got]
	if argv && len(buf) > 0 && buf[len(buf)-1] != 0 {
		// The program rewrote its arguments (setproctitle): like Linux,
		// show one string, up to its first NUL.
		if i := strings.IndexByte(string(buf), 0); i >= 0 {
			buf = buf[:i]
		}
	}
	return buf, nil
}

// genAuxv returns the auxiliary vector as the native (type, value) pairs.
func (r procRef) genAuxv(vfs.Context) ([]byte, error) {
	_, _, live, err := r.resolve()
	if err != nil || live == nil {
		return nil, err
	}
	m := live.MemoryManager()
	if m == nil {
		return nil, nil
	}
	aux := m.Auxv()
	out := make([]byte, 8*len(aux))
	for i, v := range aux {
		binary.LittleEndian.PutUint64(out[8*i:], v)
	}
	return out, nil
}

// genComm returns the command name.
func (r procRef) genComm(vfs.Context) ([]byte, error) {
	_, named, _, err := r.resolve()
	if err != nil {
		return nil, err
	}
	return []byte(named.Name() + "\n"), nil
}

// writeComm sets the command name. Only threads of the same process may,
// as in Linux.
func (r procRef) writeComm(ctx vfs.Context, p []byte) error {
	tg, named, _, err := r.resolve()
	if err != nil {
		return err
	}
	if c := taskOf(ctx); c == nil || c.ThreadGroup() != tg {
		return unix.EINVAL
	}
	named.SetName(strings.TrimSuffix(string(p), "\n"))
	return nil
}

// genOOMScoreAdj returns the process's oom_score_adj.
func (r procRef) genOOMScoreAdj(vfs.Context) ([]byte, error) {
	tg, _, _, err := r.resolve()
	if err != nil {
		return nil, err
	}
	return []byte(strconv.Itoa(int(tg.OOMScoreAdj())) + "\n"), nil
}

// writeOOMScoreAdj sets the process's oom_score_adj with the writer's
// credentials (kernel.ThreadGroup.SetOOMScoreAdj).
func (r procRef) writeOOMScoreAdj(ctx vfs.Context, p []byte) error {
	tg, _, _, err := r.resolve()
	if err != nil {
		return err
	}
	v, err := parseOOMScoreAdj(p)
	if err != nil {
		return err
	}
	return tg.SetOOMScoreAdj(ctx.Credentials(), v)
}

// genOOMScore returns the process's oom_score, computed as Linux does from
// its resident set and oom_score_adj, with the sandbox's memory size as
// the total.
func (r procRef) genOOMScore(vfs.Context) ([]byte, error) {
	tg, _, live, err := r.resolve()
	if err != nil {
		return nil, err
	}
	var rss uint64
	hasMM := false
	if live != nil {
		if m := live.MemoryManager(); m != nil {
			rss, hasMM = m.ResidentBytes(), true
		}
	}
	total, _ := memInfo()
	return []byte(strconv.FormatUint(oomScore(rss/pageSize, total/pageSize, tg.OOMScoreAdj(), hasMM), 10) + "\n"), nil
}

// genLimits returns the limits table.
func (r procRef) genLimits(vfs.Context) ([]byte, error) {
	tg, _, _, err := r.resolve()
	if err != nil {
		return nil, err
	}
	lim := make([][2]uint64, kernel.NumLimits)
	for i := range lim {
		l := tg.Limits().Get(i)
		lim[i] = [2]uint64{l.Cur, l.Max}
	}
	return []byte(formatLimits(lim)), nil
}

// MappableInfo may be implemented by an mm.Mappable to name what it maps
// in /proc/[pid]/maps: the file's path (as seen from the sandbox's root),
// device and inode number. Mappings of Mappables without it show the
// VMA's own name, if any, and device and inode 0.
type MappableInfo interface {
	MapsInfo() (path string, devMajor, devMinor uint32, ino uint64)
}

// mapsEntryOf describes one VMA for maps.
func mapsEntryOf(v mm.VMAInfo) mapsEntry {
	e := mapsEntry{Start: uint64(v.Start), End: uint64(v.End), R: v.Perms.Read, W: v.Perms.Write,
		X: v.Perms.Execute, Share: !v.Private, Path: v.Name}
	if v.Mappable != nil {
		e.Offset = uint64(v.Offset)
		if mi, ok := v.Mappable.(MappableInfo); ok {
			var p string
			p, e.DevMajor, e.DevMinor, e.Ino = mi.MapsInfo()
			if e.Path == "" {
				e.Path = p
			}
		}
	}
	return e
}

// genMaps returns maps, or smaps with detail.
func (r procRef) genMaps(detail bool) ([]byte, error) {
	_, _, live, err := r.resolve()
	if err != nil || live == nil {
		return nil, err
	}
	m := live.MemoryManager()
	if m == nil {
		return nil, nil
	}
	var b strings.Builder
	for v := range m.VMAs() {
		e := mapsEntryOf(v)
		if detail {
			b.WriteString(formatSmapsEntry(e, v))
		} else {
			b.WriteString(formatMapsLine(e))
		}
	}
	return []byte(b.String()), nil
}

// exePath returns the path of the program the process runs.
func (r procRef) exePath(named, live *kernel.Task) (string, error) {
	if live == nil {
		return "", unix.ENOENT
	}
	p := live.ThreadGroup().ExecutablePath()
	if p == "" {
		return "", unix.ENOENT
	}
	return p, nil
}

// nsNames are the entries of /proc/[pid]/ns, with the inode numbers of
// the one namespace of each kind the sandbox has.
var nsNames = []string{"cgroup", "ipc", "mnt", "net", "pid", "pid_for_children", "time", "time_for_children", "user", "uts"}

var nsInodes = map[string]uint64{
	"cgroup": 4026531835, "ipc": 4026531839, "mnt": 4026531841, "net": 4026531840, "pid": 4026531836,
	"pid_for_children": 4026531836, "time": 4026531834, "time_for_children": 4026531834,
	"user": 4026531837, "uts": 4026531838,
}

// nsDir returns /proc/[pid]/ns.
func (r procRef) nsDir(base string) vfs.Inode {
	children := make(map[string]vfs.Inode)
	for _, n := range nsNames {
		kind := strings.TrimSuffix(n, "_for_children")
		target := fmt.Sprintf("%s:[%d]", kind, nsInodes[n])
		children[n] = &symlinkNode{fs: r.fs, ino: inoOf(base + "/" + n), owner: r.owner,
			target: func(vfs.Context) (string, error) { return target, nil }}
	}
	return r.fs.staticDir(base, 0o511, r.owner, nsNames, children)
}

// mountEscape escapes a path for mounts and mountinfo, as Linux's
// seq_path does (space, tab, newline and backslash in octal).
func mountEscape(s string) string {
	return strings.NewReplacer(" ", `\040`, "\t", `\011`, "\n", `\012`, `\`, `\134`).Replace(s)
}

// mountFlagOpts renders a mount's MS_NOSUID, MS_NODEV and MS_NOEXEC flags
// as Linux's show_mnt_opts does, each after a comma.
func mountFlagOpts(flags uint32) string {
	var s string
	for _, f := range []struct {
		flag uint32
		name string
	}{{unix.MS_NOSUID, ",nosuid"}, {unix.MS_NODEV, ",nodev"}, {unix.MS_NOEXEC, ",noexec"}} {
		if flags&f.flag != 0 {
			s += f.name
		}
	}
	return s
}

// genMounts returns mountinfo (info) or mounts, with mount points as the
// process sees them from its root.
func (r procRef) genMounts(info bool) ([]byte, error) {
	_, named, _, err := r.resolve()
	if err != nil {
		return nil, err
	}
	v := r.fs.k.VFS
	root := named.FSContext().Root()
	var b strings.Builder
	for _, m := range v.Mounts() {
		parentID, point := m.ID, "/"
		if p, ok := m.Parent(); ok {
			parentID, point = p.Mount.ID, v.PathName(root, p)
		}
		fi := m.Filesystem()
		opts := "rw"
		if m.ReadOnly {
			opts = "ro"
		}
		src := m.Source
		if src == "" {
			src = "none"
		}
		superOpts, mntOpts := opts, opts+mountFlagOpts(m.Flags)+",relatime"
		fsOpts := ""
		if m.Options != "" {
			fsOpts = "," + m.Options
		}
		if info {
			fmt.Fprintf(&b, "%d %d 0:%d %s %s %s - %s %s %s%s\n", m.ID, parentID, fi.Dev,
				mountEscape(m.RootPath()), mountEscape(point), mntOpts, fi.FS.Name(), mountEscape(src), superOpts, fsOpts)
		} else {
			fmt.Fprintf(&b, "%s %s %s %s%s 0 0\n", mountEscape(src), mountEscape(point), fi.FS.Name(), mntOpts, fsOpts)
		}
	}
	return []byte(b.String()), nil
}

// sortedFDs returns the process's open descriptors in order.
func sortedFDs(t *kernel.Task) []int32 {
	fds := t.FDTable().FDs()
	sort.Slice(fds, func(i, j int) bool { return fds[i] < fds[j] })
	return fds
}

// magicTarget resolves the magic links cwd, root and exe of the process:
// the directories themselves, and the executable by its path from the
// process's root.
func (r procRef) magicTarget(ctx vfs.Context, name string) (vfs.VirtualDentry, error) {
	_, named, live, err := r.resolve()
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	if !r.mayInspect(ctx, named) {
		return vfs.VirtualDentry{}, unix.EACCES
	}
	fsc := named.FSContext()
	switch name {
	case "cwd":
		return fsc.Cwd(), nil
	case "root":
		return fsc.Root(), nil
	}
	p, err := r.exePath(named, live)
	if err != nil {
		return vfs.VirtualDentry{}, err
	}
	root := fsc.Root()
	return r.fs.k.VFS.GetDentry(ctx, vfs.Resolution{Root: root, Start: root, Path: p, FollowFinal: true})
}
