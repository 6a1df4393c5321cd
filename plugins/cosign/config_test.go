package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/doctest"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/reason"
)

func TestValidateConfig(t *testing.T) {
	s := cosigntest.MustSigstore(t)
	key := cosigntest.MustKey(t, cosigntest.ECDSA)
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "cosign.pub")
	rootFile := filepath.Join(dir, "trusted_root.json")
	garbage := filepath.Join(dir, "garbage")
	for path, data := range map[string][]byte{keyFile: []byte(key.PublicKeyPEM()), rootFile: s.MustTrustedRootJSON(t), garbage: []byte("not a key")} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	keyless := func() cosigntest.Params { return s.MustKeylessParams(t, testRepo, "", "") }
	keys := func() cosigntest.Params { return cosigntest.KeyParams(testRepo, key) }
	type want struct {
		field    string
		severity plugin.Severity
	}
	tests := map[string]struct {
		raw    string                          // used when set
		params func() cosigntest.Params        // else these
		edit   func(p *cosigntest.TrustPolicy) // applied to the first policy
		want   []want                          // nil: no diagnostics at all
	}{
		"a keyless policy with an inline trusted root has no diagnostics": {params: keyless},
		"a key policy without a log has no diagnostics":                   {params: keys},
		"a key from a file and a trusted root from a file are accepted": {params: keys, edit: func(p *cosigntest.TrustPolicy) {
			p.Keys = []cosigntest.KeyRef{{Name: "release", File: keyFile}}
			p.Tlog = "require"
			p.TrustedRoot = &cosigntest.TrustedRoot{File: rootFile}
		}},
		"a trusted root given as a JSON string is accepted": {params: keyless, edit: func(p *cosigntest.TrustPolicy) {
			p.TrustedRoot.Inline = []byte(jsonString(string(p.TrustedRoot.Inline)))
		}},
		"empty parameters":             {raw: "", want: []want{{"", plugin.SeverityError}}},
		"parameters that are not JSON": {raw: `{"trustPolicies": `, want: []want{{"", plugin.SeverityError}}},
		"two JSON values":              {raw: `{} {}`, want: []want{{"", plugin.SeverityError}}},
		"no trust policies":            {raw: `{}`, want: []want{{"trustPolicies", plugin.SeverityError}}},
		"an unknown field is named with its path": {
			raw:  `{"trustPolicies": [{"name": "p", "scopes": ["*"], "tlog": "skip", "keys": [{"publicKey": "x", "pem": "y"}]}]}`,
			want: []want{{"trustPolicies[0].keys[0].pem", plugin.SeverityError}, {"trustPolicies[0].keys[0].publicKey", plugin.SeverityError}},
		},
		"a field spelled with the wrong case is unknown": {
			raw:  `{"TrustPolicies": []}`,
			want: []want{{"TrustPolicies", plugin.SeverityError}, {"trustPolicies", plugin.SeverityError}},
		},
		"a value of the wrong type": {
			raw:  `{"trustPolicies": [{"name": "p", "scopes": "*"}]}`,
			want: []want{{"trustPolicies.scopes", plugin.SeverityError}},
		},
		"a policy without a name": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Name = "" }, want: []want{{"trustPolicies[0].name", plugin.SeverityError}}},
		"a policy without scopes": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Scopes = nil }, want: []want{{"trustPolicies[0].scopes", plugin.SeverityError}}},
		"a wildcard in the middle of a scope": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Scopes = []string{"registry.example/*/app"} },
			want: []want{{"trustPolicies[0].scopes[0]", plugin.SeverityError}}},
		"a scope with a tag": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Scopes = []string{"registry.example/app:v1"} },
			want: []want{{"trustPolicies[0].scopes[0]", plugin.SeverityError}}},
		"neither keys nor keyless": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Keys = nil }, want: []want{{"trustPolicies[0]", plugin.SeverityError}}},
		"both keys and keyless": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.Keys = []cosigntest.KeyRef{{PublicKey: key.PublicKeyPEM()}} },
			want: []want{{"trustPolicies[0]", plugin.SeverityError}}},
		"a key that does not parse": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Keys[0].PublicKey = "not a key" },
			want: []want{{"trustPolicies[0].keys[0].publicKey", plugin.SeverityError}}},
		"a key file that is not a key": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Keys = []cosigntest.KeyRef{{File: garbage}} },
			want: []want{{"trustPolicies[0].keys[0].file", plugin.SeverityError}}},
		"a relative key file": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Keys = []cosigntest.KeyRef{{File: "cosign.pub"}} },
			want: []want{{"trustPolicies[0].keys[0].file", plugin.SeverityError}}},
		"a key with both publicKey and file": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Keys[0].File = keyFile },
			want: []want{{"trustPolicies[0].keys[0]", plugin.SeverityError}}},
		"a key with neither publicKey nor file": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Keys[0].PublicKey = "" },
			want: []want{{"trustPolicies[0].keys[0]", plugin.SeverityError}}},
		"keys with the same name": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Keys = append(p.Keys, p.Keys[0]) },
			want: []want{{"trustPolicies[0].keys[1].name", plugin.SeverityError}}},
		"an unknown tlog setting": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Tlog = "sometimes" },
			want: []want{{"trustPolicies[0].tlog", plugin.SeverityError}}},
		"an unknown sct setting": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.SCT = "maybe" },
			want: []want{{"trustPolicies[0].sct", plugin.SeverityError}}},
		"a negative timestamps threshold": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.Timestamps = -1 },
			want: []want{{"trustPolicies[0].timestamps", plugin.SeverityError}}},
		"keys with the log required but no trusted root": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.Tlog = "" },
			want: []want{{"trustPolicies[0].trustedRoot", plugin.SeverityError}}},
		"sct required for keys is ignored with a warning": {params: keys, edit: func(p *cosigntest.TrustPolicy) { p.SCT = "require" },
			want: []want{{"trustPolicies[0].sct", plugin.SeverityWarning}}},
		"keyless without a trusted root": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.TrustedRoot = nil },
			want: []want{{"trustPolicies[0].trustedRoot", plugin.SeverityError}}},
		"keyless with neither log nor timestamps": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.Tlog = "skip" },
			want: []want{{"trustPolicies[0].tlog", plugin.SeverityError}}},
		"keyless without identities": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.Keyless.Identities = nil },
			want: []want{{"trustPolicies[0].keyless.identities", plugin.SeverityError}}},
		"an identity without an issuer": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.Keyless.Identities[0].Issuer = "" },
			want: []want{{"trustPolicies[0].keyless.identities[0]", plugin.SeverityError}}},
		"an identity with both subject and subjectRegExp": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.Keyless.Identities[0].SubjectRegExp = "^x$" },
			want: []want{{"trustPolicies[0].keyless.identities[0]", plugin.SeverityError}}},
		"an invalid regular expression": {params: keyless, edit: func(p *cosigntest.TrustPolicy) {
			p.Keyless.Identities[0].Subject, p.Keyless.Identities[0].SubjectRegExp = "", "^(unclosed$"
		}, want: []want{{"trustPolicies[0].keyless.identities[0].subjectRegExp", plugin.SeverityError}}},
		"an unanchored regular expression is a warning": {params: keyless, edit: func(p *cosigntest.TrustPolicy) {
			p.Keyless.Identities[0].Subject, p.Keyless.Identities[0].SubjectRegExp = "", "@assay.test"
		}, want: []want{{"trustPolicies[0].keyless.identities[0].subjectRegExp", plugin.SeverityWarning}}},
		"a trusted root that does not parse": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.TrustedRoot.Inline = []byte(`{"mediaType": "x"}`) },
			want: []want{{"trustPolicies[0].trustedRoot.inline", plugin.SeverityError}}},
		"a trusted root with both inline and file": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.TrustedRoot.File = rootFile },
			want: []want{{"trustPolicies[0].trustedRoot", plugin.SeverityError}}},
		"sct required with a trusted root without CT logs would be refused, but the test root has one": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.SCT = "require" }},
		"an empty predicate type": {params: keyless, edit: func(p *cosigntest.TrustPolicy) { p.PredicateTypes = []string{""} },
			want: []want{{"trustPolicies[0].predicateTypes[0]", plugin.SeverityError}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			raw := []byte(tc.raw)
			if tc.params != nil {
				p := tc.params()
				if tc.edit != nil {
					tc.edit(&p.TrustPolicies[0])
				}
				raw = cosigntest.MustJSON(t, p)
			}
			diags, err := NewVerifier(Options{}).ValidateConfig(context.Background(), raw)
			if err != nil {
				t.Fatalf("ValidateConfig: %v", err)
			}
			if len(diags) != len(tc.want) {
				t.Fatalf("diagnostics = %+v, want %d: %+v", diags, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if diags[i].Field != w.field || diags[i].Severity != w.severity || diags[i].Summary == "" {
					t.Errorf("diagnostic %d = %+v, want field %q severity %v", i, diags[i], w.field, w.severity)
				}
			}
		})
	}
}

