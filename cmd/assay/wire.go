package main

import (
	"fmt"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/store"
	"github.com/assayproj/assay/pkg/verifier"
)

// engine is everything one invocation wires together.
type engine struct {
	exec *executor.Executor
	host *plugin.Host
}

// Close stops the plugin processes.
func (e *engine) Close() {
	if e.host != nil {
		e.host.Close()
	}
}

// loadObjects reads the --config file; without one the objects are empty
// (every report then says NO_POLICY).
func (g *globals) loadObjects() (*catalog.Objects, error) {
	if g.objects == "" {
		return &catalog.Objects{}, nil
	}
	objs, err := catalog.LoadFile(g.objects)
	if err != nil {
		return nil, usageError(err)
	}
	return objs, nil
}

// newEngine wires store, plugin host, verifiers and executor from the
// process settings and the verification objects. withPlugins false skips
// the plugin host (discover needs none).
func (g *globals) newEngine(objs *catalog.Objects, withPlugins bool) (*engine, error) {
	var storeSpec v1alpha1.StoreSpec
	if len(objs.Stores) > 0 {
		storeSpec = objs.Stores[0].Spec
	}
	reg, err := store.New(storeOptions(storeSpec, g.cfg.CacheBytes))
	if err != nil {
		return nil, usageError(fmt.Errorf("store: %w", err))
	}
	e := &engine{}
	opts := executor.Options{
		Store:       reg,
		Concurrency: g.cfg.Concurrency,
		MaxDepth:    storeSpec.Limits.MaxDepth,
		MaxNodes:    storeSpec.Limits.MaxNodes,
	}
	if withPlugins && len(objs.Verifiers) > 0 {
		e.host, err = plugin.NewHost(plugin.HostOptions{Dir: g.cfg.PluginDir, Logger: g.log})
		if err != nil {
			return nil, usageError(fmt.Errorf("plugins: %w", err))
		}
		for _, vo := range objs.Verifiers {
			v, err := verifier.New(verifier.Options{
				Name:          vo.Name,
				Plugin:        vo.Spec.Plugin,
				ArtifactTypes: vo.Spec.ArtifactTypes,
				Parameters:    vo.Spec.Parameters.Raw,
				Plugins:       e.host,
			})
			if err != nil {
				e.Close()
				return nil, usageError(err)
			}
			opts.Verifiers = append(opts.Verifiers, v)
		}
	}
	if len(objs.Policies) > 0 {
		opts.Policy = policyFrom(objs.Policies[0])
	}
	e.exec, err = executor.New(opts)
	if err != nil {
		e.Close()
		return nil, usageError(err)
	}
	return e, nil
}

func storeOptions(s v1alpha1.StoreSpec, cacheBytes int64) store.Options {
	o := store.Options{
		DockerConfigPaths: s.DockerConfigPaths,
		MaxManifestBytes:  s.Limits.MaxManifestBytes,
		MaxBlobBytes:      s.Limits.MaxBlobBytes,
		MaxReferrers:      s.Limits.MaxReferrers,
		CacheBytes:        cacheBytes,
		UserAgent:         "assay/" + version,
	}
	if len(s.Registries) > 0 {
		o.Registries = map[string]store.RegistryOptions{}
		for _, r := range s.Registries {
			o.Registries[r.Host] = store.RegistryOptions{
				PlainHTTP:     r.PlainHTTP,
				Username:      r.Username,
				Password:      r.Password,
				IdentityToken: r.IdentityToken,
			}
		}
	}
	return o
}

func policyFrom(p v1alpha1.Policy) *executor.Policy {
	out := &executor.Policy{Name: p.Name}
	for _, r := range p.Spec.Rules {
		out.Rules = append(out.Rules, executor.Rule{ArtifactType: r.ArtifactType, Mode: string(r.Mode), Required: r.Required})
	}
	return out
}
