// Package version holds the version of the runsc binary. Both builds (go
// build and Bazel) produce the same output: the version is a constant and
// the VCS commit is set at link time, by `-ldflags -X` in tools/build.sh and
// by x_defs with stamping in Bazel, or left unset.
package version

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Version is the release version of Buffer Zone.
const Version = "0.1.0"

// Commit is the VCS commit the binary was built from. It is set by the
// linker (-X bufferzone.dev/runsc/version.Commit=...); empty means unknown.
var Commit = ""

// CommitOrUnknown returns Commit, or "unknown" when it was not set at link
// time (or was set to an unexpanded Bazel stamp placeholder).
func CommitOrUnknown() string {
	if Commit == "" || Commit[0] == '{' {
		return "unknown"
	}
	return Commit
}

// String returns the text printed by `runsc --version` and `runsc version`,
// ending in a newline.
func String() string {
	return fmt.Sprintf("runsc version %s\ncommit: %s\nspec: %s\n", Version, CommitOrUnknown(), specs.Version)
}
