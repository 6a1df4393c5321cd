//go:build e2e

package admission

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry/remote/auth"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/ociimage"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/servetest"
)

// The chart's release: installed with helm into the API server, its
// Deployment's Assay run as a local process (there is no kubelet) with
// the arguments, environment, files and ServiceAccount the Deployment
// gives it. It judges the Pods of the chart-* namespaces through a
// constraint of its own, of the namespaced template, so that keys carry
// the namespace.
const (
	chartDir                 = "../../charts/assay"
	chartReleaseName         = "assay"
	chartNamespace           = "assay-chart"
	chartProvider            = "assay-chart"
	chartConstraint          = "verified-images-chart"
	chartPodNamespacePattern = "chart-*"
	// chartDefault has no objects of its own: the cluster-wide Store,
	// Verifier and Policy apply. chartTeam has a NamespacedVerifier.
	chartDefault = "chart-default"
	chartTeam    = "chart-team-a"
	// chartMutate is the only namespace the chart's Assigns mutate.
	chartMutate = "chart-mutate"
	// pullSecretName is the dockerconfigjson Secret the chart's Store
	// names, with the credentials of the private registry.
	pullSecretName = "regcred"
	namespacedFile = "assayverifiedimagesnamespaced/template.yaml"
	// teamUser and teamPassword read the team registry; only Pods' own
	// pull Secrets hold them.
	teamUser, teamPassword = "team", "t0ken"
)

var namespacedGVK = schema.GroupVersionKind{Group: "constraints.gatekeeper.sh", Version: "v1beta1", Kind: "AssayVerifiedImagesNamespaced"}

// release is the installed chart and the Assay it configures.
type release struct {
	srv *servetest.Server
	// c reads and writes Assay's objects as the cluster administrator.
	c client.Client
	// private needs the pull Secret's credentials; team needs those of
	// the Pods' own pull Secrets, which the Store does not have.
	private, team *registrytest.Server
	// img is the chart's image, unpacked.
	img *image
	// installTook and upgradeTook are how long helm install and helm
	// upgrade took.
	installTook, upgradeTook time.Duration
}

var (
	chartOnce sync.Once
	chart     *release
	chartErr  error
)

// installedChart installs the chart once per test binary and returns it.
func installedChart(t *testing.T) *release {
	t.Helper()
	chartOnce.Do(func() { chart, chartErr = installChart(context.Background()) })
	if chartErr != nil {
		t.Fatalf("install the chart: %v", chartErr)
	}
	return chart
}

func helmBin() (string, error) {
	bin := os.Getenv("ASSAY_HELM_BIN")
	if bin == "" {
		bin = filepath.Join("..", "..", ".tools", "bin", "helm")
	}
	bin, err := filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("%s is missing: run `make e2e-tools` (or set ASSAY_HELM_BIN)", bin)
	}
	return bin, nil
}

