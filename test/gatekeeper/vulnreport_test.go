package gatekeeper

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
)

// vulnConstraint is the sample constraint of AssayVulnerabilityReport as
// review names it: maxAgeHours 168, disallowedSeverities CRITICAL and
// HIGH, requireSignedReport.
const vulnConstraint = "AssayVulnerabilityReport/recent-clean-signed-report"

// scan is a vulnerability report to attach to an image.
type scan struct {
	// file is a SARIF fixture of the vulnreport plugin
	// (plugins/vulnreport/testdata), written as Trivy or Grype write them.
	file string
	// age is how long before now the scan was made: the report's
	// org.opencontainers.image.created annotation.
	age time.Duration
	// signed signs the report itself with the trusted leaf.
	signed bool
}

// attached is a report attached to an image: its manifest descriptor and
// its creation time as the annotation (and the plugin's createdAt
// detail) gives it.
type attached struct {
	desc    ocispec.Descriptor
	created string
}

// attachReport attaches s to img the way `oras attach --artifact-type
// application/sarif+json --annotation org.opencontainers.image.created=…
// report.sarif:application/sarif+json` does, and signs the report with a
// Notary Project signature of its own (`notation sign` on the report's
// digest) if s.signed.
func attachReport(t *testing.T, img pushed, s scan) attached {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "plugins", "vulnreport", "testdata", s.file))
	if err != nil {
		t.Fatal(err)
	}
	created := time.Now().Add(-s.age).UTC().Format(time.RFC3339)
	desc := registrytest.Attach(t, img.repo, img.desc, registrytest.Artifact{
		ArtifactType: sarifType,
		Blobs:        []registrytest.Blob{{MediaType: sarifType, Data: data}},
		Annotations:  map[string]string{ocispec.AnnotationCreated: created},
	})
	if s.signed {
		sig := notationtest.MustSign(t, env.leaf, desc, notationtest.SignOptions{})
		notationtest.MustPushSignature(t, img.repo, desc, sig)
	}
	return attached{desc: desc, created: created}
}

// scanned pushes a signed image named name into the test's own repository
// and attaches the reports to it in order.
func scanned(t *testing.T, name string, scans ...scan) (pushed, []attached) {
	t.Helper()
	img := pushImage(t, testRepository(t, name), true)
	var reports []attached
	for _, s := range scans {
		reports = append(reports, attachReport(t, img, s))
	}
	return img, reports
}

// describeReport is how the template names a report in its messages:
// digest, the plugin's scanner detail and createdAt.
func describeReport(r attached, scanner string) string {
	return fmt.Sprintf("vulnerability report %s (%s, created %s)", r.desc.Digest, scanner, r.created)
}

// reportFailed is the template's message for a newest report whose
// vulnreport result is failed: the result's reason, message and
// remediation, quoted.
func reportFailed(image string, r attached, scanner, reason, message, remediation string) string {
	return fmt.Sprintf("image %q: verifier %q failed the newest %s: %s: %s. Remediation: %s",
		image, "reports", describeReport(r, scanner), reason, message, remediation)
}

// vulnResult returns the "reports" Verifier's result on report r of image
// from the answer Gatekeeper cached for the image: what the template read.
func vulnResult(t *testing.T, image string, r attached) map[string]any {
	t.Helper()
	v, ok := cached(providerName, image)
	if !ok {
		t.Fatalf("no cached answer for %s", image)
	}
	if v.Error != "" {
		t.Fatalf("the cached answer for %s is the error %q", image, v.Error)
	}
	rep, _ := v.Value.(map[string]any)
	arts, _ := rep["artifacts"].([]any)
	for _, a := range arts {
		a, _ := a.(map[string]any)
		if a["digest"] != r.desc.Digest.String() {
			continue
		}
		results, _ := a["results"].([]any)
		for _, res := range results {
			if res, _ := res.(map[string]any); res["verifier"] == "reports" && res["type"] == "vulnreport" {
				return res
			}
		}
	}
	t.Fatalf("the answer for %s has no result of Verifier \"reports\" on %s: %v", image, r.desc.Digest, v.Value)
	return nil
}

