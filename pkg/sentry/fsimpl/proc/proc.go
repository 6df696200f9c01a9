// Package proc is the sandbox's /proc, as proc(5) describes it: a directory
// per process of the sandbox with its status, memory map, file descriptors
// and command line; the self and thread-self links; the system-wide files
// (cpuinfo, meminfo, stat, uptime, loadavg, version, mounts); and the
// sysctl tree under sys/. Everything is generated from the Sentry's own
// state: the host's /proc is never read and never shown.
//
// Files are generated when they are opened and read from that snapshot, so
// that a program reading in small pieces sees consistent contents. The
// vfs.Context of every Inode method is the calling *kernel.Task; other
// contexts (work done at boot) see the system-wide files only.
//
// Lock order: this package holds no locks of its own while it calls the
// kernel, mm or vfs; the accessors it calls take theirs (Kernel.treeMu >
// Kernel.mu > ThreadGroup.mu > Task.mu > FDTable.mu, then
// FileDescription.offMu for fdinfo's position, MemoryManager.mu for maps
// and memory reads).
package proc

import (
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/vfs"
)

// Filesystem is one /proc instance for one kernel.
type Filesystem struct {
	k    *kernel.Kernel
	ts   unix.StatxTimestamp
	root *dirNode
	// bootID is /proc/sys/kernel/random/boot_id: fixed for the instance.
	bootID string
}

// New returns a /proc for the kernel k whose network stack is net (its
// sysctls are sys/net's; nil for none).
func New(k *kernel.Kernel, net inet.Stack) *Filesystem {
	bt := k.BootTime()
	fs := &Filesystem{k: k, ts: unix.StatxTimestamp{Sec: bt.Unix(), Nsec: uint32(bt.Nanosecond())}, bootID: newUUID()}
	fs.root = fs.newRoot(net)
	return fs
}

// Name implements vfs.Filesystem.
func (fs *Filesystem) Name() string { return "proc" }

// Root implements vfs.Filesystem.
func (fs *Filesystem) Root() vfs.Inode { return fs.root }

// Statfs implements vfs.Filesystem.
func (fs *Filesystem) Statfs(vfs.Context) (unix.Statfs_t, error) {
	return unix.Statfs_t{Type: unix.PROC_SUPER_MAGIC, Bsize: 4096, Frsize: 4096, Namelen: 255}, nil
}

// taskOf returns the calling task, if the context is one.
func taskOf(ctx vfs.Context) *kernel.Task {
	t, _ := ctx.(*kernel.Task)
	return t
}

// topNames are the fixed entries of /proc, in readdir order; the process
// directories follow them.
var topNames = []string{"cpuinfo", "filesystems", "loadavg", "meminfo", "mounts", "self",
	"stat", "sys", "thread-self", "uptime", "version"}

// newRoot builds /proc itself; net is the network stack.
func (fs *Filesystem) newRoot(net inet.Stack) *dirNode {
	children := map[string]vfs.Inode{
		"cpuinfo":     fs.staticFile("cpuinfo", fs.genCPUInfo),
		"filesystems": fs.constFile("filesystems", filesystems),
		"loadavg":     fs.staticFile("loadavg", fs.genLoadavg),
		"meminfo":     fs.staticFile("meminfo", fs.genMeminfo),
		"mounts":      fs.link("mounts", "self/mounts"),
		"stat":        fs.staticFile("stat", fs.genStat),
		"sys":         fs.newSysDir(net),
		"uptime":      fs.staticFile("uptime", fs.genUptime),
		"version":     fs.staticFile("version", fs.genVersion),
		"self": &symlinkNode{fs: fs, ino: inoOf("self"), owner: rootOwned, target: func(ctx vfs.Context) (string, error) {
			t := taskOf(ctx)
			if t == nil {
				return "", unix.ENOENT
			}
			return strconv.Itoa(int(t.ThreadGroup().PID())), nil
		}},
		"thread-self": &symlinkNode{fs: fs, ino: inoOf("thread-self"), owner: rootOwned, target: func(ctx vfs.Context) (string, error) {
			t := taskOf(ctx)
			if t == nil {
				return "", unix.ENOENT
			}
			return strconv.Itoa(int(t.ThreadGroup().PID())) + "/task/" + strconv.Itoa(int(t.TID())), nil
		}},
	}
	return &dirNode{fs: fs, ino: 1, perm: 0o555, owner: rootOwned,
		exists: func(_ vfs.Context, name string) bool {
			if _, ok := children[name]; ok {
				return true
			}
			pid, err := strconv.ParseInt(name, 10, 32)
			return err == nil && fs.k.ThreadGroupByPID(int32(pid)) != nil
		},
		list: func(vfs.Context) ([]string, error) {
			names := append([]string(nil), topNames...)
			for _, tg := range fs.k.SortedThreadGroups() {
				names = append(names, strconv.Itoa(int(tg.PID())))
			}
			return names, nil
		},
		lookup: func(ctx vfs.Context, name string) (vfs.Inode, error) {
			if c, ok := children[name]; ok {
				return c, nil
			}
			pid, err := strconv.ParseInt(name, 10, 32)
			if err != nil || pid <= 0 || strconv.Itoa(int(pid)) != name {
				return nil, unix.ENOENT
			}
			// Only processes: Linux also answers a non-leader thread's TID
			// here, but vfs caches the dentry, and a directory bound to a
			// thread would go stale if the number became a PID.
			if fs.k.ThreadGroupByPID(int32(pid)) == nil {
				return nil, unix.ENOENT
			}
			return fs.newProcessDir(int32(pid)), nil
		}}
}

// uptime returns the time since the kernel booted.
func (fs *Filesystem) uptime() time.Duration { return time.Since(fs.k.BootTime()) }

// filesystems is /proc/filesystems: the file system types the sandbox has.
const filesystems = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevpts\nnodev\tpipefs\nnodev\tsockfs\nnodev\t9p\n"
