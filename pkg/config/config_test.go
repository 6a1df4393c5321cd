package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/config"
)

func TestDefaultsAreValid(t *testing.T) {
	c := config.Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c.Serve.TLSCert, c.Serve.TLSKey, c.Serve.ClientCA = "tls.crt", "tls.key", "ca.crt"
	if err := c.ValidateServe(); err != nil {
		t.Fatalf("ValidateServe: %v", err)
	}
}

func TestValidateServeNamesEveryBadKey(t *testing.T) {
	tests := map[string]struct {
		change func(*config.Config)
		want   []string
	}{
		"no serving certificate": {
			func(c *config.Config) { c.Serve.TLSCert = "" },
			[]string{"serve.tls-cert and serve.tls-key"},
		},
		"no client CA and client authentication on": {
			func(c *config.Config) { c.Serve.ClientCA = "" },
			[]string{"serve.client-ca", "serve.insecure-no-client-auth-unsafe"},
		},
		"a timeout shorter than Gatekeeper's minimum": {
			func(c *config.Config) { c.Serve.MutateTimeout = 500 * time.Millisecond },
			[]string{"at least 1s", "500ms"},
		},
		"a margin as long as a timeout": {
			func(c *config.Config) { c.Serve.Margin = time.Second },
			[]string{"serve.margin"},
		},
		"zero concurrency": {
			func(c *config.Config) { c.Serve.KeyConcurrency = 0 },
			[]string{"serve.key-concurrency"},
		},
		"negative verdict cache": {
			func(c *config.Config) { c.Cache.VerdictBytes = -1 },
			[]string{"cache.verdict-bytes"},
		},
		"the Pods' pull Secrets without the cluster": {
			func(c *config.Config) { c.Serve.PodPullSecrets = true },
			[]string{"serve.pod-pull-secrets", "serve.config-source cluster"},
		},
		"two problems at once": {
			func(c *config.Config) { c.Serve.Listen = ""; c.Cache.FailureTTL = 0 },
			[]string{"serve.listen", "cache.failure-ttl"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := config.Default()
			c.Serve.TLSCert, c.Serve.TLSKey, c.Serve.ClientCA = "tls.crt", "tls.key", "ca.crt"
			tc.change(&c)
			err := c.ValidateServe()
			if err == nil {
				t.Fatal("ValidateServe accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestValidateNamesEveryBadKey(t *testing.T) {
	tests := map[string]struct {
		change func(*config.Config)
		want   []string
	}{
		"plugin health checks after 0": {
			func(c *config.Config) { c.PluginHealthCheckAfter = 0 },
			[]string{"plugin-health-check-after", "negative"},
		},
		"a plugin health check timeout that is not positive": {
			func(c *config.Config) { c.PluginHealthCheckTimeout = -time.Second },
			[]string{"plugin-health-check-timeout", "-1s"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := config.Default()
			tc.change(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate accepted it")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNoClientCAIsAcceptedOnlyWhenExplicitlyUnsafe(t *testing.T) {
	c := config.Default()
	c.Serve.TLSCert, c.Serve.TLSKey = "tls.crt", "tls.key"
	c.Serve.InsecureNoClientAuthUnsafe = true
	if err := c.ValidateServe(); err != nil {
		t.Fatal(err)
	}
}
