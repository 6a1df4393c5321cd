package engine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/controller"
	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/store"
	"github.com/assayproj/assay/pkg/verifier"
)

// Build wires an Engine for objs: a view of the registry stack with the
// Store's credentials and limits, the Verifiers (each checked against
// its plugin) and the Policy. where names the objects' origin in errors
// (a file's path, or "cluster"); source identifies the configuration for
// the verdict cache. Build is the one function that turns verification
// objects into an Engine, for the CLI and both modes of `assay serve`.
// Every error is a configuration error that names the object and field.
func (r *Runtime) Build(ctx context.Context, objs *catalog.Objects, where string, source []byte) (*Engine, error) {
	var storeSpec v1alpha1.StoreSpec
	if len(objs.Stores) > 0 {
		storeSpec = objs.Stores[0].Spec
	}
	if len(storeSpec.PullSecrets) > 0 && len(objs.DockerConfigs) == 0 {
		return nil, fmt.Errorf("Store %q field spec.pullSecrets: Secrets are read only with --config-source cluster; use dockerConfigPaths in a file", objs.Stores[0].Name)
	}
	for _, v := range objs.Verifiers {
		if field, ok := catalog.HasValueFrom(v.Spec.Parameters.Raw); ok {
			return nil, fmt.Errorf("Verifier %q field %s: valueFrom reads Secrets and ConfigMaps, which only --config-source cluster does; in a file give the PEM inline or a file path", v.Name, field)
		}
	}
	withPlugins := !r.opts.DiscoverOnly
	so := storeOptions(storeSpec)
	so.DockerConfigs = objs.DockerConfigs
	// cosign's classic signature tag costs one request per listing; probe
	// it only when a Verifier can use what it finds, or to discover.
	so.SkipCosignSignatureTag = withPlugins && !handles(objs, store.CosignSignatureArtifactType)
	reg, err := r.opts.Stack.Registry(so)
	if err != nil {
		return nil, storeError(objs, where, err)
	}
	opts := executor.Options{
		Store:       reg,
		Concurrency: r.opts.Concurrency,
		MaxDepth:    storeSpec.Limits.MaxDepth,
		MaxNodes:    storeSpec.Limits.MaxNodes,
		Verdicts:    r.opts.Verdicts,
		ConfigID:    r.configID(source),
		VerdictTTL:  r.opts.VerdictTTL,
		FailureTTL:  r.opts.FailureTTL,
	}
	if withPlugins && len(objs.Verifiers) > 0 {
		host, err := r.plugins()
		if err != nil {
			return nil, err
		}
		for _, vo := range objs.Verifiers {
			md, err := checkVerifier(ctx, host, where, vo)
			if err != nil {
				return nil, err
			}
			v, err := verifier.New(verifier.Options{
				Name:           vo.Name,
				Plugin:         vo.Spec.Plugin,
				ArtifactTypes:  vo.Spec.ArtifactTypes,
				SignatureTypes: md.SignatureTypes,
				Parameters:     vo.Spec.Parameters.Raw,
				Plugins:        host,
			})
			if err != nil {
				return nil, err
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
	exec, err := executor.New(opts)
	if err != nil {
		return nil, err
	}
	return &Engine{exec: exec, reg: reg}, nil
}

// Load builds an Engine for objs and puts it in effect for every
// namespace (the CLI and a file-mode serve have no namespaced objects).
func (r *Runtime) Load(ctx context.Context, objs *catalog.Objects, where string, source []byte) (*Engine, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, err := r.Build(ctx, objs, where, source)
	if err != nil {
		return nil, err
	}
	r.install(&snapshot{cluster: e})
	return e, nil
}

var _ controller.Target = (*Runtime)(nil)

// Apply implements controller.Target: it builds the cluster-wide Engine
// and one per namespace with objects of its own, and swaps them in as
// one generation; on any error nothing changes.
func (r *Runtime) Apply(ctx context.Context, c controller.Configuration) error {
	err := r.apply(ctx, c)
	r.reloads.count(err)
	return err
}

func (r *Runtime) apply(ctx context.Context, c controller.Configuration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := &snapshot{namespaces: map[string]*Engine{}}
	var err error
	if s.cluster, err = r.Build(ctx, c.Cluster, "cluster", []byte("cluster:"+c.ID)); err != nil {
		return err
	}
	for ns, objs := range c.Namespaces {
		e, err := r.Build(ctx, objs, "namespace "+ns, []byte("namespace "+ns+":"+c.ID))
		if err != nil {
			return fmt.Errorf("namespace %s: %w", ns, err)
		}
		s.namespaces[ns] = e
	}
	r.install(s)
	return nil
}

// CheckVerifier implements controller.Target: it asks the Verifier's
// plugin whether it supports the artifact types and accepts the
// parameters.
func (r *Runtime) CheckVerifier(ctx context.Context, v v1alpha1.Verifier) error {
	host, err := r.plugins()
	if err != nil {
		return err
	}
	_, err = checkVerifier(ctx, host, "cluster", v)
	return err
}

// checkVerifier asks the Verifier's plugin whether it supports the
// configured artifact types and accepts the parameters, so a broken
// Verifier is a configuration error naming its fields rather than an
// inconclusive result on every image. It returns the plugin's metadata.
func checkVerifier(ctx context.Context, host *plugin.Host, where string, vo v1alpha1.Verifier) (plugin.Metadata, error) {
	at := fmt.Sprintf("%s: Verifier %q", where, vo.Name)
	md, err := host.Metadata(ctx, vo.Spec.Plugin)
	if err != nil {
		return md, fmt.Errorf("%s: plugin %q: %w", at, vo.Spec.Plugin, err)
	}
	for i, t := range vo.Spec.ArtifactTypes {
		if !slices.Contains(md.ArtifactTypes, t) {
			return md, fmt.Errorf("%s field spec.artifactTypes[%d]: plugin %q does not verify %q (it verifies %s)",
				at, i, vo.Spec.Plugin, t, strings.Join(md.ArtifactTypes, ", "))
		}
	}
	params := vo.Spec.Parameters.Raw
	if len(params) == 0 {
		params = []byte("{}")
	}
	diags, err := host.ValidateConfig(ctx, vo.Spec.Plugin, params)
	if err != nil {
		return md, fmt.Errorf("%s: plugin %q could not validate the parameters: %w", at, vo.Spec.Plugin, err)
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
		errs = append(errs, fmt.Errorf("%s field %s: %s", at, field, msg))
	}
	return md, errors.Join(errs...)
}

// storeError names the Store object (its file, document and field) that
// the registry stack refused; with no Store object, the refusal is of
// the default docker config, which the error names.
func storeError(objs *catalog.Objects, where string, err error) error {
	if len(objs.Stores) == 0 {
		return fmt.Errorf("%s: %w", where, err)
	}
	s := objs.Stores[0]
	oe := &catalog.ObjectError{File: where, Document: objs.DocumentOf(v1alpha1.KindStore, s.Name), Kind: v1alpha1.KindStore, Name: s.Name, Err: err}
	if errors.Is(err, store.ErrDockerConfig) && len(s.Spec.DockerConfigPaths) > 0 {
		oe.Field = "spec.dockerConfigPaths"
	}
	return oe
}

// storeOptions are the registry view options of a Store.
func storeOptions(s v1alpha1.StoreSpec) store.Options {
	o := store.Options{
		DockerConfigPaths: s.DockerConfigPaths,
		MaxManifestBytes:  s.Limits.MaxManifestBytes,
		MaxBlobBytes:      s.Limits.MaxBlobBytes,
		MaxReferrers:      s.Limits.MaxReferrers,
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

// policyFrom is the executor's Policy of a validated Policy object.
func policyFrom(p v1alpha1.Policy) *executor.Policy {
	out := &executor.Policy{Name: p.Name, MultiArch: multiArchMode(p.Spec.MultiArch)}
	for _, r := range p.Spec.Rules {
		out.Rules = append(out.Rules, executor.Rule{ArtifactType: r.ArtifactType, Mode: ruleMode(r.Mode), Required: r.Required})
	}
	return out
}

// ruleMode and multiArchMode map the API's modes onto the executor's,
// constant by constant. catalog.Validate refuses any other value; one
// that got here anyway stays as it is, and executor.New refuses it.
func ruleMode(m v1alpha1.Mode) executor.Mode {
	switch m {
	case v1alpha1.ModeAny:
		return executor.ModeAny
	case v1alpha1.ModeAll:
		return executor.ModeAll
	case v1alpha1.ModeNewest:
		return executor.ModeNewest
	}
	return executor.Mode(m)
}

func multiArchMode(m v1alpha1.MultiArch) executor.MultiArch {
	switch m {
	case v1alpha1.MultiArchIndex:
		return executor.MultiArchIndex
	case v1alpha1.MultiArchPlatforms:
		return executor.MultiArchPlatforms
	case v1alpha1.MultiArchEither:
		return executor.MultiArchEither
	}
	return executor.MultiArch(m)
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
