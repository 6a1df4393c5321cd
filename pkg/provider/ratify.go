package provider

import (
	"context"
	"strings"
	"time"

	"github.com/assayproj/assay/pkg/report"
)

// RatifyVersion is the version of Ratify's verification response that the
// Ratify endpoints answer with.
const RatifyVersion = "0.2.0"

// RatifyResponse is Ratify v1.4's verification response (version 0.2.0),
// the value of each key on PathRatifyVerify.
type RatifyResponse struct {
	Version   string `json:"version"`
	IsSuccess bool   `json:"isSuccess"`
	// TraceID identifies the request; Assay logs it at info level with
	// each image and its outcome.
	TraceID string `json:"traceID,omitempty"`
	// Timestamp is when the request arrived, in RFC 3339 (UTC), also
	// when the verdict came from Assay's verdict cache.
	Timestamp       string                 `json:"timestamp,omitempty"`
	VerifierReports []RatifyVerifierReport `json:"verifierReports,omitempty"`

	// subject and reason are the report's, for the log line of the
	// request; they are not part of Ratify's shape.
	subject string
	reason  report.Reason
}

// RatifyVerifierReport is Ratify's result of one verifier on one
// artifact, with the results on the artifact's own referrers nested.
// Name and Type repeat VerifierName and VerifierType, as Ratify v1 does
// for templates written before those fields.
type RatifyVerifierReport struct {
	Subject         string                 `json:"subject,omitempty"`
	IsSuccess       bool                   `json:"isSuccess"`
	Name            string                 `json:"name,omitempty"`
	VerifierName    string                 `json:"verifierName,omitempty"`
	Type            string                 `json:"type,omitempty"`
	VerifierType    string                 `json:"verifierType,omitempty"`
	ReferenceDigest string                 `json:"referenceDigest,omitempty"`
	ArtifactType    string                 `json:"artifactType,omitempty"`
	Message         string                 `json:"message,omitempty"`
	ErrorReason     string                 `json:"errorReason,omitempty"`
	Remediation     string                 `json:"remediation,omitempty"`
	Extensions      map[string]any         `json:"extensions,omitempty"`
	NestedResults   []RatifyVerifierReport `json:"nestedResults,omitempty"`
}

// ratifyVerifyKey answers one key of PathRatifyVerify.
func (h *Handler) ratifyVerifyKey(ctx context.Context, c *call, raw string) Item {
	it := h.verifyKey(ctx, c, raw)
	if it.Error != "" {
		return it
	}
	return Item{Key: raw, Value: ToRatify(it.Value.(*report.Report), c.traceID, c.at)}
}

// lateRatify answers a late key of PathRatifyVerify.
func (h *Handler) lateRatify(c *call, key, msg string) Item {
	rep := h.lateReport(c, key, msg).Value.(*report.Report)
	return Item{Key: key, Value: ToRatify(rep, c.traceID, c.at)}
}

// logRatify writes, at info level, the line that lets an operator follow
// the traceID a Ratify template prints: one line per key of a request to
// PathRatifyVerify, with the image (the key), the subject it was pinned
// to, isSuccess and the reason, or the item's error.
func (h *Handler) logRatify(c *call, it Item) {
	attrs := []any{"traceID", c.traceID, "image", it.Key}
	if v, ok := it.Value.(*RatifyResponse); ok {
		attrs = append(attrs, "subject", v.subject, "isSuccess", v.IsSuccess, "reason", string(v.reason))
	} else {
		attrs = append(attrs, "isSuccess", false, "error", it.Error)
	}
	h.opts.Logger.Info("ratify verification", attrs...)
}

// ToRatify converts an Assay report to Ratify's verification response
// for a request that arrived at at (its timestamp, which Ratify's
// templates print as "Time=": the time of the request, also when the
// verdict came from a cache) with the given traceID.
//
// It makes one verifier report per (artifact, verifier) attached to the
// subject, with the artifact's referrers as nested results whose subject
// is the artifact ("repository@<artifact digest>"), as Ratify does. Type
// and VerifierType are Ratify's name of the plugin (see ratifyType).
// A report without artifacts that did not succeed (no signature,
// deadline, registry error) gets one verifier report carrying its reason
// and message, so that templates printing the first verifier report
// explain the failure.
func ToRatify(rep *report.Report, traceID string, at time.Time) *RatifyResponse {
	if at.IsZero() {
		at = rep.Timestamp
	}
	out := &RatifyResponse{
		Version:   RatifyVersion,
		IsSuccess: rep.IsSuccess,
		TraceID:   traceID,
		subject:   rep.Subject,
		reason:    rep.Reason,
	}
	if !at.IsZero() {
		out.Timestamp = at.UTC().Format(time.RFC3339Nano)
	}
	subject := rep.Subject
	if subject == "" {
		subject = rep.Reference
	}
	out.VerifierReports = ratifyReports(subject, rep.Artifacts)
	if !rep.IsSuccess {
		out.VerifierReports = append(out.VerifierReports, RatifyVerifierReport{
			Subject:      subject,
			IsSuccess:    false,
			Name:         "assay",
			VerifierName: "assay",
			Type:         "policy",
			VerifierType: "policy",
			Message:      rep.Message,
			ErrorReason:  string(rep.Reason),
			Remediation:  rep.Reason.Remediation(),
		})
	}
	return out
}

