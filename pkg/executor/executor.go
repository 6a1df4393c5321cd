package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/assayproj/assay/pkg/reason"
	"github.com/assayproj/assay/pkg/report"
	"github.com/distribution/reference"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/sync/errgroup"
)

// Sentinels returned (wrapped) by Verify when no subject could be pinned.
var (
	// ErrInvalidReference: the reference does not parse.
	ErrInvalidReference = errors.New("invalid image reference")
	// ErrResolve: the reference could not be resolved to a digest.
	ErrResolve = errors.New("cannot resolve image reference")
)

// Defaults for Options.
const (
	DefaultConcurrency = 8
	DefaultMaxDepth    = 2
	DefaultMaxNodes    = 256
)

// Rule is one artifact-type rule of a Policy.
type Rule struct {
	ArtifactType string
	// Mode is "any" or "all"; "" means "any".
	Mode string
	// Required makes a subject without an artifact of this type fail.
	Required bool
}

// Policy decides the report's IsSuccess from the verdicts.
type Policy struct {
	// Name of the Policy object, for the report.
	Name  string
	Rules []Rule
	// MultiArch is what an image index must satisfy: MultiArchIndex ("",
	// the default: its own artifacts), MultiArchPlatforms (every platform
	// manifest) or MultiArchEither (one or the other).
	MultiArch string
}

// Multi-arch modes of a Policy.
const (
	MultiArchIndex     = "index"
	MultiArchPlatforms = "platforms"
	MultiArchEither    = "either"
)

// Options configure an Executor.
type Options struct {
	// Store reads the registry. Required.
	Store Store
	// Verifiers are matched to artifacts by type. None is valid: every
	// artifact found is then reported with NO_VERIFIER.
	Verifiers []Verifier
	// Policy defines success. Nil means no Policy is configured: every
	// report fails with NO_POLICY.
	Policy *Policy
	// PoliciesNotInEffect describe Policies that exist but were left out
	// as invalid; a NO_POLICY report names them, so that its reader
	// fixes the Policy rather than creating another.
	PoliciesNotInEffect []string
	// Concurrency bounds the verification jobs and referrer listings run
	// at once for one subject. If <= 0, DefaultConcurrency is used.
	Concurrency int
	// MaxDepth bounds nesting: 1 lists the subject's referrers only, 2
	// also their referrers. If <= 0, DefaultMaxDepth is used.
	MaxDepth int
	// MaxNodes bounds the artifacts discovered per subject; more fail the
	// discovery with LIMIT_EXCEEDED. If <= 0, DefaultMaxNodes is used.
	MaxNodes int
	// Now returns the report timestamp. If nil, time.Now is used.
	Now func() time.Time

	// Verdicts caches reports by digest-pinned subject and ConfigID. If
	// nil, nothing is cached; concurrent verifications of the same
	// subject are shared either way. Reports with a transient reason
	// (DEADLINE_EXCEEDED, REGISTRY_ERROR, PLUGIN_UNAVAILABLE,
	// PLUGIN_ERROR) anywhere in them are never cached.
	Verdicts VerdictCache
	// ConfigID identifies the configuration the verdicts are made under
	// (a hash of the verification objects and the plugins); it is part
	// of every cache key, so a new configuration never sees verdicts of
	// an old one.
	ConfigID string
	// VerdictTTL is how long a passing verdict is cached. If 0,
	// DefaultVerdictTTL.
	VerdictTTL time.Duration
	// FailureTTL is how long a failing (not transient) verdict is
	// cached. If 0, DefaultFailureTTL.
	FailureTTL time.Duration

	// RequireSignature names the Verifiers whose artifacts must carry a
	// verified signature of their own (a referrer of a signature type, see
	// SignatureTyper, whose every result is verified); a verified result
	// of such a Verifier without one becomes failed with NO_SIGNATURE. It
	// needs MaxDepth >= 2.
	RequireSignature map[string]bool
}

