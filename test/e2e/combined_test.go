package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
)

// TestOneImageWithEverySignatureAndASignedReport verifies an image that
// carries a Notary Project signature, a cosign v3 bundle and a
// vulnerability report signed with notation, with the three plugins as
// separate processes: once with `assay verify` and once through
// `assay serve`.
func TestOneImageWithEverySignatureAndASignedReport(t *testing.T) {
	f := newFixture(t, registrytest.NewOlareg(t).Host())
	r := f.repo("combined/app")
	repository := r.Reference.String()
	img := f.image(r, "v1")
	f.sign(r, f.leaf, img, notationtest.SignOptions{})
	sigstore := cosigntest.MustSigstore(t)
	cosigntest.MustPushBundle(t, r, img, sigstore.MustSignBundle(t, img, cosigntest.BundleOptions{Repository: repository}))
	sarif := attachReport(t, r, img, sarifFile(t, "trivy-clean.sarif.json"), time.Now().Add(-time.Hour))
	f.sign(r, f.leaf, sarif, notationtest.SignOptions{})

	notation := notationtest.MustJSON(t, notationtest.NewParams(repository, f.ca, nil))
	cosign := cosigntest.MustJSON(t, sigstore.MustKeylessParams(t, repository, "", ""))
	doc := fmt.Sprintf(`apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: registries}
spec:
  registries: [{host: %q, plainHTTP: true}]
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec: {plugin: notation, artifactTypes: [%s], parameters: %s}
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: cosign}
spec: {plugin: cosign, artifactTypes: [%s, %s], parameters: %s}
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: reports}
spec:
  plugin: vulnreport
  artifactTypes: [%s]
  requireSignature: true
  parameters: {maxAge: 24h, disallowedSeverities: [CRITICAL, HIGH]}
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: signed-and-scanned}
spec:
  rules:
    - {artifactType: %s, required: true}
    - {artifactType: %s, required: true}
    - {artifactType: %s, required: true, mode: newest}
`, f.host, notarySignature, notation, cosigntest.SignatureArtifactType, cosigntest.BundleArtifactType, cosign,
		sarifType, notarySignature, cosigntest.BundleArtifactType, sarifType)
	config := filepath.Join(t.TempDir(), "assay.yaml")
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}

	check := func(t *testing.T, rep *report.Report) {
		t.Helper()
		if !rep.IsSuccess {
			t.Fatalf("%s: %s", rep.Reason, rep.Message)
		}
		types := map[string]string{} // artifact type → plugin that verified it
		for _, a := range rep.Artifacts {
			for _, res := range a.Results {
				if res.Verdict != report.Verified {
					t.Errorf("%s %s: %s %s %s", a.ArtifactType, a.Digest, res.Type, res.Verdict, res.Message)
				}
				types[a.ArtifactType] = res.Type
			}
			if a.ArtifactType == sarifType {
				sig, _ := a.Results[0].Details["signature"].(map[string]any)
				if len(a.Artifacts) != 1 || sig["verifier"] != "notation" || sig["verdict"] != "verified" {
					t.Errorf("the report's own signature: nested %+v, details %v", a.Artifacts, a.Results[0].Details)
				}
			}
		}
		want := map[string]string{notarySignature: "notation", cosigntest.BundleArtifactType: "cosign", sarifType: "vulnreport"}
		for at, plugin := range want {
			if types[at] != plugin {
				t.Errorf("%s verified by %q, want %q (all: %v)", at, types[at], plugin, types)
			}
		}
	}

	t.Run("assay verify", func(t *testing.T) {
		rep, _ := verifyJSON(t, config, nil, repository+":v1")
		check(t, rep)
	})
	t.Run("assay serve", func(t *testing.T) {
		material, err := servetest.NewTLS(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		srv := startServe(t, config, material)
		check(t, decodeReport(t, post(t, srv, "/v1/verify", repository+":v1").Response.Items[0]))
		children := childCommands(t, srv.Pid())
		for _, plugin := range []string{"notation", "cosign", "vulnreport"} {
			if !slices.Contains(children, plugin) {
				t.Errorf("no %s plugin process under assay serve (its children: %v)", plugin, children)
			}
		}
	})
}

// childCommands lists the command names of the processes whose parent is pid.
func childCommands(t *testing.T, pid int) []string {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range stats {
		data, err := os.ReadFile(p)
		if err != nil {
			continue // the process is gone
		}
		// "<pid> (<comm>) <state> <ppid> ..."; comm may hold spaces.
		s := string(data)
		open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || end < open {
			continue
		}
		fields := strings.Fields(s[end+1:])
		if len(fields) < 2 {
			continue
		}
		if ppid, err := strconv.Atoi(fields[1]); err == nil && ppid == pid {
			out = append(out, s[open+1:end])
		}
	}
	return out
}
