package notationtest

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"time"

	"github.com/notaryproject/tspclient-go"
	"github.com/notaryproject/tspclient-go/pki"
)

// RFC 3161 and RFC 5652 object identifiers used to build timestamp tokens.
var (
	oidSignedData           = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 7, 2}
	oidTSTInfo              = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 1, 4}
	oidContentType          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 3}
	oidMessageDigest        = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 4}
	oidSigningCertificateV2 = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 16, 2, 47}
	oidSHA256               = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidECDSAWithSHA256      = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}

	// TSAPolicy is the TSA policy OID written into every TSTInfo: the ETSI
	// baseline time-stamp policy (ETSI EN 319 421), for which notation
	// assumes an accuracy of one second when none is given.
	TSAPolicy = asn1.ObjectIdentifier{0, 4, 0, 2023, 1, 1}
)

// maxTimestampQuery bounds a timestamp request body; real queries are a
// few hundred bytes.
const maxTimestampQuery = 64 << 10

// TSAOptions configures NewTSA.
type TSAOptions struct {
	// Now returns the time written into each timestamp token (genTime). If
	// nil, time.Now is used. Return a past instant to timestamp a
	// signature "while its certificate was still valid".
	Now func() time.Time
	// NotBefore and NotAfter bound the validity of the TSA root and TSA
	// certificate. If zero, now minus DefaultBackdate and now plus
	// DefaultCAValidity are used. Tokens are verified at their genTime, so
	// the window must cover every instant Now returns.
	NotBefore, NotAfter time.Time
}

// TSA is an RFC 3161 timestamping authority served over HTTP on loopback.
// It has its own root CA (Root) and a timestamping certificate (Cert) with
// a critical extended key usage timeStamping. Tokens are CMS SignedData
// (version 3) over a TSTInfo, signed with ECDSA P-256/SHA-256, carrying the
// content-type, message-digest and signingCertificateV2 signed attributes
// and, when the request asks, the TSA certificate chain.
//
// TSA is safe for concurrent use.
type TSA struct {
	// Root is the TSA's self-signed root: put it in a "tsa" trust store.
	Root *x509.Certificate
	// Cert is the timestamping certificate that signs tokens.
	Cert *x509.Certificate

	key    crypto.Signer
	chain  []*x509.Certificate // Cert, Root
	now    func() time.Time
	server *httptest.Server

	mu     sync.Mutex
	serial int64
	count  int
}

// NewTSA starts a TSA on a loopback port. Close it when done.
func NewTSA(opts TSAOptions) (*TSA, error) {
	root, err := NewCA(CAOptions{
		Subject:   pkix.Name{CommonName: "Assay Test TSA Root", Organization: []string{"Assay Test"}, Country: []string{"US"}},
		NotBefore: opts.NotBefore,
		NotAfter:  opts.NotAfter,
	})
	if err != nil {
		return nil, err
	}
	notBefore, notAfter, err := validity(opts.NotBefore, opts.NotAfter, DefaultCAValidity)
	if err != nil {
		return nil, err
	}
	leaf, err := root.issueTSALeaf(pkix.Name{CommonName: "Assay Test TSA", Organization: []string{"Assay Test"}, Country: []string{"US"}}, notBefore, notAfter)
	if err != nil {
		return nil, err
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	t := &TSA{Root: root.Cert, Cert: leaf.Cert, key: leaf.Key, chain: leaf.Chain, now: now}
	t.server = httptest.NewServer(t)
	return t, nil
}

// URL is the TSA endpoint (http://127.0.0.1:port/).
func (t *TSA) URL() string { return t.server.URL + "/" }

// Close stops the server.
func (t *TSA) Close() { t.server.Close() }

// Requests returns how many timestamp requests the TSA has answered.
func (t *TSA) Requests() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count
}

// RootPool returns a pool holding the TSA root, for
// notation.SignerSignOptions.TSARootCAs.
func (t *TSA) RootPool() *x509.CertPool {
	pool := x509.NewCertPool()
	pool.AddCert(t.Root)
	return pool
}

// Timestamper returns tspclient-go's HTTP timestamper pointed at the TSA,
// for notation.SignerSignOptions.Timestamper.
func (t *TSA) Timestamper() (tspclient.Timestamper, error) {
	ts, err := tspclient.NewHTTPTimestamper(t.server.Client(), t.URL())
	if err != nil {
		return nil, fmt.Errorf("notationtest: timestamper: %w", err)
	}
	return ts, nil
}

// ServeHTTP answers an RFC 3161 timestamp query (RFC 3161 section 3.4:
// POST application/timestamp-query, reply application/timestamp-reply).
func (t *TSA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxTimestampQuery))
	if err != nil {
		http.Error(w, "read request", http.StatusBadRequest)
		return
	}
	var req tspclient.Request
	if err := req.UnmarshalBinary(body); err != nil {
		http.Error(w, "malformed timestamp query", http.StatusBadRequest)
		return
	}
	resp, err := t.Respond(&req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", tspclient.MediaTypeTimestampReply)
	_, _ = w.Write(resp)
}

// Respond builds the DER TimeStampResp for req, granted, with a token
// whose genTime is TSAOptions.Now().
func (t *TSA) Respond(req *tspclient.Request) ([]byte, error) {
	t.mu.Lock()
	t.serial++
	t.count++
	serial := t.serial
	t.mu.Unlock()

	token, err := t.token(req, big.NewInt(serial))
	if err != nil {
		return nil, err
	}
	resp := tspclient.Response{
		Status:         pki.StatusInfo{Status: pki.StatusGranted},
		TimestampToken: asn1.RawValue{FullBytes: token},
	}
	der, err := resp.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal timestamp response: %w", err)
	}
	return der, nil
}

