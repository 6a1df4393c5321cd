// Package config holds Assay's process settings: logging, the plugin
// directory, time budgets, concurrency and cache sizes. The command line
// fills it from flags, ASSAY_* environment variables and an optional
// settings file; this package only defines, defaults and validates it.
//
// Verification objects (Store, Verifier, Policy) are not process
// settings; see package catalog.
package config

import (
	"errors"
	"fmt"
	"time"
)

// Config is the process configuration. Keys are the names used in the
// settings file and, upper-cased with "." and "-" turned into "_" and an
// ASSAY_ prefix, in the environment (ASSAY_LOG_LEVEL, ASSAY_PLUGIN_DIR).
type Config struct {
	Log Log `mapstructure:"log"`
	// PluginDir holds the plugin binaries and their SHA256SUMS. The CLI's
	// default is the plugins/ directory beside its executable when there
	// is one (cmd/assay/settings.go); Default's "bin/plugins" is the last
	// resort.
	PluginDir string `mapstructure:"plugin-dir"`
	// PluginIdleTimeout stops a plugin process that has had no call for
	// this long; the next call starts it again. Default 5m; negative
	// keeps processes running.
	PluginIdleTimeout time.Duration `mapstructure:"plugin-idle-timeout"`
	// PluginHealthCheckAfter: a plugin process with calls in flight that
	// has answered nothing for this long is health-checked, and killed and
	// started again if it misses the check (see
	// plugin.HostOptions.HealthCheckAfter). Default 2s; negative never
	// checks; 0 is refused.
	PluginHealthCheckAfter time.Duration `mapstructure:"plugin-health-check-after"`
	// PluginHealthCheckTimeout bounds one such health check. Default 1s.
	PluginHealthCheckTimeout time.Duration `mapstructure:"plugin-health-check-timeout"`
	// Timeout is the budget for verifying one image, discovery and
	// plugins included. Default 10s.
	Timeout time.Duration `mapstructure:"timeout"`
	// Concurrency bounds the images verified at once and, per image, the
	// verification jobs run at once. Default 8.
	Concurrency int `mapstructure:"concurrency"`
	// CacheBytes is the in-memory budget of the content cache (manifests
	// and blobs by digest). Default 64 MiB.
	CacheBytes int64 `mapstructure:"cache-bytes"`
	// MemoryBudget bounds the bytes of registry content held at once for
	// verification (artifact manifests and layers, from the read to the
	// plugin's answer), shared by every key, job and configuration; the
	// content cache (CacheBytes) is counted apart. Work that cannot get
	// budget waits until its deadline (DEADLINE_EXCEEDED); an artifact
	// larger than the whole budget fails at once (LIMIT_EXCEEDED).
	// Default 16 MiB.
	MemoryBudget int64 `mapstructure:"memory-budget"`
	// RegistryConcurrency bounds the requests in flight to one registry
	// host. Default 16.
	RegistryConcurrency int `mapstructure:"registry-concurrency"`
	// Serve configures `assay serve`.
	Serve Serve `mapstructure:"serve"`
	// Cache configures the verdict cache of `assay serve`.
	Cache Cache `mapstructure:"cache"`
}

