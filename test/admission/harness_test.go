//go:build e2e

package admission

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	"oras.land/oras-go/v2/registry/remote"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/yaml"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/servetest"
)

const (
	// gatekeeperModule is the module whose deploy/gatekeeper.yaml holds
	// the CRDs; go.mod pins the same version the gatekeeper binary is
	// built at (v3.23.1).
	gatekeeperModule = "github.com/open-policy-agent/gatekeeper/v3"
	// gatekeeperNamespace and gatekeeperPod are Gatekeeper's POD_NAMESPACE
	// and POD_NAME: the Pod object exists (Gatekeeper owns its status
	// objects through it) but nothing runs it.
	gatekeeperNamespace = "gatekeeper-system"
	gatekeeperPod       = "gatekeeper-e2e"
	// webhookName is the validating webhook's name, as in Gatekeeper's
	// manifest; the API server quotes it in every denial.
	webhookName = "validation.gatekeeper.sh"
	// webhookTimeout is the webhook's timeoutSeconds and providerTimeout
	// the Provider's spec.timeout, both Gatekeeper's defaults; assay
	// serve's --verify-timeout is providerTimeout too.
	webhookTimeout  = 3
	providerTimeout = 3
	// providerName is the Provider the library's sample constraint names.
	providerName = "assay"
	// mutateProviderName is the chart's mutate Provider, which the Assign
	// asks for the digest of each image; mutateWebhookName and
	// mutateWebhookTimeout are the mutating webhook's name and
	// timeoutSeconds in Gatekeeper's manifest, and the Provider's
	// spec.timeout is the latter too (assay serve's --mutate-timeout
	// default, 1s).
	mutateProviderName   = "assay-mutate"
	mutateWebhookName    = "mutation.gatekeeper.sh"
	mutateWebhookTimeout = 1
	// mutateNamespace is the only namespace the Assign matches, so that
	// the other tests see the images as they wrote them.
	mutateNamespace = "assay-mutate"
	// assignName is the Assign of spec.containers[name:*].image.
	assignName = "e2e-containers"
	// auditInterval is Gatekeeper's --audit-interval in seconds.
	auditInterval = 10
	// auditNamespace holds the Pods that exist before the constraint does:
	// one signed, one not, for the audit to find.
	auditNamespace = "assay-audit"
	// libraryDir holds the templates, relative to this package.
	libraryDir     = "../../library"
	assayCRDDir    = "../../crds"
	templateFile   = "assayverifiedimages/template.yaml"
	constraintFile = "assayverifiedimages/samples/verified-images/constraint.yaml"
)

// constraintGVK is the kind Gatekeeper generates from the template.
var constraintGVK = schema.GroupVersionKind{Group: "constraints.gatekeeper.sh", Version: "v1beta1", Kind: "AssayVerifiedImages"}

// assignGVK is Gatekeeper's Assign mutator.
var assignGVK = schema.GroupVersionKind{Group: "mutations.gatekeeper.sh", Version: "v1", Kind: "Assign"}

// environment is what every test of the binary shares.
type environment struct {
	kube kubernetes.Interface
	// c reads and writes Gatekeeper's custom resources as unstructured
	// objects.
	c client.Client
	// olareg has the OCI 1.1 referrers API; distribution does not, so
	// signatures there are found through the referrers tag.
	olareg, distribution *registrytest.Server
	// leaf signs images; its CA is the Verifier's trust store.
	leaf *notationtest.Leaf
	// serve starts assay serve again on the same address after a test
	// stopped it.
	serve      servetest.Options
	srv        *servetest.Server
	gatekeeper *process
	// constraintName is the sample constraint's name ("verified-images").
	constraintName string
	// cfg and kubeconfig reach the API server as its administrator.
	cfg        *rest.Config
	kubeconfig string
	// params are the notation plugin's parameters trusting leaf's CA for
	// every repository.
	params []byte
	// auditUnsigned and auditSigned are the images of the Pods made in
	// auditNamespace before the constraint existed.
	auditUnsigned, auditSigned string
	// dir is the run's scratch directory; gatekeeperCerts holds
	// Gatekeeper's tls.crt, tls.key and ca.crt.
	dir, gatekeeperCerts string
	// cleanup registers what to undo when the test binary ends.
	cleanup func(func())
}

