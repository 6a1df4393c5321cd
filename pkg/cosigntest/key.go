package cosigntest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
)

// KeyType names a signing key algorithm.
type KeyType string

// The key types cosign signs with.
const (
	// ECDSA is an ECDSA P-256 key signing SHA-256 digests (cosign's default).
	ECDSA KeyType = "ecdsa-p256"
	// RSA is a 2048-bit RSA key signing SHA-256 digests with PKCS #1 v1.5.
	RSA KeyType = "rsa-2048"
	// Ed25519 is an Ed25519 key signing the payload itself.
	Ed25519 KeyType = "ed25519"
)

// Key is a signing key pair.
type Key struct {
	// Type is the key's algorithm.
	Type KeyType
	// Private is the private key.
	Private crypto.Signer
	signer  signature.Signer
}

// NewKey generates a key of type typ. An empty typ is ECDSA.
func NewKey(typ KeyType) (*Key, error) {
	var (
		priv crypto.Signer
		err  error
	)
	switch typ {
	case "", ECDSA:
		typ = ECDSA
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case RSA:
		priv, err = rsa.GenerateKey(rand.Reader, 2048)
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("cosigntest: unknown key type %q", typ)
	}
	if err != nil {
		return nil, fmt.Errorf("cosigntest: generate %s key: %w", typ, err)
	}
	signer, err := signature.LoadSigner(priv, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("cosigntest: load %s signer: %w", typ, err)
	}
	return &Key{Type: typ, Private: priv, signer: signer}, nil
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.Private.Public() }

// PublicKeyPEM returns the public key as a PEM "PUBLIC KEY" block, as
// `cosign generate-key-pair` writes cosign.pub.
func (k *Key) PublicKeyPEM() string {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	if err != nil {
		panic(fmt.Sprintf("cosigntest: marshal public key: %v", err)) // a generated key always marshals
	}
	return string(b)
}

// Fingerprint returns the hex SHA-256 of the public key's PKIX DER
// encoding, the fingerprint the plugin reports.
func (k *Key) Fingerprint() string {
	der, err := cryptoutils.MarshalPublicKeyToDER(k.Public())
	if err != nil {
		panic(fmt.Sprintf("cosigntest: marshal public key: %v", err))
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// Sign signs message the way cosign does with this key.
func (k *Key) Sign(message []byte) ([]byte, error) {
	sig, err := k.signer.SignMessage(bytesReader(message))
	if err != nil {
		return nil, fmt.Errorf("cosigntest: sign with %s key: %w", k.Type, err)
	}
	return sig, nil
}

func randomText() string { return rand.Text() }
