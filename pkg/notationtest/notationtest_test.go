package notationtest_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	nx509 "github.com/notaryproject/notation-core-go/x509"
	"github.com/notaryproject/tspclient-go"
	"github.com/olareg/olareg"
	"github.com/olareg/olareg/config"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"golang.org/x/crypto/ocsp"
	"oras.land/oras-go/v2/content/memory"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/assayproj/assay/pkg/notationtest"
)

func TestChainsSatisfyNotaryProjectRequirements(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	inter := notationtest.MustIssueCA(t, root, notationtest.CAOptions{})
	now := time.Now()
	tests := map[string]struct {
		issuer *notationtest.CA
		want   int
	}{
		"a leaf issued by the root":            {issuer: root, want: 2},
		"a leaf issued by an intermediate":     {issuer: inter, want: 3},
		"a second leaf from the same root too": {issuer: root, want: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			leaf := notationtest.MustLeaf(t, tc.issuer, notationtest.LeafOptions{})
			if got := len(leaf.Chain); got != tc.want {
				t.Fatalf("chain length = %d, want %d", got, tc.want)
			}
			if err := nx509.ValidateCodeSigningCertChain(leaf.Chain, &now); err != nil {
				t.Fatalf("ValidateCodeSigningCertChain: %v", err)
			}
			if leaf.Chain[len(leaf.Chain)-1] != root.Cert {
				t.Fatal("chain does not end with the root")
			}
		})
	}
}

func TestIssueLeafRejectsReversedValidity(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	now := time.Now()
	if _, err := root.IssueLeaf(notationtest.LeafOptions{NotBefore: now, NotAfter: now.Add(-time.Hour)}); err == nil {
		t.Fatal("IssueLeaf accepted NotAfter before NotBefore")
	}
}

func TestSignProducesEnvelopesOfEachFormat(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(t, root, notationtest.LeafOptions{})
	subject := subjectDescriptor(t)
	tests := map[string]struct {
		opts notationtest.SignOptions
		want string
	}{
		"the default is JWS":          {opts: notationtest.SignOptions{}, want: notationtest.MediaTypeJWS},
		"COSE when asked":             {opts: notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE}, want: notationtest.MediaTypeCOSE},
		"JWS signed in the past":      {opts: notationtest.SignOptions{SigningTime: time.Now().Add(-time.Hour)}, want: notationtest.MediaTypeJWS},
		"COSE signed in the past too": {opts: notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE, SigningTime: time.Now().Add(-time.Hour)}, want: notationtest.MediaTypeCOSE},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			sig := notationtest.MustSign(t, leaf, subject, tc.opts)
			if sig.MediaType != tc.want {
				t.Fatalf("MediaType = %q, want %q", sig.MediaType, tc.want)
			}
			if len(sig.Envelope) == 0 {
				t.Fatal("empty envelope")
			}
			if !sig.SignerInfo.CertificateChain[0].Equal(leaf.Cert) {
				t.Fatal("envelope chain does not start with the leaf")
			}
			if !tc.opts.SigningTime.IsZero() && !sig.SignerInfo.SignedAttributes.SigningTime.Equal(tc.opts.SigningTime.Truncate(time.Second)) {
				t.Fatalf("signing time = %v, want %v", sig.SignerInfo.SignedAttributes.SigningTime, tc.opts.SigningTime)
			}
		})
	}
}

func TestSignRejectsAnExpiredLeafAtTheCurrentTime(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	now := time.Now()
	leaf := notationtest.MustLeaf(t, root, notationtest.LeafOptions{NotBefore: now.Add(-3 * time.Hour), NotAfter: now.Add(-time.Hour)})
	if _, err := notationtest.Sign(context.Background(), leaf, subjectDescriptor(t), notationtest.SignOptions{}); err == nil {
		t.Fatal("notation-go signed with an expired certificate")
	}
}

