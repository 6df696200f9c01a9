package runtimes

import (
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

func TestMain(m *testing.M) { runsctest.Main(m) }

// busyboxCases are shell scripts run by busybox's sh. Their output must not
// depend on pids, times or the host.
var busyboxCases = []struct{ name, script string }{
	{"echo", `echo hello; printf '%s-%d\n' a 1`},
	{"pipeline", `for i in 1 2 3 4 5; do echo $i; done | sort -r | tr 1 x | head -n 4 | tail -n 2`},
	{"subshell-status", `(exit 3); echo $?; false || echo or; true && echo and`},
	{"command-substitution", `echo "$(echo nested $(echo deeper))"`},
	{"files", `cd /tmp && mkdir -p a/b && echo hello > a/b/f && cat a/b/f && wc -c < a/b/f &&
		cp a/b/f g && mv g h && ls a/b . && rm -r a h && ls`},
	{"append-truncate", `cd /tmp && echo 1 > f && echo 2 >> f && cat f && : > f && wc -c < f`},
	{"symlinks", `cd /tmp && echo data > t && ln -s t l && readlink l && cat l && ln t hard && stat -c '%h %s' t`},
	{"chmod-stat", `cd /tmp && echo x > f && chmod 640 f && stat -c '%a %s' f && chmod u+x f && test -x f && echo exec`},
	{"checksums", `sha256sum /etc/passwd; md5sum /etc/group`},
	{"gzip", `gzip -c /bin/busybox | gunzip | cmp - /bin/busybox && echo same`},
	{"tar", `cd /tmp && mkdir d && echo x > d/f && tar cf t.tar d && rm -r d && tar xf t.tar && cat d/f && tar tf t.tar`},
	{"find-grep", `find /etc -name passwd; grep -c root /etc/passwd; grep -v nobody /etc/passwd | cut -d: -f1`},
	{"sed-awk", `seq 1 100 | awk '{s += $1} END {print s}'; echo hello world | sed 's/world/there/'`},
	{"xargs", `seq 1 5 | xargs -n 2 echo`},
	{"dd-zero", `dd if=/dev/zero bs=1024 count=64 2>/dev/null | wc -c`},
	{"urandom", `head -c 100 /dev/urandom | wc -c`},
	{"fifo", `cd /tmp && mkfifo p && (echo via-fifo > p &) && cat p`},
	{"trap-signal", `trap 'echo got TERM' TERM; kill -TERM $$; echo after`},
	{"kill-child", `sleep 10 & kill $!; wait $!; echo status=$?`},
	{"background-wait", `(sleep 0.1; echo child) & wait; echo parent`},
	{"timeout", `timeout 1 sleep 5; echo status=$?`},
	{"proc-self", `test -r /proc/self/maps && echo maps; readlink /proc/self/exe; cat /proc/self/cmdline | tr '\0' ' '; echo`},
	{"id", `id; id -u; id -g`},
	{"exit-status", `exit 7`},
	{"here-doc", "cat <<EOF\nline one\nline two\nEOF"},
	{"sort-uniq", `printf 'b\na\nb\nc\na\n' | sort | uniq -c`},
	{"ls-long-root", `ls -1 /`},
	{"env", `env | grep -c PATH`},
}

// TestBusybox runs busybox applets from images/busybox natively and in the
// sandbox and compares them.
func TestBusybox(t *testing.T) {
	img := RequireImage(t, "busybox")
	for _, p := range platforms() {
		t.Run(p, func(t *testing.T) {
			for _, c := range busyboxCases {
				t.Run(c.name, func(t *testing.T) {
					Compare(t, "busybox/"+c.name, p, Run{Image: img, Argv: []string{"/bin/busybox", "sh", "-c", c.script}})
				})
			}
		})
	}
}

// TestBusyboxUnprivileged runs a few cases as an unprivileged user.
func TestBusyboxUnprivileged(t *testing.T) {
	img := RequireImage(t, "busybox")
	for _, p := range platforms() {
		t.Run(p, func(t *testing.T) {
			Compare(t, "busybox-unprivileged", p, Run{Image: img, User: "65534:65534", Argv: []string{"/bin/busybox", "sh", "-c",
				`id; cd /tmp && echo x > f && cat f; touch /etc/x 2>/dev/null || echo denied; ls /root 2>/dev/null || echo no-root`}})
		})
	}
}
