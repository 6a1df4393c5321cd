package e2e

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/content"
	"oras.land/oras-go/v2/registry/remote"
)

// pushIndex pushes an OCI image index of platform manifests to repo and
// tags it.
func pushIndex(t *testing.T, repo *remote.Repository, tag string, manifests ...ocispec.Descriptor) ocispec.Descriptor {
	t.Helper()
	raw, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests})
	if err != nil {
		t.Fatal(err)
	}
	d := content.NewDescriptorFromBytes(ocispec.MediaTypeImageIndex, raw)
	ctx := context.Background()
	if err := repo.Push(ctx, d, strings.NewReader(string(raw))); err != nil {
		t.Fatal(err)
	}
	if err := repo.Tag(ctx, d, tag); err != nil {
		t.Fatal(err)
	}
	return d
}

func withPlatform(d ocispec.Descriptor, os, arch string) ocispec.Descriptor {
	d.Platform = &ocispec.Platform{OS: os, Architecture: arch}
	d.ArtifactType = ""
	d.Annotations = nil
	return d
}

func TestMultiArchImagesUnderEachPolicyMode(t *testing.T) {
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			f := newFixture(t, reg.start(t))
			r := f.repo("multi/app")
			amd := withPlatform(f.image(r, "amd64"), "linux", "amd64")
			arm := withPlatform(f.image(r, "arm64"), "linux", "arm64")
			s390 := withPlatform(f.image(r, "s390x"), "linux", "s390x")
			for _, d := range []ocispec.Descriptor{amd, arm} {
				f.sign(r, f.leaf, d, notationtest.SignOptions{})
			}
			pushIndex(t, r, "all-signed", amd, arm)
			partial := pushIndex(t, r, "partly-signed", amd, arm, s390)
			f.sign(r, f.leaf, partial, notationtest.SignOptions{}) // the index itself is signed

			config := func(mode string) string {
				t.Helper()
				path := f.config(r.Reference.String(), configOptions{})
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				doc := strings.Replace(string(data), "metadata: {name: signed}\nspec:\n", "metadata: {name: signed}\nspec:\n  multiArch: "+mode+"\n", 1)
				if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
					t.Fatal(err)
				}
				return path
			}
			cases := map[string]struct {
				mode, tag string
				success   bool
				reason    report.Reason
				coverage  string
			}{
				"index: an unsigned index fails although its platforms are signed": {"index", "all-signed", false, report.ReasonNoSignature, ""},
				"index: a signed index passes although a platform is not":          {"index", "partly-signed", true, report.ReasonVerified, ""},
				"platforms: every platform signed passes":                          {"platforms", "all-signed", true, report.ReasonVerified, "2 of 2 platforms pass"},
				"platforms: one unsigned platform fails":                           {"platforms", "partly-signed", false, report.ReasonNoSignature, "2 of 3 platforms pass"},
				"either: the signed index passes":                                  {"either", "partly-signed", true, report.ReasonVerified, "2 of 3 platforms pass"},
				"either: every platform signed passes":                             {"either", "all-signed", true, report.ReasonVerified, "2 of 2 platforms pass"},
			}
			for name, tc := range cases {
				t.Run(name, func(t *testing.T) {
					rep, _ := verifyJSON(t, config(tc.mode), nil, r.Reference.String()+":"+tc.tag)
					if rep.IsSuccess != tc.success || rep.Reason != tc.reason {
						t.Fatalf("isSuccess %v reason %s (%s), want %v %s", rep.IsSuccess, rep.Reason, rep.Message, tc.success, tc.reason)
					}
					got := ""
					if rep.Coverage != nil {
						got = rep.Coverage.Message
					}
					if got != tc.coverage {
						t.Fatalf("coverage %q, want %q", got, tc.coverage)
					}
					if tc.coverage != "" && !tc.success && !strings.Contains(rep.Message, "linux/s390x "+s390.Digest.String()) {
						t.Errorf("message %q does not name the unsigned platform", rep.Message)
					}
				})
			}
		})
	}
}
