package e2e

import (
	"bytes"
	"fmt"
	"github.com/assayproj/assay/pkg/servetest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"oras.land/oras-go/v2/registry/remote"
)

const notarySignature = "application/vnd.cncf.notary.signature"

// registryHost starts one of the two real registries and returns its host.
type registryKind struct {
	name  string
	start func(t *testing.T) string
}

var registries = []registryKind{
	{"olareg (referrers API)", func(t *testing.T) string { return registrytest.NewOlareg(t).Host() }},
	{"distribution v3 (referrers tag fallback)", func(t *testing.T) string { return registrytest.StartDistribution(t).Host() }},
}

// fixture is one registry with a trusted CA and helpers to push content.
type fixture struct {
	t    *testing.T
	host string
	ca   *notationtest.CA
	leaf *notationtest.Leaf
}

func (f *fixture) repo(name string) *remote.Repository {
	f.t.Helper()
	return mustRepo(f.t, f.host+"/"+name)
}

func mustRepo(t testing.TB, name string) *remote.Repository {
	t.Helper()
	r, err := remote.NewRepository(name)
	if err != nil {
		t.Fatal(err)
	}
	r.PlainHTTP = true
	return r
}

func (f *fixture) image(repo *remote.Repository, tag string) ocispec.Descriptor {
	f.t.Helper()
	return notationtest.MustPushImage(f.t, repo, repo.Reference.Repository+":"+tag, tag)
}

func (f *fixture) sign(repo *remote.Repository, leaf *notationtest.Leaf, subject ocispec.Descriptor, opts notationtest.SignOptions) {
	f.t.Helper()
	sig := notationtest.MustSign(f.t, leaf, subject, opts)
	notationtest.MustPushSignature(f.t, repo, subject, sig)
}

// trustedAndUntrusted signs one image twice, by f's CA and by another,
// and configures the policy mode.
func (f *fixture) trustedAndUntrusted(name, mode string) (ref, config string) {
	f.t.Helper()
	r := f.repo(name)
	d := f.image(r, "v1")
	other := notationtest.MustCA(f.t, notationtest.CAOptions{})
	f.sign(r, notationtest.MustLeaf(f.t, other, notationtest.LeafOptions{}), d, notationtest.SignOptions{})
	f.sign(r, f.leaf, d, notationtest.SignOptions{})
	return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{mode: mode})
}

type configOptions struct {
	params []byte // notation parameters; default trusts f.ca for the repository
	mode   string // policy mode; default any
}

// config writes the verification objects for repository and returns the file.
func (f *fixture) config(repository string, o configOptions) string {
	f.t.Helper()
	params := o.params
	if params == nil {
		params = notationtest.MustJSON(f.t, notationtest.NewParams(repository, f.ca, nil))
	}
	mode := o.mode
	if mode == "" {
		mode = "any"
	}
	doc := servetest.NotationConfig([]string{f.host}, params, mode)
	path := filepath.Join(f.t.TempDir(), "assay.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		f.t.Fatal(err)
	}
	return path
}

func newFixture(t *testing.T, host string) *fixture {
	t.Helper()
	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	return &fixture{t: t, host: host, ca: ca, leaf: notationtest.MustLeaf(t, ca, notationtest.LeafOptions{})}
}

// outcome is what a case expects of the report.
type outcome struct {
	success bool
	reason  report.Reason // the report's reason
	verdict report.Verdict
}

