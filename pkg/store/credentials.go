package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"
)

// credentialFunc returns the credential of a registry host as requests
// see it (registry-1.docker.io for Docker Hub): the static credential of
// its Options.Registries entry if it has one, else the docker config's.
func credentialFunc(registries map[string]RegistryOptions, docker credentials.Store) auth.CredentialFunc {
	static := map[string]auth.Credential{}
	for host, ro := range registries {
		if c, ok := ro.credential(); ok {
			static[networkHost(host)] = c
		}
	}
	var fromDocker auth.CredentialFunc
	if docker != nil {
		fromDocker = credentials.Credential(docker)
	}
	return func(ctx context.Context, hostport string) (auth.Credential, error) {
		if c, ok := static[hostport]; ok {
			return c, nil
		}
		if fromDocker == nil {
			return auth.EmptyCredential, nil
		}
		c, err := fromDocker(ctx, hostport)
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
			return nil, fmt.Errorf("default docker config %s: %w", p, err)
		}
		return s, nil
	}
	stores := make([]credentials.Store, 0, len(paths))
	for _, p := range paths {
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("docker config: %w", err)
		}
		s, err := credentials.NewStore(p, opts)
		if err != nil {
			return nil, fmt.Errorf("docker config %s: %w", p, err)
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
