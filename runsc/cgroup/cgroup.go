// Package cgroup puts a sandbox's host processes (the Sentry with its stub
// processes, and the Gofer) in a cgroup of their own and applies the OCI
// spec's linux.resources to it, on cgroup v1 (one hierarchy per
// controller) or cgroup v2 (the unified hierarchy). It also freezes and
// thaws that cgroup (runsc pause and resume), reads its statistics (runsc
// events), changes its limits (runsc update) and removes it (runsc delete).
//
// Where a container's cgroup lives follows the runtime spec and runc:
// linux.cgroupsPath, if absolute, is relative to each hierarchy's root; if
// relative (or empty, which means the container ID), it is relative to
// runsc's own cgroup in that hierarchy. With --systemd-cgroup a path of the
// form "slice:prefix:name" names the systemd scope prefix-name.scope in
// that slice, and is mapped onto the cgroup file system directly (runsc
// does not talk to systemd).
//
// The spec's device rules (linux.resources.devices) are not put in a
// devices cgroup: they govern the container's devices, which the Sentry
// provides, and no host device is reachable from the sandbox anyway.
//
// Nothing here holds locks: a container's cgroup is changed only by the
// runsc command that holds the container's lock (runsc/container).
package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// Controllers are the v1 controllers a sandbox joins, where mounted; on v2
// the same controllers are enabled for its cgroup where available.
var Controllers = []string{"cpu", "cpuacct", "cpuset", "memory", "pids", "freezer", "blkio", "hugetlb"}

// v2Key is the key of the single directory of a v2 Cgroup in Dirs.
const v2Key = "unified"

// Hierarchy is one mounted cgroup hierarchy.
type Hierarchy struct {
	// Mount is where it is mounted.
	Mount string
	// Root is the cgroup mounted there ("/" unless the mount is of a
	// sub-cgroup or made in a cgroup namespace).
	Root string
	// Own is this process's cgroup in the hierarchy (/proc/self/cgroup).
	Own string
	// Controllers are the controllers bound to it.
	Controllers []string
}

// Mounts are the cgroup hierarchies this process sees.
type Mounts struct {
	// V1 maps each mounted v1 controller to its hierarchy.
	V1 map[string]Hierarchy
	// V2 is the unified hierarchy, or nil.
	V2 *Hierarchy
}

// Detect reads this process's cgroup mounts and memberships.
func Detect() (*Mounts, error) {
	mi, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	defer mi.Close()
	pc, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("reading own cgroups: %w", err)
	}
	defer pc.Close()
	m, err := parseMounts(mi, pc)
	if err != nil {
		return nil, err
	}
	if m.V2 != nil {
		data, err := os.ReadFile(filepath.Join(m.V2.Mount, "cgroup.controllers"))
		if err == nil {
			m.V2.Controllers = strings.Fields(string(data))
		}
	}
	return m, nil
}