// Executor verifies subjects. It is safe for concurrent use.
type Executor struct {
	opts     Options
	flights  flights
	counters cacheCounters
}

// New validates opts and applies defaults.
func New(opts Options) (*Executor, error) {
	if opts.Store == nil {
		return nil, errors.New("executor: a Store is required")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.MaxDepth <= 0 {
		opts.MaxDepth = DefaultMaxDepth
	}
	if opts.MaxNodes <= 0 {
		opts.MaxNodes = DefaultMaxNodes
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.VerdictTTL < 0 || opts.FailureTTL < 0 {
		return nil, fmt.Errorf("executor: verdict TTLs must not be negative, got %s and %s", opts.VerdictTTL, opts.FailureTTL)
	}
	if opts.VerdictTTL == 0 {
		opts.VerdictTTL = DefaultVerdictTTL
	}
	if opts.FailureTTL == 0 {
		opts.FailureTTL = DefaultFailureTTL
	}
	names := map[string]bool{}
	for i, v := range opts.Verifiers {
		if v == nil {
			return nil, fmt.Errorf("executor: verifier %d is nil", i)
		}
		if names[v.Name()] {
			return nil, fmt.Errorf("executor: two verifiers named %q", v.Name())
		}
		names[v.Name()] = true
	}
	for name := range opts.RequireSignature {
		if !names[name] {
			return nil, fmt.Errorf("executor: RequireSignature names %q, which is not a verifier", name)
		}
		if opts.MaxDepth < 2 {
			return nil, fmt.Errorf("executor: verifier %q requires signatures on its artifacts, which needs MaxDepth of at least 2, got %d", name, opts.MaxDepth)
		}
	}
	if p := opts.Policy; p != nil {
		switch p.MultiArch {
		case "", MultiArchIndex, MultiArchPlatforms, MultiArchEither:
		default:
			return nil, fmt.Errorf("executor: policy %q: multiArch %q is not index, platforms or either", p.Name, p.MultiArch)
		}
		if len(p.Rules) == 0 {
			return nil, fmt.Errorf("executor: policy %q has no rules", p.Name)
		}
		seen := map[string]bool{}
		for _, r := range p.Rules {
			if r.ArtifactType == "" {
				return nil, fmt.Errorf("executor: policy %q: a rule has no artifact type", p.Name)
			}
			if r.Mode != "" && r.Mode != ModeAny && r.Mode != ModeAll && r.Mode != ModeNewest {
				return nil, fmt.Errorf("executor: policy %q: rule for %q: mode %q is not any, all or newest", p.Name, r.ArtifactType, r.Mode)
			}
			if seen[r.ArtifactType] {
				return nil, fmt.Errorf("executor: policy %q: two rules for %q", p.Name, r.ArtifactType)
			}
			seen[r.ArtifactType] = true
		}
	}
	return &Executor{opts: opts}, nil
}

// Policy modes.
const (
	ModeAny = "any"
	ModeAll = "all"
	// ModeNewest: the newest artifact of the type, by its
	// org.opencontainers.image.created annotation, decides.
	ModeNewest = "newest"
)

// Verify produces the report for one image reference. The report is
// always returned. The error is non-nil only when no subject could be
// pinned (the reference is invalid or cannot be resolved); it wraps
// ErrInvalidReference or ErrResolve and the cause.
//
// Once pinned, the verdict comes from the verdict cache when it holds
// one for the subject and configuration; otherwise concurrent calls for
// the same subject share one verification.
func (e *Executor) Verify(ctx context.Context, ref string) (*report.Report, error) {
	rep := newReport(ref)
	defer func() {
		if rep.Timestamp.IsZero() {
			rep.Timestamp = e.opts.Now().UTC()
		}
		if !rep.IsSuccess && rep.Remediation == "" {
			rep.Remediation = rep.Reason.Remediation()
		}
	}()
	repo, subject, err := e.pin(ctx, rep)
	if err != nil {
		return rep, err
	}
	e.sharedVerify(ctx, rep, repo, subject)
	return rep, nil
}

// Resolve pins ref to the digest of its manifest, as Verify does first.
// Errors wrap ErrInvalidReference or ErrResolve and the cause.
func (e *Executor) Resolve(ctx context.Context, ref string) (string, error) {
	_, subject, err := e.pin(ctx, newReport(ref))
	if err != nil {
		return "", err
	}
	return subject.Digest.String(), nil
}

// verifyPinned discovers, verifies and decides a pinned subject into
// rep, and, for an image index under a multiArch Policy, its platforms.
func (e *Executor) verifyPinned(ctx context.Context, rep *report.Report, repo string, subject ocispec.Descriptor) {
	e.verifyTree(ctx, rep, repo, subject)
	if p := e.opts.Policy; p != nil && isIndex(subject.MediaType) && (p.MultiArch == MultiArchPlatforms || p.MultiArch == MultiArchEither) {
		e.verifyPlatforms(ctx, rep, repo, subject)
	}
}

// verifyTree discovers, verifies and decides one manifest into rep.
func (e *Executor) verifyTree(ctx context.Context, rep *report.Report, repo string, subject ocispec.Descriptor) {
	p := e.newPool(ctx, repo)
	g := e.discover(ctx, repo, subject, p.start)
	results := p.wait(g)
	e.requireSignatures(g, results)
	rep.Artifacts = g.tree(0, results)
	e.decide(rep, g, results)
}

// Discover pins ref and walks its referrer graph without verifying
// anything: the report's artifacts carry no results and IsSuccess is
// false. Errors are as for Verify; a discovery failure is described by
// the report's Reason and Message.
func (e *Executor) Discover(ctx context.Context, ref string) (*report.Report, error) {
	rep := newReport(ref)
	defer func() { rep.Timestamp = e.opts.Now().UTC() }()
	g, _, err := e.pinAndDiscover(ctx, rep)
	if err != nil {
		return rep, err
	}
	rep.Artifacts = g.tree(0, nil)
	if g.err != nil {
		rep.Reason = g.errReason
		rep.Message = g.errMessage()
	} else {
		rep.Message = fmt.Sprintf("%d artifacts found", len(g.nodes)-1)
	}
	return rep, nil
}

// pinAndDiscover pins rep.Reference and walks its referrer graph.
func (e *Executor) pinAndDiscover(ctx context.Context, rep *report.Report) (*graph, string, error) {
	repo, subject, err := e.pin(ctx, rep)
	if err != nil {
		return nil, "", err
	}
	return e.discover(ctx, repo, subject, nil), repo, nil
}

func newReport(ref string) *report.Report {
	return &report.Report{MediaType: report.MediaType, Reference: ref, Artifacts: []report.Artifact{}}
}

// pin parses, normalises and resolves rep.Reference, filling the report's
// subject, warnings, or failure reason.
func (e *Executor) pin(ctx context.Context, rep *report.Report) (string, ocispec.Descriptor, error) {
	ref := rep.Reference
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		rep.Reason = report.ReasonInvalidReference
		rep.Message = fmt.Sprintf("%q is not a valid image reference: %v", ref, err)
		return "", ocispec.Descriptor{}, fmt.Errorf("%w %q: %w", ErrInvalidReference, ref, err)
	}
	named = reference.TagNameOnly(named)
	repo := named.Name()
	var pin string
	digested, isDigested := named.(reference.Digested)
	if isDigested {
		pin = digested.Digest().String()
	} else {
		pin = named.(reference.Tagged).Tag()
	}

	subject, err := e.opts.Store.Resolve(ctx, repo, pin)
	if err != nil {
		rep.Reason = classify(ctx, err, report.ReasonRegistryError)
		if rep.Reason == report.ReasonRegistryError && isNotFound(err) {
			rep.Reason = report.ReasonSubjectNotFound
		}
		// The store's errors start with "resolve <what>: "; say it once.
		cause := err.Error()
		for _, sep := range []string{":", "@"} {
			cause = strings.TrimPrefix(cause, "resolve "+repo+sep+pin+": ")
		}
		if rep.Reason == report.ReasonDeadlineExceeded {
			rep.Message = fmt.Sprintf("the deadline passed before %s was resolved: %s", named.String(), cause)
		} else {
			rep.Message = fmt.Sprintf("cannot resolve %s: %s", named.String(), cause)
		}
		return "", ocispec.Descriptor{}, fmt.Errorf("%w %s: %w", ErrResolve, named.String(), err)
	}
	rep.Subject = repo + "@" + subject.Digest.String()
	if !isDigested {
		rep.Warnings = append(rep.Warnings, report.Warning{
			Reason:  report.ReasonTagResolved,
			Message: fmt.Sprintf("tag %q resolved to %s; the tag may move, refer to images by digest", pin, subject.Digest),
		})
	}
	return repo, subject, nil
}

// pool runs the (artifact, verifier) jobs of one subject through one
// bounded errgroup. Jobs are started level by level while discovery goes
// on (start is called from the discovering goroutine), so verifying the
// subject's own referrers overlaps with listing theirs.
type pool struct {
	e    *Executor
	ctx  context.Context
	repo string
	eg   errgroup.Group // not WithContext: one job never cancels another

	dispatch sync.WaitGroup // goroutines still handing jobs to eg
	mu       sync.Mutex
	jobs     []*poolJob
}

type poolJob struct {
	node int
	res  report.Result
}

func (e *Executor) newPool(ctx context.Context, repo string) *pool {
	p := &pool{e: e, ctx: ctx, repo: repo}
	p.eg.SetLimit(e.opts.Concurrency)
	return p
}

// start queues the jobs of nodes, which g already holds. It does not
// block: the descriptors are copied now, and a goroutine hands the jobs
// to the bounded group.
func (p *pool) start(g *graph, nodes []int) {
	type queued struct {
		job     *poolJob
		v       Verifier
		subject ocispec.Descriptor
		art     ocispec.Descriptor
	}
	var batch []queued
	for _, i := range nodes {
		n := g.nodes[i]
		for _, v := range p.e.opts.Verifiers {
			if v.Handles(n.desc.ArtifactType) {
				batch = append(batch, queued{job: &poolJob{node: i}, v: v, subject: g.nodes[n.parent].desc, art: n.desc})
			}
		}
	}
	if len(batch) == 0 {
		return
	}
	p.mu.Lock()
	for _, q := range batch {
		p.jobs = append(p.jobs, q.job)
	}
	p.mu.Unlock()
	p.dispatch.Add(1)
	go func() {
		defer p.dispatch.Done()
		for _, q := range batch {
			p.eg.Go(func() error {
				q.job.res = runJob(p.ctx, q.v, Job{Repository: p.repo, Subject: q.subject, Artifact: q.art, Fetcher: p.e.opts.Store})
				return nil
			})
		}
	}()
}

// wait waits for every job and returns the results by node, in verifier
// order; a node no Verifier handles gets one NO_VERIFIER result.
func (p *pool) wait(g *graph) [][]report.Result {
	p.dispatch.Wait()
	_ = p.eg.Wait()
	results := make([][]report.Result, len(g.nodes))
	for _, j := range p.jobs {
		results[j.node] = append(results[j.node], j.res)
	}
	for i := 1; i < len(g.nodes); i++ {
		if results[i] == nil {
			results[i] = []report.Result{{
				Verdict:     report.Inconclusive,
				Reason:      report.ReasonNoVerifier,
				Message:     fmt.Sprintf("no Verifier handles artifact type %q", g.nodes[i].desc.ArtifactType),
				Remediation: report.ReasonNoVerifier.Remediation(),
			}}
		}
	}
	return results
}

// runJob runs one verifier and turns every way it can go wrong into an
// inconclusive result.
func runJob(ctx context.Context, v Verifier, job Job) (res report.Result) {
	base := report.Result{Verifier: v.Name(), Type: v.Type()}
	inconclusive := func(reason report.Reason, msg string) report.Result {
		r := base
		r.Verdict, r.Reason, r.Message, r.Remediation = report.Inconclusive, reason, msg, reason.Remediation()
		return r
	}
	defer func() {
		if p := recover(); p != nil {
			res = inconclusive(report.ReasonPluginError, fmt.Sprintf("verifier %q panicked: %v", v.Name(), p))
		}
	}()
	if err := ctx.Err(); err != nil {
		return inconclusive(classify(ctx, err, report.ReasonDeadlineExceeded), "not started: "+err.Error())
	}
	res, err := v.Verify(ctx, job)
	if err != nil {
		return inconclusive(classify(ctx, err, report.ReasonPluginError), fmt.Sprintf("verifier %q could not evaluate %s: %v", v.Name(), job.Artifact.Digest, err))
	}
	res.Verifier, res.Type = base.Verifier, base.Type
	switch res.Verdict {
	case report.Verified, report.Failed, report.Inconclusive:
	default:
		return inconclusive(report.ReasonPluginError, fmt.Sprintf("verifier %q returned an unknown verdict %q", v.Name(), res.Verdict))
	}
	// A reason outside the closed set, or VERIFIED on a verdict that is
	// not, is replaced by the generic code for the verdict.
	res.Reason = reason.ForVerdict(string(res.Verdict), res.Reason)
	if res.Verdict != report.Verified && res.Remediation == "" {
		res.Remediation = res.Reason.Remediation()
	}
	return res
}

// verdictOf folds an artifact's results: verified only when every result
// is verified; failed when any failed; inconclusive otherwise.
func verdictOf(results []report.Result) report.Verdict {
	v := report.Verified
	for _, r := range results {
		switch r.Verdict {
		case report.Failed:
			return report.Failed
		case report.Verified:
		default:
			v = report.Inconclusive
		}
	}
	if len(results) == 0 {
		return report.Inconclusive
	}
	return v
}

// requireSignatures fails the verified results of the Verifiers in
// RequireSignature whose artifact carries no verified signature (a
// referrer of a type some Verifier declares a signature, see
// SignatureTyper, whose every result is verified), and names the
// signature that counted otherwise.
func (e *Executor) requireSignatures(g *graph, results [][]report.Result) {
	if len(e.opts.RequireSignature) == 0 {
		return
	}
	for i := 1; i < len(g.nodes); i++ {
		for j := range results[i] {
			r := &results[i][j]
			if !e.opts.RequireSignature[r.Verifier] || r.Verdict != report.Verified {
				continue
			}
			signed := -1
			for _, c := range g.nodes[i].children {
				if e.isSignature(g.nodes[c].desc.ArtifactType) && verdictOf(results[c]) == report.Verified {
					signed = c
					break
				}
			}
			if r.Details == nil {
				r.Details = map[string]any{}
			} else {
				r.Details = maps.Clone(r.Details)
			}
			art := g.nodes[i].desc
			if signed < 0 {
				r.Verdict, r.Reason = report.Failed, report.ReasonNoSignature
				r.Message = fmt.Sprintf("%s %s carries no verified signature, and Verifier %q requires one (%d referrers of it checked)",
					art.ArtifactType, art.Digest, r.Verifier, len(g.nodes[i].children))
				r.Remediation = "Sign the artifact itself (for example the vulnerability report) with a trusted key and push the signature as its referrer."
				r.Details["signature"] = nil
				continue
			}
			sig := g.nodes[signed]
			first := results[signed][0]
			r.Details["signature"] = map[string]any{
				"artifactType": sig.desc.ArtifactType,
				"digest":       sig.desc.Digest.String(),
				"verifier":     first.Verifier,
				"verdict":      string(first.Verdict),
				"message":      first.Message,
			}
		}
	}
}
