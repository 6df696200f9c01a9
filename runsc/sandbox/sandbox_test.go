package sandbox

import (
	"os/exec"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"
)

// schedPolicy returns the scheduling policy of thread or process tid (0:
// the calling thread).
func schedPolicy(t *testing.T, tid int) int {
	t.Helper()
	p, _, e := unix.RawSyscall(unix.SYS_SCHED_GETSCHEDULER, uintptr(tid), 0, 0)
	if e != 0 {
		t.Fatalf("sched_getscheduler(%d): %v", tid, e)
	}
	return int(p)
}

func TestStartSchedBatch(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	before := schedPolicy(t, 0)
	cmd := exec.Command("/bin/sleep", "30")
	if err := StartSchedBatch(cmd); err != nil {
		t.Fatalf("StartSchedBatch: %v", err)
	}
	defer func() {
		cmd.Process.Kill()
		cmd.Wait()
	}()
	if got := schedPolicy(t, cmd.Process.Pid); got != unix.SCHED_BATCH {
		t.Errorf("child's policy: %d, want SCHED_BATCH (%d)", got, unix.SCHED_BATCH)
	}
	if got := schedPolicy(t, 0); got != before {
		t.Errorf("caller's policy after the start: %d, want %d as before", got, before)
	}
}
