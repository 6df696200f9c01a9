package boot

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

func TestSysctlKey(t *testing.T) {
	for _, tc := range []struct{ key, name, path string }{
		{"net.ipv4.ip_forward", "net.ipv4.ip_forward", "net/ipv4/ip_forward"},
		{"net/core/somaxconn", "net.core.somaxconn", "net/core/somaxconn"},
		{"net.ipv4.conf.eth0/100.forwarding", "net.ipv4.conf.eth0/100.forwarding", "net/ipv4/conf/eth0.100/forwarding"},
		{"net/ipv4/conf/eth0.100/forwarding", "net.ipv4.conf.eth0/100.forwarding", "net/ipv4/conf/eth0.100/forwarding"},
		{"kernel", "kernel", "kernel"},
	} {
		if name, path := sysctlKey(tc.key); name != tc.name || path != tc.path {
			t.Errorf("sysctlKey(%q) = %q, %q; want %q, %q", tc.key, name, path, tc.name, tc.path)
		}
	}
}

// The refusals are runc 1.1.5's (the wording is ours).
func TestCheckSysctl(t *testing.T) {
	all := []specs.LinuxNamespace{{Type: specs.NetworkNamespace}, {Type: specs.IPCNamespace}, {Type: specs.UTSNamespace}}
	none := []specs.LinuxNamespace{{Type: specs.PIDNamespace}}
	for _, tc := range []struct {
		name       string
		namespaces []specs.LinuxNamespace
		domainname string
		// err is a substring of the error; "" for none.
		err string
	}{
		{"net.ipv4.ip_forward", all, "", ""},
		{"net.ipv4.ip_forward", none, "", "host's network namespace"},
		{"net.ipv4.ip_forward", []specs.LinuxNamespace{{Type: specs.NetworkNamespace, Path: "/var/run/netns/x"}}, "", ""},
		{"kernel.shmmax", all, "", ""},
		{"kernel.shmmax", none, "", "host's IPC namespace"},
		{"fs.mqueue.msg_max", none, "", "host's IPC namespace"},
		{"kernel.domainname", all, "", ""},
		{"kernel.domainname", none, "", "host's UTS namespace"},
		{"kernel.domainname", all, "example.org", "domainname field"},
		{"kernel.hostname", all, "", "hostname field"},
		{"kernel.pid_max", all, "", "not in a namespace"},
		{"vm.swappiness", all, "", "not in a namespace"},
		{"fs.file-max", all, "", "not in a namespace"},
	} {
		spec := &specs.Spec{Domainname: tc.domainname, Linux: &specs.Linux{Namespaces: tc.namespaces}}
		err := checkSysctl(spec, tc.name)
		if tc.err == "" && err != nil || tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("checkSysctl(%q, %v, %q) = %v; want an error with %q", tc.name, tc.namespaces, tc.domainname, err, tc.err)
		}
	}
}
