package main

import (
	"bytes"
	"strings"
	"testing"

	"bufferzone.dev/runsc/cmd"
	"bufferzone.dev/runsc/version"
)

func run(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cmd.Main(args, register, &out, &errb)
	return code, out.String(), errb.String()
}

func TestUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `runsc: unknown command "frobnicate"`},
		{[]string{"--frobnicate", "help"}, "runsc: flag provided but not defined: -frobnicate"},
		{[]string{"spec", "--frobnicate"}, "runsc: spec: flag provided but not defined: -frobnicate"},
		{[]string{"--platform=xen", "help"}, `runsc: invalid value "xen" for flag -platform`},
		{[]string{"--network", "bridge", "help"}, `runsc: invalid value "bridge" for flag -network`},
		{[]string{"help", "frobnicate"}, `runsc: help: unknown command "frobnicate"`},
		{[]string{"version", "extra"}, "runsc: version: takes no arguments"},
	} {
		code, stdout, stderr := run(tc.args...)
		if code != 2 {
			t.Errorf("runsc %q: exit %d, want 2", tc.args, code)
		}
		if !strings.HasPrefix(stderr, tc.want) || strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
			t.Errorf("runsc %q: stderr %q, want one line starting %q", tc.args, stderr, tc.want)
		}
		if stdout != "" {
			t.Errorf("runsc %q: stdout %q, want none", tc.args, stdout)
		}
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"-version"}, {"version"}, {"--debug", "version"}} {
		code, stdout, stderr := run(args...)
		if code != 0 || stderr != "" {
			t.Errorf("runsc %q: exit %d, stderr %q", args, code, stderr)
		}
		if !strings.HasPrefix(stdout, "runsc version "+version.Version+"\ncommit: ") || !strings.HasSuffix(stdout, "\nspec: 1.3.0\n") {
			t.Errorf("runsc %q: stdout %q", args, stdout)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"--help"}, {"-h"}} {
		code, stdout, _ := run(args...)
		if code != 0 {
			t.Errorf("runsc %q: exit %d", args, code)
		}
		for _, want := range []string{"OCI runtime commands:", "Helpers:", "spec ", "version "} {
			if !strings.Contains(stdout, want) {
				t.Errorf("runsc %q: output lacks %q:\n%s", args, want, stdout)
			}
		}
	}
	code, stdout, _ := run("help", "spec")
	if code != 0 || !strings.Contains(stdout, "-bundle") {
		t.Errorf("help spec: exit %d, output %q", code, stdout)
	}
	code, stdout, _ = run("spec", "--help")
	if code != 0 || !strings.Contains(stdout, "-rootless") {
		t.Errorf("spec --help: exit %d, output %q", code, stdout)
	}
	code, stdout, _ = run("flags")
	if code != 0 || !strings.Contains(stdout, "-platform") || !strings.Contains(stdout, "-kernel-release") {
		t.Errorf("flags: exit %d, output %q", code, stdout)
	}
	if code, _, stderr := run(); code != 2 || !strings.Contains(stderr, "Usage:") {
		t.Errorf("no command: exit %d, stderr %q", code, stderr)
	}
}
