package catalog

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/store"
)

var (
	pluginName = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	hostPort   = regexp.MustCompile(`^[A-Za-z0-9.-]+(:[0-9]+)?$|^\[[0-9a-fA-F:]+\](:[0-9]+)?$`)
)

// ValidPluginName reports whether name can name a plugin binary (lower
// case letters, digits and dashes).
func ValidPluginName(name string) bool { return pluginName.MatchString(name) }

// DocumentOf returns the number (from 1) of the document that held the
// object of kind and name in the decoded file, or 0 when it was not
// decoded from a file.
func (o *Objects) DocumentOf(kind, name string) int { return o.docs[kind+"/"+name] }

// Validate checks every object and the objects against each other. file
// names the source in errors. All problems are returned, joined; each is
// an *ObjectError naming the document, object and field.
func (o *Objects) Validate(file string) error {
	var errs []error
	add := func(kind, name, field string, format string, args ...any) {
		errs = append(errs, &ObjectError{
			File: file, Document: o.docs[kind+"/"+name], Kind: kind, Name: name,
			Field: field, Err: fmt.Errorf(format, args...),
		})
	}
	checkName := func(kind, name string) {
		if name == "" {
			add(kind, name, "metadata.name", "must not be empty")
		}
	}

	if len(o.Stores) > 1 {
		add(v1alpha1.KindStore, o.Stores[1].Name, "", "only one Store is supported, found %d (%s)", len(o.Stores), names(o.Stores, func(s v1alpha1.Store) string { return s.Name }))
	}
	for _, s := range o.Stores {
		checkName(v1alpha1.KindStore, s.Name)
		seen := map[string]bool{}
		for i, r := range s.Spec.Registries {
			f := fmt.Sprintf("spec.registries[%d].host", i)
			switch {
			case r.Host == "":
				add(v1alpha1.KindStore, s.Name, f, "must not be empty")
			case strings.Contains(r.Host, "://") || !hostPort.MatchString(r.Host):
				add(v1alpha1.KindStore, s.Name, f, "%q is not a host[:port] (no scheme, no path)", r.Host)
			case seen[store.CanonicalHost(r.Host)]:
				add(v1alpha1.KindStore, s.Name, f, "registry %q listed twice (docker.io, index.docker.io and registry-1.docker.io are one registry)", r.Host)
			}
			seen[store.CanonicalHost(r.Host)] = true
			if r.Password != "" && r.Username == "" {
				add(v1alpha1.KindStore, s.Name, fmt.Sprintf("spec.registries[%d].password", i), "password given without username")
			}
			if r.Username != "" && r.Password == "" && r.IdentityToken == "" {
				add(v1alpha1.KindStore, s.Name, fmt.Sprintf("spec.registries[%d].username", i), "username given without a password or an identityToken")
			}
			if r.IdentityToken != "" && r.Password != "" {
				add(v1alpha1.KindStore, s.Name, fmt.Sprintf("spec.registries[%d].identityToken", i), "identityToken and password are exclusive")
			}
			for j, realm := range r.TokenRealms {
				if realm == "" || strings.Contains(realm, "://") || !hostPort.MatchString(realm) {
					add(v1alpha1.KindStore, s.Name, fmt.Sprintf("spec.registries[%d].tokenRealms[%d]", i, j), "%q is not a host[:port] (no scheme, no path): name the host of the token realm URL the registry's Bearer challenge gives", realm)
				}
			}
		}
		for i, ps := range s.Spec.PullSecrets {
			if ps.Name == "" || ps.Namespace == "" {
				add(v1alpha1.KindStore, s.Name, fmt.Sprintf("spec.pullSecrets[%d]", i), "needs a name and a namespace")
			}
		}
		l := s.Spec.Limits
		for _, lim := range []struct {
			field string
			v     int64
		}{
			{"maxManifestBytes", l.MaxManifestBytes}, {"maxBlobBytes", l.MaxBlobBytes},
			{"maxReferrers", int64(l.MaxReferrers)}, {"maxDepth", int64(l.MaxDepth)}, {"maxNodes", int64(l.MaxNodes)},
		} {
			if lim.v < 0 {
				add(v1alpha1.KindStore, s.Name, "spec.limits."+lim.field, "must not be negative, got %d", lim.v)
			}
		}
		for _, t := range slices.Sorted(maps.Keys(l.MaxBytesPerArtifactType)) {
			if n := l.MaxBytesPerArtifactType[t]; t == "" || n <= 0 {
				add(v1alpha1.KindStore, s.Name, fmt.Sprintf("spec.limits.maxBytesPerArtifactType[%q]", t), "must be a positive number of bytes for a non-empty artifact type, got %d", n)
			}
		}
	}

	handled := map[string][]string{} // artifact type → verifier names
	for _, v := range o.Verifiers {
		checkName(v1alpha1.KindVerifier, v.Name)
		if !pluginName.MatchString(v.Spec.Plugin) {
			add(v1alpha1.KindVerifier, v.Name, "spec.plugin", "%q is not a plugin name (lower-case letters, digits and '-'; never a path)", v.Spec.Plugin)
		}
		if len(v.Spec.ArtifactTypes) == 0 {
			add(v1alpha1.KindVerifier, v.Name, "spec.artifactTypes", "must list at least one artifact type")
		}
		seen := map[string]bool{}
		for i, t := range v.Spec.ArtifactTypes {
			f := fmt.Sprintf("spec.artifactTypes[%d]", i)
			switch {
			case t == "":
				add(v1alpha1.KindVerifier, v.Name, f, "must not be empty")
			case seen[t]:
				add(v1alpha1.KindVerifier, v.Name, f, "%q listed twice", t)
			default:
				handled[t] = append(handled[t], v.Name)
			}
			seen[t] = true
		}
		if raw := v.Spec.Parameters.Raw; len(raw) > 0 && raw[0] != '{' {
			add(v1alpha1.KindVerifier, v.Name, "spec.parameters", "must be an object")
		}
		if v.Spec.RequireSignature {
			for _, s := range o.Stores {
				if d := s.Spec.Limits.MaxDepth; d == 1 {
					add(v1alpha1.KindVerifier, v.Name, "spec.requireSignature", "needs the signatures of the artifacts, but Store %q limits maxDepth to 1; raise it to 2 or more", s.Name)
				}
			}
		}
	}

	if len(o.Policies) > 1 {
		add(v1alpha1.KindPolicy, o.Policies[1].Name, "", "only one Policy is supported, found %d (%s)", len(o.Policies), names(o.Policies, func(p v1alpha1.Policy) string { return p.Name }))
	}
	for _, p := range o.Policies {
		checkName(v1alpha1.KindPolicy, p.Name)
		if len(p.Spec.Rules) == 0 {
			add(v1alpha1.KindPolicy, p.Name, "spec.rules", "must hold at least one rule")
		}
		switch p.Spec.MultiArch {
		case "", v1alpha1.MultiArchIndex, v1alpha1.MultiArchPlatforms, v1alpha1.MultiArchEither:
		default:
			add(v1alpha1.KindPolicy, p.Name, "spec.multiArch", "%q is not a multiArch mode; want index, platforms or either", p.Spec.MultiArch)
		}
		seen := map[string]int{} // artifact type → index of its rule
		required := false
		for i, r := range p.Spec.Rules {
			f := fmt.Sprintf("spec.rules[%d]", i)
			required = required || r.Required
			switch r.Mode {
			case "", v1alpha1.ModeAny, v1alpha1.ModeAll, v1alpha1.ModeNewest:
			default:
				add(v1alpha1.KindPolicy, p.Name, f+".mode", "%q is not a mode; want any, all or newest", r.Mode)
			}
			type listed struct{ field, t string }
			var types []listed
			switch {
			case r.ArtifactType != "" && r.ArtifactTypes != nil:
				add(v1alpha1.KindPolicy, p.Name, f+".artifactTypes", "artifactType and artifactTypes are exclusive; give one type as artifactType or all of them in artifactTypes")
			case r.ArtifactType != "":
				types = append(types, listed{f + ".artifactType", r.ArtifactType})
			case r.ArtifactTypes != nil && len(r.ArtifactTypes) == 0:
				add(v1alpha1.KindPolicy, p.Name, f+".artifactTypes", "must list at least one artifact type")
			case r.ArtifactTypes != nil:
				for j, t := range r.ArtifactTypes {
					types = append(types, listed{fmt.Sprintf("%s.artifactTypes[%d]", f, j), t})
				}
			default:
				add(v1alpha1.KindPolicy, p.Name, f+".artifactType", "must not be empty; give the artifact type, or several alternatives in artifactTypes")
			}
			for _, l := range types {
				switch j, dup := seen[l.t]; {
				case l.t == "":
					add(v1alpha1.KindPolicy, p.Name, l.field, "must not be empty")
				case dup && j == i:
					add(v1alpha1.KindPolicy, p.Name, l.field, "%q listed twice", l.t)
				case dup:
					add(v1alpha1.KindPolicy, p.Name, l.field, "%q has two rules (spec.rules[%d] and this one); an artifact type belongs to one rule", l.t, j)
				case len(handled[l.t]) == 0:
					add(v1alpha1.KindPolicy, p.Name, l.field, "no Verifier handles %q, so the rule could never be satisfied; add a Verifier with this artifact type", l.t)
				}
				if _, dup := seen[l.t]; !dup {
					seen[l.t] = i
				}
			}
		}
		// executor.New refuses the same Policies (Policy.AdmitsUnattached).
		switch {
		case len(p.Spec.Rules) == 0:
		case !required && !p.Spec.AllowUnsigned:
			add(v1alpha1.KindPolicy, p.Name, "spec.rules", "%w; mark a rule required: true, or group the types of alternative rules in one rule's artifactTypes (or, if the Policy only restricts what is attached, set spec.allowUnsigned: true)", executor.ErrAdmitsUnattached)
		case required && p.Spec.AllowUnsigned:
			add(v1alpha1.KindPolicy, p.Name, "spec.allowUnsigned", "has no effect: a rule is required, so an image with nothing attached fails anyway; remove allowUnsigned")
		}
	}
	return errors.Join(errs...)
}

func names[T any](items []T, name func(T) string) string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = name(it)
	}
	return strings.Join(out, ", ")
}
