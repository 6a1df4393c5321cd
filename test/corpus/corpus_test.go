// Package corpus verifies, with Assay's real plugin processes, every
// sample of test/corpus: images signed, attested and scanned by the
// notation, cosign v2 and v3, oras and skopeo CLIs, loaded byte for byte
// into olareg (referrers API) and into distribution (referrers tag
// schema). For each sample Assay claims, its verdict must be the
// reference CLI's (VERIFIED); a negative per family, from the same
// artifacts with other trust material, must fail with the right reason;
// each sample Assay does not claim yet must not be admitted. No message
// of any report may carry a Go formatting error ("%!").
package corpus

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/cosigntest"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/assayproj/assay/pkg/store"
)

// pluginDir holds the plugins, built once for the test binary.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "assay-corpus-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		// No credentials from the docker config of whoever runs the test.
		if err := os.Mkdir(dir+"/docker", 0o700); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		os.Setenv("DOCKER_CONFIG", dir+"/docker")
		if err := servetest.BuildPlugins(dir+"/plugins", servetest.Plugins()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pluginDir = dir + "/plugins"
		return m.Run()
	}()
	os.Exit(code)
}

// Artifact types the samples carry.
const (
	notarySignature = notationtest.ArtifactType
	cosignSignature = store.CosignSignatureArtifactType
	sigstoreBundle  = "application/vnd.dev.sigstore.bundle.v0.3+json"
	sarifReport     = "application/sarif+json"
)

// trust is the trust material of one configuration, as the samples'
// families need it. The zero value of a field is the corpus's own
// material (test/corpus/trust).
type trust struct {
	// notationRoot is the PEM of the notation trust store's root.
	notationRoot string
	// notationIdentity replaces the trust policy's trusted identity.
	notationIdentity string
	// cosignKey is the PEM of the trusted cosign key.
	cosignKey string
	// timestamps is the cosign key policy's required RFC 3161
	// timestamps (with the CA+TSA trusted root).
	timestamps int
	// keylessSubject replaces the keyless identity's subject.
	keylessSubject string
	// severities are the SARIF Verifier's disallowedSeverities.
	severities []string
}

// family builds one sample family's Verifiers.
type family func(t *testing.T, c *registrytest.Corpus, tr trust) []verifierDoc

type verifierDoc struct {
	Name             string
	Plugin           string
	ArtifactTypes    []string
	RequireSignature bool
	Parameters       any
}

