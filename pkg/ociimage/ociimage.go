// Package ociimage assembles Assay's container image from built binaries,
// without a container engine: one layer holding the assay binary, the
// verifier plugins with their SHA256SUMS, a passwd entry for the non-root
// user and the CA certificates, and an OCI image config that runs as that
// user. It pushes the image to any oras-go target: an OCI image layout on
// disk (oras-go's content/oci) or a registry.
//
// The layout is what the Helm chart expects: `assay` on PATH
// (/usr/bin/assay), plugins in /usr/lib/assay/plugins (the chart's
// pluginDir), user 65532 (the chart's runAsUser), and nothing written
// outside /tmp (the chart mounts an emptyDir there and makes the root
// filesystem read-only).
package ociimage

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
)

// Where things are in the image.
const (
	BinaryPath = "/usr/bin/assay"
	PluginDir  = "/usr/lib/assay/plugins"
	CAFile     = "/etc/ssl/certs/ca-certificates.crt"
	// UID and GID of the user the image runs as ("nonroot").
	UID = 65532
)

// DefaultCACertificates is the host's CA bundle, copied into the image
// when Options.CACertificates is empty.
const DefaultCACertificates = "/etc/ssl/certs/ca-certificates.crt"

// Options say what goes into the image.
type Options struct {
	// Assay is the path of a statically linked assay binary. Required.
	Assay string
	// PluginDir holds the plugin binaries and their SHA256SUMS (as `make
	// build` writes them); every file SHA256SUMS names is copied and its
	// checksum checked. Required.
	PluginDir string
	// CACertificates is a PEM bundle for TLS to registries; empty means
	// DefaultCACertificates.
	CACertificates string
	// Version is the image's org.opencontainers.image.version.
	Version string
	// Created is the image's creation time, also every file's
	// modification time; the zero time means the Unix epoch, so that the
	// same inputs make the same image.
	Created time.Time
	// Platform defaults to linux and the architecture Go builds for.
	Platform ocispec.Platform
}

// Build assembles the image, pushes its blobs and manifest to target and
// tags the manifest tag. It returns the manifest's descriptor.
func Build(ctx context.Context, target oras.Target, tag string, o Options) (ocispec.Descriptor, error) {
	if o.Assay == "" || o.PluginDir == "" {
		return ocispec.Descriptor{}, errors.New("ociimage: Assay and PluginDir are required")
	}
	if o.CACertificates == "" {
		o.CACertificates = DefaultCACertificates
	}
	if o.Created.IsZero() {
		o.Created = time.Unix(0, 0)
	}
	o.Created = o.Created.UTC()
	if o.Platform.OS == "" {
		o.Platform = ocispec.Platform{OS: "linux", Architecture: runtime.GOARCH}
	}
	files, err := o.files()
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ociimage: %w", err)
	}
	layer, diffID, err := tarball(files, o.Created)
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ociimage: %w", err)
	}
	layerDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, layer)
	config := ocispec.Image{
		Created:  &o.Created,
		Platform: o.Platform,
		Config: ocispec.ImageConfig{
			User:       fmt.Sprintf("%d:%d", UID, UID),
			Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + CAFile},
			Entrypoint: []string{BinaryPath},
			WorkingDir: "/",
			Labels:     labels(o.Version),
		},
		RootFS:  ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{diffID}},
		History: []ocispec.History{{Created: &o.Created, CreatedBy: "ociimage.Build: assay, plugins, passwd, CA certificates"}},
	}
	configJSON, err := json.Marshal(config)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	configDesc := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, configJSON)
	for _, b := range []struct {
		desc ocispec.Descriptor
		data []byte
	}{{layerDesc, layer}, {configDesc, configJSON}} {
		if err := push(ctx, target, b.desc, b.data); err != nil {
			return ocispec.Descriptor{}, err
		}
	}
	manifest, err := oras.PackManifest(ctx, target, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{
		Layers:              []ocispec.Descriptor{layerDesc},
		ConfigDescriptor:    &configDesc,
		ManifestAnnotations: map[string]string{ocispec.AnnotationCreated: o.Created.Format(time.RFC3339)},
	})
	if err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ociimage: pack the manifest: %w", err)
	}
	if err := target.Tag(ctx, manifest, tag); err != nil {
		return ocispec.Descriptor{}, fmt.Errorf("ociimage: tag %s: %w", tag, err)
	}
	return manifest, nil
}

