package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/notaryproject/notation-core-go/revocation"
	corecrl "github.com/notaryproject/notation-core-go/revocation/crl"
	"github.com/notaryproject/notation-core-go/revocation/purpose"
	"github.com/notaryproject/notation-go/verifier/crl"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/plugin/params"
)

// Parameters is the notation verifier's configuration: the Verifier
// object's spec.parameters. See README.md for a full example.
type Parameters struct {
	// TrustPolicyDocument is a Notary Project trust policy document,
	// version "1.0", exactly as notation's trustpolicy.json (or
	// trustpolicy.oci.json) holds it. Required.
	//
	// Spec: https://github.com/notaryproject/specifications/blob/v1.1.0/specs/trust-store-trust-policy.md
	TrustPolicyDocument *trustpolicy.Document `json:"trustPolicyDocument"`
	// TrustStores defines the named trust stores that trust policies
	// reference as "<type>:<name>".
	TrustStores TrustStores `json:"trustStores"`
	// Revocation tunes OCSP and CRL checks. If omitted, the defaults of
	// RevocationParameters apply.
	Revocation *RevocationParameters `json:"revocation,omitempty"`
}

// TrustStores holds the named trust stores by Notary Project trust store
// type. A name matches [a-zA-Z0-9_.-]+.
type TrustStores struct {
	// CA stores hold root (or intermediate) CAs that issue signing
	// certificates, for the notary.x509 signing scheme.
	CA map[string]TrustStoreSource `json:"ca,omitempty"`
	// TSA stores hold root CAs of timestamping authorities. Every
	// certificate must be a self-signed root.
	TSA map[string]TrustStoreSource `json:"tsa,omitempty"`
	// SigningAuthority stores hold certificates for the
	// notary.x509.signingAuthority signing scheme.
	SigningAuthority map[string]TrustStoreSource `json:"signingAuthority,omitempty"`
}

// TrustStoreSource lists the certificates of one trust store. At least one
// certificate is required across both fields.
type TrustStoreSource struct {
	// Certificates are PEM texts, each holding one or more CERTIFICATE
	// blocks.
	Certificates []string `json:"certificates,omitempty"`
	// Files are absolute paths of PEM or DER certificate files on the
	// plugin's file system (for example a mounted Secret). They are re-read
	// when their size or modification time changes.
	Files []string `json:"files,omitempty"`
}

// RevocationParameters tunes revocation checking. Whether revocation is
// checked, and whether an unknown status fails verification, is the trust
// policy's business (level and override "revocation").
type RevocationParameters struct {
	// CRLCache is where downloaded CRLs are kept until their nextUpdate:
	// "memory" (the default when empty; shared by every configuration of
	// this plugin process), "file" (notation's file cache in CRLCacheDir)
	// or "none".
	CRLCache string `json:"crlCache,omitempty"`
	// CRLCacheDir is the directory of the "file" CRL cache, an absolute
	// path. Required when CRLCache is "file", ignored otherwise.
	CRLCacheDir string `json:"crlCacheDir,omitempty"`
	// Timeout bounds each OCSP request and CRL download, as a Go duration
	// ("5s"). If empty, DefaultRevocationTimeout. The request's own
	// deadline applies too.
	Timeout string `json:"timeout,omitempty"`
}

// CRL cache kinds accepted by RevocationParameters.CRLCache.
const (
	CRLCacheMemory = "memory"
	CRLCacheFile   = "file"
	CRLCacheNone   = "none"
)

// DefaultRevocationTimeout is the revocation timeout when none is set.
const DefaultRevocationTimeout = 5 * time.Second

// maxTrustStoreFileSize bounds a certificate file read from disk.
const maxTrustStoreFileSize = 4 << 20

// supportedPolicyVersion is the only trust policy document version
// notation-go v1.3 accepts.
const supportedPolicyVersion = "1.0"