func TestOverlappingScopesAcrossPoliciesAreRefused(t *testing.T) {
	a, b := cosigntest.MustKey(t, cosigntest.ECDSA), cosigntest.MustKey(t, cosigntest.ECDSA)
	p := cosigntest.KeyParams("registry.example/*", a)
	second := cosigntest.KeyParams("registry.example/*", b).TrustPolicies[0]
	second.Name = "second"
	p.TrustPolicies = append(p.TrustPolicies, second)
	c := parseConfig(cosigntest.MustJSON(t, p))
	if d := c.invalid(); d == nil || d.Field != "trustPolicies[1].scopes[0]" {
		t.Fatalf("diagnostics = %+v, want an error on trustPolicies[1].scopes[0]", c.diags)
	}
}

func TestScopeMatchingPrefersTheMostSpecific(t *testing.T) {
	c := &config{policies: []*policy{
		{name: "any", scopes: []string{"*"}},
		{name: "registry", scopes: []string{"registry.example/*"}},
		{name: "team", scopes: []string{"registry.example/team/*"}},
		{name: "app", scopes: []string{"registry.example/team/app"}},
	}}
	for repo, want := range map[string]string{
		"registry.example/team/app":     "app",
		"registry.example/team/app2":    "team",
		"registry.example/team/sub/app": "team",
		"registry.example/other":        "registry",
		"registry.example.evil/team":    "any",
		"docker.io/library/nginx":       "any",
	} {
		if got := c.match(repo); got == nil || got.name != want {
			t.Errorf("match(%q) = %v, want %s", repo, got, want)
		}
	}
	if got := (&config{policies: []*policy{{name: "x", scopes: []string{"registry.example/app"}}}}).match("registry.example/app2"); got != nil {
		t.Errorf("an exact scope matched another repository: %v", got.name)
	}
}

