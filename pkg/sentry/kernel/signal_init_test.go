package kernel

import (
	"testing"

	"golang.org/x/sys/unix"
)

// TestInitSignalGeneration checks prepareSignalLocked's rules for the
// sandbox's init (pid_namespaces(7)) against an ordinary process's.
func TestInitSignalGeneration(t *testing.T) {
	const handler = 0x1000 // any address: a handler is installed
	for _, tc := range []struct {
		name       string
		sig        unix.Signal
		handler    uintptr
		force      bool // from outside the sandbox or the kernel
		want       bool // queued
		wantOthers bool // queued for an ordinary process
	}{
		{"TERM from inside, default", unix.SIGTERM, SigDefault, false, false, true},
		{"TERM from outside, default", unix.SIGTERM, SigDefault, true, false, true},
		{"TERM from inside, handled", unix.SIGTERM, handler, false, true, true},
		{"TERM from outside, handled", unix.SIGTERM, handler, true, true, true},
		{"TERM ignored", unix.SIGTERM, SigIgnore, true, false, false},
		{"KILL from inside", unix.SIGKILL, SigDefault, false, false, true},
		{"KILL from outside", unix.SIGKILL, SigDefault, true, true, true},
		{"STOP from inside", unix.SIGSTOP, SigDefault, false, false, true},
		{"STOP from outside", unix.SIGSTOP, SigDefault, true, true, true},
		{"TSTP from outside, default", unix.SIGTSTP, SigDefault, true, false, true},
		{"SEGV sent from outside, default", unix.SIGSEGV, SigDefault, true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, init := range []bool{true, false} {
				tg := newLoneGroup()
				tg.tasks = map[*Task]struct{}{}
				tg.unkillable = init
				tg.actions[tc.sig-1].Handler = tc.handler
				queue, _ := tg.prepareSignalLocked(SignalInfo{Signo: int32(tc.sig), Code: SIUser}, tc.force)
				want := tc.wantOthers
				if init {
					want = tc.want
				}
				if queue != want {
					t.Errorf("init %v: queued %v, want %v", init, queue, want)
				}
			}
		})
	}
}
