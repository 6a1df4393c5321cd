package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/plugin/params"
)

// Parameters is the cosign verifier's configuration: the Verifier
// object's spec.parameters. See README.md for a full example.
type Parameters struct {
	// TrustPolicies say what to trust for which repositories. At least one
	// is required. For each request the policy with the most specific
	// scope matching the subject's repository applies.
	TrustPolicies []TrustPolicy `json:"trustPolicies"`
}

// TrustPolicy is what one group of repositories trusts: keys or keyless
// identities, and which transparency log, SCT and timestamp evidence is
// required.
type TrustPolicy struct {
	// Name identifies the policy in reports. Required, unique.
	Name string `json:"name"`
	// Scopes are the repositories the policy applies to: an exact
	// repository ("registry.example/app"), a prefix ending in "/*"
	// ("registry.example/*", any repository below it), or "*" (any). A
	// scope may appear in one policy only. The most specific match wins:
	// exact, then the longest prefix, then "*".
	Scopes []string `json:"scopes"`
	// Keys are trusted public keys (ECDSA, RSA or Ed25519). A signature
	// made with any of them is trusted. Exactly one of Keys and Keyless is
	// required.
	Keys []KeySource `json:"keys,omitempty"`
	// Keyless trusts Fulcio certificates for the listed identities,
	// issued by a certificate authority of TrustedRoot.
	Keyless *Keyless `json:"keyless,omitempty"`
	// TrustedRoot is the Sigstore trusted root (Fulcio CAs, Rekor and CT
	// log keys, timestamping authorities). Required for keyless, and for
	// keys when Tlog is "require" or Timestamps is above 0. It is data:
	// the plugin never fetches anything.
	TrustedRoot *TrustedRootSource `json:"trustedRoot,omitempty"`
	// Tlog is "require" (the default when empty) or "skip": whether a
	// Rekor entry verified against TrustedRoot's logs is required. Its
	// integrated time then dates the signature.
	Tlog string `json:"tlog,omitempty"`
	// SCT is "require" (the default when empty) or "skip": whether a
	// keyless certificate must carry a signed certificate timestamp from a
	// CT log of TrustedRoot. Ignored for keys.
	SCT string `json:"sct,omitempty"`
	// Timestamps is the minimum number of RFC 3161 timestamps from
	// TrustedRoot's timestamping authorities. If 0 (the default), none is
	// required. A keyless policy needs Tlog "require" or Timestamps >= 1:
	// something must prove when the short-lived certificate was used.
	Timestamps int `json:"timestamps,omitempty"`
	// PredicateTypes are the in-toto predicate types a Sigstore bundle's
	// DSSE statement may have to count as a signature of the image. If
	// empty, cosign v3's "https://sigstore.dev/cosign/sign/v1".
	PredicateTypes []string `json:"predicateTypes,omitempty"`
}

// KeySource is one trusted public key: a PEM "PUBLIC KEY" block inline
// or in a file. Exactly one of PublicKey and File is required. (A
// reference to a Kubernetes Secret will be a third source.)
type KeySource struct {
	// Name identifies the key in reports. If empty, "keys[<index>]".
	Name string `json:"name,omitempty"`
	// PublicKey is the PEM text, as in cosign.pub.
	PublicKey string `json:"publicKey,omitempty"`
	// File is the absolute path of a PEM file on the plugin's file system
	// (for example a mounted Secret). It is re-read when its size or
	// modification time changes.
	File string `json:"file,omitempty"`
}

// Keyless lists the certificate identities a keyless policy trusts.
type Keyless struct {
	// Identities: a certificate matching any of them is trusted. At least
	// one is required.
	Identities []Identity `json:"identities"`
}

// Identity is one trusted signer: the OIDC issuer and the certificate's
// subject (its SAN: email, URI, ...), each given exactly or as a Go
// regular expression. Exactly one of Issuer and IssuerRegExp, and one of
// Subject and SubjectRegExp, are required. Regular expressions match
// anywhere in the value, as cosign's --certificate-identity-regexp does:
// anchor them with ^ and $.
type Identity struct {
	Issuer        string `json:"issuer,omitempty"`
	IssuerRegExp  string `json:"issuerRegExp,omitempty"`
	Subject       string `json:"subject,omitempty"`
	SubjectRegExp string `json:"subjectRegExp,omitempty"`
}

