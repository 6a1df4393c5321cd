package executor

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/assayproj/assay/pkg/report"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
	"oras.land/oras-go/v2/errdef"
)

// errTooManyNodes stops discovery once MaxNodes artifacts are known.
var errTooManyNodes = fmt.Errorf("too many artifacts: %w", errdef.ErrSizeExceedsLimit)

type node struct {
	desc     ocispec.Descriptor
	parent   int // -1 for the subject
	depth    int
	children []int
}

// graph is the referrer graph of one subject; nodes[0] is the subject.
type graph struct {
	nodes []node
	// err is the first discovery error; the graph then is incomplete.
	err       error
	errReason report.Reason
	errAt     string
	// warnings are failures of optional discovery sources that cannot
	// change the outcome (optionalMiss); the report carries them.
	warnings []report.Warning
}

// discover walks the referrer graph breadth-first, one level at a time,
// listing the referrers of a level's nodes in parallel, down to MaxDepth.
// The subject's referrers are always listed; an artifact's only if all
// is set or something needs them (needsReferrers). found, if not nil, is
// called with each level's new nodes as soon as they are in the graph,
// before the next level is listed, so that verifying an artifact
// overlaps with listing its referrers.
func (e *Executor) discover(ctx context.Context, repo string, subject ocispec.Descriptor, all bool, found func(g *graph, nodes []int)) *graph {
	g := &graph{nodes: []node{{desc: subject, parent: -1}}}
	level := []int{0}
	for depth := 1; depth <= e.opts.MaxDepth && len(level) > 0; depth++ {
		pages := make([][]ocispec.Descriptor, len(level))
		errs := make([]error, len(level))
		var eg errgroup.Group
		eg.SetLimit(e.opts.Concurrency)
		for i, idx := range level {
			desc := g.nodes[idx].desc
			eg.Go(func() error {
				seen := map[string]bool{}
				errs[i] = e.opts.Store.Referrers(ctx, repo, desc, func(page []ocispec.Descriptor) error {
					for _, d := range page {
						if seen[d.Digest.String()] {
							continue
						}
						seen[d.Digest.String()] = true
						pages[i] = append(pages[i], d)
						if len(pages[i]) > e.opts.MaxNodes {
							return errTooManyNodes
						}
					}
					return nil
				})
				return nil
			})
		}
		_ = eg.Wait()
		var next []int
		for i, idx := range level {
			if errs[i] != nil && g.err == nil {
				if w, ok := e.optionalMiss(ctx, idx, errs[i]); ok {
					g.warnings = append(g.warnings, w)
				} else {
					g.fail(ctx, g.nodes[idx].desc, errs[i])
				}
			}
			for _, d := range pages[i] {
				if len(g.nodes)-1 >= e.opts.MaxNodes {
					if g.err == nil {
						g.fail(ctx, g.nodes[idx].desc, fmt.Errorf("more than %d artifacts: %w", e.opts.MaxNodes, errTooManyNodes))
					}
					break
				}
				g.nodes = append(g.nodes, node{desc: d, parent: idx, depth: depth})
				child := len(g.nodes) - 1
				g.nodes[idx].children = append(g.nodes[idx].children, child)
				next = append(next, child)
			}
		}
		if found != nil && len(next) > 0 {
			found(g, next)
		}
		level = level[:0]
		for _, i := range next {
			if all || e.needsReferrers(g.nodes[i].desc.ArtifactType) {
				level = append(level, i)
			}
		}
	}
	return g
}

// optionalMiss turns the failure of an optional discovery source of
// the subject (the store's cosign signature tag probe, whose error names
// the artifact type it would have found, after every other referrer was
// listed) into a warning, when the outcome cannot depend on it: a Policy
// is in effect and none of its rules counts that artifact type. With no
// Policy, or a rule for that type, or the deadline passed, the failure
// stays a discovery failure (deny when in doubt).
func (e *Executor) optionalMiss(ctx context.Context, idx int, err error) (report.Warning, bool) {
	var miss interface{ MissedArtifactType() string }
	p := e.opts.Policy
	if idx != 0 || p == nil || ctx.Err() != nil || !errors.As(err, &miss) {
		return report.Warning{}, false
	}
	for _, r := range p.Rules {
		if slices.Contains(r.Types(), miss.MissedArtifactType()) {
			return report.Warning{}, false
		}
	}
	return report.Warning{
		Reason: report.ReasonRegistryError,
		Message: fmt.Sprintf("artifacts of type %s may be missing: %v; policy %s has no rule for that type, so the outcome does not depend on them",
			miss.MissedArtifactType(), err, quote(p.Name)),
	}, true
}

// needsReferrers reports whether anything reads the referrers of an
// artifact of type artifactType: a Verifier in RequireSignature that
// handles the type (its verdict depends on the artifact's signature).
// Policy rules count artifacts attached to the subject only.
func (e *Executor) needsReferrers(artifactType string) bool {
	for _, v := range e.opts.Verifiers {
		if e.opts.RequireSignature[v.Name()] && v.Handles(artifactType) {
			return true
		}
	}
	return false
}

func (g *graph) errMessage() string {
	return fmt.Sprintf("discovery of referrers of %s failed, the artifacts found may be incomplete: %v", g.errAt, g.err)
}

func (g *graph) fail(ctx context.Context, at ocispec.Descriptor, err error) {
	g.err = err
	g.errAt = at.Digest.String()
	g.errReason = classify(ctx, err, report.ReasonRegistryError)
}

// tree builds the report's artifact tree below node i.
func (g *graph) tree(i int, results [][]report.Result) []report.Artifact {
	out := make([]report.Artifact, 0, len(g.nodes[i].children))
	for _, c := range g.nodes[i].children {
		n := g.nodes[c]
		a := report.Artifact{
			ArtifactType: n.desc.ArtifactType,
			Digest:       n.desc.Digest.String(),
			MediaType:    n.desc.MediaType,
			Artifacts:    nilIfEmpty(g.tree(c, results)),
		}
		if results != nil {
			a.Results = results[c]
		} else {
			a.Results = []report.Result{} // discovery: no Verifier ran
		}
		out = append(out, a)
	}
	return out
}

func nilIfEmpty(a []report.Artifact) []report.Artifact {
	if len(a) == 0 {
		return nil
	}
	return a
}

// classify names the reason for an error that stopped work. fallback is
// used when nothing more specific applies.
func classify(ctx context.Context, err error, fallback report.Reason) report.Reason {
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled), ctx.Err() != nil:
		return report.ReasonDeadlineExceeded
	case errors.Is(err, errdef.ErrSizeExceedsLimit):
		return report.ReasonLimitExceeded
	}
	return fallback
}

func isNotFound(err error) bool { return errors.Is(err, errdef.ErrNotFound) }
