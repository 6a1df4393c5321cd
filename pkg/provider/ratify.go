package provider

import (
	"context"
	"time"

	"github.com/assayproj/assay/pkg/report"
)

// RatifyVersion is the version of Ratify's verification response that the
// Ratify endpoints answer with.
const RatifyVersion = "0.2.0"

// RatifyResponse is Ratify v1.4's verification response (version 0.2.0),
// the value of each key on PathRatifyVerify.
type RatifyResponse struct {
	Version         string                 `json:"version"`
	IsSuccess       bool                   `json:"isSuccess"`
	TraceID         string                 `json:"traceID,omitempty"`
	Timestamp       string                 `json:"timestamp,omitempty"`
	VerifierReports []RatifyVerifierReport `json:"verifierReports,omitempty"`
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
	rep := it.Value.(*report.Report)
	if rep.Timestamp.IsZero() {
		rep.Timestamp = h.opts.Now().UTC()
	}
	return Item{Key: raw, Value: ToRatify(rep, c.traceID)}
}

// lateRatify answers a late key of PathRatifyVerify.
func (h *Handler) lateRatify(c *call, key, msg string) Item {
	rep := h.lateReport(c, key, msg).Value.(*report.Report)
	return Item{Key: key, Value: ToRatify(rep, c.traceID)}
}

// ToRatify converts an Assay report to Ratify's verification response:
// one verifier report per (artifact, verifier) attached to the subject,
// with the artifact's referrers as nested results. A report without
// artifacts that did not succeed (no signature, deadline, registry
// error) gets one verifier report carrying its reason and message, so
// that templates printing the first verifier report explain the failure.
func ToRatify(rep *report.Report, traceID string) *RatifyResponse {
	out := &RatifyResponse{
		Version:   RatifyVersion,
		IsSuccess: rep.IsSuccess,
		TraceID:   traceID,
	}
	if !rep.Timestamp.IsZero() {
		out.Timestamp = rep.Timestamp.UTC().Format(time.RFC3339Nano)
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

func ratifyReports(subject string, arts []report.Artifact) []RatifyVerifierReport {
	var out []RatifyVerifierReport
	for _, a := range arts {
		nested := ratifyReports(subject+"@"+a.Digest, a.Artifacts)
		for _, r := range a.Results {
			vr := RatifyVerifierReport{
				Subject:         subject,
				IsSuccess:       r.Verdict == report.Verified,
				Name:            r.Verifier,
				VerifierName:    r.Verifier,
				Type:            r.Type,
				VerifierType:    r.Type,
				ReferenceDigest: a.Digest,
				ArtifactType:    a.ArtifactType,
				Message:         r.Message,
				Remediation:     r.Remediation,
				Extensions:      ratifyExtensions(r),
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

// ratifyExtensions passes a result's details on, adding the keys Ratify's
// verifiers use: Issuer and SN for notation signatures (the signing
// certificate's issuer and subject), createdAt and scanner for
// vulnerability reports.
func ratifyExtensions(r report.Result) map[string]any {
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
	return ext
}

func remediation(rep *report.Report) string {
	if rep.Remediation != "" {
		return rep.Remediation
	}
	return rep.Reason.Remediation()
}
