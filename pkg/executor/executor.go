package executor

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/assayproj/assay/pkg/internal/flight"
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

// ErrAdmitsUnattached is returned (wrapped) by New for a Policy that an
// image with nothing attached satisfies (no rule is required) and that
// does not say AllowUnsigned.
var ErrAdmitsUnattached = errors.New("an image with nothing attached would satisfy every rule, so it would be admitted unverified")

// Defaults for Options.
const (
	DefaultConcurrency = 8
	DefaultMaxDepth    = 2
	DefaultMaxNodes    = 256
)

// Rule is one rule of a Policy: for one artifact type (ArtifactType) or
// for one of several alternative types (ArtifactTypes); exactly one of
// the two is set.
//
// Under a rule with several types, the artifacts of all the listed types
// attached to the subject count together, as if they were of one type:
// ModeAny holds when one of them is verified, ModeAll when every one
// found is verified (a listed type of which nothing is attached does not
// count against it), ModeNewest when the newest of them is verified.
type Rule struct {
	ArtifactType string
	// ArtifactTypes are alternatives (see Rule).
	ArtifactTypes []string
	// Mode is ModeAny, ModeAll or ModeNewest; "" means ModeAny.
	Mode Mode
	// Required makes a subject without an artifact of the rule's types
	// fail.
	Required bool
}

// Types returns the rule's artifact types: ArtifactTypes, or
// ArtifactType alone.
func (r Rule) Types() []string {
	if len(r.ArtifactTypes) > 0 {
		return r.ArtifactTypes
	}
	return []string{r.ArtifactType}
}

// Policy decides the report's IsSuccess from the verdicts.
type Policy struct {
	// Name of the Policy object, for the report.
	Name  string
	Rules []Rule
	// MultiArch is what an image index must satisfy: MultiArchIndex ("",
	// the default: its own artifacts), MultiArchPlatforms (every platform
	// manifest) or MultiArchEither (one or the other).
	MultiArch MultiArch
	// AllowUnsigned admits a Policy without a required rule, which an
	// image with nothing attached satisfies; New refuses such a Policy
	// without it, and one with a required rule with it. A report that
	// passes with nothing verified says so (see AdmittedUnverified).
	AllowUnsigned bool
}

// AdmitsUnattached reports whether an image with nothing attached
// satisfies p: whether none of its rules is required. The multiArch
// mode changes nothing: the index and each platform manifest are held
// to the same rules.
func (p *Policy) AdmitsUnattached() bool {
	for _, r := range p.Rules {
		if r.Required {
			return false
		}
	}
	return true
}

// AdmittedUnverified is appended to the message of a report that passes
// under a Policy with AllowUnsigned while nothing was verified.
const AdmittedUnverified = "admitted with nothing verified: Policy allows unsigned images (spec.allowUnsigned)"

// MultiArch is what an image index must satisfy under a Policy.
type MultiArch string

// Multi-arch modes of a Policy.
const (
	MultiArchIndex     MultiArch = "index"
	MultiArchPlatforms MultiArch = "platforms"
	MultiArchEither    MultiArch = "either"
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
	// Concurrency bounds the work run at once for one manifest: at most
	// Concurrency referrer listings and, beside them, at most Concurrency
	// verification jobs (with the reads of artifact manifests that learn
	// a digest-pinned subject's descriptor). Under a multiArch Policy up
	// to Concurrency platform manifests of an index are verified at once,
	// each with bounds of its own, so up to Concurrency² jobs run for one
	// key. If <= 0, DefaultConcurrency is used.
	Concurrency int
	// MaxDepth bounds nesting: 1 lists the subject's referrers only; at
	// 2 and more, the referrers of an artifact at depth d < MaxDepth are
	// listed too, but only when something needs them: a Verifier in
	// RequireSignature that handles the artifact's type. Nothing else
	// reads them, so nothing else pays for the request. Discover lists
	// every level up to MaxDepth. If <= 0, DefaultMaxDepth is used.
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
	// needs MaxDepth >= 2. The referrers of an artifact are listed only
	// when one of these Verifiers handles its type (see MaxDepth).
	RequireSignature map[string]bool
}

