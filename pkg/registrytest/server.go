package registrytest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
	"oras.land/oras-go/v2/registry/remote"
)

// Server is a running registry on loopback, speaking plain HTTP.
type Server struct {
	host      string
	closeOnce sync.Once
	close     func()
}

// Host returns the registry's "127.0.0.1:port".
func (s *Server) Host() string { return s.host }

// RepositoryName returns the normalised name of the repository path on
// this registry: "127.0.0.1:port/path".
func (s *Server) RepositoryName(path string) string { return s.host + "/" + path }

// Repository returns an oras-go repository for path on this registry,
// speaking plain HTTP, without credentials, for pushing fixtures. It
// fails the test if path is not a valid repository path.
func (s *Server) Repository(t testing.TB, path string) *remote.Repository {
	t.Helper()
	repo, err := remote.NewRepository(s.RepositoryName(path))
	if err != nil {
		t.Fatalf("repository %s: %v", path, err)
	}
	repo.PlainHTTP = true
	return repo
}

// Close stops the registry and waits for it to be gone. It is safe to
// call more than once and from several goroutines.
func (s *Server) Close() { s.closeOnce.Do(s.close) }

// StartOlareg starts olareg in-process with in-memory storage, for
// programs such as the demo. The caller must Close it. Tests use
// NewOlareg.
func StartOlareg() (*Server, error) { return startOlareg(nil) }

// StartOlaregBehind is StartOlareg behind wrap, a middleware that sees,
// and may refuse, delay or alter, every request (the load harness counts
// and throttles them). The caller must Close it. Tests use
// NewOlaregBehind.
func StartOlaregBehind(wrap func(http.Handler) http.Handler) (*Server, error) {
	return startOlareg(wrap)
}

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

// NewOlareg starts olareg in-process with in-memory storage and stops it
// when the test ends. olareg implements the OCI 1.1 referrers API.
func NewOlareg(t testing.TB) *Server {
	t.Helper()
	return NewOlaregBehind(t, nil)
}

// NewOlaregBehind starts olareg in-process behind wrap, a middleware that
// may refuse, delay or alter requests (BasicAuth, BearerAuth, a test's
// throttling), and stops it when the test ends. A nil wrap serves olareg
// directly.
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
// ASSAY_DISTRIBUTION_BIN environment variable if set, else
// .tools/bin/registry in the repository root, the first directory above
// the working directory that holds a go.mod. The error says to run
// `make tools` when the binary is missing.
func DistributionBinary() (string, error) {
	if p := os.Getenv("ASSAY_DISTRIBUTION_BIN"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("ASSAY_DISTRIBUTION_BIN: %w; run `make tools`", err)
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
// loopback port with its configuration, filesystem storage and log in
// dir, and returns once it answers GET /v2/ with 200. The caller must
// Close it, which kills the process and waits for it to exit. It gives up
// when ctx is done. The registry has no referrers API.
func RunDistribution(ctx context.Context, dir string) (*Server, error) {
	bin, err := DistributionBinary()
	if err != nil {
		return nil, err
	}
	// The port is picked by listening and closing; another process may
	// take it before the registry binds it, so try a few times.
	var errs []error
	for attempt := range 3 {
		s, err := runDistribution(ctx, bin, filepath.Join(dir, fmt.Sprint(attempt)))
		if err == nil {
			return s, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

func runDistribution(ctx context.Context, bin, dir string) (*Server, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return nil, err
	}
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
	logPath := filepath.Join(dir, "registry.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Env = append(os.Environ(), "OTEL_TRACES_EXPORTER=none", "OTEL_SDK_DISABLED=true")
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	exited := make(chan struct{}) // closed once waitErr is set
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	s := &Server{host: addr, close: func() {
		_ = cmd.Process.Kill()
		<-exited
		_ = logFile.Close()
	}}
	if err := waitReady(ctx, "http://"+addr+"/v2/", exited); err != nil {
		if errors.Is(err, errExited) {
			err = fmt.Errorf("%w: %v", err, waitErr)
		}
		s.Close()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("distribution registry at %s: %w\n%s", addr, err, log)
	}
	return s, nil
}

// StartDistribution runs the distribution v3 registry binary for one test
// (see RunDistribution) and kills it when the test ends. It fails the
// test, telling to run `make tools`, when the binary is missing.
func StartDistribution(t testing.TB) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := RunDistribution(ctx, t.TempDir())
	if err != nil {
		t.Fatalf("start the distribution registry: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// StartDistributionBehind is StartDistribution with a reverse proxy in
// front that passes every request through wrap (a middleware that may
// count, refuse, delay or alter requests). The Server returned is the
// proxy; both are stopped when the test ends.
func StartDistributionBehind(t testing.TB, wrap func(http.Handler) http.Handler) *Server {
	t.Helper()
	backend := StartDistribution(t)
	var h http.Handler = httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "http", Host: backend.Host()})
	if wrap != nil {
		h = wrap(h)
	}
	ts := httptest.NewServer(h)
	s := &Server{host: strings.TrimPrefix(ts.URL, "http://"), close: ts.Close}
	t.Cleanup(s.Close)
	return s
}

var errExited = errors.New("exited before it was ready")

// waitReady polls url until it answers 200, exited is closed, or ctx is
// done.
func waitReady(ctx context.Context, url string, exited <-chan struct{}) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errExited
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w", ctx.Err())
		case <-tick.C:
		}
	}
}
