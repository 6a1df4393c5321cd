package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/assayproj/assay/pkg/config"
	"github.com/assayproj/assay/pkg/ociimage"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/report"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
)

// setting is one process setting: its key in the settings file (and, as
// ASSAY_<KEY>, in the environment), its flag if it has one, on which
// command, and its help. Defaults come from config.Default, through get.
type setting struct {
	key  string
	flag string // "" when the setting has no flag
	// serve puts the flag on `assay serve` only; otherwise it is a
	// persistent flag of every command.
	serve bool
	help  string
	get   func(config.Config) any
}

// settings returns the one table of process settings: viper's defaults,
// the flags and their binding are all made from it.
func settings() []setting {
	return []setting{
		{key: "log.level", flag: "log-level", help: "log level: debug, info, warn or error", get: func(c config.Config) any { return c.Log.Level }},
		{key: "log.format", flag: "log-format", help: "log format: text or json", get: func(c config.Config) any { return c.Log.Format }},
		{key: "plugin-dir", flag: "plugin-dir", help: "directory holding plugin binaries and their SHA256SUMS", get: func(c config.Config) any { return c.PluginDir }},
		{key: "plugin-idle-timeout", flag: "plugin-idle-timeout", help: "stop a plugin process idle this long (started again on its next use); negative keeps it running", get: func(c config.Config) any { return c.PluginIdleTimeout }},
		{key: "plugin-health-check-after", flag: "plugin-health-check-after", help: "health-check a plugin process whose calls have had no answer this long, and replace it if it misses the check; negative never checks", get: func(c config.Config) any { return c.PluginHealthCheckAfter }},
		{key: "plugin-health-check-timeout", flag: "plugin-health-check-timeout", help: "how long a plugin has to answer a health check", get: func(c config.Config) any { return c.PluginHealthCheckTimeout }},
		{key: "timeout", flag: "timeout", help: "time budget for verifying one image", get: func(c config.Config) any { return c.Timeout }},
		{key: "concurrency", flag: "concurrency", help: "images verified at once, and verification jobs per image", get: func(c config.Config) any { return c.Concurrency }},
		{key: "cache-bytes", flag: "cache-bytes", help: "in-memory content cache budget in bytes, shared by every configuration", get: func(c config.Config) any { return c.CacheBytes }},
		{key: "memory-budget", flag: "memory-budget", help: "bytes of registry content held at once for verification, shared by every configuration (the content cache is counted apart)", get: func(c config.Config) any { return c.MemoryBudget }},
		{key: "registry-concurrency", flag: "registry-concurrency", help: "requests in flight to one registry host (and idle connections kept to it)", get: func(c config.Config) any { return c.RegistryConcurrency }},
		{key: "cache.tag-ttl", help: "how long a tag's resolution is reused", get: func(c config.Config) any { return c.Cache.TagTTL }},
		{key: "cache.referrers-ttl", help: "how long a referrers listing is reused", get: func(c config.Config) any { return c.Cache.ReferrersTTL }},

		{key: "serve.listen", flag: "listen", serve: true, help: "HTTPS address of the provider endpoints", get: func(c config.Config) any { return c.Serve.Listen }},
		{key: "serve.health-listen", flag: "health-listen", serve: true, help: "plain HTTP address of /healthz, /readyz and /metrics", get: func(c config.Config) any { return c.Serve.HealthListen }},
		{key: "serve.tls-cert", flag: "tls-cert", serve: true, help: "PEM file of the serving certificate (reloaded when it changes)", get: func(c config.Config) any { return c.Serve.TLSCert }},
		{key: "serve.tls-key", flag: "tls-key", serve: true, help: "PEM file of the serving key (reloaded when it changes)", get: func(c config.Config) any { return c.Serve.TLSKey }},
		{key: "serve.client-ca", flag: "client-ca", serve: true, help: "PEM file of the CA of Gatekeeper's client certificate (reloaded when it changes)", get: func(c config.Config) any { return c.Serve.ClientCA }},
		{key: "serve.insecure-no-client-auth-unsafe", flag: "insecure-no-client-auth-unsafe", serve: true, help: "UNSAFE: accept clients without a certificate", get: func(c config.Config) any { return c.Serve.InsecureNoClientAuthUnsafe }},
		{key: "serve.verify-timeout", flag: "verify-timeout", serve: true, help: "the verify Provider's spec.timeout", get: func(c config.Config) any { return c.Serve.VerifyTimeout }},
		{key: "serve.mutate-timeout", flag: "mutate-timeout", serve: true, help: "the mutate Provider's spec.timeout", get: func(c config.Config) any { return c.Serve.MutateTimeout }},
		{key: "serve.margin", flag: "margin", serve: true, help: "time kept back from each timeout for the answer's way back", get: func(c config.Config) any { return c.Serve.Margin }},
		{key: "serve.key-concurrency", flag: "key-concurrency", serve: true, help: "keys of one request verified at once", get: func(c config.Config) any { return c.Serve.KeyConcurrency }},
		{key: "serve.max-in-flight", flag: "max-in-flight", serve: true, help: "keys verified at once across requests", get: func(c config.Config) any { return c.Serve.MaxInFlight }},
		{key: "serve.max-requests", flag: "max-requests", serve: true, help: "requests answered at once; beyond it a request gets a systemError saying the provider is saturated", get: func(c config.Config) any { return c.Serve.MaxRequests }},
		{key: "serve.max-body-bytes", flag: "max-body-bytes", serve: true, help: "request body limit in bytes", get: func(c config.Config) any { return c.Serve.MaxBodyBytes }},
		{key: "serve.config-source", flag: "config-source", serve: true, help: "where the Store, Verifier and Policy objects come from: file (--config) or cluster (custom resources)", get: func(c config.Config) any { return c.Serve.ConfigSource }},
		{key: "serve.kubeconfig", flag: "kubeconfig", serve: true, help: "kubeconfig for --config-source cluster (default: $KUBECONFIG or in-cluster)", get: func(c config.Config) any { return c.Serve.Kubeconfig }},
		{key: "serve.leader-elect", flag: "leader-elect", serve: true, help: "elect one replica to write the objects' status (every replica serves)", get: func(c config.Config) any { return c.Serve.LeaderElect }},
		{key: "serve.leader-election-namespace", help: "namespace of the leader election Lease (default $POD_NAMESPACE, else assay-system)", get: func(c config.Config) any { return c.Serve.LeaderElectionNamespace }},
		{key: "serve.pod-pull-secrets", flag: "pod-pull-secrets", serve: true, help: "use the imagePullSecrets of the Pod and of its ServiceAccount named by a key (needs --config-source cluster and read access to those Secrets)", get: func(c config.Config) any { return c.Serve.PodPullSecrets }},
		{key: "serve.pprof", flag: "pprof", serve: true, help: "serve Go's profiles under /debug/pprof/ on --health-listen (unauthenticated: keep that port private)", get: func(c config.Config) any { return c.Serve.Pprof }},
		{key: "cache.verdict-bytes", flag: "verdict-cache-bytes", serve: true, help: "in-memory verdict cache budget in bytes (0 disables it)", get: func(c config.Config) any { return c.Cache.VerdictBytes }},
		{key: "cache.verdict-ttl", flag: "verdict-ttl", serve: true, help: "how long a passing verdict is reused", get: func(c config.Config) any { return c.Cache.VerdictTTL }},
		{key: "cache.failure-ttl", flag: "failure-ttl", serve: true, help: "how long a failing verdict is reused", get: func(c config.Config) any { return c.Cache.FailureTTL }},
		{key: "cache.redis.address", flag: "redis-address", serve: true, help: "host:port of a Redis shared by replicas for verdicts (password from ASSAY_CACHE_REDIS_PASSWORD)", get: func(c config.Config) any { return c.Cache.Redis.Address }},
		{key: "cache.redis.username", help: "Redis username", get: func(c config.Config) any { return c.Cache.Redis.Username }},
		{key: "cache.redis.password", help: "Redis password", get: func(c config.Config) any { return c.Cache.Redis.Password }},
		{key: "cache.redis.db", help: "Redis database number", get: func(c config.Config) any { return c.Cache.Redis.DB }},
		{key: "cache.redis.key-prefix", help: "prefix of Assay's Redis keys", get: func(c config.Config) any { return c.Cache.Redis.KeyPrefix }},
	}
}

