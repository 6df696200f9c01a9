package linux

import (
	"crypto/rand"
	"runtime"
	"time"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/pkg/sentry/kernel/auth"
)

func utsField(s string) (f [65]byte) {
	copy(f[:64], s)
	return f
}

// Uname implements uname(2). The release is the sandbox's configured
// kernel release (--kernel-release), not the host's.
func Uname(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	release, version, host, domain := t.Kernel().UTS()
	u := unix.Utsname{
		Sysname:    utsField("Linux"),
		Nodename:   utsField(host),
		Release:    utsField(release),
		Version:    utsField(version),
		Machine:    utsField("x86_64"),
		Domainname: utsField(domain),
	}
	return 0, copyOutObj(t, a[0], &u)
}

// Getrandom implements getrandom(2) from the Sentry's own CSPRNG.
func Getrandom(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	flags := argUint(a[2])
	if flags&^(unix.GRND_NONBLOCK|unix.GRND_RANDOM|unix.GRND_INSECURE) != 0 ||
		flags&(unix.GRND_RANDOM|unix.GRND_INSECURE) == unix.GRND_RANDOM|unix.GRND_INSECURE {
		return 0, unix.EINVAL
	}
	n := a[1]
	if n > 1<<25 {
		n = 1 << 25
	}
	buf := make([]byte, n)
	rand.Read(buf)
	c, err := t.CopyOut(a[0], buf)
	if c == 0 && err != nil {
		return 0, err
	}
	return uintptr(c), nil
}

// SchedGetaffinity implements sched_getaffinity(2): every CPU the sandbox
// has.
func SchedGetaffinity(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	pid, size := argInt(a[0]), a[1]
	if pid < 0 {
		return 0, unix.EINVAL
	}
	if pid != 0 && t.Kernel().TaskByTID(pid) == nil {
		return 0, unix.ESRCH
	}
	ncpu := t.Kernel().NumCPU()
	need := uintptr((ncpu + 63) / 64 * 8)
	if size < need || size%8 != 0 {
		return 0, unix.EINVAL
	}
	mask := make([]byte, need)
	for i := 0; i < ncpu; i++ {
		mask[i/8] |= 1 << (i % 8)
	}
	if _, err := t.CopyOut(a[2], mask); err != nil {
		return 0, err
	}
	return need, nil
}

// SchedSetaffinity implements sched_setaffinity(2). The Sentry schedules
// tasks itself; the mask is checked and accepted.
func SchedSetaffinity(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	pid := argInt(a[0])
	if pid < 0 {
		return 0, unix.EINVAL
	}
	if pid != 0 && t.Kernel().TaskByTID(pid) == nil {
		return 0, unix.ESRCH
	}
	size := min(a[1], 128)
	mask := make([]byte, size)
	if _, err := t.CopyIn(a[2], mask); err != nil {
		return 0, err
	}
	ncpu := t.Kernel().NumCPU()
	for i := 0; i < ncpu && i/8 < len(mask); i++ {
		if mask[i/8]&(1<<(i%8)) != 0 {
			return 0, nil
		}
	}
	return 0, unix.EINVAL
}

// SchedYield implements sched_yield(2).
func SchedYield(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	runtime.Gosched()
	return 0, nil
}