// Executor verifies subjects. It is safe for concurrent use.
type Executor struct {
	opts Options
	// flights and counters are shared with the Executors made by With.
	flights  *flight.Group[verification]
	counters *cacheCounters
	codec    *verdictCodec
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
			if (r.ArtifactType == "") == (len(r.ArtifactTypes) == 0) {
				return nil, fmt.Errorf("executor: policy %q: a rule needs exactly one of an artifact type and a list of artifact types", p.Name)
			}
			if r.Mode != "" && r.Mode != ModeAny && r.Mode != ModeAll && r.Mode != ModeNewest {
				return nil, fmt.Errorf("executor: policy %q: rule for %s: mode %q is not any, all or newest", p.Name, alternatives(r.Types()), r.Mode)
			}
			for _, t := range r.Types() {
				if t == "" {
					return nil, fmt.Errorf("executor: policy %q: a rule lists an empty artifact type", p.Name)
				}
				if seen[t] {
					return nil, fmt.Errorf("executor: policy %q: two rules for %q", p.Name, t)
				}
				seen[t] = true
			}
		}
		switch admits := p.AdmitsUnattached(); {
		case admits && !p.AllowUnsigned:
			return nil, fmt.Errorf("executor: policy %q: %w", p.Name, ErrAdmitsUnattached)
		case !admits && p.AllowUnsigned:
			return nil, fmt.Errorf("executor: policy %q: AllowUnsigned has no effect, a rule is required", p.Name)
		}
	}
	counters := &cacheCounters{}
	flights := &flight.Group[verification]{LastCollects: true, Joined: func() { counters.shared.Add(1) }}
	return &Executor{opts: opts, flights: flights, counters: counters, codec: &verdictCodec{}}, nil
}

// With returns an Executor that reads the registry through s (a view of
// the same registries with other credentials, such as a Pod's) and is
// otherwise e: the same verifiers, Policy and verdict cache, and the same
// shared verifications and counters. A nil s returns e.
func (e *Executor) With(s Store) *Executor {
	if s == nil {
		return e
	}
	w := *e
	w.opts.Store = s
	return &w
}

// Mode combines the verdicts of the artifacts of one type.
type Mode string

// Policy modes.
const (
	ModeAny Mode = "any"
	ModeAll Mode = "all"
	// ModeNewest: the newest artifact of the type, by its
	// org.opencontainers.image.created annotation, decides.
	ModeNewest Mode = "newest"
)

// Verify produces the report for one image reference. The report is
// always returned. The error is non-nil only when no subject could be
// pinned (the reference is invalid or cannot be resolved); it wraps
// ErrInvalidReference or ErrResolve and the cause.
//
// A tag is resolved to a digest first (one HEAD request). A reference
// that carries a digest is not: the referrers of the digest are listed
// at once, and the subject's media type and size, which verifiers need,
// are taken from the subject field of the artifact manifests read for
// verification. The subject itself is asked for (one HEAD, shared) only
// when that is not enough, when a multiArch Policy needs to know whether
// it is an index (beside the listing, not before it), or when no
// referrer is found: a digest the registry does not have is then
// reported as it would have been by resolving it first, with ErrResolve
// and SUBJECT_NOT_FOUND.
//
// Once pinned, the verdict comes from the verdict cache when it holds
// one for the subject and configuration; otherwise concurrent calls for
// the same subject share one verification. Whose deadline counts: each
// call returns by its own ctx's deadline, with DEADLINE_EXCEEDED if the
// shared verification has not finished; the shared verification keeps
// the values of the ctx of the call that started it but not its
// deadline, runs until the latest deadline of the calls waiting for it
// and stops as soon as none waits. A job is told (through its ctx) the
// latest deadline of the calls waiting when it starts. The last call to
// leave waits for the verification to stop and returns the report of
// what it finished, so a call alone gets what it would have found by
// verifying under its own ctx.
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
	repo, subject, err := e.pin(ctx, rep, false)
	if err != nil {
		return rep, err
	}
	return rep, e.sharedVerify(ctx, rep, repo, subject)
}

