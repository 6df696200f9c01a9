package clients

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// podman is Debian's Podman with runsc as its runtime and everything it
// keeps (containers.conf, storage.conf, image and container storage, run
// state, events log) in a world's directory.
type podman struct {
	w     *world
	bin   string
	env   []string
	image string
}

// podmanImage is the name the test image is imported under.
const podmanImage = "localhost/bz-busybox:test"

// newPodman configures Podman as this kind of machine needs it (vfs
// storage, cgroupfs, events to a file, no network namespace setup) and
// imports the test image from a rootfs tarball.
func newPodman(t *testing.T) *podman {
	t.Helper()
	bin := lookPath(t, "/usr/bin/podman", "podman")
	lookPath(t, "/usr/bin/conmon", "conmon")
	w := newWorld(t)
	p := &podman{w: w, bin: bin, image: podmanImage}
	conf := fmt.Sprintf(`[containers]
netns = "none"

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
tmp_dir = %q
volume_path = %q
image_copy_tmp_dir = %q

[network]
network_config_dir = %q
`, w.path("events.log"), w.path("libpod-tmp"), w.path("volumes"), w.path("tmp"), w.path("net"))
	storage := fmt.Sprintf("[storage]\ndriver = \"vfs\"\nrunroot = %q\ngraphroot = %q\n", w.path("run"), w.path("storage"))
	for name, data := range map[string]string{"containers.conf": conf, "storage.conf": storage} {
		if err := os.WriteFile(w.path(name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"tmp", "home"} {
		if err := os.MkdirAll(w.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	p.env = env("CONTAINERS_CONF="+w.path("containers.conf"), "CONTAINERS_STORAGE_CONF="+w.path("storage.conf"),
		"TMPDIR="+w.path("tmp"), "HOME="+w.path("home"))
	tar := w.rootfsTar()
	// Runs before the world's clean-up, which then finds no conmon left.
	t.Cleanup(func() {
		if r := p.try("rm", "--all", "--force", "--time", "0"); r.Status != 0 {
			t.Errorf("podman rm --all: %s", r)
		}
		if r := p.try("rmi", "--all", "--force"); r.Status != 0 {
			t.Errorf("podman rmi --all: %s", r)
		}
	})
	p.run("import", tar, p.image)
	return p
}

func (p *podman) argv(args ...string) []string {
	return append([]string{p.bin, "--runtime", p.w.runsc}, args...)
}

// run runs podman with args, requires exit status 0 and returns stdout.
func (p *podman) run(args ...string) string {
	p.w.t.Helper()
	return p.w.run(p.env, p.argv(args...)...)
}

func (p *podman) try(args ...string) runsctest.Result {
	p.w.t.Helper()
	return p.w.try(p.env, p.argv(args...)...)
}

// TestPodmanRunRm runs `podman run --rm`: the container's output and exit
// status come back, and conmon drove runsc through create, start and
// delete --force.
func TestPodmanRunRm(t *testing.T) {
	p := newPodman(t)
	if got := p.run("run", "--rm", p.image, "echo", "hello from runsc"); got != "hello from runsc\n" {
		t.Errorf("podman run echo: stdout %q", got)
	}
	if r := p.try("run", "--rm", p.image, "sh", "-c", "echo to-stderr >&2; exit 3"); r.Status != 3 || !strings.Contains(string(r.Stderr), "to-stderr") {
		t.Errorf("podman run exit 3: want status 3 and stderr to-stderr, got %s", r)
	}
	if got := p.run("run", "--rm", "--hostname", "bzhost", "--env", "BZ=42", "--workdir", "/tmp", p.image,
		"sh", "-c", `echo $(hostname) $BZ $(pwd) $(id -u)`); got != "bzhost 42 /tmp 0\n" {
		t.Errorf("podman run hostname/env/workdir/user: stdout %q, want %q", got, "bzhost 42 /tmp 0\n")
	}
	// The spec's capabilities are the process's: without CAP_CHOWN, root
	// cannot give a file away.
	if r := p.try("run", "--rm", "--cap-drop=all", p.image, "chown", "1", "/tmp"); r.Status == 0 || !strings.Contains(string(r.Stderr), "Operation not permitted") {
		t.Errorf("chown with every capability dropped: want EPERM, got %s", r)
	}
	if got := p.run("run", "--rm", "--cap-drop=all", "--cap-add=CAP_CHOWN", p.image, "sh", "-c", "chown 1 /tmp && echo chowned"); got != "chowned\n" {
		t.Errorf("chown with CAP_CHOWN: stdout %q", got)
	}
	p.w.requireCalled("create --bundle --pid-file", "start", "delete --force")
	if got := strings.TrimSpace(p.run("ps", "--all", "--quiet")); got != "" {
		t.Errorf("containers left after run --rm: %q", got)
	}
}

// TestPodmanDetachedExecStop starts a container with `podman run -d`, runs
// commands in it with `podman exec`, and stops it with `podman stop`.
func TestPodmanDetachedExecStop(t *testing.T) {
	p := newPodman(t)
	id := strings.TrimSpace(p.run("run", "-d", p.image, "sleep", "1000"))
	if got := p.run("inspect", "--format", "{{.State.Status}}", id); strings.TrimSpace(got) != "running" {
		t.Fatalf("after run -d the container is %q, want running", strings.TrimSpace(got))
	}
	if got := p.run("exec", id, "echo", "from exec"); got != "from exec\n" {
		t.Errorf("podman exec echo: stdout %q", got)
	}
	if r := p.try("exec", id, "sh", "-c", "exit 5"); r.Status != 5 {
		t.Errorf("podman exec exit 5: %s", r)
	}
	// The exec'ed ps sees the container's first process and itself.
	if got := p.run("exec", id, "ps", "-o", "args"); !strings.Contains(got, "sleep 1000") {
		t.Errorf("podman exec ps: %q does not show the container's sleep", got)
	}
	p.run("stop", "--time", "2", id)
	if got := p.run("inspect", "--format", "{{.State.Status}}", id); strings.TrimSpace(got) != "exited" {
		t.Errorf("after stop the container is %q, want exited", strings.TrimSpace(got))
	}
	p.run("rm", id)
	p.w.requireCalled("create --bundle --pid-file", "start", "exec --detach --pid-file --process", "kill 15", "delete --force")
}

// TestPodmanInteractive runs `podman run -it` and `podman exec -it` in a
// terminal, as a person would: the container's shell has a terminal of its
// own, reads what is typed, and its exit status is podman's.
func TestPodmanInteractive(t *testing.T) {
	p := newPodman(t)
	shellSession(t, p.env, p.w.dir, p.argv("run", "-it", "--rm", "--env", "PS1=bz$ ", p.image, "sh"), 7)
	p.w.requireCalled("create --bundle --console-socket --pid-file", "start", "delete --force")

	id := strings.TrimSpace(p.run("run", "-d", p.image, "sleep", "1000"))
	shellSession(t, p.env, p.w.dir, p.argv("exec", "-it", "--env", "PS1=bz$ ", id, "sh"), 4)
	p.run("rm", "--force", "--time", "0", id)
	p.w.requireCalled("exec --console-socket --detach --pid-file --process --tty")
}
