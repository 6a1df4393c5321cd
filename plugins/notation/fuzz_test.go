package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/plugin"
)

// FuzzParseConfig feeds arbitrary parameters to the decoder and validator.
// They must never panic, every diagnostic must say something, and a
// configuration accepted without errors must be usable and must also pass
// encoding/json's strict decoding.
func FuzzParseConfig(f *testing.F) {
	root := notationtest.MustCA(f, notationtest.CAOptions{})
	valid := notationtest.MustJSON(f, notationtest.NewParams(testRepo, root, nil))
	for _, seed := range [][]byte{
		valid,
		[]byte(`{}`),
		[]byte(`null`),
		[]byte(`[]`),
		[]byte(`{"trustPolicyDocument": {"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": ["*"], "signatureVerification": {"level": "skip"}}]}}`),
		[]byte(`{"trustPolicyDocument": {"version": "1.0", "trustPolicies": [{"name": "p", "registryScopes": ["*"], "signatureVerification": {"level": "audit", "override": {"revocation": "skip"}}, "trustStores": ["ca:a"], "trustedIdentities": ["*"]}]}, "trustStores": {"ca": {"a": {"certificates": ["x"]}}}}`),
		[]byte(`{"trustStores": {"ca": {"a.b": {"files": ["/nonexistent"]}}}, "revocation": {"crlCache": "none", "timeout": "1s"}}`),
		[]byte(`{"TrustStores": {"CA": {}}, "revocation": {"Timeout": 5}}`),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := parseConfig(raw, newMemoryCRLCache(4))
		for _, d := range c.diags {
			if d.Summary == "" {
				t.Fatalf("diagnostic without a summary: %+v", d)
			}
			if d.Severity != plugin.SeverityError && d.Severity != plugin.SeverityWarning {
				t.Fatalf("diagnostic with severity %v", d.Severity)
			}
		}
		if c.invalid() != nil {
			return
		}
		if c.doc == nil || c.store == nil || c.codeSign == nil || c.timestamp == nil {
			t.Fatalf("accepted configuration is incomplete: %+v", c)
		}
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var p Parameters
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("accepted %q, but strict decoding fails: %v", raw, err)
		}
	})
}
