package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/reason"
	"github.com/assayproj/assay/pkg/report"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// DefaultMaxBlobs is the default cap on layers handed to a plugin.
const DefaultMaxBlobs = 16

// Plugins runs plugin calls; *plugin.Host implements it.
type Plugins interface {
	Verify(ctx context.Context, name string, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error)
}

// Options configure one Verifier.
type Options struct {
	// Name is the Verifier object's name. Required.
	Name string
	// Plugin is the plugin binary name. Required.
	Plugin string
	// ArtifactTypes the verifier handles. At least one is required.
	ArtifactTypes []string
	// Parameters are the plugin's parameters as a JSON object; empty
	// means "{}".
	Parameters []byte
	// Plugins runs the plugin. Required.
	Plugins Plugins
	// MaxBlobs caps the layers of an artifact fetched and handed to the
	// plugin; an artifact with more is inconclusive with LIMIT_EXCEEDED.
	// If <= 0, DefaultMaxBlobs is used.
	MaxBlobs int
	// SignatureTypes are the artifact types the plugin declares to be
	// signatures: its metadata's SignatureTypes, as returned by
	// plugin.Host.Metadata. The executor reports a missing required one as
	// NO_SIGNATURE and counts only these as signatures for a Verifier that
	// requires its artifacts to be signed. Empty means the plugin verifies
	// no signatures.
	SignatureTypes []string
}

// Verifier adapts one Verifier object and its plugin to
// executor.Verifier.
type Verifier struct {
	opts Options
}

var (
	_ executor.Verifier       = (*Verifier)(nil)
	_ executor.SignatureTyper = (*Verifier)(nil)
)

// New validates opts.
func New(opts Options) (*Verifier, error) {
	switch {
	case opts.Name == "":
		return nil, errors.New("verifier: name is required")
	case opts.Plugin == "":
		return nil, fmt.Errorf("verifier %q: plugin is required", opts.Name)
	case len(opts.ArtifactTypes) == 0:
		return nil, fmt.Errorf("verifier %q: at least one artifact type is required", opts.Name)
	case opts.Plugins == nil:
		return nil, fmt.Errorf("verifier %q: a plugin host is required", opts.Name)
	}
	if len(opts.Parameters) == 0 {
		opts.Parameters = []byte("{}")
	}
	if !json.Valid(opts.Parameters) {
		return nil, fmt.Errorf("verifier %q: parameters are not valid JSON", opts.Name)
	}
	if opts.MaxBlobs <= 0 {
		opts.MaxBlobs = DefaultMaxBlobs
	}
	if slices.Contains(opts.SignatureTypes, "") {
		return nil, fmt.Errorf("verifier %q: empty signature type", opts.Name)
	}
	opts.SignatureTypes = slices.Clone(opts.SignatureTypes)
	return &Verifier{opts: opts}, nil
}

// Name returns the Verifier object's name.
func (v *Verifier) Name() string { return v.opts.Name }

// Type returns the plugin name.
func (v *Verifier) Type() string { return v.opts.Plugin }

// SignatureTypes returns Options.SignatureTypes, the plugin's signature
// artifact types (executor.SignatureTyper). The caller must not modify
// the slice.
func (v *Verifier) SignatureTypes() []string { return v.opts.SignatureTypes }

// Handles reports whether artifactType is one of the configured types.
func (v *Verifier) Handles(artifactType string) bool {
	return slices.Contains(v.opts.ArtifactTypes, artifactType)
}