func helm(ctx context.Context, args ...string) (string, error) {
	bin, err := helmBin()
	if err != nil {
		return "", err
	}
	cmd := exec.CommandContext(ctx, bin, append(args, "--kubeconfig", env.kubeconfig)...)
	cmd.Env = append(os.Environ(), "HELM_CACHE_HOME="+filepath.Join(env.dir, "helm", "cache"),
		"HELM_CONFIG_HOME="+filepath.Join(env.dir, "helm", "config"), "HELM_DATA_HOME="+filepath.Join(env.dir, "helm", "data"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func installChart(ctx context.Context) (*release, error) {
	r := &release{}
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{v1alpha1.AddToScheme, corev1.AddToScheme} {
		if err := add(scheme); err != nil {
			return nil, err
		}
	}
	var err error
	if r.c, err = client.New(env.cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}

	// The private registry and the pull Secret with its credentials,
	// made before the release so that its Store is valid from the start.
	if r.private, err = registrytest.StartOlaregBehind(registrytest.BasicAuth("robot", "s3cret")); err != nil {
		return nil, err
	}
	env.cleanup(r.private.Close)
	if r.team, err = registrytest.StartOlaregBehind(registrytest.BasicAuth(teamUser, teamPassword)); err != nil {
		return nil, err
	}
	env.cleanup(r.team.Close)
	dockerConfig, err := json.Marshal(map[string]any{"auths": map[string]any{r.private.Host(): map[string]string{
		"username": "robot", "password": "s3cret"}}})
	if err != nil {
		return nil, err
	}
	for _, o := range []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartNamespace}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartDefault}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: chartDefault, Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartMutate}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: chartMutate, Name: "default"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: chartTeam}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: chartTeam, Name: "default"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: chartNamespace, Name: pullSecretName},
			Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: dockerConfig}},
	} {
		if err := r.c.Create(ctx, o); err != nil {
			return nil, err
		}
	}

	// The namespaced template, whose constraint the release creates in
	// its upgrade.
	template, err := readObject(filepath.Join(libraryDir, namespacedFile))
	if err != nil {
		return nil, err
	}
	if err := env.c.Create(ctx, template); err != nil {
		return nil, fmt.Errorf("create ConstraintTemplate: %w", err)
	}

	// Assay's HTTPS port is chosen now: the Providers carry it.
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	// The Verifier's CA comes from a ConfigMap of the release namespace
	// (valueFrom), as an administrator would keep it.
	var params map[string]any
	if err := json.Unmarshal(env.params, &params); err != nil {
		return nil, err
	}
	caPEM, err := notationCA(params)
	if err != nil {
		return nil, err
	}
	if err := r.c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: chartNamespace, Name: caConfigMap},
		Data: map[string]string{"ca.pem": caPEM}}); err != nil {
		return nil, err
	}
	setNotationCA(params, map[string]any{"valueFrom": map[string]any{"configMapKeyRef": map[string]any{
		"namespace": chartNamespace, "name": caConfigMap, "key": "ca.pem"}}})
	values := map[string]any{
		"providers": map[string]any{
			"baseURL": fmt.Sprintf("https://127.0.0.1:%d", port),
			"verify":  map[string]any{"name": chartProvider, "timeout": providerTimeout},
			"mutate":  map[string]any{"name": chartProvider + "-mutate"},
		},
		"service": map[string]any{"port": port},
		"tls":     map[string]any{"ipAddresses": []any{"127.0.0.1"}},
		"margin":  "500ms",
		"log":     map[string]any{"level": "debug"},
		// The Pods' own imagePullSecrets, sent by the constraint.
		"podPullSecrets": map[string]any{"enabled": true},
		// Tag → digest by the chart's Assigns, in one namespace only.
		"mutation": map[string]any{"enabled": true, "namespaces": []any{chartMutate}},
		"config": map[string]any{
			"source": "cluster",
			"stores": []any{map[string]any{"name": "registries", "spec": map[string]any{
				"registries": []any{
					map[string]any{"host": env.olareg.Host(), "plainHTTP": true},
					map[string]any{"host": r.private.Host(), "plainHTTP": true},
					map[string]any{"host": r.team.Host(), "plainHTTP": true},
				},
				"pullSecrets": []any{map[string]any{"name": pullSecretName, "namespace": chartNamespace}},
			}}},
			"verifiers": []any{map[string]any{"name": "notation", "spec": map[string]any{
				"plugin": "notation", "artifactTypes": []any{servetest.NotationSignature}, "parameters": params}}},
			"policies": []any{map[string]any{"name": "signed", "spec": map[string]any{
				"rules": []any{map[string]any{"artifactType": servetest.NotationSignature, "required": true}}}}},
		},
	}
	valuesFile := filepath.Join(env.dir, "chart-values.yaml")
	if err := writeYAML(valuesFile, values); err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := helm(ctx, "install", chartReleaseName, chartDir, "--namespace", chartNamespace, "--values", valuesFile, "--wait=false"); err != nil {
		return nil, err
	}
	r.installTook = time.Since(start)

	// Constraints of a template's kind can be installed once Gatekeeper
	// made the kind: an upgrade adds the release's constraint.
	if err := waitForKind(ctx, namespacedGVK); err != nil {
		return nil, err
	}
	constraints := filepath.Join(env.dir, "chart-constraints.yaml")
	if err := writeYAML(constraints, map[string]any{"constraints": []any{map[string]any{
		"kind": namespacedGVK.Kind, "name": chartConstraint, "enforcementAction": "deny",
		"match": map[string]any{
			"kinds":      []any{map[string]any{"apiGroups": []any{""}, "kinds": []any{"Pod"}}},
			"namespaces": []any{chartPodNamespacePattern},
		},
		"parameters": map[string]any{"provider": chartProvider, "sendPullSecrets": true},
	}}}); err != nil {
		return nil, err
	}
	start = time.Now()
	if _, err := helm(ctx, "upgrade", chartReleaseName, chartDir, "--namespace", chartNamespace, "--values", valuesFile, "--values", constraints, "--wait=false"); err != nil {
		return nil, err
	}
	r.upgradeTook = time.Since(start)

	img, err := buildImage(ctx, filepath.Join(env.dir, "image"))
	if err != nil {
		return nil, fmt.Errorf("the chart's image: %w", err)
	}
	r.img = img
	if r.srv, err = runDeployment(ctx, chartNamespace, chartReleaseName, img, 0); err != nil {
		return nil, err
	}
	env.cleanup(func() { r.srv.Stop() })
	if err := env.waitConstraintEnforced(ctx, namespacedGVK, chartConstraint); err != nil {
		return nil, err
	}
	for _, field := range []string{"containers", "initcontainers", "ephemeralcontainers"} {
		if err := env.waitConstraintEnforced(ctx, assignGVK, chartReleaseName+"-"+field); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// caConfigMap holds the PEM of the CA the chart's Verifier trusts.
const caConfigMap = "notation-ca"

// notationCA returns the one certificate of the notation parameters'
// trust store (notationtest.NewParams writes one).
func notationCA(params map[string]any) (string, error) {
	for _, store := range params["trustStores"].(map[string]any)["ca"].(map[string]any) {
		certs := store.(map[string]any)["certificates"].([]any)
		if len(certs) == 1 {
			return certs[0].(string), nil
		}
	}
	return "", fmt.Errorf("notation parameters without one CA certificate: %v", params["trustStores"])
}

// setNotationCA replaces that certificate by v.
func setNotationCA(params map[string]any, v any) {
	for _, store := range params["trustStores"].(map[string]any)["ca"].(map[string]any) {
		store.(map[string]any)["certificates"] = []any{v}
	}
}

func writeYAML(path string, v any) error {
	data, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o600)
}

