// Package debimage builds test images from pinned Debian packages, with no
// Docker daemon: it resolves and pins a package list (Pin), downloads and
// verifies the pinned .debs into a cache (Fetch), unpacks them into a root
// file system directory with the few fix-ups maintainer scripts would have
// made (Build), and writes that directory as a reproducible OCI image layout
// (WriteOCI).
//
// An image is a folder (images/NAME) with packages.txt, written by Pin, and
// an optional image.json (see Config).
package debimage

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// Package is one pinned Debian package.
type Package struct {
	Name    string
	Version string
	// SHA256 is the hex SHA-256 of the .deb file.
	SHA256 string
}

// String is the packages.txt line for p: "name=version sha256".
func (p Package) String() string { return p.Name + "=" + p.Version + " " + p.SHA256 }

// List is a parsed packages.txt.
type List struct {
	// Top is the top-level packages the list was resolved from (the
	// "# top:" comment), so that it can be pinned again.
	Top      []string
	Packages []Package
}

// PackagesFile is the name of the pinned list in an image folder.
const PackagesFile = "packages.txt"

// ParseList parses a packages.txt: one "name=version sha256" per line;
// blank lines and lines starting with '#' are ignored, except "# top: ..."
// which names the top-level packages.
func ParseList(data []byte) (*List, error) {
	l := &List{}
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if rest, ok := strings.CutPrefix(line, "# top:"); ok {
			l.Top = append(l.Top, strings.Fields(rest)...)
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		if len(f) != 2 {
			return nil, fmt.Errorf("line %d: want \"name=version sha256\", got %q", n, line)
		}
		name, version, ok := strings.Cut(f[0], "=")
		if !ok || name == "" || version == "" {
			return nil, fmt.Errorf("line %d: want name=version, got %q", n, f[0])
		}
		sum := strings.ToLower(strings.TrimPrefix(f[1], "sha256:"))
		if len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("line %d: %q is not a hex SHA-256", n, f[1])
		}
		if seen[name] {
			return nil, fmt.Errorf("line %d: %s listed twice", n, name)
		}
		seen[name] = true
		l.Packages = append(l.Packages, Package{Name: name, Version: version, SHA256: sum})
	}
	return l, sc.Err()
}

// ReadList reads imageDir/packages.txt.
func ReadList(imageDir string) (*List, error) {
	data, err := os.ReadFile(filepath.Join(imageDir, PackagesFile))
	if err != nil {
		return nil, err
	}
	l, err := ParseList(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(imageDir, PackagesFile), err)
	}
	return l, nil
}

// Format renders l as packages.txt, sorted by package name.
func (l *List) Format() []byte {
	var b bytes.Buffer
	b.WriteString("# Pinned Debian packages: written by `go run ./tools/images pin`; do not edit by hand.\n")
	b.WriteString("# Each line is name=version and the SHA-256 of the .deb.\n")
	fmt.Fprintf(&b, "# top: %s\n", strings.Join(l.Top, " "))
	pkgs := append([]Package(nil), l.Packages...)
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].Name < pkgs[j].Name })
	for _, p := range pkgs {
		b.WriteString(p.String() + "\n")
	}
	return b.Bytes()
}

// dependency is one alternative of a Depends or Pre-Depends field.
type dependency struct {
	name      string
	virtual   bool     // printed as <name>: no real package has that name
	providers []string // real packages that provide name
}

// depGraph maps a package to its dependency groups; each group is a list of
// alternatives (a|b|c), any one of which satisfies it.
type depGraph map[string][][]dependency

// parseDepends parses the output of `apt-cache depends --recurse`:
//
//	pkg
//	 |Depends: a        (a, or the next one)
//	  Depends: <virt>   (a virtual package ...)
//	    provider        (... and one real package that provides it)
//	  PreDepends: b
func parseDepends(out []byte) depGraph {
	g := depGraph{}
	var cur string
	continues := false // the previous dependency line started with '|'
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
		case !strings.HasPrefix(line, " "):
			cur = normalizeName(strings.Trim(trimmed, "<>"))
			if _, ok := g[cur]; !ok {
				g[cur] = nil
			}
			continues = false
		case strings.HasPrefix(line, "    "):
			// A provider of the last dependency listed.
			groups := g[cur]
			if len(groups) == 0 {
				continue
			}
			last := groups[len(groups)-1]
			d := &last[len(last)-1]
			d.providers = append(d.providers, normalizeName(trimmed))
		default:
			alt := strings.HasPrefix(trimmed, "|")
			trimmed = strings.TrimPrefix(trimmed, "|")
			kind, name, ok := strings.Cut(trimmed, ": ")
			if !ok || (kind != "Depends" && kind != "PreDepends") {
				continues = false
				continue
			}
			d := dependency{name: normalizeName(strings.Trim(name, "<>")), virtual: strings.HasPrefix(name, "<")}
			if continues {
				last := len(g[cur]) - 1
				g[cur][last] = append(g[cur][last], d)
			} else {
				g[cur] = append(g[cur], []dependency{d})
			}
			continues = alt
		}
	}
	return g
}

