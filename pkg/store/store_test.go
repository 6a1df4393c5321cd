package store_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// counter counts the requests a store sends.
type counter struct {
	n    atomic.Int64
	next http.RoundTripper
}

func (c *counter) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func pushRepo(t *testing.T, host, name string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(host + "/" + name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

// image pushes a small image tagged tag and returns its descriptor.
func image(t *testing.T, r *remote.Repository, tag string) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	layer, err := oras.PushBytes(ctx, r, ocispec.MediaTypeImageLayer, []byte("layer "+tag))
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := oras.PushBytes(ctx, r, ocispec.MediaTypeImageConfig, []byte(`{"architecture":"amd64","os":"linux"}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, "", oras.PackManifestOptions{Layers: []ocispec.Descriptor{layer}, ConfigDescriptor: &cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Tag(ctx, d, tag); err != nil {
		t.Fatal(err)
	}
	return d
}

// attach pushes an artifact of artifactType with one blob as a referrer of subject.
func attach(t *testing.T, r *remote.Repository, subject ocispec.Descriptor, artifactType string, blob []byte) ocispec.Descriptor {
	t.Helper()
	ctx := context.Background()
	b, err := oras.PushBytes(ctx, r, "application/octet-stream", blob)
	if err != nil {
		t.Fatal(err)
	}
	d, err := oras.PackManifest(ctx, r, oras.PackManifestVersion1_1, artifactType, oras.PackManifestOptions{Subject: &subject, Layers: []ocispec.Descriptor{b}})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func newStore(t *testing.T, o store.Options) (*store.Registry, *counter) {
	t.Helper()
	c := &counter{next: http.DefaultTransport}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: c}
	}
	s, err := store.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func plain(host string) map[string]store.RegistryOptions {
	return map[string]store.RegistryOptions{host: {PlainHTTP: true}}
}

func listAll(t *testing.T, s *store.Registry, repo string, subject ocispec.Descriptor) ([]ocispec.Descriptor, error) {
	t.Helper()
	var all []ocispec.Descriptor
	err := s.Referrers(context.Background(), repo, subject, func(p []ocispec.Descriptor) error {
		all = append(all, p...)
		return nil
	})
	return all, err
}

func TestRealRegistries(t *testing.T) {
	for name, start := range map[string]func(testing.TB) *registrytest.Server{
		"olareg with the referrers API":                 registrytest.NewOlareg,
		"distribution v3 with the referrers tag schema": registrytest.StartDistribution,
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			srv := start(t)
			repoName := srv.Host() + "/store/app"
			r := pushRepo(t, srv.Host(), "store/app")
			subject := image(t, r, "v1")
			sig := attach(t, r, subject, "application/vnd.cncf.notary.signature", []byte("envelope"))
			sbom := attach(t, r, subject, "application/spdx+json", []byte(`{"spdxVersion":"SPDX-2.3"}`))
			// cosign's classic layout: a manifest tagged sha256-<hex>.sig
			cosign := image(t, r, fmt.Sprintf("sha256-%s.sig", subject.Digest.Encoded()))

			s, c := newStore(t, store.Options{Registries: plain(srv.Host())})
			got, err := s.Resolve(ctx, repoName, "v1")
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != subject.Digest {
				t.Fatalf("resolve v1 = %s, want %s", got.Digest, subject.Digest)
			}
			if byDigest, err := s.Resolve(ctx, repoName, subject.Digest.String()); err != nil || byDigest.Digest != subject.Digest {
				t.Fatalf("resolve by digest = %v, %v", byDigest.Digest, err)
			}
			if _, err := s.Resolve(ctx, repoName, "missing"); !errors.Is(err, errdef.ErrNotFound) {
				t.Fatalf("resolve of a missing tag: %v, want ErrNotFound", err)
			}

			refs, err := listAll(t, s, repoName, got)
			if err != nil {
				t.Fatal(err)
			}
			types := map[digest.Digest]string{}
			for _, d := range refs {
				types[d.Digest] = d.ArtifactType
			}
			want := map[digest.Digest]string{
				sig.Digest:    "application/vnd.cncf.notary.signature",
				sbom.Digest:   "application/spdx+json",
				cosign.Digest: store.CosignSignatureArtifactType,
			}
			if len(types) != len(want) || len(refs) != len(want) {
				t.Fatalf("referrers = %v, want %v", types, want)
			}
			for d, at := range want {
				if types[d] != at {
					t.Errorf("referrer %s has type %q, want %q", d, types[d], at)
				}
			}

			m, err := s.Fetch(ctx, repoName, sig)
			if err != nil {
				t.Fatal(err)
			}
			var man ocispec.Manifest
			if err := json.Unmarshal(m, &man); err != nil || len(man.Layers) != 1 {
				t.Fatalf("signature manifest: %v %s", err, m)
			}
			blob, err := s.Fetch(ctx, repoName, man.Layers[0])
			if err != nil || string(blob) != "envelope" {
				t.Fatalf("blob = %q, %v", blob, err)
			}
			before := c.n.Load()
			if _, err := s.Fetch(ctx, repoName, man.Layers[0]); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Fetch(ctx, repoName, sig); err != nil {
				t.Fatal(err)
			}
			if after := c.n.Load(); after != before {
				t.Errorf("cached fetches sent %d requests", after-before)
			}
		})
	}
}

// hostile is a registry whose answers a test controls per path.
func hostile(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

var subjectDesc = ocispec.Descriptor{
	MediaType: ocispec.MediaTypeImageManifest,
	Digest:    digest.FromString("subject"),
	Size:      100,
}

func TestHostileRegistries(t *testing.T) {
	huge := strings.Repeat("x", 10<<10)
	hugeDigest := digest.FromString(huge)
	tests := map[string]struct {
		handler http.HandlerFunc
		call    func(ctx context.Context, s *store.Registry, repo string) error
		want    []error
		// maxManifest overrides the test's 4 KiB manifest limit.
		maxManifest int64
	}{
		"a manifest whose descriptor is larger than the limit is refused before any request": {
			handler: func(w http.ResponseWriter, r *http.Request) { t.Errorf("unexpected request %s", r.URL) },
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				_, err := s.Fetch(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: hugeDigest, Size: 1 << 30})
				return err
			},
			want: []error{store.ErrTooLarge, errdef.ErrSizeExceedsLimit},
		},
		"a manifest body larger than its descriptor is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				fmt.Fprint(w, huge)
			},
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				_, err := s.Fetch(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("{}"), Size: 2})
				return err
			},
			want: []error{store.ErrInvalidContent},
		},
		"a tag resolving to a huge manifest is refused": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				w.Header().Set("Docker-Content-Digest", hugeDigest.String())
				w.Header().Set("Content-Length", "1073741824")
				w.WriteHeader(http.StatusOK)
			},
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				_, err := s.Resolve(ctx, repo, "v1")
				return err
			},
			want: []error{errdef.ErrSizeExceedsLimit},
		},
		"a manifest that is garbage JSON is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageManifest)
				fmt.Fprint(w, "{garbage")
			},
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				_, err := s.Fetch(ctx, repo, ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.FromString("{garbage"), Size: 8})
				return err
			},
			want: []error{store.ErrInvalidContent},
		},
		"a referrers answer that is garbage JSON is an error": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				fmt.Fprint(w, "[[[not an index")
			},
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				return s.Referrers(ctx, repo, subjectDesc, func([]ocispec.Descriptor) error { return nil })
			},
		},
		"thousands of referrers across pages exceed the cap": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, "/referrers/") {
					http.NotFound(w, r)
					return
				}
				page := 0
				fmt.Sscanf(r.URL.Query().Get("page"), "%d", &page)
				idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex}
				idx.SchemaVersion = 2
				for i := range 500 {
					idx.Manifests = append(idx.Manifests, ocispec.Descriptor{
						MediaType: ocispec.MediaTypeImageManifest, ArtifactType: "application/x",
						Digest: digest.FromString(fmt.Sprint(page, i)), Size: 10,
					})
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Header().Set("Link", fmt.Sprintf(`<%s?page=%d>; rel="next"`, r.URL.Path, page+1))
				_ = json.NewEncoder(w).Encode(idx)
			},
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				return s.Referrers(ctx, repo, subjectDesc, func([]ocispec.Descriptor) error { return nil })
			},
			want:        []error{store.ErrTooManyReferrers, errdef.ErrSizeExceedsLimit},
			maxManifest: 1 << 20,
		},
		"a referrers page larger than the manifest limit is rejected": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, "/referrers/") {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				fmt.Fprintf(w, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[],"annotations":{"x":%q}}`, huge)
			},
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				return s.Referrers(ctx, repo, subjectDesc, func([]ocispec.Descriptor) error { return nil })
			},
			want: []error{store.ErrInvalidContent},
		},
		"endless empty pages of referrers are cut off": {
			handler: func(w http.ResponseWriter, r *http.Request) {
				if !strings.Contains(r.URL.Path, "/referrers/") {
					http.NotFound(w, r)
					return
				}
				w.Header().Set("Content-Type", ocispec.MediaTypeImageIndex)
				w.Header().Set("Link", fmt.Sprintf(`<%s?page=x>; rel="next"`, r.URL.Path))
				fmt.Fprint(w, `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}`)
			},
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				return s.Referrers(ctx, repo, subjectDesc, func([]ocispec.Descriptor) error { return nil })
			},
			want: []error{store.ErrTooManyReferrers},
		},
		"a registry that hangs past the deadline returns the deadline error": {
			handler: func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
			call: func(ctx context.Context, s *store.Registry, repo string) error {
				ctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
				defer cancel()
				_, err := s.Resolve(ctx, repo, "v1")
				return err
			},
			want: []error{context.DeadlineExceeded},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			host := hostile(t, tc.handler)
			limit := int64(4 << 10)
			if tc.maxManifest > 0 {
				limit = tc.maxManifest
			}
			s, _ := newStore(t, store.Options{Registries: plain(host), MaxReferrers: 1200, MaxManifestBytes: limit})
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("panic: %v", p)
					}
				}()
				err = tc.call(context.Background(), s, host+"/hostile/app")
			}()
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("error %v does not wrap %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), "hostile/app") {
				t.Errorf("error does not name the repository: %v", err)
			}
		})
	}
}

