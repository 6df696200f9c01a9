package debimage

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseList(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	l, err := ParseList([]byte("# comment\n# top: a b\n\na=1.0-1 " + sum + "\nb=1:2.3 sha256:" + strings.ToUpper(sum) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	want := &List{Top: []string{"a", "b"}, Packages: []Package{{"a", "1.0-1", sum}, {"b", "1:2.3", sum}}}
	if !reflect.DeepEqual(l, want) {
		t.Fatalf("got %+v, want %+v", l, want)
	}
	again, err := ParseList(l.Format())
	if err != nil || !reflect.DeepEqual(again, want) {
		t.Fatalf("Format does not round-trip: %+v, %v", again, err)
	}
	for _, bad := range []string{"a=1", "a " + sum, "=1 " + sum, "a=1 xyz", "a=1 " + sum + "\na=2 " + sum} {
		if _, err := ParseList([]byte(bad)); err == nil {
			t.Errorf("ParseList(%q) = nil error", bad)
		}
	}
}

// dependsOutput is shaped like `apt-cache depends --recurse` output: an OR
// group, a virtual package with providers, a real package that other
// packages also provide, and a cycle.
const dependsOutput = `top
 |Depends: alt-one
  Depends: alt-two
  Depends: <virt>
    prov-b
    prov-a
  Depends: libc
    libc-musl
  PreDepends: <perl:any>
    perl
alt-one
  Depends: libc
alt-two
libc
  Depends: libgcc
libgcc
  Depends: libc
prov-b
prov-a
libc-musl
perl
<virt>
<perl:any>
`

func TestClosure(t *testing.T) {
	g := parseDepends([]byte(dependsOutput))
	got, err := g.closure([]string{"top"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"alt-one", "libc", "libgcc", "perl", "prov-b", "top"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("closure = %v, want %v", got, want)
	}
	if _, err := g.closure([]string{"missing"}); err == nil {
		t.Error("closure of an unknown package: nil error")
	}
}

func TestParseControl(t *testing.T) {
	st := parseControl([]byte("Package: a\nVersion: 1\nDescription: x\n more\n\nPackage: b\nSHA256: ff\n"))
	if len(st) != 2 || st[0]["Version"] != "1" || st[1]["SHA256"] != "ff" || st[0]["Package"] != "a" {
		t.Fatalf("got %v", st)
	}
}

func TestResolveIn(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.MkdirAll(filepath.Join(root, "etc/alt"), 0o755)
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	os.Symlink("/etc/alt", filepath.Join(root, "usr/alt"))   // absolute: stays in root
	os.Symlink("../../../..", filepath.Join(root, "usr/up")) // cannot climb out
	for in, want := range map[string]string{
		"/bin/sh":      "usr/bin/sh",
		"bin/../etc":   "usr/etc", // as the kernel resolves it
		"/usr/alt/x":   "etc/alt/x",
		"/usr/up/etc":  "etc",
		"/missing/a/b": "missing/a/b",
	} {
		got, err := resolveIn(root, in)
		if err != nil || got != filepath.Join(root, want) {
			t.Errorf("resolveIn(%q) = %q, %v; want %q", in, got, err, filepath.Join(root, want))
		}
	}
	os.Symlink("loop", filepath.Join(root, "loop"))
	if _, err := resolveIn(root, "/loop/x"); err == nil {
		t.Error("symlink loop: nil error")
	}
}

// TestExtract unpacks a package-like tar over a merged /usr.
func TestExtract(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "usr/bin"), 0o755)
	os.Symlink("usr/bin", filepath.Join(root, "bin"))
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1700000000, 0)
	add := func(h *tar.Header, body string) {
		h.ModTime = mt
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./bin/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./bin/tool", Typeflag: tar.TypeReg, Mode: 0o4755}, "#!/bin/sh\n")
	add(&tar.Header{Name: "./bin/link", Typeflag: tar.TypeSymlink, Linkname: "tool"}, "")
	add(&tar.Header{Name: "./bin/hard", Typeflag: tar.TypeLink, Linkname: "./bin/tool"}, "")
	add(&tar.Header{Name: "./etc/conf", Typeflag: tar.TypeReg, Mode: 0o644}, "x=1\n")
	tw.Close()
	if err := extract(root, tar.NewReader(&buf)); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(root, "bin")); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("/bin is no longer a symlink: %v %v", fi, err)
	}
	fi, err := os.Stat(filepath.Join(root, "usr/bin/tool"))
	if err != nil || fi.Mode()&os.ModeSetuid == 0 || fi.Mode().Perm() != 0o755 || !fi.ModTime().Equal(mt) {
		t.Fatalf("usr/bin/tool: %v %v", fi, err)
	}
	if l, _ := os.Readlink(filepath.Join(root, "usr/bin/link")); l != "tool" {
		t.Errorf("link -> %q", l)
	}
	if hard, err := os.Stat(filepath.Join(root, "usr/bin/hard")); err != nil || !os.SameFile(fi, hard) {
		t.Errorf("hard link: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/conf")); string(b) != "x=1\n" {
		t.Errorf("etc/conf = %q", b)
	}
}

// TestWriteOCIReproducible writes the same tree twice, with different
// mtimes and creation order, and expects the same digest.
func TestWriteOCIReproducible(t *testing.T) {
	build := func(order []string, mtime time.Time) string {
		root := t.TempDir()
		for _, n := range order {
			p := filepath.Join(root, n)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, []byte(n), 0o644); err != nil {
				t.Fatal(err)
			}
			os.Chtimes(p, mtime, mtime)
		}
		os.Symlink("a/x", filepath.Join(root, "l"))
		os.Link(filepath.Join(root, "a/x"), filepath.Join(root, "z"))
		out := t.TempDir()
		d, err := WriteOCI(root, &Config{Entrypoint: []string{"/l"}, Env: []string{"A=1"}}, "test", out)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"oci-layout", "index.json", "blobs/sha256/" + strings.TrimPrefix(d, "sha256:")} {
			if _, err := os.Stat(filepath.Join(out, f)); err != nil {
				t.Errorf("layout lacks %s: %v", f, err)
			}
		}
		return d
	}
	d1 := build([]string{"a/x", "b/y", "c"}, time.Unix(1, 0))
	d2 := build([]string{"c", "b/y", "a/x"}, time.Now())
	if d1 != d2 {
		t.Fatalf("digests differ: %s, %s", d1, d2)
	}
}
