package sysno

import "testing"

func TestName(t *testing.T) {
	for _, tc := range []struct {
		n    uintptr
		want string
	}{
		{Read, "read"},
		{Write, "write"},
		{0, "read"},
		{1, "write"},
		{2, "open"},
		{9, "mmap"},
		{13, "rt_sigaction"},
		{15, "rt_sigreturn"},
		{56, "clone"},
		{59, "execve"},
		{60, "exit"},
		{156, "_sysctl"},
		{202, "futex"},
		{231, "exit_group"},
		{257, "openat"},
		{262, "newfstatat"},
		{435, "clone3"},
		{450, "set_mempolicy_home_node"},
		{462, "mseal"},
		{335, "syscall_335"},
		{100000, "syscall_100000"},
		{^uintptr(0), "syscall_18446744073709551615"},
	} {
		if got := Name(tc.n); got != tc.want {
			t.Errorf("Name(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestConstants(t *testing.T) {
	for _, tc := range []struct {
		got, want int
	}{
		{RtSigaction, 13},
		{Newfstatat, 262},
		{ExitGroup, 231},
		{Openat, 257},
		{Pread64, 17},
		{Wait4, 61},
		{ArchPrctl, 158},
		{Sysctl, 156},
		{EpollPwait2, 441},
		{Fchmodat2, 452},
	} {
		if tc.got != tc.want {
			t.Errorf("constant = %d, want %d", tc.got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	for n := uintptr(0); n < Count; n++ {
		name := Name(n)
		got, ok := Lookup(name)
		if names[n] == "" {
			if ok {
				t.Errorf("Lookup(%q) = %d, want none", name, got)
			}
			continue
		}
		if !ok || got != n {
			t.Errorf("Lookup(%q) = %d, %v; want %d", name, got, ok, n)
		}
	}
	if _, ok := Lookup("no_such_call"); ok {
		t.Error("Lookup(no_such_call) succeeded")
	}
}