// pluginAge is the report's age as the vulnreport plugin measured it when
// it verified it (its age detail, a Go duration in whole seconds), which
// the plugin's messages quote. It depends on when the verification ran, so
// it is read from the answer rather than predicted.
func pluginAge(t *testing.T, image string, r attached) string {
	t.Helper()
	res := vulnResult(t, image, r)
	age, ok := res["details"].(map[string]any)["age"].(string)
	if !ok {
		t.Fatalf("the result on %s has no age detail: %v", r.desc.Digest, res)
	}
	return age
}

// expectResult fails the test unless the "reports" result on r is verdict
// with reason.
func expectResult(t *testing.T, image string, r attached, verdict, reason string) map[string]any {
	t.Helper()
	res := vulnResult(t, image, r)
	if res["verdict"] != verdict || res["reason"] != reason {
		t.Errorf("the vulnreport result on %s is %v %v (%v), want %s %s", r.desc.Digest, res["verdict"], res["reason"], res["message"], verdict, reason)
	}
	return res
}

func TestVulnerabilityReportOfTheRealPluginDecidesAdmission(t *testing.T) {
	const (
		cleanTrivy = "trivy-clean.sarif.json"
		dirtyTrivy = "trivy-findings.sarif.json"
		cleanGrype = "grype-clean.sarif.json"
	)

	t.Run("a fresh, clean, signed report is admitted", func(t *testing.T) {
		enforce(t, constraint(t, vulnerabilitySample))
		img, reports := scanned(t, "app", scan{file: cleanTrivy, age: time.Hour, signed: true})
		expect(t, review(t, create(pod("default", img.ref))), nil)
		// Both layers passed it: the plugin verified it and Assay found
		// its signature (requireSignature); the template saw both.
		res := expectResult(t, img.ref, reports[0], "verified", "VERIFIED")
		sig, _ := res["details"].(map[string]any)["signature"].(map[string]any)
		if sig["verifier"] != "notation" || sig["verdict"] != "verified" {
			t.Errorf("the verified report's signature detail is %v, want one verified by notation", sig)
		}
	})

	t.Run("a report older than a week is denied with its age", func(t *testing.T) {
		enforce(t, constraint(t, vulnerabilitySample))
		img, reports := scanned(t, "app", scan{file: cleanTrivy, age: 200 * time.Hour, signed: true})
		got := review(t, create(pod("default", img.ref)))
		expectResult(t, img.ref, reports[0], "failed", "VERIFICATION_FAILED")
		age := pluginAge(t, img.ref, reports[0])
		// Two layers, two messages (review sorts them): the template's own
		// maxAgeHours 168, measured at review time; and the plugin's maxAge
		// of 168h, which failed the report, quoted by the template.
		expect(t, got, denied(vulnConstraint,
			fmt.Sprintf("image %q: the newest %s is 200 hours old, more than maxAgeHours 168; scan the image again and attach the new report",
				img.ref, describeReport(reports[0], "trivy")),
			reportFailed(img.ref, reports[0], "trivy", "VERIFICATION_FAILED",
				fmt.Sprintf("vulnerability report by trivy 0.58.1, created %s (%s ago) fails: the report is %s old, more than maxAge 168h0m0s", reports[0].created, age, age),
				"Scan the image again and attach the new report."),
		))
	})

	t.Run("a report with critical and high findings is denied listing the CVEs", func(t *testing.T) {
		enforce(t, constraint(t, vulnerabilitySample))
		img, reports := scanned(t, "app", scan{file: dirtyTrivy, age: time.Hour, signed: true})
		got := review(t, create(pod("default", img.ref)))
		expectResult(t, img.ref, reports[0], "failed", "VERIFICATION_FAILED")
		age := pluginAge(t, img.ref, reports[0])
		// The template's disallowedSeverities (ids per severity, counting
		// every finding: CVE-2026-0001 is in two packages), and the
		// plugin's, which failed the report listing each id with its
		// severity, quoted by the template.
		expect(t, got, denied(vulnConstraint,
			fmt.Sprintf("image %q: the newest %s has findings of disallowed severity: CRITICAL (2): CVE-2026-0001; HIGH (1): CVE-2026-0002",
				img.ref, describeReport(reports[0], "trivy")),
			reportFailed(img.ref, reports[0], "trivy", "VERIFICATION_FAILED",
				fmt.Sprintf("vulnerability report by trivy 0.58.1, created %s (%s ago) fails: findings of disallowed severity (CRITICAL 2, HIGH 1): CVE-2026-0001 (CRITICAL), CVE-2026-0002 (HIGH)", reports[0].created, age),
				"Rebuild the image with fixed packages and scan it again; accept a finding only by listing its id in allowlistCVEs."),
		))
	})

	t.Run("an unsigned report is denied", func(t *testing.T) {
		enforce(t, constraint(t, vulnerabilitySample))
		img, reports := scanned(t, "app", scan{file: cleanTrivy, age: time.Hour})
		got := review(t, create(pod("default", img.ref)))
		// Both layers deny it (review sorts the messages). The template's
		// requireSignedReport finds no verified artifact attached to the
		// report: "is not signed by a trusted signer". And the plugin
		// verified the report (fresh and clean), but Assay's executor
		// turned that result into failed NO_SIGNATURE, because the Verifier
		// has requireSignature and the report has no referrer: the
		// template's verdict rule quotes that result.
		expectResult(t, img.ref, reports[0], "failed", "NO_SIGNATURE")
		expect(t, got, denied(vulnConstraint,
			fmt.Sprintf("image %q: the newest %s is not signed by a trusted signer: no signature is attached to it",
				img.ref, describeReport(reports[0], "trivy")),
			reportFailed(img.ref, reports[0], "trivy", "NO_SIGNATURE",
				fmt.Sprintf("%s %s carries no verified signature, and Verifier %q requires one (0 referrers of it checked)", sarifType, reports[0].desc.Digest, "reports"),
				"Sign the artifact itself (for example the vulnerability report) with a trusted key and push the signature as its referrer."),
		))
	})

	t.Run("of an old dirty report and a new clean one the new one decides", func(t *testing.T) {
		enforce(t, constraint(t, vulnerabilitySample))
		img, reports := scanned(t, "app",
			scan{file: dirtyTrivy, age: 72 * time.Hour, signed: true},
			scan{file: cleanGrype, age: time.Hour, signed: true})
		expect(t, review(t, create(pod("default", img.ref))), nil)
		// The old report is failed and still in the answer; the template
		// judges only the newest, as the Policy's mode newest does.
		expectResult(t, img.ref, reports[0], "failed", "VERIFICATION_FAILED")
		expectResult(t, img.ref, reports[1], "verified", "VERIFIED")
		v, _ := cached(providerName, img.ref)
		want := fmt.Sprintf("the newest of 2 %s (%s, created %s) is verified", sarifType, reports[1].desc.Digest, reports[1].created)
		if msg := sarifRule(v.Value)["message"]; msg != want {
			t.Errorf("the Policy's %s rule says %q, want %q", sarifType, msg, want)
		}
	})
}

// sarifRule returns the Policy's rule result for vulnerability reports
// from an Assay report.
func sarifRule(value any) map[string]any {
	rep, _ := value.(map[string]any)
	policy, _ := rep["policy"].(map[string]any)
	rules, _ := policy["rules"].([]any)
	for _, r := range rules {
		if r, _ := r.(map[string]any); r["artifactType"] == sarifType {
			return r
		}
	}
	return nil
}
