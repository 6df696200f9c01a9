package boot

import (
	"fmt"
	"math"
	"os"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel/auth"
)

// capabilityByName maps the OCI spec's capability names to their numbers
// (capabilities(7)).
var capabilityByName = map[string]uint{
	"CAP_CHOWN":              unix.CAP_CHOWN,
	"CAP_DAC_OVERRIDE":       unix.CAP_DAC_OVERRIDE,
	"CAP_DAC_READ_SEARCH":    unix.CAP_DAC_READ_SEARCH,
	"CAP_FOWNER":             unix.CAP_FOWNER,
	"CAP_FSETID":             unix.CAP_FSETID,
	"CAP_KILL":               unix.CAP_KILL,
	"CAP_SETGID":             unix.CAP_SETGID,
	"CAP_SETUID":             unix.CAP_SETUID,
	"CAP_SETPCAP":            unix.CAP_SETPCAP,
	"CAP_LINUX_IMMUTABLE":    unix.CAP_LINUX_IMMUTABLE,
	"CAP_NET_BIND_SERVICE":   unix.CAP_NET_BIND_SERVICE,
	"CAP_NET_BROADCAST":      unix.CAP_NET_BROADCAST,
	"CAP_NET_ADMIN":          unix.CAP_NET_ADMIN,
	"CAP_NET_RAW":            unix.CAP_NET_RAW,
	"CAP_IPC_LOCK":           unix.CAP_IPC_LOCK,
	"CAP_IPC_OWNER":          unix.CAP_IPC_OWNER,
	"CAP_SYS_MODULE":         unix.CAP_SYS_MODULE,
	"CAP_SYS_RAWIO":          unix.CAP_SYS_RAWIO,
	"CAP_SYS_CHROOT":         unix.CAP_SYS_CHROOT,
	"CAP_SYS_PTRACE":         unix.CAP_SYS_PTRACE,
	"CAP_SYS_PACCT":          unix.CAP_SYS_PACCT,
	"CAP_SYS_ADMIN":          unix.CAP_SYS_ADMIN,
	"CAP_SYS_BOOT":           unix.CAP_SYS_BOOT,
	"CAP_SYS_NICE":           unix.CAP_SYS_NICE,
	"CAP_SYS_RESOURCE":       unix.CAP_SYS_RESOURCE,
	"CAP_SYS_TIME":           unix.CAP_SYS_TIME,
	"CAP_SYS_TTY_CONFIG":     unix.CAP_SYS_TTY_CONFIG,
	"CAP_MKNOD":              unix.CAP_MKNOD,
	"CAP_LEASE":              unix.CAP_LEASE,
	"CAP_AUDIT_WRITE":        unix.CAP_AUDIT_WRITE,
	"CAP_AUDIT_CONTROL":      unix.CAP_AUDIT_CONTROL,
	"CAP_SETFCAP":            unix.CAP_SETFCAP,
	"CAP_MAC_OVERRIDE":       unix.CAP_MAC_OVERRIDE,
	"CAP_MAC_ADMIN":          unix.CAP_MAC_ADMIN,
	"CAP_SYSLOG":             unix.CAP_SYSLOG,
	"CAP_WAKE_ALARM":         unix.CAP_WAKE_ALARM,
	"CAP_BLOCK_SUSPEND":      unix.CAP_BLOCK_SUSPEND,
	"CAP_AUDIT_READ":         unix.CAP_AUDIT_READ,
	"CAP_PERFMON":            unix.CAP_PERFMON,
	"CAP_BPF":                unix.CAP_BPF,
	"CAP_CHECKPOINT_RESTORE": unix.CAP_CHECKPOINT_RESTORE,
}

// capabilityMask returns the bit mask of the named capabilities.
func capabilityMask(names []string) (uint64, error) {
	var m uint64
	for _, n := range names {
		c, ok := capabilityByName[n]
		if !ok {
			return 0, fmt.Errorf("unknown capability %q", n)
		}
		m |= 1 << c
	}
	return m, nil
}

// applyCapabilities gives c the capability sets of the spec's
// process.capabilities, as runc sets them before it executes the
// process's program; with none given, c keeps what auth.NewUser gave it
// (every capability for root). An ambient capability that is not both
// permitted and inheritable cannot be raised and is left out, as runc
// does (with a warning). The kernel applies execve's transformation to the
// result (kernel.CreateProcessArgs.Credentials).
func applyCapabilities(c *auth.Credentials, caps *specs.LinuxCapabilities) error {
	if caps == nil {
		return nil
	}
	for _, s := range []struct {
		set   *uint64
		names []string
	}{
		{&c.Bounding, caps.Bounding},
		{&c.Effective, caps.Effective},
		{&c.Permitted, caps.Permitted},
		{&c.Inheritable, caps.Inheritable},
		{&c.Ambient, caps.Ambient},
	} {
		m, err := capabilityMask(s.names)
		if err != nil {
			return fmt.Errorf("process.capabilities: %w", err)
		}
		*s.set = m
	}
	c.Ambient &= c.Permitted & c.Inheritable
	return nil
}

// oomScoreAdj returns the spec's process.oomScoreAdj for the container's
// first process (0 when unset). Out-of-range values fail the process's
// creation (kernel.CreateProcessArgs.OOMScoreAdj).
func oomScoreAdj(proc *specs.Process) int32 {
	if proc.OOMScoreAdj == nil {
		return 0
	}
	return int32(max(min(*proc.OOMScoreAdj, math.MaxInt32), math.MinInt32))
}

// SetHostOOMScoreAdj gives the host process pid (the Sentry: the
// container's processes as the host's OOM killer sees them) the spec's
// process.oomScoreAdj, as runc gives it to the container's process. It is
// run by the runtime on the host before the sandbox confines itself;
// lowering the value needs CAP_SYS_RESOURCE there, and failing to set it
// fails the container's creation, as with runc.
func SetHostOOMScoreAdj(pid int, proc *specs.Process) error {
	if proc == nil || proc.OOMScoreAdj == nil {
		return nil
	}
	p := "/proc/" + strconv.Itoa(pid) + "/oom_score_adj"
	if err := os.WriteFile(p, []byte(strconv.Itoa(*proc.OOMScoreAdj)), 0); err != nil {
		return fmt.Errorf("setting the sandbox's oom_score_adj to %d: %w", *proc.OOMScoreAdj, err)
	}
	return nil
}
