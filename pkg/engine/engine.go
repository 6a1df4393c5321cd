package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/pullsecrets"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/store"
	"github.com/go-logr/logr"
	"github.com/opencontainers/go-digest"
	"oras.land/oras-go/v2/errdef"
)

// PodCredentials reads the registry credentials of a Pod: its
// imagePullSecrets and its ServiceAccount's. *pullsecrets.Reader
// implements it.
type PodCredentials interface {
	ForPod(ctx context.Context, namespace, serviceAccount string, secrets []string) pullsecrets.Credentials
}

// Options configure a Runtime.
type Options struct {
	// Stack is the process's registry stack, shared by every Engine.
	// Required.
	Stack *store.Stack
	// PluginDir holds the plugin binaries and their SHA256SUMS. The
	// plugin host is made the first time a configuration has a Verifier;
	// if empty, such a configuration is refused. The SHA256SUMS file is
	// part of every verdict cache key.
	PluginDir string
	// PluginIdleTimeout: see plugin.HostOptions.IdleTimeout.
	PluginIdleTimeout time.Duration
	// PluginHealthCheckAfter and PluginHealthCheckTimeout: see
	// plugin.HostOptions.HealthCheckAfter and HealthCheckTimeout.
	PluginHealthCheckAfter   time.Duration
	PluginHealthCheckTimeout time.Duration
	// StopUnusedPlugins stops, each time a configuration is put in
	// effect, the plugin processes that were started only to check it
	// and no Verifier has used yet (plugin.Host.StopUnused): in a
	// long-running `assay serve`, a plugin runs from its first use. The
	// CLI leaves it off, as it verifies at once.
	StopUnusedPlugins bool
	// DiscoverOnly builds Engines without verifiers and never starts a
	// plugin (`assay discover`); cosign's signature tag is then always
	// probed, so discovery shows what is there.
	DiscoverOnly bool
	// Concurrency bounds the verification jobs run at once for one
	// image. If <= 0, executor.DefaultConcurrency.
	Concurrency int
	// Verdicts caches verdicts; nil caches none.
	Verdicts executor.VerdictCache
	// VerdictTTL and FailureTTL: see executor.Options. If 0, the
	// executor's defaults.
	VerdictTTL, FailureTTL time.Duration
	// PodCredentials, if set, is asked for the credentials of the Pod a
	// key names (its namespace, ServiceAccount and pull Secrets); nil
	// uses each configuration's own credentials only.
	PodCredentials PodCredentials
	// Logger receives the runtime's log lines. If zero, nothing is
	// logged.
	Logger logr.Logger
}

// Runtime holds the configuration in effect and the resources it
// shares. Create it with New; it is safe for concurrent use.
type Runtime struct {
	opts Options
	sums []byte // the plugins' SHA256SUMS, for verdict keys

	hostMu sync.Mutex
	host   *plugin.Host

	snap atomic.Pointer[snapshot]

	mu      sync.Mutex // serialises changes of the configuration
	retired executor.CacheStats
	reloads reloadCounts
}

// snapshot is one configuration generation, immutable once stored.
type snapshot struct {
	cluster *Engine
	// namespaces holds the Engines of namespaces with objects of their
	// own; other namespaces use cluster.
	namespaces map[string]*Engine
}

// Engine is one configuration: verifiers and Policy over a view of the
// registry stack. It is immutable and safe for concurrent use.
type Engine struct {
	exec *executor.Executor
	reg  *store.Registry
	// cosignProbed: the registry view probes cosign's signature tag.
	cosignProbed bool
	warnings     []string
	// policy names the Policy in effect ("" when none is);
	// notInEffect describes the Policies left out of it.
	policy      string
	notInEffect []string
}

// Warnings are what the Verifiers' plugins said about their parameters
// that does not stop them from working (a trust store that can anchor
// no signature, an expired certificate, a rule listed twice), one line
// each, naming the origin, the Verifier and the field as configuration
// errors do. An Engine built to discover only has none: its Verifiers
// are not checked.
func (e *Engine) Warnings() []string { return slices.Clone(e.warnings) }

// New validates opts.
func New(opts Options) (*Runtime, error) {
	if opts.Stack == nil {
		return nil, errors.New("engine: a registry Stack is required")
	}
	r := &Runtime{opts: opts}
	if opts.PluginDir != "" && !opts.DiscoverOnly {
		// Missing sums are reported by the plugin host when a Verifier
		// needs it.
		r.sums, _ = os.ReadFile(filepath.Join(opts.PluginDir, plugin.SumsFile))
	}
	return r, nil
}

// Close stops the plugin processes. The Runtime must not be used after.
func (r *Runtime) Close() {
	r.hostMu.Lock()
	defer r.hostMu.Unlock()
	if r.host != nil {
		r.host.Close()
	}
}

