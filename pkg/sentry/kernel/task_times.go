package kernel

import "time"

// StartTime returns when the task was created.
func (t *Task) StartTime() time.Time { return t.startTime }

// StartTime returns when the process was created.
func (tg *ThreadGroup) StartTime() time.Time { return tg.startTime }

// ExecutablePath returns the sandbox path of the program the process runs
// (/proc/[pid]/exe): the ELF file loaded by the last execve.
func (tg *ThreadGroup) ExecutablePath() string {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	return tg.exePath
}

func (tg *ThreadGroup) setExecutablePath(p string) {
	tg.mu.Lock()
	tg.exePath = p
	tg.mu.Unlock()
}