// storeNamePattern is notation's rule for trust store names.
var storeNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]+$`)

// config is a decoded and validated Parameters plus everything built from
// it once: the in-memory trust store and the revocation validators.
type config struct {
	diags      []plugin.Diagnostic
	doc        *trustpolicy.Document
	store      *memoryTrustStore
	files      []params.FileStamp
	codeSign   revocation.Validator
	timestamp  revocation.Validator
	crlCache   string
	revTimeout time.Duration
}

// Stale reports whether a file the configuration read changed since.
func (c *config) Stale() bool { return params.Changed(c.files) }

// invalid returns the first error diagnostic, or nil.
func (c *config) invalid() *plugin.Diagnostic { return params.FirstError(c.diags) }

// parseConfig decodes and validates raw. It never fails: problems are
// diagnostics, and a config with an error diagnostic must not be used to
// verify. sharedCRLCache backs CRLCache "memory".
func parseConfig(raw []byte, sharedCRLCache corecrl.Cache) *config {
	c := &config{}
	p, diags := params.Decode[Parameters](raw, params.Options{Missing: "Set trustPolicyDocument and trustStores."})
	c.diags = append(c.diags, diags...)
	if p == nil {
		return c
	}
	c.doc = p.TrustPolicyDocument
	validatePolicy(p, &c.diags)
	c.store, c.files = loadTrustStores(p, &c.diags)
	c.buildRevocation(p.Revocation, sharedCRLCache)
	return c
}

// storeTypes lists the trust store types with their parameter field names.
var storeTypes = []struct {
	typ   truststore.Type
	field string
	get   func(*TrustStores) map[string]TrustStoreSource
}{
	{truststore.TypeCA, "ca", func(s *TrustStores) map[string]TrustStoreSource { return s.CA }},
	{truststore.TypeTSA, "tsa", func(s *TrustStores) map[string]TrustStoreSource { return s.TSA }},
	{truststore.TypeSigningAuthority, "signingAuthority", func(s *TrustStores) map[string]TrustStoreSource { return s.SigningAuthority }},
}

// validatePolicy checks the trust policy document with notation-go's own
// rules, statement by statement so a problem names its statement, and
// checks that every trust store a statement references is defined.
func validatePolicy(p *Parameters, diags *[]plugin.Diagnostic) {
	doc := p.TrustPolicyDocument
	if doc == nil {
		*diags = append(*diags, params.Error("trustPolicyDocument", "trustPolicyDocument is required", `A Notary Project trust policy document: {"version": "1.0", "trustPolicies": [...]}.`))
		return
	}
	version := doc.Version
	if version != supportedPolicyVersion {
		*diags = append(*diags, params.Error("trustPolicyDocument.version", fmt.Sprintf("unsupported trust policy version %q", version), fmt.Sprintf("Use %q.", supportedPolicyVersion)))
		version = supportedPolicyVersion // validate the statements anyway
	}
	if len(doc.TrustPolicies) == 0 {
		*diags = append(*diags, params.Error("trustPolicyDocument.trustPolicies", "trustPolicies is empty", "Add at least one trust policy statement."))
		return
	}
	statementsOK := true
	for i, tp := range doc.TrustPolicies {
		field := fmt.Sprintf("trustPolicyDocument.trustPolicies[%d]", i)
		single := &trustpolicy.Document{Version: version, TrustPolicies: []trustpolicy.TrustPolicy{tp}}
		if err := single.Validate(); err != nil {
			statementsOK = false
			*diags = append(*diags, params.Error(field, "invalid trust policy statement", err.Error()))
		}
		for j, ref := range tp.TrustStores {
			typ, name, found := strings.Cut(ref, ":")
			if !found {
				continue // reported by Validate
			}
			for _, st := range storeTypes {
				if string(st.typ) != typ {
					continue
				}
				if _, ok := st.get(&p.TrustStores)[name]; !ok {
					*diags = append(*diags, params.Error(fmt.Sprintf("%s.trustStores[%d]", field, j),
						fmt.Sprintf("trust store %q is not defined", ref),
						fmt.Sprintf("Define trustStores.%s.%s with its certificates, or remove %q from the statement.", st.field, name, ref)))
				}
			}
		}
	}
	if statementsOK {
		checked := &trustpolicy.Document{Version: version, TrustPolicies: doc.TrustPolicies}
		if err := checked.Validate(); err != nil {
			*diags = append(*diags, params.Error("trustPolicyDocument.trustPolicies", "invalid trust policy document", err.Error()))
		}
	}

	// Stores nobody references are harmless but usually a typo.
	used := map[string]bool{}
	for _, tp := range doc.TrustPolicies {
		for _, ref := range tp.TrustStores {
			used[ref] = true
		}
	}
	for _, st := range storeTypes {
		for _, name := range slices.Sorted(maps.Keys(st.get(&p.TrustStores))) {
			if !used[string(st.typ)+":"+name] {
				*diags = append(*diags, params.Warning(params.JoinPath("trustStores."+st.field, name),
					"trust store is not referenced by any trust policy",
					fmt.Sprintf("Reference it as %q in a statement's trustStores, or remove it.", string(st.typ)+":"+name)))
			}
		}
	}
}

// loadTrustStores parses every trust store's certificates into the
// in-memory store.
func loadTrustStores(p *Parameters, diags *[]plugin.Diagnostic) (*memoryTrustStore, []params.FileStamp) {
	store := &memoryTrustStore{stores: map[truststore.Type]map[string]storeEntry{}}
	var files []params.FileStamp
	now := time.Now()
	for _, st := range storeTypes {
		entries := map[string]storeEntry{}
		for _, name := range slices.Sorted(maps.Keys(st.get(&p.TrustStores))) {
			src := st.get(&p.TrustStores)[name]
			field := params.JoinPath("trustStores."+st.field, name)
			if !storeNamePattern.MatchString(name) {
				*diags = append(*diags, params.Error(field, fmt.Sprintf("invalid trust store name %q", name), "A trust store name matches [a-zA-Z0-9_.-]+."))
				continue
			}
			var certs []*x509.Certificate
			for i, text := range src.Certificates {
				parsed, err := parsePEMCertificates([]byte(text))
				if err != nil {
					*diags = append(*diags, params.Error(fmt.Sprintf("%s.certificates[%d]", field, i), "certificate does not parse", err.Error()))
					continue
				}
				certs = append(certs, parsed...)
			}
			for i, path := range src.Files {
				parsed, stamp, err := readCertificateFile(path)
				if err != nil {
					*diags = append(*diags, params.Error(fmt.Sprintf("%s.files[%d]", field, i), "certificate file cannot be used", err.Error()))
					continue
				}
				files = append(files, stamp)
				certs = append(certs, parsed...)
			}
			if len(src.Certificates) == 0 && len(src.Files) == 0 {
				*diags = append(*diags, params.Error(field, "trust store has no certificates", "Add PEM certificates under certificates or paths under files."))
				continue
			}
			entry := storeEntry{certs: certs}
			// notation's file trust store refuses a store holding a
			// certificate that is neither a CA nor self-signed (a bare
			// leaf), and a tsa store holding anything but roots. Mirror it:
			// verification against such a store fails as untrusted.
			if len(certs) > 0 {
				if err := truststore.ValidateCertificates(certs); err != nil {
					entry.err = truststore.CertificateError{InnerError: err, Msg: fmt.Sprintf("trust store %q of type %q is unusable: %v", name, st.typ, err)}
				} else if st.typ == truststore.TypeTSA {
					for _, c := range certs {
						if !c.IsCA || !bytes.Equal(c.RawIssuer, c.RawSubject) || c.CheckSignatureFrom(c) != nil {
							entry.err = truststore.CertificateError{Msg: fmt.Sprintf("trust store %q of type \"tsa\" is unusable: certificate with subject %q is not a root CA certificate", name, c.Subject)}
							break
						}
					}
				}
				if entry.err != nil {
					*diags = append(*diags, params.Warning(field, "trust store cannot anchor any signature",
						entry.err.Error()+". notation trusts CA (or self-signed) certificates only, and root CAs only in tsa stores, so every signature checked against this store fails as SIGNATURE_UNTRUSTED (TIMESTAMP_INVALID for a tsa store). Put the issuing root CA here instead."))
				}
				for _, c := range certs {
					if now.After(c.NotAfter) {
						*diags = append(*diags, params.Warning(field, fmt.Sprintf("certificate %q expired on %s", c.Subject, c.NotAfter.UTC().Format(time.RFC3339)), "Signatures chaining to it only verify with a trusted timestamp made while it was valid."))
					}
				}
			}
			entries[name] = entry
		}
		store.stores[st.typ] = entries
	}
	return store, files
}

// parsePEMCertificates parses one or more PEM CERTIFICATE blocks.
func parsePEMCertificates(data []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block of type %q is not a CERTIFICATE", block.Type)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block found")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("unexpected data after the last PEM block")
	}
	return certs, nil
}

// readCertificateFile reads a PEM or DER certificate file, as notation's
// file trust store does.
func readCertificateFile(path string) ([]*x509.Certificate, params.FileStamp, error) {
	data, stamp, err := params.ReadFile(path, maxTrustStoreFileSize)
	if err != nil {
		return nil, params.FileStamp{}, err
	}
	if block, _ := pem.Decode(data); block != nil {
		certs, err := parsePEMCertificates(data)
		if err != nil {
			return nil, params.FileStamp{}, fmt.Errorf("%s: %w", path, err)
		}
		return certs, stamp, nil
	}
	certs, err := x509.ParseCertificates(data)
	if err != nil {
		return nil, params.FileStamp{}, fmt.Errorf("%s: neither PEM nor DER certificates: %w", path, err)
	}
	if len(certs) == 0 {
		return nil, params.FileStamp{}, fmt.Errorf("%s holds no certificate", path)
	}
	return certs, stamp, nil
}

// buildRevocation validates the revocation parameters and builds the code
// signing and timestamping validators (OCSP first, CRL as fallback, as
// notation-core-go does).
func (c *config) buildRevocation(r *RevocationParameters, shared corecrl.Cache) {
	if r == nil {
		r = &RevocationParameters{}
	}
	c.revTimeout = DefaultRevocationTimeout
	if r.Timeout != "" {
		d, err := time.ParseDuration(r.Timeout)
		switch {
		case err != nil:
			c.diags = append(c.diags, params.Error("revocation.timeout", fmt.Sprintf("invalid duration %q", r.Timeout), `Use a Go duration such as "5s".`))
		case d <= 0:
			c.diags = append(c.diags, params.Error("revocation.timeout", fmt.Sprintf("timeout %q must be positive", r.Timeout), ""))
		default:
			c.revTimeout = d
		}
	}
	var cache corecrl.Cache
	c.crlCache = r.CRLCache
	switch r.CRLCache {
	case "", CRLCacheMemory:
		c.crlCache = CRLCacheMemory
		cache = shared
	case CRLCacheNone:
	case CRLCacheFile:
		if r.CRLCacheDir == "" || !filepath.IsAbs(r.CRLCacheDir) {
			c.diags = append(c.diags, params.Error("revocation.crlCacheDir", "crlCacheDir must be an absolute directory when crlCache is \"file\"", ""))
			break
		}
		// The directory must exist: validating parameters must not create
		// directories (notation's NewFileCache would).
		if fi, err := os.Stat(r.CRLCacheDir); err != nil || !fi.IsDir() {
			c.diags = append(c.diags, params.Error("revocation.crlCacheDir", "crlCacheDir is not an existing directory", fmt.Sprintf("Create %s (for example an emptyDir volume) or use crlCache \"memory\".", r.CRLCacheDir)))
			break
		}
		fc, err := crl.NewFileCache(r.CRLCacheDir)
		if err != nil {
			c.diags = append(c.diags, params.Error("revocation.crlCacheDir", "CRL file cache cannot be created", err.Error()))
			break
		}
		cache = fc
	default:
		c.diags = append(c.diags, params.Error("revocation.crlCache", fmt.Sprintf("unknown CRL cache %q", r.CRLCache), `Use "memory", "file" or "none".`))
	}
	if r.CRLCacheDir != "" && r.CRLCache != CRLCacheFile {
		c.diags = append(c.diags, params.Warning("revocation.crlCacheDir", "crlCacheDir is ignored unless crlCache is \"file\"", ""))
	}
	if c.invalid() != nil {
		return
	}

	client := &http.Client{Timeout: c.revTimeout}
	fetcher, err := corecrl.NewHTTPFetcher(client)
	if err != nil {
		c.diags = append(c.diags, params.Error("revocation", "CRL fetcher cannot be created", err.Error()))
		return
	}
	fetcher.Cache = cache
	// A cache that cannot be read or written must not fail a check that
	// could download the CRL.
	fetcher.DiscardCacheError = true
	for _, v := range []struct {
		dst     *revocation.Validator
		purpose purpose.Purpose
	}{
		{&c.codeSign, purpose.CodeSigning},
		{&c.timestamp, purpose.Timestamping},
	} {
		val, err := revocation.NewWithOptions(revocation.Options{OCSPHTTPClient: client, CRLFetcher: fetcher, CertChainPurpose: v.purpose})
		if err != nil {
			c.diags = append(c.diags, params.Error("revocation", "revocation validator cannot be created", err.Error()))
			return
		}
		*v.dst = val
	}
}

// memoryTrustStore implements notation-go's truststore.X509TrustStore from
// the parameters, keyed by (type, name).
type memoryTrustStore struct {
	stores map[truststore.Type]map[string]storeEntry
}

type storeEntry struct {
	certs []*x509.Certificate
	// err, when set, is returned instead of the certificates, as
	// notation's file trust store does for an unusable store.
	err error
}

var _ truststore.X509TrustStore = (*memoryTrustStore)(nil)

// GetCertificates returns the certificates of the named store. It returns a
// truststore.TrustStoreError when the store is not defined and a
// truststore.CertificateError when it is unusable.
func (s *memoryTrustStore) GetCertificates(_ context.Context, storeType truststore.Type, name string) ([]*x509.Certificate, error) {
	entry, ok := s.stores[storeType][name]
	if !ok {
		return nil, truststore.TrustStoreError{Msg: fmt.Sprintf("the trust store %q of type %q does not exist", name, storeType)}
	}
	if entry.err != nil {
		return nil, entry.err
	}
	if len(entry.certs) == 0 {
		return nil, truststore.CertificateError{Msg: fmt.Sprintf("no x509 certificates were found in trust store %q of type %q", name, storeType)}
	}
	return slices.Clone(entry.certs), nil
}
