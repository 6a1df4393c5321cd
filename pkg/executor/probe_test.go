package executor_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/store"
)

// TestAFailedCosignTagProbeFailsOnlyPoliciesThatNeedIt: with a real
// store and a registry answering 500 to cosign's ".sig" tag, an image
// whose notation signature verifies passes a Policy with no rule for
// cosign signatures, with a REGISTRY_ERROR warning naming the probe; a
// Policy with a rule for cosign signatures fails with REGISTRY_ERROR,
// as does a configuration with no Policy.
func TestAFailedCosignTagProbeFailsOnlyPoliciesThatNeedIt(t *testing.T) {
	reg := registrytest.NewOlaregBehind(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasSuffix(r.URL.Path, ".sig") {
				http.Error(w, "internal error", http.StatusInternalServerError)
				return
			}
			next.ServeHTTP(w, r)
		})
	})
	target := reg.Repository(t, "app")
	image := registrytest.PushImage(t, target, "v1")
	registrytest.Attach(t, target, image, registrytest.Artifact{ArtifactType: notary})
	ref := reg.RepositoryName("app") + "@" + image.Digest.String()

	tests := map[string]struct {
		policy  *executor.Policy
		success bool
	}{
		"a Policy that needs only notation passes with a warning": {policy: policy(executor.Rule{ArtifactType: notary, Required: true}), success: true},
		"a Policy with a rule for cosign signatures fails":        {policy: policy(executor.Rule{ArtifactTypes: []string{notary, cosignSig}, Required: true})},
		"no Policy fails": {},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			s, err := store.New(store.Options{Registries: map[string]store.RegistryOptions{reg.Host(): {PlainHTTP: true}}, DockerConfigs: [][]byte{[]byte(`{}`)}})
			if err != nil {
				t.Fatal(err)
			}
			rep := verify(t, s, executor.Options{
				Verifiers: []executor.Verifier{newFakeVerifier("notation", notary).WithSignatureTypes(notary), newFakeVerifier("cosign", cosignSig).WithSignatureTypes(cosignSig)},
				Policy:    tc.policy,
			}, ref)
			if rep.IsSuccess != tc.success {
				t.Fatalf("isSuccess %v (%s: %s), want %v", rep.IsSuccess, rep.Reason, rep.Message, tc.success)
			}
			if !tc.success {
				if rep.Reason != report.ReasonRegistryError || !strings.Contains(rep.Message, ".sig") {
					t.Fatalf("reason %s %q, want REGISTRY_ERROR naming the .sig probe", rep.Reason, rep.Message)
				}
				return
			}
			var warned bool
			for _, w := range rep.Warnings {
				warned = warned || w.Reason == report.ReasonRegistryError && strings.Contains(w.Message, ".sig") && strings.Contains(w.Message, cosignSig)
			}
			if !warned {
				t.Fatalf("warnings %+v: none is a REGISTRY_ERROR naming the .sig probe and %s", rep.Warnings, cosignSig)
			}
		})
	}
}
