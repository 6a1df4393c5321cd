package e2e

import (
	"context"
	"encoding/json"
	"fmt"

	"net/http"
	"net/http/httptest"
	"oras.land/oras-go/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
)

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "assay.yaml")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyTextOutputShowsVerdictsAndRemedies(t *testing.T) {
	f := newFixture(t, registrytest.NewOlareg(t).Host())
	r := f.repo("cli/app")
	signed := f.image(r, "signed")
	f.sign(r, f.leaf, signed, notationtest.SignOptions{})
	f.image(r, "unsigned")
	cfg := f.config(r.Reference.String(), configOptions{})

	res := runAssay(t, "--config", cfg, "verify", r.Reference.String()+":signed", r.Reference.String()+":unsigned")
	if res.code != 1 {
		t.Fatalf("exit code %d, want 1 when one image fails\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, want := range []string{
		"PASS  " + r.Reference.String() + ":signed",
		"FAIL  " + r.Reference.String() + ":unsigned",
		"NO_SIGNATURE",
		"fix      " + report.ReasonNoSignature.Remediation(),
		"notation verified: VERIFIED",
		"signerSubject:",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, res.stdout)
		}
	}

	res = runAssay(t, "--config", cfg, "verify", r.Reference.String()+":signed")
	if res.code != 0 {
		t.Fatalf("exit code %d for a signed image\n%s%s", res.code, res.stdout, res.stderr)
	}
}

func TestDiscoverShowsTheReferrerTree(t *testing.T) {
	f := newFixture(t, registrytest.StartDistribution(t).Host())
	r := f.repo("cli/discover")
	d := f.image(r, "v1")
	f.sign(r, f.leaf, d, notationtest.SignOptions{})
	f.sign(r, f.leaf, d, notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE})
	cfg := f.config(r.Reference.String(), configOptions{})

	res := runAssay(t, "--config", cfg, "discover", r.Reference.String()+":v1")
	if res.code != 0 {
		t.Fatalf("exit code %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if n := strings.Count(res.stdout, "└─ "+notarySignature); n != 2 {
		t.Errorf("discover shows %d signatures, want 2:\n%s", n, res.stdout)
	}
	if !strings.Contains(res.stdout, "subject  "+r.Reference.String()+"@"+d.Digest.String()) {
		t.Errorf("discover does not show the pinned subject:\n%s", res.stdout)
	}
	tag := "sha256-" + d.Digest.Encoded()
	for _, want := range []string{
		"  found    2 artifacts\n",
		"  looked in\n",
		"    referrers tag schema (the registry has no referrers API): tag " + tag + ", 2 artifacts\n",
		"    cosign signature tag " + tag + ".sig: none\n",
	} {
		if !strings.Contains(res.stdout, want) {
			t.Errorf("discover output lacks %q:\n%s", want, res.stdout)
		}
	}

	res = runAssay(t, "--config", cfg, "discover", "-o", "json", r.Reference.String()+":v1")
	var reps []report.Report
	if err := json.Unmarshal([]byte(res.stdout), &reps); err != nil || len(reps) != 1 || res.code != 0 {
		t.Fatalf("discover -o json: exit %d, not an array of one report: %v\n%s%s", res.code, err, res.stdout, res.stderr)
	}
	rep := reps[0]
	if rep.Message != "2 artifacts found, none verified (discovery runs no Verifier)" {
		t.Errorf("message %q", rep.Message)
	}
	for _, a := range rep.Artifacts {
		if a.Results == nil || len(a.Results) != 0 {
			t.Errorf("artifact %s: results %#v, want an empty list (no Verifier ran)", a.Digest, a.Results)
		}
	}
	if !strings.Contains(res.stdout, `"results": []`) || strings.Contains(res.stdout, `"results": null`) {
		t.Errorf("results are not empty lists:\n%s", res.stdout)
	}
	if len(rep.Sources) != 2 || rep.Sources[0].Name != report.SourceReferrersTagSchema || rep.Sources[0].Found != 2 {
		t.Errorf("sources %+v", rep.Sources)
	}
}

