package store_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/errcode"
)

// dockerConfig writes a docker config.json in a temporary directory and
// returns its path.
func dockerConfig(t *testing.T, cfg map[string]any) string {
	t.Helper()
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// basicAuths is a docker config "auths" section for host.
func basicAuths(host, user, pass string) map[string]any {
	return map[string]any{"auths": map[string]any{host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}}
}

// credHelper installs a docker credential helper program named
// docker-credential-<name> on PATH that answers user:pass for any server.
func credHelper(t *testing.T, name, user, pass string) {
	t.Helper()
	dir := t.TempDir()
	script := "#!/bin/sh\n[ \"$1\" = get ] || exit 1\nread server\nprintf '{\"ServerURL\":\"%s\",\"Username\":\"" + user + "\",\"Secret\":\"" + pass + "\"}' \"$server\"\n"
	if err := os.WriteFile(filepath.Join(dir, "docker-credential-"+name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// pushWith pushes an image to a registry that requires credentials.
func pushWith(t *testing.T, srv *registrytest.Server, cred auth.Credential) ocispec.Descriptor {
	t.Helper()
	r := srv.Repository(t, "auth/app")
	r.Client = &auth.Client{Credential: auth.StaticCredential(srv.Host(), cred)}
	return registrytest.PushImage(t, r, "v1")
}

func unauthorized(err error) bool {
	var resp *errcode.ErrorResponse
	return errors.Is(err, store.ErrUnauthorized) && errors.As(err, &resp) && resp.StatusCode == http.StatusUnauthorized
}

func TestBasicAuth(t *testing.T) {
	srv := registrytest.NewOlaregBehind(t, registrytest.BasicAuth("user", "pass"))
	host := srv.Host()
	image := pushWith(t, srv, auth.Credential{Username: "user", Password: "pass"})
	withPass := func(pass string) map[string]store.RegistryOptions {
		return map[string]store.RegistryOptions{host: {PlainHTTP: true, Username: "user", Password: pass}}
	}
	tests := map[string]struct {
		opts    func(t *testing.T) store.Options
		wantErr func(error) bool
	}{
		"static credentials are used": {
			opts: func(t *testing.T) store.Options { return store.Options{Registries: withPass("pass")} },
		},
		"credentials come from a docker config file": {
			opts: func(t *testing.T) store.Options {
				return store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig(t, basicAuths(host, "user", "pass"))}}
			},
		},
		"credentials come from the second docker config file when the first has none for the registry": {
			opts: func(t *testing.T) store.Options {
				return store.Options{Registries: plain(host), DockerConfigPaths: []string{
					dockerConfig(t, basicAuths("elsewhere.example", "x", "y")),
					dockerConfig(t, basicAuths(host, "user", "pass")),
				}}
			},
		},
		"credentials come from the default docker config": {
			opts: func(t *testing.T) store.Options {
				t.Setenv("DOCKER_CONFIG", filepath.Dir(dockerConfig(t, basicAuths(host, "user", "pass"))))
				return store.Options{Registries: plain(host)}
			},
		},
		"credentials come from a docker credential helper": {
			opts: func(t *testing.T) store.Options {
				credHelper(t, "assaytest", "user", "pass")
				return store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig(t, map[string]any{"credHelpers": map[string]string{host: "assaytest"}})}}
			},
		},
		"credentials come from a docker credentials store": {
			opts: func(t *testing.T) store.Options {
				credHelper(t, "assaystore", "user", "pass")
				return store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig(t, map[string]any{"credsStore": "assaystore"})}}
			},
		},
		"credentials come from a docker config held in memory, as a pull Secret holds it": {
			opts: func(t *testing.T) store.Options {
				cfg, _ := json.Marshal(basicAuths(host, "user", "pass"))
				return store.Options{Registries: plain(host), DockerConfigs: [][]byte{cfg}}
			},
		},
		"a docker config in memory is searched before the files": {
			opts: func(t *testing.T) store.Options {
				cfg, _ := json.Marshal(basicAuths(host, "user", "pass"))
				return store.Options{Registries: plain(host), DockerConfigs: [][]byte{cfg},
					DockerConfigPaths: []string{dockerConfig(t, basicAuths(host, "user", "wrong"))}}
			},
		},
		"static credentials win over the docker config": {
			opts: func(t *testing.T) store.Options {
				return store.Options{Registries: withPass("pass"), DockerConfigPaths: []string{dockerConfig(t, basicAuths(host, "user", "wrong"))}}
			},
		},
		"wrong static credentials are refused": {
			opts:    func(t *testing.T) store.Options { return store.Options{Registries: withPass("wrong")} },
			wantErr: unauthorized,
		},
		"wrong credentials from a docker config are refused": {
			opts: func(t *testing.T) store.Options {
				return store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig(t, basicAuths(host, "user", "wrong"))}}
			},
			wantErr: unauthorized,
		},
		"no credentials are refused": {
			opts: func(t *testing.T) store.Options {
				return store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig(t, map[string]any{})}}
			},
			wantErr: func(err error) bool {
				return errors.Is(err, store.ErrUnauthorized) && errors.Is(err, auth.ErrBasicCredentialNotFound)
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := newStore(t, tc.opts(t))
			got, err := s.Resolve(context.Background(), srv.RepositoryName("auth/app"), "v1")

			if tc.wantErr != nil {
				if err == nil {
					t.Fatal("resolved without valid credentials")
				}
				if !tc.wantErr(err) {
					t.Fatalf("error %q does not say why the registry refused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != image.Digest {
				t.Fatalf("resolved %s, want %s", got.Digest, image.Digest)
			}
		})
	}
}

