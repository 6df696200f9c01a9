package clients

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"bufferzone.dev/tools/images/debimage"
)

// containerd is Debian's containerd, its root, state and sockets in a
// world's directory, driven with ctr; containers run through the runc v2
// shim with runsc as the shim's runc binary.
type containerd struct {
	w     *world
	ctr   string
	sock  string
	image string
}

// ctrNamespace is the containerd namespace the tests work in.
const ctrNamespace = "bz"

// newContainerd starts a private containerd and imports the test image
// (an OCI image layout made from the busybox root file system).
func newContainerd(t *testing.T) *containerd {
	t.Helper()
	bin := lookPath(t, "/usr/bin/containerd", "containerd")
	ctr := lookPath(t, "/usr/bin/ctr", "containerd")
	lookPath(t, "/usr/bin/containerd-shim-runc-v2", "containerd")
	w := newWorld(t)
	c := &containerd{w: w, ctr: ctr, sock: w.path("containerd.sock"), image: "localhost/bz-busybox:test"}
	config := fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = %q

[ttrpc]
  address = %q
`, w.path("root"), w.path("state"), c.sock, c.sock+".ttrpc")
	if err := os.WriteFile(w.path("config.toml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	w.startDaemon(w.daemonEnv(), "containerd.log", "containerd successfully booted", bin, "--config", w.path("config.toml"))
	// Runs before the daemon is stopped.
	t.Cleanup(c.removeAll)

	oci := w.path("oci")
	if _, err := debimage.WriteOCI(w.rootfs(), &debimage.Config{Cmd: []string{"/bin/sh"}}, c.image, oci); err != nil {
		t.Fatalf("writing the OCI image: %v", err)
	}
	w.run(env(), "tar", "-C", oci, "-cf", w.path("oci.tar"), ".")
	c.run("images", "import", "--snapshotter", "native", w.path("oci.tar"))
	if got := c.run("images", "list", "--quiet"); !strings.Contains(got, c.image) {
		t.Fatalf("ctr images import: the image list is %q, want %s", got, c.image)
	}
	return c
}

func (c *containerd) argv(args ...string) []string {
	return append([]string{c.ctr, "--address", c.sock, "--namespace", ctrNamespace}, args...)
}

// run runs ctr with args, requires exit status 0 and returns stdout.
func (c *containerd) run(args ...string) string {
	c.w.t.Helper()
	return c.w.run(env(), c.argv(args...)...)
}

// runArgs are `ctr run`'s flags for a container on runsc.
func (c *containerd) runArgs() []string {
	return []string{"--snapshotter", "native", "--runc-binary", c.w.runsc, "--runc-root", c.w.path("runc-root"),
		"--fifo-dir", c.w.path("fifo")}
}

// removeAll kills and deletes every task and container and removes the
// images, reporting failures.
func (c *containerd) removeAll() {
	t := c.w.t
	ids := strings.Fields(string(c.w.try(env(), c.argv("containers", "list", "--quiet")...).Stdout))
	for _, id := range ids {
		c.w.try(env(), c.argv("task", "kill", "--signal", "SIGKILL", id)...)
		c.w.try(env(), c.argv("task", "delete", "--force", id)...)
		if r := c.w.try(env(), c.argv("containers", "delete", id)...); r.Status != 0 {
			t.Errorf("ctr containers delete %s: %s", id, r)
		}
	}
	if r := c.w.try(env(), c.argv("images", "remove", c.image)...); r.Status != 0 {
		t.Errorf("ctr images remove: %s", r)
	}
}

// TestContainerdRun runs `ctr run --rm` with runsc as the shim's runc: the
// container's output and exit status come back, and the shim called runsc
// with its global flags (--root, --log, --log-format json) first.
func TestContainerdRun(t *testing.T) {
	c := newContainerd(t)
	args := append(append([]string{"run", "--rm"}, c.runArgs()...), c.image, "c1", "echo", "hello from runsc")
	if got := c.run(args...); got != "hello from runsc\n" {
		t.Errorf("ctr run echo: stdout %q", got)
	}
	args = append(append([]string{"run", "--rm"}, c.runArgs()...), c.image, "c2", "sh", "-c", "exit 3")
	if r := c.w.try(env(), c.argv(args...)...); r.Status != 3 {
		t.Errorf("ctr run exit 3: %s", r)
	}
	c.w.requireCalled("create --bundle --pid-file", "start", "delete")
	for _, line := range strings.Split(strings.TrimSpace(c.w.calls()), "\n") {
		if !strings.Contains(line, "--root ") || !strings.Contains(line, "--log ") || !strings.Contains(line, "--log-format json") {
			t.Errorf("the shim called runsc without --root, --log and --log-format json: %s", line)
		}
	}
}

// TestContainerdDetachedExecKill starts a task with `ctr run -d`, runs
// processes in it with `ctr task exec`, and kills it.
func TestContainerdDetachedExecKill(t *testing.T) {
	c := newContainerd(t)
	args := append(append([]string{"run", "-d"}, c.runArgs()...), c.image, "d1", "sleep", "1000")
	c.run(args...)
	if got := c.run("task", "list"); !strings.Contains(got, "RUNNING") {
		t.Fatalf("after ctr run -d, the task list is:\n%s", got)
	}
	if got := c.run("task", "exec", "--exec-id", "e1", "d1", "echo", "from exec"); got != "from exec\n" {
		t.Errorf("ctr task exec echo: stdout %q", got)
	}
	if r := c.w.try(env(), c.argv("task", "exec", "--exec-id", "e2", "d1", "sh", "-c", "exit 5")...); r.Status != 5 {
		t.Errorf("ctr task exec exit 5: %s", r)
	}
	if got := c.run("task", "ps", "d1"); len(strings.Fields(got)) < 2 {
		t.Errorf("ctr task ps: %q", got)
	}
	c.run("task", "kill", "--signal", "SIGKILL", "d1")
	// attach waits for the task's exit (an exited task keeps its status
	// until it is deleted), deletes it and exits with its status.
	if r := c.w.try(env(), c.argv("task", "attach", "d1")...); r.Status != 137 {
		t.Errorf("ctr task attach after SIGKILL: %s, want status 137", r)
	}
	c.run("containers", "delete", "d1")
	c.w.requireCalled("create --bundle --pid-file", "start", "exec --detach --pid-file --process", "kill 9", "delete")
}