// notation trusts the corpus's notation root (or tr.notationRoot), as
// `XDG_CONFIG_HOME=trust notation verify` does.
func notation(t *testing.T, c *registrytest.Corpus, tr trust) []verifierDoc {
	t.Helper()
	raw, err := os.ReadFile(c.Path("trust/notation/trustpolicy.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	if tr.notationIdentity != "" {
		doc["trustPolicies"].([]any)[0].(map[string]any)["trustedIdentities"] = []string{tr.notationIdentity}
	}
	store := map[string]any{"files": []string{c.Path("trust/notation/truststore/x509/ca/assay-corpus/root.crt")}}
	if tr.notationRoot != "" {
		store = map[string]any{"certificates": []string{tr.notationRoot}}
	}
	return []verifierDoc{{
		Name: "notation", Plugin: "notation", ArtifactTypes: []string{notarySignature},
		Parameters: map[string]any{
			"trustPolicyDocument": doc,
			"trustStores":         map[string]any{"ca": map[string]any{"assay-corpus": store}},
			// The corpus's certificates name no CRL or OCSP server.
			"revocation": map[string]any{"crlCache": "none"},
		},
	}}
}

// cosignKey trusts trust/cosign/cosign.pub (or tr.cosignKey) without a
// transparency log, with the empty trusted root cosign v3 needs offline
// for key-based bundles (or the CA+TSA one when timestamps are required).
func cosignKey(t *testing.T, c *registrytest.Corpus, tr trust) []verifierDoc {
	t.Helper()
	key := map[string]any{"name": "corpus", "file": c.Path("trust/cosign/cosign.pub")}
	if tr.cosignKey != "" {
		key = map[string]any{"name": "other", "publicKey": tr.cosignKey}
	}
	root := "trust/sigstore/trusted_root-empty.json"
	if tr.timestamps > 0 {
		root = "trust/sigstore/trusted_root.json"
	}
	return []verifierDoc{{
		Name: "cosign", Plugin: "cosign", ArtifactTypes: []string{cosignSignature, sigstoreBundle},
		Parameters: map[string]any{"trustPolicies": []any{map[string]any{
			"name": "corpus-key", "scopes": []string{"*"},
			"keys":        []any{key},
			"trustedRoot": map[string]any{"file": c.Path(root)},
			"tlog":        "skip",
			"timestamps":  tr.timestamps,
		}}},
	}}
}

// cosignKeyless trusts sample 11's identity (signer@corpus.test from
// https://issuer.corpus.test) under trust/sigstore/trusted_root.json (a
// Fulcio-like CA and a TSA; no Rekor, no CT log): one RFC 3161 timestamp
// dates the signature.
func cosignKeyless(t *testing.T, c *registrytest.Corpus, tr trust) []verifierDoc {
	t.Helper()
	subject := "signer@corpus.test"
	if tr.keylessSubject != "" {
		subject = tr.keylessSubject
	}
	return []verifierDoc{{
		Name: "cosign", Plugin: "cosign", ArtifactTypes: []string{cosignSignature, sigstoreBundle},
		Parameters: map[string]any{"trustPolicies": []any{map[string]any{
			"name": "corpus-keyless", "scopes": []string{"*"},
			"keyless":     map[string]any{"identities": []any{map[string]any{"issuer": "https://issuer.corpus.test", "subject": subject}}},
			"trustedRoot": map[string]any{"file": c.Path("trust/sigstore/trusted_root.json")},
			"tlog":        "skip",
			"sct":         "skip",
			"timestamps":  1,
		}}},
	}}
}

// sarif judges sample 10's report (no critical or high finding) and
// requires its notation signature. maxAge holds for ten years: the
// sample was made on 2026-12-07.
func sarif(t *testing.T, c *registrytest.Corpus, tr trust) []verifierDoc {
	t.Helper()
	severities := tr.severities
	if severities == nil {
		severities = []string{"critical", "high"}
	}
	return append(notation(t, c, tr), verifierDoc{
		Name: "reports", Plugin: "vulnreport", ArtifactTypes: []string{sarifReport}, RequireSignature: true,
		Parameters: map[string]any{"maxAge": "87600h", "disallowedSeverities": severities},
	})
}

// config renders the verification objects: a Store reaching hosts over
// plain HTTP, the Verifiers, and a Policy requiring one artifact type.
func config(t *testing.T, hosts []string, verifiers []verifierDoc, required string) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: {name: corpus}\nspec:\n  registries:\n")
	for _, h := range hosts {
		fmt.Fprintf(&b, "    - {host: %q, plainHTTP: true}\n", h)
	}
	for _, v := range verifiers {
		params, err := json.Marshal(v.Parameters)
		if err != nil {
			t.Fatal(err)
		}
		types, _ := json.Marshal(v.ArtifactTypes)
		fmt.Fprintf(&b, "---\napiVersion: config.assay.dev/v1alpha1\nkind: Verifier\nmetadata: {name: %s}\nspec:\n  plugin: %s\n  artifactTypes: %s\n  requireSignature: %t\n  parameters: %s\n",
			v.Name, v.Plugin, types, v.RequireSignature, params)
	}
	fmt.Fprintf(&b, "---\napiVersion: config.assay.dev/v1alpha1\nkind: Policy\nmetadata: {name: corpus}\nspec:\n  rules:\n    - {artifactType: %q, required: true}\n", required)
	return []byte(b.String())
}

// sample is how Assay stands to one corpus sample.
type sample struct {
	family family
	// required is the artifact type the Policy requires.
	required string
	// notClaimed says why Assay does not verify the sample yet; empty
	// for a sample Assay claims (its verdict must be the reference
	// CLI's: VERIFIED).
	notClaimed string
	// reason is the reason Assay gives today for a sample it does not
	// claim; never VERIFIED.
	reason report.Reason
}

