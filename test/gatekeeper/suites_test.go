package gatekeeper

import (
	"context"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	"github.com/open-policy-agent/frameworks/constraint/pkg/core/templates"
	"github.com/open-policy-agent/frameworks/constraint/pkg/types"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/verify"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/util"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// sampleHost is the registry the library's samples and suites name.
const sampleHost = "registry.example.com"

// TestLibrarySuitesPassAgainstAssay runs the suite.yaml of each template
// with gator's own Runner, as its header asks: the images the samples name
// are pushed to the olareg registry, every file is read with
// registry.example.com replaced by that registry's host, and the Runner's
// client is the shared one, whose driver calls assay serve.
//
// assayvulnerabilityreport's suite wants assay/scanned:v1 with a signed
// report of the last week without CRITICAL or HIGH findings,
// assay/unscanned:v1 without a report and assay/critical:v1 with a signed,
// recent report with a CRITICAL finding; the images are signed too. The
// Verifier "reports" fails the critical report as well, so that Pod has two
// violations; the suite's case counts only those matching its message, the
// template's own "has findings of disallowed severity", and there is one.
func TestLibrarySuitesPassAgainstAssay(t *testing.T) {
	for _, image := range []struct {
		path   string
		signed bool
	}{{"assay/signed", true}, {"assay/unsigned", false}, {"assay/unsigned-too", false}, {"assay/unscanned", true}} {
		pushAt(t, image.path, image.signed)
	}
	for path, file := range map[string]string{"assay/scanned": "trivy-clean.sarif.json", "assay/critical": "trivy-findings.sarif.json"} {
		attachReport(t, pushImage(t, path, true), scan{file: file, age: time.Hour, signed: true})
	}
	fsys := rewrittenLibrary(t, sampleHost, env.registry.Host())
	var added []*unstructured.Unstructured
	t.Cleanup(func() { removeAll(t, &added) })
	filter, err := verify.NewFilter("")
	if err != nil {
		t.Fatal(err)
	}
	runner, err := verify.NewRunner(fsys, func(...gator.Opt) (gator.Client, error) {
		return &suiteClient{t: t, added: &added}, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"assayverifiedimages", "assayverifiedimagesnamespaced", "assayvulnerabilityreport"} {
		t.Run(dir, func(t *testing.T) {
			suites, err := verify.ReadSuites(fsys, dir+"/suite.yaml", dir+"/suite.yaml", false)
			if err != nil {
				t.Fatal(err)
			}
			if len(suites) != 1 || len(suites[0].Tests) == 0 {
				t.Fatalf("%s/suite.yaml holds %d suites", dir, len(suites))
			}
			res := runner.Run(context.Background(), filter, suites[0])
			var out strings.Builder
			if err := (verify.PrinterGo{}).PrintSuite(&out, &res, true); err != nil {
				t.Fatal(err)
			}
			cases := 0
			for _, tr := range res.TestResults {
				cases += len(tr.CaseResults)
			}
			if res.IsFailure() || cases == 0 {
				t.Errorf("suite failed (%d cases):\n%s", cases, out.String())
			} else {
				t.Logf("%d cases:\n%s", cases, out.String())
			}
		})
	}
}

// rewrittenLibrary is library/ in memory with old replaced by new in
// every file.
func rewrittenLibrary(t *testing.T, old, new string) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := fs.WalkDir(os.DirFS(libraryDir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(os.DirFS(libraryDir), p)
		if err != nil {
			return err
		}
		m[p] = &fstest.MapFile{Data: []byte(strings.ReplaceAll(string(data), old, new)), Mode: 0o644}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// suiteClient is the gator.Client the Runner gets for each test and case:
// the shared client, holding only the constraint added last (the Runner
// expects a fresh client each time), reviewing at the webhook's
// enforcement point.
type suiteClient struct {
	t     *testing.T
	added *[]*unstructured.Unstructured
}

var _ gator.Client = (*suiteClient)(nil)

func (c *suiteClient) AddTemplate(ctx context.Context, templ *templates.ConstraintTemplate) (*types.Responses, error) {
	return env.client.AddTemplate(ctx, templ) // the same template: a no-op
}

func (c *suiteClient) AddConstraint(ctx context.Context, u *unstructured.Unstructured) (*types.Responses, error) {
	removeAll(c.t, c.added)
	resp, err := env.client.AddConstraint(ctx, u)
	if err == nil {
		*c.added = append(*c.added, u)
	}
	return resp, err
}

func (c *suiteClient) AddData(ctx context.Context, data interface{}) (*types.Responses, error) {
	return env.client.AddData(ctx, data)
}

func (c *suiteClient) RemoveData(ctx context.Context, data interface{}) (*types.Responses, error) {
	return env.client.RemoveData(ctx, data)
}

func (c *suiteClient) Review(ctx context.Context, obj interface{}, opts ...reviews.ReviewOpt) (*types.Responses, error) {
	// The Runner reviews at gator's enforcement point; the shared client
	// serves the webhook's and audit's.
	return env.client.Review(ctx, obj, append(opts, reviews.EnforcementPoint(util.WebhookEnforcementPoint))...)
}

func removeAll(t *testing.T, added *[]*unstructured.Unstructured) {
	t.Helper()
	for _, u := range *added {
		if _, err := env.client.RemoveConstraint(context.Background(), u); err != nil {
			t.Errorf("remove constraint %s: %v", u.GetName(), err)
		}
	}
	*added = nil
}