// TrustedRootSource is a Sigstore trusted_root.json
// ("application/vnd.dev.sigstore.trustedroot+json;version=0.1"). Exactly
// one of Inline and File is required.
type TrustedRootSource struct {
	// Inline is the trusted root itself, as a JSON object, or a string
	// holding its JSON.
	Inline json.RawMessage `json:"inline,omitempty"`
	// File is the absolute path of a trusted_root.json, re-read when it
	// changes.
	File string `json:"file,omitempty"`
}

// Values of TrustPolicy.Tlog and TrustPolicy.SCT.
const (
	Require = "require"
	Skip    = "skip"
)

// DefaultPredicateType is the predicate type of cosign v3's image
// signature statements.
const DefaultPredicateType = "https://sigstore.dev/cosign/sign/v1"

const (
	maxFileSize   = 4 << 20
	maxTimestamps = 16
)

// config is a decoded and validated Parameters with everything built
// from it once.
type config struct {
	diags    []plugin.Diagnostic
	policies []*policy
	files    []params.FileStamp
}

// policy is one usable trust policy.
type policy struct {
	name           string
	scopes         []string
	keys           []*trustedKey
	identities     verify.CertificateIdentities
	identityText   []string
	trustedRoot    *root.TrustedRoot
	tlog           bool
	sct            bool
	timestamps     int
	predicateTypes []string
}

// trustedKey is a parsed trusted key.
type trustedKey struct {
	name        string
	fingerprint string
	public      crypto.PublicKey
	verifier    signature.Verifier
	keyType     string
}

// Stale reports whether a file the configuration read changed since.
func (c *config) Stale() bool { return params.Changed(c.files) }

// invalid returns the first error diagnostic, or nil.
func (c *config) invalid() *plugin.Diagnostic { return params.FirstError(c.diags) }

// parseConfig decodes and validates raw. It never fails: problems are
// diagnostics, and a config with an error diagnostic must not be used.
func parseConfig(raw []byte) *config {
	c := &config{}
	p, diags := params.Decode[Parameters](raw, params.Options{Missing: "Set trustPolicies."})
	c.diags = append(c.diags, diags...)
	if p == nil {
		return c
	}
	if len(p.TrustPolicies) == 0 {
		c.diags = append(c.diags, params.Error("trustPolicies", "trustPolicies is required", "Add at least one trust policy with name, scopes and keys or keyless."))
		return c
	}
	names := map[string]int{}
	scopes := map[string]string{}
	for i, tp := range p.TrustPolicies {
		field := fmt.Sprintf("trustPolicies[%d]", i)
		if tp.Name == "" {
			c.diags = append(c.diags, params.Error(field+".name", "name is required", ""))
		} else if j, dup := names[tp.Name]; dup {
			c.diags = append(c.diags, params.Error(field+".name", fmt.Sprintf("name %q is also used by trustPolicies[%d]", tp.Name, j), "Trust policy names must be unique."))
		} else {
			names[tp.Name] = i
		}
		for j, s := range tp.Scopes {
			sf := fmt.Sprintf("%s.scopes[%d]", field, j)
			if err := validScope(s); err != nil {
				c.diags = append(c.diags, params.Error(sf, fmt.Sprintf("invalid scope %q", s), err.Error()))
				continue
			}
			if other, dup := scopes[s]; dup {
				c.diags = append(c.diags, params.Error(sf, fmt.Sprintf("scope %q is also a scope of %s", s, other), "A scope may belong to one trust policy only, so that the policy for a repository is never ambiguous."))
				continue
			}
			scopes[s] = field
		}
		if len(tp.Scopes) == 0 {
			c.diags = append(c.diags, params.Error(field+".scopes", "scopes is required", `Add repositories ("registry.example/app"), prefixes ("registry.example/*") or "*".`))
		}
		if pol := c.buildPolicy(field, tp); pol != nil {
			c.policies = append(c.policies, pol)
		}
	}
	return c
}

