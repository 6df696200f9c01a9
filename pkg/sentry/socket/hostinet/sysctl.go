package hostinet

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"bufferzone.dev/pkg/sentry/socket/inet"
)

var _ inet.Sysctler = (*Stack)(nil)

// hostSysctls are the net.* sysctls of the host's network namespace that
// the sandbox shows, read-only: the sandbox's sockets live there, and the
// Sentry may not change the host's settings.
var hostSysctls = []string{"core/somaxconn", "ipv4/ip_forward", "ipv4/ip_unprivileged_port_start"}

// readSysctls reads hostSysctls from the host's /proc/sys/net (of the
// network namespace the Sentry runs in); New calls it before the Sentry's
// seccomp filter forbids opening files. A sysctl the host lacks is left
// out.
func (st *Stack) readSysctls() error {
	st.sysctls = make(map[string]int32)
	for _, p := range hostSysctls {
		b, err := os.ReadFile("/proc/sys/net/" + p)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("reading the host's net sysctls: %w", err)
		}
		v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 32)
		if err != nil {
			return fmt.Errorf("parsing the host's /proc/sys/net/%s: %w", p, err)
		}
		st.sysctls[p] = int32(v)
	}
	return nil
}

// Sysctls implements inet.Sysctler: the host's values, read-only.
func (st *Stack) Sysctls() []inet.Sysctl {
	var out []inet.Sysctl
	for _, p := range hostSysctls {
		if v, ok := st.sysctls[p]; ok {
			out = append(out, inet.Sysctl{Path: p, Get: func() int32 { return v }})
		}
	}
	return out
}

// Somaxconn implements inet.Sysctler: the host's, which the host's
// listen(2) applies anyway.
func (st *Stack) Somaxconn() int {
	if v, ok := st.sysctls["core/somaxconn"]; ok {
		return int(v)
	}
	return inet.DefaultSomaxconn
}
