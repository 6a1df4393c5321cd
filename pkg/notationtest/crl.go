package notationtest

import (
	"crypto/rand"
	"crypto/x509"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
)

// DefaultCRLValidity is the gap between a served CRL's thisUpdate and
// nextUpdate when CRLServerOptions.Validity is zero. notation-core-go caches
// a CRL until its nextUpdate.
const DefaultCRLValidity = time.Hour

// CRLServerOptions configures NewCRLServer.
type CRLServerOptions struct {
	// Validity is nextUpdate minus thisUpdate of every served CRL. If <= 0,
	// DefaultCRLValidity is used.
	Validity time.Duration
}

// CRLServer serves a CRL (RFC 5280 section 5) signed by one CA at URL, on
// loopback over plain http, the only scheme notation-core-go fetches. Each
// request gets a freshly signed CRL with an increasing CRL number that
// lists every serial revoked so far. It is safe for concurrent use.
type CRLServer struct {
	issuer   *CA
	validity time.Duration
	server   *httptest.Server

	mu       sync.Mutex
	revoked  []x509.RevocationListEntry
	number   int64
	requests int
	down     bool
}

// NewCRLServer starts a CRL server for issuer. Write URL into the
// certificates issuer signs (LeafOptions.CRLURL) and Close the server when
// done.
func NewCRLServer(issuer *CA, opts CRLServerOptions) (*CRLServer, error) {
	if issuer == nil {
		return nil, errNilCA
	}
	validity := opts.Validity
	if validity <= 0 {
		validity = DefaultCRLValidity
	}
	s := &CRLServer{issuer: issuer, validity: validity}
	s.server = httptest.NewServer(s)
	return s, nil
}

// URL is the CRL's address, suitable as a CRL distribution point.
func (s *CRLServer) URL() string { return s.server.URL + "/ca.crl" }

// Close stops the server.
func (s *CRLServer) Close() { s.server.Close() }

// Revoke adds serial to the CRL with reason keyCompromise, revoked now.
func (s *CRLServer) Revoke(serial *big.Int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked = append(s.revoked, x509.RevocationListEntry{
		SerialNumber:   new(big.Int).Set(serial),
		RevocationTime: time.Now().UTC(),
		ReasonCode:     1, // keyCompromise
	})
}

// SetDown makes the server answer 503 (down is true) or serve the CRL
// again (down is false), to exercise an unreachable revocation endpoint.
func (s *CRLServer) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

// Requests returns how many CRL requests the server has received.
func (s *CRLServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// CRL returns the DER CRL the server would serve now.
func (s *CRLServer) CRL() ([]byte, error) {
	s.mu.Lock()
	s.number++
	tmpl := &x509.RevocationList{
		Number:                    big.NewInt(s.number),
		ThisUpdate:                time.Now().Add(-time.Minute),
		NextUpdate:                time.Now().Add(s.validity),
		RevokedCertificateEntries: append([]x509.RevocationListEntry(nil), s.revoked...),
	}
	s.mu.Unlock()
	der, err := x509.CreateRevocationList(rand.Reader, tmpl, s.issuer.Cert, s.issuer.Key)
	if err != nil {
		return nil, fmt.Errorf("notationtest: create CRL: %w", err)
	}
	return der, nil
}

// ServeHTTP serves the CRL as application/pkix-crl.
func (s *CRLServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	down := s.down
	s.mu.Unlock()
	if down {
		http.Error(w, "CRL endpoint down", http.StatusServiceUnavailable)
		return
	}
	der, err := s.CRL()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/pkix-crl")
	_, _ = w.Write(der)
}