// ratifyType returns the verifier type Ratify v1.4 reports for the
// results of the plugin named plugin. Ratify's templates select verifier
// reports by type, so Assay's plugins that do the job of one of Ratify's
// verifiers are reported under Ratify's name for it; any other plugin
// keeps its own name. This is the only place the names are mapped: they
// belong to Ratify's shape, which only this package speaks, so neither
// the plugin contract nor the report carries them.
func ratifyType(plugin string) string {
	switch plugin {
	case "notation", "cosign":
		return plugin
	case "vulnreport":
		return ratifyVulnerabilityReport
	}
	return plugin
}

// ratifyVulnerabilityReport is the type of Ratify's vulnerability report
// verifier.
const ratifyVulnerabilityReport = "vulnerabilityreport"

// ratifyReports makes the verifier reports of arts, the referrers of
// subject; the referrers of each artifact are its nested results, with
// the artifact as their subject.
func ratifyReports(subject string, arts []report.Artifact) []RatifyVerifierReport {
	var out []RatifyVerifierReport
	for _, a := range arts {
		nested := ratifyReports(repositoryOf(subject)+"@"+a.Digest, a.Artifacts)
		for _, r := range a.Results {
			typ := ratifyType(r.Type)
			vr := RatifyVerifierReport{
				Subject:         subject,
				IsSuccess:       r.Verdict == report.Verified,
				Name:            r.Verifier,
				VerifierName:    r.Verifier,
				Type:            typ,
				VerifierType:    typ,
				ReferenceDigest: a.Digest,
				ArtifactType:    a.ArtifactType,
				Message:         r.Message,
				Remediation:     r.Remediation,
				Extensions:      ratifyExtensions(typ, r),
				NestedResults:   nested,
			}
			if r.Verdict != report.Verified {
				vr.ErrorReason = string(r.Reason)
			}
			out = append(out, vr)
		}
	}
	return out
}

// repositoryOf returns the repository of a digest-pinned reference: what
// comes before its "@".
func repositoryOf(ref string) string {
	name, _, _ := strings.Cut(ref, "@")
	return name
}

// ratifyExtensions passes a result's details on, adding the keys Ratify's
// verifiers use: Issuer and SN for notation signatures (the signing
// certificate's issuer and subject). For a vulnerability report,
// createdAt (which Ratify's template reads to find the newest report) is
// the report's creation time in RFC 3339, and is left out when the plugin
// could not date the report, so that the template does not count it.
func ratifyExtensions(typ string, r report.Result) map[string]any {
	if len(r.Details) == 0 {
		return nil
	}
	ext := make(map[string]any, len(r.Details)+2)
	for k, v := range r.Details {
		ext[k] = v
	}
	alias := map[string]string{"signerIssuer": "Issuer", "signerSubject": "SN"}
	for from, to := range alias {
		if v, ok := r.Details[from]; ok {
			if _, taken := ext[to]; !taken {
				ext[to] = v
			}
		}
	}
	if typ == ratifyVulnerabilityReport {
		delete(ext, "createdAt")
		if created, ok := rfc3339(r.Details["createdAt"]); ok {
			ext["createdAt"] = created
		}
	}
	return ext
}

// rfc3339 returns v, a time or a string holding an RFC 3339 time, as an
// RFC 3339 string in UTC.
func rfc3339(v any) (string, bool) {
	var t time.Time
	switch x := v.(type) {
	case time.Time:
		t = x
	case string:
		var err error
		if t, err = time.Parse(time.RFC3339Nano, x); err != nil {
			return "", false
		}
	default:
		return "", false
	}
	if t.IsZero() {
		return "", false
	}
	return t.UTC().Format(time.RFC3339Nano), true
}

func remediation(rep *report.Report) string {
	if rep.Remediation != "" {
		return rep.Remediation
	}
	return rep.Reason.Remediation()
}
