package p9interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"bufferzone.dev/pkg/p9"
	"bufferzone.dev/runsc/fsgofer"
)

// serveGofer serves the host directory root with the Gofer's backend on
// a listening socket (network "unix" or "tcp") until the test ends, one
// p9.Server connection per accepted client, and returns the address in
// the form diod's tools take (IP:PORT or /path/to/socket).
func serveGofer(t *testing.T, network, root string, readOnly bool) string {
	t.Helper()
	a, err := fsgofer.New(root, readOnly)
	if err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "gofer.sock")
	}
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := p9.NewServer(a)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var serveErrs []error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			f, err := c.(interface{ File() (*os.File, error) }).File()
			c.Close()
			if err != nil {
				mu.Lock()
				serveErrs = append(serveErrs, err)
				mu.Unlock()
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer f.Close()
				if err := srv.Serve(f); err != nil {
					mu.Lock()
					serveErrs = append(serveErrs, err)
					mu.Unlock()
				}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		wg.Wait()
		for _, err := range serveErrs {
			t.Errorf("gofer server: %v", err)
		}
	})
	return l.Addr().String()
}

// runTool runs one of diod's client tools with a timeout and returns its
// standard output.
func runTool(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	bin := diodBin(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String(), err
}

// lsNames returns the last field of each line of diodls output, sorted,
// without "." and "..".
func lsNames(out string) []string {
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		n := f[len(f)-1]
		if n != "." && n != ".." {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// TestDiodToolsAgainstGofer runs diod's client tools (diodls, diodcat,
// diodload) against our Gofer server, over a Unix socket and over TCP, and
// checks what they print against the host.
func TestDiodToolsAgainstGofer(t *testing.T) {
	diodBin(t, "diodls")
	dir := makeExport(t)
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			for _, readOnly := range []bool{true, false} {
				addr := serveGofer(t, network, dir, readOnly)
				common := []string{"-s", addr, "-a", dir}

				// Listings of the root, a directory, and one that takes
				// several Treaddirs (msize 8192 makes them small).
				for _, sub := range []string{"", "dir", "many"} {
					args := append([]string{}, common...)
					args = append(args, "-m", "8192")
					if sub != "" {
						args = append(args, sub)
					}
					out, err := runTool(t, "diodls", args...)
					if err != nil {
						t.Fatal(err)
					}
					got, want := lsNames(out), hostNames(t, filepath.Join(dir, sub))
					if strings.Join(got, " ") != strings.Join(want, " ") {
						t.Errorf("diodls %q: %d names %q..., host has %d", sub, len(got), first(got, 5), len(want))
					}
				}

				// Long listing: sizes agree with the host.
				out, err := runTool(t, "diodls", append(common, "-l")...)
				if err != nil {
					t.Fatal(err)
				}
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					f := strings.Fields(line)
					if len(f) < 5 {
						t.Errorf("diodls -l line %q", line)
						continue
					}
					name := f[len(f)-1]
					if name == "." || name == ".." {
						continue
					}
					if strings.HasPrefix(f[0], "l") && len(f) >= 3 && f[len(f)-2] == "->" {
						name = f[len(f)-3]
					}
					st := lstat(t, filepath.Join(dir, name))
					if !strings.Contains(line, " "+itoa(int(st.Size))+" ") {
						t.Errorf("diodls -l: %q, host size %d", line, st.Size)
					}
				}

				// File contents, small and larger than msize.
				for _, name := range []string{"file", "big", "dir/inner"} {
					for _, msize := range []string{"65536", "4096"} {
						out, err := runTool(t, "diodcat", append(common, "-m", msize, name)...)
						if err != nil {
							t.Fatal(err)
						}
						want, _ := os.ReadFile(filepath.Join(dir, name))
						if out != string(want) {
							t.Errorf("diodcat %s (msize %s): %d bytes, host has %d", name, msize, len(out), len(want))
						}
					}
				}

				// Errors: a missing file.
				if _, err := runTool(t, "diodcat", append(common, "missing")...); err == nil {
					t.Errorf("diodcat of a missing file succeeded")
				}
			}
		})
	}
}

func first(s []string, n int) []string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
