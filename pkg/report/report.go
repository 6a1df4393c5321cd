package report

import "time"

// MediaType identifies version 1 of the report schema. It changes only when
// the schema changes incompatibly; fields are added without a bump.
const MediaType = "application/vnd.assay.verification-report.v1+json"

// Verdict is a verifier's three-state answer about one artifact.
type Verdict string

const (
	// Verified: the artifact satisfied its verifier.
	Verified Verdict = "verified"
	// Failed: the artifact was evaluated and does not satisfy its verifier.
	Failed Verdict = "failed"
	// Inconclusive: the artifact could not be evaluated (timeout, registry
	// error, plugin crash, bad configuration). Never a success.
	Inconclusive Verdict = "inconclusive"
)

// Report is the verification report for one subject. It is the value Assay
// returns per key to Gatekeeper and prints with `assay verify -o json`.
type Report struct {
	// MediaType is always MediaType.
	MediaType string `json:"mediaType"`
	// Reference is the reference as given by the caller, e.g. "nginx".
	Reference string `json:"reference"`
	// Subject is the digest-pinned, normalised reference that was verified,
	// e.g. "docker.io/library/nginx@sha256:...". Empty when the reference
	// could not be resolved.
	Subject string `json:"subject,omitempty"`
	// IsSuccess is true only when the Policy is satisfied.
	IsSuccess bool `json:"isSuccess"`
	// Reason explains IsSuccess: VERIFIED, or the first reason the policy failed.
	Reason Reason `json:"reason"`
	// Message is a one-line human summary.
	Message string `json:"message"`
	// Remediation says what to do when IsSuccess is false: the advice of
	// the rule or result that decided, else the reason's default.
	Remediation string `json:"remediation,omitempty"`
	// Policy is the evaluation of each rule of the Policy.
	Policy *PolicyResult `json:"policy,omitempty"`
	// Artifacts is the tree of referrers found, with verifier results.
	Artifacts []Artifact `json:"artifacts"`
	// Platforms holds the outcome for each platform manifest of an image
	// index, when the Policy's multiArch mode checks them ("platforms" or
	// "either"); Coverage sums them up.
	Platforms []PlatformResult `json:"platforms,omitempty"`
	Coverage  *Coverage        `json:"coverage,omitempty"`
	// Warnings are notes that do not change the outcome (for example
	// TAG_RESOLVED).
	Warnings []Warning `json:"warnings,omitempty"`
	// Sources says where `assay discover` looked for referrers and what
	// each place gave, so that an artifact missing from Artifacts can be
	// told from one never looked for. Verification reports leave it
	// empty: describing the sources costs requests verification does not
	// send.
	Sources []Source `json:"sources,omitempty"`
	// Timestamp is when the verification finished.
	Timestamp time.Time `json:"timestamp"`
}

// Artifact is one referrer of the subject (or of another artifact).
type Artifact struct {
	ArtifactType string `json:"artifactType"`
	// Digest of the artifact's manifest.
	Digest    string `json:"digest"`
	MediaType string `json:"mediaType,omitempty"`
	// Results holds one entry per Verifier that applies to the artifact
	// type; empty with Reason NO_VERIFIER when none does.
	Results []Result `json:"results"`
	// Artifacts are referrers of this artifact (for example a signature on
	// a vulnerability report).
	Artifacts []Artifact `json:"artifacts,omitempty"`
}

// Result is one verifier's verdict on one artifact.
type Result struct {
	// Verifier is the name of the Verifier object.
	Verifier string `json:"verifier"`
	// Type is the plugin that ran, e.g. "notation".
	Type        string         `json:"type"`
	Verdict     Verdict        `json:"verdict"`
	Reason      Reason         `json:"reason"`
	Message     string         `json:"message,omitempty"`
	Remediation string         `json:"remediation,omitempty"`
	Details     map[string]any `json:"details,omitempty"`
}

// PolicyResult is the evaluation of a Policy against the artifacts found.
type PolicyResult struct {
	// Name of the Policy object, empty when none is configured.
	Name  string       `json:"name"`
	Rules []RuleResult `json:"rules"`
}

// RuleResult is the outcome of one rule of a Policy: for one artifact
// type (ArtifactType) or for one of several (ArtifactTypes, whose
// artifacts count together); exactly one of the two is set.
type RuleResult struct {
	ArtifactType string `json:"artifactType,omitempty"`
	// ArtifactTypes are the alternative types of a rule with several.
	ArtifactTypes []string `json:"artifactTypes,omitempty"`
	// Mode is "any" (one verified artifact suffices), "all" (every
	// artifact of the type must be verified) or "newest" (the newest
	// artifact of the type, by its org.opencontainers.image.created
	// annotation, decides).
	Mode     string `json:"mode"`
	Required bool   `json:"required"`
	// Satisfied tells whether this rule passed.
	Satisfied bool `json:"satisfied"`
	// Found, Verified, Failed and Inconclusive count the verdicts of the
	// artifacts of the rule's types.
	Found        int    `json:"found"`
	Verified     int    `json:"verified"`
	Failed       int    `json:"failed"`
	Inconclusive int    `json:"inconclusive"`
	Reason       Reason `json:"reason"`
	Message      string `json:"message,omitempty"`
	Remediation  string `json:"remediation,omitempty"`
}

// PlatformResult is the outcome of the Policy for one platform manifest
// of an image index.
type PlatformResult struct {
	// Platform is "os/architecture" or "os/architecture/variant", e.g.
	// "linux/arm64/v8"; "unknown" when the index does not say.
	Platform string `json:"platform"`
	// Digest of the platform manifest.
	Digest      string     `json:"digest"`
	IsSuccess   bool       `json:"isSuccess"`
	Reason      Reason     `json:"reason"`
	Message     string     `json:"message,omitempty"`
	Remediation string     `json:"remediation,omitempty"`
	Artifacts   []Artifact `json:"artifacts"`
}

// Coverage sums up how many platforms of an image index pass the Policy.
type Coverage struct {
	// Mode is the Policy's multiArch mode: "platforms" (every platform
	// must pass) or "either" (the index's own artifacts, or every
	// platform).
	Mode string `json:"mode"`
	// Platforms counts the platform manifests checked; Passed those that
	// pass.
	Platforms int `json:"platforms"`
	Passed    int `json:"passed"`
	// Message reads like "3 of 4 platforms pass".
	Message string `json:"message"`
}

// Warning is a note that does not change the outcome.
type Warning struct {
	Reason  Reason `json:"reason"`
	Message string `json:"message"`
}

// SourceName names a place discovery looks for referrers.
type SourceName string

const (
	// SourceReferrersAPI is the registry's OCI 1.1 referrers API.
	// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#listing-referrers
	SourceReferrersAPI SourceName = "referrersAPI"
	// SourceReferrersTagSchema is the index tagged "sha256-<hex>" after
	// the subject's digest, read when the registry has no referrers API.
	// https://github.com/opencontainers/distribution-spec/blob/v1.1.1/spec.md#referrers-tag-schema
	SourceReferrersTagSchema SourceName = "referrersTagSchema"
	// SourceCosignSignatureTag is cosign's classic signature tag
	// "sha256-<hex>.sig".
	SourceCosignSignatureTag SourceName = "cosignSignatureTag"
)

// Source is one place discovery looked for the referrers of a subject.
type Source struct {
	Name SourceName `json:"name"`
	// Found counts the artifacts of the report's tree that came from it.
	Found int `json:"found"`
	// Message says what was asked and what it gave, for people, e.g.
	// "referrers API: 2 artifacts".
	Message string `json:"message"`
}
