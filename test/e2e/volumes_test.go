package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"bufferzone.dev/test/e2e/runsctest"
)

// Bind mounts of host paths: `runsc do --volume` and an OCI bundle's bind
// mounts, each served by the Gofer on a connection of its own.

// doVolume runs `runsc do` with doFlags and argv and returns the result.
func doVolume(t *testing.T, doFlags []string, argv ...string) runsctest.Result {
	t.Helper()
	runsc := runsctest.RequireDo(t)
	return runsctest.Run(ctx(t), runsctest.Command{
		Argv: runsctest.DoArgv(runsc, nil, doFlags, argv),
		Env:  baseEnv,
	})
}

func TestVolumeDir(t *testing.T) {
	dir := runsctest.SharedDir(t)
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := []string{"--volume", dir + ":/mnt/x"}

	r := doVolume(t, vol, "cat", "/mnt/x/file")
	if r.Status != 0 || string(r.Stdout) != "from the host\n" {
		t.Fatalf("cat of a volume's file: %s", r)
	}

	// Writes go through to the host, whatever the root's overlay is.
	r = doVolume(t, vol, "/bin/sh", "-c", "echo written > /mnt/x/new && mkdir /mnt/x/sub && echo appended >> /mnt/x/file")
	if r.Status != 0 {
		t.Fatalf("writing to a volume: %s", r)
	}
	if got, err := os.ReadFile(filepath.Join(dir, "new")); err != nil || string(got) != "written\n" {
		t.Errorf("host sees new = %q, %v; want %q", got, err, "written\n")
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "file")); string(got) != "from the host\nappended\n" {
		t.Errorf("host sees file = %q", got)
	}
	if st, err := os.Stat(filepath.Join(dir, "sub")); err != nil || !st.IsDir() {
		t.Errorf("host sees no directory sub: %v", err)
	}

	// The host's changes are seen in the sandbox too.
	r = doVolume(t, vol, "ls", "/mnt/x")
	if r.Status != 0 || string(r.Stdout) != "file\nnew\nsub\n" {
		t.Errorf("ls of the volume: %s", r)
	}
}

func TestVolumeReadOnly(t *testing.T) {
	dir := runsctest.SharedDir(t)
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("ro\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vol := []string{"--volume", dir + ":/mnt/x:ro"}
	r := doVolume(t, vol, "cat", "/mnt/x/file")
	if r.Status != 0 || string(r.Stdout) != "ro\n" {
		t.Fatalf("cat of a read-only volume's file: %s", r)
	}
	for _, script := range []string{"echo x > /mnt/x/new", "echo x >> /mnt/x/file", "mkdir /mnt/x/d", "rm /mnt/x/file"} {
		r := doVolume(t, vol, "/bin/sh", "-c", script)
		if r.Status == 0 || !strings.Contains(string(r.Stderr), "Read-only file system") {
			t.Errorf("%q on a read-only volume: %s; want EROFS", script, r)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("read-only volume changed on the host: %v", ents)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "file")); string(got) != "ro\n" {
		t.Errorf("read-only volume's file changed on the host: %q", got)
	}
}

func TestVolumeFile(t *testing.T) {
	dir := runsctest.SharedDir(t)
	f := filepath.Join(dir, "hostname")
	if err := os.WriteFile(f, []byte("volume-host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := doVolume(t, []string{"--volume", f + ":/etc/hostname"}, "cat", "/etc/hostname")
	if r.Status != 0 || string(r.Stdout) != "volume-host\n" {
		t.Fatalf("cat /etc/hostname over a file bind: %s", r)
	}
	r = doVolume(t, []string{"--volume", f + ":/etc/hostname"}, "/bin/sh", "-c", "echo changed > /etc/hostname")
	if r.Status != 0 {
		t.Fatalf("writing a file bind: %s", r)
	}
	if got, _ := os.ReadFile(f); string(got) != "changed\n" {
		t.Errorf("host file after a write through its bind: %q", got)
	}
	r = doVolume(t, []string{"--volume", f + ":/etc/hostname:ro"}, "/bin/sh", "-c", "echo again > /etc/hostname")
	if r.Status == 0 || !strings.Contains(string(r.Stderr), "Read-only file system") {
		t.Errorf("writing a read-only file bind: %s; want EROFS", r)
	}
	// A file cannot go over a directory, as in Linux.
	r = doVolume(t, []string{"--volume", f + ":/etc"}, "true")
	if r.Status == 0 {
		t.Errorf("a file bound over /etc: %s; want an error", r)
	}
}

func TestVolumeMissingSource(t *testing.T) {
	dir := runsctest.SharedDir(t)
	r := doVolume(t, []string{"--volume", filepath.Join(dir, "nope") + ":/mnt/x"}, "true")
	if r.Status == 0 || !strings.Contains(string(r.Stderr), "no such file or directory") {
		t.Errorf("a volume of a missing path: %s; want an error", r)
	}
}

func TestOCIBindMounts(t *testing.T) {
	e := newOCIEnv(t, "/bin/sh", "-c", "cat /data/file /etc/hostname; echo from-sandbox > /data/out")
	dir := runsctest.SharedDir(t)
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte("bound dir\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hn := filepath.Join(runsctest.SharedDir(t), "hostname")
	if err := os.WriteFile(hn, []byte("bound file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(e.bundle, "rootfs", "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.bundle, "rootfs", "etc", "hostname"), []byte("image\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.editSpec(func(s *specs.Spec) {
		s.Mounts = append(s.Mounts,
			specs.Mount{Destination: "/data", Type: "bind", Source: dir, Options: []string{"rbind", "rw"}},
			// As Docker passes /etc/hostname: no type, the bind option.
			specs.Mount{Destination: "/etc/hostname", Source: hn, Options: []string{"rbind", "rprivate", "ro"}},
		)
	})
	out, code := e.run("run", "--bundle", e.bundle, "binds")
	if code != 0 || out != "bound dir\nbound file\n" {
		t.Fatalf("run with bind mounts: exit %d, output %q", code, out)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out")); string(got) != "from-sandbox\n" {
		t.Errorf("host sees out = %q, want the sandbox's write", got)
	}
}
