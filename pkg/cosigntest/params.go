package cosigntest

import (
	"encoding/json"
	"fmt"
)

// DefaultPolicyName is the trust policy name the parameter builders use.
const DefaultPolicyName = "assay-test"

// Params mirrors the cosign verifier plugin's parameters (the Verifier
// object's spec.parameters); see plugins/cosign/README.md. Marshal it
// with JSON for VerifyRequest.Config or a Verifier manifest.
type Params struct {
	TrustPolicies []TrustPolicy `json:"trustPolicies"`
}

// TrustPolicy mirrors one trust policy of the plugin.
type TrustPolicy struct {
	Name           string       `json:"name"`
	Scopes         []string     `json:"scopes"`
	Keys           []KeyRef     `json:"keys,omitempty"`
	Keyless        *Keyless     `json:"keyless,omitempty"`
	TrustedRoot    *TrustedRoot `json:"trustedRoot,omitempty"`
	Tlog           string       `json:"tlog,omitempty"`
	SCT            string       `json:"sct,omitempty"`
	Timestamps     int          `json:"timestamps,omitempty"`
	PredicateTypes []string     `json:"predicateTypes,omitempty"`
}

// KeyRef is a trusted public key, inline or as a file.
type KeyRef struct {
	Name      string `json:"name,omitempty"`
	PublicKey string `json:"publicKey,omitempty"`
	File      string `json:"file,omitempty"`
}

// Keyless lists the trusted certificate identities.
type Keyless struct {
	Identities []Identity `json:"identities"`
}

// Identity is one trusted certificate identity: the OIDC issuer and the
// subject (SAN), each exact or a regular expression.
type Identity struct {
	Issuer        string `json:"issuer,omitempty"`
	IssuerRegExp  string `json:"issuerRegExp,omitempty"`
	Subject       string `json:"subject,omitempty"`
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

// TrustedRoot is a Sigstore trusted_root.json, inline or as a file.
type TrustedRoot struct {
	Inline json.RawMessage `json:"inline,omitempty"`
	File   string          `json:"file,omitempty"`
}

// JSON marshals p.
func (p Params) JSON() ([]byte, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("cosigntest: marshal params: %w", err)
	}
	return b, nil
}

// KeyParams returns parameters with one trust policy for scope that
// trusts keys (named key0, key1, ...) without a transparency log.
func KeyParams(scope string, keys ...*Key) Params {
	tp := TrustPolicy{Name: DefaultPolicyName, Scopes: []string{scope}, Tlog: "skip"}
	for i, k := range keys {
		tp.Keys = append(tp.Keys, KeyRef{Name: fmt.Sprintf("key%d", i), PublicKey: k.PublicKeyPEM()})
	}
	return Params{TrustPolicies: []TrustPolicy{tp}}
}

// KeylessParams returns parameters with one trust policy for scope that
// trusts the identity (exact subject and issuer; empty means
// DefaultIdentity and DefaultIssuer) certified by s, with the
// transparency log required and SCTs waived (the VirtualSigstore's
// certificates carry none).
func (s *Sigstore) KeylessParams(scope, identity, issuer string) (Params, error) {
	tr, err := s.TrustedRootJSON()
	if err != nil {
		return Params{}, err
	}
	id, iss := KeylessOptions{Identity: identity, Issuer: issuer}.identity()
	return Params{TrustPolicies: []TrustPolicy{{
		Name:        DefaultPolicyName,
		Scopes:      []string{scope},
		Keyless:     &Keyless{Identities: []Identity{{Issuer: iss, Subject: id}}},
		TrustedRoot: &TrustedRoot{Inline: tr},
		Tlog:        "require",
		SCT:         "skip",
	}}}, nil
}