func labels(version string) map[string]string {
	l := map[string]string{
		ocispec.AnnotationTitle:       "assay",
		ocispec.AnnotationDescription: "Assay: verification of container images for Kubernetes admission (OPA Gatekeeper external data provider)",
		ocispec.AnnotationSource:      "https://github.com/assayproj/assay",
	}
	if version != "" {
		l[ocispec.AnnotationVersion] = version
	}
	return l
}

func push(ctx context.Context, target oras.Target, desc ocispec.Descriptor, data []byte) error {
	exists, err := target.Exists(ctx, desc)
	if err != nil {
		return err
	}
	if exists {
		return nil
	}
	if err := target.Push(ctx, desc, bytes.NewReader(data)); err != nil {
		return fmt.Errorf("ociimage: push %s: %w", desc.Digest, err)
	}
	return nil
}

// file is one entry of the layer.
type file struct {
	name string // absolute path in the image
	mode int64
	uid  int
	dir  bool
	data []byte
}

// files lists the layer's entries, parents before children.
func (o Options) files() ([]file, error) {
	assay, err := os.ReadFile(o.Assay)
	if err != nil {
		return nil, err
	}
	if !isStatic(assay) {
		return nil, fmt.Errorf("%s is linked dynamically; the image has no C library (build with CGO_ENABLED=0)", o.Assay)
	}
	plugins, err := pluginFiles(o.PluginDir)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(o.CACertificates)
	if err != nil {
		return nil, fmt.Errorf("CA certificates: %w", err)
	}
	out := []file{
		{name: BinaryPath, mode: 0o755, data: assay},
		{name: "/etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%d:%d:nonroot:/home/nonroot:/sbin/nologin\n", UID, UID))},
		{name: "/etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\nnonroot:x:%d:\n", UID))},
		{name: CAFile, mode: 0o644, data: ca},
		{name: "/tmp", mode: 0o1777, dir: true},
		{name: "/home/nonroot", mode: 0o755, dir: true, uid: UID},
	}
	for _, p := range plugins {
		out = append(out, file{name: path.Join(PluginDir, p.name), mode: p.mode, data: p.data})
	}
	return withParents(out), nil
}

// pluginFiles reads SHA256SUMS and every file it names, checking each
// checksum; a plugin whose binary does not match would not start.
func pluginFiles(dir string) ([]file, error) {
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	out := []file{{name: "SHA256SUMS", mode: 0o644, data: sums}}
	sc := bufio.NewScanner(bytes.NewReader(sums))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || strings.ContainsAny(name, "/\\") || name == "" {
			return nil, fmt.Errorf("plugins: SHA256SUMS line %q is not \"<sha256>  <file>\"", line)
		}
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("plugins: %w", err)
		}
		got := sha256.Sum256(data)
		if hex.EncodeToString(got[:]) != sum {
			return nil, fmt.Errorf("plugins: %s does not match its SHA256SUMS entry (rebuild the plugins)", name)
		}
		if !isStatic(data) {
			return nil, fmt.Errorf("plugins: %s is linked dynamically; build with CGO_ENABLED=0", name)
		}
		out = append(out, file{name: name, mode: 0o755, data: data})
	}
	if len(out) == 1 {
		return nil, errors.New("plugins: SHA256SUMS names no plugin")
	}
	return out, nil
}

// isStatic holds for an ELF file without an interpreter (PT_INTERP), as
// Go builds with CGO_ENABLED=0 are, and for anything that is not ELF (a
// script: the caller's business).
func isStatic(b []byte) bool {
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		return true
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return false
		}
	}
	return true
}