// setup starts everything, in the order a cluster administrator would
// install it: control plane, Gatekeeper, Assay, the Provider, the
// template and the constraint. cleanup registers what to undo, last
// first. The environment is returned even on error, for its logs.
func setup(ctx context.Context, dir string, cleanup func(func())) (*environment, error) {
	e := &environment{dir: dir, cleanup: cleanup}
	dirs := map[string]string{}
	// gatekeeper/audit is the audit's list cache, which Gatekeeper
	// expects to exist (an emptyDir in its Deployment).
	for _, name := range []string{"assay-tls", "gatekeeper-certs", "gatekeeper/audit", "distribution"} {
		dirs[name] = filepath.Join(dir, name)
		if err := os.MkdirAll(dirs[name], 0o700); err != nil {
			return nil, err
		}
	}
	assets, gatekeeperBin, err := tools()
	if err != nil {
		return nil, err
	}

	// The control plane, with Gatekeeper's CRDs installed and established.
	crds, namespace, err := gatekeeperManifest()
	if err != nil {
		return nil, err
	}
	// Assay's CRDs too, for the `assay serve --config-source cluster`
	// of TestVerificationObjectsFromTheClusterDecide.
	te := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDInstallOptions:     envtest.CRDInstallOptions{CRDs: crds, Paths: []string{assayCRDDir}, ErrorIfPathMissing: true},
	}
	cfg, err := te.Start()
	if err != nil {
		return nil, fmt.Errorf("start kube-apiserver and etcd from %s: %w", assets, err)
	}
	cleanup(func() { _ = te.Stop() })
	if e.kube, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, err
	}
	if e.c, err = client.New(cfg, client.Options{}); err != nil {
		return nil, err
	}
	kubeconfig, err := writeKubeconfig(cfg, filepath.Join(dir, "kubeconfig"))
	if err != nil {
		return nil, err
	}
	e.cfg, e.kubeconfig = cfg, kubeconfig

	// What a controller-manager and the Deployment would have made:
	// Gatekeeper's namespace (from its manifest: labelled
	// admission.gatekeeper.sh/ignore, Pod Security "restricted"), the
	// namespaces of the tests, their default ServiceAccounts, and the Pod
	// Gatekeeper believes it runs in.
	if _, err := e.kube.CoreV1().Namespaces().Create(ctx, namespace, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create namespace %s: %w", namespace.Name, err)
	}
	for _, ns := range []string{auditNamespace, mutateNamespace} {
		if _, err := e.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			return nil, err
		}
	}
	for _, sa := range []struct{ ns, name string }{
		{gatekeeperNamespace, "default"}, {gatekeeperNamespace, "gatekeeper-admin"}, {"default", "default"}, {auditNamespace, "default"}, {mutateNamespace, "default"},
	} {
		obj := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: sa.ns, Name: sa.name}}
		if _, err := e.kube.CoreV1().ServiceAccounts(sa.ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			return nil, fmt.Errorf("create service account %s/%s: %w", sa.ns, sa.name, err)
		}
	}
	if _, err := e.kube.CoreV1().Pods(gatekeeperNamespace).Create(ctx, gatekeeperPodObject(), metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create Gatekeeper's pod: %w", err)
	}

	// TLS. Assay's serving certificate and CA (the Provider's caBundle),
	// and Gatekeeper's webhook certificate, which Gatekeeper also presents
	// to providers as its client certificate: issued by the CA assay serve
	// trusts with --client-ca, for 127.0.0.1, with both serverAuth and
	// clientAuth, as Gatekeeper's own rotator issues it when external data
	// is enabled.
	material, err := servetest.NewTLS(dirs["assay-tls"])
	if err != nil {
		return nil, err
	}
	certDir := dirs["gatekeeper-certs"]
	if err := writeGatekeeperCerts(material.ClientCA, certDir); err != nil {
		return nil, err
	}
	e.gatekeeperCerts = certDir
	// Gatekeeper's cert rotator keeps them in this Secret; the chart
	// reads its CA from there.
	certSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: gatekeeperNamespace, Name: "gatekeeper-webhook-server-cert"}, Data: map[string][]byte{}}
	for _, name := range []string{"ca.crt", "tls.crt", "tls.key"} {
		if certSecret.Data[name], err = os.ReadFile(filepath.Join(certDir, name)); err != nil {
			return nil, err
		}
	}
	if _, err := e.kube.CoreV1().Secrets(gatekeeperNamespace).Create(ctx, certSecret, metav1.CreateOptions{}); err != nil {
		return nil, fmt.Errorf("create Gatekeeper's certificate Secret: %w", err)
	}

	// Registries and the signer.
	if e.olareg, err = registrytest.StartOlareg(); err != nil {
		return nil, err
	}
	cleanup(e.olareg.Close)
	if e.distribution, err = registrytest.RunDistribution(ctx, dirs["distribution"]); err != nil {
		return nil, fmt.Errorf("distribution registry: %w", err)
	}
	cleanup(e.distribution.Close)
	ca, err := notationtest.NewCA(notationtest.CAOptions{})
	if err != nil {
		return nil, err
	}
	if e.leaf, err = ca.IssueLeaf(notationtest.LeafOptions{}); err != nil {
		return nil, err
	}

	// assay serve, trusting the signer for every repository of both
	// registries; a first verification starts its plugin.
	params, err := notationtest.NewParams("*", ca, nil).JSON()
	if err != nil {
		return nil, err
	}
	e.params = params
	config := filepath.Join(dir, "assay.yaml")
	doc := servetest.NotationConfig([]string{e.olareg.Host(), e.distribution.Host()}, params, "any")
	if err := os.WriteFile(config, []byte(doc), 0o600); err != nil {
		return nil, err
	}
	e.serve = servetest.Options{
		Assay: assayBin, PluginDir: pluginDir, Config: config, TLS: material,
		Args: []string{"--verify-timeout", fmt.Sprintf("%ds", providerTimeout), "--margin", "500ms"},
	}
	if err := e.startAssay(ctx); err != nil {
		return e, err
	}
	cleanup(func() { e.srv.Stop() })
	warm, err := pushImage(ctx, e.olareg, "admission/warm-up", e.leaf)
	if err != nil {
		return e, err
	}
	if resp, err := e.srv.Post(ctx, "/v1/verify", warm); err != nil {
		return e, fmt.Errorf("warm up assay serve: %w", err)
	} else if len(resp.Response.Items) != 1 || resp.Response.Items[0].Error != "" {
		return e, fmt.Errorf("warm up assay serve: unexpected answer %+v", resp.Response)
	}

	// The Pods the audit must judge, made while no constraint exists.
	if e.auditUnsigned, err = pushImage(ctx, e.olareg, "admission/audit/unsigned", nil); err != nil {
		return e, err
	}
	if e.auditSigned, err = pushImage(ctx, e.olareg, "admission/audit/signed", e.leaf); err != nil {
		return e, err
	}
	for name, image := range map[string]string{"unsigned": e.auditUnsigned, "signed": e.auditSigned} {
		if _, err := e.kube.CoreV1().Pods(auditNamespace).Create(ctx, pod(name, image), metav1.CreateOptions{}); err != nil {
			return e, fmt.Errorf("create audit pod %s: %w", name, err)
		}
	}

	// Gatekeeper, then its webhook registration.
	webhookPort, err := freePort()
	if err != nil {
		return e, err
	}
	if e.gatekeeper, err = startGatekeeper(ctx, gatekeeperOptions{
		bin: gatekeeperBin, kubeconfig: kubeconfig, certDir: certDir, port: webhookPort, dir: filepath.Dir(dirs["gatekeeper/audit"]),
	}); err != nil {
		return e, err
	}
	cleanup(e.gatekeeper.stop)
	caPEM, err := os.ReadFile(filepath.Join(certDir, "ca.crt"))
	if err != nil {
		return e, err
	}
	vwc := validatingWebhook(fmt.Sprintf("https://127.0.0.1:%d/v1/admit", webhookPort), caPEM)
	if _, err := e.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		return e, fmt.Errorf("register Gatekeeper's webhook: %w", err)
	}
	mwc := mutatingWebhook(fmt.Sprintf("https://127.0.0.1:%d/v1/mutate", webhookPort), caPEM)
	if _, err := e.kube.AdmissionregistrationV1().MutatingWebhookConfigurations().Create(ctx, mwc, metav1.CreateOptions{}); err != nil {
		return e, fmt.Errorf("register Gatekeeper's mutating webhook: %w", err)
	}

	// The Provider, the template and the sample constraint.
	provider := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1",
		"kind":       "Provider",
		"metadata":   map[string]any{"name": providerName},
		"spec": map[string]any{
			"url":      e.srv.URL + "/v1/verify",
			"timeout":  int64(providerTimeout),
			"caBundle": base64.StdEncoding.EncodeToString(material.ServerCA.PEM),
		},
	}}
	if err := e.c.Create(ctx, provider); err != nil {
		return e, fmt.Errorf("create Provider: %w", err)
	}
	mutateProvider := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1",
		"kind":       "Provider",
		"metadata":   map[string]any{"name": mutateProviderName},
		"spec": map[string]any{
			"url":      e.srv.URL + "/v1/mutate",
			"timeout":  int64(mutateWebhookTimeout),
			"caBundle": base64.StdEncoding.EncodeToString(material.ServerCA.PEM),
		},
	}}
	if err := e.c.Create(ctx, mutateProvider); err != nil {
		return e, fmt.Errorf("create Provider %s: %w", mutateProviderName, err)
	}
	if err := e.c.Create(ctx, assignObject()); err != nil {
		return e, fmt.Errorf("create Assign: %w", err)
	}
	template, err := readObject(filepath.Join(libraryDir, templateFile))
	if err != nil {
		return e, err
	}
	if err := e.c.Create(ctx, template); err != nil {
		return e, fmt.Errorf("create ConstraintTemplate: %w", err)
	}
	constraint, err := readObject(filepath.Join(libraryDir, constraintFile))
	if err != nil {
		return e, err
	}
	if constraint.GroupVersionKind() != constraintGVK {
		return e, fmt.Errorf("%s is a %s, want %s", constraintFile, constraint.GroupVersionKind(), constraintGVK)
	}
	e.constraintName = constraint.GetName()
	// The namespaces of the chart's release (chart-*) are judged by the
	// release's own constraint and Assay alone.
	excluded, _, err := unstructured.NestedStringSlice(constraint.Object, "spec", "match", "excludedNamespaces")
	if err != nil {
		return e, err
	}
	if err := unstructured.SetNestedStringSlice(constraint.Object, append(excluded, chartPodNamespacePattern), "spec", "match", "excludedNamespaces"); err != nil {
		return e, err
	}
	if err := e.createConstraint(ctx, constraint); err != nil {
		return e, err
	}
	if err := e.waitEnforced(ctx); err != nil {
		return e, err
	}
	if err := e.waitMutating(ctx); err != nil {
		return e, err
	}
	return e, nil
}

