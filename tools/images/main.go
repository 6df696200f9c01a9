// Command images builds the test images of images/ from pinned Debian
// packages, without a Docker daemon:
//
//	go run ./tools/images pin images/NAME [PKG...]   # (re)write images/NAME/packages.txt
//	go run ./tools/images build images/NAME -o DIR [--oci OCIDIR]
//	go run ./tools/images cached images/NAME          # print the cached rootfs, building it once
//
// pin resolves the dependency closure of the top-level packages (given, or
// the "# top:" line of the existing list) with apt-cache and records each
// package's version and the SHA-256 of its .deb. build downloads the pinned
// .debs (cached under ~/.cache/bufferzone/images), checks their SHA-256,
// unpacks them into DIR and, with --oci, also writes an OCI image layout
// whose digest depends only on the inputs.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"bufferzone.dev/tools/images/debimage"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  images pin IMAGEDIR [PKG...]
  images build IMAGEDIR -o DIR [--oci OCIDIR]
  images cached IMAGEDIR
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 3 {
		usage()
	}
	ctx := context.Background()
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, "images: "+f+"\n", a...) }
	var err error
	switch cmd, imageDir, rest := os.Args[1], os.Args[2], os.Args[3:]; cmd {
	case "pin":
		err = pin(ctx, imageDir, rest, logf)
	case "build":
		err = build(ctx, imageDir, rest, logf)
	case "cached":
		var dir string
		if dir, err = debimage.Cached(ctx, imageDir, logf); err == nil {
			fmt.Println(dir)
		}
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "images: %v\n", err)
		os.Exit(1)
	}
}

func pin(ctx context.Context, imageDir string, top []string, logf func(string, ...any)) error {
	if len(top) == 0 {
		old, err := debimage.ReadList(imageDir)
		if err != nil {
			return fmt.Errorf("no packages given and no list to re-pin: %w", err)
		}
		top = old.Top
	}
	if len(top) == 0 {
		return fmt.Errorf("no top-level packages")
	}
	l, err := debimage.Pin(ctx, top)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(imageDir, 0o755); err != nil {
		return err
	}
	logf("pinned %d packages for %s", len(l.Packages), strings.Join(top, " "))
	return os.WriteFile(filepath.Join(imageDir, debimage.PackagesFile), l.Format(), 0o644)
}

func build(ctx context.Context, imageDir string, args []string, logf func(string, ...any)) error {
	fs := flag.NewFlagSet("build", flag.ExitOnError)
	out := fs.String("o", "", "directory to write the root file system to (must not exist or be empty)")
	oci := fs.String("oci", "", "also write an OCI image layout to this directory")
	fs.Parse(args)
	if *out == "" || fs.NArg() != 0 {
		usage()
	}
	if err := debimage.Build(ctx, imageDir, *out, logf); err != nil {
		return err
	}
	if *oci == "" {
		return nil
	}
	cfg, err := debimage.ReadConfig(imageDir)
	if err != nil {
		return err
	}
	abs, err := filepath.Abs(imageDir)
	if err != nil {
		return err
	}
	digest, err := debimage.WriteOCI(*out, cfg, filepath.Base(abs), *oci)
	if err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}
