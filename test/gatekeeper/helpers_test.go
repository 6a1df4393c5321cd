package gatekeeper

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/reviews"
	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/reader"
	mutationtypes "github.com/open-policy-agent/gatekeeper/v3/pkg/mutation/types"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/util"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"oras.land/oras-go/v2/registry/remote"

	"github.com/assayproj/assay/pkg/notationtest"
)

// Sample constraints of the library, relative to libraryDir.
const (
	verifiedImagesSample = "assayverifiedimages/samples/verified-images/constraint.yaml"
	namespacedSample     = "assayverifiedimagesnamespaced/samples/namespaced-verified-images/constraint.yaml"
	vulnerabilitySample  = "assayvulnerabilityreport/samples/recent-clean-signed-report/constraint.yaml"
)

// violation is one result of a review: the constraint that produced it,
// its enforcement action and its message.
type violation struct {
	Constraint, Action, Msg string
}

// constraint reads a sample constraint of the library.
func constraint(t *testing.T, path string) *unstructured.Unstructured {
	t.Helper()
	u, err := reader.ReadConstraint(os.DirFS(libraryDir), path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return u
}

// withProvider returns a copy of c named name that asks provider.
func withProvider(t *testing.T, c *unstructured.Unstructured, name, provider string) *unstructured.Unstructured {
	t.Helper()
	c = c.DeepCopy()
	c.SetName(name)
	if err := unstructured.SetNestedField(c.Object, provider, "spec", "parameters", "provider"); err != nil {
		t.Fatal(err)
	}
	return c
}

// enforce adds the constraints to the shared client until the test ends.
func enforce(t *testing.T, constraints ...*unstructured.Unstructured) {
	t.Helper()
	for _, c := range constraints {
		if _, err := env.client.AddConstraint(context.Background(), c); err != nil {
			t.Fatalf("add constraint %s %s: %v", c.GetKind(), c.GetName(), err)
		}
		t.Cleanup(func() {
			if _, err := env.client.RemoveConstraint(context.Background(), c); err != nil {
				t.Errorf("remove constraint %s %s: %v", c.GetKind(), c.GetName(), err)
			}
		})
	}
}

var nonRepoChars = regexp.MustCompile(`[^a-z0-9]+`)

// push pushes an image named name into a repository of the test's own on
// the olareg registry, signed by the trusted leaf if signed, and returns
// its tag reference. Distinct tests never share a reference, so none sees
// another's answer in Gatekeeper's response cache.
func push(t *testing.T, name string, signed bool) string {
	t.Helper()
	return pushAt(t, testRepository(t, name), signed)
}

// testRepository is the repository path push uses for name in test t.
func testRepository(t *testing.T, name string) string {
	return "gatekeeper/" + strings.Trim(nonRepoChars.ReplaceAllString(strings.ToLower(t.Name()), "-"), "-") + "/" + name
}

// pushAt pushes an image tagged v1 into repository path of the olareg
// registry, signed by the trusted leaf if signed, and returns its tag
// reference.
func pushAt(t *testing.T, path string, signed bool) string {
	t.Helper()
	return pushImage(t, path, signed).ref
}

// pushed is an image pushAt pushed: its repository, manifest descriptor
// and tag reference.
type pushed struct {
	repo *remote.Repository
	desc ocispec.Descriptor
	ref  string
}

// pushImage is pushAt, returning what vulnerability reports need to be
// attached to the image.
func pushImage(t *testing.T, path string, signed bool) pushed {
	t.Helper()
	repo := env.registry.Repository(t, path)
	desc := notationtest.MustPushImage(t, repo, repo.Reference.Repository, "v1")
	if signed {
		sig := notationtest.MustSign(t, env.leaf, desc, notationtest.SignOptions{})
		notationtest.MustPushSignature(t, repo, desc, sig)
	}
	return pushed{repo: repo, desc: desc, ref: repo.Reference.Registry + "/" + repo.Reference.Repository + ":v1"}
}

// pod is a Pod in namespace with one container per image.
func pod(namespace string, images ...string) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: namespace},
	}
	for i, image := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: image})
	}
	return p
}

// admission is what the API server sends Gatekeeper's webhook for one
// request on a Pod: the object, the old object on an update, the
// subresource ("ephemeralcontainers" when kubectl debug adds one).
type admission struct {
	op          admissionv1.Operation
	subResource string
	object, old *corev1.Pod
}

// create is a CREATE of p.
func create(p *corev1.Pod) admission { return admission{op: admissionv1.Create, object: p} }

// review asks the shared client what Gatekeeper's validating webhook
// would: it wraps the request in a target.AugmentedReview, with the
// namespace object, as the webhook's createReviewForRequest does, and
// reviews it with the webhook's options. It returns the violations,
// sorted.
func review(t *testing.T, a admission) []violation {
	t.Helper()
	raw := func(p *corev1.Pod) runtime.RawExtension {
		if p == nil {
			return runtime.RawExtension{}
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: b}
	}
	kind := metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}
	resource := metav1.GroupVersionResource{Version: "v1", Resource: "pods"}
	req := &admissionv1.AdmissionRequest{
		UID:         types.UID("review-" + strings.ToLower(nonRepoChars.ReplaceAllString(t.Name(), "-"))),
		Kind:        kind,
		Resource:    resource,
		SubResource: a.subResource,
		RequestKind: &kind, RequestResource: &resource, RequestSubResource: a.subResource,
		Name:      a.object.Name,
		Namespace: a.object.Namespace,
		Operation: a.op,
		UserInfo:  authenticationv1.UserInfo{Username: "kubernetes-admin", Groups: []string{"system:masters", "system:authenticated"}},
		Object:    raw(a.object),
		OldObject: raw(a.old),
	}
	ns := &corev1.Namespace{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: a.object.Namespace, Labels: map[string]string{"kubernetes.io/metadata.name": a.object.Namespace}},
	}
	opts := []reviews.ReviewOpt{reviews.EnforcementPoint(util.WebhookEnforcementPoint), reviews.Tracing(false)}
	if opt := util.NamespaceReviewOpt(ns, logr.Discard()); opt != nil {
		opts = append(opts, opt)
	}
	// The webhook's own deadline is the API server's 3 s webhook timeout;
	// give the review room so that only the Provider timeout counts.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := env.client.Review(ctx, &target.AugmentedReview{
		AdmissionRequest: req,
		Namespace:        ns,
		Source:           mutationtypes.SourceTypeOriginal,
		IsAdmission:      true,
	}, opts...)
	if err != nil {
		t.Fatalf("review: %v", err)
	}
	var out []violation
	for _, r := range resp.Results() {
		out = append(out, violation{Constraint: r.Constraint.GetKind() + "/" + r.Constraint.GetName(), Action: r.EnforcementAction, Msg: r.Msg})
	}
	slices.SortFunc(out, func(a, b violation) int { return strings.Compare(a.Constraint+a.Msg, b.Constraint+b.Msg) })
	return out
}

// expect fails the test unless got is want.
func expect(t *testing.T, got, want []violation) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("violations (-want +got):\n%s", diff)
	}
}

// cached returns Gatekeeper's cached answer for key from provider, if any.
func cached(provider, key string) (*externaldata.CacheValue, bool) {
	v, err := env.responses.Get(externaldata.CacheKey{ProviderName: provider, Key: key})
	return v, err == nil
}