// tools returns the directory of kube-apiserver and etcd, and the
// gatekeeper binary: $ASSAY_KUBE_ASSETS (default .tools/bin) and
// $ASSAY_GATEKEEPER_BIN (default gatekeeper in that directory).
func tools() (assets, gatekeeper string, err error) {
	assets = os.Getenv("ASSAY_KUBE_ASSETS")
	if assets == "" {
		assets = filepath.Join("..", "..", ".tools", "bin")
	}
	if assets, err = filepath.Abs(assets); err != nil {
		return "", "", err
	}
	gatekeeper = os.Getenv("ASSAY_GATEKEEPER_BIN")
	if gatekeeper == "" {
		gatekeeper = filepath.Join(assets, "gatekeeper")
	}
	for _, p := range []string{filepath.Join(assets, "kube-apiserver"), filepath.Join(assets, "etcd"), gatekeeper} {
		if _, err := os.Stat(p); err != nil {
			return "", "", fmt.Errorf("%s is missing: run `make e2e-tools` (or set ASSAY_KUBE_ASSETS and ASSAY_GATEKEEPER_BIN)", p)
		}
	}
	return assets, gatekeeper, nil
}

// gatekeeperManifest reads deploy/gatekeeper.yaml of the gatekeeper
// module in the module cache and returns its CustomResourceDefinitions
// and its Namespace; the rest (Deployments, RBAC, Services, webhook
// configurations with a service reference) does not apply outside a
// cluster with a kubelet.
func gatekeeperManifest() ([]*apiextensionsv1.CustomResourceDefinition, *corev1.Namespace, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", gatekeeperModule).Output()
	if err != nil {
		return nil, nil, fmt.Errorf("locate %s in the module cache: %w", gatekeeperModule, err)
	}
	path := filepath.Join(strings.TrimSpace(string(out)), "deploy", "gatekeeper.yaml")
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var crds []*apiextensionsv1.CustomResourceDefinition
	var namespace *corev1.Namespace
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		var meta metav1.TypeMeta
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", path, err)
		}
		switch meta.Kind {
		case "CustomResourceDefinition":
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.UnmarshalStrict(doc, crd); err != nil {
				return nil, nil, fmt.Errorf("read %s: %w", path, err)
			}
			crds = append(crds, crd)
		case "Namespace":
			namespace = &corev1.Namespace{}
			if err := yaml.UnmarshalStrict(doc, namespace); err != nil {
				return nil, nil, fmt.Errorf("read %s: %w", path, err)
			}
		}
	}
	if len(crds) == 0 || namespace == nil || namespace.Name != gatekeeperNamespace {
		return nil, nil, fmt.Errorf("%s: %d CRDs and namespace %v, want CRDs and namespace %s", path, len(crds), namespace, gatekeeperNamespace)
	}
	return crds, namespace, nil
}