// validScope checks a scope's grammar: "*", "<prefix>/*" or a repository
// without wildcards.
func validScope(s string) error {
	switch {
	case s == "*":
		return nil
	case s == "":
		return errors.New("a scope cannot be empty")
	case strings.HasSuffix(s, "/*"):
		prefix := strings.TrimSuffix(s, "/*")
		if prefix == "" || strings.Contains(prefix, "*") {
			return errors.New(`a wildcard is allowed only as the last path element ("registry.example/*") or alone ("*")`)
		}
		return validRepository(prefix)
	case strings.Contains(s, "*"):
		return errors.New(`a wildcard is allowed only as the last path element ("registry.example/*") or alone ("*")`)
	default:
		return validRepository(s)
	}
}

var repositoryPattern = regexp.MustCompile(`^[a-zA-Z0-9.\-_:\[\]]+(/[a-z0-9._\-]+)*$`)

func validRepository(s string) error {
	if !repositoryPattern.MatchString(s) {
		return errors.New(`not a repository such as "registry.example/team/app" (no tag, no digest, no scheme)`)
	}
	return nil
}

func (c *config) buildPolicy(field string, tp TrustPolicy) *policy {
	before := len(c.errors())
	pol := &policy{name: tp.Name, scopes: tp.Scopes, timestamps: tp.Timestamps, predicateTypes: tp.PredicateTypes}
	if len(pol.predicateTypes) == 0 {
		pol.predicateTypes = []string{DefaultPredicateType}
	}
	for i, pt := range tp.PredicateTypes {
		if pt == "" {
			c.diags = append(c.diags, params.Error(fmt.Sprintf("%s.predicateTypes[%d]", field, i), "a predicate type cannot be empty", ""))
		}
	}
	switch tp.Tlog {
	case "", Require:
		pol.tlog = true
	case Skip:
	default:
		c.diags = append(c.diags, params.Error(field+".tlog", fmt.Sprintf("unknown value %q", tp.Tlog), `Use "require" or "skip".`))
	}
	switch tp.SCT {
	case "", Require:
		pol.sct = tp.Keyless != nil
	case Skip:
	default:
		c.diags = append(c.diags, params.Error(field+".sct", fmt.Sprintf("unknown value %q", tp.SCT), `Use "require" or "skip".`))
	}
	if tp.Timestamps < 0 || tp.Timestamps > maxTimestamps {
		c.diags = append(c.diags, params.Error(field+".timestamps", fmt.Sprintf("timestamps must be between 0 and %d, not %d", maxTimestamps, tp.Timestamps), ""))
	}

	switch {
	case len(tp.Keys) == 0 && tp.Keyless == nil:
		c.diags = append(c.diags, params.Error(field, "a trust policy needs keys or keyless", "Set keys (trusted public keys) or keyless (trusted certificate identities)."))
	case len(tp.Keys) > 0 && tp.Keyless != nil:
		c.diags = append(c.diags, params.Error(field, "keys and keyless cannot both be set", "Write one trust policy for keys and another for keyless identities; give them different scopes."))
	case tp.Keyless != nil:
		c.buildIdentities(field+".keyless", tp.Keyless, pol)
	default:
		c.buildKeys(field+".keys", tp.Keys, pol)
		if tp.SCT == Require {
			c.diags = append(c.diags, params.Warning(field+".sct", "sct is ignored for keys", "Signed certificate timestamps exist for keyless certificates only."))
		}
	}

	needRoot := tp.Keyless != nil || pol.tlog || tp.Timestamps > 0
	switch {
	case tp.TrustedRoot != nil:
		pol.trustedRoot = c.loadTrustedRoot(field+".trustedRoot", tp.TrustedRoot)
	case needRoot:
		why := "keyless verification needs the Fulcio CAs"
		if tp.Keyless == nil {
			why = `tlog "require" needs the Rekor log keys and timestamps need the TSAs`
		}
		c.diags = append(c.diags, params.Error(field+".trustedRoot", "trustedRoot is required", why+`: give the Sigstore trusted_root.json inline or as a file (or set tlog: skip for keys).`))
	}
	if tp.Keyless != nil && !pol.tlog && tp.Timestamps == 0 {
		c.diags = append(c.diags, params.Error(field+".tlog", `a keyless policy needs tlog "require" or timestamps >= 1`, "A Fulcio certificate is valid for minutes: a transparency log entry or an RFC 3161 timestamp must prove the signature was made while it was valid."))
	}
	if tr := pol.trustedRoot; tr != nil {
		if tp.Keyless != nil && len(tr.FulcioCertificateAuthorities()) == 0 {
			c.diags = append(c.diags, params.Error(field+".trustedRoot", "the trusted root has no certificate authority", "Keyless verification needs the Fulcio CA certificates (certificateAuthorities)."))
		}
		if pol.tlog && len(tr.RekorLogs()) == 0 {
			c.diags = append(c.diags, params.Error(field+".trustedRoot", "the trusted root has no transparency log", `tlog "require" needs the Rekor log keys (tlogs), or set tlog: skip.`))
		}
		if pol.sct && len(tr.CTLogs()) == 0 {
			c.diags = append(c.diags, params.Error(field+".trustedRoot", "the trusted root has no CT log", `sct "require" needs the CT log keys (ctlogs), or set sct: skip.`))
		}
		if tp.Timestamps > 0 && len(tr.TimestampingAuthorities()) == 0 {
			c.diags = append(c.diags, params.Error(field+".trustedRoot", "the trusted root has no timestamping authority", "timestamps above 0 need the TSA certificates (timestampAuthorities)."))
		}
	}
	if len(c.errors()) > before {
		return nil
	}
	return pol
}