// Serve configures the Gatekeeper provider server.
type Serve struct {
	// Listen is the HTTPS address of the provider endpoints. Default ":8443".
	Listen string `mapstructure:"listen"`
	// HealthListen is the plain HTTP address of /healthz, /readyz and
	// /metrics. Default ":8081".
	HealthListen string `mapstructure:"health-listen"`
	// TLSCert and TLSKey are the PEM files of the serving certificate,
	// reloaded when they change. Required.
	TLSCert string `mapstructure:"tls-cert"`
	TLSKey  string `mapstructure:"tls-key"`
	// ClientCA is the PEM file of the CA that signs Gatekeeper's client
	// certificate, reloaded when it changes. Required unless
	// InsecureNoClientAuthUnsafe.
	ClientCA string `mapstructure:"client-ca"`
	// InsecureNoClientAuthUnsafe serves without requiring a client
	// certificate: anyone who reaches the port can make Assay query
	// registries. Default false.
	InsecureNoClientAuthUnsafe bool `mapstructure:"insecure-no-client-auth-unsafe"`
	// VerifyTimeout and MutateTimeout are the spec.timeout of the
	// Gatekeeper Providers for the verify and mutate endpoints. Defaults
	// 3s and 1s (Gatekeeper's webhook timeouts).
	VerifyTimeout time.Duration `mapstructure:"verify-timeout"`
	MutateTimeout time.Duration `mapstructure:"mutate-timeout"`
	// Margin is kept back from each timeout for the answer's way back.
	// Default 300ms.
	Margin time.Duration `mapstructure:"margin"`
	// KeyConcurrency bounds the keys of one request verified at once;
	// MaxInFlight bounds them across requests. Defaults 16 and 128.
	KeyConcurrency int `mapstructure:"key-concurrency"`
	MaxInFlight    int `mapstructure:"max-in-flight"`
	// MaxRequests bounds the requests answered at once; one beyond it
	// gets a systemError saying the provider is saturated. Default 1000.
	MaxRequests int `mapstructure:"max-requests"`
	// MaxBodyBytes bounds a request body. Default 1 MiB.
	MaxBodyBytes int64 `mapstructure:"max-body-bytes"`
	// ConfigSource is where the Store, Verifier and Policy objects come
	// from: "file" (the --config file, watched; the default) or
	// "cluster" (the custom resources of the cluster, watched by
	// controllers that also write their status).
	ConfigSource string `mapstructure:"config-source"`
	// Kubeconfig is the kubeconfig file for ConfigSource "cluster"; empty
	// means $KUBECONFIG or the in-cluster configuration.
	Kubeconfig string `mapstructure:"kubeconfig"`
	// LeaderElect elects one replica to write status (every replica
	// serves). LeaderElectionNamespace holds the Lease; default
	// $POD_NAMESPACE, else "assay-system".
	LeaderElect             bool   `mapstructure:"leader-elect"`
	LeaderElectionNamespace string `mapstructure:"leader-election-namespace"`
	// PodPullSecrets uses the registry credentials a Pod may use, its
	// imagePullSecrets and its ServiceAccount's, for the keys that name
	// them ("[namespace;serviceAccount=sa;pullSecrets=a,b]image"), before
	// the Store's. It reads ServiceAccounts and Secrets in the Pods'
	// namespaces, so it needs ConfigSource "cluster" and that access.
	// Default false.
	PodPullSecrets bool `mapstructure:"pod-pull-secrets"`
	// Pprof serves Go's profiles under /debug/pprof/ on HealthListen.
	// Default false: the health port is plain HTTP without authentication.
	Pprof bool `mapstructure:"pprof"`
}

// Cache configures the verdict cache.
type Cache struct {
	// VerdictBytes is the in-memory verdict cache's budget. Default 32
	// MiB; 0 disables the in-memory cache. Ignored when Redis.Address is set.
	VerdictBytes int64 `mapstructure:"verdict-bytes"`
	// VerdictTTL is how long a passing verdict is reused. Default 5m.
	VerdictTTL time.Duration `mapstructure:"verdict-ttl"`
	// FailureTTL is how long a failing verdict is reused. Default 30s.
	FailureTTL time.Duration `mapstructure:"failure-ttl"`
	// TagTTL is how long a tag's resolution is reused; ReferrersTTL how
	// long a referrers listing is. Defaults 10s; negative disables.
	TagTTL       time.Duration `mapstructure:"tag-ttl"`
	ReferrersTTL time.Duration `mapstructure:"referrers-ttl"`
	// Redis, when Address is set, holds the verdicts instead, shared by
	// every replica.
	Redis Redis `mapstructure:"redis"`
}

