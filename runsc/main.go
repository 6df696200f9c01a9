// Command runsc is the Buffer Zone OCI runtime and sandbox: one static
// binary that Docker, Podman and containerd run as they would run runc, and
// that also runs the sandbox's own processes (the Sentry and the Gofer).
package main

import (
	"os"

	"bufferzone.dev/runsc/cmd"
	"github.com/google/subcommands"
)

// register adds every runsc command to cdr.
//
// To add a command: write it in runsc/cmd/NAME.go as a type implementing
// subcommands.Command (see cmd/version.go for the smallest one; Execute gets
// the global config from cmd.ConfigFrom(args) and its output streams from
// cmd.StreamsFrom(args)), then add ONE line below with its group:
//
//	cdr.Register(new(cmd.Do), cmd.GroupSandbox)   // shown by `runsc help`
//	cdr.Register(new(cmd.Boot), cmd.GroupInternal) // internal: hidden from help
//	cdr.Register(new(cmd.Gofer), cmd.GroupInternal)
//
// Groups: cmd.GroupOCI (create, start, run, state, kill, delete, ...),
// cmd.GroupSandbox (do, ...), cmd.GroupHelpers, cmd.GroupInternal (boot,
// gofer: started by runsc itself, never listed).
func register(cdr *subcommands.Commander) {
	cdr.Register(cmd.NewHelp(cdr), cmd.GroupHelpers)
	cdr.Register(new(cmd.Flags), cmd.GroupHelpers)
	cdr.Register(new(cmd.Version), cmd.GroupHelpers)
	cdr.Register(new(cmd.Spec), cmd.GroupOCI)
	cdr.Register(new(cmd.Create), cmd.GroupOCI)
	cdr.Register(new(cmd.Start), cmd.GroupOCI)
	cdr.Register(new(cmd.Run), cmd.GroupOCI)
	cdr.Register(new(cmd.State), cmd.GroupOCI)
	cdr.Register(new(cmd.Kill), cmd.GroupOCI)
	cdr.Register(new(cmd.Delete), cmd.GroupOCI)
	cdr.Register(new(cmd.List), cmd.GroupOCI)
	cdr.Register(new(cmd.Ps), cmd.GroupOCI)
	cdr.Register(new(cmd.Exec), cmd.GroupOCI)
	cdr.Register(new(cmd.Wait), cmd.GroupOCI)
	cdr.Register(new(cmd.Pause), cmd.GroupOCI)
	cdr.Register(new(cmd.Resume), cmd.GroupOCI)
	cdr.Register(new(cmd.Events), cmd.GroupOCI)
	cdr.Register(new(cmd.Update), cmd.GroupOCI)
	cdr.Register(new(cmd.Install), cmd.GroupHelpers)
	cdr.Register(new(cmd.Uninstall), cmd.GroupHelpers)
	cdr.Register(new(cmd.Do), cmd.GroupSandbox)
	cdr.Register(new(cmd.Boot), cmd.GroupInternal)
	cdr.Register(new(cmd.Gofer), cmd.GroupInternal)
}

func main() {
	os.Exit(cmd.Main(os.Args[1:], register, os.Stdout, os.Stderr))
}
