#!/usr/bin/env bash
# Builds bin/runsc with the Go tool: static, pure Go (CGO_ENABLED=0), with
# the VCS commit stamped in exactly as Bazel stamps //runsc
# (tools/workspace_status.sh), so both print the same `runsc --version`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
CGO_ENABLED=0 go build -trimpath \
  -ldflags "-X bufferzone.dev/runsc/version.Commit=${commit}" \
  -o bin/runsc ./runsc