func (c *config) errors() []plugin.Diagnostic {
	var out []plugin.Diagnostic
	for _, d := range c.diags {
		if d.Severity == plugin.SeverityError {
			out = append(out, d)
		}
	}
	return out
}

func (c *config) buildKeys(field string, keys []KeySource, pol *policy) {
	names := map[string]bool{}
	for i, k := range keys {
		kf := fmt.Sprintf("%s[%d]", field, i)
		name := k.Name
		if name == "" {
			name = fmt.Sprintf("keys[%d]", i)
		}
		if names[name] {
			c.diags = append(c.diags, params.Error(kf+".name", fmt.Sprintf("key name %q is used twice", name), ""))
			continue
		}
		names[name] = true
		var data []byte
		switch {
		case k.PublicKey != "" && k.File != "":
			c.diags = append(c.diags, params.Error(kf, "publicKey and file cannot both be set", ""))
			continue
		case k.PublicKey != "":
			data = []byte(k.PublicKey)
			kf += ".publicKey"
		case k.File != "":
			b, stamp, err := readFile(k.File)
			if err != nil {
				c.diags = append(c.diags, params.Error(kf+".file", "key file cannot be used", err.Error()))
				continue
			}
			c.files = append(c.files, stamp)
			data = b
			kf += ".file"
		default:
			c.diags = append(c.diags, params.Error(kf, "a key needs publicKey or file", "Give the PEM public key (cosign.pub) inline or as an absolute path."))
			continue
		}
		tk, err := parseKey(name, data)
		if err != nil {
			c.diags = append(c.diags, params.Error(kf, "public key does not parse", err.Error()))
			continue
		}
		pol.keys = append(pol.keys, tk)
	}
}

// parseKey parses a PEM public key and loads its sigstore verifier
// (SHA-256 for ECDSA and RSA PKCS #1 v1.5, as cosign signs).
func parseKey(name string, data []byte) (*trustedKey, error) {
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(bytes.TrimSpace(data))
	if err != nil {
		return nil, err
	}
	var typ string
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		typ = "ecdsa-" + k.Curve.Params().Name
	case *rsa.PublicKey:
		typ = fmt.Sprintf("rsa-%d", k.N.BitLen())
	case ed25519.PublicKey:
		typ = "ed25519"
	default:
		return nil, fmt.Errorf("unsupported key type %T (want ECDSA, RSA or Ed25519)", pub)
	}
	if err := cryptoutils.ValidatePubKey(pub); err != nil {
		return nil, err
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, err
	}
	der, err := cryptoutils.MarshalPublicKeyToDER(pub)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(der)
	return &trustedKey{name: name, fingerprint: hex.EncodeToString(sum[:]), public: pub, verifier: v, keyType: typ}, nil
}

