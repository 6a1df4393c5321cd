package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"oras.land/oras-go/v2/content/memory"

	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/plugin"
)

// FuzzParseConfig feeds arbitrary parameters to the decoder and validator.
// They must never panic, every diagnostic must say something, and a
// configuration accepted without errors must have a policy for each trust
// policy and pass encoding/json's strict decoding.
func FuzzParseConfig(f *testing.F) {
	k := cosigntest.MustKey(f, cosigntest.ECDSA)
	valid := cosigntest.MustJSON(f, cosigntest.KeyParams("registry.example/*", k))
	for _, seed := range [][]byte{
		valid,
		[]byte(`{}`),
		[]byte(`null`),
		[]byte(`[]`),
		[]byte(`{"trustPolicies": [{"name": "p", "scopes": ["*"], "keyless": {"identities": [{"issuer": "i", "subjectRegExp": "^a$"}]}, "trustedRoot": {"inline": {}}}]}`),
		[]byte(`{"trustPolicies": [{"name": "p", "scopes": ["a/*", "*"], "keys": [{"file": "/nonexistent"}], "tlog": "skip", "timestamps": 2}]}`),
		[]byte(`{"TrustPolicies": [{"Name": 1}]}`),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		c := parseConfig(raw)
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
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.DisallowUnknownFields()
		var p Parameters
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("accepted %q, but strict decoding fails: %v", raw, err)
		}
		if len(c.policies) != len(p.TrustPolicies) || len(c.policies) == 0 {
			t.Fatalf("accepted %q with %d usable policies of %d", raw, len(c.policies), len(p.TrustPolicies))
		}
	})
}

// FuzzClassicLayer feeds arbitrary payloads and annotations to the
// classic layer parsers: they must never panic, and what they accept
// must name a digest and carry a signature.
func FuzzClassicLayer(f *testing.F) {
	k := cosigntest.MustKey(f, cosigntest.ECDSA)
	s := cosigntest.MustSigstore(f)
	subject, _ := cosigntest.MustPushImage(f, memoryStore(), "v1")
	for _, l := range []*cosigntest.Layer{
		cosigntest.MustSignClassic(f, k, subject, cosigntest.SignOptions{}),
		s.MustSignClassic(f, subject, cosigntest.KeylessOptions{}),
	} {
		ann, err := l.Annotations()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(l.Payload, ann[cosigntest.AnnotationSignature], ann[cosigntest.AnnotationCertificate], ann[cosigntest.AnnotationBundle], ann[cosigntest.AnnotationTimestamp])
	}
	f.Add([]byte(`{"critical":{"type":"cosign container image signature","image":{"docker-manifest-digest":"x"}}}`), "", "", `{"Payload":{"body":"e30="}}`, `{"SignedRFC3161Timestamp":""}`)
	f.Fuzz(func(t *testing.T, payload []byte, sig, cert, rekor, ts string) {
		if p, err := parsePayload(payload); err == nil && p.Critical.Image.DockerManifestDigest == "" {
			t.Fatalf("accepted a payload without a digest: %q", payload)
		}
		ann := map[string]string{annotationSignature: sig}
		for key, val := range map[string]string{annotationCertificate: cert, annotationBundle: rekor, annotationTimestamp: ts} {
			if val != "" {
				ann[key] = val
			}
		}
		parts, err := decodeClassic(payload, ann, true, true)
		if err == nil && len(parts.sig) == 0 {
			t.Fatalf("accepted a layer without a signature: %v", ann)
		}
	})
}

func memoryStore() *memory.Store { return memory.New() }