// defaults returns config.Default with the plugin directory found from
// the assay executable (see pluginDirOf). Flags and viper take their
// defaults from it.
func defaults() config.Config {
	d := config.Default()
	if exe, err := os.Executable(); err == nil {
		d.PluginDir = pluginDirOf(exe, d.PluginDir)
	}
	return d
}

// pluginDirOf returns the default plugin directory for the assay binary
// exe: <dir of exe>/plugins, as `make build` lays out bin/assay and
// bin/plugins; else the container image's directory relative to its
// binary (/usr/bin/assay, /usr/lib/assay/plugins); else fallback
// (config.Default's bin/plugins, relative to the working directory, as
// `go run ./cmd/assay` in the repository needs). exe's symlinks are
// followed first, so a link to bin/assay on PATH finds bin/plugins.
func pluginDirOf(exe, fallback string) string {
	if real, err := filepath.EvalSymlinks(exe); err == nil {
		exe = real
	}
	dir := filepath.Dir(exe)
	candidates := []string{filepath.Join(dir, "plugins")}
	if rel, err := filepath.Rel(filepath.Dir(ociimage.BinaryPath), ociimage.PluginDir); err == nil {
		candidates = append(candidates, filepath.Join(dir, rel))
	}
	for _, c := range candidates {
		if fi, err := os.Stat(c); err == nil && fi.IsDir() {
			return c
		}
	}
	return fallback
}

// pluginDirError explains plugin.ErrNoDir with the setting that chooses
// the directory; other errors are returned as they are.
func pluginDirError(err error, dir string) error {
	if !errors.Is(err, plugin.ErrNoDir) {
		return err
	}
	return fmt.Errorf("plugin directory %q does not exist; build the plugins (make build) or set --plugin-dir / %s", dir, envName("plugin-dir"))
}

