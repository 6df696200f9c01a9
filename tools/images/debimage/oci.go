package debimage

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// OCI media types used by WriteOCI.
const (
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayer    = "application/vnd.oci.image.layer.v1.tar+gzip"
)

// Descriptor is an OCI content descriptor.
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

type ociManifest struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        Descriptor   `json:"config"`
	Layers        []Descriptor `json:"layers"`
}

type ociIndex struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []Descriptor `json:"manifests"`
}

type ociRunConfig struct {
	User       string   `json:"User,omitempty"`
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
}

type ociConfig struct {
	Architecture string       `json:"architecture"`
	OS           string       `json:"os"`
	Config       ociRunConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

// WriteOCI writes rootfs as an OCI image layout in out (oci-layout,
// index.json, blobs/sha256/...): one gzip'ed tar layer, a config from cfg
// and a manifest tagged ref. The layer lists files in lexical order with
// every mtime set to the Unix epoch and owners as numbers only, and no
// JSON holds a timestamp, so the same tree always gives the same digests.
// It returns the manifest's digest.
func WriteOCI(rootfs string, cfg *Config, ref, out string) (string, error) {
	blobs := filepath.Join(out, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return "", err
	}
	layer, diffID, err := writeLayer(rootfs, blobs)
	if err != nil {
		return "", err
	}
	var c ociConfig
	c.Architecture, c.OS = "amd64", "linux"
	c.Config = ociRunConfig{User: cfg.User, Env: cfg.Env, Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, WorkingDir: cfg.WorkingDir}
	c.RootFS.Type = "layers"
	c.RootFS.DiffIDs = []string{diffID}
	config, err := writeJSONBlob(blobs, MediaTypeConfig, c)
	if err != nil {
		return "", err
	}
	manifest, err := writeJSONBlob(blobs, MediaTypeManifest, ociManifest{
		SchemaVersion: 2, MediaType: MediaTypeManifest, Config: config, Layers: []Descriptor{layer},
	})
	if err != nil {
		return "", err
	}
	manifest.Annotations = map[string]string{"org.opencontainers.image.ref.name": ref}
	idx, err := json.MarshalIndent(ociIndex{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json",
		Manifests: []Descriptor{manifest}}, "", "  ")
	if err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(out, "index.json"), append(idx, '\n'), 0o644); err != nil {
		return "", err
	}
	if err := os.WriteFile(filepath.Join(out, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`+"\n"), 0o644); err != nil {
		return "", err
	}
	return manifest.Digest, nil
}

func writeJSONBlob(blobs, mediaType string, v any) (Descriptor, error) {
	data, err := json.Marshal(v)
	if err != nil {
		return Descriptor{}, err
	}
	sum := sha256.Sum256(data)
	d := Descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
	return d, os.WriteFile(filepath.Join(blobs, hex.EncodeToString(sum[:])), data, 0o644)
}

// countingHash is a hash that also counts what it was given.
type countingHash struct {
	hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.Hash.Write(p)
}

// writeLayer writes rootfs as a gzip'ed tar blob and returns its descriptor
// and the digest of the uncompressed tar (the diff ID).
func writeLayer(rootfs, blobs string) (Descriptor, string, error) {
	tmp, err := os.CreateTemp(blobs, ".layer-")
	if err != nil {
		return Descriptor{}, "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	blobHash := &countingHash{Hash: sha256.New()}
	gz, err := gzip.NewWriterLevel(io.MultiWriter(tmp, blobHash), gzip.BestSpeed)
	if err != nil {
		return Descriptor{}, "", err
	}
	diffHash := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(gz, diffHash))
	if err := writeTree(tw, rootfs); err != nil {
		return Descriptor{}, "", err
	}
	if err := tw.Close(); err != nil {
		return Descriptor{}, "", err
	}
	if err := gz.Close(); err != nil {
		return Descriptor{}, "", err
	}
	if err := tmp.Close(); err != nil {
		return Descriptor{}, "", err
	}
	sum := hex.EncodeToString(blobHash.Sum(nil))
	if err := os.Rename(tmp.Name(), filepath.Join(blobs, sum)); err != nil {
		return Descriptor{}, "", err
	}
	return Descriptor{MediaType: MediaTypeLayer, Digest: "sha256:" + sum, Size: blobHash.n},
		"sha256:" + hex.EncodeToString(diffHash.Sum(nil)), nil
}

// writeTree writes every file under root to tw in lexical order, with
// epoch mtimes; a file's second and later hard links become link entries.
func writeTree(tw *tar.Writer, root string) error {
	type inode struct{ dev, ino uint64 }
	seen := map[inode]string{}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		st := fi.Sys().(*syscall.Stat_t)
		h := &tar.Header{
			Name:    filepath.ToSlash(rel),
			Mode:    int64(st.Mode & 0o7777),
			Uid:     int(st.Uid),
			Gid:     int(st.Gid),
			ModTime: epoch,
			Format:  tar.FormatPAX,
		}
		switch {
		case fi.Mode().IsDir():
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case fi.Mode()&fs.ModeSymlink != 0:
			h.Typeflag = tar.TypeSymlink
			if h.Linkname, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			key := inode{uint64(st.Dev), st.Ino}
			if first, ok := seen[key]; ok && st.Nlink > 1 {
				h.Typeflag = tar.TypeLink
				h.Linkname = first
				return tw.WriteHeader(h)
			}
			seen[key] = h.Name
			h.Typeflag = tar.TypeReg
			h.Size = fi.Size()
		default:
			return nil // sockets, FIFOs, devices: not part of an image
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if h.Typeflag == tar.TypeReg {
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			_, err = io.Copy(tw, f)
			f.Close()
			return err
		}
		return nil
	})
}
