package cache

import (
	"crypto/tls"
	"testing"
	"time"
)

func TestNewRedisAppliesDefaultsAndKeepsWhatIsSet(t *testing.T) {
	tlsConfig := &tls.Config{ServerName: "redis.example", MinVersion: tls.VersionTLS12}
	tests := map[string]struct {
		opts RedisOptions
		want RedisOptions // Address, Username, Password, DB and TLS are compared as given
	}{
		"an address alone gets the short admission-path defaults": {
			opts: RedisOptions{Address: "redis:6379"},
			want: RedisOptions{
				Address:      "redis:6379",
				KeyPrefix:    "assay:verdict:",
				DialTimeout:  500 * time.Millisecond,
				ReadTimeout:  200 * time.Millisecond,
				WriteTimeout: 200 * time.Millisecond,
			},
		},
		"negative timeouts get the defaults too": {
			opts: RedisOptions{Address: "redis:6379", DialTimeout: -1, ReadTimeout: -1, WriteTimeout: -time.Second},
			want: RedisOptions{
				Address:      "redis:6379",
				KeyPrefix:    "assay:verdict:",
				DialTimeout:  500 * time.Millisecond,
				ReadTimeout:  200 * time.Millisecond,
				WriteTimeout: 200 * time.Millisecond,
			},
		},
		"every option set is kept": {
			opts: RedisOptions{
				Address: "10.0.0.1:6380", Username: "assay", Password: "pw", DB: 2, TLS: tlsConfig,
				KeyPrefix: "prod:", DialTimeout: time.Second, ReadTimeout: 50 * time.Millisecond, WriteTimeout: 70 * time.Millisecond,
			},
			want: RedisOptions{
				Address: "10.0.0.1:6380", Username: "assay", Password: "pw", DB: 2, TLS: tlsConfig,
				KeyPrefix: "prod:", DialTimeout: time.Second, ReadTimeout: 50 * time.Millisecond, WriteTimeout: 70 * time.Millisecond,
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			r, err := NewRedis(tc.opts)
			if err != nil {
				t.Fatalf("NewRedis: %v", err)
			}
			t.Cleanup(func() { _ = r.Close() })
			got := r.client.Options()
			if r.addr != tc.want.Address || got.Addr != tc.want.Address {
				t.Errorf("address = %q (client %q), want %q", r.addr, got.Addr, tc.want.Address)
			}
			if r.prefix != tc.want.KeyPrefix {
				t.Errorf("key prefix = %q, want %q", r.prefix, tc.want.KeyPrefix)
			}
			if got.Username != tc.want.Username || got.Password != tc.want.Password || got.DB != tc.want.DB {
				t.Errorf("credentials and db = %q, %q, %d; want %q, %q, %d", got.Username, got.Password, got.DB, tc.want.Username, tc.want.Password, tc.want.DB)
			}
			if got.TLSConfig != tc.want.TLS {
				t.Errorf("TLS config = %p, want %p", got.TLSConfig, tc.want.TLS)
			}
			if got.DialTimeout != tc.want.DialTimeout || got.ReadTimeout != tc.want.ReadTimeout || got.WriteTimeout != tc.want.WriteTimeout {
				t.Errorf("timeouts dial/read/write = %s/%s/%s, want %s/%s/%s",
					got.DialTimeout, got.ReadTimeout, got.WriteTimeout, tc.want.DialTimeout, tc.want.ReadTimeout, tc.want.WriteTimeout)
			}
			if got.PoolTimeout != tc.want.ReadTimeout {
				t.Errorf("pool timeout = %s, want the read timeout %s", got.PoolTimeout, tc.want.ReadTimeout)
			}
			if got.MaxRetries != 0 && got.MaxRetries != -1 {
				t.Errorf("MaxRetries = %d, want no retries", got.MaxRetries)
			}
			if got.DialerRetries != 1 {
				t.Errorf("DialerRetries = %d, want 1 (a single dial)", got.DialerRetries)
			}
			if !got.ContextTimeoutEnabled {
				t.Error("ContextTimeoutEnabled is false; the request's deadline would not bound commands")
			}
		})
	}
}
