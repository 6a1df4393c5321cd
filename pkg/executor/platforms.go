package executor

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/assayproj/assay/pkg/report"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// dockerManifestList is Docker's media type for a multi-platform image.
const dockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"

// isIndex reports whether mediaType is an image index (OCI or Docker).
func isIndex(mediaType string) bool {
	return mediaType == ocispec.MediaTypeImageIndex || mediaType == dockerManifestList
}

// MaxPlatforms bounds the platform manifests of one index checked under
// a multiArch Policy; an index with more fails with LIMIT_EXCEEDED.
const MaxPlatforms = 64

// verifyPlatforms applies the Policy to every platform manifest of the
// index subject and combines their outcomes with the index's own (already
// in rep) under the Policy's multiArch mode.
//
// Up to Concurrency platforms are verified at once, each through a
// verifyTree of its own with its own bounded listings and job pool, so
// up to Concurrency² jobs run for one index: the groups are not nested
// on one limit (a platform never waits for a slot its parent holds), so
// they cannot deadlock.
func (e *Executor) verifyPlatforms(ctx context.Context, rep *report.Report, repo string, subject ocispec.Descriptor) {
	mode := e.opts.Policy.MultiArch
	fail := func(reason report.Reason, msg string) {
		rep.IsSuccess = false
		rep.Reason, rep.Message, rep.Remediation = reason, msg, reason.Remediation()
	}
	raw, err := e.opts.Store.Fetch(ctx, repo, subject)
	if err != nil {
		fail(classify(ctx, err, report.ReasonRegistryError), fmt.Sprintf("cannot read the image index %s to check its platforms: %v", subject.Digest, err))
		return
	}
	var idx ocispec.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		fail(report.ReasonRegistryError, fmt.Sprintf("the image index %s is not valid JSON: %v", subject.Digest, err))
		return
	}
	var platforms []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if isAttestation(m) {
			continue
		}
		platforms = append(platforms, m)
	}
	if len(platforms) > MaxPlatforms {
		fail(report.ReasonLimitExceeded, fmt.Sprintf("the image index %s lists %d platform manifests, more than the limit of %d", subject.Digest, len(platforms), MaxPlatforms))
		return
	}
	results := make([]report.PlatformResult, len(platforms))
	verified := make([]bool, len(platforms)) // whether a rule counted a verified artifact
	var eg errgroup.Group
	eg.SetLimit(e.opts.Concurrency)
	for i, m := range platforms {
		eg.Go(func() error {
			sub := &report.Report{Artifacts: []report.Artifact{}}
			e.verifyTree(ctx, sub, repo, m, nil)
			results[i] = report.PlatformResult{
				Platform: platformName(m.Platform), Digest: m.Digest.String(),
				IsSuccess: sub.IsSuccess, Reason: sub.Reason, Message: sub.Message, Remediation: sub.Remediation,
				Artifacts: sub.Artifacts,
			}
			verified[i] = sub.Policy != nil && !nothingVerified(sub.Policy.Rules)
			if !sub.IsSuccess && results[i].Remediation == "" {
				results[i].Remediation = sub.Reason.Remediation()
			}
			return nil
		})
	}
	_ = eg.Wait()

	passed := 0
	var firstBad *report.PlatformResult
	for i := range results {
		if results[i].IsSuccess {
			passed++
		} else if firstBad == nil {
			firstBad = &results[i]
		}
	}
	cov := &report.Coverage{Mode: string(mode), Platforms: len(results), Passed: passed,
		Message: fmt.Sprintf("%d of %d platforms pass", passed, len(results))}
	rep.Platforms, rep.Coverage = results, cov
	allPass := len(results) > 0 && passed == len(results)
	indexPassed := rep.IsSuccess

	switch {
	case mode == MultiArchEither && indexPassed:
		rep.Message += "; the index itself passes (" + cov.Message + ")"
	case allPass:
		rep.IsSuccess, rep.Reason, rep.Remediation = true, report.ReasonVerified, ""
		rep.Message = fmt.Sprintf("policy %q satisfied by every platform: %s", e.opts.Policy.Name, cov.Message)
		if e.opts.Policy.AllowUnsigned && !slices.Contains(verified, true) {
			rep.Message += "; " + AdmittedUnverified
		}
	case len(results) == 0:
		fail(report.ReasonArtifactMissing, fmt.Sprintf("the image index %s lists no platform manifests to check", subject.Digest))
	default:
		what := ""
		if mode == MultiArchEither {
			what = "the index itself does not pass, and not every platform does: "
		}
		rep.IsSuccess = false
		rep.Reason = firstBad.Reason
		rep.Message = fmt.Sprintf("%s%s; %s %s: %s", what, cov.Message, firstBad.Platform, firstBad.Digest, firstBad.Message)
		rep.Remediation = firstBad.Remediation
	}
}

// isAttestation tells the manifests of an index that are not images for
// a platform: BuildKit's attestation manifests.
func isAttestation(d ocispec.Descriptor) bool {
	if d.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
		return true
	}
	return d.Platform != nil && d.Platform.OS == "unknown" && d.Platform.Architecture == "unknown"
}

func platformName(p *ocispec.Platform) string {
	if p == nil || p.OS == "" {
		return "unknown"
	}
	parts := []string{p.OS, p.Architecture}
	if p.Variant != "" {
		parts = append(parts, p.Variant)
	}
	return strings.Join(parts, "/")
}
