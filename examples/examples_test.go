package examples_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/assayproj/assay/pkg/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// pluginDir holds the plugins, built once for the package.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "assay-examples-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := servetest.BuildPlugins(dir, servetest.Plugins()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pluginDir = dir
		return m.Run()
	}()
	os.Exit(code)
}

// want is the verdict an example gives one corpus sample.
type want struct {
	sample string
	// reason is the report's reason; "" is VERIFIED.
	reason report.Reason
}

// reportFresh is the outcome of the vulnreport examples (maxAge 168h) for
// the corpus's SARIF report: verified while the report is under a week
// old, then failed as too old.
func reportFresh(t *testing.T, c *registrytest.Corpus) report.Reason {
	s := c.Sample(t, "10-sarif-notation-signed")
	raw, err := os.ReadFile(c.Path(filepath.Join(s.Layout, "blobs", "sha256", strings.TrimPrefix(s.SarifArtifact, "sha256:"))))
	if err != nil {
		t.Fatal(err)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	created, err := time.Parse(time.RFC3339, m.Annotations[ocispec.AnnotationCreated])
	if err != nil {
		t.Fatalf("the corpus report's creation time: %v", err)
	}
	if time.Since(created) < 168*time.Hour {
		return report.ReasonVerified
	}
	return report.ReasonVerificationFailed
}

// TestExamplesVerifyTheImagesTheCLIsSigned loads each file of examples/
// as `assay verify --config` does (plus a Store for the test registry),
// with the real plugins, and verifies the corpus images the example is
// for, and an unsigned image, which every example must refuse.
func TestExamplesVerifyTheImagesTheCLIsSigned(t *testing.T) {
	c := registrytest.OpenCorpus(t)
	fresh := reportFresh(t, c)
	examples := map[string][]want{
		"notation.yaml": {
			{sample: "01-notation-jws"}, {sample: "02-notation-cose"},
			{sample: "06-cosign3-bundle-key", reason: report.ReasonNoSignature},
		},
		"cosign-key.yaml": {
			{sample: "03-cosign2-classic-sig"}, {sample: "04-cosign2-oci11-referrer"},
			{sample: "05-cosign2-new-bundle-format"}, {sample: "06-cosign3-bundle-key"},
			{sample: "01-notation-jws", reason: report.ReasonNoSignature},
		},
		"cosign-keyless.yaml": {
			{sample: "11-cosign3-keyless-tsa"},
			// signed with a key, not by the trusted identity
			{sample: "06-cosign3-bundle-key", reason: report.ReasonSignatureUntrusted},
		},
		"vulnreport.yaml": {
			{sample: "10-sarif-notation-signed", reason: fresh},
			{sample: "01-notation-jws", reason: report.ReasonArtifactMissing},
		},
		"combined.yaml": {
			// a signed report but no signature on the image itself
			{sample: "10-sarif-notation-signed", reason: report.ReasonNoSignature},
			// a signature but no report
			{sample: "01-notation-jws", reason: report.ReasonArtifactMissing},
			{sample: "06-cosign3-bundle-key", reason: report.ReasonArtifactMissing},
		},
	}
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(examples) {
		t.Fatalf("examples/ holds %v; the test knows %d examples: give each new file its expectations", files, len(examples))
	}

	srv := registrytest.NewOlareg(t)
	refs := map[string]string{}
	for name, s := range c.Samples {
		refs[name] = c.Load(t, srv, s, false)
	}
	unsigned := registrytest.PushImage(t, srv.Repository(t, "unsigned"), "v1")
	unsignedRef := srv.RepositoryName("unsigned") + "@" + unsigned.Digest.String()

	for _, file := range files {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			objs, err := catalog.Decode(file, data)
			if err != nil {
				t.Fatal(err)
			}
			if err := objs.Validate(file); err != nil {
				t.Fatalf("the example does not validate:\n%v", err)
			}
			objs.Stores = append(objs.Stores, v1alpha1.Store{
				ObjectMeta: metav1.ObjectMeta{Name: "test-registry"},
				Spec:       v1alpha1.StoreSpec{Registries: []v1alpha1.RegistrySpec{{Host: srv.Host(), PlainHTTP: true}}},
			})
			stack, err := store.NewStack(store.StackOptions{})
			if err != nil {
				t.Fatal(err)
			}
			rt, err := engine.New(engine.Options{Stack: stack, PluginDir: pluginDir})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(rt.Close)
			eng, err := rt.Load(context.Background(), objs, file, data)
			if err != nil {
				t.Fatalf("assay refuses the example:\n%v", err)
			}
			cases := append(examples[file], want{sample: "unsigned"})
			for _, w := range cases {
				ref := refs[w.sample]
				if w.sample == "unsigned" {
					ref = unsignedRef
				}
				rep, err := eng.Verify(context.Background(), ref)
				if err != nil {
					t.Fatalf("%s: %v", w.sample, err)
				}
				switch {
				case w.sample == "unsigned":
					if rep.IsSuccess {
						t.Errorf("an unsigned image passes %s: %s", file, rep.Message)
					}
				case w.reason == "" || w.reason == report.ReasonVerified:
					if !rep.IsSuccess || rep.Reason != report.ReasonVerified {
						t.Errorf("%s: %s: %s, want VERIFIED", w.sample, rep.Reason, rep.Message)
					}
				default:
					if rep.IsSuccess || rep.Reason != w.reason {
						t.Errorf("%s: isSuccess=%v %s: %s, want failed %s", w.sample, rep.IsSuccess, rep.Reason, rep.Message, w.reason)
					}
				}
				if strings.Contains(rep.Message, "%!") {
					t.Errorf("%s: message has a formatting error: %s", w.sample, rep.Message)
				}
			}
		})
	}
}