func TestTSATimestampsVerifyWithTSPClient(t *testing.T) {
	past := time.Now().Add(-2 * time.Hour).UTC().Truncate(time.Second)
	tests := map[string]struct {
		now  func() time.Time
		want func(time.Time) bool
	}{
		"a TSA on the current time":   {now: nil, want: func(got time.Time) bool { return time.Since(got) < time.Hour }},
		"a TSA whose clock is backed": {now: func() time.Time { return past }, want: func(got time.Time) bool { return got.Equal(past) }},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			tsa := notationtest.MustTSA(t, notationtest.TSAOptions{Now: tc.now})
			root := notationtest.MustCA(t, notationtest.CAOptions{})
			leaf := notationtest.MustLeaf(t, root, notationtest.LeafOptions{})
			sig := notationtest.MustSign(t, leaf, subjectDescriptor(t), notationtest.SignOptions{TSA: tsa})
			raw := sig.SignerInfo.UnsignedAttributes.TimestampSignature
			if len(raw) == 0 {
				t.Fatal("no timestamp countersignature")
			}
			token, err := tspclient.ParseSignedToken(raw)
			if err != nil {
				t.Fatalf("ParseSignedToken: %v", err)
			}
			info, err := token.Info()
			if err != nil {
				t.Fatalf("Info: %v", err)
			}
			ts, err := info.Validate(sig.SignerInfo.Signature)
			if err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tc.want(ts.Value) {
				t.Fatalf("timestamp %v not as expected", ts.Value)
			}
			chain, err := token.Verify(context.Background(), x509.VerifyOptions{Roots: tsa.RootPool(), CurrentTime: ts.Value})
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := nx509.ValidateTimestampingCertChain(chain); err != nil {
				t.Fatalf("ValidateTimestampingCertChain: %v", err)
			}
			if tsa.Requests() != 1 {
				t.Fatalf("TSA requests = %d, want 1", tsa.Requests())
			}
		})
	}
}

func TestTSARejectsWhatIsNotATimestampQuery(t *testing.T) {
	tsa := notationtest.MustTSA(t, notationtest.TSAOptions{})
	tests := map[string]struct {
		method string
		body   []byte
		want   int
	}{
		"a GET":                {method: http.MethodGet, want: http.StatusMethodNotAllowed},
		"a POST of garbage":    {method: http.MethodPost, body: []byte("garbage"), want: http.StatusBadRequest},
		"a POST with no query": {method: http.MethodPost, want: http.StatusBadRequest},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tsa.ServeHTTP(rec, httptest.NewRequest(tc.method, "/", bytes.NewReader(tc.body)))
			if rec.Code != tc.want {
				t.Fatalf("status = %d, want %d", rec.Code, tc.want)
			}
		})
	}
}

func TestCRLServerListsRevokedSerials(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	crl := notationtest.MustCRLServer(t, root, notationtest.CRLServerOptions{})
	leaf := notationtest.MustLeaf(t, root, notationtest.LeafOptions{CRLURL: crl.URL()})
	if got := leaf.Cert.CRLDistributionPoints; len(got) != 1 || got[0] != crl.URL() {
		t.Fatalf("CRL distribution points = %v", got)
	}

	list := fetchCRL(t, crl.URL())
	if err := list.CheckSignatureFrom(root.Cert); err != nil {
		t.Fatalf("CRL signature: %v", err)
	}
	if n := len(list.RevokedCertificateEntries); n != 0 {
		t.Fatalf("fresh CRL lists %d entries", n)
	}

	crl.Revoke(leaf.Cert.SerialNumber)
	list = fetchCRL(t, crl.URL())
	if n := len(list.RevokedCertificateEntries); n != 1 || list.RevokedCertificateEntries[0].SerialNumber.Cmp(leaf.Cert.SerialNumber) != 0 {
		t.Fatalf("CRL entries after Revoke = %+v", list.RevokedCertificateEntries)
	}
	if list.NextUpdate.Before(time.Now()) {
		t.Fatalf("CRL already stale: nextUpdate %v", list.NextUpdate)
	}

	crl.SetDown(true)
	resp, err := http.Get(crl.URL())
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status while down = %d", resp.StatusCode)
	}
	if crl.Requests() != 3 {
		t.Fatalf("requests = %d, want 3", crl.Requests())
	}
}

