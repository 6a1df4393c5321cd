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
	if err := fileModeErrors(objs, where); err != nil {
		return nil, err
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
	var warnings []string
	if withPlugins && len(objs.Verifiers) > 0 {
		host, err := r.plugins()
		if err != nil {
			return nil, err
		}
		mds := make([]plugin.Metadata, len(objs.Verifiers))
		var errs []error
		for i, vo := range objs.Verifiers {
			var err error
			var warned []string
			if mds[i], warned, err = checkVerifier(ctx, host, where, vo); err != nil {
				errs = append(errs, err)
			}
			warnings = append(warnings, warned...)
		}
		if err := errors.Join(errs...); err != nil {
			return nil, err
		}
		for i, vo := range objs.Verifiers {
			md := mds[i]
			v, err := verifier.New(verifier.Options{
				Name:           vo.Name,
				Plugin:         vo.Spec.Plugin,
				ArtifactTypes:  vo.Spec.ArtifactTypes,
				SignatureTypes: md.SignatureTypes,
				Parameters:     vo.Spec.Parameters.Raw,
				Plugins:        host,
				Memory:         reg.Memory(),

				MaxBytesPerArtifactType: storeSpec.Limits.MaxBytesPerArtifactType,
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
	e := &Engine{exec: exec, reg: reg, cosignProbed: !so.SkipCosignSignatureTag, warnings: warnings, notInEffect: objs.PoliciesNotInEffect}
	if opts.Policy != nil {
		e.policy = opts.Policy.Name
	}
	return e, nil
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
	_, warnings, err := checkVerifier(ctx, host, "cluster", v)
	for _, w := range warnings {
		r.opts.Logger.Info("configuration warning", "warning", w)
	}
	return err
}

// fileModeErrors are the problems of objects read outside a cluster
// (objs has no Docker configs from Secrets): pull Secrets and valueFrom
// references, which only --config-source cluster reads. Every one is
// returned, joined.
func fileModeErrors(objs *catalog.Objects, where string) error {
	if len(objs.DockerConfigs) > 0 {
		return nil
	}
	var errs []error
	for _, s := range objs.Stores {
		if len(s.Spec.PullSecrets) > 0 {
			errs = append(errs, fmt.Errorf("%s: Store %q field spec.pullSecrets: Secrets are read only with --config-source cluster; in a file use dockerConfigPaths", where, s.Name))
		}
	}
	for _, v := range objs.Verifiers {
		if field, ok := catalog.HasValueFrom(v.Spec.Parameters.Raw); ok {
			errs = append(errs, fmt.Errorf("%s: Verifier %q field %s: valueFrom reads Secrets and ConfigMaps, which only --config-source cluster does; in a file give the PEM inline or a file path", where, v.Name, field))
		}
	}
	return errors.Join(errs...)
}

// Check returns every problem Build would find in objs without building
// anything: the file-mode checks and each Verifier's plugin check,
// joined. Callers run it on objects that failed catalog validation, so
// that one run reports every error of a file, not one phase at a time.
func (r *Runtime) Check(ctx context.Context, objs *catalog.Objects, where string) error {
	errs := []error{fileModeErrors(objs, where)}
	if r.opts.DiscoverOnly || len(objs.Verifiers) == 0 {
		return errors.Join(errs...)
	}
	host, err := r.plugins()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, vo := range objs.Verifiers {
		if !catalog.ValidPluginName(vo.Spec.Plugin) {
			continue // catalog's error names the field
		}
		_, _, err := checkVerifier(ctx, host, where, vo)
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// checkVerifier asks the Verifier's plugin whether it supports the
// configured artifact types and accepts the parameters, so a broken
// Verifier is a configuration error naming its fields rather than an
// inconclusive result on every image. It returns the plugin's metadata
// and its warnings (diagnostics of any other severity), each naming the
// Verifier and field as the errors do.
func checkVerifier(ctx context.Context, host *plugin.Host, where string, vo v1alpha1.Verifier) (plugin.Metadata, []string, error) {
	at := fmt.Sprintf("%s: Verifier %q", where, vo.Name)
	md, err := host.Metadata(ctx, vo.Spec.Plugin)
	if err != nil {
		return md, nil, fmt.Errorf("%s: plugin %q: %w", at, vo.Spec.Plugin, err)
	}
	for i, t := range vo.Spec.ArtifactTypes {
		if !slices.Contains(md.ArtifactTypes, t) {
			return md, nil, fmt.Errorf("%s field spec.artifactTypes[%d]: plugin %q does not verify %q (it verifies %s)",
				at, i, vo.Spec.Plugin, t, strings.Join(md.ArtifactTypes, ", "))
		}
	}
	params := vo.Spec.Parameters.Raw
	if len(params) == 0 {
		params = []byte("{}")
	}
	diags, err := host.ValidateConfig(ctx, vo.Spec.Plugin, params)
	if err != nil {
		return md, nil, fmt.Errorf("%s: plugin %q could not validate the parameters: %w", at, vo.Spec.Plugin, err)
	}
	var errs []error
	var warnings []string
	for _, d := range diags {
		msg := d.Summary
		if d.Detail != "" {
			msg += ": " + d.Detail
		}
		field := "spec.parameters"
		if d.Field != "" {
			field += "." + d.Field
		}
		line := fmt.Sprintf("%s field %s: %s", at, field, msg)
		if d.Severity != plugin.SeverityError {
			warnings = append(warnings, line)
			continue
		}
		errs = append(errs, errors.New(line))
	}
	return md, warnings, errors.Join(errs...)
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
				TokenRealms:   slices.Clone(r.TokenRealms),
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
	out := &executor.Policy{Name: p.Name, MultiArch: multiArchMode(p.Spec.MultiArch), AllowUnsigned: p.Spec.AllowUnsigned}
	for _, r := range p.Spec.Rules {
		out.Rules = append(out.Rules, executor.Rule{
			ArtifactType: r.ArtifactType, ArtifactTypes: slices.Clone(r.ArtifactTypes),
			Mode: ruleMode(r.Mode), Required: r.Required,
		})
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
