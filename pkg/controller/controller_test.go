package controller_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/controller"
	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// kubeAssets is where kube-apiserver and etcd are: $ASSAY_KUBE_ASSETS,
// else <repository>/.tools/bin (make cluster-tools builds them there).
func kubeAssets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ASSAY_KUBE_ASSETS")
	if dir == "" {
		dir = filepath.Join("..", "..", ".tools", "bin")
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
			t.Fatalf("%s is missing from %s: run `make cluster-tools` (it builds kube-apiserver and etcd from the Go module proxy) or set ASSAY_KUBE_ASSETS", b, dir)
		}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	return abs
}

// applied records the configurations handed to Apply.
type applied struct {
	mu    sync.Mutex
	calls []controller.Configuration
	fail  error
}

// applied is the reconciler's Target in these tests: it records what is
// applied and rejects Verifiers whose parameters say "broken": true.
var _ controller.Target = (*applied)(nil)

// CheckVerifier refuses a Verifier whose parameters say "broken": true.
func (a *applied) CheckVerifier(_ context.Context, v v1alpha1.Verifier) error {
	var p map[string]any
	_ = json.Unmarshal(v.Spec.Parameters.Raw, &p)
	if p["broken"] == true {
		return errors.New(`field spec.parameters.trustPolicyDocument: plugin "notation" rejects it: no trust policies`)
	}
	return nil
}

func (a *applied) Apply(_ context.Context, cfg controller.Configuration) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.fail != nil {
		return a.fail
	}
	a.calls = append(a.calls, cfg)
	return nil
}

// last is the cluster-wide part of the last configuration applied.
func (a *applied) last() *catalog.Objects {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		return nil
	}
	return a.calls[len(a.calls)-1].Cluster
}

// lastIn is a namespace's part of the last configuration applied.
func (a *applied) lastIn(ns string) *catalog.Objects {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.calls) == 0 {
		return nil
	}
	return a.calls[len(a.calls)-1].Namespaces[ns]
}

// env is one API server with the CRDs and a manager running the reconciler.
type env struct {
	c       client.Client
	applied *applied
}

func start(t *testing.T) *env {
	t.Helper()
	te := &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "crds")},
		ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: kubeAssets(t),
	}
	cfg, err := te.Start()
	if err != nil {
		t.Fatalf("start kube-apiserver and etcd: %v", err)
	}
	t.Cleanup(func() {
		if err := te.Stop(); err != nil {
			t.Errorf("stop the API server: %v", err)
		}
	})
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"}, Logger: logr.Discard()})
	if err != nil {
		t.Fatal(err)
	}
	a := &applied{}
	r := &controller.Reconciler{
		Client:       mgr.GetClient(),
		Target:       a,
		Log:          logr.Discard(),
		SecretResync: time.Second,
		Name:         "configuration-" + strings.ToLower(strings.NewReplacer("/", "-", " ", "-").Replace(t.Name())),
	}
	if err := r.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager: %v", err)
		}
	})
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	return &env{c: c, applied: a}
}

func verifier(name, params string) *v1alpha1.Verifier {
	v := &v1alpha1.Verifier{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.VerifierSpec{
		Plugin: "notation", ArtifactTypes: []string{"application/vnd.cncf.notary.signature"}}}
	v.Spec.Parameters.Raw = []byte(params)
	return v
}

