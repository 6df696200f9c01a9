package main

import (
	"bytes"
	"os"
	"testing"
)

// TestUpToDate checks that the committed table is what the generator makes
// from this machine's header.
func TestUpToDate(t *testing.T) {
	const header = "/usr/include/x86_64-linux-gnu/asm/unistd_64.h"
	if _, err := os.Stat(header); err != nil {
		t.Skipf("no header: %v", err)
	}
	committed, err := os.ReadFile("../sysno_amd64.go")
	if err != nil {
		t.Skipf("no committed table: %v", err)
	}
	src, err := generate(header)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, committed) {
		t.Error("sysno_amd64.go is stale: run go generate in pkg/abi/sysno")
	}
}

func TestGoName(t *testing.T) {
	for in, want := range map[string]string{
		"read":         "Read",
		"rt_sigaction": "RtSigaction",
		"exit_group":   "ExitGroup",
		"_sysctl":      "Sysctl",
		"pread64":      "Pread64",
		"epoll_pwait2": "EpollPwait2",
	} {
		if got := goName(in); got != want {
			t.Errorf("goName(%q) = %q, want %q", in, got, want)
		}
	}
}