func (c *config) buildIdentities(field string, k *Keyless, pol *policy) {
	if len(k.Identities) == 0 {
		c.diags = append(c.diags, params.Error(field+".identities", "identities is required", "Add at least one identity with issuer (or issuerRegExp) and subject (or subjectRegExp)."))
		return
	}
	for i, id := range k.Identities {
		f := fmt.Sprintf("%s.identities[%d]", field, i)
		ok := true
		if (id.Issuer == "") == (id.IssuerRegExp == "") {
			c.diags = append(c.diags, params.Error(f, "exactly one of issuer and issuerRegExp is required", "The OIDC issuer, for example \"https://token.actions.githubusercontent.com\"."))
			ok = false
		}
		if (id.Subject == "") == (id.SubjectRegExp == "") {
			c.diags = append(c.diags, params.Error(f, "exactly one of subject and subjectRegExp is required", "The certificate's subject alternative name: an email address or a URI."))
			ok = false
		}
		for _, re := range []struct{ name, expr string }{{"issuerRegExp", id.IssuerRegExp}, {"subjectRegExp", id.SubjectRegExp}} {
			if re.expr == "" {
				continue
			}
			if _, err := regexp.Compile(re.expr); err != nil {
				c.diags = append(c.diags, params.Error(f+"."+re.name, "invalid regular expression", err.Error()))
				ok = false
			} else if !strings.HasPrefix(re.expr, "^") || !strings.HasSuffix(re.expr, "$") {
				c.diags = append(c.diags, params.Warning(f+"."+re.name, "regular expression is not anchored", fmt.Sprintf("%q matches anywhere in the value, as cosign does; write ^...$ to match the whole value.", re.expr)))
			}
		}
		if !ok {
			continue
		}
		ci, err := verify.NewShortCertificateIdentity(id.Issuer, id.IssuerRegExp, id.Subject, id.SubjectRegExp)
		if err != nil {
			c.diags = append(c.diags, params.Error(f, "invalid identity", err.Error()))
			continue
		}
		pol.identities = append(pol.identities, ci)
		pol.identityText = append(pol.identityText, describeIdentity(id))
	}
}

func describeIdentity(id Identity) string {
	iss := id.Issuer
	if iss == "" {
		iss = "~" + id.IssuerRegExp
	}
	sub := id.Subject
	if sub == "" {
		sub = "~" + id.SubjectRegExp
	}
	return sub + " from " + iss
}

func (c *config) loadTrustedRoot(field string, src *TrustedRootSource) *root.TrustedRoot {
	inline := len(bytes.TrimSpace(src.Inline)) > 0 && !bytes.Equal(bytes.TrimSpace(src.Inline), []byte("null"))
	var data []byte
	switch {
	case inline && src.File != "":
		c.diags = append(c.diags, params.Error(field, "inline and file cannot both be set", ""))
		return nil
	case inline:
		field += ".inline"
		data = bytes.TrimSpace(src.Inline)
		if data[0] == '"' {
			var s string
			if err := json.Unmarshal(data, &s); err != nil {
				c.diags = append(c.diags, params.Error(field, "inline trusted root is not a JSON string or object", err.Error()))
				return nil
			}
			data = []byte(s)
		}
	case src.File != "":
		field += ".file"
		b, stamp, err := readFile(src.File)
		if err != nil {
			c.diags = append(c.diags, params.Error(field, "trusted root file cannot be used", err.Error()))
			return nil
		}
		c.files = append(c.files, stamp)
		data = b
	default:
		c.diags = append(c.diags, params.Error(field, "trustedRoot needs inline or file", "Give the Sigstore trusted_root.json inline or as an absolute path."))
		return nil
	}
	tr, err := root.NewTrustedRootFromJSON(data)
	if err != nil {
		c.diags = append(c.diags, params.Error(field, "not a valid Sigstore trusted root", err.Error()))
		return nil
	}
	return tr
}

// readFile reads a regular file of at most maxFileSize bytes at an
// absolute path.
func readFile(path string) ([]byte, params.FileStamp, error) {
	return params.ReadFile(path, maxFileSize)
}

// match returns the trust policy whose scope matches repository most
// specifically: an exact scope, else the longest matching "<prefix>/*",
// else "*". It returns nil when none matches.
func (c *config) match(repository string) *policy {
	var (
		best    *policy
		bestLen = -1
	)
	for _, p := range c.policies {
		for _, s := range p.scopes {
			n := -1
			switch {
			case s == repository:
				return p
			case s == "*":
				n = 0
			case strings.HasSuffix(s, "/*") && strings.HasPrefix(repository, strings.TrimSuffix(s, "*")):
				n = len(s)
			}
			if n > bestLen {
				best, bestLen = p, n
			}
		}
	}
	return best
}
