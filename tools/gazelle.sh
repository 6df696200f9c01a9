#!/usr/bin/env bash
# Regenerates Bazel files from the Go sources: deps.bzl from go.mod
# (gazelle update-repos) and every package's BUILD.bazel (gazelle). Run it
# after adding, removing or renaming Go files, packages, imports or modules;
# tools/test.sh fails while BUILD files are out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"
# deps.bzl lists the modules that provide packages the build uses (go list
# -deps), not go.mod's whole module graph: gvisor.dev/gvisor's graph holds
# about a hundred modules the build never needs, among them a newer
# golang.org/x/tools that would replace the one gazelle itself is built with
# (which lacks go/vcs). Entries of modules no longer used are removed by hand.
mods=$(go list -deps -test -f '{{with .Module}}{{if not .Main}}{{.Path}}@{{.Version}}{{end}}{{end}}' ./... | sort -u)
# shellcheck disable=SC2086 # one argument per module
bazel run //:gazelle -- update-repos -to_macro=deps.bzl%go_dependencies $mods
bazel run //:gazelle
