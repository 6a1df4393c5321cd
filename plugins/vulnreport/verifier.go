package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/plugin/params"
	"github.com/assayproj/assay/pkg/reason"
)

// Name is the plugin's name, equal to its binary name.
const Name = "vulnreport"

// ArtifactType is the artifact type of the reports this plugin verifies,
// and MediaType the media type of the SARIF layer inside them.
const (
	ArtifactType = "application/sarif+json"
	MediaType    = "application/sarif+json"
)

// Names of the checks, as listed in the failedChecks detail: a parameter's
// name for the checks a parameter turns on.
const (
	checkCreated              = "createdAt"
	checkReport               = "report"
	checkMaxAge               = "maxAge"
	checkAllowedScanners      = "allowedScanners"
	checkDisallowedSeverities = "disallowedSeverities"
	checkDenylistCVEs         = "denylistCVEs"
)

const (
	defaultMaxReportBytes = 32 << 20
	// createdSkew is how far in the future a report's creation time may
	// lie (clocks differ); beyond it the report is failed, since a date
	// in the future would defeat maxAge and win "newest report" choices.
	createdSkew = 5 * time.Minute
	// maxListed caps the ids named in a message; the details list them all.
	maxListed = 10
)

// Remediations, by check.
var remediations = map[string]string{
	checkCreated:              "Attach the report with an " + ocispec.AnnotationCreated + " annotation giving the scan time in RFC 3339 (for example oras attach --annotation " + ocispec.AnnotationCreated + "=2026-01-02T15:04:05Z).",
	checkReport:               "Attach the scanner's SARIF 2.1.0 output unchanged, as the one layer of media type " + MediaType + " (trivy image --format sarif, grype -o sarif).",
	checkMaxAge:               "Scan the image again and attach the new report.",
	checkAllowedScanners:      "Scan the image with one of the Verifier's allowedScanners, or add the scanner to allowedScanners.",
	checkDisallowedSeverities: "Rebuild the image with fixed packages and scan it again; accept a finding only by listing its id in allowlistCVEs.",
	checkDenylistCVEs:         "Rebuild the image without the denylisted vulnerabilities and scan it again.",
}

// Options configures NewVerifier.
type Options struct {
	// Version is the plugin version reported by Metadata. If empty, the
	// main module's version from the build info is used, or "devel".
	Version string
	// MaxConfigs is how many parsed configurations are kept (each keyed by
	// the sha256 of its bytes). If <= 0, plugin.DefaultConfigCacheSize
	// (currently 16) is used.
	MaxConfigs int
	// MaxReportBytes caps the SARIF layer the plugin decodes; a larger one
	// is inconclusive with LIMIT_EXCEEDED. The host caps blobs too (the
	// Store's maxBlobBytes). If <= 0, a default (currently 32 MiB, the
	// host's default blob cap) is used.
	MaxReportBytes int
	// Now returns the current time, for report ages. If nil, time.Now.
	Now func() time.Time
}

// Verifier verifies SARIF vulnerability reports attached to images. It
// implements plugin.Verifier and is safe for concurrent use.
type Verifier struct {
	version        string
	maxReportBytes int
	now            func() time.Time
	configs        *plugin.ConfigCache[*config]
}

var _ plugin.Verifier = (*Verifier)(nil)

// NewVerifier returns a Verifier with opts' defaults applied.
func NewVerifier(opts Options) *Verifier {
	v := &Verifier{
		version:        opts.Version,
		maxReportBytes: opts.MaxReportBytes,
		now:            opts.Now,
		configs:        plugin.NewConfigCache(opts.MaxConfigs, parseConfig),
	}
	if v.version == "" {
		v.version = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.version = bi.Main.Version
		}
	}
	if v.maxReportBytes <= 0 {
		v.maxReportBytes = defaultMaxReportBytes
	}
	if v.now == nil {
		v.now = time.Now
	}
	return v
}

// Metadata describes the plugin. It needs no network, and a
// vulnerability report is not a signature.
func (v *Verifier) Metadata(context.Context) (plugin.Metadata, error) {
	return plugin.Metadata{Name: Name, Version: v.version, ArtifactTypes: []string{ArtifactType}}, nil
}