// plugins returns the plugin host, making it on first use.
func (r *Runtime) plugins() (*plugin.Host, error) {
	r.hostMu.Lock()
	defer r.hostMu.Unlock()
	if r.host != nil {
		return r.host, nil
	}
	if r.opts.PluginDir == "" {
		return nil, errors.New("plugins: no plugin directory is configured")
	}
	h, err := plugin.NewHost(plugin.HostOptions{
		Dir:                r.opts.PluginDir,
		IdleTimeout:        r.opts.PluginIdleTimeout,
		HealthCheckAfter:   r.opts.PluginHealthCheckAfter,
		HealthCheckTimeout: r.opts.PluginHealthCheckTimeout,
		Logger:             r.opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	r.host = h
	return h, nil
}

// Ready returns nil when a configuration is in effect under which an
// image can pass: a Policy is in effect for the cluster or for at least
// one namespace. Otherwise it returns why not (no configuration yet, or
// no Policy in effect, so that every image is answered NO_POLICY),
// naming the Policies left out of the configuration, for /readyz.
func (r *Runtime) Ready() error {
	s := r.snap.Load()
	if s == nil {
		return errNoConfiguration
	}
	for _, e := range s.engines() {
		if e.policy != "" {
			return nil
		}
	}
	msg := "no Policy is in effect, so every image is answered " + string(report.ReasonNoPolicy)
	if left := s.cluster.notInEffect; len(left) > 0 {
		msg += "; not in effect: " + strings.Join(left, "; ")
	}
	return errors.New(msg)
}

// Engine returns the Engine in effect for namespace: the namespace's
// own when it has objects of its own, else the cluster-wide one; nil
// before any configuration is in effect.
func (r *Runtime) Engine(namespace string) *Engine {
	s := r.snap.Load()
	if s == nil {
		return nil
	}
	if e, ok := s.namespaces[namespace]; ok && namespace != "" {
		return e
	}
	return s.cluster
}

// install swaps in a new generation and retires the engines it replaces.
// Call with r.mu held.
func (r *Runtime) install(s *snapshot) {
	if r.opts.StopUnusedPlugins {
		r.hostMu.Lock()
		if r.host != nil {
			r.host.StopUnused()
		}
		r.hostMu.Unlock()
	}
	old := r.snap.Swap(s)
	if old == nil {
		return
	}
	for _, e := range old.engines() {
		r.retired.Add(e.exec.CacheStats())
	}
}

func (s *snapshot) engines() []*Engine {
	out := []*Engine{s.cluster}
	for _, e := range s.namespaces {
		out = append(out, e)
	}
	return out
}

// CacheStats returns the verdict cache counters of every Engine so far,
// those replaced by configuration changes included.
func (r *Runtime) CacheStats() executor.CacheStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.retired
	if s := r.snap.Load(); s != nil {
		for _, e := range s.engines() {
			st.Add(e.exec.CacheStats())
		}
	}
	return st
}

// configID identifies a configuration for the verdict cache: its source
// (a file's bytes, or the objects' hash and scope) and the plugins.
func (r *Runtime) configID(source []byte) string {
	id := sha256.New()
	id.Write(source)
	id.Write([]byte{0})
	id.Write(r.sums)
	return hex.EncodeToString(id.Sum(nil))[:16]
}

var (
	_ provider.Verifier = (*Runtime)(nil)
	_ provider.Resolver = (*Runtime)(nil)
)

// errNoConfiguration answers requests that arrive before any
// configuration is in effect.
var errNoConfiguration = errors.New("no configuration is in effect yet")

// Verify implements provider.Verifier under the configuration in effect
// for the key's namespace, with the Pod's credentials when the key names
// them and Options.PodCredentials is set.
func (r *Runtime) Verify(ctx context.Context, k provider.Key) (*report.Report, error) {
	e := r.Engine(k.Namespace)
	if e == nil {
		return notConfigured(k.Reference), nil
	}
	exec, unused := r.forPod(ctx, e, k)
	rep, err := exec.Verify(ctx, k.Reference)
	if rep != nil && !rep.IsSuccess && (rep.Reason == report.ReasonRegistryError || rep.Reason == report.ReasonSubjectNotFound) && len(unused) > 0 {
		// The registry refused or failed; say which of the Pod's
		// credentials were not there to try. The report may be shared
		// with other callers, so it is copied.
		c := *rep
		c.Message += "; pull credentials not used: " + strings.Join(unused, "; ")
		rep = &c
	}
	return rep, err
}

// Resolve implements provider.Resolver.
func (r *Runtime) Resolve(ctx context.Context, k provider.Key) (string, error) {
	e := r.Engine(k.Namespace)
	if e == nil {
		return "", errNoConfiguration
	}
	exec, _ := r.forPod(ctx, e, k)
	return exec.Resolve(ctx, k.Reference)
}

// forPod returns e's executor reading the registries with the
// credentials of the Pod the key names, and what of them could not be
// used.
func (r *Runtime) forPod(ctx context.Context, e *Engine, k provider.Key) (*executor.Executor, []string) {
	if r.opts.PodCredentials == nil || k.Namespace == "" || (k.ServiceAccount == "" && len(k.PullSecrets) == 0) {
		return e.exec, nil
	}
	creds := r.opts.PodCredentials.ForPod(ctx, k.Namespace, k.ServiceAccount, k.PullSecrets)
	if len(creds.Unused) > 0 {
		r.opts.Logger.V(1).Info("pull credentials not used", "namespace", k.Namespace, "serviceAccount", k.ServiceAccount, "unused", creds.Unused)
	}
	view, err := e.reg.WithDockerConfigs(creds.DockerConfigs)
	if err != nil {
		return e.exec, append(creds.Unused, err.Error())
	}
	return e.exec.With(view), creds.Unused
}

// notConfigured is the report for a key that arrives before any
// configuration is in effect.
func notConfigured(ref string) *report.Report {
	return &report.Report{
		MediaType:   report.MediaType,
		Reference:   ref,
		Artifacts:   []report.Artifact{},
		Reason:      report.ReasonNoPolicy,
		Message:     errNoConfiguration.Error() + "; Assay is still reading its Store, Verifier and Policy objects",
		Remediation: "Retry in a few seconds; if it persists, check the objects' status and Assay's log.",
		Timestamp:   time.Now().UTC(),
	}
}

// Verify verifies ref under the Engine's configuration.
func (e *Engine) Verify(ctx context.Context, ref string) (*report.Report, error) {
	return e.exec.Verify(ctx, ref)
}

// Discover walks ref's referrer graph without verifying. When the walk
// completes, the report's Sources say where referrers were looked for
// and what each place gave: the referrers API or the referrers tag
// schema (whichever the registry's listing used, as the store recorded
// it), and cosign's signature tag when it was probed. When the
// referrers API lists nothing for the subject, Discover also reads the
// subject's referrers tag schema index, one Resolve (and a Fetch if it
// exists): an index there that the API does not list is the commonest
// reason for a signature to be invisible (a client that forced the tag
// schema against a registry with the referrers API). Verify never does
// this.
func (e *Engine) Discover(ctx context.Context, ref string) (*report.Report, error) {
	rep, err := e.exec.Discover(ctx, ref)
	if err != nil || rep.Reason != "" || rep.Subject == "" {
		return rep, err
	}
	repo, pinned, ok := strings.Cut(rep.Subject, "@")
	subject, perr := digest.Parse(pinned)
	if !ok || perr != nil {
		return rep, nil
	}
	rep.Sources = e.sources(ctx, repo, subject, rep.Artifacts)
	return rep, nil
}

// sources describes how the referrers in arts, the tree of subject in
// repo, were found.
func (e *Engine) sources(ctx context.Context, repo string, subject digest.Digest, arts []report.Artifact) []report.Source {
	listed, direct, cosign := 0, 0, 0
	var count func(arts []report.Artifact, top bool)
	count = func(arts []report.Artifact, top bool) {
		for _, a := range arts {
			if top && a.ArtifactType == store.CosignSignatureArtifactType {
				cosign++
			} else {
				listed++
				if top {
					direct++
				}
			}
			count(a.Artifacts, false)
		}
	}
	count(arts, true)
	tag := store.ReferrersTag(subject)
	var out []report.Source
	switch e.reg.ReferrersSource(repo) {
	case store.ReferrersAPI:
		out = append(out, report.Source{Name: report.SourceReferrersAPI, Found: listed, Message: "referrers API: " + report.Count(listed, "artifact", "artifacts")})
		if direct == 0 {
			out = append(out, e.tagIndexUnlisted(ctx, repo, subject))
		}
	case store.ReferrersTagSchema:
		out = append(out, report.Source{Name: report.SourceReferrersTagSchema, Found: listed,
			Message: fmt.Sprintf("referrers tag schema (the registry has no referrers API): tag %s, %s", tag, report.Count(listed, "artifact", "artifacts"))})
	}
	if e.cosignProbed {
		msg := fmt.Sprintf("cosign signature tag %s.sig: none", tag)
		if cosign > 0 {
			msg = fmt.Sprintf("cosign signature tag %s.sig: 1 signature manifest", tag)
		}
		out = append(out, report.Source{Name: report.SourceCosignSignatureTag, Found: cosign, Message: msg})
	}
	return out
}

// tagIndexUnlisted reads the referrers tag schema index of a subject
// whose referrers API listing is empty, and says what it holds.
func (e *Engine) tagIndexUnlisted(ctx context.Context, repo string, subject digest.Digest) report.Source {
	tag := store.ReferrersTag(subject)
	src := report.Source{Name: report.SourceReferrersTagSchema}
	desc, listed, err := e.reg.ReferrersTagIndex(ctx, repo, subject)
	switch {
	case errors.Is(err, errdef.ErrNotFound):
		src.Message = fmt.Sprintf("referrers tag schema: no tag %s either", tag)
	case err != nil:
		src.Message = fmt.Sprintf("referrers tag schema: tag %s could not be read: %v", tag, err)
	case len(listed) == 0:
		src.Message = fmt.Sprintf("referrers tag schema: the index %s (%s) is empty", tag, desc.Digest)
	default:
		src.Message = fmt.Sprintf("a referrers tag schema index %s exists with %s but the registry's referrers API does not list them (pushed with --force-referrers-tag?)",
			tag, report.Count(len(listed), "entry", "entries"))
	}
	return src
}