// writeKubeconfig writes a kubeconfig with cfg's admin credentials, for
// Gatekeeper.
func writeKubeconfig(cfg *rest.Config, path string) (string, error) {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	return path, clientcmd.WriteToFile(*kc, path)
}

// gatekeeperPodObject is the Pod of POD_NAME, with the security context
// of Gatekeeper's Deployment so that the namespace's Pod Security
// "restricted" admits it.
func gatekeeperPodObject() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: gatekeeperPod, Namespace: gatekeeperNamespace,
			Labels: map[string]string{"control-plane": "controller-manager", "gatekeeper.sh/system": "yes"}},
		Spec: corev1.PodSpec{
			ServiceAccountName: "gatekeeper-admin",
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:  "manager",
				Image: "openpolicyagent/gatekeeper:v3.23.1",
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsUser:                ptr.To[int64](1000),
					RunAsGroup:               ptr.To[int64](999),
				},
			}},
		},
	}
}

// validatingWebhook is Gatekeeper's validating webhook as its manifest
// registers it (failurePolicy Ignore, timeoutSeconds 3, Gatekeeper's
// namespace left out), reduced to Pods and their ephemeralcontainers
// subresource, and pointing at the process on loopback.
func validatingWebhook(url string, caPEM []byte) *admissionregistrationv1.ValidatingWebhookConfiguration {
	return &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-validating-webhook-configuration"},
		Webhooks: []admissionregistrationv1.ValidatingWebhook{{
			Name:                    webhookName,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			MatchPolicy:             ptr.To(admissionregistrationv1.Exact),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](webhookTimeout),
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "admission.gatekeeper.sh/ignore", Operator: metav1.LabelSelectorOpDoesNotExist},
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{gatekeeperNamespace}},
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"},
					Resources: []string{"pods", "pods/ephemeralcontainers"},
				},
			}},
		}},
	}
}

