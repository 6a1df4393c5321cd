package ociimage_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/content/oci"

	"github.com/assayproj/assay/pkg/ociimage"
)

// inputs writes an assay "binary", two plugins with their SHA256SUMS and
// a CA bundle; scripts stand in for binaries (they are not ELF).
func inputs(t *testing.T) ociimage.Options {
	t.Helper()
	dir := t.TempDir()
	plugins := filepath.Join(dir, "plugins")
	if err := os.MkdirAll(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(path, data string) {
		if err := os.WriteFile(path, []byte(data), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "assay"), "#!/bin/sh\necho assay\n")
	var sums strings.Builder
	for _, name := range []string{"notation", "cosign"} {
		data := "#!/bin/sh\necho " + name + "\n"
		write(filepath.Join(plugins, name), data)
		sum := sha256.Sum256([]byte(data))
		fmt.Fprintf(&sums, "%s  %s\n", hex.EncodeToString(sum[:]), name)
	}
	write(filepath.Join(plugins, "SHA256SUMS"), sums.String())
	write(filepath.Join(dir, "ca.pem"), "-----BEGIN CERTIFICATE-----\n")
	return ociimage.Options{Assay: filepath.Join(dir, "assay"), PluginDir: plugins, CACertificates: filepath.Join(dir, "ca.pem"), Version: "v1.2.3"}
}

type entry struct {
	Mode     int64
	UID, GID int
	Dir      bool
	Data     string
}

func build(t *testing.T, o ociimage.Options) (ocispec.Descriptor, ocispec.Image, map[string]entry, *oci.Store) {
	t.Helper()
	ctx := context.Background()
	store, err := oci.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	desc, err := ociimage.Build(ctx, store, "v1.2.3", o)
	if err != nil {
		t.Fatal(err)
	}
	if tagged, err := store.Resolve(ctx, "v1.2.3"); err != nil || tagged.Digest != desc.Digest {
		t.Fatalf("tag v1.2.3 resolves to %v, %v; want %s", tagged.Digest, err, desc.Digest)
	}
	var m ocispec.Manifest
	fetchJSON(t, store, desc, &m)
	if m.MediaType != ocispec.MediaTypeImageManifest || m.Config.MediaType != ocispec.MediaTypeImageConfig || len(m.Layers) != 1 ||
		m.Layers[0].MediaType != ocispec.MediaTypeImageLayerGzip {
		t.Fatalf("manifest %+v: want an image manifest with an image config and one gzip layer", m)
	}
	var cfg ocispec.Image
	fetchJSON(t, store, m.Config, &cfg)
	layer, err := content.FetchAll(ctx, store, m.Layers[0])
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(layer))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if got := digest.FromBytes(raw); len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != got {
		t.Errorf("diff_ids %v, want the uncompressed layer's %s", cfg.RootFS.DiffIDs, got)
	}
	files := map[string]entry{}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		name := "/" + strings.TrimSuffix(h.Name, "/")
		if _, dup := files[name]; dup {
			t.Errorf("%s is in the layer twice", name)
		}
		files[name] = entry{Mode: h.Mode, UID: h.Uid, GID: h.Gid, Dir: h.Typeflag == tar.TypeDir, Data: string(data)}
		if parent := filepath.Dir(name); parent != "/" {
			if _, ok := files[parent]; !ok {
				t.Errorf("%s comes before its directory %s", name, parent)
			}
		}
	}
	return desc, cfg, files, store
}

