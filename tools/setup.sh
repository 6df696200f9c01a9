#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine (as root) needs to build and test
# Buffer Zone, idempotently and quietly: Debian packages (Bazel 4.2.3 and its
# rule sets, a JDK, C/C++ tool chain and googletest for the syscall tests,
# busybox for test images, the container engines test/clients drives) and
# the Go modules in go.mod.
#
# Go itself is expected at /usr/local/go (Debian 12's Go is too old).
# Safe to run any number of times; prints nothing when all is in place.
set -euo pipefail
cd "$(dirname "$0")/.."

export DEBIAN_FRONTEND=noninteractive
export PATH="/usr/local/go/bin:$PATH"

if ! command -v go >/dev/null 2>&1; then
  echo "setup: Go not found (expected /usr/local/go/bin/go; install Go >= 1.26)" >&2
  exit 1
fi

# Debian packages. Do not add bazel-rules-cc: it is too new for Bazel 4.2.3
# (WORKSPACE stubs @rules_cc instead).
packages=(
  bazel-bootstrap bazel-skylib bazel-platforms bazel-rules-java
  default-jdk-headless
  g++ make libgtest-dev
  busybox-static
  diod
  podman containerd docker.io runc
  git ca-certificates
)
need=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if ((${#need[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: missing Debian packages (run as root to install): ${need[*]}" >&2
    exit 1
  fi
  echo "setup: installing ${need[*]}" >&2
  updated=
  for i in 1 2 3 4 5 6; do   # another apt may hold the lock for a while
    if apt-get -o DPkg::Lock::Timeout=120 update -qq >/dev/null; then updated=1; break; fi
    sleep 20
  done
  [[ -n $updated ]] || { echo "setup: apt-get update failed" >&2; exit 1; }
  for i in 1 2 3; do
    if apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
      need=(); break
    fi
    sleep 20
  done
  ((${#need[@]} == 0)) || { echo "setup: apt-get install failed" >&2; exit 1; }
fi

# Go modules (also the source of rules_go and gazelle for Bazel).
go mod download
