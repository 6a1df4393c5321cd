// Package registrytest starts real OCI registries on loopback for tests
// and the demo: olareg in-process (it implements the OCI 1.1 referrers
// API) and the distribution v3 registry binary as its own process (no
// referrers API, so clients fall back to the referrers tag schema).
package registrytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
)

// Server is a running registry.
type Server struct {
	host  string
	close func()
}

// Host returns "127.0.0.1:port"; the registry speaks plain HTTP.
func (s *Server) Host() string { return s.host }

// Close stops the registry. It is safe to call more than once.
func (s *Server) Close() {
	if s.close != nil {
		s.close()
		s.close = nil
	}
}

// StartOlareg starts olareg in-process with in-memory storage. The caller
// must Close it.
func StartOlareg() (*Server, error) { return startOlareg(nil) }

// startOlareg serves olareg through wrap, if not nil.
func startOlareg(wrap func(http.Handler) http.Handler) (*Server, error) {
	reg := olareg.New(config.Config{Storage: config.ConfigStorage{StoreType: config.StoreMem}})
	var h http.Handler = reg
	if wrap != nil {
		h = wrap(reg)
	}
	ts := httptest.NewServer(h)
	return &Server{
		host: strings.TrimPrefix(ts.URL, "http://"),
		close: func() {
			ts.Close()
			_ = reg.Close()
		},
	}, nil
}

// NewOlareg starts olareg in-process and stops it when the test ends.
func NewOlareg(t testing.TB) *Server { t.Helper(); return NewOlaregBehind(t, nil) }

// NewOlaregBehind starts olareg in-process behind wrap, a middleware that
// can refuse, delay or alter requests (authentication, throttling), and
// stops it when the test ends.
func NewOlaregBehind(t testing.TB, wrap func(http.Handler) http.Handler) *Server {
	t.Helper()
	s, err := startOlareg(wrap)
	if err != nil {
		t.Fatalf("start olareg: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// DistributionBinary locates the distribution v3 registry binary: the
// ASSAY_DISTRIBUTION_BIN environment variable, else .tools/bin/registry in
// the repository root (installed by `make tools`).
func DistributionBinary() (string, error) {
	if p := os.Getenv("ASSAY_DISTRIBUTION_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ASSAY_DISTRIBUTION_BIN: %w", err)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".tools", "bin", "registry")
			if _, err := os.Stat(p); err != nil {
				return "", fmt.Errorf("distribution registry binary not found at %s; run `make tools`", p)
			}
			return p, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("distribution registry binary not found: no go.mod above the working directory; set ASSAY_DISTRIBUTION_BIN or run `make tools`")
		}
		dir = parent
	}
}

// RunDistribution runs the distribution v3 registry binary on a free
// loopback port with storage in dir, and waits until it answers /v2/. The
// caller must Close it.
func RunDistribution(ctx context.Context, dir string) (*Server, error) {
	bin, err := DistributionBinary()
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	cfg := filepath.Join(dir, "config.yml")
	conf := fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, filepath.Join(dir, "data"), addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	s := &Server{host: addr, close: func() {
		_ = cmd.Process.Kill()
		<-exited
		logFile.Close()
	}}
	if err := waitReady(ctx, "http://"+addr+"/v2/", exited); err != nil {
		s.Close()
		log, _ := os.ReadFile(logFile.Name())
		return nil, fmt.Errorf("distribution registry at %s: %w\n%s", addr, err, log)
	}
	return s, nil
}

// StartDistribution starts the distribution registry for one test and
// stops it when the test ends.
func StartDistribution(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := RunDistribution(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("%v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func waitReady(ctx context.Context, url string, exited <-chan error) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-exited:
			return fmt.Errorf("exited before it was ready: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
