#!/usr/bin/env bash
# The README's first command: set up the machine, build bin/runsc with
# `go build` (static, CGO_ENABLED=0), then run a command in a sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
./tools/setup.sh
./tools/build.sh

# What runs in the sandbox. This is the ONE line to change when `runsc do`
# works end to end: make it `sandbox=(bin/runsc do uname -a)`.
sandbox=(bin/runsc --help)

echo "+ ${sandbox[*]}" >&2
exec "${sandbox[@]}"
