package cmd

import (
	"errors"
	"fmt"
	"os"

	"bufferzone.dev/pkg/sentry/kernel"
	"bufferzone.dev/runsc/boot"
)

// startControl serves the control socket given with --control-fd, if any,
// and makes the Sentry wait for a start request before it creates the
// container's first process (`runsc create`).
func (b *Boot) startControl(a *boot.Args) (*boot.Controller, error) {
	if b.controlFD < 0 {
		return nil, nil
	}
	ctrl, err := boot.NewController(os.NewFile(uintptr(b.controlFD), "control"))
	if err != nil {
		return nil, err
	}
	a.BeforeStart = ctrl.WaitForStart
	a.Started = ctrl.InitCreated
	return ctrl, nil
}

// finish records the first process's status in the --exit-fd file and
// answers the control socket's waiters. A container killed before it
// started ends as if its process had died of that signal. It reports
// whether err, a failure to start, is recorded for the runtime command
// waiting for the start, which prints it (see container.StartError).
func (b *Boot) finish(ctrl *boot.Controller, code int, err error) (int, error, bool) {
	var killed *boot.ErrKilledBeforeStart
	if errors.As(err, &killed) {
		code, err = 128+killed.Signal, nil
	}
	if err != nil {
		code = 1
	}
	// A program that cannot be executed is reported as a shell does, by
	// the exit status (126 or 127; see Boot.Execute), not as a failure
	// to start.
	startErr := err
	if errors.As(err, new(*kernel.ExecError)) {
		startErr = nil
	}
	recorded := false
	if b.exitFD >= 0 {
		f := os.NewFile(uintptr(b.exitFD), "exit-status")
		if startErr != nil {
			_, werr := fmt.Fprintf(f, "%d\n%s\n", code, oneLine(startErr.Error()))
			recorded = werr == nil
		} else {
			fmt.Fprintf(f, "%d\n", code)
		}
		f.Close()
	}
	if ctrl != nil {
		ctrl.Exited(code, startErr)
	}
	return code, err, recorded
}
