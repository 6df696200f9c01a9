#!/usr/bin/env bash
# The README's first command: set up the machine, build bin/runsc with
# `go build` (static, CGO_ENABLED=0), then run a command in a sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/setup.sh
./tools/build.sh

# What runs in the sandbox: the ONE line to change to run something else
# (before `runsc do` existed it was `sandbox=(bin/runsc --help)`).
sandbox=(bin/runsc do uname -a)

echo "+ ${sandbox[*]}" >&2
exec "${sandbox[@]}"
