package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"oras.land/oras-go/v2/content/memory"

	"github.com/assayproj/assay/pkg/doctest"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/plugin"
)

func TestValidateConfig(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(t, root, notationtest.LeafOptions{})
	tsa := notationtest.MustTSA(t, notationtest.TSAOptions{})
	rootPEM := notationtest.PEM(root.Cert)
	dir := t.TempDir()
	rootFile := filepath.Join(dir, "root.pem")
	if err := os.WriteFile(rootFile, []byte(rootPEM), 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	derFile := filepath.Join(dir, "root.der")
	if err := os.WriteFile(derFile, root.Cert.Raw, 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	garbageFile := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbageFile, []byte("not a certificate"), 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	expiredRoot := notationtest.MustCA(t, notationtest.CAOptions{NotBefore: time.Now().Add(-2 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})

	base := func() notationtest.Params { return notationtest.NewParams(testRepo, root, tsa) }
	type want struct {
		field    string
		severity plugin.Severity
	}
	tests := map[string]struct {
		raw    string                                            // used when set
		params func(p *notationtest.Params) *notationtest.Params // else base() mutated
		want   []want                                            // nil: no diagnostics at all
	}{
		"a complete configuration has no diagnostics": {
			params: func(p *notationtest.Params) *notationtest.Params { return p },
		},
		"certificates from PEM and DER files are accepted": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Files: []string{rootFile, derFile}}
				return p
			},
		},
		"every revocation setting is accepted": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.Revocation = &notationtest.Revocation{CRLCache: "file", CRLCacheDir: t.TempDir(), Timeout: "2s"}
				return p
			},
		},
		"empty parameters": {
			raw:  "",
			want: []want{{"", plugin.SeverityError}},
		},
		"null parameters": {
			raw:  "null",
			want: []want{{"", plugin.SeverityError}},
		},
		"parameters that are not JSON": {
			raw:  `{"trustPolicyDocument": `,
			want: []want{{"", plugin.SeverityError}},
		},
		"two JSON values": {
			raw:  `{} {}`,
			want: []want{{"", plugin.SeverityError}},
		},
		"parameters that are an array": {
			raw:  `[]`,
			want: []want{{"", plugin.SeverityError}},
		},
		"an unknown top-level field": {
			raw:  `{"trustPolicyDocumnt": {}}`,
			want: []want{{"trustPolicyDocumnt", plugin.SeverityError}, {"trustPolicyDocument", plugin.SeverityError}},
		},
		"a field spelled with the wrong case": {
			raw: `{"TrustPolicyDocument": {"version": "1.0"}}`,
			// The rest is still validated, so the empty document shows too.
			want: []want{{"TrustPolicyDocument", plugin.SeverityError}, {"trustPolicyDocument.trustPolicies", plugin.SeverityError}},
		},
		"an unknown field deep in a trust policy statement": {
			raw: `{"trustPolicyDocument": {"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": ["*"],
				"signatureVerification": {"levl": "strict"}, "trustStores": ["ca:test"], "trustedIdentities": ["*"]}]},
				"trustStores": {"ca": {"test": {"certificates": [` + jsonString(rootPEM) + `]}}}}`,
			want: []want{{"trustPolicyDocument.trustPolicies[0].signatureVerification.levl", plugin.SeverityError}, {"trustPolicyDocument.trustPolicies[0]", plugin.SeverityError}},
		},
		"an unknown field in a trust store": {
			raw: `{"trustPolicyDocument": {"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": ["*"],
				"signatureVerification": {"level": "strict"}, "trustStores": ["ca:test"], "trustedIdentities": ["*"]}]},
				"trustStores": {"ca": {"test": {"certificate": [` + jsonString(rootPEM) + `]}}}}`,
			want: []want{{"trustStores.ca.test.certificate", plugin.SeverityError}, {"trustStores.ca.test", plugin.SeverityError}},
		},
		"a value of the wrong type": {
			raw:  `{"trustPolicyDocument": {"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": "*"}]}}`,
			want: []want{{"trustPolicyDocument.trustPolicies.registryScopes", plugin.SeverityError}},
		},
		"no trust policy document": {
			params: func(p *notationtest.Params) *notationtest.Params { p.TrustPolicyDocument = nil; return p },
			want:   []want{{"trustPolicyDocument", plugin.SeverityError}},
		},
		"an unsupported trust policy version": {
			params: func(p *notationtest.Params) *notationtest.Params { p.TrustPolicyDocument.Version = "2.0"; return p },
			want:   []want{{"trustPolicyDocument.version", plugin.SeverityError}},
		},
		"no trust policy statement": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustPolicyDocument.TrustPolicies = nil
				return p
			},
			want: []want{{"trustPolicyDocument.trustPolicies", plugin.SeverityError}},
		},
		"an unknown verification level": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustPolicyDocument.TrustPolicies[0].SignatureVerification.VerificationLevel = "paranoid"
				return p
			},
			want: []want{{"trustPolicyDocument.trustPolicies[0]", plugin.SeverityError}},
		},
		"an override of integrity": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustPolicyDocument.TrustPolicies[0].SignatureVerification.Override = map[trustpolicy.ValidationType]trustpolicy.ValidationAction{trustpolicy.TypeIntegrity: trustpolicy.ActionLog}
				return p
			},
			want: []want{{"trustPolicyDocument.trustPolicies[0]", plugin.SeverityError}},
		},
		"a registry scope with a tag": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustPolicyDocument.TrustPolicies[0].RegistryScopes = []string{"localhost:5000/app:v1"}
				return p
			},
			want: []want{{"trustPolicyDocument.trustPolicies[0]", plugin.SeverityError}},
		},
		"a malformed trusted identity": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustPolicyDocument.TrustPolicies[0].TrustedIdentities = []string{"x509.subject: CN=only a common name"}
				return p
			},
			want: []want{{"trustPolicyDocument.trustPolicies[0]", plugin.SeverityError}},
		},
		"two statements with the same registry scope": {
			params: func(p *notationtest.Params) *notationtest.Params {
				second := p.TrustPolicyDocument.TrustPolicies[0]
				second.Name = "second"
				p.TrustPolicyDocument.TrustPolicies = append(p.TrustPolicyDocument.TrustPolicies, second)
				return p
			},
			want: []want{{"trustPolicyDocument.trustPolicies", plugin.SeverityError}},
		},
		"a trust store referenced by a policy but not defined": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustPolicyDocument.TrustPolicies[0].TrustStores = []string{"ca:test", "tsa:test", "ca:missing"}
				return p
			},
			want: []want{{"trustPolicyDocument.trustPolicies[0].trustStores[2]", plugin.SeverityError}},
		},
		"a trust store of an unknown type in a policy": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustPolicyDocument.TrustPolicies[0].TrustStores = []string{"ca:test", "tsa:test", "x509:test"}
				return p
			},
			want: []want{{"trustPolicyDocument.trustPolicies[0]", plugin.SeverityError}},
		},
		"a PEM certificate that does not parse": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Certificates: []string{"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}}
				return p
			},
			want: []want{{"trustStores.ca.test.certificates[0]", plugin.SeverityError}},
		},
		"text that holds no PEM block": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Certificates: []string{rootPEM, "hello"}}
				return p
			},
			want: []want{{"trustStores.ca.test.certificates[1]", plugin.SeverityError}},
		},
		"a PEM block that is not a certificate": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Certificates: []string{"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}}
				return p
			},
			want: []want{{"trustStores.ca.test.certificates[0]", plugin.SeverityError}},
		},
		"a certificate file that does not exist": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Files: []string{filepath.Join(dir, "missing.pem")}}
				return p
			},
			want: []want{{"trustStores.ca.test.files[0]", plugin.SeverityError}},
		},
		"a certificate file with a relative path": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Files: []string{"root.pem"}}
				return p
			},
			want: []want{{"trustStores.ca.test.files[0]", plugin.SeverityError}},
		},
		"a certificate file that holds no certificate": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Files: []string{rootFile, garbageFile}}
				return p
			},
			want: []want{{"trustStores.ca.test.files[1]", plugin.SeverityError}},
		},
		"a directory given as a certificate file": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Files: []string{dir}}
				return p
			},
			want: []want{{"trustStores.ca.test.files[0]", plugin.SeverityError}},
		},
		"a trust store without certificates": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{}
				return p
			},
			want: []want{{"trustStores.ca.test", plugin.SeverityError}},
		},
		"a trust store name notation does not allow": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["bad name"] = notationtest.TrustStore{Certificates: []string{rootPEM}}
				return p
			},
			want: []want{{`trustStores.ca["bad name"]`, plugin.SeverityError}, {`trustStores.ca["bad name"]`, plugin.SeverityWarning}},
		},
		"a trust store holding only a leaf certificate is a warning": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Certificates: []string{notationtest.PEM(leaf.Cert)}}
				return p
			},
			want: []want{{"trustStores.ca.test", plugin.SeverityWarning}},
		},
		"a tsa store holding a certificate that is not a root is a warning": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.TSA["test"] = notationtest.TrustStore{Certificates: []string{notationtest.PEM(tsa.Cert)}}
				return p
			},
			want: []want{{"trustStores.tsa.test", plugin.SeverityWarning}},
		},
		"an expired trust anchor is a warning": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.CA["test"] = notationtest.TrustStore{Certificates: []string{notationtest.PEM(expiredRoot.Cert)}}
				return p
			},
			want: []want{{"trustStores.ca.test", plugin.SeverityWarning}},
		},
		"a trust store no policy references is a warning": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.TrustStores.SigningAuthority = map[string]notationtest.TrustStore{"spare": {Certificates: []string{rootPEM}}}
				return p
			},
			want: []want{{"trustStores.signingAuthority.spare", plugin.SeverityWarning}},
		},
		"a revocation timeout that is not a duration": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.Revocation = &notationtest.Revocation{Timeout: "five seconds"}
				return p
			},
			want: []want{{"revocation.timeout", plugin.SeverityError}},
		},
		"a revocation timeout that is not positive": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.Revocation = &notationtest.Revocation{Timeout: "-1s"}
				return p
			},
			want: []want{{"revocation.timeout", plugin.SeverityError}},
		},
		"an unknown CRL cache": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.Revocation = &notationtest.Revocation{CRLCache: "redis"}
				return p
			},
			want: []want{{"revocation.crlCache", plugin.SeverityError}},
		},
		"a file CRL cache without a directory": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.Revocation = &notationtest.Revocation{CRLCache: "file"}
				return p
			},
			want: []want{{"revocation.crlCacheDir", plugin.SeverityError}},
		},
		"a CRL cache directory without the file cache is a warning": {
			params: func(p *notationtest.Params) *notationtest.Params {
				p.Revocation = &notationtest.Revocation{CRLCache: "memory", CRLCacheDir: dir}
				return p
			},
			want: []want{{"revocation.crlCacheDir", plugin.SeverityWarning}},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw := []byte(tc.raw)
			if tc.params != nil {
				p := base()
				raw = notationtest.MustJSON(t, *tc.params(&p))
			}
			diags, err := NewVerifier(Options{}).ValidateConfig(context.Background(), raw)
			if err != nil {
				t.Fatalf("ValidateConfig: %v", err)
			}
			for _, d := range diags {
				t.Logf("%v %q: %s: %s", d.Severity, d.Field, d.Summary, d.Detail)
				if d.Summary == "" {
					t.Errorf("diagnostic for %q has no summary", d.Field)
				}
			}
			if len(diags) != len(tc.want) {
				t.Fatalf("got %d diagnostics, want %d: %+v", len(diags), len(tc.want), diags)
			}
			for _, w := range tc.want {
				found := false
				for _, d := range diags {
					if d.Field == w.field && d.Severity == w.severity {
						found = true
					}
				}
				if !found {
					t.Errorf("no diagnostic of severity %v for field %q in %+v", w.severity, w.field, diags)
				}
			}
		})
	}
}