// waitForKind waits until the API server serves the constraint kind
// Gatekeeper generates from its template.
func waitForKind(ctx context.Context, gvk schema.GroupVersionKind) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		list := &unstructured.UnstructuredList{}
		list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
		err := env.c.List(ctx, list)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("constraint kind %s not served: %w", gvk.Kind, err)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// runDeployment runs the assay container of Deployment ns/name as a
// kubelet would, but as a local process: its Secret, ConfigMap and
// emptyDir volumes become directories, its arguments name them, its
// environment is resolved, and it reaches the API server with a token of
// the Deployment's ServiceAccount, so the chart's RBAC is what it has.
// Listeners move to loopback; the plugin directory is the test's build.
//
// replica 0 listens on the port of the Deployment (the Providers' URL);
// other replicas on a port of their own.
func runDeployment(ctx context.Context, ns, name string, img *image, replica int) (*servetest.Server, error) {
	d, err := env.kube.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	spec := d.Spec.Template.Spec
	var c *corev1.Container
	for i := range spec.Containers {
		if spec.Containers[i].Name == "assay" {
			c = &spec.Containers[i]
		}
	}
	if c == nil {
		return nil, fmt.Errorf("deployment %s/%s has no container assay", ns, name)
	}
	if len(c.Command) != 1 {
		return nil, fmt.Errorf("container assay runs %q, want one command", c.Command)
	}
	bin, err := img.lookPath(c.Command[0])
	if err != nil {
		return nil, err
	}
	root := filepath.Join(env.dir, "pods", ns, fmt.Sprintf("%s-%d", name, replica))
	volumes := map[string]string{}
	for _, v := range spec.Volumes {
		dir := filepath.Join(root, "volumes", v.Name)
		if err := materialize(ctx, ns, v, dir); err != nil {
			return nil, fmt.Errorf("volume %s: %w", v.Name, err)
		}
		volumes[v.Name] = dir
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		dir, ok := volumes[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s names no volume", m.Name)
		}
		mounts[m.MountPath] = dir
	}

	args := slices.Clone(c.Args)
	for i := 0; i < len(args); i++ {
		if i+1 < len(args) {
			switch args[i] {
			case "--listen":
				if !strings.HasPrefix(args[i+1], ":") {
					return nil, fmt.Errorf("--listen %q: want a port on every interface", args[i+1])
				}
				args[i+1] = "127.0.0.1" + args[i+1]
				if replica > 0 {
					args[i+1] = "127.0.0.1:0"
				}
				i++
				continue
			case "--health-listen":
				args[i+1] = "127.0.0.1:0"
				i++
				continue
			}
		}
		// A file: in the longest mount path that holds it, else in the
		// image (the chart's pluginDir).
		if !strings.HasPrefix(args[i], "/") {
			continue
		}
		best := ""
		for path := range mounts {
			if strings.HasPrefix(args[i], path+"/") && len(path) > len(best) {
				best = path
			}
		}
		if best != "" {
			args[i] = mounts[best] + strings.TrimPrefix(args[i], best)
		} else {
			args[i] = filepath.Join(img.root, args[i])
		}
	}

	// The image's environment (its CA bundle in the root filesystem), then
	// the container's.
	environ := []string{"SSL_CERT_FILE=" + filepath.Join(img.root, ociimage.CAFile)}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			environ = append(environ, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			environ = append(environ, e.Name+"="+ns)
		case e.ValueFrom.SecretKeyRef != nil:
			s, err := env.kube.CoreV1().Secrets(ns).Get(ctx, e.ValueFrom.SecretKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("env %s: %w", e.Name, err)
			}
			environ = append(environ, e.Name+"="+string(s.Data[e.ValueFrom.SecretKeyRef.Key]))
		default:
			return nil, fmt.Errorf("env %s: source %+v not supported here", e.Name, e.ValueFrom)
		}
	}
	kubeconfig, err := serviceAccountKubeconfig(ctx, ns, spec.ServiceAccountName, filepath.Join(root, "kubeconfig"))
	if err != nil {
		return nil, err
	}
	environ = append(environ, "KUBECONFIG="+kubeconfig)

	// The test reaches it as Gatekeeper does: the Providers' CA, and
	// Gatekeeper's certificate as the client's.
	var tlsSecret string
	for _, v := range spec.Volumes {
		if v.Name == "tls" && v.Secret != nil {
			tlsSecret = v.Secret.SecretName
		}
	}
	s, err := env.kube.CoreV1().Secrets(ns).Get(ctx, tlsSecret, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("the serving certificate's Secret: %w", err)
	}
	caPEM := s.Data["ca.crt"]
	block, _ := pem.Decode(caPEM)
	if block == nil {
		return nil, errors.New("the release's ca.crt is not PEM")
	}
	caCert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, err
	}
	material := &servetest.TLS{
		ServerCA:       &servetest.CA{Cert: caCert, PEM: caPEM},
		ClientCertFile: filepath.Join(env.gatekeeperCerts, "tls.crt"),
		ClientKeyFile:  filepath.Join(env.gatekeeperCerts, "tls.key"),
	}
	start, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return servetest.Start(start, servetest.Options{Assay: bin, TLS: material, Args: args, Env: environ, Exact: true})
}

