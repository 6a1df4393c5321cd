//go:build e2e

package admission

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/servetest"
)

// notSigned is the template's message for an image without a signature:
// Assay's reason, message and remediation, quoted.
func notSigned(image string) string {
	return fmt.Sprintf("image %q is not verified: NO_SIGNATURE: no signature of type %s is attached to the image"+
		". Remediation: Sign the image and push the signature to the same repository.", image, servetest.NotationSignature)
}

// denial is the message the API server returns when Gatekeeper's webhook
// denies a request with the violation messages msgs of constraint.
func denial(constraint string, msgs ...string) string {
	lines := make([]string, len(msgs))
	for i, m := range msgs {
		lines[i] = fmt.Sprintf("[%s] %s", constraint, m)
	}
	return fmt.Sprintf("admission webhook %q denied the request: %s", webhookName, strings.Join(lines, "\n"))
}

// pod is a Pod named name with one container per image.
func pod(name string, images ...string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for i, image := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: image})
	}
	return p
}

var nonRepoChars = regexp.MustCompile(`[^a-z0-9]+`)

// push pushes an image of its own for test t into olareg, signed or not,
// and returns its tag reference. Each test has its own repositories, so
// Gatekeeper's cache of provider answers never holds an answer for it.
func push(t *testing.T, name string, signed bool) string {
	t.Helper()
	return pushTo(t, env.olareg, name, signed)
}

func pushTo(t *testing.T, reg *registrytest.Server, name string, signed bool) string {
	t.Helper()
	path := "admission/" + strings.Trim(nonRepoChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-") + "/" + name
	leaf := env.leaf
	if !signed {
		leaf = nil
	}
	ref, err := pushImage(context.Background(), reg, path, leaf)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// createPod creates p in the default namespace as `kubectl apply` would,
// through the API server and its admission webhooks.
func createPod(t *testing.T, p *corev1.Pod) (*corev1.Pod, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return env.kube.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
}

// expectAdmitted fails unless err is nil and the API server stored the
// Pod named name.
func expectAdmitted(t *testing.T, err error, name string) *corev1.Pod {
	t.Helper()
	if err != nil {
		t.Fatalf("pod %s was not admitted: %v", name, err)
	}
	got, err := env.kube.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("admitted pod %s is not stored: %v", name, err)
	}
	return got
}

// expectDenied fails unless err is the webhook's denial with exactly
// want, as a 403 Forbidden.
func expectDenied(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted, want denied with %q", want)
	}
	if !apierrors.IsForbidden(err) {
		t.Errorf("error is not Forbidden: %#v", err)
	}
	if diff := cmp.Diff(want, err.Error()); diff != "" {
		t.Errorf("denial message (-want +got):\n%s", diff)
	}
}

// expectNotStored fails unless the default namespace has no Pod name.
func expectNotStored(t *testing.T, name string) {
	t.Helper()
	_, err := env.kube.CoreV1().Pods("default").Get(context.Background(), name, metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("get denied pod %s: %v, want NotFound", name, err)
	}
}

func TestSignedPodsAreAdmitted(t *testing.T) {
	t.Run("every container and initContainer signed, in a registry with the referrers API", func(t *testing.T) {
		app, init := push(t, "app", true), push(t, "init", true)
		p := pod("signed", app)
		p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: init}}
		_, err := createPod(t, p)
		got := expectAdmitted(t, err, "signed")
		if got.Spec.Containers[0].Image != app || got.Spec.InitContainers[0].Image != init {
			t.Errorf("stored pod has images %s and %s, want %s and %s", got.Spec.Containers[0].Image, got.Spec.InitContainers[0].Image, app, init)
		}
	})
	t.Run("signed in a registry without the referrers API", func(t *testing.T) {
		image := pushTo(t, env.distribution, "app", true)
		_, err := createPod(t, pod("signed-distribution", image))
		expectAdmitted(t, err, "signed-distribution")
	})
}

func TestPodWithAnUnsignedContainerIsDenied(t *testing.T) {
	signed, unsigned := push(t, "signed", true), push(t, "unsigned", false)
	_, err := createPod(t, pod("unsigned", signed, unsigned))
	// Only the unsigned image is named.
	expectDenied(t, err, denial(env.constraintName, notSigned(unsigned)))
	expectNotStored(t, "unsigned")

	t.Run("also in a registry without the referrers API", func(t *testing.T) {
		unsigned := pushTo(t, env.distribution, "unsigned", false)
		_, err := createPod(t, pod("unsigned-distribution", unsigned))
		expectDenied(t, err, denial(env.constraintName, notSigned(unsigned)))
		expectNotStored(t, "unsigned-distribution")
	})
}

func TestPodWithAnUnsignedInitContainerIsDenied(t *testing.T) {
	signed, unsigned := push(t, "signed", true), push(t, "init", false)
	p := pod("unsigned-init", signed)
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: unsigned}}
	_, err := createPod(t, p)
	expectDenied(t, err, denial(env.constraintName, notSigned(unsigned)))
	expectNotStored(t, "unsigned-init")
}