// CMS structures (RFC 5652), written the way tspclient-go parses them.
type (
	contentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     asn1.RawValue
	}
	encapsulatedContentInfo struct {
		ContentType asn1.ObjectIdentifier
		Content     []byte `asn1:"explicit,optional,tag:0"`
	}
	signedData struct {
		Version          int
		DigestAlgorithms []pkix.AlgorithmIdentifier `asn1:"set"`
		EncapContentInfo encapsulatedContentInfo
		Certificates     asn1.RawValue `asn1:"optional,tag:0"`
		SignerInfos      []signerInfo  `asn1:"set"`
	}
	issuerAndSerialNumber struct {
		Issuer       asn1.RawValue
		SerialNumber *big.Int
	}
	signerInfo struct {
		Version            int
		SID                issuerAndSerialNumber
		DigestAlgorithm    pkix.AlgorithmIdentifier
		SignedAttributes   []attribute `asn1:"optional,tag:0"`
		SignatureAlgorithm pkix.AlgorithmIdentifier
		Signature          []byte
	}
	attribute struct {
		Type   asn1.ObjectIdentifier
		Values asn1.RawValue
	}
	// RFC 5035: ESSCertIDv2 with the default hash (SHA-256) and no
	// issuerSerial, so the verifier falls back to the signer identifier.
	essCertIDv2 struct {
		CertHash []byte
	}
	signingCertificateV2 struct {
		Certs []essCertIDv2
	}
)

func (t *TSA) token(req *tspclient.Request, serial *big.Int) ([]byte, error) {
	info := tspclient.TSTInfo{
		Version:        1,
		Policy:         TSAPolicy,
		MessageImprint: req.MessageImprint,
		SerialNumber:   serial,
		GenTime:        t.now().UTC().Truncate(time.Second),
		Accuracy:       tspclient.Accuracy{Seconds: 1},
		Nonce:          req.Nonce,
	}
	content, err := asn1.Marshal(info)
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal TSTInfo: %w", err)
	}
	digest := sha256.Sum256(content)
	certHash := sha256.Sum256(t.Cert.Raw)

	attrs := make([]attribute, 0, 3)
	for _, a := range []struct {
		oid   asn1.ObjectIdentifier
		value any
	}{
		{oidContentType, oidTSTInfo},
		{oidMessageDigest, digest[:]},
		{oidSigningCertificateV2, signingCertificateV2{Certs: []essCertIDv2{{CertHash: certHash[:]}}}},
	} {
		value, err := asn1.Marshal(a.value)
		if err != nil {
			return nil, fmt.Errorf("notationtest: marshal attribute %v: %w", a.oid, err)
		}
		attrs = append(attrs, attribute{Type: a.oid, Values: asn1.RawValue{Tag: asn1.TagSet, IsCompound: true, Bytes: value}})
	}
	// DER orders a SET OF by encoding; sort so the [0] IMPLICIT encoding
	// in SignerInfo equals the SET OF the signature covers.
	if err := sortAttributes(attrs); err != nil {
		return nil, err
	}
	signedAttrs, err := asn1.MarshalWithParams(attrs, "set")
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal signed attributes: %w", err)
	}
	attrsDigest := sha256.Sum256(signedAttrs)
	sig, err := t.key.Sign(rand.Reader, attrsDigest[:], crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("notationtest: sign timestamp token: %w", err)
	}

	sd := signedData{
		Version:          3,
		DigestAlgorithms: []pkix.AlgorithmIdentifier{{Algorithm: oidSHA256}},
		EncapContentInfo: encapsulatedContentInfo{ContentType: oidTSTInfo, Content: content},
		SignerInfos: []signerInfo{{
			Version:            1,
			SID:                issuerAndSerialNumber{Issuer: asn1.RawValue{FullBytes: t.Cert.RawIssuer}, SerialNumber: t.Cert.SerialNumber},
			DigestAlgorithm:    pkix.AlgorithmIdentifier{Algorithm: oidSHA256},
			SignedAttributes:   attrs,
			SignatureAlgorithm: pkix.AlgorithmIdentifier{Algorithm: oidECDSAWithSHA256},
			Signature:          sig,
		}},
	}
	if req.CertReq {
		var certs []byte
		for _, c := range t.chain {
			certs = append(certs, c.Raw...)
		}
		sd.Certificates = asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: certs}
	}
	sdDER, err := asn1.Marshal(sd)
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal SignedData: %w", err)
	}
	token, err := asn1.Marshal(contentInfo{
		ContentType: oidSignedData,
		Content:     asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 0, IsCompound: true, Bytes: sdDER},
	})
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal ContentInfo: %w", err)
	}
	return token, nil
}

func sortAttributes(attrs []attribute) error {
	type encoded struct {
		der  []byte
		attr attribute
	}
	list := make([]encoded, len(attrs))
	for i, a := range attrs {
		der, err := asn1.Marshal(a)
		if err != nil {
			return fmt.Errorf("notationtest: marshal attribute %v: %w", a.Type, err)
		}
		list[i] = encoded{der: der, attr: a}
	}
	slices.SortFunc(list, func(a, b encoded) int { return bytes.Compare(a.der, b.der) })
	for i := range list {
		attrs[i] = list[i].attr
	}
	return nil
}