// normalizeName drops a multiarch qualifier (perl:any -> perl).
func normalizeName(s string) string {
	name, _, _ := strings.Cut(s, ":")
	return name
}

// closure returns the packages needed by top: for each dependency group,
// the first alternative already chosen, else the first real alternative,
// else the first provider of a virtual one, as apt would.
func (g depGraph) closure(top []string) ([]string, error) {
	chosen := map[string]bool{}
	var order []string
	var visit func(string) error
	visit = func(p string) error {
		if chosen[p] {
			return nil
		}
		if _, ok := g[p]; !ok {
			return fmt.Errorf("package %s is unknown to apt-cache", p)
		}
		chosen[p] = true
		order = append(order, p)
		for _, group := range g[p] {
			pick, ok := g.pick(group, chosen)
			if !ok {
				return fmt.Errorf("%s: cannot satisfy %v", p, group)
			}
			if pick != "" {
				if err := visit(pick); err != nil {
					return fmt.Errorf("%s: %w", p, err)
				}
			}
		}
		return nil
	}
	for _, t := range top {
		if err := visit(t); err != nil {
			return nil, err
		}
	}
	sort.Strings(order)
	return order, nil
}

// pick returns the package to add for a dependency group: "" and true if
// the closure already satisfies it, "" and false if nothing can.
func (g depGraph) pick(group []dependency, chosen map[string]bool) (string, bool) {
	// Already satisfied by a package in the closure?
	for _, d := range group {
		if !d.virtual && chosen[d.name] {
			return "", true
		}
		for _, p := range d.providers {
			if chosen[p] {
				return "", true
			}
		}
	}
	for _, d := range group {
		if !d.virtual {
			if _, ok := g[d.name]; ok {
				return d.name, true
			}
		}
	}
	for _, d := range group {
		for _, p := range d.providers {
			if _, ok := g[p]; ok {
				return p, true
			}
		}
	}
	return "", false
}

// Pin resolves the dependency closure of top with apt-cache (no
// Recommends), and returns it with each package's candidate version and the
// SHA-256 that the Debian archive publishes for that version's .deb.
func Pin(ctx context.Context, top []string) (*List, error) {
	args := []string{"depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
		"--no-breaks", "--no-replaces", "--no-enhances"}
	out, err := command(ctx, "apt-cache", append(args, top...)...)
	if err != nil {
		return nil, err
	}
	names, err := parseDepends(out).closure(top)
	if err != nil {
		return nil, err
	}
	out, err = command(ctx, "apt-cache", append([]string{"show", "--no-all-versions"}, names...)...)
	if err != nil {
		return nil, err
	}
	byName := map[string]map[string]string{}
	for _, st := range parseControl(out) {
		if _, dup := byName[st["Package"]]; !dup {
			byName[st["Package"]] = st
		}
	}
	l := &List{Top: top}
	for _, name := range names {
		st := byName[name]
		if st["Version"] == "" || st["SHA256"] == "" {
			return nil, fmt.Errorf("apt-cache show %s: no Version or SHA256 (run apt-get update?)", name)
		}
		l.Packages = append(l.Packages, Package{Name: name, Version: st["Version"], SHA256: st["SHA256"]})
	}
	return l, nil
}

// parseControl returns the stanzas of a Debian control file, such as the
// output of apt-cache show, as field maps (continuation lines are dropped).
func parseControl(out []byte) []map[string]string {
	var stanzas []map[string]string
	var cur map[string]string
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" {
			cur = nil
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			continue
		}
		if cur == nil {
			cur = map[string]string{}
			stanzas = append(stanzas, cur)
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			cur[k] = strings.TrimSpace(v)
		}
	}
	return stanzas
}

// command runs name args and returns its stdout, with stderr in the error.
func command(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// commandIn is an exec.Cmd for name args, run in dir with the C locale.
func commandIn(ctx context.Context, dir, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	return cmd
}
