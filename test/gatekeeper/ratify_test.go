package gatekeeper

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/apis"
	"github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/unversioned"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/reader"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	"github.com/assayproj/assay/pkg/provider"
)

// ratifyContract is the fixture of Ratify v1.4's vulnerability report
// contract (see its header), relative to this package.
const ratifyContract = "testdata/ratify-v1.4-vulnerability-report.yaml"

// chartRatifyProvider renders the chart (charts/assay) with helm, with
// providers.ratify.enabled and otherwise its defaults, and returns the
// name of the Provider it makes for PathRatifyVerify. helm is
// $ASSAY_HELM_BIN, else .tools/bin/helm of the repository, as for the
// chart's own tests (test/helm).
func chartRatifyProvider(t *testing.T) string {
	t.Helper()
	helm := os.Getenv("ASSAY_HELM_BIN")
	if helm == "" {
		helm = filepath.Join("..", "..", ".tools", "bin", "helm")
	}
	if _, err := os.Stat(helm); err != nil {
		t.Fatalf("helm not found at %s (set ASSAY_HELM_BIN to a helm v3 binary, or run make tools): %v", helm, err)
	}
	home := t.TempDir()
	cmd := exec.Command(helm, "template", "assay", filepath.Join("..", "..", "charts", "assay"),
		"--namespace", "assay-system", "--set", "providers.ratify.enabled=true")
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(home, "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(home, "config"), "HELM_DATA_HOME="+filepath.Join(home, "data"),
		"KUBECONFIG="+filepath.Join(home, "no-kubeconfig"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm template: %v\n%s", err, stderr.String())
	}
	var names []string
	for _, doc := range strings.Split(string(out), "\n---") {
		var p struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Spec struct {
				URL string `json:"url"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatalf("helm template printed a document that does not decode: %v\n%s", err, doc)
		}
		if p.Kind == "Provider" && strings.HasSuffix(p.Spec.URL, provider.PathRatifyVerify) {
			names = append(names, p.Metadata.Name)
		}
	}
	if len(names) != 1 {
		t.Fatalf("the chart makes Providers %v for %s, want one", names, provider.PathRatifyVerify)
	}
	return names[0]
}

var callsProvider = regexp.MustCompile(`external_data\(\{"provider": "([^"]+)"`)

// ratifyContractTemplate reads the fixture, and returns it and the name
// of the Provider its Rego calls.
func ratifyContractTemplate(t *testing.T) (*unstructured.Unstructured, string) {
	t.Helper()
	raw, err := os.ReadFile(ratifyContract)
	if err != nil {
		t.Fatal(err)
	}
	var u unstructured.Unstructured
	if err := yaml.Unmarshal(raw, &u.Object); err != nil {
		t.Fatalf("%s: %v", ratifyContract, err)
	}
	m := callsProvider.FindAllStringSubmatch(string(raw), -1)
	if len(m) != 1 {
		t.Fatalf("%s calls external_data %d times, want once", ratifyContract, len(m))
	}
	return &u, m[0][1]
}

// enforceRatifyContract adds the fixture's template, a constraint of it
// on Pods, and the Provider the chart makes for the Ratify shape, calling
// assay serve, until the test ends. It returns the Provider's name.
func enforceRatifyContract(t *testing.T, requireSignature bool) string {
	t.Helper()
	u, calls := ratifyContractTemplate(t)
	name := chartRatifyProvider(t)
	if name != calls {
		t.Fatalf("the chart names its Ratify verify Provider %q, but Ratify's templates call %q", name, calls)
	}
	err := env.providers.Upsert(&unversioned.Provider{
		TypeMeta:   metav1.TypeMeta{APIVersion: "externaldata.gatekeeper.sh/v1beta1", Kind: "Provider"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       unversioned.ProviderSpec{URL: env.srv.URL + provider.PathRatifyVerify, Timeout: providerTimeout, CABundle: env.caBundle},
	})
	if err != nil {
		t.Fatalf("provider %s: %v", name, err)
	}
	t.Cleanup(func() { env.providers.Remove(name) })

	scheme := runtime.NewScheme()
	if err := apis.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	templ, err := reader.ToTemplate(scheme, u)
	if err != nil {
		t.Fatalf("%s: %v", ratifyContract, err)
	}
	if _, err := env.client.AddTemplate(context.Background(), templ); err != nil {
		t.Fatalf("add template %s: %v", ratifyContract, err)
	}
	t.Cleanup(func() {
		if _, err := env.client.RemoveTemplate(context.Background(), templ); err != nil {
			t.Errorf("remove template %s: %v", templ.Name, err)
		}
	})
	enforce(t, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "constraints.gatekeeper.sh/v1beta1",
		"kind":       "RatifyVulnerabilityReportContract",
		"metadata":   map[string]any{"name": "ratify-vulnerability-report"},
		"spec": map[string]any{
			"match":      map[string]any{"kinds": []any{map[string]any{"apiGroups": []any{""}, "kinds": []any{"Pod"}}}},
			"parameters": map[string]any{"requireSignature": requireSignature},
		},
	}})
	return name
}

// ratifyDenied is the fixture's violation for an image whose newest
// vulnerability report does not pass, with the time and traceID of the
// answer Gatekeeper cached from provider.
func ratifyDenied(t *testing.T, providerName, image string) []violation {
	t.Helper()
	v := ratifyValue(t, providerName, image)
	return denied("RatifyVulnerabilityReportContract/ratify-vulnerability-report", fmt.Sprintf(
		"Time=%s, image %s has no fresh, successful vulnerability report, trace-id: %s", v["timestamp"], image, v["traceID"]))
}

// ratifyValue returns Assay's Ratify-shape answer for image, as
// Gatekeeper cached it from providerName.
func ratifyValue(t *testing.T, providerName, image string) map[string]any {
	t.Helper()
	v, ok := cached(providerName, image)
	if !ok || v.Error != "" {
		t.Fatalf("no cached answer for %s from %s (%+v)", image, providerName, v)
	}
	value, _ := v.Value.(map[string]any)
	return value
}

// vulnerabilityReport returns the verifier report on r in value, failing
// the test unless it has Ratify's type and r's createdAt.
func vulnerabilityReport(t *testing.T, value map[string]any, r attached) map[string]any {
	t.Helper()
	reports, _ := value["verifierReports"].([]any)
	for _, vr := range reports {
		vr, _ := vr.(map[string]any)
		if vr["referenceDigest"] != r.desc.Digest.String() {
			continue
		}
		ext, _ := vr["extensions"].(map[string]any)
		if vr["type"] != "vulnerabilityreport" || vr["artifactType"] != sarifType || ext["createdAt"] != r.created {
			t.Errorf("the report on %s has type %v, artifactType %v and createdAt %v; want vulnerabilityreport, %s and %s",
				r.desc.Digest, vr["type"], vr["artifactType"], ext["createdAt"], sarifType, r.created)
		}
		return vr
	}
	t.Fatalf("no verifier report on %s in %v", r.desc.Digest, value)
	return nil
}

// TestRatifyVulnerabilityReportContractHoldsAgainstAssay runs the fixture
// of Ratify v1.4's vulnerability report template against assay serve's
// Ratify endpoint (the real vulnreport plugin on reports in a real
// registry), through the Provider the chart makes by default.
func TestRatifyVulnerabilityReportContractHoldsAgainstAssay(t *testing.T) {
	const (
		cleanTrivy = "trivy-clean.sarif.json"
		dirtyTrivy = "trivy-findings.sarif.json"
		cleanGrype = "grype-clean.sarif.json"
	)

	t.Run("a fresh, clean, signed report is admitted", func(t *testing.T) {
		name := enforceRatifyContract(t, true)
		img, reports := scanned(t, "app", scan{file: cleanTrivy, age: time.Hour, signed: true})
		expect(t, review(t, create(pod("default", img.ref))), nil)
		vr := vulnerabilityReport(t, ratifyValue(t, name, img.ref), reports[0])
		nested, _ := vr["nestedResults"].([]any)
		if len(nested) != 1 {
			t.Fatalf("nested results %v, want the report's signature", vr["nestedResults"])
		}
		sig, _ := nested[0].(map[string]any)
		repo := env.registry.RepositoryName(testRepository(t, "app"))
		if want := repo + "@" + reports[0].desc.Digest.String(); sig["subject"] != want || sig["type"] != "notation" || sig["isSuccess"] != true {
			t.Errorf("the signature's result: subject %v, type %v, isSuccess %v; want %s, notation, true", sig["subject"], sig["type"], sig["isSuccess"], want)
		}
	})

	t.Run("a report older than the Verifier's maxAge is denied", func(t *testing.T) {
		name := enforceRatifyContract(t, false)
		img, reports := scanned(t, "app", scan{file: cleanTrivy, age: 200 * time.Hour, signed: true})
		got := review(t, create(pod("default", img.ref)))
		expect(t, got, ratifyDenied(t, name, img.ref))
		if vr := vulnerabilityReport(t, ratifyValue(t, name, img.ref), reports[0]); vr["isSuccess"] != false {
			t.Errorf("the old report is isSuccess %v", vr["isSuccess"])
		}
	})

	t.Run("a report with critical and high findings is denied", func(t *testing.T) {
		name := enforceRatifyContract(t, false)
		img, _ := scanned(t, "app", scan{file: dirtyTrivy, age: time.Hour, signed: true})
		expect(t, review(t, create(pod("default", img.ref))), ratifyDenied(t, name, img.ref))
	})

	t.Run("a signed image without a report is denied", func(t *testing.T) {
		name := enforceRatifyContract(t, false)
		img, _ := scanned(t, "app")
		expect(t, review(t, create(pod("default", img.ref))), ratifyDenied(t, name, img.ref))
		// Assay's own Policy does not require a report: the template's
		// denial is its own.
		if v := ratifyValue(t, name, img.ref); v["isSuccess"] != true {
			t.Errorf("the image is isSuccess %v under Assay's Policy, want true", v["isSuccess"])
		}
	})

	t.Run("of an old dirty report and a new clean one the new one decides", func(t *testing.T) {
		enforceRatifyContract(t, true)
		img, _ := scanned(t, "app",
			scan{file: dirtyTrivy, age: 72 * time.Hour, signed: true},
			scan{file: cleanGrype, age: time.Hour, signed: true})
		expect(t, review(t, create(pod("default", img.ref))), nil)
	})
}