// Resolve pins ref to the digest of its manifest: a tag or a digest is
// resolved with the registry (a digest the registry does not have is an
// error). Errors wrap ErrInvalidReference, or are a *ResolveError
// (wrapping ErrResolve and the cause) with the reason and message Verify
// would report.
func (e *Executor) Resolve(ctx context.Context, ref string) (string, error) {
	_, subject, err := e.pin(ctx, newReport(ref), true)
	if err != nil {
		return "", err
	}
	return subject.Digest.String(), nil
}

// verifyPinned discovers, verifies and decides a pinned subject into
// rep, and, for an image index under a multiArch Policy, its platforms.
// subject may hold only a digest (see Verify); the error, non-nil only
// then, says that the subject could not be resolved after all, and rep
// then says so too, as pin would have.
func (e *Executor) verifyPinned(ctx context.Context, rep *report.Report, repo string, subject ocispec.Descriptor) error {
	p := e.opts.Policy
	multiArch := p != nil && (p.MultiArch == MultiArchPlatforms || p.MultiArch == MultiArchEither)
	if complete(subject) {
		e.verifyTree(ctx, rep, repo, subject, nil)
		if multiArch && isIndex(subject.MediaType) {
			e.verifyPlatforms(ctx, rep, repo, subject)
		}
		return nil
	}
	root := newSubject(e.opts.Store, repo, subject.Digest)
	if multiArch {
		// Whether the subject is an index decides what else is checked;
		// ask beside the listing, not before it.
		root.head(ctx)
	}
	g := e.verifyTree(ctx, rep, repo, subject, root)
	if len(g.nodes[0].children) == 0 || isNotFound(g.err) {
		// Nothing refers to the digest: it may not exist at all.
		root.head(ctx)
	}
	if root.wasHeaded() {
		d, err := root.wait(ctx)
		if err != nil {
			*rep = report.Report{MediaType: rep.MediaType, Reference: rep.Reference, Artifacts: []report.Artifact{}}
			return resolveFailure(ctx, rep, repo+"@"+subject.Digest.String(), repo, subject.Digest.String(), err)
		}
		subject = d
	}
	if multiArch && isIndex(subject.MediaType) {
		e.verifyPlatforms(ctx, rep, repo, subject)
	}
	return nil
}

// verifyTree discovers, verifies and decides one manifest into rep and
// returns its graph. root is nil when subject is complete; otherwise it
// learns the subject's descriptor for the jobs on the subject's own
// referrers.
func (e *Executor) verifyTree(ctx context.Context, rep *report.Report, repo string, subject ocispec.Descriptor, root *subject) *graph {
	p := e.newPool(ctx, repo, root)
	g := e.discover(ctx, repo, subject, false, p.start)
	results := p.wait(g)
	e.requireSignatures(g, results)
	rep.Artifacts = g.tree(0, results)
	rep.Warnings = append(rep.Warnings, g.warnings...)
	e.decide(rep, g, results)
	return g
}

// Discover pins ref and walks its referrer graph without verifying
// anything, listing every level up to MaxDepth: the report's artifacts
// carry no results and IsSuccess is false. Errors are as for Verify; a
// discovery failure is described by the report's Reason and Message.
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
		rep.Message = report.Count(len(g.nodes)-1, "artifact", "artifacts") + " found, none verified (discovery runs no Verifier)"
	}
	return rep, nil
}

// pinAndDiscover pins rep.Reference and walks its whole referrer graph.
// A digest is resolved only when nothing refers to it, as in Verify.
func (e *Executor) pinAndDiscover(ctx context.Context, rep *report.Report) (*graph, string, error) {
	repo, subject, err := e.pin(ctx, rep, false)
	if err != nil {
		return nil, "", err
	}
	g := e.discover(ctx, repo, subject, true, nil)
	rep.Warnings = append(rep.Warnings, g.warnings...)
	if !complete(subject) && (len(g.nodes[0].children) == 0 || isNotFound(g.err)) {
		if _, err := e.opts.Store.Resolve(ctx, repo, subject.Digest.String()); err != nil {
			rep.Subject = ""
			return nil, "", resolveFailure(ctx, rep, repo+"@"+subject.Digest.String(), repo, subject.Digest.String(), err)
		}
	}
	return g, repo, nil
}