func TestKeyFilesAreReReadWhenTheyChange(t *testing.T) {
	e := newEnv(t)
	old, rotated := cosigntest.MustKey(t, cosigntest.ECDSA), cosigntest.MustKey(t, cosigntest.ECDSA)
	file := filepath.Join(t.TempDir(), "cosign.pub")
	if err := os.WriteFile(file, []byte(old.PublicKeyPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	p := cosigntest.KeyParams(testRepo, old)
	p.TrustPolicies[0].Keys = []cosigntest.KeyRef{{Name: "release", File: file}}
	v := NewVerifier(Options{})
	req := e.classic(p, cosigntest.MustSignClassic(t, rotated, e.subject, cosigntest.SignOptions{}))
	resp, err := v.Verify(context.Background(), req)
	if err != nil || resp.Reason != reason.SignatureUntrusted {
		t.Fatalf("before rotation: %+v, %v", resp, err)
	}
	if err := os.WriteFile(file, []byte(rotated.PublicKeyPEM()), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(file, later, later); err != nil {
		t.Fatal(err)
	}
	resp, err = v.Verify(context.Background(), req)
	if err != nil || resp.Reason != reason.Verified {
		t.Fatalf("after rotation: %+v, %v", resp, err)
	}
}

func jsonString(s string) string {
	b := []byte{'"'}
	for _, r := range s {
		switch r {
		case '"', '\\':
			b = append(b, '\\', byte(r))
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, string(r)...)
		}
	}
	return string(append(b, '"'))
}

// TestDocumentedParametersAreAccepted parses the parameters of every
// cosign Verifier shown in the documentation (docs/*.md and the READMEs,
// read with pkg/doctest) with this plugin's parser. The placeholders the
// documentation shows for the reader's own trust material are replaced by
// a real key and trusted root, in files where a path is shown, so any
// diagnostic (an unknown field, a wrong type, a renamed field) fails.
func TestDocumentedParametersAreAccepted(t *testing.T) {
	s := cosigntest.MustSigstore(t)
	key := cosigntest.MustKey(t, cosigntest.ECDSA)
	file := func(name string, data []byte) string {
		path := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	subs := doctest.Substitutions{
		Strings: map[string]string{
			"-----BEGIN PUBLIC KEY-----\n...\n-----END PUBLIC KEY-----\n": key.PublicKeyPEM(),
			"/etc/assay/keys/cosign.pub":                                  file("cosign.pub", []byte(key.PublicKeyPEM())),
			"/etc/assay/sigstore/trusted_root.json":                       file("trusted_root.json", s.MustTrustedRootJSON(t)),
		},
		ValueFrom: func(map[string]any) string { return key.PublicKeyPEM() },
	}
	blocks, err := doctest.Read("../..")
	if err != nil {
		t.Fatal(err)
	}
	documented, err := doctest.VerifierParameters(blocks, "cosign")
	if err != nil {
		t.Fatal(err)
	}
	if len(documented) == 0 {
		t.Fatal("found no cosign Verifier in the documentation; the README shows one")
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
		for _, d := range parseConfig(raw).diags {
			t.Errorf("%s: field %s: %s: %s", p, d.Field, d.Summary, d.Detail)
		}
	}
	for s := range subs.Strings {
		if !used[s] {
			t.Errorf("placeholder %q is no longer documented; remove it from the test", s)
		}
	}
}
