package syscalls

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// CXX is the compiler; $CXX overrides it.
func CXX() string {
	if c := os.Getenv("CXX"); c != "" {
		return c
	}
	return "g++"
}

// Flags are the compile flags of every test. The warnings turned off are the
// ones glibc's headers raise for the bad pointers and negative counts the
// tests pass on purpose.
var Flags = []string{
	"-O1", "-std=c++17", "-Wall", "-Wno-stringop-overflow", "-Wno-stringop-overread",
}

// Libs are the link flags of every test.
var Libs = []string{"-lgtest", "-lgtest_main", "-pthread"}

// Builder compiles test sources into a content-addressed cache, so a
// rerun with unchanged sources, headers, flags and compiler compiles nothing.
type Builder struct {
	SrcDir   string // the linux/ directory
	CacheDir string // where binaries are kept, by content hash
	sem      chan struct{}
	once     sync.Once
	salt     string
	saltErr  error
}

// NewBuilder returns a Builder over srcDir that runs at most jobs compilers
// at once and keeps its binaries under cacheDir.
func NewBuilder(srcDir, cacheDir string, jobs int) *Builder {
	return &Builder{SrcDir: srcDir, CacheDir: cacheDir, sem: make(chan struct{}, jobs)}
}

// DefaultCacheDir is where binaries are cached: under os.UserCacheDir (so a
// sandbox whose root is the host's sees them, which would not hold for a
// sandbox-private /tmp), or the temp dir when there is no user cache.
func DefaultCacheDir() string {
	if d := os.Getenv("BUFFERZONE_SYSCALL_TEST_CACHE"); d != "" {
		return d
	}
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	return filepath.Join(base, "bufferzone", "syscall-tests")
}

// Sources lists the test sources (*.cc) in the source directory, by base name
// without the extension.
func (b *Builder) Sources() ([]string, error) {
	m, err := filepath.Glob(filepath.Join(b.SrcDir, "*.cc"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, p := range m {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".cc"))
	}
	sort.Strings(names)
	return names, nil
}

// saltHash covers what every build shares: the headers in the source
// directory, the flags and the compiler's identity.
func (b *Builder) saltHash() (string, error) {
	b.once.Do(func() {
		h := sha256.New()
		out, err := exec.Command(CXX(), "--version").Output()
		if err != nil {
			b.saltErr = fmt.Errorf("%s --version: %v (install g++ and libgtest-dev)", CXX(), err)
			return
		}
		h.Write(out)
		fmt.Fprintln(h, Flags, Libs)
		hdrs, _ := filepath.Glob(filepath.Join(b.SrcDir, "*.h"))
		sort.Strings(hdrs)
		for _, p := range hdrs {
			data, err := os.ReadFile(p)
			if err != nil {
				b.saltErr = err
				return
			}
			fmt.Fprintf(h, "%s %d\n", filepath.Base(p), len(data))
			h.Write(data)
		}
		b.salt = hex.EncodeToString(h.Sum(nil))
	})
	return b.salt, b.saltErr
}

// Build returns the path of the binary for the named test, compiling it
// unless the cache has it. It links statically when it can and falls back
// to a dynamic link.
func (b *Builder) Build(ctx context.Context, name string) (bin string, err error) {
	salt, err := b.saltHash()
	if err != nil {
		return "", err
	}
	src := filepath.Join(b.SrcDir, name+".cc")
	data, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	h.Write([]byte(salt))
	h.Write(data)
	key := hex.EncodeToString(h.Sum(nil))[:24]
	dir := filepath.Join(b.CacheDir, key)
	bin = filepath.Join(dir, name)
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	b.sem <- struct{}{}
	defer func() { <-b.sem }()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(dir, name+".tmp-")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	var logs []string
	for _, static := range []bool{true, false} {
		args := append([]string{}, Flags...)
		if static {
			args = append(args, "-static")
		}
		args = append(args, "-I", b.SrcDir, src, "-o", tmp.Name())
		args = append(args, Libs...)
		out, err := exec.CommandContext(ctx, CXX(), args...).CombinedOutput()
		if err == nil {
			return bin, os.Rename(tmp.Name(), bin)
		}
		logs = append(logs, fmt.Sprintf("%s %s: %v\n%s", CXX(), strings.Join(args, " "), err, out))
	}
	return "", fmt.Errorf("compiling %s failed (needs g++ and libgtest-dev):\n%s", name, strings.Join(logs, "\n"))
}