// Verify fetches the artifact's manifest and layers through the job's
// Fetcher and asks the plugin for a verdict. Registry and plugin failures
// become inconclusive results with a reason; the error return is unused.
func (v *Verifier) Verify(ctx context.Context, job executor.Job) (report.Result, error) {
	res := report.Result{Verifier: v.opts.Name, Type: v.opts.Plugin}
	inconclusive := func(reason report.Reason, format string, args ...any) (report.Result, error) {
		res.Verdict, res.Reason = report.Inconclusive, reason
		res.Message = fmt.Sprintf(format, args...)
		res.Remediation = reason.Remediation()
		return res, nil
	}

	req, reason, err := v.request(ctx, job)
	if err != nil {
		return inconclusive(reason, "fetch %s for verification: %v", job.Artifact.Digest, err)
	}
	resp, err := v.opts.Plugins.Verify(ctx, v.opts.Plugin, req)
	if err != nil {
		switch {
		case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
			return inconclusive(report.ReasonDeadlineExceeded, "plugin %q did not answer in time: %v", v.opts.Plugin, err)
		case errors.Is(err, plugin.ErrCrashed), errors.Is(err, plugin.ErrUnresponsive), errors.Is(err, plugin.ErrNotFound), errors.Is(err, plugin.ErrNotListed),
			errors.Is(err, plugin.ErrChecksumMismatch), errors.Is(err, plugin.ErrStart),
			errors.Is(err, plugin.ErrInvalidMetadata), errors.Is(err, plugin.ErrInvalidName), errors.Is(err, plugin.ErrClosed):
			return inconclusive(report.ReasonPluginUnavailable, "plugin %q unavailable: %v", v.opts.Plugin, err)
		default:
			return inconclusive(report.ReasonPluginError, "plugin %q failed: %v", v.opts.Plugin, err)
		}
	}
	return fromPlugin(res, resp), nil
}

// request gathers the bytes the plugin needs.
func (v *Verifier) request(ctx context.Context, job executor.Job) (*plugin.VerifyRequest, report.Reason, error) {
	raw, err := job.Fetcher.Fetch(ctx, job.Repository, job.Artifact)
	if err != nil {
		return nil, fetchReason(ctx, err), err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, report.ReasonRegistryError, fmt.Errorf("artifact manifest is not valid JSON: %w", err)
	}
	if len(m.Layers) > v.opts.MaxBlobs {
		return nil, report.ReasonLimitExceeded, fmt.Errorf("artifact has %d layers, more than the limit of %d", len(m.Layers), v.opts.MaxBlobs)
	}
	req := &plugin.VerifyRequest{
		Config:           v.opts.Parameters,
		Subject:          job.Subject,
		Repository:       job.Repository,
		Artifact:         job.Artifact,
		ArtifactManifest: raw,
		Blobs:            make([]plugin.Blob, 0, len(m.Layers)),
	}
	for _, l := range m.Layers {
		data, err := job.Fetcher.Fetch(ctx, job.Repository, l)
		if err != nil {
			return nil, fetchReason(ctx, err), err
		}
		req.Blobs = append(req.Blobs, plugin.Blob{Descriptor: l, Data: data})
	}
	return req, "", nil
}

func fetchReason(ctx context.Context, err error) report.Reason {
	switch {
	case ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded):
		return report.ReasonDeadlineExceeded
	case errors.Is(err, errdef.ErrSizeExceedsLimit):
		return report.ReasonLimitExceeded
	default:
		return report.ReasonRegistryError
	}
}

// fromPlugin maps a plugin response onto a report result. An unspecified
// verdict is inconclusive; an unknown reason code is replaced by a
// generic one and the verdict kept (reason.ForVerdict).
func fromPlugin(res report.Result, resp *plugin.VerifyResponse) report.Result {
	if resp == nil {
		res.Verdict, res.Reason = report.Inconclusive, report.ReasonPluginError
		res.Message = "plugin returned no response"
		res.Remediation = res.Reason.Remediation()
		return res
	}
	res.Message, res.Remediation, res.Details = resp.Message, resp.Remediation, resp.Details
	code := report.Reason(resp.Reason)
	switch resp.Verdict {
	case plugin.VerdictVerified:
		res.Verdict = report.Verified
	case plugin.VerdictFailed:
		res.Verdict = report.Failed
	case plugin.VerdictInconclusive:
		res.Verdict = report.Inconclusive
	default:
		// An unspecified verdict says nothing, whatever its code.
		res.Verdict, code = report.Inconclusive, report.ReasonPluginError
		res.Message = fmt.Sprintf("plugin returned an unspecified verdict (%s)", resp.Message)
	}
	res.Reason = reason.ForVerdict(string(res.Verdict), code)
	if res.Verdict != report.Verified && res.Remediation == "" {
		res.Remediation = res.Reason.Remediation()
	}
	return res
}