// ValidateConfig decodes and checks parameters and returns every problem
// found as a diagnostic naming its field. It never returns an error.
func (v *Verifier) ValidateConfig(_ context.Context, raw []byte) ([]plugin.Diagnostic, error) {
	return slices.Clone(v.configs.Get(raw).diags), nil
}

// Verify judges one vulnerability report on its own: its creation time
// (required; checked against maxAge), its SARIF layer (decoded strictly)
// and its findings (scanner, severities, denylisted and allowlisted ids).
// A report that breaks a rule, is not dated or cannot be read is
// VerdictFailed with reason VERIFICATION_FAILED; parameters that cannot be
// used are VerdictInconclusive with CONFIG_INVALID. It never returns an
// error. Serve has validated req and recovers a panic in a parser of the
// untrusted report, which the host reports as inconclusive.
func (v *Verifier) Verify(_ context.Context, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {

	cfg := v.configs.Get(req.Config)
	if d := cfg.invalid(); d != nil {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictInconclusive, Reason: reason.ConfigInvalid, Message: params.InvalidMessage(d), Remediation: "Fix the Verifier's parameters; the message names the field."}, nil
	}
	j := &judge{cfg: cfg, now: v.now(), details: map[string]any{}}
	if cfg.maxAge > 0 {
		j.details["maxAge"] = cfg.maxAge.String()
	}

	var manifest ocispec.Manifest
	if err := json.Unmarshal(req.ArtifactManifest, &manifest); err != nil {
		j.fail(checkReport, "the report's manifest is not valid JSON: "+err.Error())
		return j.response(), nil
	}
	j.created(manifest.Annotations, req.Artifact.Annotations)

	blob, problem := sarifBlob(req.Blobs)
	if problem != "" {
		j.fail(checkReport, problem)
		return j.response(), nil
	}
	j.details["sarifDigest"] = blob.Descriptor.Digest.String()
	if len(blob.Data) > v.maxReportBytes {
		return &plugin.VerifyResponse{
			Verdict:     plugin.VerdictInconclusive,
			Reason:      reason.LimitExceeded,
			Message:     fmt.Sprintf("the SARIF report is %d bytes, more than the plugin's limit of %d", len(blob.Data), v.maxReportBytes),
			Remediation: "Inspect the report; a vulnerability report this large is unexpected.",
			Details:     j.details,
		}, nil
	}
	s, err := readSARIF(blob.Data)
	if err != nil {
		j.fail(checkReport, "the SARIF report cannot be used: "+err.Error())
		return j.response(), nil
	}
	j.findings(s)
	return j.response(), nil
}

// sarifBlob picks the report's SARIF layer: exactly one layer of media
// type MediaType whose bytes match its descriptor. Other layers are
// ignored. A non-empty problem says why there is none.
func sarifBlob(blobs []plugin.Blob) (plugin.Blob, string) {
	var found []plugin.Blob
	var types []string
	for _, b := range blobs {
		if b.Descriptor.MediaType == MediaType {
			found = append(found, b)
		} else {
			types = append(types, fmt.Sprintf("%q", b.Descriptor.MediaType))
		}
	}
	switch {
	case len(found) == 0 && len(types) == 0:
		return plugin.Blob{}, "the report has no layer; the SARIF log must be a layer of media type " + MediaType
	case len(found) == 0:
		return plugin.Blob{}, fmt.Sprintf("the report has no layer of media type %s (its layers are %s); attach the SARIF file as <file>:%s", MediaType, strings.Join(types, ", "), MediaType)
	case len(found) > 1:
		return plugin.Blob{}, fmt.Sprintf("the report has %d layers of media type %s; attach one SARIF log per report", len(found), MediaType)
	}
	b := found[0]
	if err := b.Descriptor.Digest.Validate(); err != nil {
		return plugin.Blob{}, fmt.Sprintf("the SARIF layer's descriptor has an invalid digest: %v", err)
	}
	if b.Descriptor.Digest.Algorithm().FromBytes(b.Data) != b.Descriptor.Digest || (b.Descriptor.Size != 0 && b.Descriptor.Size != int64(len(b.Data))) {
		return plugin.Blob{}, "the SARIF layer's bytes do not match its descriptor"
	}
	return b, ""
}

