package debimage

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// ConfigFile is the optional image description in an image folder.
const ConfigFile = "image.json"

// Config is image.json: how the image is run, and the fix-ups that Debian's
// maintainer scripts would have made (they are never run).
type Config struct {
	// Entrypoint, Cmd, Env, WorkingDir and User go to the OCI image config.
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
	User       string   `json:"user,omitempty"`
	// Users are added to /etc/passwd and /etc/group (each with a group of
	// its own name and GID), besides root and nobody.
	Users []User `json:"users,omitempty"`
	// Dirs are created (or changed) after the packages are unpacked.
	Dirs []Dir `json:"dirs,omitempty"`
	// Symlinks maps a path in the image to a symlink target.
	Symlinks map[string]string `json:"symlinks,omitempty"`
}

// User is one account of the image.
type User struct {
	Name  string `json:"name"`
	UID   int    `json:"uid"`
	GID   int    `json:"gid"`
	Home  string `json:"home"`
	Shell string `json:"shell,omitempty"`
}

// Dir is one directory that the image must have.
type Dir struct {
	Path string `json:"path"`
	// Mode is octal, for example "1777" or "2775"; "0755" if empty.
	Mode string `json:"mode,omitempty"`
	UID  int    `json:"uid"`
	GID  int    `json:"gid"`
}

// ReadConfig reads imageDir/image.json; a missing file is an empty Config.
func ReadConfig(imageDir string) (*Config, error) {
	c := &Config{}
	data, err := os.ReadFile(filepath.Join(imageDir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(imageDir, ConfigFile), err)
	}
	return c, nil
}

// epoch is the modification time given to files the builder writes itself,
// and to every entry of the OCI layer.
var epoch = time.Unix(0, 0)

// builderVersion changes whenever Build would produce a different tree from
// the same inputs, so that cached images are rebuilt.
const builderVersion = "2"

// Build makes a root file system in out (which must not exist or be empty)
// from the image folder imageDir: it fetches the pinned packages, unpacks
// each one's data with `dpkg-deb --fsys-tarfile` (no maintainer scripts),
// lays out the merged /usr (/bin, /sbin, /lib, /lib64 are symlinks into
// /usr, as on Debian 12) and applies the fix-ups (see Config). It refreshes
// /etc/ld.so.cache with `ldconfig -r` when the image has shared libraries.
func Build(ctx context.Context, imageDir, out string, logf func(string, ...any)) error {
	l, err := ReadList(imageDir)
	if err != nil {
		return err
	}
	cfg, err := ReadConfig(imageDir)
	if err != nil {
		return err
	}
	debs, err := Fetch(ctx, l, logf)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if ents, err := os.ReadDir(out); err != nil {
		return err
	} else if len(ents) > 0 {
		return fmt.Errorf("%s is not empty", out)
	}
	for _, d := range []string{"usr/bin", "usr/sbin", "usr/lib", "usr/lib64"} {
		if err := os.MkdirAll(filepath.Join(out, d), 0o755); err != nil {
			return err
		}
	}
	for _, l := range []string{"bin", "sbin", "lib", "lib64"} {
		if err := os.Symlink("usr/"+l, filepath.Join(out, l)); err != nil {
			return err
		}
	}
	for i, deb := range debs {
		if err := unpackDeb(ctx, deb, out); err != nil {
			return fmt.Errorf("%s: %w", l.Packages[i].Name, err)
		}
	}
	logf("unpacked %d packages into %s", len(debs), out)
	return fixUp(ctx, out, cfg, logf)
}

// unpackDeb extracts the data of one .deb into root.
func unpackDeb(ctx context.Context, deb, root string) error {
	cmd := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	r, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	xerr := extract(root, tar.NewReader(r))
	io.Copy(io.Discard, r)
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("dpkg-deb --fsys-tarfile %s: %v: %s", deb, err, stderr.String())
	}
	return xerr
}

