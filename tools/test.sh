#!/usr/bin/env bash
# The README's second command and CI's (.ci/run): set up the machine, then
# run every check and test of both builds:
#
#   gofmt, go vet, go build, go test         (the Go tool)
#   gazelle -mode=diff                       (BUILD files up to date)
#   bazel build //runsc, runsc --version     (same output as tools/build.sh)
#   bazel test //test/... //pkg/... //runsc/...
#
# It goes on after a failure, and ends with one line "N passed, N failed",
# counting each check, each Go test package and each Bazel test target.
# The exit code is non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

if ! ./tools/setup.sh; then
  echo "setup failed"
  echo "0 passed, 1 failed"
  exit 1
fi

passed=0
failed=0
failures=()
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT

# check NAME CMD...: runs one check, counting it as one pass or failure.
check() {
  local name=$1; shift
  local start=$SECONDS
  if "$@"; then
    passed=$((passed + 1))
    echo "=== ok    $name ($((SECONDS - start))s)"
  else
    failed=$((failed + 1))
    failures+=("$name")
    echo "=== FAIL  $name ($((SECONDS - start))s)"
  fi
}

gofmt_check() {
  local bad
  bad=$(git ls-files -z -- '*.go' | xargs -0 -r gofmt -l --) || return 1
  bad=$bad$(git ls-files -z --others --exclude-standard -- '*.go' | xargs -0 -r gofmt -l --) || return 1
  [[ -z $bad ]] && return 0
  echo "not gofmt'ed (run gofmt -w):"; echo "$bad" | sed 's/^/  /'
  return 1
}

gazelle_check() {
  # -mode=diff prints what gazelle would change and fails if anything would.
  if ! bazel run --noshow_progress --ui_event_filters=-info //:gazelle -- -mode=diff >"$log/gazelle" 2>&1; then
    sed -n '1,80p' "$log/gazelle"
    echo "BUILD files are out of date: run ./tools/gazelle.sh"
    return 1
  fi
}

version_check() {
  ./tools/build.sh || return 1
  if ! bazel build --noshow_progress //runsc >"$log/bazelbuild" 2>&1; then
    bazel_errors "$log/bazelbuild"
    return 1
  fi
  local bz
  bz=$(bazel info bazel-bin 2>/dev/null)/runsc/runsc_/runsc
  [[ -x $bz ]] || { echo "cannot find bazel's runsc binary at $bz"; return 1; }
  local lddout
  lddout=$(LC_ALL=C ldd "$bz" 2>&1)
  if [[ $lddout != *"not a dynamic executable"* ]]; then
    echo "$bz is not statically linked"; return 1
  fi
  if ! diff <(bin/runsc --version) <("$bz" --version); then
    echo "runsc --version differs between go build (<) and bazel build (>)"; return 1
  fi
  "$bz" --version | sed 's/^/  /'
}

# go test: one line per package (ok/FAIL), the output of failing tests.
go_test() {
  go test -count=1 ./... 2>&1 | tee "$log/gotest" | grep -v -e '^?' -e '^=== RUN' -e '^--- PASS' -e '^PASS$'
  local rc=${PIPESTATUS[0]}
  local ok bad
  ok=$(grep -c -E '^ok[[:space:]]' "$log/gotest")
  bad=$(grep -c -E '^FAIL[[:space:]]' "$log/gotest")
  passed=$((passed + ok))
  failed=$((failed + bad))
  if ((rc != 0 && bad == 0)); then
    failed=$((failed + 1)); failures+=("go test")
  elif ((bad)); then
    failures+=("go test ($bad packages)")
  fi
  echo "=== go test: $ok packages passed, $bad failed"
}

# bazel_errors LOG: prints a Bazel log without progress lines and without
# the (long) command lines of failed actions: errors, compiler messages and
# the test summary remain.
bazel_errors() {
  awk '
    /^(INFO|Loading|Analyzing|\[)/ || /^[[:space:]]*$/ { next }
    /error executing command/ { sub(/error executing command.*/, "error executing command (see bazel output)"); print; skip = 1; next }
    skip && /^[[:space:]]/ { next }
    { skip = 0; print }
  ' "$1" | sed -n '1,200p'
}

# bazel test over the test folders that have BUILD files; counts targets.
bazel_test() {
  local patterns=() d
  for d in test pkg runsc; do
    if [[ -n $(find "$d" -name BUILD.bazel -print -quit 2>/dev/null) ]]; then
      patterns+=("//$d/...")
    fi
  done
  bazel test --noshow_progress --keep_going "${patterns[@]}" >"$log/bazeltest" 2>&1
  local rc=$?
  bazel_errors "$log/bazeltest"
  local ok bad
  ok=$(grep -c -E '^//[^ ]+[[:space:]]+(\(cached\)[[:space:]]+)?PASSED' "$log/bazeltest")
  bad=$(grep -c -E '^//[^ ]+[[:space:]]+.*(FAILED|NO STATUS|TIMEOUT|FLAKY|INCOMPLETE)' "$log/bazeltest")
  passed=$((passed + ok))
  failed=$((failed + bad))
  # rc 4: no test targets; anything else non-zero without a failed target
  # (e.g. a BUILD file error) still fails the run.
  if ((rc != 0 && rc != 4 && bad == 0)); then
    failed=$((failed + 1)); failures+=("bazel test")
  elif ((bad)); then
    failures+=("bazel test ($bad targets)")
  fi
  echo "=== bazel test: $ok targets passed, $bad failed"
}

check "gofmt" gofmt_check
check "go vet" go vet ./...
check "go build" go build ./...
go_test
check "gazelle (BUILD files up to date)" gazelle_check
check "bazel build //runsc, same --version as go build" version_check
bazel_test

if ((${#failures[@]})); then
  echo "failed: ${failures[*]}"
fi
echo "$passed passed, $failed failed"
((failed == 0))
