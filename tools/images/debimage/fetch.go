package debimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ErrUnavailable wraps failures to get packages from Debian's archive (no
// network, no apt lists, a pinned version no longer published), as opposed
// to a wrong build: callers such as tests may skip on it.
var ErrUnavailable = errors.New("packages unavailable from Debian's archive")

// CacheDir is where downloaded .debs and built images are kept:
// $BZ_IMAGES_CACHE if set, else bufferzone/images under the user cache
// directory (~/.cache).
func CacheDir() string {
	if d := os.Getenv("BZ_IMAGES_CACHE"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "bufferzone", "images")
}

// debPath is where the .deb whose SHA-256 is sum is cached.
func debPath(sum string) string { return filepath.Join(CacheDir(), "debs", sum+".deb") }

// Fetch makes sure every package of l is in the cache with its pinned
// SHA-256, downloading the missing ones with one `apt-get download`, and
// returns their paths in l's order. A download that does not match its pin
// is an error (and is not kept).
func Fetch(ctx context.Context, l *List, logf func(string, ...any)) ([]string, error) {
	var missing []Package
	paths := make([]string, len(l.Packages))
	for i, p := range l.Packages {
		paths[i] = debPath(p.SHA256)
		if _, err := os.Stat(paths[i]); err != nil {
			missing = append(missing, p)
		}
	}
	if len(missing) == 0 {
		return paths, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return nil, fmt.Errorf("%w: %d packages to download and no apt-get: %v", ErrUnavailable, len(missing), err)
	}
	if err := os.MkdirAll(filepath.Join(CacheDir(), "debs"), 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(filepath.Join(CacheDir(), "debs"), "download-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	logf("downloading %d packages", len(missing))
	args := []string{"download"}
	for _, p := range missing {
		args = append(args, p.Name+"="+p.Version)
	}
	cmd := commandIn(ctx, tmp, "apt-get", args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("%w: apt-get download: %v\n%s\n(if a pinned version is no longer published, re-pin with `go run ./tools/images pin DIR`; apt-get update may be needed first)",
			ErrUnavailable, err, lastLines(string(out), 15))
	}
	entries, err := os.ReadDir(tmp)
	if err != nil {
		return nil, err
	}
	got := map[string]string{} // sha256 -> downloaded file
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".deb") {
			continue
		}
		sum, err := fileSHA256(filepath.Join(tmp, e.Name()))
		if err != nil {
			return nil, err
		}
		got[sum] = filepath.Join(tmp, e.Name())
	}
	for _, p := range missing {
		f, ok := got[p.SHA256]
		if !ok {
			return nil, fmt.Errorf("%s=%s: no downloaded .deb has the pinned SHA-256 %s (downloaded: %v)", p.Name, p.Version, p.SHA256, entryNames(entries))
		}
		if err := os.Rename(f, debPath(p.SHA256)); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func entryNames(es []os.DirEntry) []string {
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return n
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