func TestEphemeralContainerMustBeSignedToo(t *testing.T) {
	// kubectl debug: an UPDATE of the pods/ephemeralcontainers
	// subresource of a Pod that was admitted (Pending: no kubelet runs it).
	ctx := context.Background()
	signed, debug, unsigned := push(t, "app", true), push(t, "debug", true), push(t, "debug-unsigned", false)
	_, err := createPod(t, pod("debugged", signed))
	expectAdmitted(t, err, "debugged")
	pods := env.kube.CoreV1().Pods("default")
	addEphemeral := func(name, image string) (*corev1.Pod, error) {
		t.Helper()
		p, err := pods.Get(ctx, "debugged", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.EphemeralContainers = append(p.Spec.EphemeralContainers, corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: image},
		})
		return pods.UpdateEphemeralContainers(ctx, "debugged", p, metav1.UpdateOptions{})
	}

	_, err = addEphemeral("debug-unsigned", unsigned)
	expectDenied(t, err, denial(env.constraintName, notSigned(unsigned)))
	if p, err := pods.Get(ctx, "debugged", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	} else if len(p.Spec.EphemeralContainers) != 0 {
		t.Errorf("after the denial the pod has ephemeral containers %+v", p.Spec.EphemeralContainers)
	}

	// The subresource is reviewed, not refused: a signed one is added.
	got, err := addEphemeral("debug", debug)
	if err != nil {
		t.Fatalf("adding a signed ephemeral container: %v", err)
	}
	if n := len(got.Spec.EphemeralContainers); n != 1 || got.Spec.EphemeralContainers[0].Image != debug {
		t.Errorf("ephemeral containers %+v, want only %s", got.Spec.EphemeralContainers, debug)
	}
}

// violation is one entry of a constraint's status.violations.
type violation struct {
	EnforcementAction string `json:"enforcementAction"`
	Group             string `json:"group"`
	Version           string `json:"version"`
	Kind              string `json:"kind"`
	Namespace         string `json:"namespace"`
	Name              string `json:"name"`
	Message           string `json:"message"`
}

// auditStatus is what Gatekeeper's audit writes into a constraint's
// status.
type auditStatus struct {
	AuditTimestamp  string      `json:"auditTimestamp"`
	TotalViolations *int64      `json:"totalViolations"`
	Violations      []violation `json:"violations"`
}

func TestAuditReportsThePodsThatViolateTheConstraint(t *testing.T) {
	// TestMain made two Pods in assay-audit before the constraint existed,
	// so admission never judged them: one signed, one not. Every Pod the
	// other tests had admitted is signed. The audit (every 10 seconds)
	// must report the unsigned one, and only it.
	want := []violation{{
		EnforcementAction: "deny", Version: "v1", Kind: "Pod",
		Namespace: auditNamespace, Name: "unsigned", Message: notSigned(env.auditUnsigned),
	}}
	ctx := context.Background()
	deadline := time.Now().Add(time.Duration(6*auditInterval) * time.Second)
	var last auditStatus
	for {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(constraintGVK)
		if err := env.c.Get(ctx, client.ObjectKey{Name: env.constraintName}, u); err != nil {
			t.Fatal(err)
		}
		status, _, _ := unstructured.NestedMap(u.Object, "status")
		data, err := json.Marshal(status)
		if err != nil {
			t.Fatal(err)
		}
		last = auditStatus{}
		if err := json.Unmarshal(data, &last); err != nil {
			t.Fatal(err)
		}
		if last.TotalViolations != nil && *last.TotalViolations == 1 && cmp.Equal(want, last.Violations) {
			break
		}
		if time.Now().After(deadline) {
			total := "unset"
			if last.TotalViolations != nil {
				total = fmt.Sprint(*last.TotalViolations)
			}
			t.Fatalf("audit at %q: %s violations, want 1; violations (-want +got):\n%s", last.AuditTimestamp, total, cmp.Diff(want, last.Violations))
		}
		time.Sleep(time.Second)
	}
	if last.AuditTimestamp == "" {
		t.Error("status.auditTimestamp is empty")
	}
}

func TestAssayDownDeniesWithAClearMessage(t *testing.T) {
	// The template fails closed by itself: the webhook's failurePolicy is
	// Ignore, as Gatekeeper installs it. The image is signed and has never
	// been asked about, so no cached answer can admit it.
	signed := push(t, "signed", true)
	url := env.srv.URL + "/v1/verify"
	addr := strings.TrimPrefix(env.srv.URL, "https://")
	env.srv.Stop()
	// Whatever happens, the next start is on the Provider's address.
	env.serve.Listen = addr
	t.Cleanup(func() {
		select {
		case <-env.srv.Exited():
			if err := env.startAssay(context.Background()); err != nil {
				t.Fatalf("restart assay serve: %v", err)
			}
		default:
		}
	})
	want := fmt.Sprintf("provider %q failed with HTTP status 500, so images %q could not be checked: "+
		"failed to send external data request: Post %q: dial tcp %s: connect: connection refused", providerName, signed, url, addr)
	_, err := createPod(t, pod("assay-down", signed))
	expectDenied(t, err, denial(env.constraintName, want))
	expectNotStored(t, "assay-down")

	// Back on the same address, the same Pod is admitted: Gatekeeper did
	// not cache the failure.
	if err := env.startAssay(context.Background()); err != nil {
		t.Fatalf("restart assay serve on %s: %v", addr, err)
	}
	_, err = createPod(t, pod("assay-down", signed))
	expectAdmitted(t, err, "assay-down")
}