// image is the container image the chart names, built as `make image`
// builds it (static binaries, pkg/ociimage) and unpacked, as a node would.
type image struct {
	root   string // the root filesystem
	config ocispec.Image
}

// buildImage builds the image with the notation plugin into an OCI
// layout and unpacks it under dir/rootfs.
func buildImage(ctx context.Context, dir string) (*image, error) {
	assay, plugins, err := servetest.BuildStatic(filepath.Join(dir, "static"), servetest.Plugins("notation"))
	if err != nil {
		return nil, err
	}
	layout, err := oci.New(filepath.Join(dir, "layout"))
	if err != nil {
		return nil, err
	}
	if _, err := ociimage.Build(ctx, layout, "e2e", ociimage.Options{Assay: assay, PluginDir: plugins, Version: "e2e"}); err != nil {
		return nil, err
	}
	img := &image{root: filepath.Join(dir, "rootfs")}
	if img.config, err = ociimage.Unpack(ctx, layout, "e2e", img.root); err != nil {
		return nil, err
	}
	return img, nil
}

// lookPath finds command on the image's PATH, in its root filesystem.
func (img *image) lookPath(command string) (string, error) {
	for _, e := range img.config.Config.Env {
		v, ok := strings.CutPrefix(e, "PATH=")
		if !ok {
			continue
		}
		for _, d := range filepath.SplitList(v) {
			p := filepath.Join(img.root, d, command)
			if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0 {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("command %q is not on the image's PATH (%v)", command, img.config.Config.Env)
}

// materialize writes volume v of a Pod in namespace ns into dir, as the
// kubelet projects it.
func materialize(ctx context.Context, ns string, v corev1.Volume, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	var data map[string][]byte
	var items []corev1.KeyToPath
	switch {
	case v.EmptyDir != nil:
		return nil
	case v.Secret != nil:
		s, err := env.kube.CoreV1().Secrets(ns).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		data, items = s.Data, v.Secret.Items
	case v.ConfigMap != nil:
		cm, err := env.kube.CoreV1().ConfigMaps(ns).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		data = map[string][]byte{}
		for k, s := range cm.Data {
			data[k] = []byte(s)
		}
		for k, b := range cm.BinaryData {
			data[k] = b
		}
		items = v.ConfigMap.Items
	default:
		return fmt.Errorf("only secret, configMap and emptyDir volumes are projected here, not %+v", v.VolumeSource)
	}
	if len(items) == 0 {
		for k := range data {
			items = append(items, corev1.KeyToPath{Key: k, Path: k})
		}
	}
	for _, it := range items {
		b, ok := data[it.Key]
		if !ok {
			return fmt.Errorf("key %s is missing", it.Key)
		}
		if err := os.WriteFile(filepath.Join(dir, it.Path), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// serviceAccountKubeconfig writes a kubeconfig holding a token of
// ServiceAccount ns/name, as a Pod running as it would have.
func serviceAccountKubeconfig(ctx context.Context, ns, name, path string) (string, error) {
	tr, err := env.kube.CoreV1().ServiceAccounts(ns).CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrTo(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token of ServiceAccount %s/%s: %w", ns, name, err)
	}
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: env.cfg.Host, CertificateAuthorityData: env.cfg.CAData}
	kc.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: tr.Status.Token}
	kc.Contexts["pod"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: name, Namespace: ns}
	kc.CurrentContext = "pod"
	return path, clientcmd.WriteToFile(*kc, path)
}

func ptrTo[T any](v T) *T { return &v }

// attempt is one Pod created while waiting for a change to apply.
type attempt struct {
	name, image string
	err         error
}

// createIn creates Pod name with image in namespace ns and reports
// whether the API server stored it.
func createIn(t *testing.T, ns, name string, images ...string) (stored bool, err error) {
	t.Helper()
	return createPodIn(t, ns, pod(name, images...))
}

// createPodIn creates p in namespace ns and reports whether the API
// server stored it.
func createPodIn(t *testing.T, ns string, p *corev1.Pod) (stored bool, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = env.kube.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	_, getErr := env.kube.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
	return getErr == nil, err
}

func TestChartInstallsAnAssayThatDecides(t *testing.T) {
	r := installedChart(t)
	t.Logf("helm install took %s, helm upgrade (the constraint) %s", r.installTook.Round(time.Millisecond), r.upgradeTook.Round(time.Millisecond))

	// The release's objects are in effect: each says so in its status.
	for _, o := range []client.Object{&v1alpha1.Store{}, &v1alpha1.Verifier{}, &v1alpha1.Policy{}} {
		name := map[string]string{"Store": "registries", "Verifier": "notation", "Policy": "signed"}[fmt.Sprintf("%T", o)[len("*v1alpha1."):]]
		waitReady(t, r.c, o, name, metav1.ConditionTrue, "Applied", "")
	}

	signed := push(t, "signed", true)
	stored, err := createIn(t, chartDefault, "signed", signed)
	if err != nil || !stored {
		t.Fatalf("pod with signed %s: %v (stored %v)", signed, err, stored)
	}
	unsigned := push(t, "unsigned", false)
	stored, err = createIn(t, chartDefault, "unsigned", unsigned)
	expectDenied(t, err, denial(chartConstraint, notSigned(unsigned)))
	if stored {
		t.Error("the denied pod is stored")
	}

	// The answers came from the chart's Assay, the only one behind the
	// release's Provider, over the mutual TLS of the chart's material.
	n, err := r.srv.Metric(context.Background(), `assay_provider_requests_total{endpoint="verify",outcome="ok"}`)
	if err != nil || n == "0" {
		t.Errorf("the chart's assay serve answered %q verify requests (%v), want at least the two Pods'", n, err)
	}
}

// waitReady waits until o's Ready condition has status, reason and a
// message containing message.
func waitReady(t *testing.T, c client.Client, o client.Object, name string, status metav1.ConditionStatus, reason, message string) *metav1.Condition {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second) // a polling bound
	for {
		var conds []metav1.Condition
		err := c.Get(context.Background(), client.ObjectKey{Name: name, Namespace: o.GetNamespace()}, o)
		if err == nil {
			switch x := o.(type) {
			case *v1alpha1.Store:
				conds = x.Status.Conditions
			case *v1alpha1.Verifier:
				conds = x.Status.Conditions
			case *v1alpha1.Policy:
				conds = x.Status.Conditions
			case *v1alpha1.NamespacedVerifier:
				conds = x.Status.Conditions
			}
		}
		cond := meta.FindStatusCondition(conds, "Ready")
		if cond != nil && cond.Status == status && cond.Reason == reason && strings.Contains(cond.Message, message) &&
			cond.ObservedGeneration == o.GetGeneration() {
			return cond
		}
		if time.Now().After(deadline) {
			t.Fatalf("%T %s: Ready %+v (err %v), want %s %s containing %q", o, name, cond, err, status, reason, message)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestRegistryCredentialsComeFromThePullSecret(t *testing.T) {
	r := installedChart(t)
	ctx := context.Background()
	path := repoPath(t)
	repo, err := newRepository(r.private, path+"/app")
	if err != nil {
		t.Fatal(err)
	}
	repo.Client = &auth.Client{Credential: auth.StaticCredential(r.private.Host(), auth.Credential{Username: "robot", Password: "s3cret"})}
	image, err := pushImageTo(ctx, repo, env.leaf)
	if err != nil {
		t.Fatal(err)
	}

	stored, err := createIn(t, chartDefault, "private-signed", image)
	if err != nil || !stored {
		t.Fatalf("pod with signed %s from the private registry: %v (stored %v)", image, err, stored)
	}

	// The credentials were needed: the registry refuses anonymous reads.
	manifest := fmt.Sprintf("http://%s/v2/%s/app/manifests/v1", r.private.Host(), path)
	resp, err := http.Get(manifest)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("anonymous GET %s: %s, want 401", manifest, resp.Status)
	}

}

func TestBrokenVerifierKeepsTheLastGoodConfiguration(t *testing.T) {
	r := installedChart(t)
	ctx := context.Background()
	v := &v1alpha1.Verifier{}
	if err := r.c.Get(ctx, client.ObjectKey{Name: "notation"}, v); err != nil {
		t.Fatal(err)
	}
	good := v.Spec.DeepCopy()
	t.Cleanup(func() {
		cur := &v1alpha1.Verifier{}
		if err := r.c.Get(ctx, client.ObjectKey{Name: "notation"}, cur); err != nil {
			t.Error(err)
			return
		}
		cur.Spec = *good
		if err := r.c.Update(ctx, cur); err != nil {
			t.Error(err)
			return
		}
		waitReady(t, r.c, cur, "notation", metav1.ConditionTrue, "Applied", "")
	})

	// A trust policy document naming a trust store that does not exist:
	// valid to the API server's schema, rejected by the notation plugin.
	var params map[string]any
	if err := json.Unmarshal(env.params, &params); err != nil {
		t.Fatal(err)
	}
	doc := params["trustPolicyDocument"].(map[string]any)
	doc["trustPolicies"].([]any)[0].(map[string]any)["trustStores"] = []any{"ca:missing"}
	raw, err := json.Marshal(params)
	if err != nil {
		t.Fatal(err)
	}
	v.Spec.Parameters.Raw = raw
	if err := r.c.Update(ctx, v); err != nil {
		t.Fatal(err)
	}
	cond := waitReady(t, r.c, v, "notation", metav1.ConditionFalse, "Invalid", `trust store "ca:missing" is not defined`)
	if want := fmt.Sprintf("generation %d stays in effect", v.Generation-1); !strings.Contains(cond.Message, want) {
		t.Errorf("Ready message %q does not say %q", cond.Message, want)
	}

	// Admissions are still decided, by the last good Verifier.
	signed := push(t, "signed", true)
	if stored, err := createIn(t, chartDefault, "broken-signed", signed); err != nil || !stored {
		t.Fatalf("with the broken Verifier, pod with signed %s: %v (stored %v)", signed, err, stored)
	}
	unsigned := push(t, "unsigned", false)
	_, err = createIn(t, chartDefault, "broken-unsigned", unsigned)
	expectDenied(t, err, denial(chartConstraint, notSigned(unsigned)))
}

func TestNamespacedVerifierOverridesTheClusterOneInItsNamespaceOnly(t *testing.T) {
	r := installedChart(t)
	ctx := context.Background()
	// Team A trusts its own CA, and only that one.
	teamCA, err := notationtest.NewCA(notationtest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	teamLeaf, err := teamCA.IssueLeaf(notationtest.LeafOptions{})
	if err != nil {
		t.Fatal(err)
	}
	params, err := notationtest.NewParams("*", teamCA, nil).JSON()
	if err != nil {
		t.Fatal(err)
	}
	nv := &v1alpha1.NamespacedVerifier{ObjectMeta: metav1.ObjectMeta{Namespace: chartTeam, Name: "notation"}, Spec: v1alpha1.VerifierSpec{
		Plugin: "notation", ArtifactTypes: []string{servetest.NotationSignature}}}
	nv.Spec.Parameters.Raw = params
	if err := r.c.Create(ctx, nv); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.c.Delete(ctx, nv) })
	waitReady(t, r.c, nv, "notation", metav1.ConditionTrue, "Applied", "")

	path := repoPath(t)
	pushSigned := func(name string, leaf *notationtest.Leaf) string {
		t.Helper()
		ref, err := pushImage(ctx, env.olareg, path+"/"+name, leaf)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}

	// An image signed by team A's CA is admitted in team A's namespace;
	// the controllers apply the object within moments, so the first Pods
	// may still meet the cluster Verifier: each try uses a new image.
	var last attempt
	deadline := time.Now().Add(20 * time.Second) // a polling bound
	for i := 0; ; i++ {
		last.image = pushSigned(fmt.Sprintf("team-%d", i), teamLeaf)
		last.name = fmt.Sprintf("team-%d", i)
		var stored bool
		stored, last.err = createIn(t, chartTeam, last.name, last.image)
		if last.err == nil && stored {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod with %s signed by team A's CA in %s: %v", last.image, chartTeam, last.err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// The same kind of image elsewhere meets the cluster Verifier, which
	// does not trust team A's CA.
	elsewhere := pushSigned("team-elsewhere", teamLeaf)
	stored, err := createIn(t, chartDefault, "team-elsewhere", elsewhere)
	if err == nil || stored {
		t.Fatalf("pod with %s signed by team A's CA in %s was admitted", elsewhere, chartDefault)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("image %q is not verified: SIGNATURE_UNTRUSTED: ", elsewhere)) {
		t.Errorf("denial does not name %s: %v", elsewhere, err)
	}
	t.Logf("in %s: %v", chartDefault, err)

	// And in team A's namespace the cluster's signer is not trusted.
	clusterSigned := pushSigned("cluster-signed", env.leaf)
	stored, err = createIn(t, chartTeam, "cluster-signed", clusterSigned)
	if err == nil || stored {
		t.Fatalf("pod with %s signed by the cluster's CA in %s was admitted", clusterSigned, chartTeam)
	}
	if !strings.Contains(err.Error(), fmt.Sprintf("image %q is not verified: SIGNATURE_UNTRUSTED: ", clusterSigned)) {
		t.Errorf("denial does not name %s: %v", clusterSigned, err)
	}
	if stored, err := createIn(t, chartDefault, "cluster-signed", clusterSigned); err != nil || !stored {
		t.Errorf("pod with %s signed by the cluster's CA in %s: %v (stored %v)", clusterSigned, chartDefault, err, stored)
	}
}

func TestPodsOwnPullSecretsReadPrivateImages(t *testing.T) {
	r := installedChart(t)
	ctx := context.Background()
	config, err := json.Marshal(map[string]any{"auths": map[string]any{r.team.Host(): map[string]string{"username": teamUser, "password": teamPassword}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: chartDefault, Name: "team-pull"},
			Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: config}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: chartDefault, Name: "builder-pull"},
			Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: config}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: chartDefault, Name: "builder"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "builder-pull"}}},
	} {
		if err := r.c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	path := repoPath(t)
	// teamImage pushes a signed image of its own into the team registry.
	teamImage := func(name string) string {
		t.Helper()
		repo, err := newRepository(r.team, path+"/"+name)
		if err != nil {
			t.Fatal(err)
		}
		repo.Client = &auth.Client{Credential: auth.StaticCredential(r.team.Host(), auth.Credential{Username: teamUser, Password: teamPassword})}
		ref, err := pushImageTo(ctx, repo, env.leaf)
		if err != nil {
			t.Fatal(err)
		}
		return ref
	}
	create := func(name string, mutate func(*corev1.Pod), image string) (bool, error) {
		t.Helper()
		p := pod(name, image)
		mutate(p)
		return createPodIn(t, chartDefault, p)
	}

	// The Pod's own imagePullSecrets.
	own := teamImage("own")
	stored, err := create("own-pull-secret", func(p *corev1.Pod) {
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "team-pull"}}
	}, own)
	if err != nil || !stored {
		t.Fatalf("pod with imagePullSecrets team-pull and signed %s: %v (stored %v)", own, err, stored)
	}

	// Its ServiceAccount's imagePullSecrets.
	bySA := teamImage("service-account")
	stored, err = create("service-account-pull-secret", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "builder" }, bySA)
	if err != nil || !stored {
		t.Fatalf("pod running as builder (imagePullSecrets builder-pull) with signed %s: %v (stored %v)", bySA, err, stored)
	}

	// Without them the registry refuses Assay, and the Pod is denied
	// saying so; a Secret the Pod names that does not exist is named.
	none := teamImage("none")
	stored, err = create("no-pull-secret", func(*corev1.Pod) {}, none)
	if err == nil || stored {
		t.Fatalf("pod without pull Secrets with %s from the team registry was admitted", none)
	}
	if want := fmt.Sprintf("image %q is not verified: REGISTRY_ERROR: ", none); !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "refused access") {
		t.Errorf("denial %q: want %q and the registry's refusal", err, want)
	}
	missing := teamImage("missing")
	_, err = create("missing-pull-secret", func(p *corev1.Pod) {
		p.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "not-there"}}
	}, missing)
	if want := fmt.Sprintf("pull credentials not used: Secret %s/not-there does not exist", chartDefault); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("denial %v: want it to say %q", err, want)
	}
	t.Logf("without the Pod's credentials: %v", err)
}

