package store_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

// clock is a fake Options.Now that moves only when told.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// requests returns how many requests rec saw while fn ran.
func requests(rec *recorder, fn func()) int {
	before := rec.count("")
	fn()
	return rec.count("") - before
}

func TestTagTTL(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.NewOlareg(t)
	repo := srv.RepositoryName("ttl/app")
	push := srv.Repository(t, "ttl/app")
	resolve := func(t *testing.T, s *store.Registry, reference string) ocispec.Descriptor {
		t.Helper()
		d, err := s.Resolve(ctx, repo, reference)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	t.Run("a tag is asked once within the TTL and again after it, which sees it moved", func(t *testing.T) {
		first := registrytest.PushImage(t, push, "moving")
		clk := newClock()
		s, rec := newStore(t, store.Options{Registries: plain(srv.Host()), Now: clk.Now})
		if n := requests(rec, func() { resolve(t, s, "moving") }); n != 1 {
			t.Fatalf("the first resolve sent %d requests, want 1", n)
		}
		second := registrytest.PushImage(t, push, "moving")
		clk.Advance(store.DefaultTagTTL - time.Millisecond)
		var got ocispec.Descriptor
		if n := requests(rec, func() { got = resolve(t, s, "moving") }); n != 0 || got.Digest != first.Digest {
			t.Fatalf("within the TTL: %d requests, resolved %s; want none and the cached %s", n, got.Digest, first.Digest)
		}
		clk.Advance(time.Millisecond)
		if n := requests(rec, func() { got = resolve(t, s, "moving") }); n != 1 || got.Digest != second.Digest {
			t.Fatalf("at the TTL: %d requests, resolved %s; want 1 and the moved tag's %s", n, got.Digest, second.Digest)
		}
	})
	t.Run("a TagTTL set in Options is honoured", func(t *testing.T) {
		registrytest.PushImage(t, push, "custom")
		clk := newClock()
		s, rec := newStore(t, store.Options{Registries: plain(srv.Host()), Now: clk.Now, TagTTL: time.Minute})
		resolve(t, s, "custom")
		clk.Advance(59 * time.Second)
		if n := requests(rec, func() { resolve(t, s, "custom") }); n != 0 {
			t.Fatalf("within a minute: %d requests", n)
		}
		clk.Advance(time.Second)
		if n := requests(rec, func() { resolve(t, s, "custom") }); n != 1 {
			t.Fatalf("after a minute: %d requests, want 1", n)
		}
	})
	t.Run("a negative TagTTL asks every time", func(t *testing.T) {
		registrytest.PushImage(t, push, "uncached")
		s, rec := newStore(t, store.Options{Registries: plain(srv.Host()), TagTTL: -1})
		if n := requests(rec, func() { resolve(t, s, "uncached"); resolve(t, s, "uncached") }); n != 2 {
			t.Fatalf("two resolves sent %d requests, want 2", n)
		}
	})
	t.Run("an unknown tag is asked every time", func(t *testing.T) {
		s, rec := newStore(t, store.Options{Registries: plain(srv.Host())})
		n := requests(rec, func() {
			for range 2 {
				if _, err := s.Resolve(ctx, repo, "unknown"); !errors.Is(err, errdef.ErrNotFound) {
					t.Fatalf("error = %v, want errdef.ErrNotFound", err)
				}
			}
		})
		if n != 2 {
			t.Fatalf("two resolves of an unknown tag sent %d requests, want 2", n)
		}
	})
	t.Run("a digest is asked once, however late", func(t *testing.T) {
		image := registrytest.PushImage(t, push, "pinned")
		clk := newClock()
		s, rec := newStore(t, store.Options{Registries: plain(srv.Host()), Now: clk.Now, TagTTL: -1})
		resolve(t, s, image.Digest.String())
		clk.Advance(24 * time.Hour)
		if n := requests(rec, func() { resolve(t, s, image.Digest.String()) }); n != 0 {
			t.Fatalf("a day later: %d requests", n)
		}
	})
}

func TestReferrersTTL(t *testing.T) {
	ctx := context.Background()
	srv := registrytest.NewOlareg(t)
	repo := srv.RepositoryName("ttl/app")
	push := srv.Repository(t, "ttl/app")
	attach := func(t *testing.T, subject ocispec.Descriptor, artifactType string) ocispec.Descriptor {
		t.Helper()
		return registrytest.Attach(t, push, subject, registrytest.Artifact{ArtifactType: artifactType})
	}
	// list returns the digests listed, in order, and the pages fn got.
	list := func(t *testing.T, s *store.Registry, subject ocispec.Descriptor) (digests []digest.Digest, pages int, err error) {
		t.Helper()
		err = s.Referrers(ctx, repo, subject, func(page []ocispec.Descriptor) error {
			pages++
			for _, d := range page {
				digests = append(digests, d.Digest)
			}
			return nil
		})
		return digests, pages, err
	}
	mustList := func(t *testing.T, s *store.Registry, subject ocispec.Descriptor) []digest.Digest {
		t.Helper()
		got, _, err := list(t, s, subject)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	t.Run("a listing is replayed as one page within the TTL, cosign tag included, and listed again after it", func(t *testing.T) {
		image := registrytest.PushImage(t, push, "listed")
		sig := attach(t, image, "application/vnd.cncf.notary.signature")
		cosign := registrytest.PushCosignSignatureTag(t, push, image)
		clk := newClock()
		s, rec := newStore(t, store.Options{Registries: plain(srv.Host()), Now: clk.Now})
		want := []digest.Digest{sig.Digest, cosign.Digest}
		var got []digest.Digest
		if n := requests(rec, func() { got = mustList(t, s, image) }); n == 0 || !equalDigests(got, want) {
			t.Fatalf("first listing: %v in %d requests, want %v", got, n, want)
		}
		later := attach(t, image, "application/sarif+json")
		clk.Advance(store.DefaultReferrersTTL - time.Millisecond)
		var pages int
		n := requests(rec, func() {
			var err error
			got, pages, err = list(t, s, image)
			if err != nil {
				t.Fatal(err)
			}
		})
		if n != 0 || pages != 1 || !equalDigests(got, want) {
			t.Fatalf("within the TTL: %v in %d pages and %d requests, want %v in 1 page without a request", got, pages, n, want)
		}
		clk.Advance(time.Millisecond)
		if n := requests(rec, func() { got = mustList(t, s, image) }); n == 0 || len(got) != 3 || !contains(got, later.Digest) {
			t.Fatalf("at the TTL: %v in %d requests, want it listed again with %s", got, n, later.Digest)
		}
	})
	t.Run("the subject as an artifact, without the cosign tag probe, is listed on its own", func(t *testing.T) {
		image := registrytest.PushImage(t, push, "typed")
		sig := attach(t, image, "application/vnd.cncf.notary.signature")
		cosign := registrytest.PushCosignSignatureTag(t, push, image)
		s, rec := newStore(t, store.Options{Registries: plain(srv.Host())})
		if got := mustList(t, s, image); !equalDigests(got, []digest.Digest{sig.Digest, cosign.Digest}) {
			t.Fatalf("as an image: %v", got)
		}
		typed := image
		typed.ArtifactType = "application/x.test"
		var got []digest.Digest
		if n := requests(rec, func() { got = mustList(t, s, typed) }); n == 0 || !equalDigests(got, []digest.Digest{sig.Digest}) {
			t.Fatalf("as an artifact: %v in %d requests, want only %s from the registry", got, n, sig.Digest)
		}
	})
	t.Run("SkipCosignSignatureTag lists without the probe, one request fewer", func(t *testing.T) {
		image := registrytest.PushImage(t, push, "skipped")
		sig := attach(t, image, "application/vnd.cncf.notary.signature")
		registrytest.PushCosignSignatureTag(t, push, image)
		probing, rec := newStore(t, store.Options{Registries: plain(srv.Host()), ReferrersTTL: -1})
		skipping, recSkip := newStore(t, store.Options{Registries: plain(srv.Host()), ReferrersTTL: -1, SkipCosignSignatureTag: true})
		var withProbe, without []digest.Digest
		n := requests(rec, func() { withProbe = mustList(t, probing, image) })
		m := requests(recSkip, func() { without = mustList(t, skipping, image) })
		if len(withProbe) != 2 || !equalDigests(without, []digest.Digest{sig.Digest}) {
			t.Fatalf("with the probe %v, without %v; want the cosign signature only with the probe", withProbe, without)
		}
		if m != n-1 {
			t.Fatalf("%d requests without the probe, %d with it; want one fewer", m, n)
		}
	})
	t.Run("what fn does to a page does not change the cached listing", func(t *testing.T) {
		image := registrytest.PushImage(t, push, "mutated")
		sig := registrytest.Attach(t, push, image, registrytest.Artifact{
			ArtifactType: "application/vnd.cncf.notary.signature",
			Annotations:  map[string]string{"k": "v"},
		})
		s, _ := newStore(t, store.Options{Registries: plain(srv.Host())})
		scribble := func(page []ocispec.Descriptor) error {
			for i := range page {
				page[i].Annotations["k"] = "scribbled"
				page[i].Digest = ""
			}
			return nil
		}
		for range 2 {
			if err := s.Referrers(ctx, repo, image, scribble); err != nil {
				t.Fatal(err)
			}
		}
		var got []ocispec.Descriptor
		if err := s.Referrers(ctx, repo, image, func(page []ocispec.Descriptor) error { got = page; return nil }); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Digest != sig.Digest || got[0].Annotations["k"] != "v" {
			t.Fatalf("after callers changed their pages, the listing is %+v", got)
		}
	})
	notCached := map[string]struct {
		opts store.Options
		// first fails the first listing; scripted, if not nil, is armed
		// in front of the registry before it.
		script *scripted
		fn     func([]ocispec.Descriptor) error
		want   error
	}{
		"a listing the registry refuses is not kept": {
			script: &scripted{match: "/referrers/", answers: []answer{{status: http.StatusForbidden}}},
			want:   store.ErrUnauthorized,
		},
		"a listing over MaxReferrers is not kept": {
			opts: store.Options{MaxReferrers: 1},
			want: store.ErrTooManyReferrers,
		},
		"a listing fn stops is not kept": {
			fn:   func([]ocispec.Descriptor) error { return errStop },
			want: errStop,
		},
		"a negative ReferrersTTL keeps nothing": {
			opts: store.Options{ReferrersTTL: -1},
		},
	}
	for name, tc := range notCached {
		t.Run(name, func(t *testing.T) {
			script := tc.script
			if script == nil {
				script = &scripted{}
			}
			srv := registrytest.NewOlaregBehind(t, script.wrap)
			repo := srv.RepositoryName("ttl/app")
			push := srv.Repository(t, "ttl/app")
			image := registrytest.PushImage(t, push, "v1")
			registrytest.Attach(t, push, image, registrytest.Artifact{ArtifactType: "application/vnd.cncf.notary.signature"})
			registrytest.Attach(t, push, image, registrytest.Artifact{ArtifactType: "application/sarif+json"})
			script.armed.Store(true)
			opts := tc.opts
			opts.Registries = plain(srv.Host())
			s, rec := newStore(t, opts)
			fn := tc.fn
			if fn == nil {
				fn = func([]ocispec.Descriptor) error { return nil }
			}
			for i := range 2 {
				var err error
				n := requests(rec, func() { err = s.Referrers(ctx, repo, image, fn) })
				if i == 0 && tc.want != nil && !errors.Is(err, tc.want) {
					t.Fatalf("first listing: error = %v, want %v", err, tc.want)
				}
				if n == 0 {
					t.Fatalf("listing %d sent no request, so the listing before was kept", i+1)
				}
			}
		})
	}
}

var errStop = errors.New("stop")

func equalDigests(a, b []digest.Digest) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func contains(ds []digest.Digest, d digest.Digest) bool {
	for _, x := range ds {
		if x == d {
			return true
		}
	}
	return false
}

// BenchmarkCacheHits measures a tag resolution and a referrers listing
// answered within their TTLs, without a request.
func BenchmarkCacheHits(b *testing.B) {
	ctx := context.Background()
	srv := registrytest.NewOlareg(b)
	repo := srv.RepositoryName("bench/app")
	push := srv.Repository(b, "bench/app")
	image := registrytest.PushImage(b, push, "v1")
	for _, artifactType := range []string{"application/vnd.cncf.notary.signature", "application/sarif+json", "application/spdx+json"} {
		registrytest.Attach(b, push, image, registrytest.Artifact{ArtifactType: artifactType})
	}
	registrytest.PushCosignSignatureTag(b, push, image)
	s, rec := newStore(b, store.Options{Registries: plain(srv.Host()), TagTTL: time.Hour, ReferrersTTL: time.Hour})
	b.Run("Resolve a tag", func(b *testing.B) {
		if _, err := s.Resolve(ctx, repo, "v1"); err != nil {
			b.Fatal(err)
		}
		before := rec.count("")
		for b.Loop() {
			if _, err := s.Resolve(ctx, repo, "v1"); err != nil {
				b.Fatal(err)
			}
		}
		if n := rec.count("") - before; n != 0 {
			b.Fatalf("%d requests", n)
		}
	})
	b.Run("Referrers", func(b *testing.B) {
		fn := func([]ocispec.Descriptor) error { return nil }
		if err := s.Referrers(ctx, repo, image, fn); err != nil {
			b.Fatal(err)
		}
		before := rec.count("")
		for b.Loop() {
			if err := s.Referrers(ctx, repo, image, fn); err != nil {
				b.Fatal(err)
			}
		}
		if n := rec.count("") - before; n != 0 {
			b.Fatalf("%d requests", n)
		}
	})
}