func TestBearerTokenAuth(t *testing.T) {
	srv := registrytest.NewOlaregBehind(t, registrytest.BearerAuth(registrytest.BearerAuthOptions{
		AccessToken: "access", Username: "user", Password: "pass", RefreshToken: "refresh",
	}))
	host := srv.Host()
	image := pushWith(t, srv, auth.Credential{AccessToken: "access"})
	static := func(ro store.RegistryOptions) store.Options {
		ro.PlainHTTP = true
		return store.Options{Registries: map[string]store.RegistryOptions{host: ro}}
	}
	tests := map[string]struct {
		opts    func(t *testing.T) store.Options
		wantErr bool
	}{
		"a username and password get a token": {
			opts: func(t *testing.T) store.Options {
				return static(store.RegistryOptions{Username: "user", Password: "pass"})
			},
		},
		"an identity token is exchanged for a token": {
			opts: func(t *testing.T) store.Options { return static(store.RegistryOptions{IdentityToken: "refresh"}) },
		},
		"an access token is used as is": {
			opts: func(t *testing.T) store.Options { return static(store.RegistryOptions{AccessToken: "access"}) },
		},
		"an identity token from a docker config is exchanged for a token": {
			opts: func(t *testing.T) store.Options {
				cfg := map[string]any{"auths": map[string]any{host: map[string]string{"identitytoken": "refresh"}}}
				return store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig(t, cfg)}}
			},
		},
		"a wrong password gets no token": {
			opts: func(t *testing.T) store.Options {
				return static(store.RegistryOptions{Username: "user", Password: "wrong"})
			},
			wantErr: true,
		},
		"a wrong identity token gets no token": {
			opts:    func(t *testing.T) store.Options { return static(store.RegistryOptions{IdentityToken: "wrong"}) },
			wantErr: true,
		},
		"an expired access token is refused": {
			opts:    func(t *testing.T) store.Options { return static(store.RegistryOptions{AccessToken: "expired"}) },
			wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, _ := newStore(t, tc.opts(t))
			got, err := s.Resolve(context.Background(), srv.RepositoryName("auth/app"), "v1")
			if tc.wantErr {
				if !unauthorized(err) {
					t.Fatalf("error = %v, want ErrUnauthorized with the 401 answer", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Digest != image.Digest {
				t.Fatalf("resolved %s, want %s", got.Digest, image.Digest)
			}
		})
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRequestDockerConfigsAuthenticateTheirRequestsOnly(t *testing.T) {
	for name, wrap := range map[string]func(http.Handler) http.Handler{
		"basic":  registrytest.BasicAuth("user", "pass"),
		"bearer": registrytest.BearerAuth(registrytest.BearerAuthOptions{AccessToken: "access", Username: "user", Password: "pass"}),
	} {
		t.Run(name, func(t *testing.T) {
			srv := registrytest.NewOlaregBehind(t, wrap)
			host := srv.Host()
			r := srv.Repository(t, "auth/app")
			if name == "basic" {
				r.Client = &auth.Client{Credential: auth.StaticCredential(host, auth.Credential{Username: "user", Password: "pass"})}
			} else {
				r.Client = &auth.Client{Credential: auth.StaticCredential(host, auth.Credential{AccessToken: "access"})}
			}
			registrytest.PushImage(t, r, "a")
			registrytest.PushImage(t, r, "b")
			s, err := store.New(store.Options{Registries: plain(host), DockerConfigPaths: []string{dockerConfig(t, map[string]any{})}})
			if err != nil {
				t.Fatal(err)
			}
			repo := host + "/auth/app"
			pod, err := s.WithDockerConfigs([][]byte{mustJSON(t, basicAuths(host, "user", "pass"))})
			if err != nil {
				t.Fatal(err)
			}

			if _, err := s.Resolve(context.Background(), repo, "a"); !errors.Is(err, store.ErrUnauthorized) {
				t.Fatalf("without the Pod's credentials: %v, want ErrUnauthorized", err)
			}
			if _, err := pod.Resolve(context.Background(), repo, "a"); err != nil {
				t.Fatalf("with the Pod's credentials: %v", err)
			}
			// Neither the basic credential nor a token obtained with it
			// serves a request made without it.
			if _, err := s.Resolve(context.Background(), repo, "b"); !errors.Is(err, store.ErrUnauthorized) {
				t.Fatalf("after a request with the Pod's credentials, without them: %v, want ErrUnauthorized", err)
			}
			// Other credentials for other hosts leave this one to the
			// Store's own (none).
			other, err := s.WithDockerConfigs([][]byte{mustJSON(t, basicAuths("elsewhere.example", "user", "pass"))})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := other.Resolve(context.Background(), repo, "b"); !errors.Is(err, store.ErrUnauthorized) {
				t.Fatalf("with credentials for another host: %v, want ErrUnauthorized", err)
			}
		})
	}
}

func TestWithDockerConfigsRefusesMalformedConfigs(t *testing.T) {
	s, err := store.New(store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.WithDockerConfigs([][]byte{[]byte("{not json")}); err == nil {
		t.Fatal("a malformed docker config was accepted")
	}
	if got, err := s.WithDockerConfigs(nil); err != nil || got != s {
		t.Fatalf("no configs: %v, %v; want the Registry unchanged", got, err)
	}
}