func TestChartsAssignsPinContainersAndInitContainers(t *testing.T) {
	installedChart(t)
	ctx := context.Background()
	pods := env.kube.CoreV1().Pods(chartMutate)
	app, init := push(t, "app", true), push(t, "init", true)
	wantApp, err := pinned(ctx, app)
	if err != nil {
		t.Fatal(err)
	}
	wantInit, err := pinned(ctx, init)
	if err != nil {
		t.Fatal(err)
	}
	p := pod("pinned", app)
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: init}}
	if _, err := pods.Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatalf("pod with signed %s and init container %s: %v", app, init, err)
	}
	got, err := pods.Get(ctx, "pinned", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.Containers[0].Image != wantApp || got.Spec.InitContainers[0].Image != wantInit {
		t.Errorf("stored images %s and %s, want %s and %s", got.Spec.Containers[0].Image, got.Spec.InitContainers[0].Image, wantApp, wantInit)
	}

	// An unsigned init container is pinned too, and denied by that name.
	unsigned := push(t, "unsigned-init", false)
	wantUnsigned, err := pinned(ctx, unsigned)
	if err != nil {
		t.Fatal(err)
	}
	p = pod("pinned-unsigned-init", push(t, "app2", true))
	p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: unsigned}}
	_, err = pods.Create(ctx, p, metav1.CreateOptions{})
	expectDenied(t, err, denial(chartConstraint, notSigned(wantUnsigned)))
}

