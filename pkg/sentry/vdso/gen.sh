#!/bin/sh
# Builds the vDSO image from vdso.c, vdso.lds and vdso.map into $1 (default
# vdso.so, the committed blob that vdso.go embeds), and records the compiler
# that built it in $1.gcc. Run by `go generate` in this directory; the test
# TestImageMatchesSource runs it into a temporary directory and compares.
set -eu
cd "$(dirname "$0")"
out=${1:-vdso.so}
CC=${CC:-gcc}
"$CC" -O2 -fPIC -shared -nostdlib -fno-stack-protector \
	-fno-asynchronous-unwind-tables -funwind-tables -fno-ident \
	-ffile-prefix-map="$(pwd)"=. -Wall -Wextra -Werror \
	-Wl,--hash-style=both -Wl,-soname=linux-vdso.so.1 -Wl,--build-id=none \
	-Wl,--eh-frame-hdr -Wl,-T,vdso.lds -Wl,--version-script=vdso.map \
	-Wl,-z,max-page-size=4096 -Wl,-z,noexecstack -Wl,--strip-all \
	-o "$out" vdso.c
"$CC" --version | head -n 1 >"$out.gcc"
