package boot

import (
	"os"
	"os/signal"

	"golang.org/x/sys/unix"

	"bufferzone.dev/pkg/sentry/kernel"
)

// terminalSignals are the signals a terminal sends to its foreground
// process group; they are forwarded to the sandbox's first process group,
// as if the sandbox's processes were in the caller's foreground job.
var terminalSignals = map[unix.Signal]bool{
	unix.SIGINT: true, unix.SIGQUIT: true, unix.SIGTSTP: true, unix.SIGWINCH: true,
}

// forwardedSignals are the host signals the Sentry passes into the sandbox
// instead of acting on them itself.
var forwardedSignals = []os.Signal{
	unix.SIGINT, unix.SIGQUIT, unix.SIGTERM, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGWINCH, unix.SIGTSTP, unix.SIGCONT, unix.SIGALRM,
}

// ForwardSignals delivers host signals received by this process to the
// sandbox's init process (or its process group, for terminal signals)
// until stop is closed, as signals from outside the sandbox: init takes
// only those it handles, as runc's container init does.
func ForwardSignals(k *kernel.Kernel, stop <-chan struct{}) {
	ch := make(chan os.Signal, 16)
	signal.Notify(ch, forwardedSignals...)
	go func() {
		defer signal.Stop(ch)
		for {
			select {
			case <-stop:
				return
			case s := <-ch:
				sig := s.(unix.Signal)
				info := kernel.SignalInfo{Signo: int32(sig), Code: kernel.SIUser}
				if terminalSignals[sig] {
					for _, tg := range k.ThreadGroups() {
						if tg.ProcessGroup() == 1 {
							tg.SendSignalFromHost(info)
						}
					}
					continue
				}
				if tg := k.ThreadGroupByPID(1); tg != nil {
					tg.SendSignalFromHost(info)
				}
			}
		}
	}()
}
