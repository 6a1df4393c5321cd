package executor

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/assayproj/assay/pkg/internal/flight"
	"github.com/assayproj/assay/pkg/report"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Defaults for the verdict cache.
const (
	// DefaultVerdictTTL is how long a passing verdict is reused.
	DefaultVerdictTTL = 5 * time.Minute
	// DefaultFailureTTL is how long a failing verdict is reused: short,
	// so that an image signed after it was refused passes soon.
	DefaultFailureTTL = 30 * time.Second
)

// verdictKeyVersion versions the layout of cached values; bump it when
// the report encoding changes incompatibly.
const verdictKeyVersion = "v1"

// transient reasons say the verdict could change on the next attempt
// without anything changing in the registry or the configuration; such
// reports are never cached.
var transient = map[report.Reason]bool{
	report.ReasonDeadlineExceeded:  true,
	report.ReasonRegistryError:     true,
	report.ReasonPluginUnavailable: true,
	report.ReasonPluginError:       true,
}

// CacheStats counts the verdict cache's outcomes since the executor was
// made.
type CacheStats struct {
	// Hits and Misses count lookups; Shared counts verifications that
	// waited for an identical one already running instead of starting
	// their own.
	Hits, Misses, Shared int64
	// Stored counts verdicts written; Uncacheable counts reports not
	// written because a transient reason appears in them.
	Stored, Uncacheable int64
	// Errors counts failed cache reads and writes (each treated as a
	// miss or a lost write).
	Errors int64
}

// Add adds o's counters to s.
func (s *CacheStats) Add(o CacheStats) {
	s.Hits += o.Hits
	s.Misses += o.Misses
	s.Shared += o.Shared
	s.Stored += o.Stored
	s.Uncacheable += o.Uncacheable
	s.Errors += o.Errors
}

type cacheCounters struct {
	hits, misses, shared, stored, uncacheable, errors atomic.Int64
}

// CacheStats returns the verdict cache's counters.
func (e *Executor) CacheStats() CacheStats {
	c := e.counters
	return CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Shared: c.shared.Load(),
		Stored: c.stored.Load(), Uncacheable: c.uncacheable.Load(), Errors: c.errors.Load(),
	}
}

// verdictKey is the cache key of a verification: the key layout version,
// the configuration's identity and the digest-pinned subject.
func (e *Executor) verdictKey(repo string, subject ocispec.Descriptor) string {
	return verdictKeyVersion + ":" + e.opts.ConfigID + ":" + repo + "@" + subject.Digest.String()
}

// sharedVerify verifies a pinned subject once for all concurrent callers
// and through the verdict cache. rep holds the caller's reference and
// warnings; the verdict is copied into it. The error is verifyPinned's:
// a subject pinned by digest only turned out not to resolve (rep says
// why); such an outcome is never cached.
//
// The shared verification runs in a goroutine of its own, with the
// values of the context of the caller that started it but not its
// deadline: it runs until the latest deadline of the callers waiting for
// it and stops when none waits any more (see package flight). A caller
// whose own deadline passes first leaves with DEADLINE_EXCEEDED; the
// last caller to leave waits for the verification to stop and gets the
// report of what it finished, as a caller alone would.
func (e *Executor) sharedVerify(ctx context.Context, rep *report.Report, repo string, subject ocispec.Descriptor) error {
	key := e.verdictKey(repo, subject)
	if e.opts.Verdicts != nil {
		data, ok, err := e.opts.Verdicts.Get(ctx, key)
		switch {
		case err != nil:
			e.counters.errors.Add(1)
		case ok:
			var cached report.Report
			if e.codec.decode(data, &cached) == nil && cached.MediaType == report.MediaType {
				e.counters.hits.Add(1)
				adopt(rep, &cached)
				return nil
			}
			e.counters.errors.Add(1)
		}
		e.counters.misses.Add(1)
	}

	name := rep.Subject
	v, err := e.flights.Do(ctx, key, func(ctx context.Context) (verification, error) {
		return e.verifyOnce(ctx, key, name, repo, subject), nil
	})
	if err != nil { // this caller's deadline passed; others still wait
		rep.Reason = report.ReasonDeadlineExceeded
		rep.Message = fmt.Sprintf("the verification of %s that this request shares with others did not finish before its deadline", rep.Subject)
		return nil
	}
	adopt(rep, v.rep)
	return v.err
}

