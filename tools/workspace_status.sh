#!/bin/sh
# Bazel's --workspace_status_command: prints the stamp keys that
# //runsc's x_defs use. STABLE_GIT_COMMIT is the same commit id that
# tools/build.sh passes to `go build -ldflags -X`, so both builds print the
# same `runsc --version`. Outside a git checkout it prints nothing and the
# commit shows as "unknown".
cd "$(dirname "$0")/.." || exit 0
commit=$(git rev-parse --short=12 HEAD 2>/dev/null) || exit 0
echo "STABLE_GIT_COMMIT $commit"
