package provider

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
)

// ServerTLS builds the provider's TLS 1.3 configuration: the serving certificate
// from certwatcher, and the client CA pool re-read whenever the file's
// modification time or size changes (checked once per handshake).
// noClientAuth accepts clients without a certificate (unsafe). The
// returned function watches the certificate files until ctx is done.
func ServerTLS(certFile, keyFile, caFile string, noClientAuth bool) (*tls.Config, func(context.Context) error, error) {
	cw, err := certwatcher.New(certFile, keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("serve.tls-cert/serve.tls-key: %w", err)
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS13,
		GetCertificate: cw.GetCertificate,
	}
	if noClientAuth {
		return base, cw.Start, nil
	}
	ca, err := newCAFile(caFile)
	if err != nil {
		return nil, nil, err
	}
	base.ClientAuth = tls.RequireAndVerifyClientCert
	base.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		pool, err := ca.pool()
		if err != nil {
			return nil, err
		}
		c := base.Clone()
		c.GetConfigForClient = nil
		c.ClientCAs = pool
		return c, nil
	}
	return base, cw.Start, nil
}

// caFile is a PEM CA bundle re-read when it changes on disk.
type caFile struct {
	path string

	mu      sync.Mutex
	modTime time.Time
	size    int64
	cur     *x509.CertPool
}

func newCAFile(path string) (*caFile, error) {
	c := &caFile{path: path}
	if _, err := c.pool(); err != nil {
		return nil, err
	}
	return c, nil
}

// pool returns the current pool, re-reading the file if it changed. A
// file that became unreadable or invalid keeps the last good pool.
func (c *caFile) pool() (*x509.CertPool, error) {
	fi, err := os.Stat(c.path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		if c.cur != nil {
			return c.cur, nil
		}
		return nil, fmt.Errorf("serve.client-ca: %w", err)
	}
	if c.cur != nil && fi.ModTime().Equal(c.modTime) && fi.Size() == c.size {
		return c.cur, nil
	}
	data, err := os.ReadFile(c.path)
	if err != nil {
		if c.cur != nil {
			return c.cur, nil
		}
		return nil, fmt.Errorf("serve.client-ca: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		if c.cur != nil {
			return c.cur, nil
		}
		return nil, fmt.Errorf("serve.client-ca: %s holds no PEM certificate", c.path)
	}
	c.cur, c.modTime, c.size = pool, fi.ModTime(), fi.Size()
	return pool, nil
}