// samples lists every sample of samples.json. A sample in neither list
// fails TestEverySampleIsListed.
var samples = map[string]sample{
	"01-notation-jws":              {family: notation, required: notarySignature},
	"02-notation-cose":             {family: notation, required: notarySignature},
	"03-cosign2-classic-sig":       {family: cosignKey, required: cosignSignature},
	"04-cosign2-oci11-referrer":    {family: cosignKey, required: cosignSignature},
	"05-cosign2-new-bundle-format": {family: cosignKey, required: sigstoreBundle},
	"06-cosign3-bundle-key":        {family: cosignKey, required: sigstoreBundle},
	"10-sarif-notation-signed":     {family: sarif, required: sarifReport},
	"11-cosign3-keyless-tsa":       {family: cosignKeyless, required: sigstoreBundle},

	// Attestations (in-toto statements in DSSE envelopes) are planned
	// work: no Verifier judges their predicates yet, and the store does
	// not read cosign's "sha256-<hex>.att" tag, so the image carries no
	// signature Assay sees.
	"07a-cosign2-attest-vuln-recent": {family: cosignKey, required: cosignSignature, reason: report.ReasonNoSignature,
		notClaimed: "attestations are planned work: cosign's .att tag is not read and no Verifier judges a vuln predicate"},
	"07b-cosign2-attest-vuln-30d-old": {family: cosignKey, required: cosignSignature, reason: report.ReasonNoSignature,
		notClaimed: "attestations are planned work: cosign's .att tag is not read and no Verifier judges a vuln predicate's freshness"},
	"09a-cosign2-attest-slsaprovenance": {family: cosignKey, required: cosignSignature, reason: report.ReasonNoSignature,
		notClaimed: "attestations are planned work: cosign's .att tag is not read and no Verifier judges SLSA provenance"},
	"09b-cosign2-attest-cyclonedx": {family: cosignKey, required: cosignSignature, reason: report.ReasonNoSignature,
		notClaimed: "attestations are planned work: cosign's .att tag is not read and no Verifier judges a CycloneDX SBOM"},
	"09c-cosign2-attest-spdxjson": {family: cosignKey, required: cosignSignature, reason: report.ReasonNoSignature,
		notClaimed: "attestations are planned work: cosign's .att tag is not read and no Verifier judges an SPDX SBOM"},
	// The v3 attestation bundle is found, and the cosign plugin refuses
	// it as a signature: its predicate type is not a signature's.
	"08-cosign3-attest-vuln": {family: cosignKey, required: sigstoreBundle, reason: report.ReasonVerificationFailed,
		notClaimed: "attestations are planned work: the bundle holds a vuln attestation, which the cosign plugin does not count as a signature"},
	// GPG simple signing from a lookaside store is planned work: nothing
	// of it is in the registry.
	"12-gpg-simple-signing": {family: cosignKey, required: cosignSignature, reason: report.ReasonNoSignature,
		notClaimed: "GPG simple signing (lookaside store, registry signatures API) is planned work"},
}

// negative is a sample verified with other trust material: the verdict
// must fail with reason, the result of Verifier verifier on an artifact
// of type artifactType too.
type negative struct {
	sample       string
	trust        trust
	reason       report.Reason
	verifier     string
	artifactType string
}

func negatives(t *testing.T) map[string]negative {
	t.Helper()
	otherRoot := notationtest.PEM(notationtest.MustCA(t, notationtest.CAOptions{}).Root())
	otherKey := cosigntest.MustKey(t, cosigntest.ECDSA).PublicKeyPEM()
	return map[string]negative{
		"notation JWS under a trust store without its root is untrusted": {
			sample: "01-notation-jws", trust: trust{notationRoot: otherRoot},
			reason: report.ReasonSignatureUntrusted, verifier: "notation", artifactType: notarySignature},
		"notation COSE by an identity the trust policy does not name is an identity mismatch": {
			sample: "02-notation-cose", trust: trust{notationIdentity: "x509.subject: C=US, ST=WA, L=Seattle, O=Assay Corpus, CN=Someone Else"},
			reason: report.ReasonIdentityMismatch, verifier: "notation", artifactType: notarySignature},
		"cosign v2 classic signature under another key is untrusted": {
			sample: "03-cosign2-classic-sig", trust: trust{cosignKey: otherKey},
			reason: report.ReasonSignatureUntrusted, verifier: "cosign", artifactType: cosignSignature},
		"cosign v2 OCI 1.1 referrer under another key is untrusted": {
			sample: "04-cosign2-oci11-referrer", trust: trust{cosignKey: otherKey},
			reason: report.ReasonSignatureUntrusted, verifier: "cosign", artifactType: cosignSignature},
		"cosign v2 --new-bundle-format under another key is untrusted": {
			sample: "05-cosign2-new-bundle-format", trust: trust{cosignKey: otherKey},
			reason: report.ReasonSignatureUntrusted, verifier: "cosign", artifactType: sigstoreBundle},
		"cosign v3 key bundle under another key is untrusted": {
			sample: "06-cosign3-bundle-key", trust: trust{cosignKey: otherKey},
			reason: report.ReasonSignatureUntrusted, verifier: "cosign", artifactType: sigstoreBundle},
		"cosign v3 key bundle without the RFC 3161 timestamp a policy requires": {
			sample: "06-cosign3-bundle-key", trust: trust{timestamps: 1},
			reason: report.ReasonTimestampInvalid, verifier: "cosign", artifactType: sigstoreBundle},
		"cosign v2 classic signature without the RFC 3161 timestamp a policy requires": {
			sample: "03-cosign2-classic-sig", trust: trust{timestamps: 1},
			reason: report.ReasonTimestampInvalid, verifier: "cosign", artifactType: cosignSignature},
		"cosign v3 keyless bundle by another identity is an identity mismatch": {
			sample: "11-cosign3-keyless-tsa", trust: trust{keylessSubject: "someone@corpus.test"},
			reason: report.ReasonIdentityMismatch, verifier: "cosign", artifactType: sigstoreBundle},
		"SARIF report whose signature is under a trust store without its root: the signature is untrusted": {
			sample: "10-sarif-notation-signed", trust: trust{notationRoot: otherRoot},
			reason: report.ReasonSignatureUntrusted, verifier: "reports", artifactType: sarifReport},
		"SARIF report with a finding of a disallowed severity fails": {
			sample: "10-sarif-notation-signed", trust: trust{severities: []string{"low"}},
			reason: report.ReasonVerificationFailed, verifier: "reports", artifactType: sarifReport},
	}
}

