package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

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
	// ownsHost: Close stops the host's plugins (false when the host was
	// handed in and outlives the engine, as in `assay serve`).
	ownsHost bool
}

// Close stops the plugin processes the engine started.
func (e *engine) Close() {
	if e.host != nil && e.ownsHost {
		e.host.Close()
	}
}

// engineOptions are what `assay serve` adds when it wires an engine.
type engineOptions struct {
	// host, when set, runs the plugins (and is not closed by the engine).
	host *plugin.Host
	// verdicts, configID, verdictTTL and failureTTL configure the
	// executor's verdict cache.
	verdicts               executor.VerdictCache
	configID               string
	verdictTTL, failureTTL time.Duration
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
func (g *globals) newEngine(ctx context.Context, objs *catalog.Objects, withPlugins bool) (*engine, error) {
	return g.wireEngine(ctx, objs, withPlugins, engineOptions{})
}

// wireEngine is newEngine with the options of `assay serve`.
func (g *globals) wireEngine(ctx context.Context, objs *catalog.Objects, withPlugins bool, eo engineOptions) (*engine, error) {
	var storeSpec v1alpha1.StoreSpec
	if len(objs.Stores) > 0 {
		storeSpec = objs.Stores[0].Spec
	}
	if len(storeSpec.PullSecrets) > 0 && len(objs.DockerConfigs) == 0 {
		return nil, usageError(fmt.Errorf("Store %q field spec.pullSecrets: Secrets are read only with --config-source cluster; use dockerConfigPaths in a file", objs.Stores[0].Name))
	}
	for _, v := range objs.Verifiers {
		if field, ok := catalog.HasValueFrom(v.Spec.Parameters.Raw); ok {
			return nil, usageError(fmt.Errorf("Verifier %q field %s: valueFrom reads Secrets and ConfigMaps, which only --config-source cluster does; in a file give the PEM inline or a file path", v.Name, field))
		}
	}
	so := storeOptions(storeSpec, g.cfg.CacheBytes)
	so.DockerConfigs = objs.DockerConfigs
	so.MaxConcurrentRequests = g.cfg.RegistryConcurrency
	so.TagTTL, so.ReferrersTTL = g.cfg.Cache.TagTTL, g.cfg.Cache.ReferrersTTL
	// cosign's classic signature tag costs one request per listing; probe
	// it only when a Verifier can use what it finds, or to discover.
	so.SkipCosignSignatureTag = withPlugins && !handles(objs, store.CosignSignatureArtifactType)
	reg, err := store.New(so)
	if err != nil {
		return nil, usageError(fmt.Errorf("store: %w", err))
	}
	e := &engine{host: eo.host}
	opts := executor.Options{
		Store:       reg,
		Concurrency: g.cfg.Concurrency,
		MaxDepth:    storeSpec.Limits.MaxDepth,
		MaxNodes:    storeSpec.Limits.MaxNodes,
		Verdicts:    eo.verdicts,
		ConfigID:    eo.configID,
		VerdictTTL:  eo.verdictTTL,
		FailureTTL:  eo.failureTTL,
	}
	if withPlugins && len(objs.Verifiers) > 0 {
		if e.host == nil {
			e.host, err = plugin.NewHost(plugin.HostOptions{Dir: g.cfg.PluginDir, Logger: g.log})
			if err != nil {
				return nil, usageError(fmt.Errorf("plugins: %w", err))
			}
			e.ownsHost = true
		}
		for _, vo := range objs.Verifiers {
			if err := checkVerifier(ctx, e.host, g.objects, vo); err != nil {
				e.Close()
				return nil, usageError(err)
			}
			// checkVerifier started the plugin; its metadata is cached.
			md, err := e.host.Metadata(ctx, vo.Spec.Plugin)
			if err != nil {
				e.Close()
				return nil, usageError(err)
			}
			v, err := verifier.New(verifier.Options{
				Name:           vo.Name,
				Plugin:         vo.Spec.Plugin,
				ArtifactTypes:  vo.Spec.ArtifactTypes,
				Parameters:     vo.Spec.Parameters.Raw,
				Plugins:        e.host,
				SignatureTypes: md.SignatureTypes,
			})
			if err != nil {
				e.Close()
				return nil, usageError(err)
			}
			opts.Verifiers = append(opts.Verifiers, v)
			if vo.Spec.RequireSignature {
				if opts.RequireSignature == nil {
					opts.RequireSignature = map[string]bool{}
				}
				opts.RequireSignature[vo.Name] = true
			}
		}
	}
	if len(objs.Policies) > 0 {
		opts.Policy = policyFrom(objs.Policies[0])
	}
	opts.PoliciesNotInEffect = objs.PoliciesNotInEffect
	e.exec, err = executor.New(opts)
	if err != nil {
		e.Close()
		return nil, usageError(err)
	}
	return e, nil
}

// checkVerifier asks the Verifier's plugin whether it supports the
// configured artifact types and accepts the parameters, so a broken
// Verifier is a configuration error naming its fields rather than an
// inconclusive result on every image.
func checkVerifier(ctx context.Context, host *plugin.Host, file string, vo v1alpha1.Verifier) error {
	where := fmt.Sprintf("%s: Verifier %q", file, vo.Name)
	md, err := host.Metadata(ctx, vo.Spec.Plugin)
	if err != nil {
		return fmt.Errorf("%s: plugin %q: %w", where, vo.Spec.Plugin, err)
	}
	for i, t := range vo.Spec.ArtifactTypes {
		if !slices.Contains(md.ArtifactTypes, t) {
			return fmt.Errorf("%s field spec.artifactTypes[%d]: plugin %q does not verify %q (it verifies %s)",
				where, i, vo.Spec.Plugin, t, strings.Join(md.ArtifactTypes, ", "))
		}
	}
	params := vo.Spec.Parameters.Raw
	if len(params) == 0 {
		params = []byte("{}")
	}
	diags, err := host.ValidateConfig(ctx, vo.Spec.Plugin, params)
	if err != nil {
		return fmt.Errorf("%s: plugin %q could not validate the parameters: %w", where, vo.Spec.Plugin, err)
	}
	var errs []error
	for _, d := range diags {
		if d.Severity != plugin.SeverityError {
			continue
		}
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		field := "spec.parameters"
		if d.Field != "" {
			field += "." + d.Field
		}
		errs = append(errs, fmt.Errorf("%s field %s: %s", where, field, msg))
	}
	return errors.Join(errs...)
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
	out := &executor.Policy{Name: p.Name, MultiArch: string(p.Spec.MultiArch)}
	for _, r := range p.Spec.Rules {
		out.Rules = append(out.Rules, executor.Rule{ArtifactType: r.ArtifactType, Mode: string(r.Mode), Required: r.Required})
	}
	return out
}

// handles reports whether a Verifier in objs handles artifactType.
func handles(objs *catalog.Objects, artifactType string) bool {
	for _, v := range objs.Verifiers {
		if slices.Contains(v.Spec.ArtifactTypes, artifactType) {
			return true
		}
	}
	return false
}