func TestDiscoverOfAnUnreachableRegistryPrintsTheFailureOnly(t *testing.T) {
	res := runAssay(t, "--timeout", "2s", "discover", "localhost:1/none@sha256:"+strings.Repeat("1", 64))
	if res.code != 1 {
		t.Fatalf("exit code %d, want 1\n%s%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "error    ") || !strings.Contains(res.stdout, "fix      ") {
		t.Errorf("the failure is not shown:\n%s", res.stdout)
	}
	if strings.Contains(res.stdout, "no artifacts") || strings.Contains(res.stdout, "looked in") {
		t.Errorf("after a failure discover says more than the failure:\n%s", res.stdout)
	}
}

func TestVerifyShowsTheVerifiersWarningsOnStderr(t *testing.T) {
	f := newFixture(t, registrytest.NewOlareg(t).Host())
	r := f.repo("cli/warned")
	d := f.image(r, "v1")
	f.sign(r, f.leaf, d, notationtest.SignOptions{})
	params := notationtest.NewParams(r.Reference.String(), f.ca, nil)
	// A bare leaf in a ca trust store anchors no signature.
	params.TrustStores.CA[notationtest.DefaultStoreName] = notationtest.TrustStore{Certificates: []string{notationtest.PEM(f.leaf.Cert)}}
	cfg := f.config(r.Reference.String(), configOptions{params: notationtest.MustJSON(t, params)})

	rep, res := verifyJSON(t, cfg, nil, r.Reference.String()+"@"+d.Digest.String())
	if rep.IsSuccess || rep.Reason != report.ReasonSignatureUntrusted {
		t.Errorf("isSuccess=%v reason=%s, want SIGNATURE_UNTRUSTED", rep.IsSuccess, rep.Reason)
	}
	want := `warning: ` + cfg + `: Verifier "notation" field spec.parameters.trustStores.ca.` + notationtest.DefaultStoreName + `: trust store cannot anchor any signature`
	if !strings.Contains(res.stderr, want) {
		t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
	}
	if strings.Contains(res.stdout, "warning:") {
		t.Errorf("the warning went to stdout:\n%s", res.stdout)
	}
	res = runAssay(t, "--config", cfg, "--log-level", "error", "verify", r.Reference.String()+"@"+d.Digest.String())
	if strings.Contains(res.stderr, "warning:") {
		t.Errorf("--log-level error still shows warnings:\n%s", res.stderr)
	}
}

func TestRegistryThatHangsGivesDeadlineExceeded(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); srv.Close() })
	host := strings.TrimPrefix(srv.URL, "http://")
	cfg := writeFile(t, `apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: s}
spec:
  registries: [{host: "`+host+`", plainHTTP: true}]
`)
	rep, _ := verifyJSON(t, cfg, []string{"--timeout", "1s"}, host+"/slow/app:v1")
	if rep.IsSuccess || rep.Reason != report.ReasonDeadlineExceeded {
		t.Fatalf("isSuccess=%v reason=%s (%s), want DEADLINE_EXCEEDED", rep.IsSuccess, rep.Reason, rep.Message)
	}
	if !strings.HasPrefix(rep.Message, "verification did not finish within 1s (--timeout)") {
		t.Errorf("message %q does not name the budget and --timeout", rep.Message)
	}
}

func TestNoPolicyIsNeverSuccess(t *testing.T) {
	f := newFixture(t, registrytest.NewOlareg(t).Host())
	r := f.repo("cli/nopolicy")
	d := f.image(r, "v1")
	f.sign(r, f.leaf, d, notationtest.SignOptions{})
	cfg := writeFile(t, `apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: s}
spec:
  registries: [{host: "`+f.host+`", plainHTTP: true}]
`)
	rep, _ := verifyJSON(t, cfg, nil, r.Reference.String()+"@"+d.Digest.String())
	if rep.IsSuccess || rep.Reason != report.ReasonNoPolicy {
		t.Fatalf("isSuccess=%v reason=%s, want NO_POLICY", rep.IsSuccess, rep.Reason)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("a digest reference gave warnings: %+v", rep.Warnings)
	}
	if len(rep.Artifacts) != 1 || rep.Artifacts[0].Results[0].Reason != report.ReasonNoVerifier {
		t.Errorf("the signature found should say NO_VERIFIER: %+v", rep.Artifacts)
	}
}