// registries are the two registries every sample is loaded into, as
// test/corpus/README.md ("Which registry and flag") says.
type registries struct {
	byName map[string]*registrytest.Server
	tags   map[string]bool // referrersTags per registry
	hosts  []string
}

func loadAll(t *testing.T, c *registrytest.Corpus) *registries {
	t.Helper()
	r := &registries{
		byName: map[string]*registrytest.Server{"olareg": registrytest.NewOlareg(t), "distribution": registrytest.StartDistribution(t)},
		tags:   map[string]bool{"olareg": false, "distribution": true},
	}
	for name, srv := range r.byName {
		r.hosts = append(r.hosts, srv.Host())
		for _, s := range c.Samples {
			c.Load(t, srv, s, r.tags[name])
		}
	}
	return r
}

func newRuntime(t *testing.T) *engine.Runtime {
	t.Helper()
	stack, err := store.NewStack(store.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := engine.New(engine.Options{Stack: stack, PluginDir: pluginDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return rt
}

// verify builds an Engine for the configuration and verifies ref.
func verify(t *testing.T, rt *engine.Runtime, cfg []byte, ref string) *report.Report {
	t.Helper()
	objs, err := catalog.Decode("corpus", cfg)
	if err != nil {
		t.Fatalf("%v\n%s", err, cfg)
	}
	if err := objs.Validate("corpus"); err != nil {
		t.Fatalf("%v\n%s", err, cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	e, err := rt.Build(ctx, objs, "corpus", cfg)
	if err != nil {
		t.Fatalf("build: %v\n%s", err, cfg)
	}
	rep, err := e.Verify(ctx, ref)
	if err != nil {
		t.Fatalf("verify %s: %v", ref, err)
	}
	noFormattingErrors(t, rep)
	return rep
}

// noFormattingErrors fails t when a message of rep, at any level,
// carries what fmt prints for a bad verb or argument ("%!w(<nil>)").
func noFormattingErrors(t *testing.T, rep *report.Report) {
	t.Helper()
	var msgs []string
	msgs = append(msgs, rep.Message, rep.Remediation)
	if rep.Policy != nil {
		for _, r := range rep.Policy.Rules {
			msgs = append(msgs, r.Message, r.Remediation)
		}
	}
	var walk func([]report.Artifact)
	walk = func(as []report.Artifact) {
		for _, a := range as {
			for _, r := range a.Results {
				msgs = append(msgs, r.Message, r.Remediation)
				if sig, ok := r.Details["signature"].(map[string]any); ok {
					m, _ := sig["message"].(string)
					msgs = append(msgs, m)
				}
			}
			walk(a.Artifacts)
		}
	}
	walk(rep.Artifacts)
	for _, p := range rep.Platforms {
		msgs = append(msgs, p.Message, p.Remediation)
		walk(p.Artifacts)
	}
	for _, w := range rep.Warnings {
		msgs = append(msgs, w.Message)
	}
	for _, m := range msgs {
		if strings.Contains(m, "%!") {
			t.Errorf("a message carries a formatting error: %s", m)
		}
	}
}

// results returns the results of Verifier name on the artifacts of type
// artifactType, at any depth.
func results(rep *report.Report, artifactType, name string) []report.Result {
	var out []report.Result
	var walk func([]report.Artifact)
	walk = func(as []report.Artifact) {
		for _, a := range as {
			if a.ArtifactType == artifactType {
				for _, r := range a.Results {
					if r.Verifier == name {
						out = append(out, r)
					}
				}
			}
			walk(a.Artifacts)
		}
	}
	walk(rep.Artifacts)
	return out
}

func summary(rep *report.Report) string {
	b, _ := json.MarshalIndent(rep, "", "  ")
	return string(b)
}

func TestEverySampleIsListed(t *testing.T) {
	c := registrytest.OpenCorpus(t)
	var missing []string
	for name := range c.Samples {
		if _, ok := samples[name]; !ok {
			missing = append(missing, name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("samples.json has samples this test neither claims nor lists as not claimed yet: %v; add each to samples with its family, or with the reason it is not claimed", missing)
	}
	for name, s := range samples {
		if _, ok := c.Samples[name]; !ok {
			t.Errorf("sample %q is listed here but not in samples.json", name)
		}
		if s.notClaimed == "" && s.reason != "" || s.notClaimed != "" && (s.reason == "" || s.reason == report.ReasonVerified) {
			t.Errorf("sample %q: a claimed sample has no expected failure reason, a sample not claimed has one that is not VERIFIED", name)
		}
	}
	for name, n := range negatives(t) {
		if s, ok := samples[n.sample]; !ok || s.notClaimed != "" {
			t.Errorf("negative %q derives from %q, which is not a claimed sample", name, n.sample)
		}
	}
}

// TestCorpus verifies every sample on both registries: the claimed ones
// must be VERIFIED as the reference CLI says, the others must not be
// admitted, each for the reason it has today.
func TestCorpus(t *testing.T) {
	c := registrytest.OpenCorpus(t)
	regs := loadAll(t, c)
	rt := newRuntime(t)
	names := make([]string, 0, len(c.Samples))
	for name := range c.Samples {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s, ok := samples[name]
		if !ok {
			continue // TestEverySampleIsListed fails
		}
		cs := c.Sample(t, name)
		for reg, srv := range regs.byName {
			t.Run(name+"/"+reg, func(t *testing.T) {
				t.Parallel()
				ref := srv.RepositoryName(cs.Repository) + "@" + cs.Subject
				rep := verify(t, rt, config(t, regs.hosts, s.family(t, c, trust{}), s.required), ref)
				if s.notClaimed == "" {
					if !strings.HasPrefix(cs.Verdict, "valid") {
						t.Fatalf("samples.json's verdict %q is not the reference CLI's acceptance", cs.Verdict)
					}
					if !rep.IsSuccess || rep.Reason != report.ReasonVerified {
						t.Fatalf("%s, which %s accepts: %s %s\n%s", name, cs.Tool, rep.Reason, rep.Message, summary(rep))
					}
					return
				}
				t.Logf("not claimed yet: %s", s.notClaimed)
				if rep.IsSuccess || rep.Reason == report.ReasonVerified {
					t.Fatalf("%s, which Assay does not claim yet (%s), was admitted: %s %s", name, s.notClaimed, rep.Reason, rep.Message)
				}
				if rep.Reason != s.reason {
					t.Errorf("%s fails with %s (%s), want %s: update the table if the behaviour changed on purpose", name, rep.Reason, rep.Message, s.reason)
				}
			})
		}
	}
}

// TestCorpusNegatives verifies claimed samples with other trust material:
// the verdict fails with the reason the wrong material calls for, at the
// top level and in the Verifier's result.
func TestCorpusNegatives(t *testing.T) {
	c := registrytest.OpenCorpus(t)
	regs := loadAll(t, c)
	rt := newRuntime(t)
	for name, n := range negatives(t) {
		s, cs := samples[n.sample], c.Sample(t, n.sample)
		for reg, srv := range regs.byName {
			t.Run(name+"/"+reg, func(t *testing.T) {
				t.Parallel()
				ref := srv.RepositoryName(cs.Repository) + "@" + cs.Subject
				rep := verify(t, rt, config(t, regs.hosts, s.family(t, c, n.trust), s.required), ref)
				if rep.IsSuccess || rep.Reason != n.reason {
					t.Fatalf("isSuccess %v, reason %s, want %s: %s\n%s", rep.IsSuccess, rep.Reason, n.reason, rep.Message, summary(rep))
				}
				rs := results(rep, n.artifactType, n.verifier)
				if len(rs) == 0 {
					t.Fatalf("no result of Verifier %s on %s:\n%s", n.verifier, n.artifactType, summary(rep))
				}
				for _, r := range rs {
					if r.Verdict != report.Failed || r.Reason != n.reason || r.Message == "" || r.Remediation == "" {
						t.Errorf("result %s %s %q (remediation %q), want failed %s with a message and a remediation", r.Verdict, r.Reason, r.Message, r.Remediation, n.reason)
					}
				}
			})
		}
	}
}
