package notationtest

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"time"
)

// Default validity windows used when an option leaves a time zero. They are
// relative to the time the certificate is made.
const (
	// DefaultCAValidity is how long a CA made by NewCA or IssueCA is valid
	// (it starts DefaultBackdate before now).
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultLeafValidity is how long a leaf made by IssueLeaf is valid
	// (it starts DefaultBackdate before now).
	DefaultLeafValidity = 24 * time.Hour
	// DefaultBackdate is how far before now a default validity starts, so a
	// backdated signature or timestamp still falls inside it.
	DefaultBackdate = 30 * 24 * time.Hour
)

var (
	oidExtKeyUsage      = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidKPTimeStamping   = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	errNilCA            = errors.New("notationtest: nil CA")
	errValidityReversed = errors.New("notationtest: NotAfter is before NotBefore")
)

// CAOptions configures NewCA and CA.IssueCA.
type CAOptions struct {
	// Subject of the CA certificate. If empty, CommonName "Assay Test Root
	// CA" (or "Assay Test Intermediate CA" for IssueCA) and Organization
	// "Assay Test" are used.
	Subject pkix.Name
	// NotBefore and NotAfter bound the validity. If zero, now minus
	// DefaultBackdate and now plus DefaultCAValidity are used.
	NotBefore, NotAfter time.Time
	// CRLURL, if set, is written as the CRL distribution point of an
	// intermediate made by IssueCA (ignored for a root).
	CRLURL string
	// OCSPURL, if set, is written as the OCSP server of an intermediate made
	// by IssueCA (ignored for a root).
	OCSPURL string
}

// CA is a certificate authority able to issue code-signing leaves,
// intermediates, CRLs and OCSP responses. It satisfies the Notary Project
// CA requirements: basic constraints CA=true (critical) and key usage
// keyCertSign (plus cRLSign, so it can sign its own CRLs).
type CA struct {
	// Cert is the CA certificate.
	Cert *x509.Certificate
	// Key is the CA's private key (ECDSA P-256).
	Key crypto.Signer
	// Chain is Cert followed by its issuers up to and including the root.
	// For a root CA it holds Cert alone.
	Chain []*x509.Certificate
}

// Root returns the self-signed root at the end of the CA's chain.
func (ca *CA) Root() *x509.Certificate { return ca.Chain[len(ca.Chain)-1] }

// NewCA makes a self-signed root CA with an ECDSA P-256 key.
func NewCA(opts CAOptions) (*CA, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	subject := opts.Subject
	if subject.CommonName == "" && len(subject.Organization) == 0 {
		subject = pkix.Name{CommonName: "Assay Test Root CA", Organization: []string{"Assay Test"}}
	}
	notBefore, notAfter, err := validity(opts.NotBefore, opts.NotAfter, DefaultCAValidity)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            -1,
	}
	cert, err := createCertificate(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, Chain: []*x509.Certificate{cert}}, nil
}