func TestBrokenConfigurationIsAUsageErrorNamingTheField(t *testing.T) {
	tests := map[string]struct {
		config string
		want   []string
	}{
		"an unknown field": {
			config: "apiVersion: config.assay.dev/v1alpha1\nkind: Verifier\nmetadata: {name: nv}\nspec: {plugn: notation, artifactTypes: [a]}\n",
			want:   []string{"document 1", `Verifier "nv"`, `unknown field "spec.plugn"`},
		},
		"a plugin given as a path": {
			config: "apiVersion: config.assay.dev/v1alpha1\nkind: Verifier\nmetadata: {name: nv}\nspec: {plugin: ../evil, artifactTypes: [a]}\n",
			want:   []string{"spec.plugin", "../evil"},
		},
		"a policy rule no verifier can satisfy": {
			config: "apiVersion: config.assay.dev/v1alpha1\nkind: Policy\nmetadata: {name: p}\nspec: {rules: [{artifactType: x, required: true}]}\n",
			want:   []string{"document 1", `Policy "p"`, "spec.rules[0].artifactType"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := writeFile(t, tc.config)
			res := runAssay(t, "--config", cfg, "verify", "localhost:1/none:v1")
			if res.code != 2 {
				t.Fatalf("exit code %d, want 2\n%s%s", res.code, res.stdout, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, res.stderr)
				}
			}
			if !strings.Contains(res.stderr, cfg) {
				t.Errorf("error does not name the file:\n%s", res.stderr)
			}
		})
	}
}

func TestSettingsComeFromFlagsEnvironmentAndFile(t *testing.T) {
	settings := writeFile(t, "log:\n  level: verbose\n")
	res := runAssay(t, "--settings", settings, "version")
	if res.code != 2 || !strings.Contains(res.stderr, "log.level") {
		t.Fatalf("a bad level in the settings file: exit %d, stderr %q", res.code, res.stderr)
	}
	unknown := writeFile(t, "colour: blue\n")
	res = runAssay(t, "--settings", unknown, "version")
	if res.code != 2 || !strings.Contains(res.stderr, "colour") {
		t.Fatalf("an unknown settings key: exit %d, stderr %q", res.code, res.stderr)
	}
	t.Setenv("ASSAY_TIMEOUT", "-1s")
	res = runAssay(t, "version")
	if res.code != 2 || !strings.Contains(res.stderr, "timeout") {
		t.Fatalf("ASSAY_TIMEOUT=-1s: exit %d, stderr %q", res.code, res.stderr)
	}
	res = runAssay(t, "--timeout", "5s", "version")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "assay ") {
		t.Fatalf("a flag must override the environment: exit %d, stdout %q stderr %q", res.code, res.stdout, res.stderr)
	}
}

func TestAVerifierThePluginRejectsIsAUsageError(t *testing.T) {
	tests := map[string]struct {
		spec string
		want []string
	}{
		"parameters naming a trust store that is not defined": {
			spec: `{plugin: notation, artifactTypes: [application/vnd.cncf.notary.signature], parameters: {trustPolicyDocument: {version: "1.0", trustPolicies: [{name: p, registryScopes: ["*"], signatureVerification: {level: strict}, trustStores: ["ca:missing"], trustedIdentities: ["*"]}]}}}`,
			want: []string{`Verifier "notation"`, "spec.parameters", "missing"},
		},
		"an artifact type the plugin does not verify": {
			spec: `{plugin: notation, artifactTypes: [application/spdx+json], parameters: {}}`,
			want: []string{`Verifier "notation"`, "spec.artifactTypes[0]", "application/spdx+json"},
		},
		"a plugin that does not exist": {
			spec: `{plugin: nosuch, artifactTypes: [application/vnd.cncf.notary.signature]}`,
			want: []string{`Verifier "notation"`, `plugin "nosuch"`},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := writeFile(t, "apiVersion: config.assay.dev/v1alpha1\nkind: Verifier\nmetadata: {name: notation}\nspec: "+tc.spec+"\n")
			res := runAssay(t, "--config", cfg, "verify", "localhost:1/none:v1")
			if res.code != 2 {
				t.Fatalf("exit code %d, want 2\n%s%s", res.code, res.stdout, res.stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(res.stderr, w) {
					t.Errorf("error lacks %q:\n%s", w, res.stderr)
				}
			}
		})
	}
}

