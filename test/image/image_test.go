// Package image builds Assay's container image from static builds of
// cmd/assay and the plugins (what `make image` does), pushes it to a real
// registry, pulls it back, unpacks its layer and runs the unpacked
// binaries: `assay version`, and `assay verify` with the image's plugin
// directory against images signed in the test. No container engine is
// involved; what the image would run is run directly.
package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/ociimage"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/servetest"
)

func TestTheImagesBinariesRunAndVerify(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	assay, pluginDir, err := servetest.BuildStatic(filepath.Join(dir, "build"), servetest.Plugins())
	if err != nil {
		t.Fatal(err)
	}

	reg := registrytest.NewOlareg(t)
	target := reg.Repository(t, "assayproj/assay")
	desc, err := ociimage.Build(ctx, target, "test", ociimage.Options{Assay: assay, PluginDir: pluginDir, Version: "image-test"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image %s: manifest %s", reg.RepositoryName("assayproj/assay:test"), desc.Digest)

	// Pulled back from the registry, as a node would.
	root := filepath.Join(dir, "rootfs")
	cfg, err := ociimage.Unpack(ctx, reg.Repository(t, "assayproj/assay"), "test", root)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != fmt.Sprintf("%d:%d", ociimage.UID, ociimage.UID) {
		t.Errorf("the image runs as %q, want the chart's runAsUser %d", cfg.Config.User, ociimage.UID)
	}
	bin := filepath.Join(root, filepath.FromSlash(ociimage.BinaryPath))
	imagePlugins := filepath.Join(root, filepath.FromSlash(ociimage.PluginDir))

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "assay") {
		t.Fatalf("assay version from the image: %v\n%s", err, out)
	}

	// The image's plugins, as the chart's --plugin-dir names them, verify
	// real signatures.
	ca, err := notationtest.NewCA(notationtest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueLeaf(notationtest.LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	params, err := notationtest.NewParams("*", ca, nil).JSON()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "assay.yaml")
	if err := os.WriteFile(config, []byte(servetest.NotationConfig([]string{reg.Host()}, params, "any")), 0o600); err != nil {
		t.Fatal(err)
	}
	push := func(name string, signed bool) string {
		r := reg.Repository(t, "app/"+name)
		d, err := notationtest.PushImage(ctx, r, r.Reference.Repository, "v1")
		if err != nil {
			t.Fatal(err)
		}
		if signed {
			sig, err := notationtest.Sign(ctx, leaf, d, notationtest.SignOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := notationtest.PushSignature(ctx, r, d, sig); err != nil {
				t.Fatal(err)
			}
		}
		return reg.RepositoryName("app/" + name + ":v1")
	}
	signed, unsigned := push("signed", true), push("unsigned", false)
	cmd := exec.Command(bin, "--plugin-dir", imagePlugins, "--config", config, "verify", "-o", "json", signed, unsigned)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	if _, ok := err.(*exec.ExitError); !ok && err != nil {
		t.Fatal(err)
	}
	// Two references: a JSON array of reports, in order.
	var reports []struct {
		Reference string `json:"reference"`
		IsSuccess bool   `json:"isSuccess"`
		Reason    string `json:"reason"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &reports); err != nil {
		t.Fatalf("verify output: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	got := map[string]string{}
	for _, r := range reports {
		got[r.Reference] = fmt.Sprintf("%v %s", r.IsSuccess, r.Reason)
	}
	want := map[string]string{signed: "true VERIFIED", unsigned: "false NO_SIGNATURE"}
	for ref, w := range want {
		if got[ref] != w {
			t.Errorf("%s: %q, want %q\nstdout:\n%s\nstderr:\n%s", ref, got[ref], w, stdout.String(), stderr.String())
		}
	}
}