// mutatingWebhook is Gatekeeper's mutating webhook as its manifest
// registers it (failurePolicy Ignore, timeoutSeconds 1, no
// reinvocationPolicy, so Never; Gatekeeper's namespace left out), reduced
// to Pod CREATEs, and pointing at the process on loopback.
func mutatingWebhook(url string, caPEM []byte) *admissionregistrationv1.MutatingWebhookConfiguration {
	return &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "gatekeeper-mutating-webhook-configuration"},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    mutateWebhookName,
			AdmissionReviewVersions: []string{"v1", "v1beta1"},
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			FailurePolicy:           ptr.To(admissionregistrationv1.Ignore),
			MatchPolicy:             ptr.To(admissionregistrationv1.Exact),
			SideEffects:             ptr.To(admissionregistrationv1.SideEffectClassNone),
			TimeoutSeconds:          ptr.To[int32](mutateWebhookTimeout),
			NamespaceSelector: &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
				{Key: "admission.gatekeeper.sh/ignore", Operator: metav1.LabelSelectorOpDoesNotExist},
				{Key: "kubernetes.io/metadata.name", Operator: metav1.LabelSelectorOpNotIn, Values: []string{gatekeeperNamespace}},
			}},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule: admissionregistrationv1.Rule{
					APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"},
				},
			}},
		}},
	}
}

// assignObject is the chart's Assign for spec.containers (tag → digest
// through the mutate Provider, failurePolicy Ignore), matching only
// mutateNamespace.
func assignObject() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": assignGVK.GroupVersion().String(),
		"kind":       assignGVK.Kind,
		"metadata":   map[string]any{"name": assignName},
		"spec": map[string]any{
			"applyTo": []any{map[string]any{"groups": []any{""}, "kinds": []any{"Pod"}, "versions": []any{"v1"}}},
			"match": map[string]any{
				"scope":              "Namespaced",
				"kinds":              []any{map[string]any{"apiGroups": []any{""}, "kinds": []any{"Pod"}}},
				"namespaces":         []any{mutateNamespace},
				"excludedNamespaces": []any{gatekeeperNamespace},
			},
			"location": "spec.containers[name:*].image",
			"parameters": map[string]any{"assign": map[string]any{"externalData": map[string]any{
				"provider":      mutateProviderName,
				"dataSource":    "ValueAtLocation",
				"failurePolicy": "Ignore",
			}}},
		},
	}}
}

// writeGatekeeperCerts writes what Gatekeeper's --cert-dir holds when its
// own rotator is disabled: tls.crt and tls.key, a serving certificate for
// 127.0.0.1 and Gatekeeper's service name with the serverAuth and
// clientAuth usages, and ca.crt, the CA that signed it (the webhook's
// caBundle).
func writeGatekeeperCerts(ca *servetest.CA, dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "gatekeeper-webhook-service.gatekeeper-system.svc", Organization: []string{"gatekeeper"}},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"gatekeeper-webhook-service.gatekeeper-system.svc", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{
		"tls.crt": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		"tls.key": pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
		"ca.crt":  ca.PEM,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// gatekeeperOptions start one Gatekeeper process.
type gatekeeperOptions struct {
	bin, kubeconfig, certDir string
	// port is the webhook's port on 127.0.0.1.
	port int
	// dir receives the log and the audit's list cache.
	dir string
}

// process is a running Gatekeeper with its log in a file.
type process struct {
	cmd     *exec.Cmd
	logPath string
	exited  chan struct{}
}

// startGatekeeper runs Gatekeeper as its Deployments do in the cluster,
// but as one process with the webhook, audit, status and generate
// operations (generate makes the constraint CRDs), outside the cluster:
// POD_NAMESPACE and POD_NAME name the Pod object, KUBECONFIG the API
// server, the certificate rotator is off and the certificates are in
// certDir. It returns once Gatekeeper's /readyz answers 200.
func startGatekeeper(ctx context.Context, o gatekeeperOptions) (*process, error) {
	ports := make([]int, 3)
	for i := range ports {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		ports[i] = p
	}
	health := fmt.Sprintf("127.0.0.1:%d", ports[0])
	args := []string{
		"--operation=webhook", "--operation=audit", "--operation=status", "--operation=generate",
		"--operation=mutation-webhook", "--operation=mutation-status",
		"--disable-cert-rotation", "--cert-dir=" + o.certDir,
		"--host=127.0.0.1", fmt.Sprintf("--port=%d", o.port),
		"--health-addr=" + health,
		fmt.Sprintf("--metrics-addr=127.0.0.1:%d", ports[1]),
		fmt.Sprintf("--prometheus-port=%d", ports[2]),
		"--enable-external-data=true",
		"--disable-opa-builtin=http.send",
		"--exempt-namespace=" + gatekeeperNamespace,
		fmt.Sprintf("--audit-interval=%d", auditInterval),
		// Audit lists only the kinds constraints match (Pods), not every
		// resource of the API server every ten seconds.
		"--audit-match-kind-only=true",
		"--api-cache-dir=" + filepath.Join(o.dir, "audit"),
		"--shutdown-delay=0",
	}
	logPath := filepath.Join(o.dir, "gatekeeper.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	cmd := exec.Command(o.bin, args...)
	cmd.Env = append(os.Environ(),
		"KUBECONFIG="+o.kubeconfig,
		"POD_NAMESPACE="+gatekeeperNamespace,
		"POD_NAME="+gatekeeperPod,
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start gatekeeper: %w", err)
	}
	p := &process{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.exited) }()
	deadline, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(deadline, http.MethodGet, "http://"+health+"/readyz", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exited:
			return p, fmt.Errorf("gatekeeper exited (%v) before it was ready", cmd.ProcessState)
		case <-deadline.Done():
			return p, fmt.Errorf("gatekeeper not ready at http://%s/readyz: %w", health, deadline.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// output is what Gatekeeper logged so far.
func (p *process) output() string {
	if p == nil {
		return ""
	}
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// stop sends SIGTERM to Gatekeeper's process group and waits (SIGKILL
// after 10 seconds).
func (p *process) stop() {
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
}

// startAssay starts assay serve with e.serve and waits until it is ready.
func (e *environment) startAssay(ctx context.Context) error {
	start, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	srv, err := servetest.Start(start, e.serve)
	if err != nil {
		return err
	}
	e.srv = srv
	return nil
}

// createConstraint creates the constraint once Gatekeeper has generated
// its CRD from the template and the API server serves it.
func (e *environment) createConstraint(ctx context.Context, constraint *unstructured.Unstructured) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := e.c.Create(ctx, constraint.DeepCopy())
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("create constraint %s: %w", constraint.GetName(), err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitConstraintEnforced waits until the status of Gatekeeper object
// name (a constraint or a mutator) says Gatekeeper's pod enforces it.
func (e *environment) waitConstraintEnforced(ctx context.Context, gvk schema.GroupVersionKind, name string) error {
	deadline := time.Now().Add(90 * time.Second)
	for {
		u := &unstructured.Unstructured{}
		u.SetGroupVersionKind(gvk)
		err := e.c.Get(ctx, client.ObjectKey{Name: name}, u)
		if err == nil && enforcedBy(u, gatekeeperPod) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s %s not enforced by %s: %v, status %v", gvk.Kind, name, gatekeeperPod, err, u.Object["status"])
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitEnforced waits until the constraint's status says Gatekeeper's pod
// enforces it, then until the webhook denies a dry-run Pod with an
// unsigned image: only then is every piece of the chain in place.
func (e *environment) waitEnforced(ctx context.Context) error {
	if err := e.waitConstraintEnforced(ctx, constraintGVK, e.constraintName); err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	probe, err := pushImage(ctx, e.olareg, "admission/probe/unsigned", nil)
	if err != nil {
		return err
	}
	want := denial(e.constraintName, notSigned(probe))
	for {
		_, err := e.kube.CoreV1().Pods("default").Create(ctx, pod("probe", probe), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil && err.Error() == want {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the webhook does not deny a dry-run pod with unsigned %s: %v", probe, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// waitMutating waits until the Assign's status says Gatekeeper's pod
// enforces it, then until a dry-run Pod in mutateNamespace with a signed
// image by tag comes back with the image pinned to its digest.
func (e *environment) waitMutating(ctx context.Context) error {
	if err := e.waitConstraintEnforced(ctx, assignGVK, assignName); err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	probe, err := pushImage(ctx, e.olareg, "admission/probe/mutate", e.leaf)
	if err != nil {
		return err
	}
	want, err := pinned(ctx, probe)
	if err != nil {
		return err
	}
	for {
		got, err := e.kube.CoreV1().Pods(mutateNamespace).Create(ctx, pod("probe", probe), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err == nil && got.Spec.Containers[0].Image == want {
			return nil
		}
		if time.Now().After(deadline) {
			image := ""
			if got != nil && len(got.Spec.Containers) > 0 {
				image = got.Spec.Containers[0].Image
			}
			return fmt.Errorf("the mutating webhook does not pin a dry-run pod's %s to %s: image %q, %v", probe, want, image, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// pinned resolves the tag reference ref (plain HTTP) and returns it with
// the tag replaced by the manifest's digest, name@sha256:….
func pinned(ctx context.Context, ref string) (string, error) {
	name, tag, ok := strings.Cut(ref[strings.LastIndex(ref, "/")+1:], ":")
	if !ok {
		return "", fmt.Errorf("%s has no tag", ref)
	}
	repoName := ref[:strings.LastIndex(ref, "/")+1] + name
	repo, err := remote.NewRepository(repoName)
	if err != nil {
		return "", err
	}
	repo.PlainHTTP = true
	desc, err := repo.Resolve(ctx, tag)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", ref, err)
	}
	return repoName + "@" + desc.Digest.String(), nil
}

// enforcedBy reports whether the constraint's status.byPod has an entry
// for pod with enforced true.
func enforcedBy(u *unstructured.Unstructured, pod string) bool {
	byPod, _, _ := unstructured.NestedSlice(u.Object, "status", "byPod")
	return slices.ContainsFunc(byPod, func(v any) bool {
		m, _ := v.(map[string]any)
		return m["id"] == pod && m["enforced"] == true
	})
}

// dumpLogs prints the logs of assay serve and Gatekeeper.
func (e *environment) dumpLogs() {
	if e.srv != nil {
		fmt.Fprintf(os.Stderr, "--- assay serve output:\n%s", e.srv.Output())
	}
	if e.gatekeeper != nil {
		fmt.Fprintf(os.Stderr, "--- gatekeeper output:\n%s", e.gatekeeper.output())
	}
}

// readObject reads one YAML document into an unstructured object.
func readObject(path string) (*unstructured.Unstructured, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(data, &u.Object); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return u, nil
}

// pushImage pushes an image tagged v1 into repository path of reg,
// signed by leaf unless leaf is nil, and returns its tag reference.
func pushImage(ctx context.Context, reg *registrytest.Server, path string, leaf *notationtest.Leaf) (string, error) {
	repo, err := newRepository(reg, path)
	if err != nil {
		return "", err
	}
	return pushImageTo(ctx, repo, leaf)
}

// pushImageTo pushes an image tagged v1 into repo, signed by leaf unless
// it is nil, and returns its tag reference.
func pushImageTo(ctx context.Context, repo *remote.Repository, leaf *notationtest.Leaf) (string, error) {
	path := repo.Reference.Repository
	desc, err := notationtest.PushImage(ctx, repo, path, "v1")
	if err != nil {
		return "", fmt.Errorf("push %s: %w", path, err)
	}
	if leaf != nil {
		sig, err := notationtest.Sign(ctx, leaf, desc, notationtest.SignOptions{})
		if err != nil {
			return "", fmt.Errorf("sign %s: %w", path, err)
		}
		if _, err := notationtest.PushSignature(ctx, repo, desc, sig); err != nil {
			return "", fmt.Errorf("push the signature of %s: %w", path, err)
		}
	}
	return repo.Reference.Registry + "/" + path + ":v1", nil
}

// newRepository is an oras-go repository for path on reg, speaking
// plain HTTP.
func newRepository(reg *registrytest.Server, path string) (*remote.Repository, error) {
	repo, err := remote.NewRepository(reg.RepositoryName(path))
	if err != nil {
		return nil, err
	}
	repo.PlainHTTP = true
	return repo, nil
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
