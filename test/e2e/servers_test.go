package e2e

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// Event-driven servers and their clients inside one sandbox, over the
// sandbox's own loopback: a Go net/http server and client (netpoller on
// epoll), and a C epoll server answering the host's curl, which the server
// watches through a pidfd. Each runs under every platform with the
// default network (sandbox), and must print what it prints natively.

// onPlatforms runs fn as a subtest per platform, with the global flags
// that select it.
func onPlatforms(t *testing.T, fn func(t *testing.T, global []string)) {
	for _, p := range runsctest.Platforms() {
		t.Run(p, func(t *testing.T) { fn(t, runsctest.RequirePlatform(t, p)) })
	}
}

func TestServerGoHTTP(t *testing.T) {
	bin := goProgram(t, "gohttp")
	const n = 200
	onPlatforms(t, func(t *testing.T, global []string) {
		same(t, run{argv: []string{bin, fmt.Sprint(n)}, global: global},
			wantStatus(0, fmt.Sprintf("requests %d ok %d\n", n, n)))
	})
}

func TestServerEpollCurl(t *testing.T) {
	bin := staticCProgram(t, "epollserve", "epollserve.c")
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed on the host (apt-get install curl); runsc do runs the host's")
	}
	const n = 20
	var want strings.Builder
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&want, "hello from epoll: /%d\n", i)
	}
	fmt.Fprintf(&want, "served %d of %d\ncurl exited 0\n", n, n)
	onPlatforms(t, func(t *testing.T, global []string) {
		same(t, run{argv: []string{bin, curl, fmt.Sprint(n)}, global: global},
			wantStatus(0, want.String()))
	})
}
