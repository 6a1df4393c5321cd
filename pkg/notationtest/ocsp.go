package notationtest

import (
	"encoding/base64"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// maxOCSPRequest bounds an OCSP request body.
const maxOCSPRequest = 16 << 10

// OCSPServer is an OCSP responder (RFC 6960) for one CA on loopback. The CA
// signs responses itself (no delegated responder). Every certificate is
// "good" unless revoked with Revoke. Both GET (base64 request in the path)
// and POST are answered. It is safe for concurrent use.
type OCSPServer struct {
	issuer *CA
	server *httptest.Server

	mu       sync.Mutex
	revoked  map[string]time.Time
	requests int
}

// NewOCSPServer starts an OCSP responder for issuer. Write URL into the
// certificates issuer signs (LeafOptions.OCSPURL) and Close it when done.
func NewOCSPServer(issuer *CA) (*OCSPServer, error) {
	if issuer == nil {
		return nil, errNilCA
	}
	s := &OCSPServer{issuer: issuer, revoked: make(map[string]time.Time)}
	s.server = httptest.NewServer(s)
	return s, nil
}

// URL is the responder's address, suitable as an OCSP server in a
// certificate's authority information access.
func (s *OCSPServer) URL() string { return s.server.URL + "/ocsp" }

// Close stops the server.
func (s *OCSPServer) Close() { s.server.Close() }

// Revoke makes the responder report serial as revoked (keyCompromise).
func (s *OCSPServer) Revoke(serial *big.Int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.revoked[serial.String()] = time.Now().UTC()
}

// Requests returns how many OCSP requests the server has received.
func (s *OCSPServer) Requests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.requests
}

// ServeHTTP answers an OCSP request.
func (s *OCSPServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()

	var raw []byte
	switch r.Method {
	case http.MethodPost:
		body, err := io.ReadAll(io.LimitReader(r.Body, maxOCSPRequest))
		if err != nil {
			http.Error(w, "read request", http.StatusBadRequest)
			return
		}
		raw = body
	case http.MethodGet:
		i := strings.LastIndex(r.URL.EscapedPath(), "/")
		enc, err := url.QueryUnescape(r.URL.EscapedPath()[i+1:])
		if err != nil {
			http.Error(w, "malformed request path", http.StatusBadRequest)
			return
		}
		raw, err = base64.StdEncoding.DecodeString(enc)
		if err != nil {
			http.Error(w, "malformed request encoding", http.StatusBadRequest)
			return
		}
	default:
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	req, err := ocsp.ParseRequest(raw)
	if err != nil {
		w.Header().Set("Content-Type", "application/ocsp-response")
		_, _ = w.Write(ocsp.MalformedRequestErrorResponse)
		return
	}

	now := time.Now().UTC()
	tmpl := ocsp.Response{
		Status:       ocsp.Good,
		SerialNumber: req.SerialNumber,
		ThisUpdate:   now.Add(-time.Minute),
		NextUpdate:   now.Add(time.Hour),
	}
	s.mu.Lock()
	if at, ok := s.revoked[req.SerialNumber.String()]; ok {
		tmpl.Status = ocsp.Revoked
		tmpl.RevokedAt = at
		tmpl.RevocationReason = ocsp.KeyCompromise
	}
	s.mu.Unlock()
	resp, err := ocsp.CreateResponse(s.issuer.Cert, s.issuer.Cert, tmpl, s.issuer.Key)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/ocsp-response")
	_, _ = w.Write(resp)
}