func jsonString(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

func TestConfigIsCachedByItsBytes(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	raw := notationtest.MustJSON(t, notationtest.NewParams(testRepo, root, nil))
	v := NewVerifier(Options{MaxConfigs: 2})
	first := v.configs.Get(raw)
	if again := v.configs.Get(append([]byte(nil), raw...)); again != first {
		t.Fatal("the same bytes were parsed twice")
	}
	other := notationtest.MustJSON(t, notationtest.NewParams("localhost:5000/other", root, nil))
	third := notationtest.MustJSON(t, notationtest.NewParams("localhost:5000/third", root, nil))
	v.configs.Get(other)
	v.configs.Get(third)
	if again := v.configs.Get(raw); again == first {
		t.Fatal("the oldest configuration was not evicted past MaxConfigs")
	}
}

func TestAChangedTrustStoreFileIsReRead(t *testing.T) {
	oldRoot := notationtest.MustCA(t, notationtest.CAOptions{})
	newRoot := notationtest.MustCA(t, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(t, newRoot, notationtest.LeafOptions{})
	subject := notationtest.MustPushImage(t, memory.New(), t.Name(), "")
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, []byte(notationtest.PEM(oldRoot.Cert)), 0o600); err != nil {
		t.Fatalf("write: %v", err)
	}
	p := notationtest.NewParams(testRepo, nil, nil)
	p.TrustStores.CA[notationtest.DefaultStoreName] = notationtest.TrustStore{Files: []string{path}}
	req := notationtest.MustVerifyRequest(t, notationtest.MustJSON(t, p), testRepo, subject, notationtest.MustSign(t, leaf, subject, notationtest.SignOptions{}))
	v := NewVerifier(Options{})

	verify := func(want plugin.Verdict) {
		t.Helper()
		resp, err := v.Verify(context.Background(), req)
		if err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if resp.Verdict != want {
			t.Fatalf("got %s/%s (%s), want %s", resp.Verdict, resp.Reason, resp.Message, want)
		}
	}
	verify(plugin.VerdictFailed)
	// A rotated Secret: new content, new size or modification time.
	if err := os.WriteFile(path, []byte(notationtest.PEM(newRoot.Cert)+"\n"), 0o600); err != nil {
		t.Fatalf("rewrite: %v", err)
	}
	verify(plugin.VerdictVerified)
}

// TestDocumentedParametersAreAccepted parses the parameters of every
// notation Verifier shown in the documentation (docs/*.md and the READMEs,
// read with pkg/doctest) with this plugin's parser. The placeholders the
// documentation shows for the reader's own trust material are replaced by
// real certificates, in files where a path is shown, so any diagnostic
// (an unknown field, a wrong type, a renamed field) fails.
func TestDocumentedParametersAreAccepted(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	tsa := notationtest.MustTSA(t, notationtest.TSAOptions{})
	rootPEM, tsaPEM := notationtest.PEM(root.Cert), notationtest.PEM(tsa.Root)
	file := func(name, data string) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	subs := doctest.Substitutions{
		Strings: map[string]string{
			"-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n": rootPEM,
			"/etc/assay/acme-root.pem":                                      file("acme-root.pem", rootPEM),
			"/etc/assay/trust/root.pem":                                     file("root.pem", rootPEM),
			"/etc/assay/tsa-root.pem":                                       file("tsa-root.pem", tsaPEM),
		},
		ValueFrom: func(map[string]any) string { return rootPEM },
	}
	blocks, err := doctest.Read("../..")
	if err != nil {
		t.Fatal(err)
	}
	documented, err := doctest.VerifierParameters(blocks, "notation")
	if err != nil {
		t.Fatal(err)
	}
	if len(documented) < 3 {
		t.Fatalf("found %d notation Verifiers in the documentation; want the README's, configuration.md's and deployment.md's", len(documented))
	}
	used := map[string]bool{}
	for _, p := range documented {
		raw, u, err := p.Substitute(subs)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range u {
			used[s] = true
		}
		for _, d := range parseConfig(raw, newMemoryCRLCache(4)).diags {
			t.Errorf("%s: field %s: %s: %s", p, d.Field, d.Summary, d.Detail)
		}
	}
	for s := range subs.Strings {
		if !used[s] {
			t.Errorf("placeholder %q is no longer documented; remove it from the test", s)
		}
	}
}
