package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
}

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
	h, err := plugin.NewHost(plugin.HostOptions{Dir: r.opts.PluginDir, IdleTimeout: r.opts.PluginIdleTimeout, Logger: r.opts.Logger})
	if err != nil {
		return nil, fmt.Errorf("plugins: %w", err)
	}
	r.host = h
	return h, nil
}

// Ready reports whether a configuration is in effect.
func (r *Runtime) Ready() bool { return r.snap.Load() != nil }

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

// Discover walks ref's referrer graph without verifying.
func (e *Engine) Discover(ctx context.Context, ref string) (*report.Report, error) {
	return e.exec.Discover(ctx, ref)
}

// Resolve pins ref to a digest.
func (e *Engine) Resolve(ctx context.Context, ref string) (string, error) {
	return e.exec.Resolve(ctx, ref)
}
