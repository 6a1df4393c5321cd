package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// TLSOptions configure ServerTLS.
type TLSOptions struct {
	// CertFile and KeyFile hold the serving certificate and its key.
	// Required.
	CertFile, KeyFile string
	// ClientCA holds the PEM CA bundle client certificates must chain
	// to. Required unless NoClientAuth.
	ClientCA string
	// NoClientAuth accepts clients without a certificate (unsafe).
	NoClientAuth bool
	// Logger receives, at error level, each reload of a changed file
	// that fails (naming the file; the previous material stays in use),
	// and at info level each successful one. If nil, nothing is logged.
	Logger *slog.Logger
	// Metrics counts the reloads. If nil, nothing is counted.
	Metrics *Metrics
	// PollInterval is how often the files are checked for a change. If
	// 0, DefaultTLSPollInterval.
	PollInterval time.Duration
}

// DefaultTLSPollInterval is how often ServerTLS checks its files for a
// change.
const DefaultTLSPollInterval = time.Second

// ServerTLS builds the provider's TLS 1.3 configuration: the serving
// certificate read by certwatcher, and the client CA pool. The returned
// function watches the certificate and key until ctx is done: when
// either file changes (its modification time or size) both are re-read,
// and a pair that does not load is logged and counted while the
// previous certificate keeps serving. The client CA file is checked
// once per handshake in the same way.
func ServerTLS(o TLSOptions) (*tls.Config, func(context.Context) error, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.PollInterval <= 0 {
		o.PollInterval = DefaultTLSPollInterval
	}
	cw, err := certwatcher.New(o.CertFile, o.KeyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("serve.tls-cert/serve.tls-key: %w", err)
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: cw.GetCertificate,
	}
	w := &certFiles{o: o, cw: cw}
	w.last = w.stat()
	if o.NoClientAuth {
		return base, w.run, nil
	}
	ca, err := newCAFile(o)
	if err != nil {
		return nil, nil, err
	}
	base.ClientAuth = tls.RequireAndVerifyClientCert
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = ca.pool()
		return c, nil
	}
	return base, w.run, nil
}

// fileStamp is what tells a changed file: modification time and size
// (zero when the file cannot be read).
type fileStamp struct {
	modTime time.Time
	size    int64
}

func stampOf(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

// certFiles re-reads the serving certificate when its files change.
type certFiles struct {
	o    TLSOptions
	cw   *certwatcher.CertWatcher
	last [2]fileStamp
}

func (w *certFiles) stat() [2]fileStamp {
	return [2]fileStamp{stampOf(w.o.CertFile), stampOf(w.o.KeyFile)}
}

func (w *certFiles) run(ctx context.Context) error {
	t := time.NewTicker(w.o.PollInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			w.check()
		}
	}
}

// check reloads the pair once per change of either file.
func (w *certFiles) check() {
	now := w.stat()
	if now == w.last {
		return
	}
	w.last = now
	if err := w.cw.ReadCertificate(); err != nil {
		w.o.Metrics.tlsReload(tlsFileCert, false)
		w.o.Logger.Error("serving certificate not reloaded; the previous one stays in use",
			"cert", w.o.CertFile, "key", w.o.KeyFile, "error", err.Error())
		return
	}
	w.o.Metrics.tlsReload(tlsFileCert, true)
	w.o.Logger.Info("serving certificate reloaded", "cert", w.o.CertFile, "key", w.o.KeyFile)
}

// caFile is a PEM CA bundle re-read when it changes on disk.
type caFile struct {
	o TLSOptions

	mu   sync.Mutex
	last fileStamp // of the last read, good or bad
	cur  *x509.CertPool
}

func newCAFile(o TLSOptions) (*caFile, error) {
	c := &caFile{o: o}
	pool, err := c.read()
	if err != nil {
		return nil, err
	}
	c.cur, c.last = pool, stampOf(o.ClientCA)
	return c, nil
}

// read parses the file.
func (c *caFile) read() (*x509.CertPool, error) {
	data, err := os.ReadFile(c.o.ClientCA)
	if err != nil {
		return nil, fmt.Errorf("serve.client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("serve.client-ca: %s holds no PEM certificate", c.o.ClientCA)
	}
	return pool, nil
}

// pool returns the current pool, re-reading the file once per change.
// A file that became unreadable or invalid is logged and counted once,
// and the last good pool stays.
func (c *caFile) pool() *x509.CertPool {
	now := stampOf(c.o.ClientCA)
	c.mu.Lock()
	defer c.mu.Unlock()
	if now == c.last {
		return c.cur
	}
	c.last = now
	pool, err := c.read()
	if err != nil {
		c.o.Metrics.tlsReload(tlsFileClientCA, false)
		c.o.Logger.Error("client CA not reloaded; the previous one stays in use", "clientCA", c.o.ClientCA, "error", err.Error())
		return c.cur
	}
	c.o.Metrics.tlsReload(tlsFileClientCA, true)
	c.o.Logger.Info("client CA reloaded", "clientCA", c.o.ClientCA)
	c.cur = pool
	return pool
}