func TestThrottledRegistryIsRetriedAfterRetryAfter(t *testing.T) {
	var throttled atomic.Int64
	host := registrytest.NewOlaregBehind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodHead && strings.Contains(r.URL.Path, "/manifests/") && throttled.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			next.ServeHTTP(w, r)
		})
	}).Host()
	d := image(t, pushRepo(t, host, "throttle/app"), "v1")
	throttled.Store(0)
	s, err := store.New(store.Options{Registries: plain(host)}) // default client: oras-go retry
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Resolve(context.Background(), host+"/throttle/app", "v1")
	if err != nil {
		t.Fatalf("resolve after a 429: %v", err)
	}
	if got.Digest != d.Digest || throttled.Load() < 2 {
		t.Fatalf("digest %s, HEAD requests %d; want a retry after the 429", got.Digest, throttled.Load())
	}
}

// authServer wraps olareg with basic auth for user:pass.
func authServer(t *testing.T) string {
	t.Helper()
	return registrytest.NewOlaregBehind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pass" {
				w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}).Host()
}

func TestCredentials(t *testing.T) {
	host := authServer(t)
	r := pushRepo(t, host, "auth/app")
	r.Client = &auth.Client{Client: http.DefaultClient, Credential: auth.StaticCredential(host, auth.Credential{Username: "user", Password: "pass"})}
	d := image(t, r, "v1")

	dockerConfig := func(user, pass string) string {
		p := filepath.Join(t.TempDir(), "config.json")
		auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))
		if err := os.WriteFile(p, []byte(fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	unauthorized := func(err error) bool {
		var resp *errcode.ErrorResponse
		return errors.As(err, &resp) && resp.StatusCode == http.StatusUnauthorized
	}
	noCredential := func(err error) bool { return errors.Is(err, auth.ErrBasicCredentialNotFound) }
	tests := map[string]struct {
		opts    store.Options
		wantErr func(error) bool
	}{
		"static credentials on the registry": {
			opts: store.Options{Registries: map[string]store.RegistryOptions{host: {PlainHTTP: true, Username: "user", Password: "pass"}}},
		},
		"credentials from a docker config file": {
			opts: store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig("user", "pass")}},
		},
		"credentials from a docker credential helper": {
			opts: store.Options{Registries: plain(host), DockerConfigPaths: []string{credHelperConfig(t, host, "user", "pass")}},
		},
		"static credentials win over the docker config": {
			opts: store.Options{
				Registries:        map[string]store.RegistryOptions{host: {PlainHTTP: true, Username: "user", Password: "pass"}},
				DockerConfigPaths: []string{dockerConfig("user", "wrong")},
			},
		},
		"wrong credentials are refused": {
			opts:    store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig("user", "wrong")}},
			wantErr: unauthorized,
		},
		"no credentials are refused": {
			opts:    store.Options{Registries: plain(host), DockerConfigPaths: []string{filepath.Join(t.TempDir(), "none.json")}},
			wantErr: noCredential,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := store.New(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Resolve(context.Background(), host+"/auth/app", "v1")
			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("resolved without valid credentials")
				}
				if !tc.wantErr(err) {
					t.Errorf("error does not say why the registry refused: %v", err)
				}
				return
			}
			if err != nil || got.Digest != d.Digest {
				t.Fatalf("resolve = %s, %v", got.Digest, err)
			}
		})
	}
}

