package main

import (
	"context"
	"sync"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	corecrl "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/result"
)

// memoryCRLCache is a bounded in-memory corecrl.Cache keyed by CRL URL. An
// entry is dropped once its base (or delta) CRL passes nextUpdate; when the
// cache is full the oldest entry is evicted. It is safe for concurrent use.
type memoryCRLCache struct {
	max int

	mu      sync.Mutex
	entries map[string]*corecrl.Bundle
	order   []string // insertion order, oldest first
}

var _ corecrl.Cache = (*memoryCRLCache)(nil)

func newMemoryCRLCache(max int) *memoryCRLCache {
	return &memoryCRLCache{max: max, entries: make(map[string]*corecrl.Bundle)}
}

// Get returns the cached bundle for url, or corecrl.ErrCacheMiss when there
// is none or it is past its nextUpdate.
func (c *memoryCRLCache) Get(_ context.Context, url string) (*corecrl.Bundle, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.entries[url]
	if !ok {
		return nil, corecrl.ErrCacheMiss
	}
	now := time.Now()
	if stale(b.BaseCRL.NextUpdate, now) || (b.DeltaCRL != nil && stale(b.DeltaCRL.NextUpdate, now)) {
		c.remove(url)
		return nil, corecrl.ErrCacheMiss
	}
	return b, nil
}

// Set stores bundle under url.
func (c *memoryCRLCache) Set(_ context.Context, url string, bundle *corecrl.Bundle) error {
	if bundle == nil || bundle.BaseCRL == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[url]; ok {
		c.remove(url)
	}
	for len(c.order) >= c.max && len(c.order) > 0 {
		c.remove(c.order[0])
	}
	c.entries[url] = bundle
	c.order = append(c.order, url)
	return nil
}

func (c *memoryCRLCache) remove(url string) {
	delete(c.entries, url)
	for i, u := range c.order {
		if u == url {
			c.order = append(c.order[:i], c.order[i+1:]...)
			break
		}
	}
}

func stale(nextUpdate, now time.Time) bool {
	return nextUpdate.IsZero() || now.After(nextUpdate)
}

// recordingValidator wraps a revocation.Validator and keeps what it
// answered, so a failed revocation check can be told apart: revoked
// (failed) or status unknown (inconclusive). notation-go reports both as a
// plain error string. One recordingValidator serves one Verify call.
type recordingValidator struct {
	inner revocation.Validator

	mu      sync.Mutex
	called  bool
	chain   []string // subjects of the checked chain, leaf first
	results []*result.CertRevocationResult
	err     error
}

var _ revocation.Validator = (*recordingValidator)(nil)

// ValidateContext calls the wrapped validator and records its answer.
func (r *recordingValidator) ValidateContext(ctx context.Context, opts revocation.ValidateContextOptions) ([]*result.CertRevocationResult, error) {
	results, err := r.inner.ValidateContext(ctx, opts)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.called = true
	r.results = results
	r.err = err
	r.chain = r.chain[:0]
	for _, c := range opts.CertChain {
		r.chain = append(r.chain, c.Subject.String())
	}
	return results, err
}

// revocationState summarises a recorded check.
type revocationState struct {
	checked bool
	// err is the validator's own error (for example an invalid chain).
	err error
	// revoked is the subject of a revoked certificate, if any.
	revoked string
	// revokedBy is the revocation method that said so ("CRL", "OCSP").
	revokedBy string
	// unknown is the subject of a certificate whose status is unknown, if
	// any, and unknownWhy the servers' errors.
	unknown    string
	unknownWhy []string
}

func (r *recordingValidator) state() revocationState {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := revocationState{checked: r.called, err: r.err}
	for i, cr := range r.results {
		if cr == nil {
			continue
		}
		subject := ""
		if i < len(r.chain) {
			subject = r.chain[i]
		}
		switch cr.Result {
		case result.ResultRevoked:
			if s.revoked == "" {
				s.revoked = subject
				s.revokedBy = cr.RevocationMethod.String()
			}
		case result.ResultUnknown:
			if s.unknown == "" {
				s.unknown = subject
				for _, sr := range cr.ServerResults {
					if sr != nil && sr.Error != nil {
						s.unknownWhy = append(s.unknownWhy, sr.Error.Error())
					}
				}
			}
		}
	}
	return s
}
