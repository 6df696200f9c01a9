package sandbox

import "syscall"

// IsolationCloneFlags are the namespaces the Sentry is started in: it gets
// its own PID namespace (it is PID 1 there and its stub processes are its
// children), mount namespace (for pivot_root), IPC, UTS and network
// namespaces (the network namespace holds only a loopback device, which is
// all --network=none needs).
const IsolationCloneFlags = syscall.CLONE_NEWPID | syscall.CLONE_NEWNS | syscall.CLONE_NEWIPC |
	syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET
