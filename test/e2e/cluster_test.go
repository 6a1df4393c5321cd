package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// kubeAssets is the directory of kube-apiserver and etcd.
func kubeAssets(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ASSAY_KUBE_ASSETS")
	if dir == "" {
		dir = filepath.Join("..", "..", ".tools", "bin")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(abs, b)); err != nil {
			t.Fatalf("%s is missing from %s: run `make cluster-tools` or set ASSAY_KUBE_ASSETS", b, abs)
		}
	}
	return abs
}

// startAPIServer runs a real kube-apiserver and etcd with Assay's CRDs
// and returns a client and a kubeconfig file for them.
func startAPIServer(t *testing.T) (client.Client, string) {
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
	t.Cleanup(func() { _ = te.Stop() })
	scheme := runtime.NewScheme()
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["assay"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "assay"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return c, path
}

func TestServeTakesItsConfigurationFromTheCluster(t *testing.T) {
	c, kubeconfig := startAPIServer(t)
	ctx := context.Background()
	f := newFixture(t, registrytest.NewOlareg(t).Host())
	r := f.repo("cluster/app")
	img := f.image(r, "signed")
	f.sign(r, f.leaf, img, notationtest.SignOptions{})
	ref := r.Reference.String() + ":signed"

	params := notationtest.MustJSON(t, notationtest.NewParams(r.Reference.String(), f.ca, nil))
	newVerifier := func(raw []byte) *v1alpha1.Verifier {
		v := &v1alpha1.Verifier{ObjectMeta: metav1.ObjectMeta{Name: "notation"}, Spec: v1alpha1.VerifierSpec{
			Plugin: "notation", ArtifactTypes: []string{notarySignature}}}
		v.Spec.Parameters.Raw = raw
		return v
	}
	store := &v1alpha1.Store{ObjectMeta: metav1.ObjectMeta{Name: "registries"}, Spec: v1alpha1.StoreSpec{
		Registries: []v1alpha1.RegistrySpec{{Host: f.host, PlainHTTP: true}}}}
	policy := &v1alpha1.Policy{ObjectMeta: metav1.ObjectMeta{Name: "signed"}, Spec: v1alpha1.PolicySpec{
		Rules: []v1alpha1.PolicyRule{{ArtifactType: notarySignature, Required: true}}}}
	verifier := newVerifier(params)
	// The Lease of --leader-elect lives in Assay's namespace.
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "assay-system"}}
	for _, o := range []client.Object{ns, store, verifier, policy} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	material, err := servetest.NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := startServeWith(t, "", material, true, "--config-source", "cluster", "--kubeconfig", kubeconfig, "--leader-elect",
		"--verdict-cache-bytes", "0")

	verdict := func() *report.Report {
		t.Helper()
		return decodeReport(t, post(t, srv, "/v1/verify", ref).Response.Items[0])
	}
	waitFor := func(what string, ok func(*report.Report) bool) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			rep := verdict()
			if ok(rep) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %v %s %q\n%s", what, rep.IsSuccess, rep.Reason, rep.Message, srv.Output())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	ready := func(obj client.Object, status metav1.ConditionStatus, inMessage string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
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
			}
			cond := meta.FindStatusCondition(st.Conditions, "Ready")
			if cond != nil && cond.Status == status && strings.Contains(cond.Message, inMessage) && cond.ObservedGeneration == obj.GetGeneration() {
				return
			}
			if time.Now().After(deadline) {
				b, _ := json.Marshal(st)
				t.Fatalf("%s %s: status %s, want Ready=%s with %q", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), b, status, inMessage)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	waitFor("the signed image passes under the cluster's objects", func(r *report.Report) bool { return r.IsSuccess })
	for _, o := range []client.Object{store, verifier, policy} {
		ready(o, metav1.ConditionTrue, "in effect")
	}

	t.Run("a namespace's own Verifier decides for its Pods only", func(t *testing.T) {
		if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}); err != nil {
			t.Fatal(err)
		}
		other := notationtest.MustCA(t, notationtest.CAOptions{})
		nv := &v1alpha1.NamespacedVerifier{ObjectMeta: metav1.ObjectMeta{Name: "team-notation", Namespace: "team-a"},
			Spec: newVerifier(notationtest.MustJSON(t, notationtest.NewParams(r.Reference.String(), other, nil))).Spec}
		if err := c.Create(ctx, nv); err != nil {
			t.Fatal(err)
		}
		ready(nv, metav1.ConditionTrue, "in effect")
		deadline := time.Now().Add(20 * time.Second)
		for {
			items := post(t, srv, "/v1/verify", "[team-a]"+ref, "[team-b]"+ref, ref).Response.Items
			a, b, plain := decodeReport(t, items[0]), decodeReport(t, items[1]), decodeReport(t, items[2])
			if !a.IsSuccess && a.Reason == report.ReasonSignatureUntrusted && b.IsSuccess && plain.IsSuccess {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("team-a %s, team-b %s, no namespace %s; want team-a's Verifier (another CA) to refuse and the cluster's to pass", a.Reason, b.Reason, plain.Reason)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err := c.Delete(ctx, nv); err != nil {
			t.Fatal(err)
		}
		waitFor := time.Now().Add(20 * time.Second)
		for !decodeReport(t, post(t, srv, "/v1/verify", "[team-a]"+ref).Response.Items[0]).IsSuccess {
			if time.Now().After(waitFor) {
				t.Fatal("team-a still refuses the image after its own Verifier was deleted")
			}
			time.Sleep(100 * time.Millisecond)
		}
	})
	t.Run("a Verifier its plugin rejects explains why and the last good one keeps deciding", func(t *testing.T) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(verifier), verifier); err != nil {
			t.Fatal(err)
		}
		verifier.Spec.Parameters.Raw = []byte(`{"trustPolicyDocument":{"version":"9"}}`)
		if err := c.Update(ctx, verifier); err != nil {
			t.Fatal(err)
		}
		ready(verifier, metav1.ConditionFalse, "generation 1 stays in effect")
		if rep := verdict(); !rep.IsSuccess {
			t.Fatalf("with a broken Verifier: %s %s, want the last good configuration to pass the image", rep.Reason, rep.Message)
		}
	})
	t.Run("deleting the Verifier changes the decision, re-creating it restores it", func(t *testing.T) {
		if err := c.Delete(ctx, verifier); err != nil {
			t.Fatal(err)
		}
		// The Policy's rule now has no Verifier, so the Policy is invalid
		// and, as it does not hold without the Verifier, out of effect:
		// with no Policy nothing defines success.
		waitFor("the image fails without its Verifier", func(r *report.Report) bool { return !r.IsSuccess && r.Reason == report.ReasonNoPolicy })
		ready(policy, metav1.ConditionFalse, "the object is not in effect")
		if err := c.Create(ctx, newVerifier(params)); err != nil {
			t.Fatal(err)
		}
		waitFor("the image passes again", func(r *report.Report) bool { return r.IsSuccess })
	})
	if strings.Contains(srv.Output(), "panic") {
		t.Fatalf("assay serve panicked:\n%s", srv.Output())
	}
}

func TestServeReadsRegistryCredentialsFromPullSecrets(t *testing.T) {
	c, kubeconfig := startAPIServer(t)
	ctx := context.Background()
	reg := registrytest.NewOlaregBehind(t, registrytest.BasicAuth("robot", "s3cret"))
	f := newFixture(t, reg.Host())
	r := f.repo("private/app")
	r.Client = &auth.Client{Credential: auth.StaticCredential(reg.Host(), auth.Credential{Username: "robot", Password: "s3cret"})}
	img := f.image(r, "signed")
	f.sign(r, f.leaf, img, notationtest.SignOptions{})
	ref := r.Reference.String() + ":signed"

	cfg, err := json.Marshal(map[string]any{"auths": map[string]any{reg.Host(): map[string]string{
		"auth": base64.StdEncoding.EncodeToString([]byte("robot:s3cret"))}}})
	if err != nil {
		t.Fatal(err)
	}
	verifier := &v1alpha1.Verifier{ObjectMeta: metav1.ObjectMeta{Name: "notation"}, Spec: v1alpha1.VerifierSpec{
		Plugin: "notation", ArtifactTypes: []string{notarySignature}}}
	verifier.Spec.Parameters.Raw = notationtest.MustJSON(t, notationtest.NewParams(r.Reference.String(), f.ca, nil))
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "assay-system"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "assay-system"},
			Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: cfg}},
		&v1alpha1.Store{ObjectMeta: metav1.ObjectMeta{Name: "registries"}, Spec: v1alpha1.StoreSpec{
			Registries:  []v1alpha1.RegistrySpec{{Host: reg.Host(), PlainHTTP: true}},
			PullSecrets: []v1alpha1.SecretReference{{Name: "regcred", Namespace: "assay-system"}}}},
		verifier,
		&v1alpha1.Policy{ObjectMeta: metav1.ObjectMeta{Name: "signed"}, Spec: v1alpha1.PolicySpec{
			Rules: []v1alpha1.PolicyRule{{ArtifactType: notarySignature, Required: true}}}},
	}
	for _, o := range objs {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	material, err := servetest.NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := startServeWith(t, "", material, true, "--config-source", "cluster", "--kubeconfig", kubeconfig, "--verdict-cache-bytes", "0")
	rep := decodeReport(t, post(t, srv, "/v1/verify", ref).Response.Items[0])
	if !rep.IsSuccess {
		t.Fatalf("with the pull Secret's credentials: %s %s", rep.Reason, rep.Message)
	}

	// A Store naming a Secret that does not exist is refused, saying so;
	// the last good Store, with its credentials, stays in effect.
	store := objs[2].(*v1alpha1.Store)
	if err := c.Get(ctx, client.ObjectKeyFromObject(store), store); err != nil {
		t.Fatal(err)
	}
	store.Spec.PullSecrets = []v1alpha1.SecretReference{{Name: "missing", Namespace: "assay-system"}}
	if err := c.Update(ctx, store); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if err := c.Get(ctx, client.ObjectKeyFromObject(store), store); err != nil {
			t.Fatal(err)
		}
		cond := meta.FindStatusCondition(store.Status.Conditions, "Ready")
		if cond != nil && cond.Status == metav1.ConditionFalse && strings.Contains(cond.Message, "Secret assay-system/missing does not exist") &&
			strings.Contains(cond.Message, "generation 1 stays in effect") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Store status %+v, want Ready=False naming the missing Secret", store.Status)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if rep := decodeReport(t, post(t, srv, "/v1/verify", ref).Response.Items[0]); !rep.IsSuccess {
		t.Fatalf("after the Store's bad update: %s %s, want the last good credentials to still work", rep.Reason, rep.Message)
	}
}