// judge collects the outcome of one report's checks.
type judge struct {
	cfg      *config
	now      time.Time
	details  map[string]any
	problems []string
	failed   []string // checks, in order of failure
	summary  string   // what a passing report holds
}

func (j *judge) fail(check, problem string) {
	j.problems = append(j.problems, problem)
	if !slices.Contains(j.failed, check) {
		j.failed = append(j.failed, check)
	}
}

// created reads the report's creation time, from the manifest's
// annotations or else the descriptor's (as the referrers listing gave
// them), and checks it against maxAge.
func (j *judge) created(manifestAnnotations, descriptorAnnotations map[string]string) {
	raw, ok := manifestAnnotations[ocispec.AnnotationCreated]
	if !ok {
		raw, ok = descriptorAnnotations[ocispec.AnnotationCreated]
	}
	if !ok {
		j.fail(checkCreated, "the report has no "+ocispec.AnnotationCreated+" annotation, so its age is unknown")
		return
	}
	created, err := time.Parse(time.RFC3339, strings.TrimSpace(raw))
	if err != nil {
		j.fail(checkCreated, fmt.Sprintf("the report's %s annotation %q is not an RFC 3339 time", ocispec.AnnotationCreated, raw))
		return
	}
	j.details["createdAt"] = created.UTC().Format(time.RFC3339Nano)
	age := j.now.Sub(created)
	if age < -createdSkew {
		j.fail(checkCreated, fmt.Sprintf("the report claims to be created at %s, %s in the future", created.UTC().Format(time.RFC3339), (-age).Truncate(time.Second)))
		return
	}
	age = max(age, 0)
	j.details["age"] = age.Truncate(time.Second).String()
	j.details["ageSeconds"] = int64(age / time.Second)
	if j.cfg.maxAge > 0 && age > j.cfg.maxAge {
		j.fail(checkMaxAge, fmt.Sprintf("the report is %s old, more than maxAge %s", age.Truncate(time.Second), j.cfg.maxAge))
	}
}

// violation is one entry of the violations detail.
type violation struct {
	ID       string   `json:"id"`
	Severity string   `json:"severity"`
	Rule     string   `json:"rule"`
	Checks   []string `json:"checks"`
}

// findings applies the scanner, severity and id rules to s.
func (j *judge) findings(s *scan) {
	j.details["scanner"] = strings.ToLower(s.scanners[0])
	if s.version != "" {
		j.details["scannerVersion"] = s.version
	}
	if len(s.scanners) > 1 {
		j.details["scanners"] = s.scanners
	}
	if len(j.cfg.allowedScanners) > 0 {
		for _, name := range s.scanners {
			if !containsFold(j.cfg.allowedScanners, name) {
				j.fail(checkAllowedScanners, fmt.Sprintf("scanner %q is not one of allowedScanners (%s)", name, strings.Join(j.cfg.allowedScanners, ", ")))
			}
		}
	}

	counts := map[string]int{}
	for _, sev := range severities {
		counts[sev] = 0
	}
	allowlisted := map[string]bool{}
	byKey := map[[2]string]*violation{} // (upper-case id, rule)
	severityIDs := map[string]string{}  // upper-case id → its most severe disallowed severity
	names := map[string]string{}        // upper-case id → id as first written
	denyIDs := map[string]string{}
	total := 0
	for _, f := range s.findings {
		key := strings.ToUpper(f.id)
		if j.cfg.allowlist[key] {
			allowlisted[f.id] = true
			continue
		}
		total++
		counts[f.severity]++
		if _, ok := names[key]; !ok {
			names[key] = f.id
		}
		var checks []string
		if j.cfg.denylist[key] {
			checks = append(checks, checkDenylistCVEs)
			denyIDs[key] = f.id
		}
		if j.cfg.disallowedSeverities[f.severity] {
			checks = append(checks, checkDisallowedSeverities)
			if prev, seen := severityIDs[key]; !seen || severityRank(f.severity) < severityRank(prev) {
				severityIDs[key] = f.severity
			}
		}
		if len(checks) == 0 {
			continue
		}
		k := [2]string{key, f.rule}
		if v, ok := byKey[k]; ok {
			if severityRank(f.severity) < severityRank(v.Severity) {
				v.Severity = f.severity
			}
			continue
		}
		byKey[k] = &violation{ID: f.id, Severity: f.severity, Rule: f.rule, Checks: checks}
	}

	violations := slices.SortedFunc(maps.Values(byKey), func(a, b *violation) int {
		return cmp.Or(strings.Compare(strings.ToUpper(a.ID), strings.ToUpper(b.ID)), strings.Compare(a.Rule, b.Rule))
	})
	list := make([]violation, 0, len(violations))
	for _, v := range violations {
		list = append(list, *v)
	}
	j.details["violations"] = list
	j.details["countsBySeverity"] = counts
	j.details["totalFindings"] = total
	if len(allowlisted) > 0 {
		j.details["allowlisted"] = slices.Sorted(maps.Keys(allowlisted))
	}

	if len(denyIDs) > 0 {
		j.fail(checkDenylistCVEs, "denylisted vulnerabilities found: "+listCapped(denyIDs))
	}
	if len(severityIDs) > 0 {
		entries := make(map[string]string, len(severityIDs))
		for key, sev := range severityIDs {
			entries[key] = names[key] + " (" + sev + ")"
		}
		var sevs []string
		for _, sev := range severities {
			if j.cfg.disallowedSeverities[sev] && counts[sev] > 0 {
				sevs = append(sevs, fmt.Sprintf("%s %d", sev, counts[sev]))
			}
		}
		j.fail(checkDisallowedSeverities, fmt.Sprintf("findings of disallowed severity (%s): %s", strings.Join(sevs, ", "), listCapped(entries)))
	}
	j.summary = fmt.Sprintf("%d findings (%s)", total, countsText(counts))
	if len(allowlisted) > 0 {
		j.summary += fmt.Sprintf(", %d allowlisted id(s) ignored", len(allowlisted))
	}
}