// explainDeadline says, in a report that ran out of time, what the
// budget was and which setting sets it.
func explainDeadline(rep *report.Report, budget time.Duration) {
	if rep == nil || rep.Reason != report.ReasonDeadlineExceeded {
		return
	}
	msg := fmt.Sprintf("verification did not finish within %s (--timeout)", budget)
	if rep.Message != "" {
		msg += ": " + rep.Message
	}
	rep.Message = msg
	rep.Remediation = fmt.Sprintf("Retry; if it persists, raise --timeout (or %s) above %s, or check the registry's latency.", envName("timeout"), budget)
}

// envName is the environment variable of a settings key.
func envName(key string) string {
	return "ASSAY_" + strings.ToUpper(envKeyReplacer().Replace(key))
}

// envKeyReplacer maps a settings key onto its environment variable's
// name, without the prefix.
func envKeyReplacer() *strings.Replacer { return strings.NewReplacer(".", "_", "-", "_") }

// checkKeys refuses the keys of the settings file that name no setting,
// suggesting the closest one.
func checkKeys(v *viper.Viper, file string) error {
	var known []string
	for _, s := range settings() {
		known = append(known, s.key)
	}
	var errs []error
	for _, k := range v.AllKeys() {
		if slices.Contains(known, k) {
			continue
		}
		if i := slices.IndexFunc(known, func(n string) bool { return strings.HasPrefix(n, k+".") }); i >= 0 {
			errs = append(errs, fmt.Errorf("settings file %s: %q is a group of settings (such as %q), not a value", file, k, known[i]))
			continue
		}
		if c, ok := closest(k, known); ok {
			errs = append(errs, fmt.Errorf("settings file %s: unknown setting %q; did you mean %q?", file, k, c))
			continue
		}
		errs = append(errs, fmt.Errorf("settings file %s: unknown setting %q; known settings: %s", file, k, strings.Join(known, ", ")))
	}
	return errors.Join(errs...)
}

// closest returns the name within a few edits of k, if there is one.
func closest(k string, names []string) (string, bool) {
	best, dist := "", len(k)/3+1
	for _, n := range names {
		if d := editDistance(k, n); d < dist || d == dist && best == "" && d <= 2 {
			best, dist = n, d
		}
	}
	return best, best != ""
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// checkValues refuses a setting from the environment or the settings
// file whose value does not parse as its type, naming the variable or
// file, the value and the form expected. Flags are parsed by pflag.
func checkValues(v *viper.Viper, changed func(flag string) bool, file string) error {
	d := config.Default()
	var errs []error
	for _, s := range settings() {
		if s.flag != "" && changed(s.flag) {
			continue
		}
		raw := v.Get(s.key)
		var problem string
		switch s.get(d).(type) {
		case time.Duration:
			problem = durationProblem(raw)
		case int, int64:
			problem = intProblem(raw)
		case bool:
			if str, ok := raw.(string); ok {
				if _, err := strconv.ParseBool(str); err != nil {
					problem = "not true or false"
				}
			}
		}
		if problem == "" {
			continue
		}
		if env := envName(s.key); os.Getenv(env) != "" {
			errs = append(errs, fmt.Errorf("%s=%q: %s", env, raw, problem))
		} else {
			errs = append(errs, fmt.Errorf("settings file %s: %s: %v is %s", file, s.key, raw, problem))
		}
	}
	return errors.Join(errs...)
}

func durationProblem(raw any) string {
	const want = "not a duration; write a number with a unit, such as 10s, 500ms or 1m30s"
	switch x := raw.(type) {
	case string:
		if _, err := time.ParseDuration(x); err != nil {
			return want
		}
	case time.Duration:
	default: // a bare number would be nanoseconds
		return want
	}
	return ""
}

func intProblem(raw any) string {
	switch x := raw.(type) {
	case string:
		if _, err := strconv.ParseInt(strings.TrimSpace(x), 10, 64); err != nil {
			return "not a whole number"
		}
	case float32, float64:
		if f := fmt.Sprint(x); strings.ContainsAny(f, ".e") {
			return "not a whole number"
		}
	}
	return ""
}

// addFlags defines the flags of the settings for one command (serve or
// the root's persistent ones), with the defaults' values.
func addFlags(f *pflag.FlagSet, serve bool) {
	d := defaults()
	for _, s := range settings() {
		if s.flag == "" || s.serve != serve {
			continue
		}
		switch v := s.get(d).(type) {
		case string:
			f.String(s.flag, v, s.help)
		case bool:
			f.Bool(s.flag, v, s.help)
		case int:
			f.Int(s.flag, v, s.help)
		case int64:
			f.Int64(s.flag, v, s.help)
		case time.Duration:
			f.Duration(s.flag, v, s.help)
		default:
			panic(fmt.Sprintf("setting %s: no flag type for %T", s.key, v))
		}
	}
}

// settingOfFlag returns the settings key of a flag.
func settingOfFlag(name string) (string, bool) {
	for _, s := range settings() {
		if s.flag != "" && s.flag == name {
			return s.key, true
		}
	}
	return "", false
}
