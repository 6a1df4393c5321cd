//go:build e2e

package admission

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"
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

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
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

// repoPath is the repository path of test t's images, below which
// each image has a name of its own.
func repoPath(t *testing.T) string {
	return "admission/" + strings.Trim(nonRepoChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
}

func pushTo(t *testing.T, reg *registrytest.Server, name string, signed bool) string {
	t.Helper()
	path := repoPath(t) + "/" + name
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

func TestTagIsPinnedToItsDigestByGatekeepersMutation(t *testing.T) {
	// In mutateNamespace the Assign asks the mutate Provider for each
	// container's image; the validating webhook then judges the pinned
	// reference.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pods := env.kube.CoreV1().Pods(mutateNamespace)

	signed := push(t, "signed", true)
	want, err := pinned(ctx, signed)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(want, strings.TrimSuffix(signed, ":v1")+"@sha256:") {
		t.Fatalf("pinned reference %s is not %s's name with a digest", want, signed)
	}
	start := time.Now()
	if _, err := pods.Create(ctx, pod("pinned", signed), metav1.CreateOptions{}); err != nil {
		t.Fatalf("pod with signed %s was not admitted: %v", signed, err)
	}
	t.Logf("admitted with mutation in %s", time.Since(start).Round(time.Millisecond))
	got, err := pods.Get(ctx, "pinned", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("admitted pod is not stored: %v", err)
	}
	if image := got.Spec.Containers[0].Image; image != want {
		t.Errorf("stored image %s, want %s", image, want)
	}

	// An unsigned image is pinned too, and the denial names the pinned
	// reference: validation sees what mutation made.
	unsigned := push(t, "unsigned", false)
	wantUnsigned, err := pinned(ctx, unsigned)
	if err != nil {
		t.Fatal(err)
	}
	_, err = pods.Create(ctx, pod("pinned-unsigned", unsigned), metav1.CreateOptions{})
	expectDenied(t, err, denial(env.constraintName, notSigned(wantUnsigned)))
	if _, err := pods.Get(ctx, "pinned-unsigned", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get denied pod pinned-unsigned: %v, want NotFound", err)
	}

	// Outside mutateNamespace the image is stored as written.
	other := push(t, "default-namespace", true)
	_, err = createPod(t, pod("not-pinned", other))
	if image := expectAdmitted(t, err, "not-pinned").Spec.Containers[0].Image; image != other {
		t.Errorf("stored image in namespace default %s, want %s unchanged", image, other)
	}
}

func TestVerifierDeletedThenRecreatedChangesTheDecision(t *testing.T) {
	// The chart's release takes its Store, Verifier and Policy from the
	// API server. Gatekeeper caches each answer for three minutes, so
	// every attempt after a change uses an image never asked about.
	r := installedChart(t)
	ctx := context.Background()
	// The Verifier as the chart made it, re-applied after its deletion.
	installed := &v1alpha1.Verifier{}
	if err := r.c.Get(ctx, client.ObjectKey{Name: "notation"}, installed); err != nil {
		t.Fatal(err)
	}
	newVerifier := func() *v1alpha1.Verifier {
		return &v1alpha1.Verifier{ObjectMeta: metav1.ObjectMeta{Name: "notation", Labels: installed.Labels, Annotations: installed.Annotations},
			Spec: *installed.Spec.DeepCopy()}
	}
	pods := env.kube.CoreV1().Pods(chartDefault)
	attempt := 0
	// try creates a Pod with a signed image never asked about.
	try := func(what string) (string, string, error) {
		attempt++
		name := fmt.Sprintf("%s-%d", what, attempt)
		image := push(t, name, true)
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		_, err := pods.Create(cctx, pod(name, image), metav1.CreateOptions{})
		return name, image, err
	}
	// until tries until ok holds, and returns how long it took; what
	// names the images and Pods.
	until := func(what string, ok func(name, image string, err error) bool) time.Duration {
		t.Helper()
		start := time.Now()
		giveUp := start.Add(20 * time.Second) // a polling bound, not a speed assertion
		for {
			name, image, err := try(what)
			if ok(name, image, err) {
				return time.Since(start)
			}
			if time.Now().After(giveUp) {
				t.Fatalf("%s: after %s the last pod %s (%s) gave %v", what, time.Since(start).Round(time.Millisecond), name, image, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	stored := func(name string) bool {
		_, err := pods.Get(ctx, name, metav1.GetOptions{})
		return err == nil
	}

	// With the Verifier, a signed Pod is admitted (the constraint is
	// enforced: the first attempt must pass).
	name, image, err := try("present")
	if err != nil || !stored(name) {
		t.Fatalf("with the Verifier, pod %s with signed %s: %v (stored %v)", name, image, err, stored(name))
	}

	// Without it the Policy's rule has no Verifier: nothing defines
	// success and the new image's Pod is denied.
	if err := r.c.Delete(ctx, newVerifier()); err != nil {
		t.Fatal(err)
	}
	recreated := false
	t.Cleanup(func() {
		if !recreated {
			_ = r.c.Create(ctx, newVerifier())
		}
	})
	var lastDenied error
	var lastImage string
	took := until("deleted", func(name, image string, err error) bool {
		if err != nil && apierrors.IsForbidden(err) {
			lastDenied, lastImage = err, image
			return !stored(name)
		}
		return false
	})
	t.Logf("denied %s after the Verifier's deletion (attempt %d)", took.Round(time.Millisecond), attempt)
	// The Policy is still there but cannot apply, and the denial says so.
	expectDenied(t, lastDenied, denial(chartConstraint, fmt.Sprintf("image %q is not verified: NO_POLICY: "+
		"no Policy is in effect, so nothing defines success (1 artifact found); not in effect: "+
		`Policy "signed": field spec.rules[0].artifactType: no Verifier handles %q, so the rule could never be satisfied; add a Verifier with this artifact type. `+
		"Remediation: Fix the Policy named here (its status says the same) or restore what it depends on; until then every image is denied.",
		lastImage, servetest.NotationSignature)))

	// Re-created, it decides again.
	if err := r.c.Create(ctx, newVerifier()); err != nil {
		t.Fatal(err)
	}
	recreated = true
	took = until("recreated", func(name, _ string, err error) bool { return err == nil && stored(name) })
	t.Logf("admitted %s after the Verifier's re-creation (attempt %d)", took.Round(time.Millisecond), attempt)
}

func TestServingCertificateRotationFailsNoAdmission(t *testing.T) {
	// Pods are created one after another while assay serve's certificate
	// is replaced three times, as cert-manager or the chart's Secret
	// would replace it; every one must be admitted. Gatekeeper keeps its
	// connections to a Provider alive (90 s idle), so its admissions
	// mostly ride connections made before a rotation; the test's own
	// handshakes, every 50 ms throughout, are the new connections, and
	// each must succeed too.
	ctx := context.Background()
	type result struct {
		name, image string
		err         error
	}
	results := make(chan result, 10000)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			r := result{name: fmt.Sprintf("rotation-%d", i)}
			path := repoPath(t) + "/" + r.name
			if r.image, r.err = pushImage(ctx, env.olareg, path, env.leaf); r.err == nil {
				cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, r.err = env.kube.CoreV1().Pods("default").Create(cctx, pod(r.name, r.image), metav1.CreateOptions{})
				cancel()
			}
			results <- r
		}
	}()

	u, err := url.Parse(env.srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	clientTLS, err := env.serve.TLS.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	// served is the serial number of the certificate a new connection
	// is given.
	served := func() (string, error) {
		conn, err := tls.Dial("tcp", u.Host, clientTLS)
		if err != nil {
			return "", err
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
	}
	seen := map[string]bool{}
	first, err := served()
	if err != nil {
		t.Fatal(err)
	}
	seen[first] = true
	for round := 1; round <= 3; round++ {
		time.Sleep(300 * time.Millisecond) // admissions on the certificate in place
		if err := env.serve.TLS.RotateServing(); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(env.serve.TLS.CertFile)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(data)
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		want := cert.SerialNumber.String()
		deadline := time.Now().Add(20 * time.Second) // a polling bound
		for {
			got, err := served()
			if err != nil {
				t.Errorf("rotation %d: a new connection failed: %v", round, err)
			}
			if got == want {
				seen[got] = true
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("rotation %d: new connections get certificate %s, want %s", round, got, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	<-done
	close(results)

	n := 0
	for r := range results {
		n++
		if r.err != nil {
			t.Errorf("pod %s with signed %s, created while the certificate rotated: %v", r.name, r.image, r.err)
		}
	}
	if len(seen) != 4 {
		t.Errorf("served %d certificates, want the first and three rotated ones", len(seen))
	}
	if n < 6 {
		t.Errorf("only %d pods were created while the certificate rotated", n)
	}
	t.Logf("%d pods admitted across 3 certificate rotations", n)
}
