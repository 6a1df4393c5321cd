package executor

import (
	"context"
	"encoding/json"
	"sync"

	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// complete reports whether d says what its content is, not only which:
// a media type and a size besides the digest.
func complete(d ocispec.Descriptor) bool { return d.MediaType != "" && d.Size > 0 }

// subject is the descriptor of a subject that a key named by digest
// only. Verify does not resolve such a key before listing its referrers
// (the listing needs only the digest), so the subject's media type and
// size are learnt on the way: from the subject field of an artifact
// manifest that names it (learn), or, when that is not enough, from one
// HEAD request shared by everything in the verification that needs it
// (head, wait). It is safe for concurrent use.
type subject struct {
	store  Store
	repo   string
	digest digest.Digest

	mu       sync.Mutex
	desc     ocispec.Descriptor // complete once known is set
	known    bool
	headed   bool          // the HEAD was started
	headDone chan struct{} // closed when it answered
	headErr  error
}

func newSubject(store Store, repo string, d digest.Digest) *subject {
	return &subject{store: store, repo: repo, digest: d, headDone: make(chan struct{})}
}

// learn records d, the subject field of an artifact manifest, if it
// names this subject's digest and is complete. It reports whether d was
// such a descriptor.
func (s *subject) learn(d ocispec.Descriptor) bool {
	if d.Digest != s.digest || !complete(d) {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.known {
		s.desc, s.known = d, true
	}
	return true
}

// get returns the complete descriptor, if one is known yet.
func (s *subject) get() (ocispec.Descriptor, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.desc, s.known
}

// head starts the HEAD request of the subject unless it was started
// before; it does not wait for the answer.
func (s *subject) head(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.headed {
		return
	}
	s.headed = true
	go func() {
		d, err := s.store.Resolve(ctx, s.repo, s.digest.String())
		s.mu.Lock()
		if err == nil {
			// The registry's own answer wins over a manifest's word.
			s.desc, s.known = d, true
		}
		s.headErr = err
		s.mu.Unlock()
		close(s.headDone)
	}()
}

// wasHeaded reports whether head was called.
func (s *subject) wasHeaded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.headed
}

// wait waits for the HEAD started by head and returns the descriptor or
// the HEAD's error (or ctx's, if it ends first).
func (s *subject) wait(ctx context.Context) (ocispec.Descriptor, error) {
	select {
	case <-s.headDone:
	case <-ctx.Done():
		return ocispec.Descriptor{}, ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.headErr != nil {
		return ocispec.Descriptor{}, s.headErr
	}
	return s.desc, nil
}

// resolve returns the complete descriptor: the one known, or the HEAD's
// answer (starting the HEAD if nobody did).
func (s *subject) resolve(ctx context.Context) (ocispec.Descriptor, error) {
	if d, ok := s.get(); ok && !s.wasHeaded() {
		return d, nil
	}
	s.head(ctx)
	return s.wait(ctx)
}

// manifestSubject returns the subject field of the manifest art, read
// through store, and whether it holds a complete descriptor of want.
//
// Taking the subject's media type and size from there is safe. The
// manifest is fetched by its digest and verified against it; its subject
// field must name the subject's digest, and the digest alone identifies
// the content. A verifier that binds a signature to the whole descriptor
// (notation-go compares the signed payload's target media type, digest
// and size with it) still needs a payload signed by a trusted identity
// over that very digest: a misstated media type or size can make such a
// signature fail, never make a signature over other content pass.
func manifestSubject(ctx context.Context, store Store, repo string, art ocispec.Descriptor, want digest.Digest) (ocispec.Descriptor, bool) {
	raw, err := store.Fetch(ctx, repo, art)
	if err != nil {
		// The verifier fetches the manifest again and reports the error.
		return ocispec.Descriptor{}, false
	}
	var m struct {
		Subject *ocispec.Descriptor `json:"subject"`
	}
	if json.Unmarshal(raw, &m) != nil || m.Subject == nil || m.Subject.Digest != want || !complete(*m.Subject) {
		return ocispec.Descriptor{}, false
	}
	return *m.Subject, true
}