// Redis locates the shared verdict cache.
type Redis struct {
	// Address is host:port. Empty means no Redis.
	Address  string `mapstructure:"address"`
	Username string `mapstructure:"username"`
	Password string `mapstructure:"password"`
	DB       int    `mapstructure:"db"`
	// KeyPrefix namespaces Assay's keys. Default "assay:verdict:".
	KeyPrefix string `mapstructure:"key-prefix"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `mapstructure:"level"`
	// Format is text or json. Default text.
	Format string `mapstructure:"format"`
}

// Default returns the defaults documented on each field.
func Default() Config {
	return Config{
		Log:                      Log{Level: "info", Format: "text"},
		PluginDir:                "bin/plugins",
		PluginIdleTimeout:        5 * time.Minute,
		PluginHealthCheckAfter:   2 * time.Second,
		PluginHealthCheckTimeout: time.Second,
		Timeout:                  10 * time.Second,
		Concurrency:              8,
		CacheBytes:               64 << 20,
		MemoryBudget:             16 << 20,
		RegistryConcurrency:      16,
		Serve: Serve{
			Listen:         ":8443",
			HealthListen:   ":8081",
			VerifyTimeout:  3 * time.Second,
			MutateTimeout:  time.Second,
			Margin:         300 * time.Millisecond,
			KeyConcurrency: 16,
			MaxInFlight:    128,
			MaxRequests:    1000,
			MaxBodyBytes:   1 << 20,
			ConfigSource:   "file",
		},
		Cache: Cache{
			VerdictBytes: 32 << 20,
			VerdictTTL:   5 * time.Minute,
			FailureTTL:   30 * time.Second,
			TagTTL:       10 * time.Second,
			ReferrersTTL: 10 * time.Second,
			Redis:        Redis{KeyPrefix: "assay:verdict:"},
		},
	}
}

// ValidateServe reports every invalid setting of `assay serve`, naming
// its key; Validate checks what every command needs.
func (c Config) ValidateServe() error {
	s := c.Serve
	var errs []error
	if s.ConfigSource != "file" && s.ConfigSource != "cluster" {
		errs = append(errs, fmt.Errorf("serve.config-source: %q is not file or cluster", s.ConfigSource))
	}
	if s.PodPullSecrets && s.ConfigSource != "cluster" {
		errs = append(errs, errors.New("serve.pod-pull-secrets: reads the Pods' Secrets from the cluster, so it needs serve.config-source cluster"))
	}
	if s.Listen == "" {
		errs = append(errs, errors.New("serve.listen: must not be empty"))
	}
	if s.TLSCert == "" || s.TLSKey == "" {
		errs = append(errs, errors.New("serve.tls-cert and serve.tls-key: the provider serves HTTPS only; give the serving certificate and key"))
	}
	if s.ClientCA == "" && !s.InsecureNoClientAuthUnsafe {
		errs = append(errs, errors.New("serve.client-ca: give the CA of Gatekeeper's client certificate, or set serve.insecure-no-client-auth-unsafe to accept any client"))
	}
	if s.VerifyTimeout < time.Second || s.MutateTimeout < time.Second {
		errs = append(errs, fmt.Errorf("serve.verify-timeout and serve.mutate-timeout: Gatekeeper's Provider timeout is whole seconds, at least 1s; got %s and %s", s.VerifyTimeout, s.MutateTimeout))
	}
	if s.Margin <= 0 || s.Margin >= s.VerifyTimeout || s.Margin >= s.MutateTimeout {
		errs = append(errs, fmt.Errorf("serve.margin: must be positive and shorter than both timeouts, got %s", s.Margin))
	}
	if s.KeyConcurrency <= 0 || s.MaxInFlight <= 0 || s.MaxRequests <= 0 || s.MaxBodyBytes <= 0 {
		errs = append(errs, fmt.Errorf("serve.key-concurrency, serve.max-in-flight, serve.max-requests and serve.max-body-bytes: must be positive, got %d, %d, %d and %d", s.KeyConcurrency, s.MaxInFlight, s.MaxRequests, s.MaxBodyBytes))
	}
	if c.Cache.VerdictBytes < 0 {
		errs = append(errs, fmt.Errorf("cache.verdict-bytes: must not be negative, got %d", c.Cache.VerdictBytes))
	}
	if c.Cache.VerdictTTL <= 0 || c.Cache.FailureTTL <= 0 {
		errs = append(errs, fmt.Errorf("cache.verdict-ttl and cache.failure-ttl: must be positive, got %s and %s", c.Cache.VerdictTTL, c.Cache.FailureTTL))
	}
	return errors.Join(errs...)
}

// Validate reports every invalid setting, naming its key.
func (c Config) Validate() error {
	var errs []error
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		errs = append(errs, fmt.Errorf("log.format: %q is not text or json", c.Log.Format))
	}
	if c.PluginDir == "" {
		errs = append(errs, errors.New("plugin-dir: must not be empty"))
	}
	if c.PluginHealthCheckAfter == 0 {
		errs = append(errs, errors.New("plugin-health-check-after: must not be 0; write a duration such as 2s, or a negative one to turn health checks off"))
	}
	if c.PluginHealthCheckTimeout <= 0 {
		errs = append(errs, fmt.Errorf("plugin-health-check-timeout: must be positive, got %s", c.PluginHealthCheckTimeout))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	if c.Concurrency <= 0 {
		errs = append(errs, fmt.Errorf("concurrency: must be positive, got %d", c.Concurrency))
	}
	if c.RegistryConcurrency <= 0 {
		errs = append(errs, fmt.Errorf("registry-concurrency: must be positive, got %d", c.RegistryConcurrency))
	}
	if c.MemoryBudget <= 0 {
		errs = append(errs, fmt.Errorf("memory-budget: must be a positive number of bytes, got %d", c.MemoryBudget))
	}
	if c.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("cache-bytes: must not be negative, got %d", c.CacheBytes))
	}
	return errors.Join(errs...)
}
