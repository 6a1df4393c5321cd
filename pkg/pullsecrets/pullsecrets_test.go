package pullsecrets_test

import (
	"context"
	"encoding/json"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"

	"github.com/assayproj/assay/pkg/pullsecrets"
)

func dockerconfigjson(name, host string) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: name},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"` + host + `":{"auth":"dTpw"}}}`)},
	}
}

func newReader(t *testing.T, gets *atomic.Int32, now func() time.Time, objs ...client.Object) *pullsecrets.Reader {
	t.Helper()
	c := fake.NewClientBuilder().WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			gets.Add(1)
			if key.Name == "forbidden" {
				return apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, key.Name, errors.New("RBAC: access denied"))
			}
			return c.Get(ctx, key, obj, opts...)
		},
	}).Build()
	return pullsecrets.New(c, pullsecrets.Options{TTL: time.Minute, Now: now})
}

func TestForPodFindsWhatTheKubeletWouldTry(t *testing.T) {
	legacy := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "legacy"},
		Type:       corev1.SecretTypeDockercfg,
		Data:       map[string][]byte{corev1.DockerConfigKey: []byte(`{"old.example":{"auth":"dTpw"}}`)},
	}
	opaque := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "opaque"}, Type: corev1.SecretTypeOpaque}
	sa := &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Namespace: "team-a", Name: "builder"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "from-sa"}, {Name: "pod-secret"}, {Name: "gone"}},
	}
	var gets atomic.Int32
	r := newReader(t, &gets, time.Now, dockerconfigjson("pod-secret", "a.example"), dockerconfigjson("from-sa", "b.example"), legacy, opaque, sa,
		dockerconfigjson("elsewhere", "c.example"))

	got := r.ForPod(context.Background(), "team-a", "builder", []string{"pod-secret", "legacy", "opaque", "forbidden"})
	var hosts []string
	for _, c := range got.DockerConfigs {
		var doc struct {
			Auths map[string]json.RawMessage `json:"auths"`
		}
		if err := json.Unmarshal(c, &doc); err != nil {
			t.Fatalf("config %s: %v", c, err)
		}
		for h := range doc.Auths {
			hosts = append(hosts, h)
		}
	}
	// The Pod's own first, in order, then the ServiceAccount's; each
	// Secret once.
	if diff := cmp.Diff([]string{"a.example", "old.example", "b.example"}, hosts); diff != "" {
		t.Errorf("hosts of the configs (-want +got):\n%s", diff)
	}
	wantUnused := []string{
		`Secret team-a/opaque: is of type "Opaque"; want kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`,
		`Secret team-a/forbidden: secrets "forbidden" is forbidden: RBAC: access denied`,
		"Secret team-a/gone does not exist",
	}
	if diff := cmp.Diff(wantUnused, got.Unused); diff != "" {
		t.Errorf("unused (-want +got):\n%s", diff)
	}

	// A Secret of another namespace is never read: names are the Pod's
	// namespace's.
	if got := r.ForPod(context.Background(), "team-b", "", []string{"elsewhere"}); len(got.DockerConfigs) != 0 {
		t.Errorf("team-b's Pod got team-a's Secret: %s", got.DockerConfigs)
	}
}

func TestForPodWithoutTheServiceAccount(t *testing.T) {
	var gets atomic.Int32
	r := newReader(t, &gets, time.Now, dockerconfigjson("pod-secret", "a.example"))
	got := r.ForPod(context.Background(), "team-a", "missing", []string{"pod-secret"})
	if len(got.DockerConfigs) != 1 {
		t.Errorf("got %d configs, want the Pod's one", len(got.DockerConfigs))
	}
	if diff := cmp.Diff([]string{"ServiceAccount team-a/missing does not exist"}, got.Unused); diff != "" {
		t.Errorf("unused (-want +got):\n%s", diff)
	}
}

func TestReadsAreReusedForTheTTL(t *testing.T) {
	var gets atomic.Int32
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := newReader(t, &gets, func() time.Time { return now }, dockerconfigjson("pod-secret", "a.example"))
	for range 3 {
		r.ForPod(context.Background(), "team-a", "", []string{"pod-secret", "absent"})
	}
	if n := gets.Load(); n != 2 {
		t.Errorf("%d reads for three Pods within the TTL, want 2 (one per object, absent ones too)", n)
	}
	now = now.Add(2 * time.Minute)
	r.ForPod(context.Background(), "team-a", "", []string{"pod-secret"})
	if n := gets.Load(); n != 3 {
		t.Errorf("%d reads after the TTL, want the Secret read again", n)
	}
}

func TestDockerConfig(t *testing.T) {
	if _, err := pullsecrets.DockerConfig(&corev1.Secret{Type: corev1.SecretTypeDockerConfigJson}); err == nil {
		t.Error("a dockerconfigjson Secret without .dockerconfigjson was accepted")
	}
	garbage := &corev1.Secret{Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte("{not json")}}
	if _, err := pullsecrets.DockerConfig(garbage); err == nil {
		t.Error("a .dockerconfigjson that is not JSON was accepted")
	}
	bad := &corev1.Secret{Type: corev1.SecretTypeDockercfg, Data: map[string][]byte{corev1.DockerConfigKey: []byte("[1]")}}
	if _, err := pullsecrets.DockerConfig(bad); err == nil {
		t.Error("a .dockercfg that is not an object was accepted")
	}
}
