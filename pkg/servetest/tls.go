package servetest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// TLS is the certificate material of one provider and its client, as
// PEM files in Dir.
type TLS struct {
	Dir string
	// ServerCA signs the serving certificate; it is the Provider's
	// caBundle. ClientCA signs the client certificate; it is Assay's
	// --client-ca.
	ServerCA, ClientCA *CA
	// CertFile and KeyFile are the serving certificate and key;
	// ClientCAFile is ClientCA's certificate.
	CertFile, KeyFile, ClientCAFile string
	// ServerCAFile is ServerCA's certificate (the caBundle).
	ServerCAFile string
	// ClientCertFile and ClientKeyFile are the client's (Gatekeeper's).
	ClientCertFile, ClientKeyFile string
}

// CA is a certificate authority for tests.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	PEM  []byte
}

// NewCA makes a self-signed CA valid for a day.
func NewCA(name string) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: name, Organization: []string{"Assay Test"}},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, PEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

// Issue signs a leaf for serverName (a server certificate for
// 127.0.0.1, ::1 and localhost when server is true, else a client
// certificate) and returns its certificate and key PEM.
func (ca *CA) Issue(commonName string, server bool) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName, Organization: []string{"Assay Test"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames = []string{"localhost"}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	return n
}

// NewTLS writes a server CA, a serving certificate, a client CA and a
// client certificate into dir.
func NewTLS(dir string) (*TLS, error) {
	serverCA, err := NewCA("Assay Test Serving CA")
	if err != nil {
		return nil, err
	}
	clientCA, err := NewCA("Assay Test Gatekeeper CA")
	if err != nil {
		return nil, err
	}
	t := &TLS{
		Dir: dir, ServerCA: serverCA, ClientCA: clientCA,
		CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key"),
		ServerCAFile: filepath.Join(dir, "ca.crt"), ClientCAFile: filepath.Join(dir, "client-ca.crt"),
		ClientCertFile: filepath.Join(dir, "client.crt"), ClientKeyFile: filepath.Join(dir, "client.key"),
	}
	if err := t.RotateServing(); err != nil {
		return nil, err
	}
	cert, key, err := clientCA.Issue("gatekeeper-webhook-service.gatekeeper-system.svc", false)
	if err != nil {
		return nil, err
	}
	for path, data := range map[string][]byte{
		t.ServerCAFile: serverCA.PEM, t.ClientCAFile: clientCA.PEM, t.ClientCertFile: cert, t.ClientKeyFile: key,
	} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// RotateServing issues a new serving certificate from ServerCA and
// replaces CertFile and KeyFile, each by an atomic rename.
func (t *TLS) RotateServing() error {
	cert, key, err := t.ServerCA.Issue("assay.assay-system.svc", true)
	if err != nil {
		return err
	}
	if err := writeAtomic(t.KeyFile, key); err != nil {
		return err
	}
	return writeAtomic(t.CertFile, cert)
}

func writeAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// ClientConfig is a TLS 1.3 client configuration that trusts ServerCA
// and presents the client certificate (as Gatekeeper does).
func (t *TLS) ClientConfig() (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.ClientCertFile, t.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(t.ServerCA.Cert)
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, Certificates: []tls.Certificate{cert}}, nil
}