func TestNewRejectsContradictoryOptions(t *testing.T) {
	tests := map[string]store.Options{
		"a registry key with a path":       {Registries: map[string]store.RegistryOptions{"host/path": {}}},
		"a password without a username":    {Registries: map[string]store.RegistryOptions{"h": {Password: "p"}}},
		"a docker config that is not JSON": {DockerConfigPaths: []string{writeFile(t, "{not json")}},
	}
	for name, o := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := store.New(o); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func BenchmarkFetch(b *testing.B) {
	srv := registrytest.NewOlareg(b)
	r, err := remote.NewRepository(srv.Host() + "/bench/app")
	if err != nil {
		b.Fatal(err)
	}
	r.PlainHTTP = true
	ctx := context.Background()
	blob := []byte(strings.Repeat("signature envelope ", 200))
	d, err := oras.PushBytes(ctx, r, "application/jose+json", blob)
	if err != nil {
		b.Fatal(err)
	}
	opts := store.Options{Registries: plain(srv.Host())}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			s, err := store.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := s.Fetch(ctx, srv.Host()+"/bench/app", d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		s, err := store.New(opts)
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			if _, err := s.Fetch(ctx, srv.Host()+"/bench/app", d); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// credHelperConfig installs a docker credential helper program on PATH
// that answers user:pass, and returns a docker config naming it for host.
func credHelperConfig(t *testing.T, host, user, pass string) string {
	t.Helper()
	dir := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '{\"ServerURL\":\"%%s\",\"Username\":\"%s\",\"Secret\":\"%s\"}' \"$server\"\n", user, pass)
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-assaytest"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	p := filepath.Join(dir, "config.json")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(`{"credHelpers":{%q:"assaytest"}}`, host)), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