func TestVerifyNotationSignaturesOnRealRegistries(t *testing.T) {
	cases := map[string]struct {
		// setup pushes content and returns the reference to verify and the config.
		setup func(f *fixture, repoName string) (ref, config string)
		want  outcome
	}{
		"a signed image is verified": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				f.sign(r, f.leaf, d, notationtest.SignOptions{})
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{})
			},
			want: outcome{success: true, reason: report.ReasonVerified, verdict: report.Verified},
		},
		"a COSE signature is verified": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				f.sign(r, f.leaf, d, notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE})
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{})
			},
			want: outcome{success: true, reason: report.ReasonVerified, verdict: report.Verified},
		},
		"an unsigned image fails with NO_SIGNATURE": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				f.image(r, "v1")
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{})
			},
			want: outcome{reason: report.ReasonNoSignature},
		},
		"a signature by an untrusted CA fails with SIGNATURE_UNTRUSTED": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				other := notationtest.MustCA(f.t, notationtest.CAOptions{})
				f.sign(r, notationtest.MustLeaf(f.t, other, notationtest.LeafOptions{}), d, notationtest.SignOptions{})
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{})
			},
			want: outcome{reason: report.ReasonSignatureUntrusted, verdict: report.Failed},
		},
		"a revoked signing certificate fails with CERTIFICATE_REVOKED": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				crl := notationtest.MustCRLServer(f.t, f.ca, notationtest.CRLServerOptions{})
				leaf := notationtest.MustLeaf(f.t, f.ca, notationtest.LeafOptions{CRLURL: crl.URL()})
				crl.Revoke(leaf.Cert.SerialNumber)
				f.sign(r, leaf, d, notationtest.SignOptions{})
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{})
			},
			want: outcome{reason: report.ReasonCertificateRevoked, verdict: report.Failed},
		},
		"a trust store holding only the leaf certificate fails with SIGNATURE_UNTRUSTED": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				f.sign(r, f.leaf, d, notationtest.SignOptions{})
				p := notationtest.NewParams(r.Reference.String(), nil, nil)
				p.TrustStores.CA[notationtest.DefaultStoreName] = notationtest.TrustStore{Certificates: []string{notationtest.PEM(f.leaf.Cert)}}
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{params: notationtest.MustJSON(f.t, p)})
			},
			want: outcome{reason: report.ReasonSignatureUntrusted, verdict: report.Failed},
		},
		"an expired certificate without a timestamp fails with CERTIFICATE_EXPIRED": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				leaf := notationtest.MustLeaf(f.t, f.ca, expiredLeaf())
				f.sign(r, leaf, d, notationtest.SignOptions{SigningTime: whileValid()})
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{})
			},
			want: outcome{reason: report.ReasonCertificateExpired, verdict: report.Failed},
		},
		"an expired certificate with a trusted timestamp made while it was valid is verified": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				tsa := notationtest.MustTSA(f.t, notationtest.TSAOptions{Now: whileValid})
				leaf := notationtest.MustLeaf(f.t, f.ca, expiredLeaf())
				f.sign(r, leaf, d, notationtest.SignOptions{SigningTime: whileValid(), TSA: tsa})
				params := notationtest.MustJSON(f.t, notationtest.NewParams(r.Reference.String(), f.ca, tsa))
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{params: params})
			},
			want: outcome{success: true, reason: report.ReasonVerified, verdict: report.Verified},
		},
		"a tampered signature envelope fails with SIGNATURE_INVALID": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				sig := notationtest.MustSign(f.t, f.leaf, d, notationtest.SignOptions{})
				sig.Envelope = tamper(f.t, sig.Envelope)
				notationtest.MustPushSignature(f.t, r, d, sig)
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{})
			},
			want: outcome{reason: report.ReasonSignatureInvalid, verdict: report.Failed},
		},
		"a trust policy scoped to another repository gives NO_TRUST_POLICY": {
			setup: func(f *fixture, name string) (string, string) {
				r := f.repo(name)
				d := f.image(r, "v1")
				f.sign(r, f.leaf, d, notationtest.SignOptions{})
				params := notationtest.MustJSON(f.t, notationtest.NewParams(f.host+"/elsewhere", f.ca, nil))
				return r.Reference.String() + ":v1", f.config(r.Reference.String(), configOptions{params: params})
			},
			want: outcome{reason: report.ReasonNoTrustPolicy},
		},
		"one trusted and one untrusted signature pass under mode any": {
			setup: func(f *fixture, name string) (string, string) { return f.trustedAndUntrusted(name, "any") },
			want:  outcome{success: true, reason: report.ReasonVerified},
		},
		"one trusted and one untrusted signature fail under mode all": {
			setup: func(f *fixture, name string) (string, string) { return f.trustedAndUntrusted(name, "all") },
			want:  outcome{reason: report.ReasonSignatureUntrusted},
		},
	}
	for _, reg := range registries {
		t.Run(reg.name, func(t *testing.T) {
			host := reg.start(t)
			i := 0
			for name, tc := range cases {
				i++
				repoName := fmt.Sprintf("e2e/case%d", i)
				t.Run(name, func(t *testing.T) {
					f := newFixture(t, host)
					ref, cfg := tc.setup(f, repoName)
					rep, _ := verifyJSON(t, cfg, nil, ref)
					if rep.IsSuccess != tc.want.success || rep.Reason != tc.want.reason {
						t.Fatalf("isSuccess=%v reason=%s (%s); want isSuccess=%v reason=%s", rep.IsSuccess, rep.Reason, rep.Message, tc.want.success, tc.want.reason)
					}
					if !strings.HasPrefix(rep.Subject, host+"/"+repoName+"@sha256:") {
						t.Errorf("subject %q is not digest-pinned in %s", rep.Subject, repoName)
					}
					if len(rep.Warnings) == 0 || rep.Warnings[0].Reason != report.ReasonTagResolved {
						t.Errorf("a tag reference gave no TAG_RESOLVED warning: %+v", rep.Warnings)
					}
					if tc.want.verdict != "" {
						if len(rep.Artifacts) != 1 || len(rep.Artifacts[0].Results) != 1 {
							t.Fatalf("want one artifact with one result, got %+v", rep.Artifacts)
						}
						res := rep.Artifacts[0].Results[0]
						if res.Verdict != tc.want.verdict || res.Verifier != "notation" || res.Type != "notation" {
							t.Errorf("result = %+v", res)
						}
						if res.Verdict != report.Verified && res.Remediation == "" {
							t.Error("a failure without remediation")
						}
						if res.Verdict == report.Verified && !strings.Contains(fmt.Sprint(res.Details["signerSubject"]), "Assay Test Signer") {
							t.Errorf("details lack the signer: %v", res.Details)
						}
					}
				})
			}
		})
	}
}

// expiredLeaf is valid from three hours ago until one hour ago.
func expiredLeaf() notationtest.LeafOptions {
	now := time.Now()
	return notationtest.LeafOptions{NotBefore: now.Add(-3 * time.Hour), NotAfter: now.Add(-time.Hour)}
}

// whileValid is an instant inside expiredLeaf's validity.
func whileValid() time.Time { return time.Now().Add(-2 * time.Hour) }

// tamper changes one character of a JWS envelope's signature value, so the
// envelope still parses but no longer verifies.
func tamper(t *testing.T, envelope []byte) []byte {
	t.Helper()
	const key = `"signature":"`
	i := bytes.Index(envelope, []byte(key))
	if i < 0 {
		t.Fatalf("not a JWS envelope: %.80s", envelope)
	}
	out := bytes.Clone(envelope)
	j := i + len(key) + 10
	if out[j] == 'A' {
		out[j] = 'B'
	} else {
		out[j] = 'A'
	}
	return out
}