func severityRank(sev string) int {
	if i := slices.Index(severities, sev); i >= 0 {
		return i
	}
	return len(severities)
}

// listCapped lists the values of entries sorted by key, at most maxListed
// of them.
func listCapped(entries map[string]string) string {
	keys := slices.Sorted(maps.Keys(entries))
	shown := make([]string, 0, min(len(keys), maxListed))
	for _, k := range keys[:min(len(keys), maxListed)] {
		shown = append(shown, entries[k])
	}
	out := strings.Join(shown, ", ")
	if len(keys) > maxListed {
		out += fmt.Sprintf(" and %d more (see the violations detail)", len(keys)-maxListed)
	}
	return out
}

func countsText(counts map[string]int) string {
	parts := make([]string, 0, len(severities))
	for _, sev := range severities {
		parts = append(parts, fmt.Sprintf("%s %d", sev, counts[sev]))
	}
	return strings.Join(parts, ", ")
}

// response turns the collected outcome into the plugin's answer.
func (j *judge) response() *plugin.VerifyResponse {
	if len(j.failed) > 0 {
		j.details["failedChecks"] = j.failed
		var rems []string
		for _, c := range j.failed {
			if r := remediations[c]; r != "" && !slices.Contains(rems, r) {
				rems = append(rems, r)
			}
		}
		return &plugin.VerifyResponse{
			Verdict:     plugin.VerdictFailed,
			Reason:      reason.VerificationFailed,
			Message:     "vulnerability report " + j.describe() + " fails: " + strings.Join(j.problems, "; "),
			Remediation: strings.Join(rems, " "),
			Details:     j.details,
		}
	}
	return &plugin.VerifyResponse{
		Verdict: plugin.VerdictVerified,
		Reason:  reason.Verified,
		Message: "vulnerability report " + j.describe() + " passes: " + j.summary,
		Details: j.details,
	}
}

// describe names the report in messages: scanner, version, creation time
// and age, as far as known.
func (j *judge) describe() string {
	var parts []string
	if s, ok := j.details["scanner"].(string); ok {
		if ver, ok := j.details["scannerVersion"].(string); ok {
			s += " " + ver
		}
		parts = append(parts, "by "+s)
	}
	if c, ok := j.details["createdAt"].(string); ok {
		p := "created " + c
		if age, ok := j.details["age"].(string); ok {
			p += " (" + age + " ago)"
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		if d, ok := j.details["sarifDigest"].(string); ok {
			return d
		}
		return "(unreadable)"
	}
	return strings.Join(parts, ", ")
}
