package clients

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"bufferzone.dev/test/e2e/runsctest"
)

// docker is Debian's dockerd (docker.io), configured as this kind of
// machine needs (vfs storage, no iptables, no bridge, cgroupfs) with a
// "runsc" entry in "runtimes", its data, state, sockets and trust key in a
// world's directory; it starts its own containerd there.
type docker struct {
	w     *world
	cli   string
	env   []string
	image string
}

// newDocker starts a private dockerd and imports the test image from a
// rootfs tarball.
func newDocker(t *testing.T) *docker {
	t.Helper()
	dockerd := lookPath(t, "/usr/sbin/dockerd", "docker.io")
	// Not "docker" from PATH: only Debian's client is known to match the
	// daemon.
	cli := lookPath(t, "/usr/bin/docker", "docker.io")
	lookPath(t, "/usr/bin/containerd", "containerd")
	w := newWorld(t)
	d := &docker{w: w, cli: cli, image: "bz-busybox:test"}
	sock := w.path("docker.sock")
	config := map[string]any{
		"storage-driver":      "vfs",
		"iptables":            false,
		"ip6tables":           false,
		"bridge":              "none",
		"exec-opts":           []string{"native.cgroupdriver=cgroupfs"},
		"data-root":           w.path("data"),
		"exec-root":           w.path("exec"),
		"pidfile":             w.path("docker.pid"),
		"hosts":               []string{"unix://" + sock},
		"deprecated-key-path": w.path("key.json"),
		"runtimes": map[string]any{
			"runsc": map[string]any{"path": w.runsc, "runtimeArgs": []string{"--platform=ptrace"}},
		},
	}
	data, err := json.MarshalIndent(config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w.path("daemon.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	d.env = env("DOCKER_HOST=unix://"+sock, "DOCKER_CONFIG="+w.path("client"))
	w.startDaemon(w.daemonEnv(), "dockerd.log", "API listen on", dockerd, "--config-file", w.path("daemon.json"))
	// Runs before the daemon is stopped.
	t.Cleanup(func() {
		for _, id := range strings.Fields(string(d.try("ps", "--all", "--quiet").Stdout)) {
			if r := d.try("rm", "--force", id); r.Status != 0 {
				t.Errorf("docker rm --force %s: %s", id, r)
			}
		}
		if r := d.try("rmi", "--force", d.image); r.Status != 0 {
			t.Errorf("docker rmi: %s", r)
		}
	})
	d.run("import", w.rootfsTar(), d.image)
	return d
}

func (d *docker) argv(args ...string) []string { return append([]string{d.cli}, args...) }

// run runs the docker client with args, requires exit status 0 and
// returns stdout.
func (d *docker) run(args ...string) string {
	d.w.t.Helper()
	return d.w.run(d.env, d.argv(args...)...)
}

func (d *docker) try(args ...string) runsctest.Result {
	d.w.t.Helper()
	return d.w.try(d.env, d.argv(args...)...)
}

// TestDockerRunRm runs `docker run --rm --runtime=runsc`: output and exit
// status come back, and the runtimeArgs come first in every runsc call.
func TestDockerRunRm(t *testing.T) {
	d := newDocker(t)
	if got := d.run("run", "--rm", "--runtime=runsc", d.image, "echo", "hello from runsc"); got != "hello from runsc\n" {
		t.Errorf("docker run echo: stdout %q", got)
	}
	if r := d.try("run", "--rm", "--runtime=runsc", d.image, "sh", "-c", "exit 3"); r.Status != 3 {
		t.Errorf("docker run exit 3: %s", r)
	}
	d.w.requireCalled("create --bundle --pid-file", "start", "delete")
	for _, line := range strings.Split(strings.TrimSpace(d.w.calls()), "\n") {
		if !strings.HasPrefix(line, "--platform=ptrace --root ") {
			t.Errorf("runsc called without the runtimeArgs first: %s", line)
		}
	}
}

// TestDockerDetachedExecStop starts a container with `docker run -d`, runs
// commands in it with `docker exec`, and stops it.
func TestDockerDetachedExecStop(t *testing.T) {
	d := newDocker(t)
	id := strings.TrimSpace(d.run("run", "-d", "--runtime=runsc", d.image, "sleep", "1000"))
	if got := strings.TrimSpace(d.run("inspect", "--format", "{{.State.Status}}", id)); got != "running" {
		t.Fatalf("after run -d the container is %q, want running", got)
	}
	if got := d.run("exec", id, "echo", "from exec"); got != "from exec\n" {
		t.Errorf("docker exec echo: stdout %q", got)
	}
	if r := d.try("exec", id, "sh", "-c", "exit 5"); r.Status != 5 {
		t.Errorf("docker exec exit 5: %s", r)
	}
	d.run("stop", "--time", "2", id)
	if got := strings.TrimSpace(d.run("inspect", "--format", "{{.State.Status}}", id)); got != "exited" {
		t.Errorf("after stop the container is %q, want exited", got)
	}
	d.run("rm", id)
	d.w.requireCalled("create --bundle --pid-file", "start", "exec --detach --pid-file --process", "kill 15", "delete")
}

// TestDockerInteractive runs `docker run -it` and `docker exec -it` in a
// terminal.
func TestDockerInteractive(t *testing.T) {
	d := newDocker(t)
	shellSession(t, d.env, d.w.dir, d.argv("run", "-it", "--rm", "--runtime=runsc", "--env", "PS1=bz$ ", d.image, "sh"), 7)
	d.w.requireCalled("create --bundle --console-socket --pid-file", "start", "delete")

	id := strings.TrimSpace(d.run("run", "-d", "--runtime=runsc", d.image, "sleep", "1000"))
	shellSession(t, d.env, d.w.dir, d.argv("exec", "-it", "--env", "PS1=bz$ ", id, "sh"), 4)
	d.run("rm", "--force", id)
	d.w.requireCalled("exec --console-socket --detach --pid-file --process")
}
