package runtimes

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"bufferzone.dev/tools/images/debimage"
)

// TestImageReproducible builds images/busybox twice from its pinned
// packages (the .debs come from the cache after the first download) and
// expects the same OCI manifest digest.
func TestImageReproducible(t *testing.T) {
	RequireImage(t, "busybox") // skips without root or packages
	dir := filepath.Join(repoDir(), "images", "busybox")
	cfg, err := debimage.ReadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var digests []string
	for i := 0; i < 2; i++ {
		root := filepath.Join(t.TempDir(), "rootfs")
		if err := debimage.Build(ctx, dir, root, t.Logf); err != nil {
			if errors.Is(err, debimage.ErrUnavailable) {
				t.Skip(err)
			}
			t.Fatal(err)
		}
		// Builds at different times must not differ.
		os.Chtimes(root, time.Now(), time.Now())
		d, err := debimage.WriteOCI(root, cfg, "busybox", t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		digests = append(digests, d)
		time.Sleep(1100 * time.Millisecond)
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds of images/busybox: %s and %s", digests[0], digests[1])
	}
	t.Logf("images/busybox: %s", digests[0])
}
