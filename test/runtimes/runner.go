// Package runtimes runs real programs from the test images of images/
// (busybox, Python, PostgreSQL) in the sandbox and natively, chrooted in
// the same root file system, and compares what they print and how they
// exit. See README.md for what runs where.
package runtimes

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"bufferzone.dev/test/e2e/runsctest"
	"bufferzone.dev/tools/images/debimage"
)

// Image is a built test image.
type Image struct {
	Name   string
	Rootfs string
	Config *debimage.Config
}

var (
	imagesMu sync.Mutex
	images   = map[string]*imageResult{}
)

type imageResult struct {
	once sync.Once
	img  *Image
	err  error
}

// repoDir is the repository's root.
func repoDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// RequireImage returns images/NAME built (once per cache key, kept under
// debimage.CacheDir). It skips t when the packages cannot be had (no
// network to Debian, no apt-get) and when not running as root (chroot and
// file ownership need it); any other build failure fails t.
func RequireImage(t testing.TB, name string) *Image {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("runtime tests need root: images keep file owners, and the native runs use chroot")
	}
	imagesMu.Lock()
	r, ok := images[name]
	if !ok {
		r = &imageResult{}
		images[name] = r
	}
	imagesMu.Unlock()
	r.once.Do(func() {
		dir := filepath.Join(repoDir(), "images", name)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		start := time.Now()
		root, err := debimage.Cached(ctx, dir, t.Logf)
		if err != nil {
			r.err = err
			return
		}
		cfg, err := debimage.ReadConfig(dir)
		if err != nil {
			r.err = err
			return
		}
		t.Logf("image %s: %s (%v)", name, root, time.Since(start).Round(time.Millisecond))
		r.img = &Image{Name: name, Rootfs: root, Config: cfg}
	})
	if errors.Is(r.err, debimage.ErrUnavailable) {
		t.Skipf("cannot build image %s: %v", name, r.err)
	}
	if r.err != nil {
		t.Fatalf("building image %s: %v", name, r.err)
	}
	return r.img
}

// Env is the image's environment (image.json), for both native and
// sandboxed runs.
func (img *Image) Env() []string {
	return append([]string{"HOME=/tmp"}, img.Config.Env...)
}

// UID returns the uid:gid of the image's user called name.
func (img *Image) UID(t testing.TB, name string) string {
	for _, u := range img.Config.Users {
		if u.Name == name {
			return fmt.Sprintf("%d:%d", u.UID, u.GID)
		}
	}
	t.Fatalf("image %s has no user %s", img.Name, name)
	return ""
}

// nativeScript runs "$@" chrooted, as user $2, in an overlay of the root
// file system $1 with an in-memory upper layer in $3 (as the sandbox's
// default --overlay=memory does), with /proc and the host's /dev. It runs
// in a mount namespace of its own, so every mount vanishes with it.
const nativeScript = `set -e
root=$1; user=$2; t=$3; shift 3
/usr/bin/mount -t tmpfs tmpfs "$t"
/usr/bin/mkdir "$t/u" "$t/w" "$t/m"
/usr/bin/mount -t overlay overlay -o "lowerdir=$root,upperdir=$t/u,workdir=$t/w" "$t/m"
/usr/bin/mount -t proc proc "$t/m/proc"
/usr/bin/mount --rbind /dev "$t/m/dev"
exec /usr/sbin/chroot --userspec="$user" "$t/m" "$@"
`

// Run is one program run, natively or in the sandbox.
type Run struct {
	Image *Image
	// User is "uid:gid" ("0:0" if empty).
	User string
	Argv []string
	// Timeout bounds the run (runsctest.DefaultTimeout if zero).
	Timeout time.Duration
}

// Native runs r chrooted into the image (see nativeScript).
func (r Run) Native(t testing.TB) runsctest.Result {
	t.Helper()
	user := r.User
	if user == "" {
		user = "0:0"
	}
	argv := append([]string{"/usr/bin/unshare", "--mount", "--propagation", "private",
		"/bin/sh", "-c", nativeScript, "sh", r.Image.Rootfs, user, t.TempDir()}, r.Argv...)
	return r.run(argv)
}

// Sandbox runs r with `runsc do --rootfs` on platform, with a debug log in
// logDir whose unimplemented system calls Unimplemented reports.
func (r Run) Sandbox(t testing.TB, platform, logDir string, extraGlobal ...string) runsctest.Result {
	t.Helper()
	global := runsctest.RequirePlatform(t, platform)
	global = append(global, "--debug-log="+logDir+"/")
	global = append(global, extraGlobal...)
	user := r.User
	if user == "" {
		user = "0:0"
	}
	doFlags := []string{"--rootfs", r.Image.Rootfs, "--cwd", "/", "--user", user}
	return r.run(runsctest.DoArgv(runsctest.RequireDo(t), global, doFlags, r.Argv))
}

