package linux

import (
	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// Scheduling policies.
const (
	schedOther = 0
	schedFIFO  = 1
	schedRR    = 2
	schedBatch = 3
	schedIdle  = 5
)

func schedTarget(t *kernel.Task, pid int32) (*kernel.Task, error) {
	if pid < 0 {
		return nil, unix.EINVAL
	}
	if pid == 0 {
		return t, nil
	}
	target := t.Kernel().TaskByTID(pid)
	if target == nil {
		return nil, unix.ESRCH
	}
	return target, nil
}

// SchedGetscheduler implements sched_getscheduler(2). The Sentry schedules
// every task as SCHED_OTHER.
func SchedGetscheduler(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if _, err := schedTarget(t, argInt(a[0])); err != nil {
		return 0, err
	}
	return schedOther, nil
}

// SchedGetparam implements sched_getparam(2).
func SchedGetparam(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if a[1] == 0 {
		return 0, unix.EINVAL
	}
	if _, err := schedTarget(t, argInt(a[0])); err != nil {
		return 0, err
	}
	var prio int32
	return 0, copyOutObj(t, a[1], &prio)
}

// SchedSetscheduler implements sched_setscheduler(2): the normal policies
// are accepted; real-time ones need a host scheduler the Sentry does not
// offer and fail with EPERM, as for an unprivileged caller.
func SchedSetscheduler(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if _, err := schedTarget(t, argInt(a[0])); err != nil {
		return 0, err
	}
	var prio int32
	if err := copyInObj(t, a[2], &prio); err != nil {
		return 0, err
	}
	switch argInt(a[1]) &^ 0x40000000 { // SCHED_RESET_ON_FORK
	case schedOther, schedBatch, schedIdle:
		if prio != 0 {
			return 0, unix.EINVAL
		}
		return 0, nil
	case schedFIFO, schedRR:
		if prio < 1 || prio > 99 {
			return 0, unix.EINVAL
		}
		return 0, unix.EPERM
	}
	return 0, unix.EINVAL
}

// SchedSetparam implements sched_setparam(2).
func SchedSetparam(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	if _, err := schedTarget(t, argInt(a[0])); err != nil {
		return 0, err
	}
	var prio int32
	if err := copyInObj(t, a[1], &prio); err != nil {
		return 0, err
	}
	if prio != 0 {
		return 0, unix.EINVAL
	}
	return 0, nil
}

// SchedGetPriorityMax implements sched_get_priority_max(2).
func SchedGetPriorityMax(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	switch argInt(a[0]) {
	case schedFIFO, schedRR:
		return 99, nil
	case schedOther, schedBatch, schedIdle:
		return 0, nil
	}
	return 0, unix.EINVAL
}

// SchedGetPriorityMin implements sched_get_priority_min(2).
func SchedGetPriorityMin(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	switch argInt(a[0]) {
	case schedFIFO, schedRR:
		return 1, nil
	case schedOther, schedBatch, schedIdle:
		return 0, nil
	}
	return 0, unix.EINVAL
}

// Getpriority implements getpriority(2) for processes: it returns
// 20-nice as the raw system call does.
func Getpriority(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	which, who := argInt(a[0]), argInt(a[1])
	if which != unix.PRIO_PROCESS {
		if which == unix.PRIO_PGRP || which == unix.PRIO_USER {
			return uintptr(20 - t.ThreadGroup().Nice()), nil
		}
		return 0, unix.EINVAL
	}
	tg, err := processByPID(t, who)
	if err != nil {
		return 0, err
	}
	return uintptr(20 - tg.Nice()), nil
}

// Setpriority implements setpriority(2) for processes. Lowering the nice
// value needs CAP_SYS_NICE.
func Setpriority(t *kernel.Task, a kernel.SyscallArgs) (uintptr, error) {
	which, who, nice := argInt(a[0]), argInt(a[1]), argInt(a[2])
	if which != unix.PRIO_PROCESS {
		if which == unix.PRIO_PGRP || which == unix.PRIO_USER {
			return 0, unix.EPERM
		}
		return 0, unix.EINVAL
	}
	tg, err := processByPID(t, who)
	if err != nil {
		return 0, err
	}
	nice = max(-20, min(19, nice))
	if nice < tg.Nice() && !t.Credentials().HasCapability(23) { // CAP_SYS_NICE
		return 0, unix.EACCES
	}
	tg.SetNice(nice)
	return 0, nil
}
