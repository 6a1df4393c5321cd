package gatekeeper

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// Assay's words for an unsigned image and for a registry that does not
// answer within the budget (its report's reason, message and
// remediation), as the templates quote them.
func notSigned(image string) string {
	return fmt.Sprintf("image %q is not verified: NO_SIGNATURE: no signature of type %s is attached to the image"+
		". Remediation: Sign the image and push the signature to the same repository.", image, notarySignature)
}

// deadlineExceeded is the message for an image whose registry hangs: the
// executor's own, as the resolution stops at the budget and the handler
// collects answers a little longer; or, on a machine so loaded that the
// executor's answer misses that grace, the handler's.
func deadlineExceeded(image string) []string {
	const remediation = ". Remediation: Retry; if it persists, raise the timeout or check the registry's latency."
	prefix := fmt.Sprintf("image %q is not verified: DEADLINE_EXCEEDED: ", image)
	return []string{
		prefix + fmt.Sprintf("the deadline passed before %s was resolved: context deadline exceeded", image) + remediation,
		prefix + fmt.Sprintf("verification of %q did not finish within the provider's budget of 2.5s"+
			" (the Provider's timeout of 3s minus a margin of 500ms)", image) + remediation,
	}
}

func denied(constraint string, msgs ...string) []violation {
	var out []violation
	for _, m := range msgs {
		out = append(out, violation{Constraint: constraint, Action: "deny", Msg: m})
	}
	return out
}

func TestVerifiedImagesAdmitsOnlyPodsWhoseEveryImageIsSigned(t *testing.T) {
	const verifiedImages = "AssayVerifiedImages/verified-images"
	cases := map[string]struct {
		request func(signed, unsigned string) admission
		want    func(unsigned string) []violation
	}{
		"a pod whose only container is signed is admitted": {
			request: func(signed, _ string) admission { return create(pod("default", signed)) },
			want:    func(string) []violation { return nil },
		},
		"a pod whose container is unsigned is denied naming the image and NO_SIGNATURE": {
			request: func(_, unsigned string) admission { return create(pod("default", unsigned)) },
			want: func(unsigned string) []violation {
				return denied(verifiedImages, notSigned(unsigned))
			},
		},
		"a pod with a signed and an unsigned container is denied naming only the unsigned image": {
			request: func(signed, unsigned string) admission { return create(pod("default", signed, unsigned)) },
			want: func(unsigned string) []violation {
				return denied(verifiedImages, notSigned(unsigned))
			},
		},
		"a pod whose only unsigned image is an initContainer is denied": {
			request: func(signed, unsigned string) admission {
				p := pod("default", signed)
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: unsigned}}
				return create(p)
			},
			want: func(unsigned string) []violation {
				return denied(verifiedImages, notSigned(unsigned))
			},
		},
		"adding an unsigned ephemeral container to a signed pod is denied": {
			// kubectl debug: an UPDATE of the pods/ephemeralcontainers subresource.
			request: func(signed, unsigned string) admission {
				old := pod("default", signed)
				p := old.DeepCopy()
				p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{
					EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: unsigned},
				}}
				return admission{op: admissionv1.Update, subResource: "ephemeralcontainers", object: p, old: old}
			},
			want: func(unsigned string) []violation {
				return denied(verifiedImages, notSigned(unsigned))
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			enforce(t, constraint(t, verifiedImagesSample))
			signed, unsigned := push(t, "signed", true), push(t, "unsigned", false)
			expect(t, review(t, tc.request(signed, unsigned)), tc.want(unsigned))
		})
	}
}

func TestNamespacedVerifiedImagesSendsTheNamespaceWithEachImage(t *testing.T) {
	const namespaced = "AssayVerifiedImagesNamespaced/namespaced-verified-images"
	enforce(t, constraint(t, namespacedSample)) // matches namespace team-a only
	signed, unsigned := push(t, "signed", true), push(t, "unsigned", false)

	t.Run("a signed pod in team-a is admitted", func(t *testing.T) {
		expect(t, review(t, create(pod("team-a", signed))), nil)
		// The key Gatekeeper sent, and cached Assay's answer for, carries
		// the namespace; the bare image was never asked.
		v, ok := cached(providerName, "[team-a]"+signed)
		if !ok {
			t.Fatalf("no cached answer for key %q", "[team-a]"+signed)
		}
		if rep, _ := v.Value.(map[string]any); v.Error != "" || rep["isSuccess"] != true {
			t.Errorf("cached answer for [team-a]%s: error %q, value %v", signed, v.Error, v.Value)
		}
		if _, ok := cached(providerName, signed); ok {
			t.Errorf("key %q without its namespace was sent", signed)
		}
	})
	t.Run("an unsigned pod in team-a is denied naming the image without the prefix", func(t *testing.T) {
		expect(t, review(t, create(pod("team-a", unsigned))), denied(namespaced, notSigned(unsigned)))
		if _, ok := cached(providerName, "[team-a]"+unsigned); !ok {
			t.Errorf("no cached answer for key %q", "[team-a]"+unsigned)
		}
	})
	t.Run("an unsigned pod in team-b is not this constraint's business", func(t *testing.T) {
		expect(t, review(t, create(pod("team-b", unsigned))), nil)
		if _, ok := cached(providerName, "[team-b]"+unsigned); ok {
			t.Errorf("key %q was sent for a namespace the constraint does not match", "[team-b]"+unsigned)
		}
	})
}

func TestProviderDownDeniesEvenSignedImages(t *testing.T) {
	enforce(t, withProvider(t, constraint(t, verifiedImagesSample), "verified-images-provider-down", downProviderName))
	signed := push(t, "signed", true)
	addr := strings.TrimSuffix(strings.TrimPrefix(env.downURL, "https://"), "/v1/verify")
	want := fmt.Sprintf("provider %q failed with HTTP status 500, so images %q could not be checked: "+
		"failed to send external data request: Post %q: dial tcp %s: connect: connection refused", downProviderName, signed, env.downURL, addr)
	expect(t, review(t, create(pod("default", signed))), denied("AssayVerifiedImages/verified-images-provider-down", want))
	// A system error is not cached: the next review asks again.
	if _, ok := cached(downProviderName, signed); ok {
		t.Errorf("Gatekeeper cached an answer for %s from a provider that is down", signed)
	}
}

func TestSlowRegistryDeniesWithDeadlineExceededWithinTheProviderTimeout(t *testing.T) {
	enforce(t, constraint(t, verifiedImagesSample))
	slow := env.hangHost + "/slow/app:v1"
	// Assay answers DEADLINE_EXCEEDED before Gatekeeper's 3 s Provider
	// timeout: otherwise the message would be a system error.
	got := review(t, create(pod("default", slow)))
	for _, msg := range deadlineExceeded(slow) {
		if want := denied("AssayVerifiedImages/verified-images", msg); cmp.Equal(got, want) {
			return
		}
	}
	t.Errorf("violations %+v, want one deny with one of %q", got, deadlineExceeded(slow))
}

func TestVulnerabilityReportDeniesAnImageWithoutReport(t *testing.T) {
	enforce(t, constraint(t, vulnerabilitySample))
	signed := push(t, "signed", true)
	want := fmt.Sprintf("image %q has no vulnerability report: no application/sarif+json artifact is attached to it", signed)
	expect(t, review(t, create(pod("default", signed))), denied("AssayVulnerabilityReport/recent-clean-signed-report", want))
}