// withParents adds the directories above every entry and sorts the
// entries so that each directory comes before what it holds.
func withParents(files []file) []file {
	have := map[string]bool{}
	for _, f := range files {
		have[f.name] = true
	}
	out := append([]file(nil), files...)
	for _, f := range files {
		for d := path.Dir(f.name); d != "/"; d = path.Dir(d) {
			if !have[d] {
				have[d] = true
				out = append(out, file{name: d, mode: 0o755, dir: true})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// tarball writes files as a gzip-compressed tar and returns it with the
// digest of the uncompressed tar (the config's diff_id).
func tarball(files []file, mtime time.Time) ([]byte, digest.Digest, error) {
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, "", err
	}
	diff := sha256.New()
	tw := tar.NewWriter(io.MultiWriter(zw, diff))
	for _, f := range files {
		h := &tar.Header{
			Name:    strings.TrimPrefix(f.name, "/"),
			Mode:    f.mode,
			Uid:     f.uid,
			Gid:     f.uid,
			ModTime: mtime,
			Format:  tar.FormatPAX,
		}
		if f.dir {
			h.Typeflag, h.Name = tar.TypeDir, h.Name+"/"
		} else {
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	if err := zw.Close(); err != nil {
		return nil, "", err
	}
	return gz.Bytes(), digest.NewDigestFromBytes(digest.SHA256, diff.Sum(nil)), nil
}

// Unpack resolves ref in src and writes the files of its layers, in
// order, under root with their permission bits, as a container runtime
// would lay out the image's root filesystem (without ownership, which
// needs privileges). It returns the image's config. Only the entries
// Build writes (directories and regular files) are supported; anything
// else, or a name that leaves root, is an error.
func Unpack(ctx context.Context, src oras.ReadOnlyTarget, ref, root string) (ocispec.Image, error) {
	var cfg ocispec.Image
	desc, err := src.Resolve(ctx, ref)
	if err != nil {
		return cfg, fmt.Errorf("ociimage: resolve %s: %w", ref, err)
	}
	var m ocispec.Manifest
	if err := fetchJSON(ctx, src, desc, &m); err != nil {
		return cfg, err
	}
	if err := fetchJSON(ctx, src, m.Config, &cfg); err != nil {
		return cfg, err
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return cfg, err
	}
	for _, l := range m.Layers {
		if l.MediaType != ocispec.MediaTypeImageLayerGzip {
			return cfg, fmt.Errorf("ociimage: layer %s is %s; only %s is unpacked", l.Digest, l.MediaType, ocispec.MediaTypeImageLayerGzip)
		}
		if err := unpackLayer(ctx, src, l, root); err != nil {
			return cfg, fmt.Errorf("ociimage: layer %s: %w", l.Digest, err)
		}
	}
	return cfg, nil
}

func fetchJSON(ctx context.Context, src content.Fetcher, desc ocispec.Descriptor, v any) error {
	b, err := content.FetchAll(ctx, src, desc)
	if err != nil {
		return fmt.Errorf("ociimage: fetch %s: %w", desc.Digest, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("ociimage: %s (%s): %w", desc.Digest, desc.MediaType, err)
	}
	return nil
}

func unpackLayer(ctx context.Context, src content.Fetcher, l ocispec.Descriptor, root string) error {
	rc, err := src.Fetch(ctx, l)
	if err != nil {
		return err
	}
	defer rc.Close()
	zr, err := gzip.NewReader(content.NewVerifyReader(rc, l))
	if err != nil {
		return err
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := filepath.Join(root, filepath.FromSlash(h.Name))
		if p != root && !strings.HasPrefix(p, root+string(os.PathSeparator)) {
			return fmt.Errorf("entry %q leaves the root", h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			f, err := os.OpenFile(p, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, os.FileMode(h.Mode).Perm())
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
		default:
			return fmt.Errorf("entry %q of type %q is not supported", h.Name, h.Typeflag)
		}
	}
}
