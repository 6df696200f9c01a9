package boot

import (
	"fmt"
	"os"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/fsimpl/proc"
	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
	"bufferzone.dev/pkg/sentry/socket/inet"
	"bufferzone.dev/pkg/sentry/vfs"
)

// The spec's linux.sysctl: each value is written to the sandbox kernel's
// /proc/sys file of its key before the first process starts, as runc
// writes it to the container's. A key the container may not set (one whose
// namespace it shares with the host, or one of no namespace at all) is
// refused first, with runc's rules; a sysctl the Sentry does not have is
// ENOENT, one it shows but cannot change EACCES, a bad value EINVAL: each
// fails the start with an error naming the key.

// ipcSysctls are the kernel.* sysctls of the IPC namespace (fs.mqueue.*
// are too).
var ipcSysctls = []string{"kernel.msgmax", "kernel.msgmnb", "kernel.msgmni", "kernel.sem",
	"kernel.shmall", "kernel.shmmax", "kernel.shmmni", "kernel.shm_rmid_forced"}

// sysctlKey returns a linux.sysctl key as a dotted name and as a path
// under /proc/sys, as sysctl.d(5) reads keys: if the first separator is a
// slash, the key is the path and its dots are part of names (an interface
// "eth0.100"); if it is a dot, dots separate and slashes are part of names
// (so "net.ipv4.conf.eth0/100.forwarding" is the path
// "net/ipv4/conf/eth0.100/forwarding").
func sysctlKey(key string) (name, path string) {
	swap := strings.NewReplacer(".", "/", "/", ".")
	if i := strings.IndexAny(key, "./"); i >= 0 && key[i] == '/' {
		return swap.Replace(key), key
	}
	return key, swap.Replace(key)
}

// hasNamespace reports whether spec gives the container a namespace of
// type typ (a new one, or one named by path).
func hasNamespace(spec *specs.Spec, typ specs.LinuxNamespaceType) bool {
	return spec.Linux != nil && slices.ContainsFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == typ })
}

// checkSysctl refuses a sysctl the container may not set: one of a
// namespace the container shares with the host, or of none; the hostname,
// which is the spec's hostname field's; the domainname if the spec's
// domainname field sets it.
func checkSysctl(spec *specs.Spec, name string) error {
	switch {
	case slices.Contains(ipcSysctls, name) || strings.HasPrefix(name, "fs.mqueue."):
		if !hasNamespace(spec, specs.IPCNamespace) {
			return fmt.Errorf("sysctl %q is not allowed in the host's IPC namespace", name)
		}
	case name == "kernel.hostname":
		return fmt.Errorf("sysctl %q is not allowed: the spec's hostname field sets it", name)
	case name == "kernel.domainname":
		if !hasNamespace(spec, specs.UTSNamespace) {
			return fmt.Errorf("sysctl %q is not allowed in the host's UTS namespace", name)
		}
		if spec.Domainname != "" {
			return fmt.Errorf("sysctl %q is not allowed: the spec's domainname field sets it", name)
		}
	case strings.HasPrefix(name, "net."):
		if !hasNamespace(spec, specs.NetworkNamespace) {
			return fmt.Errorf("sysctl %q is not allowed in the host's network namespace", name)
		}
	default:
		return fmt.Errorf("sysctl %q is not in a namespace of the container", name)
	}
	return nil
}

// applySysctls checks every key of the spec's linux.sysctl, then writes
// the values, in key order, to the /proc/sys of k, whose network stack is
// net.
func applySysctls(k *kernel.Kernel, net inet.Stack, spec *specs.Spec) error {
	if spec.Linux == nil || len(spec.Linux.Sysctl) == 0 {
		return nil
	}
	keys := make([]string, 0, len(spec.Linux.Sysctl))
	for key := range spec.Linux.Sysctl {
		name, path := sysctlKey(key)
		if slices.ContainsFunc(strings.Split(path, "/"), func(c string) bool { return c == "" || c == "." || c == ".." }) {
			return fmt.Errorf("sysctl %q is not a sysctl name", key)
		}
		if err := checkSysctl(spec, name); err != nil {
			return err
		}
		keys = append(keys, key)
	}
	slices.Sort(keys)
	// A /proc of the sandbox's own, in no mount tree: the container's
	// mounts do not matter (it may have no /proc).
	m := k.VFS.AnonMount("sysctl", func() vfs.Filesystem { return proc.New(k, net) })
	root := vfs.VirtualDentry{Mount: m, Dentry: m.Root()}
	ctx := &bootContext{creds: auth.NewUser(0, 0, nil)}
	for _, key := range keys {
		name, path := sysctlKey(key)
		if err := writeSysctl(ctx, k.VFS, root, path, spec.Linux.Sysctl[key]); err != nil {
			return fmt.Errorf("sysctl %q: %w", name, err)
		}
	}
	return nil
}

// writeSysctl writes value to sys/path under the proc root, in one
// write(2) as runc does.
func writeSysctl(ctx vfs.Context, v *vfs.VFS, root vfs.VirtualDentry, path, value string) error {
	file := "/proc/sys/" + path
	fd, err := v.OpenAt(ctx, vfs.Resolution{Root: root, Start: root, Path: "sys/" + path, FollowFinal: true}, unix.O_WRONLY, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: file, Err: err}
	}
	defer fd.DecRef()
	if _, err := fd.Write(ctx, []byte(value)); err != nil {
		return &os.PathError{Op: "write", Path: file, Err: err}
	}
	return nil
}
