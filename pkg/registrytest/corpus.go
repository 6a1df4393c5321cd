package registrytest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry/remote"
)

// Sample is one entry of the corpus's samples.json: an image signed or
// attested by a real CLI, exported as an OCI image layout.
type Sample struct {
	Name       string `json:"name"`
	Title      string `json:"title"`
	Tool       string `json:"tool"`
	Layout     string `json:"layout"`
	Repository string `json:"repository"`
	Tag        string `json:"tag"`
	Subject    string `json:"subject"`
	Verdict    string `json:"verdict"`
	Checks     []struct {
		Expect  string `json:"expect"`
		What    string `json:"what"`
		Command string `json:"command"`
	} `json:"checks"`
	PredicateType  string `json:"predicateType"`
	ScanFinishedOn string `json:"scanFinishedOn"`
	SarifArtifact  string `json:"sarifArtifact"`
}

// Corpus is the folder test/corpus: samples made by the notation, cosign
// v2 and v3, oras and skopeo CLIs, with their public trust material.
type Corpus struct {
	// Dir is the corpus folder; trust material is under Dir/trust.
	Dir     string
	Samples map[string]Sample
}

// CorpusDir is test/corpus of this repository.
func CorpusDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "test", "corpus")
}

// OpenCorpus reads test/corpus/samples.json.
func OpenCorpus(t testing.TB) *Corpus {
	t.Helper()
	dir := CorpusDir()
	raw, err := os.ReadFile(filepath.Join(dir, "samples.json"))
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	var doc struct {
		Samples []Sample `json:"samples"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("corpus: samples.json: %v", err)
	}
	c := &Corpus{Dir: dir, Samples: map[string]Sample{}}
	for _, s := range doc.Samples {
		c.Samples[s.Name] = s
	}
	return c
}

// Path is a file of the corpus, for example "trust/cosign/cosign.pub".
func (c *Corpus) Path(rel string) string { return filepath.Join(c.Dir, rel) }

// Sample returns the named sample or fails the test.
func (c *Corpus) Sample(t testing.TB, name string) Sample {
	t.Helper()
	s, ok := c.Samples[name]
	if !ok {
		t.Fatalf("corpus: no sample %q", name)
	}
	return s
}

// Load pushes the sample into srv under its own repository, byte for
// byte, and returns the reference to verify: host/repository@subject.
// With referrersTags the referrers tag schema indexes the CLIs wrote are
// pushed too: right for distribution (no referrers API); wrong for
// olareg, which builds its listing from the subjects and loses it when
// such an index is tagged (see test/corpus/README.md).
func (c *Corpus) Load(t testing.TB, srv *Server, s Sample, referrersTags bool) string {
	t.Helper()
	if err := LoadLayout(context.Background(), filepath.Join(c.Dir, s.Layout), srv.Repository(t, s.Repository), referrersTags); err != nil {
		t.Fatalf("corpus: %v", err)
	}
	return srv.RepositoryName(s.Repository) + "@" + s.Subject
}

// referrersTag matches the tags of the OCI 1.1 referrers tag schema
// ("sha256-<hex>"); cosign's "sha256-<hex>.sig" and ".att" do not match.
var referrersTag = regexp.MustCompile(`^sha256-[0-9a-f]{64}$`)

// LoadLayout pushes every manifest and blob of the OCI image layout in
// dir to dst and sets every tag its index.json names. Nothing is
// rewritten. dst must be a fresh repository value: LoadLayout tells it
// the registry has the referrers API so that oras-go writes no referrers
// tag schema index of its own. Untagged manifests (referrers) go first,
// then tags, then (with referrersTags) the layout's referrers indexes.
func LoadLayout(ctx context.Context, dir string, dst *remote.Repository, referrersTags bool) error {
	src, err := oci.NewFromFS(ctx, os.DirFS(dir))
	if err != nil {
		return fmt.Errorf("open layout %s: %w", dir, err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return err
	}
	var index ocispec.Index
	if err := json.Unmarshal(raw, &index); err != nil {
		return fmt.Errorf("%s/index.json: %w", dir, err)
	}
	if err := dst.SetReferrersCapability(true); err != nil {
		return err
	}
	rank := func(d ocispec.Descriptor) int {
		switch name := d.Annotations[ocispec.AnnotationRefName]; {
		case name == "":
			return 0
		case referrersTag.MatchString(name):
			return 2
		default:
			return 1
		}
	}
	manifests := index.Manifests
	sort.SliceStable(manifests, func(i, j int) bool { return rank(manifests[i]) < rank(manifests[j]) })
	for _, d := range manifests {
		name := d.Annotations[ocispec.AnnotationRefName]
		switch {
		case name == "":
			plain := ocispec.Descriptor{MediaType: d.MediaType, Digest: d.Digest, Size: d.Size}
			if err := oras.CopyGraph(ctx, src, dst, plain, oras.DefaultCopyGraphOptions); err != nil {
				return fmt.Errorf("%s: push %s: %w", dir, d.Digest, err)
			}
		case referrersTag.MatchString(name) && !referrersTags:
			continue
		default:
			if _, err := oras.Copy(ctx, src, name, dst, name, oras.DefaultCopyOptions); err != nil {
				return fmt.Errorf("%s: push tag %s: %w", dir, name, err)
			}
		}
	}
	return nil
}