// Getcpu implements getcpu(2).
func Getcpu(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	var zero uint32
	if a[0] != 0 {
		if err := copyOutObj(t, a[0], &zero); err != nil {
			return 0, err
		}
	}
	if a[1] != 0 {
		if err := copyOutObj(t, a[1], &zero); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// Sysinfo implements sysinfo(2) from the sandbox's point of view.
func Sysinfo(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	var host unix.Sysinfo_t
	if err := unix.Sysinfo(&host); err != nil {
		return 0, err
	}
	info := unix.Sysinfo_t{
		// Rounded up, as Linux does.
		Uptime:    int64((time.Since(t.Kernel().BootTime()) + time.Second - 1) / time.Second),
		Totalram:  host.Totalram,
		Freeram:   host.Freeram,
		Bufferram: 0,
		Procs:     uint16(t.Kernel().NumTasks()),
		Unit:      host.Unit,
	}
	return 0, copyOutObj(t, a[0], &info)
}

func prlimit(t *kernel.Task, pid int32, resource int, newAddr, oldAddr uintptr) (uintptr, error) {
	if pid < 0 {
		return 0, unix.EINVAL
	}
	if pid != 0 && pid != t.ThreadGroup().PID() {
		return 0, unix.ESRCH
	}
	if resource < 0 || resource >= kernel.NumLimits {
		return 0, unix.EINVAL
	}
	limits := t.ThreadGroup().Limits()
	old := limits.Get(resource)
	if newAddr != 0 {
		var nl unix.Rlimit
		if err := copyInObj(t, newAddr, &nl); err != nil {
			return 0, err
		}
		var err error
		old, err = limits.Set(resource, nl, t.Credentials().HasCapability(capSysResource))
		if err != nil {
			return 0, err
		}
	}
	if oldAddr != 0 {
		if err := copyOutObj(t, oldAddr, &old); err != nil {
			return 0, err
		}
	}
	return 0, nil
}

// capSysResource is CAP_SYS_RESOURCE.
const capSysResource = 24

// Prlimit64 implements prlimit64(2).
func Prlimit64(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return prlimit(t, argInt(a[0]), int(argInt(a[1])), a[2], a[3])
}

// Getrlimit implements getrlimit(2).
func Getrlimit(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return prlimit(t, 0, int(argInt(a[0])), 0, a[1])
}

// Setrlimit implements setrlimit(2).
func Setrlimit(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return prlimit(t, 0, int(argInt(a[0])), a[1], 0)
}

// arch_prctl codes.
const (
	archSetGS = 0x1001
	archSetFS = 0x1002
	archGetFS = 0x1003
	archGetGS = 0x1004
	// archCETStatus and friends: not supported (EINVAL), as on CPUs
	// without CET.
)

// ArchPrctl implements arch_prctl(2).
func ArchPrctl(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	regs := t.Regs()
	switch argInt(a[0]) {
	case archSetFS:
		if a[1] >= 1<<47 {
			return 0, unix.EPERM
		}
		regs.Fs_base = uint64(a[1])
		return 0, nil
	case archSetGS:
		if a[1] >= 1<<47 {
			return 0, unix.EPERM
		}
		regs.Gs_base = uint64(a[1])
		return 0, nil
	case archGetFS:
		v := regs.Fs_base
		return 0, copyOutObj(t, a[1], &v)
	case archGetGS:
		v := regs.Gs_base
		return 0, copyOutObj(t, a[1], &v)
	}
	return 0, unix.EINVAL
}

// SetTidAddress implements set_tid_address(2).
func SetTidAddress(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	t.SetClearChildTID(a[0])
	return uintptr(t.TID()), nil
}

// robustListHeadSize is sizeof(struct robust_list_head).
const robustListHeadSize = 24

// SetRobustList implements set_robust_list(2).
func SetRobustList(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if a[1] != robustListHeadSize {
		return 0, unix.EINVAL
	}
	t.SetRobustList(a[0], a[1])
	return 0, nil
}

// GetRobustList implements get_robust_list(2) for the calling thread.
func GetRobustList(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	tid := argInt(a[0])
	if tid != 0 && tid != t.TID() {
		if t.Kernel().TaskByTID(tid) == nil {
			return 0, unix.ESRCH
		}
		return 0, unix.EPERM
	}
	head, size := t.RobustList()
	h, s := uint64(head), uint64(size)
	if err := copyOutObj(t, a[1], &h); err != nil {
		return 0, err
	}
	return 0, copyOutObj(t, a[2], &s)
}

// Exit implements exit(2).
func Exit(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.ExitThread(int(argInt(a[0])))
}

// ExitGroup implements exit_group(2).
func ExitGroup(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	return 0, t.ExitGroup(int(argInt(a[0])))
}

// prctl options handled here.
const (
	prSetPdeathsig      = 1
	prGetPdeathsig      = 2
	prGetDumpable       = 3
	prSetDumpable       = 4
	prSetName           = 15
	prGetName           = 16
	prGetKeepCaps       = 7
	prSetKeepCaps       = 8
	prGetSeccomp        = 21
	prCapbsetRead       = 23
	prCapbsetDrop       = 24
	prSetChildSubreaper = 36
	prGetChildSubreaper = 37
	prSetNoNewPrivs     = 38
	prGetNoNewPrivs     = 39
	prCapAmbient        = 47
)

// PR_CAP_AMBIENT operations.
const (
	prCapAmbientIsSet    = 1
	prCapAmbientRaise    = 2
	prCapAmbientLower    = 3
	prCapAmbientClearAll = 4
)

// Prctl implements the prctl(2) options a single process needs; the rest
// come with the processes issue and return EINVAL as unknown options do.
func Prctl(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	switch argInt(a[0]) {
	case prSetPdeathsig:
		sig := argInt(a[1])
		if sig < 0 || sig > kernel.NumSignals {
			return 0, unix.EINVAL
		}
		t.SetParentDeathSignal(sig)
		return 0, nil
	case prGetPdeathsig:
		sig := t.ParentDeathSignal()
		return 0, copyOutObj(t, a[1], &sig)
	case prSetChildSubreaper:
		t.ThreadGroup().SetChildSubreaper(a[1] != 0)
		return 0, nil
	case prGetChildSubreaper:
		var v int32
		if t.ThreadGroup().ChildSubreaper() {
			v = 1
		}
		return 0, copyOutObj(t, a[1], &v)
	case prSetNoNewPrivs:
		if a[1] != 1 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return 0, unix.EINVAL
		}
		t.SetNoNewPrivs()
		return 0, nil
	case prGetNoNewPrivs:
		if a[1] != 0 || a[2] != 0 || a[3] != 0 || a[4] != 0 {
			return 0, unix.EINVAL
		}
		return boolResult(t.NoNewPrivs()), nil
	case prCapbsetRead:
		if !auth.ValidCapability(uint64(a[1])) {
			return 0, unix.EINVAL
		}
		return boolResult(t.Credentials().Bounding&(1<<a[1]) != 0), nil
	case prCapbsetDrop:
		n, err := t.Credentials().DropBounding(uint64(a[1]))
		if err != nil {
			return 0, err
		}
		t.SetCredentials(n)
		return 0, nil
	case prCapAmbient:
		return capAmbient(t, a)
	case prGetKeepCaps:
		return boolResult(t.Credentials().KeepCapabilities), nil
	case prSetKeepCaps:
		if a[1] > 1 {
			return 0, unix.EINVAL
		}
		t.SetCredentials(t.Credentials().WithKeepCapabilities(a[1] == 1))
		return 0, nil
	case prSetName:
		name, err := t.CopyInString(a[1], 16)
		if err != nil && err != unix.ENAMETOOLONG {
			return 0, err
		}
		if err == unix.ENAMETOOLONG {
			var b [15]byte
			if _, err := t.CopyIn(a[1], b[:]); err != nil {
				return 0, err
			}
			name = string(b[:])
		}
		t.SetName(name)
		return 0, nil
	case prGetName:
		var b [16]byte
		copy(b[:15], t.Name())
		_, err := t.CopyOut(a[1], b[:])
		return 0, err
	case prGetDumpable:
		return uintptr(t.ThreadGroup().Dumpable()), nil
	case prSetDumpable:
		if a[1] > 1 {
			return 0, unix.EINVAL
		}
		t.ThreadGroup().SetDumpable(int32(a[1]))
		return 0, nil
	case prGetSeccomp:
		return 0, nil
	}
	return 0, unix.EINVAL
}

// boolResult is the 0 or 1 a prctl query returns.
func boolResult(b bool) uintptr {
	if b {
		return 1
	}
	return 0
}

// capAmbient implements prctl(PR_CAP_AMBIENT, op, cap, 0, 0).
func capAmbient(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	c := t.Credentials()
	if a[1] == prCapAmbientClearAll {
		if a[2]|a[3]|a[4] != 0 {
			return 0, unix.EINVAL
		}
		t.SetCredentials(c.WithAmbient(0))
		return 0, nil
	}
	cp := uint64(a[2])
	if !auth.ValidCapability(cp) || a[3]|a[4] != 0 {
		return 0, unix.EINVAL
	}
	switch a[1] {
	case prCapAmbientIsSet:
		return boolResult(c.Ambient&(1<<cp) != 0), nil
	case prCapAmbientRaise:
		n, err := c.RaiseAmbient(cp)
		if err != nil {
			return 0, err
		}
		t.SetCredentials(n)
		return 0, nil
	case prCapAmbientLower:
		t.SetCredentials(c.WithAmbient(c.Ambient &^ (1 << cp)))
		return 0, nil
	}
	return 0, unix.EINVAL
}