func newReport(ref string) *report.Report {
	return &report.Report{MediaType: report.MediaType, Reference: ref, Artifacts: []report.Artifact{}}
}

// pin parses, normalises and resolves rep.Reference, filling the report's
// subject, warnings, or failure reason. A reference with a digest is
// resolved only if headDigest; otherwise the descriptor returned holds
// only the digest.
func (e *Executor) pin(ctx context.Context, rep *report.Report, headDigest bool) (string, ocispec.Descriptor, error) {
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

	if isDigested && !headDigest {
		rep.Subject = repo + "@" + pin
		return repo, ocispec.Descriptor{Digest: digested.Digest()}, nil
	}
	subject, err := e.opts.Store.Resolve(ctx, repo, pin)
	if err != nil {
		return "", ocispec.Descriptor{}, resolveFailure(ctx, rep, named.String(), repo, pin, err)
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

// resolveFailure fills rep's reason and message for a subject that
// could not be resolved (name as the user reads it, repo and pin as the
// store's error names them) and returns the error Verify returns.
func resolveFailure(ctx context.Context, rep *report.Report, name, repo, pin string, err error) error {
	rep.Reason = classify(ctx, err, report.ReasonRegistryError)
	if rep.Reason == report.ReasonRegistryError && isNotFound(err) {
		rep.Reason = report.ReasonSubjectNotFound
	}
	// The store's error names the reference, as the message does: say
	// it once (see Store).
	cause := err
	var named interface{ Cause() error }
	if errors.As(err, &named) {
		cause = named.Cause()
	}
	if rep.Reason == report.ReasonDeadlineExceeded {
		rep.Message = fmt.Sprintf("the deadline passed before %s was resolved: %s", name, cause)
	} else {
		rep.Message = fmt.Sprintf("cannot resolve %s: %s", name, cause)
	}
	// The store may know the fix better than the reason code does (a
	// registry that serves plain HTTP: the Store setting for its host).
	var fix interface{ Remediation() string }
	if errors.As(err, &fix) {
		rep.Remediation = fix.Remediation()
	}
	return &ResolveError{reason: rep.Reason, message: rep.Message, err: fmt.Errorf("%w %s: %w", ErrResolve, name, err)}
}

// ResolveError is the error of Verify and Resolve for a reference that
// could not be resolved to a digest. It carries the reason and message
// that Verify's report gives, so that a caller answering without a
// report (the provider's mutate endpoints) says what a verification of
// the same reference says. It wraps ErrResolve and the store's error.
type ResolveError struct {
	reason  report.Reason
	message string
	err     error
}

// Reason is SUBJECT_NOT_FOUND, REGISTRY_ERROR, DEADLINE_EXCEEDED or
// LIMIT_EXCEEDED.
func (e *ResolveError) Reason() report.Reason { return e.reason }

// Message is the report's one-line message, which names the reference
// once: "cannot resolve <reference>: <cause>".
func (e *ResolveError) Message() string { return e.message }

// Error is "cannot resolve image reference <reference>: <store error>".
func (e *ResolveError) Error() string { return e.err.Error() }

// Unwrap returns an error wrapping ErrResolve and the store's error, so
// errors.Is finds either.
func (e *ResolveError) Unwrap() error { return e.err }

// pool runs the (artifact, verifier) jobs of one manifest through one
// bounded errgroup. Jobs are started level by level while discovery goes
// on (start is called from the discovering goroutine), so verifying the
// subject's own referrers overlaps with listing theirs.
//
// When the subject is known by digest only (root is not nil), the jobs
// on its own referrers need its descriptor first. Each such artifact's
// manifest is read as a task of the group (the verifier reads it again
// from the store's cache), and its jobs are started with the subject
// field found there; the jobs of an artifact whose manifest has none
// (cosign's classic signature) wait, without holding a slot, until a
// sibling's manifest supplies it or, once every sibling's manifest was
// read without it, until the one HEAD of the subject answers.
type pool struct {
	e    *Executor
	ctx  context.Context
	repo string
	root *subject
	eg   errgroup.Group // not WithContext: one job never cancels another

	// all counts the jobs and manifest reads started and not yet done;
	// every Add happens in start, so Wait cannot miss one.
	all     sync.WaitGroup
	mu      sync.Mutex
	jobs    []*poolJob
	pending int      // manifest reads of the root's referrers not yet done
	waiting []queued // jobs on the root waiting for its descriptor
}

type poolJob struct {
	node int
	res  report.Result
}

// queued is a job not yet handed to the group.
type queued struct {
	job     *poolJob
	v       Verifier
	subject ocispec.Descriptor
	art     ocispec.Descriptor
}

func (e *Executor) newPool(ctx context.Context, repo string, root *subject) *pool {
	p := &pool{e: e, ctx: ctx, repo: repo, root: root}
	p.eg.SetLimit(e.opts.Concurrency)
	return p
}

// start queues the jobs of nodes, which g already holds. It does not
// block: the descriptors are copied now, and goroutines hand the jobs
// (and the manifest reads the root's descriptor needs) to the bounded
// group.
func (p *pool) start(g *graph, nodes []int) {
	var batch []queued
	type read struct {
		art  ocispec.Descriptor
		jobs []queued
	}
	var reads []read
	for _, i := range nodes {
		n := g.nodes[i]
		var qs []queued
		for _, v := range p.e.opts.Verifiers {
			if v.Handles(n.desc.ArtifactType) {
				qs = append(qs, queued{job: &poolJob{node: i}, v: v, subject: g.nodes[n.parent].desc, art: n.desc})
			}
		}
		if len(qs) == 0 {
			continue
		}
		if n.parent != 0 || p.root == nil {
			batch = append(batch, qs...)
			continue
		}
		if d, ok := p.root.get(); ok {
			batch = append(batch, withSubject(qs, d)...)
			continue
		}
		reads = append(reads, read{art: n.desc, jobs: qs})
	}
	p.mu.Lock()
	for _, q := range batch {
		p.jobs = append(p.jobs, q.job)
	}
	for _, r := range reads {
		for _, q := range r.jobs {
			p.jobs = append(p.jobs, q.job)
		}
		p.all.Add(len(r.jobs) + 1) // its jobs and the read itself
	}
	p.pending += len(reads)
	p.all.Add(len(batch))
	p.mu.Unlock()
	p.enqueue(batch)
	if len(reads) > 0 {
		go func() {
			for _, r := range reads {
				p.eg.Go(func() error {
					p.readSubject(r.art, r.jobs)
					return nil
				})
			}
		}()
	}
}

// enqueue hands batch to the bounded group from a goroutine of its own,
// so that neither discovery nor a task of the group blocks on a slot.
func (p *pool) enqueue(batch []queued) {
	if len(batch) == 0 {
		return
	}
	go func() {
		for _, q := range batch {
			p.eg.Go(func() error {
				defer p.all.Done()
				q.job.res = runJob(p.ctx, q.v, Job{Repository: p.repo, Subject: q.subject, Artifact: q.art, Fetcher: p.e.opts.Store})
				return nil
			})
		}
	}()
}

// readSubject reads the manifest of art, a referrer of the root, for the
// root's descriptor, then starts jobs (those of art, and those waiting
// for a descriptor once one is known). The last read to finish without
// a descriptor known asks the registry (the HEAD shared with the rest of
// the verification); if that fails, the waiting jobs are inconclusive
// and the verification reports the subject as not resolved.
func (p *pool) readSubject(art ocispec.Descriptor, jobs []queued) {
	defer p.all.Done()
	own, ok := manifestSubject(p.ctx, p.e.opts.Store, p.repo, art, p.root.digest)
	var ready, waiting []queued
	p.mu.Lock()
	p.pending--
	if ok {
		p.root.learn(own)
		ready = withSubject(jobs, own)
	} else {
		p.waiting = append(p.waiting, jobs...)
	}
	if d, known := p.root.get(); known {
		ready = append(ready, withSubject(p.waiting, d)...)
		p.waiting = nil
	} else if p.pending == 0 {
		waiting, p.waiting = p.waiting, nil
	}
	p.mu.Unlock()
	p.enqueue(ready)
	if len(waiting) == 0 {
		return
	}
	d, err := p.root.resolve(p.ctx)
	if err == nil {
		p.enqueue(withSubject(waiting, d))
		return
	}
	for _, q := range waiting {
		q.job.res = report.Result{
			Verifier: q.v.Name(), Type: q.v.Type(), Verdict: report.Inconclusive,
			Reason:  classify(p.ctx, err, report.ReasonRegistryError),
			Message: fmt.Sprintf("not started: the subject %s, which %s refers to, could not be resolved: %v", p.root.digest, q.art.Digest, err),
		}
		q.job.res.Remediation = q.job.res.Reason.Remediation()
		p.all.Done()
	}
}

// withSubject returns qs with their subject set to d.
func withSubject(qs []queued, d ocispec.Descriptor) []queued {
	out := make([]queued, len(qs))
	for i, q := range qs {
		q.subject = d
		out[i] = q
	}
	return out
}

// wait waits for every job and returns the results by node, in verifier
// order; a node no Verifier handles gets one NO_VERIFIER result.
func (p *pool) wait(g *graph) [][]report.Result {
	p.all.Wait()
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
	ctx, cancel := withCallersDeadline(ctx)
	defer cancel()
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

// requireSignatures turns the verified results of the Verifiers in
// RequireSignature whose artifact carries no verified signature (a
// referrer of a type some Verifier declares a signature, see
// SignatureTyper, whose every result is verified) into failures, and
// names the signature that counted otherwise.
//
// An artifact with no signature at all fails with NO_SIGNATURE. One
// whose signatures were found but none verified takes the verdict and
// reason of the first that failed (else of the first inconclusive one),
// such as SIGNATURE_UNTRUSTED, so that the reason says what is wrong
// with the signature rather than that there is none.
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
				if sig, bad := e.unverifiedSignature(g, i, results); bad != nil {
					r.Verdict, r.Reason = bad.Verdict, bad.Reason
					r.Message = fmt.Sprintf("%s %s carries a signature %s (%s) that is not verified: %s by Verifier %q: %s; Verifier %q requires a verified one",
						art.ArtifactType, art.Digest, sig.Digest, sig.ArtifactType, bad.Reason, bad.Verifier, bad.Message, r.Verifier)
					r.Remediation = bad.Remediation
					if r.Remediation == "" {
						r.Remediation = bad.Reason.Remediation()
					}
					r.Details["signature"] = map[string]any{
						"artifactType": sig.ArtifactType,
						"digest":       sig.Digest.String(),
						"verifier":     bad.Verifier,
						"verdict":      string(bad.Verdict),
						"reason":       string(bad.Reason),
						"message":      bad.Message,
					}
					continue
				}
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

// unverifiedSignature returns, of the signatures of node i none of which
// is verified, the first with a failed result and that result, else the
// first with an inconclusive one; nil when node i has no signature.
func (e *Executor) unverifiedSignature(g *graph, i int, results [][]report.Result) (ocispec.Descriptor, *report.Result) {
	for _, want := range []report.Verdict{report.Failed, report.Inconclusive} {
		for _, c := range g.nodes[i].children {
			if !e.isSignature(g.nodes[c].desc.ArtifactType) {
				continue
			}
			if bad := firstWith(results[c], want); bad != nil {
				return g.nodes[c].desc, bad
			}
		}
	}
	return ocispec.Descriptor{}, nil
}
