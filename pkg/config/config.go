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
	// PluginDir holds the plugin binaries and their SHA256SUMS. Default
	// "bin/plugins".
	PluginDir string `mapstructure:"plugin-dir"`
	// Timeout is the budget for verifying one image, discovery and
	// plugins included. Default 10s.
	Timeout time.Duration `mapstructure:"timeout"`
	// Concurrency bounds the images verified at once and, per image, the
	// verification jobs run at once. Default 8.
	Concurrency int `mapstructure:"concurrency"`
	// CacheBytes is the in-memory budget of the content cache (manifests
	// and blobs by digest). Default 64 MiB.
	CacheBytes int64 `mapstructure:"cache-bytes"`
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
		Log:         Log{Level: "info", Format: "text"},
		PluginDir:   "bin/plugins",
		Timeout:     10 * time.Second,
		Concurrency: 8,
		CacheBytes:  64 << 20,
	}
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
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout: must be positive, got %s", c.Timeout))
	}
	if c.Concurrency <= 0 {
		errs = append(errs, fmt.Errorf("concurrency: must be positive, got %d", c.Concurrency))
	}
	if c.CacheBytes < 0 {
		errs = append(errs, fmt.Errorf("cache-bytes: must not be negative, got %d", c.CacheBytes))
	}
	return errors.Join(errs...)
}
