package plugin

import (
	"slices"

	"github.com/assayproj/assay/pkg/plugin/internal/convert"
	verifierv1 "github.com/assayproj/assay/pkg/plugin/internal/pb/verifier/v1"
	"github.com/assayproj/assay/pkg/reason"
)

// This file maps package plugin's Go types to and from the v1 protocol
// messages, one function per message and direction. The descriptor and
// details converters live in internal/convert; they cannot live here and be
// shared, and these cannot live there, because internal/convert would then
// import this package, which imports it.

func verdictToProto(v Verdict) verifierv1.Verdict {
	switch v {
	case VerdictVerified:
		return verifierv1.Verdict_VERDICT_VERIFIED
	case VerdictFailed:
		return verifierv1.Verdict_VERDICT_FAILED
	case VerdictInconclusive:
		return verifierv1.Verdict_VERDICT_INCONCLUSIVE
	default:
		return verifierv1.Verdict_VERDICT_UNSPECIFIED
	}
}

// verdictFromProto maps a wire verdict; values this host does not know (a
// newer plugin's additions) become VerdictUnspecified, which fails closed.
func verdictFromProto(v verifierv1.Verdict) Verdict {
	switch v {
	case verifierv1.Verdict_VERDICT_VERIFIED:
		return VerdictVerified
	case verifierv1.Verdict_VERDICT_FAILED:
		return VerdictFailed
	case verifierv1.Verdict_VERDICT_INCONCLUSIVE:
		return VerdictInconclusive
	default:
		return VerdictUnspecified
	}
}

func severityToProto(s Severity) verifierv1.Severity {
	switch s {
	case SeverityError:
		return verifierv1.Severity_SEVERITY_ERROR
	case SeverityWarning:
		return verifierv1.Severity_SEVERITY_WARNING
	default:
		return verifierv1.Severity_SEVERITY_UNSPECIFIED
	}
}

// severityFromProto maps a wire severity; an unspecified or unknown
// severity is treated as an error, so a diagnostic is never silently
// downgraded.
func severityFromProto(s verifierv1.Severity) Severity {
	switch s {
	case verifierv1.Severity_SEVERITY_WARNING:
		return SeverityWarning
	default:
		return SeverityError
	}
}

func metadataToProto(m Metadata) *verifierv1.GetMetadataResponse {
	return &verifierv1.GetMetadataResponse{
		Name:           m.Name,
		Version:        m.Version,
		ArtifactTypes:  slices.Clone(m.ArtifactTypes),
		Capabilities:   slices.Clone(m.Capabilities),
		SignatureTypes: slices.Clone(m.SignatureTypes),
	}
}

func metadataFromProto(m *verifierv1.GetMetadataResponse) Metadata {
	return Metadata{
		Name:           m.GetName(),
		Version:        m.GetVersion(),
		ArtifactTypes:  nilIfEmpty(slices.Clone(m.GetArtifactTypes())),
		Capabilities:   nilIfEmpty(slices.Clone(m.GetCapabilities())),
		SignatureTypes: nilIfEmpty(slices.Clone(m.GetSignatureTypes())),
	}
}

func diagnosticsToProto(ds []Diagnostic) []*verifierv1.Diagnostic {
	if len(ds) == 0 {
		return nil
	}
	out := make([]*verifierv1.Diagnostic, len(ds))
	for i, d := range ds {
		out[i] = &verifierv1.Diagnostic{
			Severity: severityToProto(d.Severity),
			Field:    d.Field,
			Summary:  d.Summary,
			Detail:   d.Detail,
		}
	}
	return out
}

func diagnosticsFromProto(ds []*verifierv1.Diagnostic) []Diagnostic {
	if len(ds) == 0 {
		return nil
	}
	out := make([]Diagnostic, len(ds))
	for i, d := range ds {
		out[i] = Diagnostic{
			Severity: severityFromProto(d.GetSeverity()),
			Field:    d.GetField(),
			Summary:  d.GetSummary(),
			Detail:   d.GetDetail(),
		}
	}
	return out
}

// verifyRequestToProto never fails. The byte slices are shared, not copied:
// the message is marshalled at once and the caller's request outlives it.
func verifyRequestToProto(r *VerifyRequest) *verifierv1.VerifyRequest {
	if r == nil {
		return &verifierv1.VerifyRequest{}
	}
	out := &verifierv1.VerifyRequest{
		Config:           r.Config,
		Subject:          convert.DescriptorToProto(r.Subject),
		Repository:       r.Repository,
		Artifact:         convert.DescriptorToProto(r.Artifact),
		ArtifactManifest: r.ArtifactManifest,
	}
	if len(r.Blobs) > 0 {
		out.Blobs = make([]*verifierv1.Blob, len(r.Blobs))
		for i, b := range r.Blobs {
			out.Blobs[i] = &verifierv1.Blob{
				Descriptor_: convert.DescriptorToProto(b.Descriptor),
				Data:        b.Data,
			}
		}
	}
	return out
}

// verifyRequestFromProto copies nothing: the message was just unmarshalled
// and is not used again.
func verifyRequestFromProto(r *verifierv1.VerifyRequest) *VerifyRequest {
	out := &VerifyRequest{
		Config:           nilIfEmpty(r.GetConfig()),
		Subject:          convert.DescriptorFromProto(r.GetSubject()),
		Repository:       r.GetRepository(),
		Artifact:         convert.DescriptorFromProto(r.GetArtifact()),
		ArtifactManifest: nilIfEmpty(r.GetArtifactManifest()),
	}
	if blobs := r.GetBlobs(); len(blobs) > 0 {
		out.Blobs = make([]Blob, len(blobs))
		for i, b := range blobs {
			out.Blobs[i] = Blob{
				Descriptor: convert.DescriptorFromProto(b.GetDescriptor_()),
				Data:       nilIfEmpty(b.GetData()),
			}
		}
	}
	return out
}

// verifyResponseToProto fails when the details are not JSON-compatible; the
// error wraps convert.ErrNotJSON.
func verifyResponseToProto(r *VerifyResponse) (*verifierv1.VerifyResponse, error) {
	details, err := convert.DetailsToProto(r.Details)
	if err != nil {
		return nil, err
	}
	return &verifierv1.VerifyResponse{
		Verdict:     verdictToProto(r.Verdict),
		Reason:      string(r.Reason),
		Message:     r.Message,
		Details:     details,
		Remediation: r.Remediation,
	}, nil
}

func verifyResponseFromProto(r *verifierv1.VerifyResponse) *VerifyResponse {
	return &VerifyResponse{
		Verdict:     verdictFromProto(r.GetVerdict()),
		Reason:      reason.Code(r.GetReason()),
		Message:     r.GetMessage(),
		Remediation: r.GetRemediation(),
		Details:     convert.DetailsFromProto(r.GetDetails()),
	}
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}