func TestOCSPServerAnswersGoodThenRevoked(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	responder := notationtest.MustOCSPServer(t, root)
	leaf := notationtest.MustLeaf(t, root, notationtest.LeafOptions{OCSPURL: responder.URL()})

	tests := []struct {
		name   string
		revoke bool
		get    bool
		want   int
	}{
		{name: "good by POST", want: ocsp.Good},
		{name: "good by GET", get: true, want: ocsp.Good},
		{name: "revoked by POST", revoke: true, want: ocsp.Revoked},
		{name: "revoked by GET", get: true, want: ocsp.Revoked},
	}
	for _, tc := range tests {
		if tc.revoke {
			responder.Revoke(leaf.Cert.SerialNumber)
		}
		req, err := ocsp.CreateRequest(leaf.Cert, root.Cert, nil)
		if err != nil {
			t.Fatalf("%s: CreateRequest: %v", tc.name, err)
		}
		var resp *http.Response
		if tc.get {
			resp, err = http.Get(responder.URL() + "/" + url.QueryEscape(base64Std(req)))
		} else {
			resp, err = http.Post(responder.URL(), "application/ocsp-request", bytes.NewReader(req))
		}
		if err != nil {
			t.Fatalf("%s: request: %v", tc.name, err)
		}
		body := readAll(t, resp)
		parsed, err := ocsp.ParseResponseForCert(body, leaf.Cert, root.Cert)
		if err != nil {
			t.Fatalf("%s: ParseResponseForCert: %v", tc.name, err)
		}
		if parsed.Status != tc.want {
			t.Fatalf("%s: status = %d, want %d", tc.name, parsed.Status, tc.want)
		}
	}
}

func TestPushSignatureMakesAReferrerTheWayNotationDoes(t *testing.T) {
	ctx := context.Background()
	srv := httptest.NewServer(olareg.New(config.Config{Storage: config.ConfigStorage{StoreType: config.StoreMem}}))
	t.Cleanup(srv.Close)
	host := srv.Listener.Addr().String()
	repo, err := remote.NewRepository(host + "/app")
	if err != nil {
		t.Fatalf("NewRepository: %v", err)
	}
	repo.PlainHTTP = true

	subject := notationtest.MustPushImage(t, repo, "app", "v1")
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(t, root, notationtest.LeafOptions{})
	sig := notationtest.MustSign(t, leaf, subject, notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE})
	manifest := notationtest.MustPushSignature(t, repo, subject, sig)

	var referrers []ocispec.Descriptor
	if err := repo.Referrers(ctx, subject, notationtest.ArtifactType, func(page []ocispec.Descriptor) error {
		referrers = append(referrers, page...)
		return nil
	}); err != nil {
		t.Fatalf("Referrers: %v", err)
	}
	if len(referrers) != 1 || referrers[0].Digest != manifest.Digest {
		t.Fatalf("referrers = %+v, want the pushed manifest %s", referrers, manifest.Digest)
	}
	if referrers[0].ArtifactType != notationtest.ArtifactType {
		t.Fatalf("artifactType = %q", referrers[0].ArtifactType)
	}
	var thumbprints []string
	if err := json.Unmarshal([]byte(referrers[0].Annotations[notationtest.AnnotationX509ChainThumbprint]), &thumbprints); err != nil {
		t.Fatalf("thumbprint annotation: %v", err)
	}
	if len(thumbprints) != len(leaf.Chain) {
		t.Fatalf("thumbprints = %v, want %d", thumbprints, len(leaf.Chain))
	}
}

func TestVerifyRequestCarriesTheEnvelope(t *testing.T) {
	root := notationtest.MustCA(t, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(t, root, notationtest.LeafOptions{})
	subject := subjectDescriptor(t)
	sig := notationtest.MustSign(t, leaf, subject, notationtest.SignOptions{})
	cfg := notationtest.MustJSON(t, notationtest.NewParams("localhost:5000/app", root, nil))
	req := notationtest.MustVerifyRequest(t, cfg, "localhost:5000/app", subject, sig)
	if len(req.Blobs) != 1 || !bytes.Equal(req.Blobs[0].Data, sig.Envelope) || req.Blobs[0].Descriptor.MediaType != sig.MediaType {
		t.Fatalf("blobs = %+v", req.Blobs)
	}
	if req.Artifact.ArtifactType != notationtest.ArtifactType || req.Artifact.MediaType != ocispec.MediaTypeImageManifest {
		t.Fatalf("artifact = %+v", req.Artifact)
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(req.ArtifactManifest, &m); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if m.Subject == nil || m.Subject.Digest != subject.Digest {
		t.Fatalf("manifest subject = %+v", m.Subject)
	}
}

func subjectDescriptor(t *testing.T) ocispec.Descriptor {
	t.Helper()
	return notationtest.MustPushImage(t, memory.New(), t.Name(), "")
}

func fetchCRL(t *testing.T, u string) *x509.RevocationList {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	body := readAll(t, resp)
	list, err := x509.ParseRevocationList(body)
	if err != nil {
		t.Fatalf("ParseRevocationList: %v", err)
	}
	return list
}

func readAll(t *testing.T, resp *http.Response) []byte {
	t.Helper()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatalf("close body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	return body
}

func base64Std(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