func (r Run) run(argv []string) runsctest.Result {
	timeout := r.Timeout
	if timeout == 0 {
		timeout = runsctest.DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return runsctest.Run(ctx, runsctest.Command{Argv: argv, Env: r.Image.Env()})
}

var unimplementedRE = regexp.MustCompile(`unimplemented system call ([a-z_0-9]+)`)

// Unimplemented lists the system calls that the Sentry logged as
// unimplemented in the debug logs under dir, sorted, each once.
func Unimplemented(dir string) []string {
	seen := map[string]bool{}
	files, _ := filepath.Glob(filepath.Join(dir, "*"))
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			if m := unimplementedRE.FindStringSubmatch(sc.Text()); m != nil {
				seen[m[1]] = true
			}
		}
		fh.Close()
	}
	var out []string
	for s := range seen {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// Known is an entry of KnownFailures.
type Known struct {
	// Reason says what fails in the sandbox (system calls, errnos).
	Reason string
	// Platforms limits the entry to these platforms; empty means all.
	Platforms []string
}

// knownFor returns the KnownFailures entry for key on platform.
func knownFor(key, platform string) (Known, bool) {
	k, ok := KnownFailures[key]
	if !ok {
		return Known{}, false
	}
	if len(k.Platforms) == 0 {
		return k, true
	}
	for _, p := range k.Platforms {
		if p == platform {
			return k, true
		}
	}
	return Known{}, false
}

// Compare runs r natively and in the sandbox on platform and fails t
// unless both exit with the same status and print the same stdout (stderr
// is logged, not compared: messages carry program names and pids). A case
// listed in KnownFailures is skipped when it fails and fails the test when
// it passes, so that the list only shrinks. It returns the sandbox's result.
func Compare(t *testing.T, key, platform string, r Run) runsctest.Result {
	t.Helper()
	runsctest.RequirePlatform(t, platform) // skip before the native run
	native := r.Native(t)
	if native.Status != 0 && native.Err != nil || native.TimedOut {
		t.Fatalf("native run of %q failed to run: %v", r.Argv, native)
	}
	logDir := t.TempDir()
	var extra []string
	if d := os.Getenv("BZ_RUNTIMES_STRACE_DIR"); d != "" {
		// Keep an strace of every sandboxed run, one folder per test.
		logDir = filepath.Join(d, strings.ReplaceAll(t.Name(), "/", "_"))
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			t.Fatal(err)
		}
		extra = append(extra, "--strace")
	}
	got := r.Sandbox(t, platform, logDir, extra...)
	if u := Unimplemented(logDir); len(u) > 0 {
		t.Logf("unimplemented system calls: %s", strings.Join(u, " "))
	}
	var diffs []string
	if got.Status != native.Status {
		diffs = append(diffs, fmt.Sprintf("status: sandbox %d, native %d", got.Status, native.Status))
	}
	if string(got.Stdout) != string(native.Stdout) {
		diffs = append(diffs, fmt.Sprintf("stdout differs:\n--- sandbox ---\n%s\n--- native ---\n%s", got.Stdout, native.Stdout))
	}
	known, isKnown := knownFor(key, platform)
	switch {
	case len(diffs) == 0 && isKnown:
		t.Errorf("%s passes on %s: remove it from KnownFailures (%s)", key, platform, known.Reason)
	case len(diffs) == 0:
	case isKnown:
		t.Skipf("known failure: %s\n%s\nsandbox stderr:\n%s", known.Reason, strings.Join(diffs, "\n"), tail(got.Stderr))
	default:
		t.Errorf("%s on %s:\n%s\nsandbox stderr:\n%s\nnative stderr:\n%s", key, platform,
			strings.Join(diffs, "\n"), tail(got.Stderr), tail(native.Stderr))
	}
	return got
}

func tail(b []byte) string {
	const max = 3000
	if len(b) > max {
		return "…" + string(b[len(b)-max:])
	}
	return string(b)
}

// platforms lists the platforms to run on: runsctest.Platforms(), or
// $BZ_RUNTIMES_PLATFORMS (comma-separated) if set.
func platforms() []string {
	if s := os.Getenv("BZ_RUNTIMES_PLATFORMS"); s != "" {
		return strings.Split(s, ",")
	}
	return runsctest.Platforms()
}

// Enabled reports whether the long runs (pgbench) were asked for with
// BZ_RUNTIMES=1.
func Enabled() bool {
	v, _ := strconv.ParseBool(os.Getenv("BZ_RUNTIMES"))
	return v
}
