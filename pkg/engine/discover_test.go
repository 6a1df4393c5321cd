package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// discoverEngine returns an Engine that discovers only, for a Store on
// host.
func discoverEngine(t *testing.T, host string) *engine.Engine {
	t.Helper()
	_, rt := newRuntime(t, engine.Options{DiscoverOnly: true})
	objs, err := catalog.Decode("test", []byte("apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: {name: s}\nspec:\n  registries: [{host: \""+host+"\", plainHTTP: true}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rt.Load(context.Background(), objs, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// sourceMessages maps each source of rep to its message.
func sourceMessages(rep *report.Report) map[report.SourceName]string {
	m := map[report.SourceName]string{}
	for _, s := range rep.Sources {
		m[s.Name] = s.Message
	}
	return m
}

func TestDiscoverSaysWhereItLookedAndWhatEachPlaceGave(t *testing.T) {
	tests := map[string]struct {
		start     func(testing.TB) *registrytest.Server
		want      map[report.SourceName]string
		wantFound map[report.SourceName]int
	}{
		"a registry with the referrers API": {
			start: registrytest.NewOlareg,
			want: map[report.SourceName]string{
				report.SourceReferrersAPI:       "referrers API: 2 artifacts",
				report.SourceCosignSignatureTag: "cosign signature tag sha256-%s.sig: 1 signature manifest",
			},
			wantFound: map[report.SourceName]int{report.SourceReferrersAPI: 2, report.SourceCosignSignatureTag: 1},
		},
		"a registry with the referrers tag schema only": {
			start: registrytest.StartDistribution,
			want: map[report.SourceName]string{
				report.SourceReferrersTagSchema: "referrers tag schema (the registry has no referrers API): tag sha256-%s, 2 artifacts",
				report.SourceCosignSignatureTag: "cosign signature tag sha256-%s.sig: 1 signature manifest",
			},
			wantFound: map[report.SourceName]int{report.SourceReferrersTagSchema: 2, report.SourceCosignSignatureTag: 1},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			srv := tc.start(t)
			push := srv.Repository(t, "discover/app")
			image := registrytest.PushImage(t, push, "v1")
			sarif := registrytest.Attach(t, push, image, registrytest.Artifact{ArtifactType: "application/sarif+json"})
			registrytest.Attach(t, push, sarif, registrytest.Artifact{ArtifactType: notationtest.ArtifactType})
			registrytest.PushCosignSignatureTag(t, push, image)

			rep, err := discoverEngine(t, srv.Host()).Discover(context.Background(), srv.RepositoryName("discover/app")+":v1")
			if err != nil || rep.Reason != "" {
				t.Fatalf("discover: %v, %s: %s", err, rep.Reason, rep.Message)
			}
			got := map[report.SourceName]int{}
			for _, s := range rep.Sources {
				got[s.Name] = s.Found
			}
			hex := image.Digest.Encoded()
			for src, msg := range tc.want {
				if want := strings.ReplaceAll(msg, "%s", hex); sourceMessages(rep)[src] != want {
					t.Errorf("source %s says %q, want %q", src, sourceMessages(rep)[src], want)
				}
				if got[src] != tc.wantFound[src] {
					t.Errorf("source %s found %d, want %d", src, got[src], tc.wantFound[src])
				}
			}
			if len(rep.Sources) != len(tc.want) {
				t.Errorf("sources %+v, want %d", rep.Sources, len(tc.want))
			}
		})
	}
}

// TestDiscoverFindsATagSchemaIndexTheReferrersAPIDoesNotList pushes to a
// registry with the referrers API a referrers tag schema index listing a
// signature whose manifest has no subject field, so that the API does
// not list it: what a client forcing the tag schema can leave behind.
func TestDiscoverFindsATagSchemaIndexTheReferrersAPIDoesNotList(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.NewOlareg(t)
	push := srv.Repository(t, "discover/forced")
	image := registrytest.PushImage(t, push, "v1")
	lonely := registrytest.PushImage(t, push, "lonely")
	orphan := registrytest.PushImage(t, push, "orphan")
	orphan.ArtifactType = notationtest.ArtifactType
	index, err := json.Marshal(ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{orphan}})
	if err != nil {
		t.Fatal(err)
	}
	desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageIndex, Digest: digest.FromBytes(index), Size: int64(len(index))}
	if err := push.PushReference(ctx, desc, bytes.NewReader(index), store.ReferrersTag(image.Digest)); err != nil {
		t.Fatal(err)
	}
	e := discoverEngine(t, srv.Host())

	rep, err := e.Discover(ctx, srv.RepositoryName("discover/forced")+":v1")
	if err != nil || rep.Reason != "" || len(rep.Artifacts) != 0 {
		t.Fatalf("discover: %v, %s: %s, artifacts %+v", err, rep.Reason, rep.Message, rep.Artifacts)
	}
	want := "a referrers tag schema index sha256-" + image.Digest.Encoded() + " exists with 1 entry but the registry's referrers API does not list them (pushed with --force-referrers-tag?)"
	if got := sourceMessages(rep)[report.SourceReferrersTagSchema]; got != want {
		t.Errorf("tag schema source %q, want %q (sources %+v)", got, want, rep.Sources)
	}
	if got := sourceMessages(rep)[report.SourceReferrersAPI]; got != "referrers API: no artifacts" {
		t.Errorf("referrers API source %q", got)
	}

	rep, err = e.Discover(ctx, srv.RepositoryName("discover/forced")+":lonely")
	if err != nil || rep.Reason != "" {
		t.Fatalf("discover: %v, %s: %s", err, rep.Reason, rep.Message)
	}
	if got, want := sourceMessages(rep)[report.SourceReferrersTagSchema], "referrers tag schema: no tag sha256-"+lonely.Digest.Encoded()+" either"; got != want {
		t.Errorf("an image without referrers: tag schema source %q, want %q", got, want)
	}
}

func TestTheVerifiersWarningsAreKeptOnTheEngine(t *testing.T) {
	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(t, ca, notationtest.LeafOptions{})
	params := notationtest.NewParams("localhost:5000/app", ca, nil)
	// A bare leaf anchors no signature: notation trusts CA certificates.
	params.TrustStores.CA[notationtest.DefaultStoreName] = notationtest.TrustStore{Certificates: []string{notationtest.PEM(leaf.Cert)}}
	objs, err := catalog.Decode("test", []byte(servetest.NotationConfig([]string{"localhost:5000"}, notationtest.MustJSON(t, params), "")))
	if err != nil {
		t.Fatal(err)
	}
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	e, err := rt.Load(context.Background(), objs, "assay.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	warnings := e.Warnings()
	if len(warnings) != 1 {
		t.Fatalf("warnings %q, want one", warnings)
	}
	for _, want := range []string{`assay.yaml: Verifier "notation" field spec.parameters.trustStores.ca.` + notationtest.DefaultStoreName, "trust store cannot anchor any signature", "root CA"} {
		if !strings.Contains(warnings[0], want) {
			t.Errorf("warning %q lacks %q", warnings[0], want)
		}
	}
}
