package notationtest

import (
	"encoding/json"
	"fmt"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
)

// DefaultStoreName is the trust store name NewParams uses for the ca and
// tsa stores, and DefaultPolicyName the trust policy statement's name.
const (
	DefaultStoreName  = "test"
	DefaultPolicyName = "assay-test"
)

// Params mirrors the notation verifier plugin's parameters (the Verifier
// object's spec.parameters); see plugins/notation/README.md. Marshal it
// with JSON for VerifyRequest.Config or a Verifier manifest.
type Params struct {
	// TrustPolicyDocument is a Notary Project trust policy document
	// (version "1.0").
	TrustPolicyDocument *trustpolicy.Document `json:"trustPolicyDocument,omitempty"`
	// TrustStores holds the certificates of the named trust stores the
	// policy refers to as "<type>:<name>".
	TrustStores TrustStores `json:"trustStores,omitempty"`
	// Revocation tunes CRL and OCSP checks.
	Revocation *Revocation `json:"revocation,omitempty"`
}

// TrustStores holds named trust stores by type.
type TrustStores struct {
	CA               map[string]TrustStore `json:"ca,omitempty"`
	TSA              map[string]TrustStore `json:"tsa,omitempty"`
	SigningAuthority map[string]TrustStore `json:"signingAuthority,omitempty"`
}

// TrustStore is one named trust store: PEM certificates inline and/or PEM
// files on the plugin's file system.
type TrustStore struct {
	Certificates []string `json:"certificates,omitempty"`
	Files        []string `json:"files,omitempty"`
}

// Revocation mirrors the plugin's revocation parameters.
type Revocation struct {
	// CRLCache is "memory" (default), "file" or "none".
	CRLCache string `json:"crlCache,omitempty"`
	// CRLCacheDir is the directory of the "file" CRL cache.
	CRLCacheDir string `json:"crlCacheDir,omitempty"`
	// Timeout bounds each CRL download and OCSP request, a Go duration
	// such as "5s".
	Timeout string `json:"timeout,omitempty"`
}

// JSON marshals p.
func (p Params) JSON() ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("notationtest: marshal params: %w", err)
	}
	return b, nil
}

// PolicyOptions configures TrustPolicy.
type PolicyOptions struct {
	// Name of the statement. If empty, DefaultPolicyName is used.
	Name string
	// RegistryScopes the statement applies to, for example
	// "localhost:5000/app", or "*". Required.
	RegistryScopes []string
	// Level is strict, permissive, audit or skip. If empty, strict.
	Level string
	// Override customises individual validations of Level.
	Override map[trustpolicy.ValidationType]trustpolicy.ValidationAction
	// VerifyTimestamp is "always" (the default when empty) or
	// "afterCertExpiry".
	VerifyTimestamp trustpolicy.TimestampOption
	// TrustStores as "<type>:<name>". If empty (and Level is not skip),
	// "ca:" + DefaultStoreName is used.
	TrustStores []string
	// TrustedIdentities, for example SubjectIdentity(leaf.Cert). If empty
	// (and Level is not skip), "*" is used.
	TrustedIdentities []string
}

// TrustPolicy returns a trust policy document with one statement.
func TrustPolicy(opts PolicyOptions) *trustpolicy.Document {
	name := opts.Name
	if name == "" {
		name = DefaultPolicyName
	}
	level := opts.Level
	if level == "" {
		level = trustpolicy.LevelStrict.Name
	}
	stores, identities := opts.TrustStores, opts.TrustedIdentities
	if level != trustpolicy.LevelSkip.Name {
		if len(stores) == 0 {
			stores = []string{"ca:" + DefaultStoreName}
		}
		if len(identities) == 0 {
			identities = []string{"*"}
		}
	}
	return &trustpolicy.Document{
		Version: "1.0",
		TrustPolicies: []trustpolicy.TrustPolicy{{
			Name:           name,
			RegistryScopes: append([]string(nil), opts.RegistryScopes...),
			SignatureVerification: trustpolicy.SignatureVerification{
				VerificationLevel: level,
				Override:          opts.Override,
				VerifyTimestamp:   opts.VerifyTimestamp,
			},
			TrustStores:       stores,
			TrustedIdentities: identities,
		}},
	}
}

// NewParams returns parameters that trust ca's root for signatures on
// repository at level strict with any identity ("*"). If tsa is not nil,
// its root is trusted for timestamps too (trust store "tsa:test").
func NewParams(repository string, ca *CA, tsa *TSA) Params {
	stores := []string{"ca:" + DefaultStoreName}
	p := Params{TrustStores: TrustStores{CA: map[string]TrustStore{}}}
	if ca != nil {
		p.TrustStores.CA[DefaultStoreName] = TrustStore{Certificates: []string{PEM(ca.Root())}}
	}
	if tsa != nil {
		stores = append(stores, "tsa:"+DefaultStoreName)
		p.TrustStores.TSA = map[string]TrustStore{DefaultStoreName: {Certificates: []string{PEM(tsa.Root)}}}
	}
	p.TrustPolicyDocument = TrustPolicy(PolicyOptions{RegistryScopes: []string{repository}, TrustStores: stores})
	return p
}
