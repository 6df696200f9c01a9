#!/usr/bin/env bash
# Regenerates Bazel files from the Go sources: deps.bzl from go.mod
# (gazelle update-repos) and every package's BUILD.bazel (gazelle). Run it
# after adding, removing or renaming Go files, packages, imports or modules;
# tools/test.sh fails while BUILD files are out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
bazel run //:gazelle -- update-repos -from_file=go.mod -to_macro=deps.bzl%go_dependencies -prune
bazel run //:gazelle
