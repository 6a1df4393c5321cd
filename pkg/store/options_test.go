package store_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/store"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/errdef"
)

func TestNewRejectsBadOptions(t *testing.T) {
	notJSON := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(notJSON, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		opts store.Options
		want error // if not nil, the error must wrap it
	}{
		"a negative manifest limit":                       {opts: store.Options{MaxManifestBytes: -1}},
		"a negative blob limit":                           {opts: store.Options{MaxBlobBytes: -1}},
		"a negative referrers limit":                      {opts: store.Options{MaxReferrers: -1}},
		"a negative concurrency limit":                    {opts: store.Options{MaxConcurrentRequests: -1}},
		"a registry key with a path":                      {opts: store.Options{Registries: map[string]store.RegistryOptions{"host/path": {}}}},
		"a registry key with a scheme":                    {opts: store.Options{Registries: map[string]store.RegistryOptions{"https://ghcr.io": {}}}},
		"an empty registry key":                           {opts: store.Options{Registries: map[string]store.RegistryOptions{"": {}}}},
		"a password without a username":                   {opts: store.Options{Registries: map[string]store.RegistryOptions{"ghcr.io": {Password: "p"}}}},
		"a username without a password or identity token": {opts: store.Options{Registries: map[string]store.RegistryOptions{"ghcr.io": {Username: "u"}}}},
		"Docker Hub listed under two of its names": {opts: store.Options{Registries: map[string]store.RegistryOptions{
			"docker.io": {}, "registry-1.docker.io": {},
		}}},
		"an empty docker config path":                         {opts: store.Options{DockerConfigPaths: []string{""}}},
		"a docker config that is not JSON":                    {opts: store.Options{DockerConfigPaths: []string{notJSON}}, want: store.ErrDockerConfig},
		"a docker config in memory that is not JSON":          {opts: store.Options{DockerConfigs: [][]byte{[]byte("{not json")}}},
		"a docker config that is not there":                   {opts: store.Options{DockerConfigPaths: []string{filepath.Join(t.TempDir(), "missing.json")}}, want: fs.ErrNotExist},
		"a docker config that is not there, as a store error": {opts: store.Options{DockerConfigPaths: []string{filepath.Join(t.TempDir(), "missing.json")}}, want: store.ErrDockerConfig},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := store.New(tc.opts)
			if err == nil {
				t.Fatalf("accepted: %+v", s)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %q does not wrap %q", err, tc.want)
			}
		})
	}
}

func TestNewAcceptsTheZeroOptions(t *testing.T) {
	// TestMain points DOCKER_CONFIG at an empty directory.
	if _, err := store.New(store.Options{}); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsAMalformedDefaultDockerConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "config.json"), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("DOCKER_CONFIG", dir)
	if _, err := store.New(store.Options{}); err == nil {
		t.Fatal("accepted a default docker config that is not JSON")
	}
}

func TestMalformedNamesAreInvalidReferences(t *testing.T) {
	s, _ := newStore(t, store.Options{})
	ctx := context.Background()
	tests := map[string]func() error{
		"a repository without a path": func() error { _, err := s.Resolve(ctx, "ghcr.io", "v1"); return err },
		"a repository with upper case": func() error {
			_, err := s.Resolve(ctx, "ghcr.io/Org/App", "v1")
			return err
		},
		"a malformed tag": func() error { _, err := s.Resolve(ctx, "ghcr.io/org/app", "not a tag"); return err },
		"a referrers subject without a digest": func() error {
			return s.Referrers(ctx, "ghcr.io/org/app", ocispec.Descriptor{}, func([]ocispec.Descriptor) error { return nil })
		},
		"a fetch without a digest": func() error {
			_, err := s.Fetch(ctx, "ghcr.io/org/app", ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest})
			return err
		},
	}
	for name, call := range tests {
		t.Run(name, func(t *testing.T) {
			err := call()
			if !errors.Is(err, errdef.ErrInvalidReference) && !errors.Is(err, errdef.ErrInvalidDigest) {
				t.Fatalf("error = %v, want errdef.ErrInvalidReference or ErrInvalidDigest", err)
			}
		})
	}
}

// dockerHub stands in for registry-1.docker.io: it records the hosts it is
// asked for and answers a manifest HEAD only with basic credentials
// user:pass, without any network.
type dockerHub struct{ hosts []string }

func (d *dockerHub) RoundTrip(r *http.Request) (*http.Response, error) {
	d.hosts = append(d.hosts, r.URL.Host)
	resp := &http.Response{Request: r, Header: http.Header{}, Body: io.NopCloser(strings.NewReader(""))}
	if u, p, ok := r.BasicAuth(); !ok || u != "user" || p != "pass" {
		resp.StatusCode = http.StatusUnauthorized
		resp.Header.Set("WWW-Authenticate", `Basic realm="hub"`)
		return resp, nil
	}
	resp.StatusCode = http.StatusOK
	resp.Header.Set("Content-Type", ocispec.MediaTypeImageManifest)
	resp.Header.Set("Docker-Content-Digest", digest.FromString("nginx").String())
	resp.Header.Set("Content-Length", strconv.Itoa(len("nginx")))
	resp.ContentLength = int64(len("nginx"))
	return resp, nil
}

func TestDockerHub(t *testing.T) {
	auths := func(key string) string {
		return dockerConfig(t, map[string]any{"auths": map[string]any{key: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte("user:pass"))}}})
	}
	tests := map[string]store.Options{
		"static credentials for docker.io":              {Registries: map[string]store.RegistryOptions{"docker.io": {Username: "user", Password: "pass"}}},
		"static credentials for registry-1.docker.io":   {Registries: map[string]store.RegistryOptions{"registry-1.docker.io": {Username: "user", Password: "pass"}}},
		"a docker config as the docker CLI writes it":   {DockerConfigPaths: []string{auths("https://index.docker.io/v1/")}},
		"a docker config keyed by docker.io":            {DockerConfigPaths: []string{auths("docker.io")}},
		"a docker config keyed by index.docker.io":      {DockerConfigPaths: []string{auths("index.docker.io")}},
		"a docker config keyed by https://docker.io/v1": {DockerConfigPaths: []string{auths("https://docker.io/v1/")}},
	}
	for name, opts := range tests {
		t.Run(name, func(t *testing.T) {
			hub := &dockerHub{}
			opts.HTTPClient = &http.Client{Transport: hub}
			s, err := store.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := s.Resolve(context.Background(), "docker.io/library/nginx", "latest")
			if err != nil {
				t.Fatalf("resolve: %v", err)
			}
			if got.Digest != digest.FromString("nginx") {
				t.Fatalf("resolved %s", got.Digest)
			}
			for _, h := range hub.hosts {
				if h != "registry-1.docker.io" {
					t.Errorf("request to %s, want registry-1.docker.io", h)
				}
			}
		})
	}
}