func policyFor(name string, types ...string) *v1alpha1.Policy {
	p := &v1alpha1.Policy{ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, at := range types {
		p.Spec.Rules = append(p.Spec.Rules, v1alpha1.PolicyRule{ArtifactType: at, Required: true})
	}
	return p
}

// eventually polls cond for up to 20 seconds.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: still %s", what, state)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ready returns the Ready condition of obj as the API server has it.
func (e *env) ready(t *testing.T, obj client.Object) (*metav1.Condition, int64) {
	t.Helper()
	if err := e.c.Get(context.Background(), client.ObjectKeyFromObject(obj), obj); err != nil {
		t.Fatal(err)
	}
	var st v1alpha1.ObjectStatus
	switch o := obj.(type) {
	case *v1alpha1.Verifier:
		st = o.Status
	case *v1alpha1.Policy:
		st = o.Status
	case *v1alpha1.Store:
		st = o.Status
	case *v1alpha1.NamespacedVerifier:
		st = o.Status
	case *v1alpha1.NamespacedPolicy:
		st = o.Status
	}
	return meta.FindStatusCondition(st.Conditions, controller.ConditionReady), st.ObservedGeneration
}

func (e *env) waitReady(t *testing.T, obj client.Object, status metav1.ConditionStatus, reason, inMessage string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%T %s Ready=%s %s", obj, obj.GetName(), status, reason), func() (bool, string) {
		c, gen := e.ready(t, obj)
		if c == nil {
			return false, "no Ready condition"
		}
		ok := c.Status == status && c.Reason == reason && strings.Contains(c.Message, inMessage) && gen == obj.GetGeneration() && c.ObservedGeneration == obj.GetGeneration()
		return ok, fmt.Sprintf("%s %s %q (observed generation %d of %d)", c.Status, c.Reason, c.Message, gen, obj.GetGeneration())
	})
}

func TestObjectsBecomeTheConfigurationAndReportReady(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	store := &v1alpha1.Store{ObjectMeta: metav1.ObjectMeta{Name: "registries"}, Spec: v1alpha1.StoreSpec{
		Registries: []v1alpha1.RegistrySpec{{Host: "registry.example", PlainHTTP: false}}}}
	v := verifier("notation", `{"level":"strict"}`)
	p := policyFor("signed", "application/vnd.cncf.notary.signature")
	for _, o := range []client.Object{store, v, p} {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for _, o := range []client.Object{store, v, p} {
		e.waitReady(t, o, metav1.ConditionTrue, controller.ReasonApplied, "in effect")
	}
	eventually(t, "the configuration applied", func() (bool, string) {
		l := e.applied.last()
		if l == nil {
			return false, "nothing applied"
		}
		return len(l.Stores) == 1 && len(l.Verifiers) == 1 && len(l.Policies) == 1, fmt.Sprintf("%d stores, %d verifiers, %d policies", len(l.Stores), len(l.Verifiers), len(l.Policies))
	})

	t.Run("a Verifier its plugin rejects explains why and its last good version stays", func(t *testing.T) {
		v.Spec.Parameters.Raw = []byte(`{"broken":true}`)
		if err := e.c.Update(ctx, v); err != nil {
			t.Fatal(err)
		}
		e.waitReady(t, v, metav1.ConditionFalse, controller.ReasonInvalid, "rejects it: no trust policies; generation 1 stays in effect")
		if got := string(e.applied.last().Verifiers[0].Spec.Parameters.Raw); got != `{"level":"strict"}` {
			t.Fatalf("the configuration in effect has the Verifier's parameters %s, want the last good ones", got)
		}
		v.Spec.Parameters.Raw = []byte(`{"level":"permissive"}`)
		if err := e.c.Update(ctx, v); err != nil {
			t.Fatal(err)
		}
		e.waitReady(t, v, metav1.ConditionTrue, controller.ReasonApplied, "in effect")
		eventually(t, "the fixed Verifier applied", func() (bool, string) {
			got := string(e.applied.last().Verifiers[0].Spec.Parameters.Raw)
			return got == `{"level":"permissive"}`, got
		})
	})

	t.Run("a Policy rule no Verifier handles is invalid, naming the field", func(t *testing.T) {
		bad := policyFor("signed", "application/vnd.cncf.notary.signature", "application/spdx+json")
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
			t.Fatal(err)
		}
		p.Spec = bad.Spec
		if err := e.c.Update(ctx, p); err != nil {
			t.Fatal(err)
		}
		e.waitReady(t, p, metav1.ConditionFalse, controller.ReasonInvalid, `field spec.rules[1].artifactType: no Verifier handles "application/spdx+json"`)
		if n := len(e.applied.last().Policies[0].Spec.Rules); n != 1 {
			t.Fatalf("the Policy in effect has %d rules, want the last good one's 1", n)
		}
	})

	t.Run("deleting the Verifier leaves the Policy out, and the configuration says why", func(t *testing.T) {
		if err := e.c.Delete(ctx, v); err != nil {
			t.Fatal(err)
		}
		e.waitReady(t, p, metav1.ConditionFalse, controller.ReasonInvalid, `no Verifier handles "application/vnd.cncf.notary.signature"`)
		eventually(t, "the Policy left out and named", func() (bool, string) {
			l := e.applied.last()
			return len(l.Policies) == 0 && len(l.PoliciesNotInEffect) == 1 &&
					strings.HasPrefix(l.PoliciesNotInEffect[0], `Policy "signed": `) &&
					strings.Contains(l.PoliciesNotInEffect[0], `no Verifier handles "application/vnd.cncf.notary.signature"`),
				fmt.Sprintf("%d policies, not in effect %q", len(l.Policies), l.PoliciesNotInEffect)
		})
		v = verifier("notation", `{"level":"strict"}`)
		if err := e.c.Create(ctx, v); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the Policy back in effect", func() (bool, string) {
			l := e.applied.last()
			return len(l.Policies) == 1 && len(l.PoliciesNotInEffect) == 0, fmt.Sprintf("%d policies, not in effect %q", len(l.Policies), l.PoliciesNotInEffect)
		})
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(p), p); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("deleting an object takes it out of the configuration", func(t *testing.T) {
		if err := e.c.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		eventually(t, "the Policy gone from the configuration", func() (bool, string) {
			l := e.applied.last()
			return len(l.Policies) == 0, fmt.Sprintf("%d policies", len(l.Policies))
		})
	})
}