// extract writes the entries of a package's data tar into root. Symlinks
// already in root (such as /bin -> usr/bin) are followed within root, never
// out of it.
func extract(root string, tr *tar.Reader) error {
	asRoot := os.Geteuid() == 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		rel := path.Clean("/" + h.Name)
		if rel == "/" {
			continue
		}
		parent, err := resolveIn(root, path.Dir(rel))
		if err != nil {
			return err
		}
		if err := os.MkdirAll(parent, 0o755); err != nil {
			return err
		}
		target := filepath.Join(parent, path.Base(rel))
		mode := uint32(h.Mode) & 0o7777
		switch h.Typeflag {
		case tar.TypeDir:
			resolved, err := resolveIn(root, rel)
			if err != nil {
				return err
			}
			if fi, err := os.Stat(resolved); err == nil && fi.IsDir() {
				if resolved == target {
					if err := setAttrs(target, h, mode, asRoot); err != nil {
						return err
					}
				}
				continue
			}
			os.Remove(target)
			if err := os.Mkdir(target, 0o755); err != nil {
				return err
			}
			if err := setAttrs(target, h, mode, asRoot); err != nil {
				return err
			}
		case tar.TypeReg:
			removeNonDir(target)
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
			if err := setAttrs(target, h, mode, asRoot); err != nil {
				return err
			}
		case tar.TypeSymlink:
			removeNonDir(target)
			if err := os.Symlink(h.Linkname, target); err != nil {
				return err
			}
			if asRoot {
				os.Lchown(target, h.Uid, h.Gid)
			}
		case tar.TypeLink:
			src, err := resolveIn(root, path.Clean("/"+h.Linkname))
			if err != nil {
				return err
			}
			removeNonDir(target)
			if err := os.Link(src, target); err != nil {
				return err
			}
		default:
			// Devices, FIFOs: Debian packages do not ship them.
		}
	}
}

func removeNonDir(p string) {
	if fi, err := os.Lstat(p); err == nil && !fi.IsDir() {
		os.Remove(p)
	}
}

// setAttrs gives p the owner (when running as root), mode and mtime of h.
// The mode is set after chown, which clears set-user-ID bits.
func setAttrs(p string, h *tar.Header, mode uint32, asRoot bool) error {
	if asRoot {
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			return err
		}
	}
	if err := syscall.Chmod(p, mode); err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	return os.Chtimes(p, h.ModTime, h.ModTime)
}

// resolveIn returns the host path of rel inside root, following symlinks
// as if root were "/": absolute targets and ".." stay inside root. A
// missing component ends the resolution (the rest is appended as is).
func resolveIn(root, rel string) (string, error) {
	parts := splitPath(rel)
	cur := "/"
	hops := 0
	for len(parts) > 0 {
		c := parts[0]
		parts = parts[1:]
		if c == ".." {
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(filepath.Join(root, next))
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", rel)
		}
		t, err := os.Readlink(filepath.Join(root, next))
		if err != nil {
			return "", err
		}
		if !path.IsAbs(t) {
			t = path.Join(cur, t)
		}
		parts = append(splitPath(t), parts...)
		cur = "/"
	}
	return filepath.Join(root, cur), nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			out = append(out, c)
		}
	}
	return out
}

