package proc

import (
	"strings"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/vfs"
)

// /proc/sys: the sysctl values programs read. They are fixed except the
// UTS names, which come from (and for root, go to) the kernel, and the
// network stack's (sysctl_net.go).

// entry is a named child of a directory being built.
type entry struct {
	name string
	node vfs.Inode
}

// dirOf returns a root-owned directory with the given entries, in order.
func (fs *Filesystem) dirOf(path string, entries ...entry) *dirNode {
	names := make([]string, len(entries))
	children := make(map[string]vfs.Inode, len(entries))
	for i, e := range entries {
		names[i] = e.name
		children[e.name] = e.node
	}
	return fs.staticDir(path, 0o555, rootOwned, names, children)
}

// utsFile returns a sysctl file showing one UTS field; set, if not nil,
// changes it (root only, as sethostname(2)).
func (fs *Filesystem) utsFile(path string, get func() string, set func(string)) *fileNode {
	n := &fileNode{fs: fs, ino: inoOf(path), perm: 0o444, owner: rootOwned,
		gen: func(vfs.Context) ([]byte, error) { return []byte(get() + "\n"), nil }}
	if set != nil {
		n.perm = 0o644
		n.write = func(ctx vfs.Context, p []byte) error {
			if !ctx.Credentials().HasCapability(capSysAdmin) {
				return unix.EPERM
			}
			name := strings.TrimSuffix(string(p), "\n")
			if len(name) > 64 {
				return unix.EINVAL
			}
			set(name)
			return nil
		}
	}
	return n
}

// capSysAdmin is CAP_SYS_ADMIN.
const capSysAdmin = 21

// newSysDir builds /proc/sys, with the sysctls of the network stack st
// under net/.
func (fs *Filesystem) newSysDir(st inet.Stack) *dirNode {
	k := fs.k
	c := func(path, v string) entry {
		i := strings.LastIndexByte(path, '/')
		return entry{path[i+1:], fs.constFile("sys/"+path, v+"\n")}
	}
	uts := func(i int) func() string {
		return func() string {
			r, v, h, d := k.UTS()
			s := [...]string{r, v, h, d}[i]
			if i == 3 && s == "" {
				s = "(none)"
			}
			return s
		}
	}
	kernelDir := fs.dirOf("sys/kernel",
		c("kernel/cap_last_cap", "40"),
		entry{"domainname", fs.utsFile("sys/kernel/domainname", uts(3), k.SetDomainname)},
		entry{"hostname", fs.utsFile("sys/kernel/hostname", uts(2), k.SetHostname)},
		c("kernel/msgmax", "8192"),
		c("kernel/ngroups_max", "65536"),
		entry{"osrelease", fs.utsFile("sys/kernel/osrelease", uts(0), nil)},
		entry{"ostype", fs.constFile("sys/kernel/ostype", "Linux\n")},
		c("kernel/overflowgid", "65534"),
		c("kernel/overflowuid", "65534"),
		c("kernel/pid_max", "4194304"),
		entry{"random", fs.dirOf("sys/kernel/random",
			entry{"boot_id", fs.constFile("sys/kernel/random/boot_id", fs.bootID+"\n")},
			entry{"uuid", fs.staticFile("sys/kernel/random/uuid", func(vfs.Context) ([]byte, error) {
				return []byte(newUUID() + "\n"), nil
			})},
		)},
		c("kernel/sem", "32000\t1024000000\t500\t32000"),
		c("kernel/shmall", "18446744073692774399"),
		c("kernel/shmmax", "18446744073692774399"),
		c("kernel/shmmni", "4096"),
		c("kernel/threads-max", "63469"),
		entry{"version", fs.utsFile("sys/kernel/version", uts(1), nil)},
	)
	return fs.dirOf("sys",
		entry{"fs", fs.dirOf("sys/fs",
			c("fs/file-max", "9223372036854775807"),
			c("fs/nr_open", "1048576"),
			c("fs/pipe-max-size", "1048576"),
		)},
		entry{"kernel", kernelDir},
		entry{"net", fs.newNetSysDir(st)},
		entry{"vm", fs.dirOf("sys/vm",
			c("vm/max_map_count", "65530"),
			c("vm/mmap_min_addr", "65536"),
			c("vm/overcommit_memory", "0"),
		)},
	)
}
