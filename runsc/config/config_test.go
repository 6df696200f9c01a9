package config

import (
	"flag"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		want    func(c *Config)
		rest    []string
		wantErr string
	}{
		{name: "defaults", args: nil, want: func(*Config) {}},
		{
			name: "docker style",
			args: []string{"--root", "/run/docker/runtime-runc/moby", "--log", "/x/log.json", "--log-format", "json", "--systemd-cgroup", "create", "--bundle", "b", "id"},
			want: func(c *Config) {
				c.RootDir = "/run/docker/runtime-runc/moby"
				c.LogFilename = "/x/log.json"
				c.LogFormat = LogFormatJSON
				c.SystemdCgroup = true
			},
			rest: []string{"create", "--bundle", "b", "id"},
		},
		{
			name: "all enums",
			args: []string{"-platform=systrap", "-network=none", "-overlay=memory", "-log-format=text"},
			want: func(c *Config) {
				c.Platform = PlatformSystrap
				c.Network = NetworkNone
				c.Overlay = OverlayMemory
			},
		},
		{
			name: "strace list",
			args: []string{"--strace", "--strace-syscalls=read, write,openat"},
			want: func(c *Config) {
				c.Strace = true
				c.StraceSyscalls = []string{"read", "write", "openat"}
			},
		},
		{
			name: "debug and fds",
			args: []string{"--debug", "--debug-log=/tmp/logs/", "--debug-log-fd=3", "--log-fd=4", "--rootless", "--ignore-cgroups", "--kernel-release=5.15.0", "do"},
			want: func(c *Config) {
				c.Debug = true
				c.DebugLog = "/tmp/logs/"
				c.DebugLogFD = 3
				c.LogFD = 4
				c.Rootless = true
				c.IgnoreCgroups = true
				c.KernelRelease = "5.15.0"
			},
			rest: []string{"do"},
		},
		{name: "bad platform", args: []string{"--platform=xen"}, wantErr: "must be one of ptrace, systrap, kvm"},
		{name: "bad network", args: []string{"--network=bridge"}, wantErr: "must be one of sandbox, host, none"},
		{name: "bad overlay", args: []string{"--overlay=disk"}, wantErr: "must be one of memory, none"},
		{name: "bad log format", args: []string{"--log-format=xml"}, wantErr: "must be one of text, json"},
		{name: "unknown flag", args: []string{"--frobnicate"}, wantErr: "flag provided but not defined"},
		{name: "bad fd", args: []string{"--log-fd=-5"}, wantErr: "--log-fd=-5"},
		{name: "bad fd syntax", args: []string{"--debug-log-fd=x"}, wantErr: "invalid value"},
		{name: "empty root", args: []string{"--root="}, wantErr: "--root must not be empty"},
		{name: "syscalls without strace", args: []string{"--strace-syscalls=read"}, wantErr: "needs --strace"},
		{name: "empty list element", args: []string{"--strace", "--strace-syscalls=read,,write"}, wantErr: "empty element"},
		{name: "bad kernel release", args: []string{"--kernel-release=4 4"}, wantErr: "non-empty word"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, rest, err := Parse(nil, tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tc.args, err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error %q is more than one line", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.args, err)
			}
			want := Default()
			tc.want(want)
			if !reflect.DeepEqual(c, want) {
				t.Errorf("Parse(%q) =\n %+v\nwant\n %+v", tc.args, c, want)
			}
			if len(rest) != 0 || len(tc.rest) != 0 {
				if !reflect.DeepEqual(rest, tc.rest) {
					t.Errorf("rest = %q, want %q", rest, tc.rest)
				}
			}
		})
	}
}

func TestToFlagsRoundTrip(t *testing.T) {
	for _, c := range []*Config{
		Default(),
		{
			RootDir: "/r", Debug: true, DebugLog: "/d/%ID%.log", DebugLogFD: 7, LogFilename: "/l",
			LogFormat: LogFormatJSON, LogFD: 8, Platform: PlatformKVM, Network: NetworkHost,
			Strace: true, StraceSyscalls: []string{"read", "write"}, Rootless: true,
			Overlay: OverlayMemory, KernelRelease: "6.1.0", IgnoreCgroups: true, SystemdCgroup: true,
		},
	} {
		flags := c.ToFlags()
		got, rest, err := Parse(nil, flags)
		if err != nil {
			t.Fatalf("Parse(%q): %v", flags, err)
		}
		if len(rest) != 0 {
			t.Errorf("Parse(%q) left %q", flags, rest)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("round trip of %+v through %q gave %+v", c, flags, got)
		}
	}
}

func TestToFlagsCoversEveryFlag(t *testing.T) {
	fs := NewFlagSet("t")
	Default().RegisterFlags(fs)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if got := len(Default().ToFlags()); got != n {
		t.Errorf("ToFlags gave %d flags, want %d", got, n)
	}
}
