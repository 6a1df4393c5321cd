package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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

// DefaultMaxSignatureBytes caps a layer of an artifact whose type the
// plugin declares a signature (Options.SignatureTypes) unless
// Options.MaxBytesPerArtifactType says otherwise: 256 KiB. A notation
// envelope, a cosign signature layer or a simple-signing payload is a
// few kilobytes.
const DefaultMaxSignatureBytes = 256 << 10

// Budget reserves memory for the content a verification holds;
// *store.Budget implements it.
type Budget interface {
	// Acquire reserves n bytes for what before they are read and returns
	// the function that gives them back. It fails when n exceeds the
	// whole budget (wrapping errdef.ErrSizeExceedsLimit) or when ctx is
	// done first (wrapping ctx.Err()).
	Acquire(ctx context.Context, n int64, what string) (release func(), err error)
}

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
	// MaxBytesPerArtifactType caps each layer of an artifact of a type,
	// by its descriptor, before any byte is read: a layer above its
	// type's cap is inconclusive with LIMIT_EXCEEDED. Types not listed
	// get DefaultMaxSignatureBytes when they are SignatureTypes, else
	// only the store's blob limit. Every value must be positive.
	MaxBytesPerArtifactType map[string]int64
	// Memory is the process's memory budget: the artifact manifest, and
	// then the manifest and all layers together, are reserved in it
	// before they are read and given back when the plugin has answered.
	// If nil, nothing is reserved.
	Memory Budget
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
	for t, n := range opts.MaxBytesPerArtifactType {
		if t == "" || n <= 0 {
			return nil, fmt.Errorf("verifier %q: the size limit of artifact type %q must be positive, got %d", opts.Name, t, n)
		}
	}
	opts.MaxBytesPerArtifactType = maps.Clone(opts.MaxBytesPerArtifactType)
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

	req, release, reason, err := v.request(ctx, job)
	defer release()
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

// request gathers the bytes the plugin needs, with their reservation in
// Options.Memory; release gives it back and must be called, on error too.
// The artifact manifest (capped by the store's manifest limit) is
// reserved while it is read; then the manifest and every layer are
// checked by their descriptors against the per-type limit and
// plugin.MaxRequestContentBytes and reserved in one piece, so a job
// never holds a reservation while it waits for another.
func (v *Verifier) request(ctx context.Context, job executor.Job) (_ *plugin.VerifyRequest, release func(), _ report.Reason, _ error) {
	release = func() {}
	what := fmt.Sprintf("artifact %s of %s", job.Artifact.Digest, job.Repository)
	held, err := v.reserve(ctx, job.Artifact.Size, what)
	if err != nil {
		return nil, release, fetchReason(ctx, err), err
	}
	raw, err := job.Fetcher.Fetch(ctx, job.Repository, job.Artifact)
	held()
	if err != nil {
		return nil, release, fetchReason(ctx, err), err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, release, report.ReasonRegistryError, fmt.Errorf("artifact manifest is not valid JSON: %w", err)
	}
	if len(m.Layers) > v.opts.MaxBlobs {
		return nil, release, report.ReasonLimitExceeded, fmt.Errorf("artifact has %d layers, more than the limit of %d", len(m.Layers), v.opts.MaxBlobs)
	}
	total := int64(len(raw) + len(v.opts.Parameters))
	limit, field := v.layerLimit(job.Artifact.ArtifactType)
	for _, l := range m.Layers {
		if limit > 0 && l.Size > limit {
			return nil, release, report.ReasonLimitExceeded, fmt.Errorf("layer %s of artifact type %q has %d bytes, more than the limit of %d for that type (%s)",
				l.Digest, job.Artifact.ArtifactType, l.Size, limit, field)
		}
		if l.Size > 0 {
			total += l.Size
		}
	}
	if total > plugin.MaxRequestContentBytes {
		return nil, release, report.ReasonLimitExceeded, fmt.Errorf("artifact has %d bytes of manifest and layers, more than the %d one plugin request may carry (each layer is capped by spec.limits.maxBlobBytes, at most %d layers; a plugin request by plugin.MaxRequestContentBytes)",
			total, int64(plugin.MaxRequestContentBytes), v.opts.MaxBlobs)
	}
	release, err = v.reserve(ctx, total, what)
	if err != nil {
		return nil, func() {}, fetchReason(ctx, err), err
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
			return nil, release, fetchReason(ctx, err), err
		}
		req.Blobs = append(req.Blobs, plugin.Blob{Descriptor: l, Data: data})
	}
	return req, release, "", nil
}

// reserve reserves n bytes in Options.Memory, if any.
func (v *Verifier) reserve(ctx context.Context, n int64, what string) (func(), error) {
	if v.opts.Memory == nil {
		return func() {}, nil
	}
	return v.opts.Memory.Acquire(ctx, n, what)
}

// layerLimit is the cap on one layer of an artifact of type t, and the
// setting it comes from; 0 means only the store's blob limit applies.
func (v *Verifier) layerLimit(t string) (int64, string) {
	if n, ok := v.opts.MaxBytesPerArtifactType[t]; ok {
		return n, "spec.limits.maxBytesPerArtifactType of the Store"
	}
	if slices.Contains(v.opts.SignatureTypes, t) {
		return DefaultMaxSignatureBytes, fmt.Sprintf("the default for the signature type of plugin %q; raise it with spec.limits.maxBytesPerArtifactType of the Store", v.opts.Plugin)
	}
	return 0, ""
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