// fixUp does what the image needs beyond its packages' files: accounts,
// directories, symlinks, /bin/sh and the dynamic linker's cache.
func fixUp(ctx context.Context, root string, cfg *Config, logf func(string, ...any)) error {
	for _, d := range []struct {
		path string
		mode uint32
	}{{"tmp", 0o1777}, {"dev", 0o755}, {"proc", 0o555}, {"sys", 0o555}, {"root", 0o700}, {"etc", 0o755}, {"var/tmp", 0o1777}} {
		if err := mkdirMode(root, d.path, d.mode, 0, 0); err != nil {
			return err
		}
	}
	passwd := []string{"root:x:0:0:root:/root:/bin/sh"}
	group := []string{"root:x:0:"}
	for _, u := range cfg.Users {
		shell := u.Shell
		if shell == "" {
			shell = "/bin/sh"
		}
		passwd = append(passwd, fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", u.Name, u.UID, u.GID, u.Name, u.Home, shell))
		group = append(group, fmt.Sprintf("%s:x:%d:", u.Name, u.GID))
		if u.Home != "" {
			if err := mkdirMode(root, u.Home, 0o755, u.UID, u.GID); err != nil {
				return err
			}
		}
	}
	passwd = append(passwd, "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin")
	group = append(group, "nogroup:x:65534:")
	files := map[string]string{
		"etc/passwd":        strings.Join(passwd, "\n") + "\n",
		"etc/group":         strings.Join(group, "\n") + "\n",
		"etc/hosts":         "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
		"etc/nsswitch.conf": "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n",
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := writeFile(root, n, files[n]); err != nil {
			return err
		}
	}
	for _, d := range cfg.Dirs {
		mode := uint64(0o755)
		if d.Mode != "" {
			if _, err := fmt.Sscanf(d.Mode, "%o", &mode); err != nil {
				return fmt.Errorf("dir %s: mode %q: %v", d.Path, d.Mode, err)
			}
		}
		if err := mkdirMode(root, d.Path, uint32(mode), d.UID, d.GID); err != nil {
			return err
		}
	}
	links := make([]string, 0, len(cfg.Symlinks))
	for l := range cfg.Symlinks {
		links = append(links, l)
	}
	sort.Strings(links)
	for _, l := range links {
		p, err := resolveIn(root, path.Dir(path.Clean("/"+l)))
		if err != nil {
			return err
		}
		p = filepath.Join(p, path.Base(l))
		removeNonDir(p)
		if err := os.Symlink(cfg.Symlinks[l], p); err != nil {
			return err
		}
	}
	// tzdata's maintainer script links /etc/localtime; without it glibc
	// looks for the file on every localtime() call.
	if utc, _ := resolveIn(root, "/usr/share/zoneinfo/Etc/UTC"); exists(utc) {
		if lt, _ := resolveIn(root, "/etc/localtime"); !exists(lt) {
			removeNonDir(lt)
			if err := os.Symlink("/usr/share/zoneinfo/Etc/UTC", lt); err != nil {
				return err
			}
			if err := writeFile(root, "etc/timezone", "Etc/UTC\n"); err != nil {
				return err
			}
		}
	}
	// dash's maintainer script makes /bin/sh; without dash, busybox is sh.
	if sh, _ := resolveIn(root, "/usr/bin/sh"); !exists(sh) {
		for _, cand := range []string{"dash", "bash", "busybox"} {
			if p, _ := resolveIn(root, "/usr/bin/"+cand); exists(p) {
				if err := os.Symlink(cand, filepath.Join(root, "usr/bin/sh")); err != nil {
					return err
				}
				break
			}
		}
	}
	if libc, _ := resolveIn(root, "/usr/lib/x86_64-linux-gnu/libc.so.6"); exists(libc) {
		if out, err := exec.CommandContext(ctx, "ldconfig", "-r", root).CombinedOutput(); err != nil {
			logf("warning: ldconfig -r %s: %v: %s (programs still find libraries in the default directories)", root, err, out)
		}
	}
	return nil
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// mkdirMode makes rel (and missing parents, 0755 root) inside root and gives
// it mode and owner.
func mkdirMode(root, rel string, mode uint32, uid, gid int) error {
	p, err := resolveIn(root, rel)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(p, 0o755); err != nil {
		return err
	}
	if os.Geteuid() == 0 {
		if err := os.Lchown(p, uid, gid); err != nil {
			return err
		}
	}
	return syscall.Chmod(p, mode)
}

func writeFile(root, rel, content string) error {
	p, err := resolveIn(root, rel)
	if err != nil {
		return err
	}
	removeNonDir(p)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Chtimes(p, epoch, epoch)
}

// Key identifies what an image folder builds: the SHA-256 of its package
// list, its image.json and the builder's version.
func Key(imageDir string) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "builder %s\n", builderVersion)
	for _, f := range []string{PackagesFile, ConfigFile} {
		data, err := os.ReadFile(filepath.Join(imageDir, f))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", f, len(data))
		h.Write(data)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Cached returns a root file system built from imageDir, building it
// under CacheDir the first time (or when the folder's inputs change). It is
// safe for concurrent callers in different processes: each builds into a
// private directory and the first rename wins.
func Cached(ctx context.Context, imageDir string, logf func(string, ...any)) (string, error) {
	key, err := Key(imageDir)
	if err != nil {
		return "", err
	}
	abs, err := filepath.Abs(imageDir)
	if err != nil {
		return "", err
	}
	dir := filepath.Join(CacheDir(), "rootfs")
	final := filepath.Join(dir, filepath.Base(abs)+"-"+key[:16])
	if exists(final) {
		return final, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, ".build-")
	if err != nil {
		return "", err
	}
	// The tree must be reachable by the image's unprivileged users.
	os.Chmod(tmp, 0o755)
	if err := Build(ctx, imageDir, tmp, logf); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		if exists(final) {
			return final, nil
		}
		return "", err
	}
	return final, nil
}