func TestVerifierTrustsTheCAOfItsConfigMap(t *testing.T) {
	r := installedChart(t)
	ctx := context.Background()
	v := &v1alpha1.Verifier{}
	if err := r.c.Get(ctx, client.ObjectKey{Name: "notation"}, v); err != nil {
		t.Fatal(err)
	}
	// The chart's Verifier names the ConfigMap, not the PEM.
	if !strings.Contains(string(v.Spec.Parameters.Raw), `"configMapKeyRef"`) {
		t.Fatalf("the chart's Verifier parameters hold no valueFrom: %s", v.Spec.Parameters.Raw)
	}
	// Its CA signed env.leaf: signed images are admitted (the other
	// tests), and the ConfigMap is what made the CA trusted: a ConfigMap
	// holding another CA makes the same kind of image untrusted once the
	// controllers read it again (every minute, or on any edit of a
	// verification object).
	other, err := notationtest.NewCA(notationtest.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{}
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: caConfigMap}, cm); err != nil {
		t.Fatal(err)
	}
	good := cm.Data["ca.pem"]
	cm.Data["ca.pem"] = notationtest.PEM(other.Root())
	if err := r.c.Update(ctx, cm); err != nil {
		t.Fatal(err)
	}
	// Put back: the ConfigMap, then the Policy (whose edit makes the
	// controllers read the ConfigMap again), then wait until signed
	// images are admitted again, for the tests after this one.
	t.Cleanup(func() {
		cm := &corev1.ConfigMap{}
		if err := r.c.Get(ctx, client.ObjectKey{Namespace: chartNamespace, Name: caConfigMap}, cm); err != nil {
			t.Error(err)
			return
		}
		cm.Data["ca.pem"] = good
		if err := r.c.Update(ctx, cm); err != nil {
			t.Error(err)
			return
		}
		p := &v1alpha1.Policy{}
		if err := r.c.Get(ctx, client.ObjectKey{Name: "signed"}, p); err != nil {
			t.Error(err)
			return
		}
		p.Spec.Rules[0].Mode = ""
		if err := r.c.Update(ctx, p); err != nil {
			t.Error(err)
			return
		}
		deadline := time.Now().Add(20 * time.Second) // a polling bound
		for i := 0; ; i++ {
			name := fmt.Sprintf("restored-ca-%d", i)
			if stored, _ := createIn(t, chartDefault, name, push(t, name, true)); stored {
				return
			}
			if time.Now().After(deadline) {
				t.Error("signed images are still denied after the ConfigMap was put back")
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	})
	// An edit of the Policy (a new generation) makes the controllers read
	// the ConfigMap now rather than at the next resync.
	p := &v1alpha1.Policy{}
	if err := r.c.Get(ctx, client.ObjectKey{Name: "signed"}, p); err != nil {
		t.Fatal(err)
	}
	p.Spec.Rules[0].Mode = v1alpha1.ModeAll
	if err := r.c.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	var last attempt
	deadline := time.Now().Add(20 * time.Second) // a polling bound
	for i := 0; ; i++ {
		last.name = fmt.Sprintf("other-ca-%d", i)
		last.image = push(t, last.name, true)
		var stored bool
		stored, last.err = createIn(t, chartDefault, last.name, last.image)
		if !stored && last.err != nil && strings.Contains(last.err.Error(), "SIGNATURE_UNTRUSTED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with another CA in the ConfigMap, pod %s with %s: %v (stored %v)", last.name, last.image, last.err, stored)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("with another CA in the ConfigMap: %v", last.err)
}

// leads reports whether a replica's log says it acquired the Lease.
func leads(s *servetest.Server) bool {
	return strings.Contains(s.Output(), `"Successfully acquired lease" lock="assay-chart/assay-status-writer"`)
}

func TestReplicasAllServeAndOneWritesStatus(t *testing.T) {
	r := installedChart(t)
	ctx := context.Background()
	second, err := runDeployment(ctx, chartNamespace, chartReleaseName, r.img, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(second.Stop)

	// Both answer Gatekeeper.
	signed := push(t, "signed", true)
	for i, s := range []*servetest.Server{r.srv, second} {
		resp, err := s.Post(ctx, "/v1/verify", "["+chartDefault+"]"+signed)
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
		if len(resp.Response.Items) != 1 || !strings.Contains(string(resp.Response.Items[0].Value), `"isSuccess":true`) {
			t.Errorf("replica %d answered %+v", i, resp.Response.Items)
		}
	}
	// The first holds the Lease; the second waits for it.
	if !leads(r.srv) || leads(second) {
		t.Fatalf("first leads %v, second leads %v; want the first only", leads(r.srv), leads(second))
	}

	// When the leader stops, the other takes the Lease and writes status:
	// a Policy edit no Verifier can satisfy is reported.
	r.srv.Stop()
	t.Cleanup(func() {
		srv, err := runDeployment(ctx, chartNamespace, chartReleaseName, r.img, 0)
		if err != nil {
			t.Errorf("restart replica 0: %v", err)
			return
		}
		r.srv = srv
	})
	stopped := time.Now()
	deadline := stopped.Add(30 * time.Second) // a polling bound
	for !leads(second) {
		if time.Now().After(deadline) {
			t.Fatalf("the second replica did not take the Lease:\n%s", second.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("the second replica took the Lease %s after the first stopped", time.Since(stopped).Round(100*time.Millisecond))
	p := &v1alpha1.Policy{}
	if err := r.c.Get(ctx, client.ObjectKey{Name: "signed"}, p); err != nil {
		t.Fatal(err)
	}
	good := p.Spec.DeepCopy()
	p.Spec.Rules = append(p.Spec.Rules, v1alpha1.PolicyRule{ArtifactType: "application/spdx+json", Required: true})
	if err := r.c.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p := &v1alpha1.Policy{}
		if err := r.c.Get(ctx, client.ObjectKey{Name: "signed"}, p); err == nil {
			p.Spec = *good
			_ = r.c.Update(ctx, p)
		}
	})
	waitReady(t, r.c, &v1alpha1.Policy{}, "signed", metav1.ConditionFalse, "Invalid", `no Verifier handles "application/spdx+json"`)
}