// verification is the outcome of a shared verification: the report and
// verifyPinned's error.
type verification struct {
	rep *report.Report
	err error
}

// verifyOnce is the shared verification of sharedVerify: it verifies the
// subject named name and caches the verdict under key. A panic becomes a
// PLUGIN_ERROR report for every caller: the verification runs in a
// goroutine of its own, where nothing else would recover it.
func (e *Executor) verifyOnce(ctx context.Context, key, name, repo string, subject ocispec.Descriptor) (v verification) {
	defer func() {
		if p := recover(); p != nil {
			v = verification{rep: &report.Report{MediaType: report.MediaType, Reference: name, Subject: name,
				Reason: report.ReasonPluginError, Timestamp: e.opts.Now().UTC(), Artifacts: []report.Artifact{},
				Message: fmt.Sprintf("the verification of %s failed unexpectedly: %v", name, p)}}
		}
	}()
	own := &report.Report{MediaType: report.MediaType, Reference: name, Subject: name}
	err := e.verifyPinned(ctx, own, repo, subject)
	own.Timestamp = e.opts.Now().UTC()
	if err == nil && e.opts.Verdicts != nil {
		e.store(ctx, key, own)
	}
	return verification{rep: own, err: err}
}

// withCallersDeadline bounds ctx, the context of a shared verification,
// by the latest deadline of the callers waiting for it as it is now, so
// that work that plans by its context's deadline (a plugin told the time
// it has) does not plan past it. A caller joining later with a later
// deadline does not extend work already started.
func withCallersDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := flight.Deadline(ctx); ok {
		return context.WithDeadline(ctx, d)
	}
	return ctx, func() {}
}

// store writes rep to the verdict cache unless it is transient.
func (e *Executor) store(ctx context.Context, key string, rep *report.Report) {
	if isTransient(rep) {
		e.counters.uncacheable.Add(1)
		return
	}
	ttl := e.opts.FailureTTL
	if rep.IsSuccess {
		ttl = e.opts.VerdictTTL
	}
	data, err := e.codec.encode(rep)
	if err == nil {
		err = e.opts.Verdicts.Set(context.WithoutCancel(ctx), key, data, ttl)
	}
	if err != nil {
		e.counters.errors.Add(1)
		return
	}
	e.counters.stored.Add(1)
}

// adopt copies the verdict of src into dst, keeping dst's reference and
// naming warnings (they depend on how the caller named the image) and
// adding src's other warnings, which belong to the verdict (an optional
// discovery source that failed).
func adopt(dst, src *report.Report) {
	ref, warnings := dst.Reference, dst.Warnings
	for _, w := range src.Warnings {
		if w.Reason != report.ReasonTagResolved {
			warnings = append(warnings, w)
		}
	}
	*dst = *src
	dst.Reference, dst.Warnings = ref, warnings
	dst.Artifacts = src.Artifacts
}

// isTransient reports whether a transient reason appears anywhere in rep.
func isTransient(rep *report.Report) bool {
	if transient[rep.Reason] {
		return true
	}
	if rep.Policy != nil {
		for _, r := range rep.Policy.Rules {
			if transient[r.Reason] {
				return true
			}
		}
	}
	var walk func([]report.Artifact) bool
	walk = func(arts []report.Artifact) bool {
		for _, a := range arts {
			for _, r := range a.Results {
				if transient[r.Reason] {
					return true
				}
			}
			if walk(a.Artifacts) {
				return true
			}
		}
		return false
	}
	return walk(rep.Artifacts)
}
