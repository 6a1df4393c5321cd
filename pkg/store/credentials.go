package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// dockerLookup returns the credentials docker holds by host; with a nil
// store, none.
func dockerLookup(docker credentials.Store) auth.CredentialFunc {
	if docker == nil {
		return func(context.Context, string) (auth.Credential, error) { return auth.EmptyCredential, nil }
	}
	byHost := credentials.Credential(docker)
	return func(ctx context.Context, hostport string) (auth.Credential, error) {
		c, err := byHost(ctx, hostport)
		if err != nil || c != auth.EmptyCredential || hostport != "registry-1.docker.io" {
			return c, err
		}
		// Docker Hub credentials are stored under
		// "https://index.docker.io/v1/" by the docker CLI, which
		// credentials.Credential looks up, but hand-written configs and
		// Kubernetes pull secrets often use a bare host.
		for _, alias := range []string{"docker.io", "index.docker.io"} {
			if c, err := docker.Get(ctx, alias); err != nil || c != auth.EmptyCredential {
				return c, err
			}
		}
		return auth.EmptyCredential, nil
	}
}

// WithDockerConfigs returns a view of r for the credentials of one Pod:
// docker config JSON documents (the .dockerconfigjson of its
// imagePullSecrets) whose "auths" authenticate a registry host they
// name, before r's own credentials. The view shares r's Stack:
// authentication tokens obtained with these credentials are kept apart
// from those of other credentials, and requests made with them are not
// shared with requests made without them; content and tags already read
// are shared, as they do not depend on who reads them. With no configs
// it returns r.
func (r *Registry) WithDockerConfigs(configs [][]byte) (*Registry, error) {
	if len(configs) == 0 {
		return r, nil
	}
	s, err := dockerCredentials(configs, nil)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", r.creds.id)
	for _, c := range configs {
		fmt.Fprintf(h, "%d:", len(c))
		h.Write(c)
	}
	pod, parent := dockerLookup(s), r.creds.lookup
	view := *r
	view.creds = &credentialSet{
		id: hex.EncodeToString(h.Sum(nil)),
		lookup: func(ctx context.Context, hostport string) (auth.Credential, error) {
			c, err := pod(ctx, hostport)
			if err != nil || c != auth.EmptyCredential {
				return c, err
			}
			return parent(ctx, hostport)
		},
	}
	return &view, nil
}

// flightKey names a shared registry call: calls made with other request
// credentials are not shared.
func flightKey(ctx context.Context, repository, what string) string {
	key := repository + "\x00" + what
	if id := credentialsID(ctx); id != "" {
		key = id + "\x00" + key
	}
	return key
}

// maxTokenCaches bounds the token caches kept for request credentials;
// beyond it the oldest is dropped (its tokens are fetched again).
const maxTokenCaches = 256

// tokenCache keeps oras-go's authentication cache apart per request
// credential set, so that a token obtained with one Pod's credentials is
// never used for a request made with other credentials or none.
type tokenCache struct {
	base auth.Cache

	mu    sync.Mutex
	parts map[string]auth.Cache
	order []string
}

func newTokenCache() *tokenCache {
	return &tokenCache{base: auth.NewCache(), parts: map[string]auth.Cache{}}
}

func (c *tokenCache) of(ctx context.Context) auth.Cache {
	id := credentialsID(ctx)
	if id == "" {
		return c.base
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.parts[id]; ok {
		return p
	}
	if len(c.order) >= maxTokenCaches {
		delete(c.parts, c.order[0])
		c.order = c.order[1:]
	}
	p := auth.NewCache()
	c.parts[id] = p
	c.order = append(c.order, id)
	return p
}

func (c *tokenCache) GetScheme(ctx context.Context, registry string) (auth.Scheme, error) {
	return c.of(ctx).GetScheme(ctx, registry)
}

func (c *tokenCache) GetToken(ctx context.Context, registry string, scheme auth.Scheme, key string) (string, error) {
	return c.of(ctx).GetToken(ctx, registry, scheme, key)
}

func (c *tokenCache) Set(ctx context.Context, registry string, scheme auth.Scheme, key string, fetch func(context.Context) (string, error)) (string, error) {
	return c.of(ctx).Set(ctx, registry, scheme, key, fetch)
}

// dockerCredentials loads the in-memory docker configs, then the docker
// config files, in order, as one credential store. With neither it loads
// the default docker config if there is one; it returns a nil store when
// there is nothing to load.
func dockerCredentials(configs [][]byte, paths []string) (credentials.Store, error) {
	var inMemory []credentials.Store
	for i, c := range configs {
		s, err := credentials.NewMemoryStoreFromDockerConfig(c)
		if err != nil {
			return nil, fmt.Errorf("docker config %d held in memory: %w", i, err)
		}
		inMemory = append(inMemory, s)
	}
	files, err := dockerConfigFiles(paths, len(configs) == 0)
	if err != nil {
		return nil, err
	}
	all := inMemory
	if files != nil {
		all = append(all, files)
	}
	switch len(all) {
	case 0:
		return nil, nil
	case 1:
		return all[0], nil
	}
	return credentials.NewStoreWithFallbacks(all[0], all[1:]...), nil
}

// dockerConfigFiles loads the docker config files, in order, as one
// credential store. With no paths it loads the default docker config if
// orDefault and there is one; it returns nil when there is nothing.
func dockerConfigFiles(paths []string, orDefault bool) (credentials.Store, error) {
	opts := credentials.StoreOptions{}
	if len(paths) == 0 && !orDefault {
		return nil, nil
	}
	if len(paths) == 0 {
		p, ok := defaultDockerConfig()
		if !ok {
			return nil, nil
		}
		s, err := credentials.NewStore(p, opts)
		if err != nil {
			return nil, fmt.Errorf("%w: %s (the default): %w", ErrDockerConfig, p, err)
		}
		return s, nil
	}
	stores := make([]credentials.Store, 0, len(paths))
	for _, p := range paths {
		if _, err := os.Stat(p); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("%w: %q: %w", ErrDockerConfig, p, fs.ErrNotExist)
		} else if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrDockerConfig, err)
		}
		s, err := credentials.NewStore(p, opts)
		if err != nil {
			return nil, fmt.Errorf("%w: %q: %w", ErrDockerConfig, p, err)
		}
		stores = append(stores, s)
	}
	return credentials.NewStoreWithFallbacks(stores[0], stores[1:]...), nil
}

// defaultDockerConfig returns the docker CLI's config file,
// $DOCKER_CONFIG/config.json or ~/.docker/config.json, if it exists.
func defaultDockerConfig() (string, bool) {
	dir := os.Getenv("DOCKER_CONFIG")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", false
		}
		dir = filepath.Join(home, ".docker")
	}
	p := filepath.Join(dir, "config.json")
	if _, err := os.Stat(p); err != nil {
		return "", false
	}
	return p, true
}