// IssueCA makes an intermediate CA issued by ca. It carries path length 0,
// so it can issue leaves only.
func (ca *CA) IssueCA(opts CAOptions) (*CA, error) {
	if ca == nil {
		return nil, errNilCA
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	subject := opts.Subject
	if subject.CommonName == "" && len(subject.Organization) == 0 {
		subject = pkix.Name{CommonName: "Assay Test Intermediate CA", Organization: []string{"Assay Test"}}
	}
	notBefore, notAfter, err := validity(opts.NotBefore, opts.NotAfter, DefaultCAValidity)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	if opts.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{opts.CRLURL}
	}
	if opts.OCSPURL != "" {
		tmpl.OCSPServer = []string{opts.OCSPURL}
	}
	cert, err := createCertificate(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	chain := append([]*x509.Certificate{cert}, ca.Chain...)
	return &CA{Cert: cert, Key: key, Chain: chain}, nil
}

// LeafOptions configures CA.IssueLeaf.
type LeafOptions struct {
	// Subject of the leaf. If empty, DefaultLeafSubject is used.
	Subject pkix.Name
	// NotBefore and NotAfter bound the validity. If zero, now minus
	// DefaultBackdate and now plus DefaultLeafValidity are used. Set
	// NotAfter in the past for an expired leaf (sign it with
	// SignOptions.SigningTime inside the window).
	NotBefore, NotAfter time.Time
	// CRLURL, if set, is written as the leaf's CRL distribution point.
	// notation-core-go accepts http URLs only.
	CRLURL string
	// OCSPURL, if set, is written as the leaf's OCSP server.
	OCSPURL string
}

// DefaultLeafSubject is the subject of a leaf made without
// LeafOptions.Subject. As a trusted identity it reads
// "x509.subject: CN=Assay Test Signer,O=Assay Test,L=Seattle,ST=WA,C=US"
// (see SubjectIdentity). notation requires C, ST and O in a signer's
// subject when trusted identities are not "*".
var DefaultLeafSubject = pkix.Name{
	Country:      []string{"US"},
	Province:     []string{"WA"},
	Locality:     []string{"Seattle"},
	Organization: []string{"Assay Test"},
	CommonName:   "Assay Test Signer",
}

// Leaf is a code-signing certificate with its key and chain, ready to sign.
type Leaf struct {
	// Cert is the leaf certificate: key usage digitalSignature only,
	// extended key usage codeSigning, basic constraints CA=false.
	Cert *x509.Certificate
	// Key is the leaf's private key (ECDSA P-256).
	Key crypto.Signer
	// Chain is Cert followed by its issuers up to and including the root,
	// the order notation-go's signer expects.
	Chain []*x509.Certificate
}

// IssueLeaf makes a code-signing leaf issued by ca.
func (ca *CA) IssueLeaf(opts LeafOptions) (*Leaf, error) {
	if ca == nil {
		return nil, errNilCA
	}
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	subject := opts.Subject
	if subject.CommonName == "" && len(subject.Organization) == 0 {
		subject = DefaultLeafSubject
	}
	notBefore, notAfter, err := validity(opts.NotBefore, opts.NotAfter, DefaultLeafValidity)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	if opts.CRLURL != "" {
		tmpl.CRLDistributionPoints = []string{opts.CRLURL}
	}
	if opts.OCSPURL != "" {
		tmpl.OCSPServer = []string{opts.OCSPURL}
	}
	cert, err := createCertificate(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	chain := append([]*x509.Certificate{cert}, ca.Chain...)
	return &Leaf{Cert: cert, Key: key, Chain: chain}, nil
}

// issueTSALeaf makes a timestamping leaf: key usage digitalSignature only
// and a critical extended key usage holding timeStamping alone, as RFC 3161
// section 2.3 and notation-core-go require.
func (ca *CA) issueTSALeaf(subject pkix.Name, notBefore, notAfter time.Time) (*Leaf, error) {
	key, err := newKey()
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidKPTimeStamping})
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal extended key usage: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  false,
		// crypto/x509 marks the EKU extension non-critical; an explicit
		// extension replaces the generated one.
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}
	cert, err := createCertificate(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, err
	}
	chain := append([]*x509.Certificate{cert}, ca.Chain...)
	return &Leaf{Cert: cert, Key: key, Chain: chain}, nil
}

// PEM encodes certificates as concatenated "CERTIFICATE" PEM blocks, the
// form the notation plugin's trustStores parameters and notation's trust
// store files take.
func PEM(certs ...*x509.Certificate) string {
	var buf bytes.Buffer
	for _, c := range certs {
		// pem.Encode to a bytes.Buffer cannot fail.
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return buf.String()
}

// SubjectIdentity returns the trusted-identity string that matches cert
// exactly in a trust policy: "x509.subject: " followed by the subject in
// RFC 4514 form.
func SubjectIdentity(cert *x509.Certificate) string {
	return "x509.subject: " + cert.Subject.String()
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("notationtest: generate key: %w", err)
	}
	return key, nil
}

func newSerial() (*big.Int, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("notationtest: serial number: %w", err)
	}
	// Avoid zero, which RFC 5280 forbids.
	return serial.Add(serial, big.NewInt(1)), nil
}

func validity(notBefore, notAfter time.Time, length time.Duration) (time.Time, time.Time, error) {
	now := time.Now()
	if notBefore.IsZero() {
		notBefore = now.Add(-DefaultBackdate)
	}
	if notAfter.IsZero() {
		notAfter = now.Add(length)
	}
	if notAfter.Before(notBefore) {
		return time.Time{}, time.Time{}, errValidityReversed
	}
	return notBefore, notAfter, nil
}

func createCertificate(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("notationtest: create certificate %q: %w", tmpl.Subject, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("notationtest: parse certificate %q: %w", tmpl.Subject, err)
	}
	return cert, nil
}
