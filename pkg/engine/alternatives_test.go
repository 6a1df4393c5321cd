package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/controller"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
)

// The artifact types of cosign's signatures: v2 (the classic .sig tag and
// the OCI 1.1 referrer, both reported under one type) and the v3 bundle.
const (
	cosignV2 = "application/vnd.dev.cosign.artifact.sig.v1+json"
	cosignV3 = "application/vnd.dev.sigstore.bundle.v0.3+json"
	eitherOf = cosignV2 + " or " + cosignV3
)

// cosignConfig is a Store for host, a cosign Verifier trusting the
// corpus's cosign key (no transparency log: the CLIs signed offline),
// and policy.
func cosignConfig(c *registrytest.Corpus, host, policy string) string {
	return fmt.Sprintf(`apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: registries}
spec:
  registries: [{host: %q, plainHTTP: true}]
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: cosign}
spec:
  plugin: cosign
  artifactTypes: [%s, %s]
  parameters:
    trustPolicies:
      - name: corpus
        scopes: ["*"]
        keys: [{name: corpus, file: %q}]
        trustedRoot: {file: %q}
        tlog: skip
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: cosign-signed}
spec:
%s`, host, cosignV2, cosignV3, c.Path("trust/cosign/cosign.pub"), c.Path("trust/sigstore/trusted_root-empty.json"), policy)
}

// TestEitherCosignLayoutAgainstCLISignatures: the Policy of a move from
// cosign v2 to v3, one required rule with both layouts' types, passes an
// image signed by the cosign v2 CLI (classic .sig tag, OCI 1.1 referrer)
// and one signed by the cosign v3 CLI (Sigstore bundle), and fails an
// unsigned one, through the real cosign plugin, on a registry with the
// referrers API and on one without. Under a Policy of optional rules that
// allows unsigned images, the unsigned image passes with a report saying
// nothing was verified.
func TestEitherCosignLayoutAgainstCLISignatures(t *testing.T) {
	c := registrytest.OpenCorpus(t)
	for _, reg := range []struct {
		name string
		srv  func(testing.TB) *registrytest.Server
		tags bool // push the referrers tag schema indexes the CLIs wrote
	}{
		{"olareg", registrytest.NewOlareg, false},
		{"distribution", registrytest.StartDistribution, true},
	} {
		t.Run(reg.name, func(t *testing.T) {
			srv := reg.srv(t)
			unsigned := registrytest.PushImage(t, srv.Repository(t, "corpus/unsigned"), "v1")
			unsignedRef := srv.RepositoryName("corpus/unsigned") + "@" + unsigned.Digest.String()

			_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
			ctx := context.Background()
			apply := func(id, policy string) {
				t.Helper()
				objs, err := catalog.Decode("test", []byte(cosignConfig(c, srv.Host(), policy)))
				if err != nil {
					t.Fatal(err)
				}
				if err := objs.Validate("test"); err != nil {
					t.Fatal(err)
				}
				if err := rt.Apply(ctx, controller.Configuration{ID: id, Cluster: objs}); err != nil {
					t.Fatal(err)
				}
			}
			verify := func(ref string) *report.Report {
				t.Helper()
				rep, err := rt.Verify(ctx, provider.Key{Reference: ref})
				if err != nil {
					t.Fatalf("verify %s: %v", ref, err)
				}
				return rep
			}

			apply("either", "  rules:\n    - artifactTypes: ["+cosignV2+", "+cosignV3+"]\n      required: true\n")
			for _, tc := range []struct{ sample, found string }{
				{"03-cosign2-classic-sig", cosignV2},
				{"04-cosign2-oci11-referrer", cosignV2},
				{"06-cosign3-bundle-key", cosignV3},
			} {
				t.Run(tc.sample, func(t *testing.T) {
					rep := verify(c.Load(t, srv, c.Sample(t, tc.sample), reg.tags))
					if !rep.IsSuccess || rep.Reason != report.ReasonVerified {
						t.Fatalf("isSuccess %v reason %s: %s", rep.IsSuccess, rep.Reason, rep.Message)
					}
					rule := rep.Policy.Rules[0]
					want := "1 of 1 " + tc.found + " verified (of " + eitherOf + ")"
					if rule.Message != want || rule.ArtifactType != "" || len(rule.ArtifactTypes) != 2 {
						t.Errorf("rule %+v, want artifactTypes and the message %q", rule, want)
					}
					if rep.Message != `policy "cosign-signed" satisfied: `+want {
						t.Errorf("message %q", rep.Message)
					}
				})
			}
			rep := verify(unsignedRef)
			if rep.IsSuccess || rep.Reason != report.ReasonNoSignature {
				t.Fatalf("unsigned image: isSuccess %v reason %s: %s", rep.IsSuccess, rep.Reason, rep.Message)
			}
			if want := "no signature of type " + eitherOf + " is attached to the image"; rep.Message != want {
				t.Errorf("unsigned image: message %q, want %q", rep.Message, want)
			}

			apply("optional", "  allowUnsigned: true\n  rules:\n    - {artifactType: "+cosignV3+"}\n")
			rep = verify(unsignedRef)
			if !rep.IsSuccess || !strings.HasSuffix(rep.Message, "; "+executor.AdmittedUnverified) {
				t.Errorf("unsigned image under allowUnsigned: isSuccess %v message %q, want a pass that says nothing was verified", rep.IsSuccess, rep.Message)
			}
		})
	}
}