// parseMounts builds Mounts from /proc/self/mountinfo and /proc/self/cgroup.
func parseMounts(mountinfo, procCgroup io.Reader) (*Mounts, error) {
	own := map[string]string{} // v1 controller or "" (v2) -> own cgroup
	sc := bufio.NewScanner(procCgroup)
	for sc.Scan() {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			own[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			own[c] = parts[2]
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading own cgroups: %w", err)
	}
	m := &Mounts{V1: map[string]Hierarchy{}}
	sc = bufio.NewScanner(mountinfo)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		left, right, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		lf, rf := strings.Fields(left), strings.Fields(right)
		if len(lf) < 5 || len(rf) < 3 {
			continue
		}
		root, mnt := unescape(lf[3]), unescape(lf[4])
		switch rf[0] {
		case "cgroup2":
			if m.V2 == nil {
				m.V2 = &Hierarchy{Mount: mnt, Root: root, Own: own[""]}
			}
		case "cgroup":
			var ctrls []string
			for _, o := range strings.Split(rf[2], ",") {
				if _, ok := own[o]; ok && !strings.HasPrefix(o, "name=") {
					ctrls = append(ctrls, o)
				}
			}
			for _, c := range ctrls {
				if _, dup := m.V1[c]; !dup {
					m.V1[c] = Hierarchy{Mount: mnt, Root: root, Own: own[c], Controllers: ctrls}
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading mounts: %w", err)
	}
	return m, nil
}

// unescape undoes mountinfo's octal escapes (\040 for a space, ...).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// UseV2 says whether containers get a v2 cgroup: when the unified
// hierarchy has the memory controller, or when no v1 hierarchy is mounted.
// On a hybrid system whose controllers are bound to v1 (as on this
// project's CI machine), v1 is used.
func (m *Mounts) UseV2() bool {
	if m.V2 == nil {
		return false
	}
	return len(m.V1) == 0 || contains(m.V2.Controllers, "memory")
}

// Path turns a spec's linux.cgroupsPath into a cgroup path: absolute
// (from each hierarchy's root) or relative (to runsc's own cgroup). An
// empty path is the container ID, relative. With systemd, a path
// "slice:prefix:name" is the scope prefix-name.scope under the slice
// (expanded as systemd does: a-b.slice is /a.slice/a-b.slice), and an
// empty path is "system.slice:runsc:ID".
func Path(cgroupsPath string, systemd bool, id string) (string, error) {
	if systemd && (cgroupsPath == "" || strings.Contains(cgroupsPath, ":")) {
		if cgroupsPath == "" {
			cgroupsPath = "system.slice:runsc:" + id
		}
		return systemdPath(cgroupsPath)
	}
	if cgroupsPath == "" {
		return id, nil
	}
	if strings.ContainsRune(cgroupsPath, 0) {
		return "", fmt.Errorf("cgroupsPath %q: contains a NUL byte", cgroupsPath)
	}
	if filepath.IsAbs(cgroupsPath) {
		p := filepath.Clean(cgroupsPath)
		if p == "/" {
			return "", fmt.Errorf("cgroupsPath %q: a container cannot use the root cgroup", cgroupsPath)
		}
		return p, nil
	}
	p := filepath.Clean(cgroupsPath)
	if p == "." || p == ".." || strings.HasPrefix(p, "../") {
		return "", fmt.Errorf("cgroupsPath %q: a relative path must stay below runsc's own cgroup", cgroupsPath)
	}
	return p, nil
}

// systemdPath maps "slice:prefix:name" onto a cgroup path.
func systemdPath(s string) (string, error) {
	parts := strings.Split(s, ":")
	if len(parts) != 3 {
		return "", fmt.Errorf("cgroupsPath %q: want slice:prefix:name with --systemd-cgroup", s)
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	dir, err := expandSlice(slice)
	if err != nil {
		return "", fmt.Errorf("cgroupsPath %q: %w", s, err)
	}
	if name == "" || strings.Contains(name, "/") || strings.Contains(prefix, "/") {
		return "", fmt.Errorf("cgroupsPath %q: want slice:prefix:name, name non-empty and neither with '/'", s)
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		unit = name + ".scope"
		if prefix != "" {
			unit = prefix + "-" + unit
		}
	}
	return filepath.Join(dir, unit), nil
}

// expandSlice turns a systemd slice name into its cgroup path:
// "a-b-c.slice" is "/a.slice/a-b.slice/a-b-c.slice"; "-.slice" is "/".
func expandSlice(slice string) (string, error) {
	base, ok := strings.CutSuffix(slice, ".slice")
	if !ok || strings.Contains(slice, "/") {
		return "", fmt.Errorf("invalid slice name %q", slice)
	}
	if base == "-" {
		return "/", nil
	}
	if base == "" || strings.HasPrefix(base, "-") || strings.HasSuffix(base, "-") || strings.Contains(base, "--") {
		return "", fmt.Errorf("invalid slice name %q", slice)
	}
	path, prefix := "", ""
	for _, comp := range strings.Split(base, "-") {
		path += "/" + prefix + comp + ".slice"
		prefix += comp + "-"
	}
	return path, nil
}

// Cgroup is one container's cgroup: the directories its processes are in.
// It is recorded in the container's state, so that any later runsc
// command (and delete --force after a crash) finds it.
type Cgroup struct {
	// V2 says Dirs holds the one directory of a v2 cgroup.
	V2 bool `json:"v2,omitempty"`
	// Dirs maps each v1 controller to the container's directory in its
	// hierarchy (controllers mounted together share one), or "unified"
	// to the v2 directory.
	Dirs map[string]string `json:"dirs"`
	// Made are the directories runsc creates for the container, parents
	// first; Destroy removes them, children first. Directories that
	// existed before (a parent shared by many containers) are left.
	Made []string `json:"made,omitempty"`
}

// New returns the cgroup at path (from Path) in the hierarchies m
// describes, without creating anything.
func (m *Mounts) New(path string) (*Cgroup, error) {
	place := func(h Hierarchy) string {
		if filepath.IsAbs(path) {
			return filepath.Join(h.Mount, path)
		}
		own := h.Own
		if rel, err := filepath.Rel(h.Root, own); err == nil && !strings.HasPrefix(rel, "..") {
			own = rel
		}
		return filepath.Join(h.Mount, own, path)
	}
	c := &Cgroup{Dirs: map[string]string{}}
	if m.UseV2() {
		c.V2 = true
		c.Dirs[v2Key] = place(*m.V2)
	} else {
		for _, ctrl := range Controllers {
			if h, ok := m.V1[ctrl]; ok {
				c.Dirs[ctrl] = place(h)
			}
		}
	}
	if len(c.Dirs) == 0 {
		return nil, errors.New("no cgroup hierarchy is mounted (use --ignore-cgroups)")
	}
	var err error
	c.Made, err = c.missing()
	return c, err
}

// dirs returns the distinct directories of c, sorted.
func (c *Cgroup) dirs() []string {
	seen := map[string]bool{}
	var out []string
	for _, d := range c.Dirs {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	sort.Strings(out)
	return out
}

// missing lists the directories that creating c makes, parents first.
func (c *Cgroup) missing() ([]string, error) {
	var made []string
	for _, d := range c.dirs() {
		var chain []string
		for p := d; ; p = filepath.Dir(p) {
			_, err := os.Stat(p)
			if err == nil {
				break
			}
			if !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("cgroup %s: %w", p, err)
			}
			chain = append([]string{p}, chain...)
		}
		made = append(made, chain...)
	}
	return made, nil
}

// Dir returns the directory of c that holds controller's files (for v2,
// the one directory), or "" if that controller is not mounted.
func (c *Cgroup) Dir(controller string) string {
	if c.V2 {
		return c.Dirs[v2Key]
	}
	return c.Dirs[controller]
}

// Create makes c's directories (those in Made). On v1, a new cpuset
// cgroup starts with no CPUs and no memory nodes, so each new one gets its
// parent's; on v2, the controllers runsc uses are enabled down to c.
func (c *Cgroup) Create() error {
	for _, d := range c.Made {
		if err := os.Mkdir(d, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("creating cgroup %s: %w", d, err)
		}
	}
	if c.V2 {
		return c.enableV2Controllers()
	}
	cs := c.Dirs["cpuset"]
	for _, d := range c.Made {
		if cs == "" || !(d == cs || strings.HasPrefix(cs, d+"/")) {
			continue
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			if cur, err := readString(d, f); err != nil || cur != "" {
				continue
			}
			parent, err := readString(filepath.Dir(d), f)
			if err != nil {
				return err
			}
			if err := writeFile(d, f, parent); err != nil {
				return err
			}
		}
	}
	return nil
}

// enableV2Controllers writes +controller to cgroup.subtree_control of
// every ancestor of c's new directories, for each controller available
// there. A controller that cannot be enabled (an ancestor with processes
// of its own) is left off: limits on it then fail when applied.
func (c *Cgroup) enableV2Controllers() error {
	if len(c.Made) == 0 {
		return nil
	}
	for _, d := range c.Made {
		parent := filepath.Dir(d)
		avail, err := readString(parent, "cgroup.controllers")
		if err != nil {
			return err
		}
		for _, ctrl := range strings.Fields(avail) {
			if contains(Controllers, ctrl) || ctrl == "io" {
				_ = writeFile(parent, "cgroup.subtree_control", "+"+ctrl)
			}
		}
	}
	return nil
}

// Add moves process pid (all of its threads) into c.
func (c *Cgroup) Add(pid int) error {
	for _, d := range c.dirs() {
		if err := writeFile(d, "cgroup.procs", fmt.Sprint(pid)); err != nil {
			return err
		}
	}
	return nil
}

// Destroy removes the directories runsc made for c, children first. Its
// processes must have exited. Directories already gone are not an error.
func (c *Cgroup) Destroy() error {
	var errs []error
	start := time.Now()
	for i := len(c.Made) - 1; i >= 0; i-- {
		if err := removeDir(c.Made[i], start); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// readString reads a cgroup file, without the trailing newline.
func readString(dir, name string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		return "", fmt.Errorf("reading cgroup file: %w", err)
	}
	return strings.TrimSpace(string(data)), nil
}

// writeFile writes value to a cgroup file (which must exist: cgroup files
// are never created).
func writeFile(dir, name, value string) error {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		return fmt.Errorf("writing cgroup file: %w", err)
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %q to %s: %w", value, filepath.Join(dir, name), err)
	}
	return nil
}
