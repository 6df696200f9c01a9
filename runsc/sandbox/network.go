package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/runsc/config"
)

// SentryCloneFlags are the namespaces an isolated Sentry starts in for
// network mode n: IsolationCloneFlags, except that with --network=host the
// Sentry stays in the caller's network namespace, whose host sockets it
// creates for the application. With "none" and "sandbox" the new network
// namespace holds only a loopback device the Sentry never uses: no
// application packet reaches the host's stack.
func SentryCloneFlags(n config.Network) uintptr {
	if n == config.NetworkHost {
		return IsolationCloneFlags &^ syscall.CLONE_NEWNET
	}
	return IsolationCloneFlags
}

// StartSentry starts cmd, the Sentry (runsc boot). An isolated Sentry
// whose spec names a network namespace by path (linux.namespaces, type
// "network"), as container engines give it, is started in that namespace
// instead of a new one: with --network=sandbox its stack takes the
// namespace's interfaces, with --network=host its host sockets live
// there. --network=none always gets a new, empty namespace.
//
// The child inherits the network namespace of the thread that forks it, so
// the calling thread enters the namespace for the fork and then returns to
// its own.
func StartSentry(cmd *exec.Cmd, spec *specs.Spec, n config.Network, isolate bool) error {
	path := netnsPath(spec)
	if !isolate || path == "" || n == config.NetworkNone {
		return cmd.Start()
	}
	cmd.SysProcAttr.Cloneflags &^= syscall.CLONE_NEWNET
	target, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening the spec's network namespace: %w", err)
	}
	defer target.Close()
	runtime.LockOSThread()
	own, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("opening this thread's network namespace: %w", err)
	}
	defer own.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("entering network namespace %s: %w", path, err)
	}
	startErr := cmd.Start()
	if err := unix.Setns(int(own.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays locked, so no other goroutine runs in the
		// container's namespace.
		return fmt.Errorf("returning from network namespace %s: %w", path, err)
	}
	runtime.UnlockOSThread()
	return startErr
}

// netnsPath returns the path of the network namespace the spec names, or
// "" if it names none or asks for a new one.
func netnsPath(spec *specs.Spec) string {
	if spec == nil || spec.Linux == nil {
		return ""
	}
	for _, ns := range spec.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace {
			return ns.Path
		}
	}
	return ""
}