func fetchJSON(t *testing.T, store *oci.Store, desc ocispec.Descriptor, v any) {
	t.Helper()
	b, err := content.FetchAll(context.Background(), store, desc)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestTheImageHoldsWhatTheChartRuns(t *testing.T) {
	o := inputs(t)
	_, cfg, files, _ := build(t, o)

	for path, want := range map[string]entry{
		ociimage.BinaryPath:                {Mode: 0o755, Data: "#!/bin/sh\necho assay\n"},
		ociimage.PluginDir + "/notation":   {Mode: 0o755, Data: "#!/bin/sh\necho notation\n"},
		ociimage.PluginDir + "/cosign":     {Mode: 0o755, Data: "#!/bin/sh\necho cosign\n"},
		ociimage.CAFile:                    {Mode: 0o644, Data: "-----BEGIN CERTIFICATE-----\n"},
		"/tmp":                             {Mode: 0o1777, Dir: true},
		"/home/nonroot":                    {Mode: 0o755, UID: 65532, GID: 65532, Dir: true},
		"/usr/lib/assay":                   {Mode: 0o755, Dir: true},
		"/etc/passwd":                      {Mode: 0o644, Data: "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"},
		"/etc/group":                       {Mode: 0o644, Data: "root:x:0:\nnonroot:x:65532:\n"},
		ociimage.PluginDir + "/SHA256SUMS": {Mode: 0o644, Data: mustRead(t, filepath.Join(o.PluginDir, "SHA256SUMS"))},
	} {
		got, ok := files[path]
		if !ok {
			t.Errorf("%s is not in the image", path)
			continue
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", path, diff)
		}
	}
	// The chart's securityContext: runAsUser 65532, command "assay".
	if cfg.Config.User != "65532:65532" || !cmp.Equal(cfg.Config.Entrypoint, []string{ociimage.BinaryPath}) {
		t.Errorf("config user %q entrypoint %q: want 65532:65532 and %s", cfg.Config.User, cfg.Config.Entrypoint, ociimage.BinaryPath)
	}
	if !strings.Contains(strings.Join(cfg.Config.Env, " "), "PATH=/usr/local/bin:/usr/bin:/bin") {
		t.Errorf("config env %q: PATH must hold %s", cfg.Config.Env, filepath.Dir(ociimage.BinaryPath))
	}
	if cfg.OS != "linux" || cfg.Architecture == "" || cfg.Config.Labels[ocispec.AnnotationVersion] != "v1.2.3" {
		t.Errorf("config os %q arch %q labels %v", cfg.OS, cfg.Architecture, cfg.Config.Labels)
	}
}

func mustRead(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTheSameInputsMakeTheSameImage(t *testing.T) {
	o := inputs(t)
	a, _, _, _ := build(t, o)
	b, _, _, _ := build(t, o)
	if a.Digest != b.Digest {
		t.Errorf("two builds of the same inputs: %s and %s", a.Digest, b.Digest)
	}
}

func TestBadInputsAreRefused(t *testing.T) {
	tests := map[string]struct {
		change func(t *testing.T, o *ociimage.Options)
		want   string
	}{
		"a plugin that does not match its checksum": {
			func(t *testing.T, o *ociimage.Options) {
				if err := os.WriteFile(filepath.Join(o.PluginDir, "cosign"), []byte("changed"), 0o755); err != nil {
					t.Fatal(err)
				}
			},
			"cosign does not match its SHA256SUMS entry",
		},
		"no SHA256SUMS": {
			func(t *testing.T, o *ociimage.Options) { os.Remove(filepath.Join(o.PluginDir, "SHA256SUMS")) },
			"SHA256SUMS",
		},
		"a SHA256SUMS line naming a path": {
			func(t *testing.T, o *ociimage.Options) {
				if err := os.WriteFile(filepath.Join(o.PluginDir, "SHA256SUMS"), []byte("00  ../etc/shadow\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			},
			"is not \"<sha256>  <file>\"",
		},
		"a dynamically linked binary": {
			func(t *testing.T, o *ociimage.Options) {
				dynamic, err := os.ReadFile("/bin/true") // Debian's coreutils: dynamically linked
				if err != nil {
					t.Fatal(err)
				}
				o.Assay = filepath.Join(t.TempDir(), "assay")
				if err := os.WriteFile(o.Assay, dynamic, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			"linked dynamically",
		},
		"no CA certificates": {
			func(t *testing.T, o *ociimage.Options) { o.CACertificates = filepath.Join(t.TempDir(), "none.pem") },
			"CA certificates",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := inputs(t)
			tc.change(t, &o)
			store, err := oci.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			_, err = ociimage.Build(context.Background(), store, "x", o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Build: %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestUnpackLaysOutTheRootFilesystem(t *testing.T) {
	o := inputs(t)
	_, _, _, store := build(t, o)
	root := t.TempDir()
	cfg, err := ociimage.Unpack(context.Background(), store, "v1.2.3", root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" {
		t.Errorf("config user %q", cfg.Config.User)
	}
	fi, err := os.Stat(filepath.Join(root, "usr/bin/assay"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("usr/bin/assay: %v, %v", fi, err)
	}
	if got := mustRead(t, filepath.Join(root, "usr/lib/assay/plugins/SHA256SUMS")); got != mustRead(t, filepath.Join(o.PluginDir, "SHA256SUMS")) {
		t.Errorf("SHA256SUMS unpacked as %q", got)
	}
}

func TestUnpackRefusesEntriesOutsideTheRoot(t *testing.T) {
	ctx := context.Background()
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	if err := tw.WriteHeader(&tar.Header{Name: "../escape", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("x"))
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw.Bytes())
	zw.Close()
	store, err := oci.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	layer := content.NewDescriptorFromBytes(ocispec.MediaTypeImageLayerGzip, gz.Bytes())
	cfgJSON := []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	cfg := content.NewDescriptorFromBytes(ocispec.MediaTypeImageConfig, cfgJSON)
	for _, b := range []struct {
		d    ocispec.Descriptor
		data []byte
	}{{layer, gz.Bytes()}, {cfg, cfgJSON}} {
		if err := store.Push(ctx, b.d, bytes.NewReader(b.data)); err != nil {
			t.Fatal(err)
		}
	}
	m, err := oras.PackManifest(ctx, store, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}, ConfigDescriptor: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Tag(ctx, m, "evil"); err != nil {
		t.Fatal(err)
	}
	parent := t.TempDir()
	root := filepath.Join(parent, "root")
	_, err = ociimage.Unpack(ctx, store, "evil", root)
	if err == nil || !strings.Contains(err.Error(), "leaves the root") {
		t.Fatalf("Unpack: %v, want an entry that leaves the root refused", err)
	}
	if _, err := os.Stat(filepath.Join(parent, "escape")); !os.IsNotExist(err) {
		t.Errorf("the entry was written outside the root: %v", err)
	}
}