func TestAnInvalidNewObjectIsNotInEffect(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	v := verifier("broken", `{"broken":true}`)
	if err := e.c.Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, v, metav1.ConditionFalse, controller.ReasonInvalid, "the object is not in effect")
	if l := e.applied.last(); l != nil && len(l.Verifiers) != 0 {
		t.Fatalf("a Verifier that was never valid is in effect: %+v", l.Verifiers)
	}
}

func TestANamespacesOwnObjectsReplaceTheClustersThereOnly(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	for _, ns := range []string{"team-a", "team-b"} {
		if err := e.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	clusterV := verifier("notation", `{"who":"cluster"}`)
	p := policyFor("signed", "application/vnd.cncf.notary.signature")
	nv := &v1alpha1.NamespacedVerifier{ObjectMeta: metav1.ObjectMeta{Name: "team-notation", Namespace: "team-a"},
		Spec: verifier("", `{"who":"team-a"}`).Spec}
	for _, o := range []client.Object{clusterV, p, nv} {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	e.waitReady(t, nv, metav1.ConditionTrue, controller.ReasonApplied, "in effect")
	eventually(t, "team-a's own Verifier in its configuration, with the cluster's Policy", func() (bool, string) {
		a := e.applied.lastIn("team-a")
		if a == nil || e.applied.last() == nil {
			return false, "no configuration for team-a"
		}
		ok := len(a.Verifiers) == 1 && string(a.Verifiers[0].Spec.Parameters.Raw) == `{"who":"team-a"}` && len(a.Policies) == 1 &&
			len(e.applied.last().Verifiers) == 1 && string(e.applied.last().Verifiers[0].Spec.Parameters.Raw) == `{"who":"cluster"}` &&
			e.applied.lastIn("team-b") == nil
		return ok, fmt.Sprintf("team-a %+v, cluster %+v", a.Verifiers, e.applied.last().Verifiers)
	})

	// A NamespacedPolicy whose rule only the cluster's Verifiers could
	// handle is invalid in its namespace, since team-a's Verifiers replace
	// the cluster's there.
	np := &v1alpha1.NamespacedPolicy{ObjectMeta: metav1.ObjectMeta{Name: "sbom", Namespace: "team-a"},
		Spec: policyFor("", "application/spdx+json").Spec}
	if err := e.c.Create(ctx, np); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, np, metav1.ConditionFalse, controller.ReasonInvalid, `no Verifier handles "application/spdx+json"`)
}

func TestVerifierParametersFromConfigMapsAndSecrets(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "assay-system"}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "assay-system", Name: "ca"}, Data: map[string]string{"root.pem": "PEM-1"}}
	for _, o := range []client.Object{ns, cm} {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	v := verifier("notation", `{"level":"strict","ca":{"valueFrom":{"configMapKeyRef":{"namespace":"assay-system","name":"ca","key":"root.pem"}}}}`)
	if err := e.c.Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, v, metav1.ConditionTrue, controller.ReasonApplied, "in effect")
	params := func() string {
		l := e.applied.last()
		if l == nil || len(l.Verifiers) != 1 {
			return ""
		}
		return string(l.Verifiers[0].Spec.Parameters.Raw)
	}
	eventually(t, "the ConfigMap's value in the parameters", func() (bool, string) {
		return params() == `{"ca":"PEM-1","level":"strict"}`, params()
	})

	// A new value is read again within the resync.
	cm.Data["root.pem"] = "PEM-2"
	if err := e.c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the ConfigMap's new value in the parameters", func() (bool, string) {
		return params() == `{"ca":"PEM-2","level":"strict"}`, params()
	})

	// Gone: the Verifier explains, and the last value read stays.
	if err := e.c.Delete(ctx, cm); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, v, metav1.ConditionFalse, controller.ReasonInvalid,
		"field spec.parameters.ca: ConfigMap assay-system/ca does not exist; generation 1 stays in effect")
	if got := params(); got != `{"ca":"PEM-2","level":"strict"}` {
		t.Errorf("parameters in effect %s, want the last good ones", got)
	}

	// A Secret's key, from a namespaced Verifier: only its own namespace.
	team := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "keys"}, Data: map[string][]byte{"cosign.pub": []byte("KEY")}}
	for _, o := range []client.Object{team, sec} {
		if err := e.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	nv := &v1alpha1.NamespacedVerifier{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "notation"}, Spec: v.Spec}
	nv.Spec.Parameters.Raw = []byte(`{"key":{"valueFrom":{"secretKeyRef":{"name":"keys","key":"cosign.pub"}}}}`)
	if err := e.c.Create(ctx, nv); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, nv, metav1.ConditionTrue, controller.ReasonApplied, "in effect")
	eventually(t, "team-a's Verifier with the Secret's value", func() (bool, string) {
		e.applied.mu.Lock()
		defer e.applied.mu.Unlock()
		if len(e.applied.calls) == 0 {
			return false, "nothing applied"
		}
		team := e.applied.calls[len(e.applied.calls)-1].Namespaces["team-a"]
		if team == nil || len(team.Verifiers) != 1 {
			return false, "no configuration for team-a"
		}
		got := string(team.Verifiers[0].Spec.Parameters.Raw)
		return got == `{"key":"KEY"}`, got
	})
	other := &v1alpha1.NamespacedVerifier{ObjectMeta: metav1.ObjectMeta{Namespace: "team-a", Name: "sneaky"}, Spec: v.Spec}
	other.Spec.ArtifactTypes = []string{"application/vnd.dev.cosign.artifact.sig.v1+json"}
	other.Spec.Parameters.Raw = []byte(`{"key":{"valueFrom":{"secretKeyRef":{"namespace":"assay-system","name":"keys","key":"k"}}}}`)
	if err := e.c.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	e.waitReady(t, other, metav1.ConditionFalse, controller.ReasonInvalid, `may only use its own namespace's Secrets`)
}