// TestACrashedOrHungPluginIsInconclusiveAndOthersComplete attaches a
// Notary Project signature and a test artifact to one image. The test
// artifact's plugin crashes (or hangs) mid-verification; the signature is
// still verified in the same request and the report says why it fails.
func TestACrashedOrHungPluginIsInconclusiveAndOthersComplete(t *testing.T) {
	const testType = "application/vnd.assay.test.v1"
	tests := map[string]struct {
		mode   string
		extra  []string
		reason report.Reason
	}{
		"a plugin process that exits mid-verification": {mode: "exit", reason: report.ReasonPluginUnavailable},
		"a plugin that hangs past the deadline":        {mode: "hang", extra: []string{"--timeout", "3s"}, reason: report.ReasonDeadlineExceeded},
	}
	f := newFixture(t, registrytest.NewOlareg(t).Host())
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r := f.repo("crash/" + tc.mode)
			d := f.image(r, "v1")
			f.sign(r, f.leaf, d, notationtest.SignOptions{})
			if _, err := oras.PackManifest(context.Background(), r, oras.PackManifestVersion1_1, testType, oras.PackManifestOptions{Subject: &d}); err != nil {
				t.Fatal(err)
			}
			params := notationtest.MustJSON(t, notationtest.NewParams(r.Reference.String(), f.ca, nil))
			cfg := writeFile(t, fmt.Sprintf(`apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: s}
spec: {registries: [{host: %q, plainHTTP: true}]}
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec: {plugin: notation, artifactTypes: [%s], parameters: %s}
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: flaky}
spec: {plugin: testplugin, artifactTypes: [%s], parameters: {mode: %s}}
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: p}
spec:
  rules:
    - {artifactType: %s, required: true}
    - {artifactType: %s}
`, f.host, notarySignature, params, testType, tc.mode, notarySignature, testType))
			rep, _ := verifyJSON(t, cfg, tc.extra, r.Reference.String()+":v1")
			if rep.IsSuccess || rep.Reason != tc.reason {
				t.Fatalf("isSuccess=%v reason=%s (%s), want a failure with %s", rep.IsSuccess, rep.Reason, rep.Message, tc.reason)
			}
			verdicts := map[string]report.Result{}
			for _, a := range rep.Artifacts {
				for _, res := range a.Results {
					verdicts[a.ArtifactType] = res
				}
			}
			if got := verdicts[notarySignature]; got.Verdict != report.Verified {
				t.Errorf("the signature's verification did not complete: %+v", got)
			}
			if got := verdicts[testType]; got.Verdict != report.Inconclusive || got.Reason != tc.reason || got.Remediation == "" {
				t.Errorf("the flaky plugin's result = %+v, want inconclusive %s with a remediation", got, tc.reason)
			}
		})
	}
}

func TestAFileCannotTakeTrustMaterialFromTheCluster(t *testing.T) {
	cfg := writeFile(t, `apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec:
  plugin: notation
  artifactTypes: [application/vnd.cncf.notary.signature]
  parameters:
    trustStores:
      ca:
        corp:
          certificates:
            - valueFrom: {configMapKeyRef: {namespace: assay-system, name: ca, key: root.pem}}
`)
	res := runAssay(t, "--config", cfg, "verify", "localhost:1/none:v1")
	if res.code != 2 {
		t.Fatalf("exit code %d, want 2\n%s%s", res.code, res.stdout, res.stderr)
	}
	for _, w := range []string{`Verifier "notation"`, "spec.parameters.trustStores.ca.corp.certificates[0]", "valueFrom", "--config-source cluster", "inline"} {
		if !strings.Contains(res.stderr, w) {
			t.Errorf("error lacks %q:\n%s", w, res.stderr)
		}
	}
}
