package sandbox

import (
	"os"
	"syscall"
)

// IsolationCloneFlags are the namespaces the Sentry is started in: it gets
// its own PID namespace (it is PID 1 there and its stub processes are its
// children), mount namespace (for pivot_root), IPC, UTS and network
// namespaces (the network namespace holds only a loopback device, which is
// all --network=none needs).
const IsolationCloneFlags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC |
	syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET

// inUserNS makes a child start in a new user namespace in which the
// caller's uid and gid (and no other ids) are root. A rootless sandbox
// gets from it the privilege its other namespaces, pivot_root and mounts
// need, over nothing of the host's. setgroups(2) stays denied in it, as an
// unprivileged caller must have it.
func inUserNS(a *syscall.SysProcAttr) {
	a.Cloneflags |= syscall.CLONE_NEWUSER
	a.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}}
	a.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}}
	a.GidMappingsEnableSetgroups = false
}
