package helm

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"maps"
	"math/big"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/apis/v1alpha1"
	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/config"
	"github.com/assayproj/assay/pkg/ociimage"
	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"
)

// valueSets are the configurations every generic check (RBAC, lint,
// security context) runs on. The CA PEMs are made by testCA.
func valueSets(t *testing.T) map[string]map[string]any {
	t.Helper()
	return map[string]map[string]any{
		"default values":                 nil,
		"cert-manager with the chart CA": {"tls": map[string]any{"certManager": map[string]any{"enabled": true}}},
		"an existing serving Secret":     {"tls": map[string]any{"existingSecret": "my-serving-cert", "caBundle": testCA(t)}},
		"mutual TLS off":                 {"mtls": map[string]any{"enabled": false}},
		"the built-in Redis":             {"redis": map[string]any{"enabled": true}},
		"three replicas":                 {"replicaCount": 3},
		"tag to digest mutation":         {"mutation": map[string]any{"enabled": true}},
		"the policy library":             {"library": map[string]any{"enabled": true}},
		"cluster config source":          {"config": map[string]any{"source": "cluster"}},
		"Ratify compatible Providers":    {"providers": map[string]any{"ratify": map[string]any{"enabled": true}}},
	}
}

func TestLintIsClean(t *testing.T) {
	for name, values := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			args := []string{"lint", "--strict", chartDir(t), "--namespace", namespace}
			if values != nil {
				args = append(args, "--values", valuesFile(t, values))
			}
			out, err := helm(t, args...)
			if err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "[WARNING]") || strings.Contains(line, "[ERROR]") {
					t.Errorf("helm lint: %s", line)
				}
			}
			if !strings.Contains(out, "0 chart(s) failed") {
				t.Errorf("helm lint did not report success:\n%s", out)
			}
		})
	}
}

func deployment(t *testing.T, m manifest) (appsv1.Deployment, corev1.Container) {
	t.Helper()
	var d appsv1.Deployment
	m.get(t, "Deployment", release).into(t, &d)
	for _, c := range d.Spec.Template.Spec.Containers {
		if c.Name == "assay" {
			return d, c
		}
	}
	t.Fatalf("Deployment %s has no container named assay", release)
	return d, corev1.Container{}
}

// flag returns the value following name in args, and whether name is
// there at all.
func flag(args []string, name string) (string, bool) {
	for i, a := range args {
		if a == name {
			if i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
				return args[i+1], true
			}
			return "", true
		}
	}
	return "", false
}

func TestDeploymentIsLockedDown(t *testing.T) {
	for name, values := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			d, c := deployment(t, render(t, values))
			pod := d.Spec.Template.Spec
			psc := pod.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 65532 {
				t.Errorf("pod securityContext %+v: want runAsNonRoot and runAsUser 65532", psc)
			}
			if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Errorf("pod seccompProfile: want RuntimeDefault")
			}
			sc := c.SecurityContext
			if sc == nil {
				t.Fatal("container has no securityContext")
			}
			if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser != 65532 {
				t.Errorf("container runAsNonRoot/runAsUser: want true/65532, got %v/%v", sc.RunAsNonRoot, sc.RunAsUser)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Error("container readOnlyRootFilesystem: want true")
			}
			if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
				t.Error("container allowPrivilegeEscalation: want false")
			}
			if sc.Privileged != nil && *sc.Privileged {
				t.Error("container is privileged")
			}
			if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
				t.Errorf("container capabilities %+v: want drop [ALL] and nothing added", sc.Capabilities)
			}
			if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
				t.Error("container seccompProfile: want RuntimeDefault")
			}

			probes := map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe}
			for path, p := range probes {
				if p == nil || p.HTTPGet == nil {
					t.Errorf("probe for %s: missing or not httpGet", path)
					continue
				}
				if p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "health" {
					t.Errorf("probe for %s: got path %s port %s", path, p.HTTPGet.Path, p.HTTPGet.Port.String())
				}
			}
			var health int32
			for _, p := range c.Ports {
				if p.Name == "health" {
					health = p.ContainerPort
				}
			}
			if health != 8081 {
				t.Errorf("container port health: want 8081, got %d", health)
			}
			if v, _ := flag(c.Args, "--health-listen"); v != ":8081" {
				t.Errorf("--health-listen %q: want :8081", v)
			}

			tmp := false
			for _, v := range pod.Volumes {
				if v.Name == "tmp" && v.EmptyDir != nil {
					tmp = true
				}
			}
			mounted := slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool {
				return m.Name == "tmp" && m.MountPath == "/tmp" && !m.ReadOnly
			})
			if !tmp || !mounted {
				t.Error("want a writable emptyDir mounted at /tmp")
			}
		})
	}
}

func TestDeploymentDefaults(t *testing.T) {
	m := render(t, nil)
	d, c := deployment(t, m)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas: want 1, got %v", d.Spec.Replicas)
	}
	if c.Image != "ghcr.io/assayproj/assay:0.1.0" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s (%s): want ghcr.io/assayproj/assay:<appVersion>, IfNotPresent", c.Image, c.ImagePullPolicy)
	}
	if c.Args[0] != "serve" || !slices.Equal(c.Command, []string{"assay"}) {
		t.Errorf("command %v args %v: want assay serve ...", c.Command, c.Args)
	}
	want := map[string]string{
		"--config":         "/etc/assay/config/assay.yaml",
		"--tls-cert":       "/etc/assay/tls/tls.crt",
		"--tls-key":        "/etc/assay/tls/tls.key",
		"--client-ca":      "/etc/assay/client-ca/ca.crt",
		"--verify-timeout": "3s",
		"--mutate-timeout": "1s",
		"--listen":         ":8443",
		"--plugin-dir":     "/usr/lib/assay/plugins",
		// the chart's default is serve's own
		"--max-requests": strconv.Itoa(config.Default().Serve.MaxRequests),
	}
	for name, v := range want {
		if got, ok := flag(c.Args, name); !ok || got != v {
			t.Errorf("%s: want %q, got %q (present %v)", name, v, got, ok)
		}
	}
	if _, ok := flag(c.Args, "--insecure-no-client-auth-unsafe"); ok {
		t.Error("--insecure-no-client-auth-unsafe passed with mtls.enabled")
	}
	if _, ok := flag(c.Args, "--redis-address"); ok {
		t.Error("--redis-address passed without Redis")
	}
	if got := c.Resources.Requests.Memory().String(); got != "128Mi" {
		t.Errorf("memory request %s: want 128Mi from values", got)
	}
	if got := c.Resources.Limits.Memory().String(); got != "256Mi" {
		t.Errorf("memory limit %s: want 256Mi, 12 × memory.budgetMiB + memory.cacheMiB + memory.baseMiB", got)
	}

	// Every mounted file the flags name comes from a volume.
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.MountPath] = vm.Name
	}
	vols := map[string]corev1.Volume{}
	for _, v := range d.Spec.Template.Spec.Volumes {
		vols[v.Name] = v
	}
	if v := vols[mounts["/etc/assay/config"]]; v.ConfigMap == nil || v.ConfigMap.Name != release+"-config" {
		t.Errorf("/etc/assay/config: want ConfigMap %s-config, got %+v", release, v)
	}
	if v := vols[mounts["/etc/assay/tls"]]; v.Secret == nil || v.Secret.SecretName != release+"-tls" {
		t.Errorf("/etc/assay/tls: want Secret %s-tls, got %+v", release, v)
	}
	if v := vols[mounts["/etc/assay/client-ca"]]; v.Secret == nil || v.Secret.SecretName != release+"-gatekeeper-ca" ||
		len(v.Secret.Items) != 1 || v.Secret.Items[0].Key != "ca.crt" || v.Secret.Items[0].Path != "ca.crt" {
		t.Errorf("/etc/assay/client-ca: want the copy of Gatekeeper's CA, Secret %s-gatekeeper-ca key ca.crt, got %+v", release, v)
	}
	if d.Spec.Template.Spec.ServiceAccountName != release {
		t.Errorf("serviceAccountName %q: want %q", d.Spec.Template.Spec.ServiceAccountName, release)
	}
	m.get(t, "ServiceAccount", release)

	var svc corev1.Service
	m.get(t, "Service", release).into(t, &svc)
	ports := map[string]int32{}
	for _, p := range svc.Spec.Ports {
		ports[p.Name] = p.Port
	}
	if !cmp.Equal(ports, map[string]int32{"https": 8443, "metrics": 8081}) {
		t.Errorf("Service ports %v: want https 8443 and metrics 8081", ports)
	}
	if !cmp.Equal(svc.Spec.Selector, d.Spec.Selector.MatchLabels) {
		t.Errorf("Service selector %v differs from the Deployment's %v", svc.Spec.Selector, d.Spec.Selector.MatchLabels)
	}
	for _, kind := range []string{"PodDisruptionBudget", "Assign", "ConstraintTemplate", "Store", "Verifier", "Policy"} {
		if objs := m.all(kind); len(objs) != 0 {
			t.Errorf("default values render %d %s objects, want none", len(objs), kind)
		}
	}
	if m.has("Deployment", release+"-redis") {
		t.Error("default values render Redis")
	}
}

// The memory limit follows the memory budget and the cache the chart
// passes to assay serve, unless the values set one.
func TestMemoryLimitFollowsTheBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		values map[string]any
		budget string
		cache  string
		limit  string
		goMem  string
	}{
		{"defaults", nil, "16777216", "16777216", "256Mi", "96MiB"},
		{"larger budget", map[string]any{"memory": map[string]any{"budgetMiB": 40, "cacheMiB": 64, "baseMiB": 48}}, "41943040", "67108864", "592Mi", "240MiB"},
		{"limit set", map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "1Gi"}}}, "16777216", "16777216", "1Gi", "96MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, c := deployment(t, render(t, tc.values))
			if got, _ := flag(c.Args, "--memory-budget"); got != tc.budget {
				t.Errorf("--memory-budget %q: want %q", got, tc.budget)
			}
			if got, _ := flag(c.Args, "--cache-bytes"); got != tc.cache {
				t.Errorf("--cache-bytes %q: want %q", got, tc.cache)
			}
			if got := c.Resources.Limits.Memory().String(); got != tc.limit {
				t.Errorf("memory limit %s: want %s", got, tc.limit)
			}
			if got := c.Resources.Requests.Memory().String(); got != "128Mi" {
				t.Errorf("memory request %s: want 128Mi from values", got)
			}
			var goMem []string
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					goMem = append(goMem, e.Value)
				}
			}
			if !slices.Equal(goMem, []string{tc.goMem}) {
				t.Errorf("GOMEMLIMIT %v: want [%s], 6 × memory.budgetMiB", goMem, tc.goMem)
			}
		})
	}
}

func TestReplicasAndDisruptionBudget(t *testing.T) {
	tests := map[string]struct {
		replicas int
		wantPDB  bool
	}{
		"one replica has no PodDisruptionBudget": {replicas: 1},
		"two replicas keep one available":        {replicas: 2, wantPDB: true},
		"three replicas keep one available":      {replicas: 3, wantPDB: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := render(t, map[string]any{"replicaCount": tc.replicas})
			d, _ := deployment(t, m)
			if d.Spec.Replicas == nil || int(*d.Spec.Replicas) != tc.replicas {
				t.Errorf("replicas: want %d, got %v", tc.replicas, d.Spec.Replicas)
			}
			pdbs := m.all("PodDisruptionBudget")
			if !tc.wantPDB {
				if len(pdbs) != 0 {
					t.Errorf("want no PodDisruptionBudget, got %d", len(pdbs))
				}
				return
			}
			if len(pdbs) != 1 {
				t.Fatalf("want one PodDisruptionBudget, got %d", len(pdbs))
			}
			var pdb policyv1.PodDisruptionBudget
			pdbs[0].into(t, &pdb)
			if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 1 {
				t.Errorf("minAvailable %v: want 1", pdb.Spec.MinAvailable)
			}
			if pdb.Spec.Selector == nil || !cmp.Equal(pdb.Spec.Selector.MatchLabels, d.Spec.Selector.MatchLabels) {
				t.Errorf("PodDisruptionBudget selector %v: want the Deployment's %v", pdb.Spec.Selector, d.Spec.Selector.MatchLabels)
			}
		})
	}
}

// provider is the part of a Gatekeeper Provider the tests read.
type provider struct {
	Spec struct {
		URL      string `json:"url"`
		Timeout  int    `json:"timeout"`
		CABundle string `json:"caBundle"`
	} `json:"spec"`
}

func providers(t *testing.T, m manifest) map[string]provider {
	t.Helper()
	ps := map[string]provider{}
	for _, o := range m.all("Provider") {
		if o.APIVersion != "externaldata.gatekeeper.sh/v1beta1" {
			t.Errorf("Provider %s: apiVersion %s", o.Name, o.APIVersion)
		}
		var p provider
		o.into(t, &p)
		ps[o.Name] = p
	}
	return ps
}

func TestProviders(t *testing.T) {
	base := "https://assay.assay-system:8443"
	tests := map[string]struct {
		values map[string]any
		want   map[string][2]any // name -> url, timeout
	}{
		"default values": {
			want: map[string][2]any{"assay": {base + "/v1/verify", 3}, "assay-mutate": {base + "/v1/mutate", 1}},
		},
		"Ratify compatible Providers and other timeouts": {
			values: map[string]any{"providers": map[string]any{
				"ratify": map[string]any{"enabled": true},
				"verify": map[string]any{"timeout": 5},
				"mutate": map[string]any{"timeout": 2},
			}},
			want: map[string][2]any{
				"assay":        {base + "/v1/verify", 5},
				"assay-mutate": {base + "/v1/mutate", 2},
				// The names Ratify v1.4's templates and Assign mutators call.
				"ratify-provider":          {base + "/ratify/gatekeeper/v1/verify", 5},
				"ratify-mutation-provider": {base + "/ratify/gatekeeper/v1/mutate", 2},
			},
		},
		"a base URL for an Assay reached another way": {
			values: map[string]any{"providers": map[string]any{"baseURL": "https://10.0.0.7:9443/"}},
			want: map[string][2]any{
				"assay":        {"https://10.0.0.7:9443/v1/verify", 3},
				"assay-mutate": {"https://10.0.0.7:9443/v1/mutate", 1},
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := render(t, tc.values)
			got := map[string][2]any{}
			for n, p := range providers(t, m) {
				got[n] = [2]any{p.Spec.URL, p.Spec.Timeout}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Providers (-want +got):\n%s", diff)
			}
			// assay serve's budgets follow the Providers' timeouts.
			_, c := deployment(t, m)
			for flagName, provName := range map[string]string{"--verify-timeout": "assay", "--mutate-timeout": "assay-mutate"} {
				v, _ := flag(c.Args, flagName)
				if want := time.Duration(tc.want[provName][1].(int)) * time.Second; v != want.String() {
					t.Errorf("%s %q: want %s, the timeout of Provider %s", flagName, v, want, provName)
				}
			}
		})
	}
}

// TestRatifyProvidersHaveTheNamesRatifyCalls pins the default names of
// the Ratify compatible Providers: Ratify v1.4's ConstraintTemplates call
// "ratify-provider" and its Assign mutators "ratify-mutation-provider";
// under any other name Gatekeeper denies every Pod with "key is not found
// in provider cache".
func TestRatifyProvidersHaveTheNamesRatifyCalls(t *testing.T) {
	ps := providers(t, render(t, map[string]any{"providers": map[string]any{"ratify": map[string]any{"enabled": true}}}))
	for name, path := range map[string]string{"ratify-provider": "/ratify/gatekeeper/v1/verify", "ratify-mutation-provider": "/ratify/gatekeeper/v1/mutate"} {
		p, ok := ps[name]
		if !ok {
			t.Errorf("no Provider %s among %v", name, slices.Sorted(maps.Keys(ps)))
			continue
		}
		if !strings.HasSuffix(p.Spec.URL, path) {
			t.Errorf("Provider %s has url %s, want one ending in %s", name, p.Spec.URL, path)
		}
	}
}

func parseCert(t *testing.T, what string, data []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s is not a PEM certificate: %q", what, data)
	}
	if len(strings.TrimSpace(string(rest))) != 0 {
		t.Fatalf("%s has data after its first certificate", what)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return cert
}

func caBundle(t *testing.T, m manifest) []byte {
	t.Helper()
	ps := providers(t, m)
	if len(ps) == 0 {
		t.Fatal("no Provider rendered")
	}
	var bundle string
	for name, p := range ps {
		if bundle == "" {
			bundle = p.Spec.CABundle
		}
		if p.Spec.CABundle != bundle {
			t.Errorf("Provider %s has another caBundle than the others", name)
		}
	}
	pemData, err := base64.StdEncoding.DecodeString(bundle)
	if err != nil {
		t.Fatalf("caBundle is not base64: %v", err)
	}
	return pemData
}

func TestGeneratedCertificateIsSignedByTheProvidersCABundle(t *testing.T) {
	for name, ns := range map[string]string{"in assay-system": namespace, "in another namespace": "security"} {
		t.Run(name, func(t *testing.T) {
			m := renderIn(t, ns, map[string]any{"providers": map[string]any{"ratify": map[string]any{"enabled": true}}})
			caPEM := caBundle(t, m)
			ca := parseCert(t, "caBundle", caPEM)
			if !ca.IsCA || !ca.BasicConstraintsValid {
				t.Errorf("caBundle certificate %s is not a CA", ca.Subject)
			}

			var secret corev1.Secret
			m.get(t, "Secret", release+"-tls").into(t, &secret)
			if secret.Type != corev1.SecretTypeTLS {
				t.Errorf("Secret type %s: want kubernetes.io/tls", secret.Type)
			}
			if string(secret.Data["ca.crt"]) != string(caPEM) {
				t.Error("Secret ca.crt differs from the Providers' caBundle")
			}
			if _, err := tls.X509KeyPair(secret.Data["tls.crt"], secret.Data["tls.key"]); err != nil {
				t.Errorf("tls.crt and tls.key are not a key pair: %v", err)
			}
			leaf := parseCert(t, "tls.crt", secret.Data["tls.crt"])
			if leaf.IsCA {
				t.Error("the serving certificate is a CA")
			}
			roots := x509.NewCertPool()
			roots.AddCert(ca)

			// Gatekeeper dials the Provider URL and checks the certificate
			// against its host; the in-cluster names must verify too.
			u, err := url.Parse(providers(t, m)["assay"].Spec.URL)
			if err != nil {
				t.Fatal(err)
			}
			hosts := []string{u.Hostname(), "assay." + ns + ".svc", "assay." + ns + ".svc.cluster.local"}
			if u.Hostname() != "assay."+ns {
				t.Errorf("Provider host %s: want assay.%s", u.Hostname(), ns)
			}
			for _, host := range hosts {
				_, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
				if err != nil {
					t.Errorf("serving certificate for %s does not verify against the caBundle: %v", host, err)
				}
			}
			other := x509.NewCertPool()
			other.AddCert(parseCert(t, "test CA", []byte(testCA(t))))
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: u.Hostname(), Roots: other}); err == nil {
				t.Error("serving certificate verifies against an unrelated CA")
			}
		})
	}
}

func TestServingCertificateNamesExtraHosts(t *testing.T) {
	values := map[string]any{"tls": map[string]any{
		"extraDNSNames": []any{"assay.example.com"},
		"ipAddresses":   []any{"127.0.0.1", "10.0.0.7"},
	}}
	t.Run("generated", func(t *testing.T) {
		m := render(t, values)
		roots := x509.NewCertPool()
		roots.AddCert(parseCert(t, "caBundle", caBundle(t, m)))
		var secret corev1.Secret
		m.get(t, "Secret", release+"-tls").into(t, &secret)
		leaf := parseCert(t, "tls.crt", secret.Data["tls.crt"])
		for _, host := range []string{"assay.example.com", "127.0.0.1", "10.0.0.7", "assay.assay-system.svc"} {
			if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: roots}); err != nil {
				t.Errorf("serving certificate for %s: %v", host, err)
			}
		}
		if _, err := leaf.Verify(x509.VerifyOptions{DNSName: "10.0.0.8", Roots: roots}); err == nil {
			t.Error("serving certificate verifies for 10.0.0.8, which it was not issued for")
		}
	})
	t.Run("cert-manager", func(t *testing.T) {
		values := map[string]any{"tls": map[string]any{
			"extraDNSNames": []any{"assay.example.com"},
			"ipAddresses":   []any{"127.0.0.1"},
			"certManager":   map[string]any{"enabled": true},
		}}
		m := render(t, values)
		var cert struct {
			Spec struct {
				DNSNames    []string `json:"dnsNames"`
				IPAddresses []string `json:"ipAddresses"`
			} `json:"spec"`
		}
		m.get(t, "Certificate", release).into(t, &cert)
		if !slices.Contains(cert.Spec.DNSNames, "assay.example.com") || !slices.Contains(cert.Spec.DNSNames, "assay.assay-system.svc") {
			t.Errorf("Certificate dnsNames %v: want the Service's names and assay.example.com", cert.Spec.DNSNames)
		}
		if diff := cmp.Diff([]string{"127.0.0.1"}, cert.Spec.IPAddresses); diff != "" {
			t.Errorf("Certificate ipAddresses (-want +got):\n%s", diff)
		}
	})
}

func TestCertManager(t *testing.T) {
	t.Run("with the chart's CA", func(t *testing.T) {
		m := render(t, map[string]any{"tls": map[string]any{"certManager": map[string]any{"enabled": true}}})
		if m.has("Secret", release+"-tls") {
			t.Error("the chart renders the serving Secret although cert-manager writes it")
		}
		var caSecret corev1.Secret
		m.get(t, "Secret", release+"-ca").into(t, &caSecret)
		caPEM := caBundle(t, m)
		if string(caSecret.Data["tls.crt"]) != string(caPEM) {
			t.Error("the CA Issuer's Secret holds another CA than the Providers' caBundle")
		}
		if _, err := tls.X509KeyPair(caSecret.Data["tls.crt"], caSecret.Data["tls.key"]); err != nil {
			t.Errorf("CA Secret is not a key pair: %v", err)
		}
		if ca := parseCert(t, "CA", caPEM); !ca.IsCA {
			t.Error("the CA Secret's certificate is not a CA")
		}
		issuer := m.get(t, "Issuer", release).fields(t)
		if got := dig(issuer, "spec", "ca", "secretName"); got != release+"-ca" {
			t.Errorf("Issuer spec.ca.secretName %v: want %s-ca", got, release)
		}
		cert := m.get(t, "Certificate", release).fields(t)
		checkCertificate(t, cert, map[string]any{"name": release, "kind": "Issuer", "group": "cert-manager.io"})
	})
	t.Run("with an issuer of one's own", func(t *testing.T) {
		ca := testCA(t)
		m := render(t, map[string]any{"tls": map[string]any{
			"caBundle":    ca,
			"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "corp", "kind": "ClusterIssuer"}},
		}})
		if m.has("Issuer", release) || m.has("Secret", release+"-ca") {
			t.Error("the chart renders its own CA Issuer although issuerRef is set")
		}
		if string(caBundle(t, m)) != ca {
			t.Error("caBundle is not tls.caBundle")
		}
		checkCertificate(t, m.get(t, "Certificate", release).fields(t), map[string]any{"name": "corp", "kind": "ClusterIssuer", "group": "cert-manager.io"})
	})
	t.Run("an issuer of one's own needs its CA", func(t *testing.T) {
		out := renderFails(t, map[string]any{"tls": map[string]any{"certManager": map[string]any{"enabled": true, "issuerRef": map[string]any{"name": "corp"}}}})
		if !strings.Contains(out, "tls.caBundle") {
			t.Errorf("error does not say to set tls.caBundle:\n%s", out)
		}
	})
}

func checkCertificate(t *testing.T, cert map[string]any, issuerRef map[string]any) {
	t.Helper()
	if got := dig(cert, "spec", "secretName"); got != release+"-tls" {
		t.Errorf("Certificate secretName %v: want %s-tls, which the Deployment mounts", got, release)
	}
	var names []string
	for _, n := range dig(cert, "spec", "dnsNames").([]any) {
		names = append(names, n.(string))
	}
	want := []string{"assay", "assay.assay-system", "assay.assay-system.svc", "assay.assay-system.svc.cluster.local"}
	if !slices.Equal(names, want) {
		t.Errorf("Certificate dnsNames %v: want %v", names, want)
	}
	if diff := cmp.Diff(issuerRef, dig(cert, "spec", "issuerRef")); diff != "" {
		t.Errorf("Certificate issuerRef (-want +got):\n%s", diff)
	}
}

func TestExistingSecret(t *testing.T) {
	ca := testCA(t)
	m := render(t, map[string]any{"tls": map[string]any{"existingSecret": "my-serving-cert", "caBundle": ca}})
	if m.has("Secret", release+"-tls") || len(m.all("Certificate")) != 0 {
		t.Error("the chart renders serving material although tls.existingSecret is set")
	}
	if string(caBundle(t, m)) != ca {
		t.Error("caBundle is not tls.caBundle")
	}
	d, _ := deployment(t, m)
	found := false
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.Name == "tls" && v.Secret != nil && v.Secret.SecretName == "my-serving-cert" {
			found = true
		}
	}
	if !found {
		t.Error("the Deployment does not mount tls.existingSecret")
	}

	out := renderFails(t, map[string]any{"tls": map[string]any{"existingSecret": "my-serving-cert"}})
	if !strings.Contains(out, "tls.caBundle") {
		t.Errorf("without tls.caBundle the error does not say to set it:\n%s", out)
	}
}

func TestClientCA(t *testing.T) {
	t.Run("copied from gatekeeper.caBundle", func(t *testing.T) {
		ca := testCA(t)
		m := render(t, map[string]any{"gatekeeper": map[string]any{"caBundle": ca}})
		var s corev1.Secret
		m.get(t, "Secret", release+"-gatekeeper-ca").into(t, &s)
		if string(s.Data["ca.crt"]) != ca {
			t.Error("the copied client CA is not gatekeeper.caBundle")
		}
	})
	t.Run("mounted directly when Gatekeeper's Secret is in the release namespace", func(t *testing.T) {
		m := renderIn(t, "gatekeeper-system", nil)
		if m.has("Secret", release+"-gatekeeper-ca") {
			t.Error("a copy of the CA is rendered although the Secret can be mounted")
		}
		d, c := deployment(t, m)
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != "client-ca" {
				continue
			}
			if v.Secret == nil || v.Secret.SecretName != "gatekeeper-webhook-server-cert" || len(v.Secret.Items) != 1 ||
				v.Secret.Items[0].Key != "ca.crt" || v.Secret.Items[0].Path != "ca.crt" {
				t.Errorf("client-ca volume %+v: want Secret gatekeeper-webhook-server-cert key ca.crt", v)
			}
		}
		if v, _ := flag(c.Args, "--client-ca"); v != "/etc/assay/client-ca/ca.crt" {
			t.Errorf("--client-ca %q", v)
		}
	})
	t.Run("mutual TLS off", func(t *testing.T) {
		m := render(t, map[string]any{"mtls": map[string]any{"enabled": false}})
		d, c := deployment(t, m)
		if _, ok := flag(c.Args, "--insecure-no-client-auth-unsafe"); !ok {
			t.Error("--insecure-no-client-auth-unsafe missing with mtls.enabled=false")
		}
		if _, ok := flag(c.Args, "--client-ca"); ok {
			t.Error("--client-ca passed with mtls.enabled=false")
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == "client-ca" {
				t.Error("client CA mounted with mtls.enabled=false")
			}
		}
	})
}

// notes renders NOTES.txt for values. `helm template` leaves NOTES.txt
// out and `helm install --dry-run` needs a cluster, so a copy of the
// chart gets one more template that renders NOTES.txt (copied into files/)
// with tpl, as the engine renders it, into a ConfigMap.
func notes(t *testing.T, values map[string]any) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "assay")
	if err := os.CopyFS(dir, os.DirFS(chartDir(t))); err != nil {
		t.Fatalf("copy the chart: %v", err)
	}
	text, err := os.ReadFile(filepath.Join(dir, "templates", "NOTES.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "files", "notes-under-test.txt"), text, 0o600); err != nil {
		t.Fatal(err)
	}
	shim := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes-under-test\ndata:\n  notes: {{ tpl (.Files.Get \"files/notes-under-test.txt\") . | toJson }}\n"
	if err := os.WriteFile(filepath.Join(dir, "templates", "notes-under-test.yaml"), []byte(shim), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"template", release, dir, "--namespace", namespace, "--show-only", "templates/notes-under-test.yaml"}
	if values != nil {
		args = append(args, "--values", valuesFile(t, values))
	}
	out, err := helm(t, args...)
	if err != nil {
		t.Fatalf("helm template of NOTES.txt: %v\n%s", err, out)
	}
	var cm corev1.ConfigMap
	decodeManifest(t, out).get(t, "ConfigMap", "notes-under-test").into(t, &cm)
	return cm.Data["notes"]
}

func TestNotes(t *testing.T) {
	tests := map[string]struct {
		values map[string]any
		want   []string
		not    []string
	}{
		"default values": {
			want: []string{
				"assay  https://assay.assay-system:8443/v1/verify  (timeout 3s)",
				"assay-mutate  https://assay.assay-system:8443/v1/mutate  (timeout 1s)",
				"WARNING: Gatekeeper's CA was not found",
				"config.policies is empty",
			},
			not: []string{"mtls.enabled=false", "config.source=cluster"},
		},
		"mutual TLS off": {
			values: map[string]any{"mtls": map[string]any{"enabled": false}},
			want:   []string{"WARNING: mtls.enabled=false", "--insecure-no-client-auth-unsafe", "accepts every client"},
			not:    []string{"Gatekeeper's CA was not found"},
		},
		"Gatekeeper's CA given": {
			values: map[string]any{"gatekeeper": map[string]any{"caBundle": testCA(t)}},
			want:   []string{"copied from the gatekeeper.caBundle value", "run\n`helm upgrade` again"},
			not:    []string{"not found"},
		},
		"cluster source": {
			values: map[string]any{"config": map[string]any{"source": "cluster"}},
			want:   []string{"config.source=cluster", "condition Ready"},
			not:    []string{"config.policies is empty"},
		},
		"mutation": {
			values: map[string]any{"mutation": map[string]any{"enabled": true}},
			want:   []string{"except in namespaces\nkube-system, gatekeeper-system, assay-system."},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			n := notes(t, tc.values)
			for _, s := range tc.want {
				if !strings.Contains(n, s) {
					t.Errorf("NOTES lack %q:\n%s", s, n)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(n, s) {
					t.Errorf("NOTES contain %q:\n%s", s, n)
				}
			}
		})
	}
}

func TestRedis(t *testing.T) {
	t.Run("built in", func(t *testing.T) {
		m := render(t, map[string]any{"redis": map[string]any{"enabled": true}, "replicaCount": 2})
		name := release + "-redis"
		var rd appsv1.Deployment
		m.get(t, "Deployment", name).into(t, &rd)
		var rs corev1.Service
		m.get(t, "Service", name).into(t, &rs)
		var secret corev1.Secret
		m.get(t, "Secret", name).into(t, &secret)
		if len(secret.Data["password"]) < 32 {
			t.Errorf("Redis password has %d bytes, want a generated one of 32", len(secret.Data["password"]))
		}
		_, c := deployment(t, m)
		if v, _ := flag(c.Args, "--redis-address"); v != name+".assay-system.svc:6379" {
			t.Errorf("--redis-address %q: want %s.assay-system.svc:6379", v, name)
		}
		env := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "ASSAY_CACHE_REDIS_PASSWORD" })
		if env < 0 || c.Env[env].ValueFrom == nil || c.Env[env].ValueFrom.SecretKeyRef == nil ||
			c.Env[env].ValueFrom.SecretKeyRef.Name != name || c.Env[env].ValueFrom.SecretKeyRef.Key != "password" {
			t.Errorf("ASSAY_CACHE_REDIS_PASSWORD: want it from Secret %s key password, env %+v", name, c.Env)
		}
		redis := rd.Spec.Template.Spec
		if redis.SecurityContext == nil || redis.SecurityContext.RunAsNonRoot == nil || !*redis.SecurityContext.RunAsNonRoot {
			t.Error("Redis does not run as non-root")
		}
		rc := redis.Containers[0]
		if rc.SecurityContext == nil || rc.SecurityContext.ReadOnlyRootFilesystem == nil || !*rc.SecurityContext.ReadOnlyRootFilesystem ||
			rc.SecurityContext.AllowPrivilegeEscalation == nil || *rc.SecurityContext.AllowPrivilegeEscalation {
			t.Error("Redis container: want readOnlyRootFilesystem and no privilege escalation")
		}
		if !slices.Contains(rc.Args, "--requirepass") {
			t.Errorf("Redis runs without a password: %v", rc.Args)
		}

		// The Assay Service, Deployment and PDB must not select Redis's pods.
		var svc corev1.Service
		m.get(t, "Service", release).into(t, &svc)
		if selects(svc.Spec.Selector, rd.Spec.Template.Labels) {
			t.Errorf("Service %s selects the Redis pods (%v)", release, rd.Spec.Template.Labels)
		}
		var pdb policyv1.PodDisruptionBudget
		m.get(t, "PodDisruptionBudget", release).into(t, &pdb)
		if selects(pdb.Spec.Selector.MatchLabels, rd.Spec.Template.Labels) {
			t.Error("the PodDisruptionBudget selects the Redis pods")
		}
		if !selects(rs.Spec.Selector, rd.Spec.Template.Labels) {
			t.Error("the Redis Service does not select the Redis pods")
		}
	})
	t.Run("external", func(t *testing.T) {
		m := render(t, map[string]any{"redis": map[string]any{
			"address":                "redis.cache:6379",
			"existingPasswordSecret": map[string]any{"name": "redis-auth", "key": "pw"},
		}})
		if m.has("Deployment", release+"-redis") {
			t.Error("the built-in Redis is rendered with redis.address")
		}
		_, c := deployment(t, m)
		if v, _ := flag(c.Args, "--redis-address"); v != "redis.cache:6379" {
			t.Errorf("--redis-address %q: want redis.cache:6379", v)
		}
		i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "ASSAY_CACHE_REDIS_PASSWORD" })
		if i < 0 || c.Env[i].ValueFrom.SecretKeyRef.Name != "redis-auth" || c.Env[i].ValueFrom.SecretKeyRef.Key != "pw" {
			t.Errorf("ASSAY_CACHE_REDIS_PASSWORD: want Secret redis-auth key pw, env %+v", c.Env)
		}
	})
	t.Run("not both", func(t *testing.T) {
		renderFails(t, map[string]any{"redis": map[string]any{"enabled": true, "address": "redis.cache:6379"}})
	})
}

func selects(selector, labels map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return len(selector) > 0
}

// assign is the part of a Gatekeeper Assign the tests read.
type assign struct {
	Spec struct {
		ApplyTo []struct {
			Groups   []string `json:"groups"`
			Kinds    []string `json:"kinds"`
			Versions []string `json:"versions"`
		} `json:"applyTo"`
		Match struct {
			Scope              string   `json:"scope"`
			ExcludedNamespaces []string `json:"excludedNamespaces"`
			Namespaces         []string `json:"namespaces"`
		} `json:"match"`
		Location   string `json:"location"`
		Parameters struct {
			Assign struct {
				ExternalData struct {
					Provider      string `json:"provider"`
					DataSource    string `json:"dataSource"`
					FailurePolicy string `json:"failurePolicy"`
				} `json:"externalData"`
			} `json:"assign"`
		} `json:"parameters"`
	} `json:"spec"`
}

func TestMutationAssigns(t *testing.T) {
	tests := map[string]struct {
		ns            string
		values        map[string]any
		wantExcluded  []string
		wantOnly      []string
		wantPolicy    string
		wantPolicyArg string
	}{
		"defaults": {
			ns:           namespace,
			values:       map[string]any{"mutation": map[string]any{"enabled": true}},
			wantExcluded: []string{"kube-system", "gatekeeper-system", "assay-system"},
			wantPolicy:   "Fail",
		},
		"another Gatekeeper and release namespace and Ignore and one more exclusion": {
			ns: "security",
			values: map[string]any{
				"gatekeeper": map[string]any{"namespace": "opa"},
				"mutation":   map[string]any{"enabled": true, "failurePolicy": "Ignore", "excludedNamespaces": []string{"legacy-*"}},
			},
			wantExcluded: []string{"kube-system", "opa", "security", "legacy-*"},
			wantPolicy:   "Ignore",
		},
		"only some namespaces, for a gradual rollout": {
			ns:           namespace,
			values:       map[string]any{"mutation": map[string]any{"enabled": true, "namespaces": []string{"team-a", "canary-*"}}},
			wantExcluded: []string{"kube-system", "gatekeeper-system", "assay-system"},
			wantOnly:     []string{"team-a", "canary-*"},
			wantPolicy:   "Fail",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			m := renderIn(t, tc.ns, tc.values)
			locations := map[string]bool{}
			for _, o := range m.all("Assign") {
				if o.APIVersion != "mutations.gatekeeper.sh/v1" {
					t.Errorf("Assign %s apiVersion %s", o.Name, o.APIVersion)
				}
				var a assign
				o.into(t, &a)
				locations[a.Spec.Location] = true
				ed := a.Spec.Parameters.Assign.ExternalData
				if ed.Provider != "assay-mutate" || ed.DataSource != "ValueAtLocation" || ed.FailurePolicy != tc.wantPolicy {
					t.Errorf("Assign %s externalData %+v: want provider assay-mutate, ValueAtLocation, %s", o.Name, ed, tc.wantPolicy)
				}
				for _, ns := range tc.wantExcluded {
					if !slices.Contains(a.Spec.Match.ExcludedNamespaces, ns) {
						t.Errorf("Assign %s does not exclude namespace %s (excludes %v)", o.Name, ns, a.Spec.Match.ExcludedNamespaces)
					}
				}
				if !slices.Equal(a.Spec.Match.Namespaces, tc.wantOnly) {
					t.Errorf("Assign %s matches namespaces %v, want %v", o.Name, a.Spec.Match.Namespaces, tc.wantOnly)
				}
				if a.Spec.Match.Scope != "Namespaced" || len(a.Spec.ApplyTo) != 1 || !slices.Equal(a.Spec.ApplyTo[0].Kinds, []string{"Pod"}) {
					t.Errorf("Assign %s applies to %+v in scope %q: want Pods, Namespaced", o.Name, a.Spec.ApplyTo, a.Spec.Match.Scope)
				}
			}
			want := map[string]bool{
				"spec.containers[name:*].image":          true,
				"spec.initContainers[name:*].image":      true,
				"spec.ephemeralContainers[name:*].image": true,
			}
			if diff := cmp.Diff(want, locations); diff != "" {
				t.Errorf("Assign locations (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRBACIsLeastPrivilege(t *testing.T) {
	type rule struct{ Group, Resource, Verbs string }
	wantCluster := []rule{
		{"config.assay.dev", "stores", "get,list,watch"},
		{"config.assay.dev", "verifiers", "get,list,watch"},
		{"config.assay.dev", "policies", "get,list,watch"},
		{"config.assay.dev", "namespacedstores", "get,list,watch"},
		{"config.assay.dev", "namespacedverifiers", "get,list,watch"},
		{"config.assay.dev", "namespacedpolicies", "get,list,watch"},
		{"config.assay.dev", "stores/status", "update"},
		{"config.assay.dev", "verifiers/status", "update"},
		{"config.assay.dev", "policies/status", "update"},
		{"config.assay.dev", "namespacedstores/status", "update"},
		{"config.assay.dev", "namespacedverifiers/status", "update"},
		{"config.assay.dev", "namespacedpolicies/status", "update"},
		{"", "events", "create,patch"},
	}
	wantNamespaced := []rule{
		{"", "secrets", "get"},
		{"", "configmaps", "get"},
		{"coordination.k8s.io", "leases", "get,create,update"},
	}
	flatten := func(t *testing.T, what string, rules []rbacv1.PolicyRule) []rule {
		var out []rule
		for _, r := range rules {
			for _, field := range [][]string{r.APIGroups, r.Resources, r.Verbs, r.ResourceNames} {
				if slices.Contains(field, "*") {
					t.Errorf("%s has a wildcard: %+v", what, r)
				}
			}
			if len(r.NonResourceURLs) != 0 {
				t.Errorf("%s grants non-resource URLs: %+v", what, r)
			}
			for _, g := range r.APIGroups {
				for _, res := range r.Resources {
					out = append(out, rule{g, res, strings.Join(r.Verbs, ",")})
				}
			}
		}
		return out
	}
	for name, values := range valueSets(t) {
		t.Run(name, func(t *testing.T) {
			m := render(t, values)
			var cr rbacv1.ClusterRole
			m.get(t, "ClusterRole", release).into(t, &cr)
			if len(m.all("ClusterRole")) != 1 || len(m.all("Role")) != 1 {
				t.Errorf("want one ClusterRole and one Role, got %d and %d", len(m.all("ClusterRole")), len(m.all("Role")))
			}
			got := flatten(t, "ClusterRole", cr.Rules)
			for _, r := range got {
				if r.Resource == "secrets" {
					t.Errorf("the ClusterRole grants cluster-wide Secrets access: %+v", r)
				}
			}
			if diff := cmp.Diff(wantCluster, got); diff != "" {
				t.Errorf("ClusterRole rules (-want +got):\n%s", diff)
			}
			var role rbacv1.Role
			m.get(t, "Role", release).into(t, &role)
			if role.Namespace != namespace {
				t.Errorf("Role namespace %q: want the release namespace", role.Namespace)
			}
			if diff := cmp.Diff(wantNamespaced, flatten(t, "Role", role.Rules)); diff != "" {
				t.Errorf("Role rules (-want +got):\n%s", diff)
			}
			var crb rbacv1.ClusterRoleBinding
			m.get(t, "ClusterRoleBinding", release).into(t, &crb)
			var rb rbacv1.RoleBinding
			m.get(t, "RoleBinding", release).into(t, &rb)
			for what, b := range map[string]struct {
				ref  rbacv1.RoleRef
				subs []rbacv1.Subject
			}{"ClusterRoleBinding": {crb.RoleRef, crb.Subjects}, "RoleBinding": {rb.RoleRef, rb.Subjects}} {
				want := []rbacv1.Subject{{Kind: "ServiceAccount", Name: release, Namespace: namespace}}
				if diff := cmp.Diff(want, b.subs); diff != "" || b.ref.Name != release {
					t.Errorf("%s binds %v to %v: want only the chart's ServiceAccount to %s", what, b.ref, b.subs, release)
				}
			}
		})
	}
}

func TestSchemaRejectsBadValues(t *testing.T) {
	tests := map[string][]string{
		"replicaCount is a string":     {"--set", "replicaCount=three"},
		"config.source is unknown":     {"--set", "config.source=etcd"},
		"failurePolicy is unknown":     {"--set", "mutation.failurePolicy=Sometimes"},
		"a Provider timeout of 0":      {"--set", "providers.verify.timeout=0"},
		"a misspelt top-level value":   {"--set", "replicas=2"},
		"a log level assay lacks":      {"--set", "log.level=trace"},
		"a plain HTTP base URL":        {"--set", "providers.baseURL=http://10.0.0.7:8443"},
		"a base URL with a path":       {"--set", "providers.baseURL=https://10.0.0.7:8443/assay"},
		"an IP address that is not":    {"--set", "tls.ipAddresses[0]=localhost"},
		"a constraint of another kind": {"--set", "constraints[0].kind=K8sRequiredLabels,constraints[0].name=x"},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) {
			out := renderFails(t, nil, args...)
			if !strings.Contains(out, "values don't meet the specifications of the schema") {
				t.Errorf("helm failed, but not on the schema:\n%s", out)
			}
		})
	}
	t.Run("replicaCount three names the value", func(t *testing.T) {
		out := renderFails(t, nil, "--set", "replicaCount=three")
		if !strings.Contains(out, "replicaCount") {
			t.Errorf("the error does not name replicaCount:\n%s", out)
		}
	})
}

// TestCopiesMatchTheirSources fails when crds/ or library/ changed and
// `make chart-sync` was not run.
func TestCopiesMatchTheirSources(t *testing.T) {
	root := repoRoot(t)
	pairs := map[string]string{} // copy -> source
	crds, err := filepath.Glob(filepath.Join(root, "crds", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("no CRDs in crds/ (%v)", err)
	}
	for _, src := range crds {
		pairs[filepath.Join(chartDir(t), "crds", filepath.Base(src))] = src
	}
	templates, err := filepath.Glob(filepath.Join(root, "library", "*", "template.yaml"))
	if err != nil || len(templates) == 0 {
		t.Fatalf("no templates in library/ (%v)", err)
	}
	for _, src := range templates {
		pairs[filepath.Join(chartDir(t), "files", "library", filepath.Base(filepath.Dir(src))+".yaml")] = src
	}
	for dst, src := range pairs {
		want, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Errorf("%s is missing (copy of %s); run `make chart-sync`", rel(root, dst), rel(root, src))
			continue
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from %s; run `make chart-sync`", rel(root, dst), rel(root, src))
		}
	}
	for _, dir := range []string{filepath.Join(chartDir(t), "crds"), filepath.Join(chartDir(t), "files", "library")} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if _, ok := pairs[filepath.Join(dir, e.Name())]; !ok {
				t.Errorf("%s has no source any more; run `make chart-sync`", rel(root, filepath.Join(dir, e.Name())))
			}
		}
	}
}

func rel(root, path string) string {
	r, err := filepath.Rel(root, path)
	if err != nil {
		return path
	}
	return r
}

func TestLibraryTemplates(t *testing.T) {
	m := render(t, map[string]any{"library": map[string]any{"enabled": true}})
	got := map[string]any{}
	for _, o := range m.all("ConstraintTemplate") {
		got[o.Name] = o.fields(t)
	}
	want := map[string]any{}
	templates, err := filepath.Glob(filepath.Join(repoRoot(t), "library", "*", "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range templates {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var tmpl map[string]any
		if err := yaml.Unmarshal(data, &tmpl); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		want[dig(tmpl, "metadata", "name").(string)] = tmpl
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("rendered ConstraintTemplates differ from library/ (-want +got):\n%s", diff)
	}
}

func TestConstraints(t *testing.T) {
	m := render(t, map[string]any{"constraints": []any{
		map[string]any{"kind": "AssayVerifiedImages", "name": "verified-images", "enforcementAction": "deny", "parameters": map[string]any{"provider": "assay"}},
		map[string]any{"kind": "AssayVulnerabilityReport", "name": "scanned", "match": map[string]any{"namespaces": []any{"prod"}}},
	}})
	c := m.get(t, "AssayVerifiedImages", "verified-images").fields(t)
	if c["apiVersion"] != "constraints.gatekeeper.sh/v1beta1" || dig(c, "spec", "enforcementAction") != "deny" || dig(c, "spec", "parameters", "provider") != "assay" {
		t.Errorf("constraint verified-images: %v", c)
	}
	wantMatch := map[string]any{
		"kinds":              []any{map[string]any{"apiGroups": []any{""}, "kinds": []any{"Pod"}}},
		"excludedNamespaces": []any{"kube-system", "gatekeeper-system", "assay-system"},
	}
	if diff := cmp.Diff(wantMatch, dig(c, "spec", "match")); diff != "" {
		t.Errorf("default match (-want +got):\n%s", diff)
	}
	s := m.get(t, "AssayVulnerabilityReport", "scanned").fields(t)
	if diff := cmp.Diff(map[string]any{"namespaces": []any{"prod"}}, dig(s, "spec", "match")); diff != "" {
		t.Errorf("given match (-want +got):\n%s", diff)
	}
}

// configValues is a Store, a notation Verifier and a Policy, as a user
// would give them.
var configValues = map[string]any{
	"stores": []any{map[string]any{"name": "default", "spec": map[string]any{
		"registries": []any{map[string]any{"host": "registry.example.com"}},
	}}},
	"verifiers": []any{map[string]any{"name": "notation", "spec": map[string]any{
		"plugin":        "notation",
		"artifactTypes": []any{"application/vnd.cncf.notary.signature"},
		"parameters":    map[string]any{"trustPolicyDocument": map[string]any{"version": "1.0"}},
	}}},
	"policies": []any{map[string]any{"name": "signed", "spec": map[string]any{
		"rules": []any{map[string]any{"artifactType": "application/vnd.cncf.notary.signature", "required": true}},
	}}},
}

func TestVerificationObjectsFromAFile(t *testing.T) {
	tests := map[string]struct {
		config   map[string]any
		wantKind map[string]string // kind -> name in the ConfigMap
	}{
		"default values: one empty Store": {
			wantKind: map[string]string{"Store": "default"},
		},
		"a Store, a Verifier and a Policy": {
			config:   configValues,
			wantKind: map[string]string{"Store": "default", "Verifier": "notation", "Policy": "signed"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var values map[string]any
			if tc.config != nil {
				values = map[string]any{"config": tc.config}
			}
			m := render(t, values)
			var cm corev1.ConfigMap
			m.get(t, "ConfigMap", release+"-config").into(t, &cm)
			data := cm.Data["assay.yaml"]

			// The ConfigMap must be what Assay's own decoder accepts.
			objs, err := catalog.Decode("assay.yaml", []byte(data))
			if err != nil {
				t.Fatalf("catalog.Decode of the rendered assay.yaml: %v\n%s", err, data)
			}
			if err := objs.Validate("assay.yaml"); err != nil {
				t.Fatalf("the rendered assay.yaml does not validate: %v\n%s", err, data)
			}
			got := map[string]string{}
			for _, o := range decodeManifest(t, data) {
				if o.APIVersion != v1alpha1.APIVersion {
					t.Errorf("%s %s apiVersion %s", o.Kind, o.Name, o.APIVersion)
				}
				got[o.Kind] = o.Name
			}
			if diff := cmp.Diff(tc.wantKind, got); diff != "" {
				t.Errorf("objects in assay.yaml (-want +got):\n%s", diff)
			}
			for kind := range tc.wantKind {
				if crs := m.all(kind); len(crs) != 0 {
					t.Errorf("%d %s custom resources rendered with config.source file", len(crs), kind)
				}
			}
			_, c := deployment(t, m)
			if v, _ := flag(c.Args, "--config"); v != "/etc/assay/config/assay.yaml" {
				t.Errorf("--config %q", v)
			}
			if _, ok := flag(c.Args, "--config-source"); ok {
				t.Error("--config-source passed with config.source file")
			}
		})
	}
}

func TestVerificationObjectsFromTheCluster(t *testing.T) {
	m := render(t, map[string]any{"config": map[string]any{
		"source": "cluster", "stores": configValues["stores"], "verifiers": configValues["verifiers"], "policies": configValues["policies"],
	}})
	if m.has("ConfigMap", release+"-config") {
		t.Error("a ConfigMap of objects is rendered with config.source cluster")
	}
	// The custom resources are what Assay's decoder accepts, like the file.
	var docs []byte
	for kind, name := range map[string]string{"Store": "default", "Verifier": "notation", "Policy": "signed"} {
		cr := m.get(t, kind, name)
		if cr.APIVersion != v1alpha1.APIVersion || cr.Namespace != "" {
			t.Errorf("%s %s: apiVersion %s namespace %q; want %s, cluster-scoped", kind, name, cr.APIVersion, cr.Namespace, v1alpha1.APIVersion)
		}
		docs = append(append(docs, cr.JSON...), []byte("\n---\n")...)
	}
	objs, err := catalog.Decode("custom resources", docs)
	if err != nil {
		t.Fatalf("catalog.Decode of the rendered custom resources: %v", err)
	}
	if err := objs.Validate("custom resources"); err != nil {
		t.Fatalf("the rendered custom resources do not validate: %v", err)
	}

	d, c := deployment(t, m)
	if v, _ := flag(c.Args, "--config-source"); v != "cluster" {
		t.Errorf("--config-source %q: want cluster", v)
	}
	if _, ok := flag(c.Args, "--leader-elect"); !ok {
		t.Error("--leader-elect missing: every replica would write status")
	}
	if _, ok := flag(c.Args, "--config"); ok {
		t.Error("--config passed with config.source cluster")
	}
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAMESPACE" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("POD_NAMESPACE (the Lease's namespace, which the Role covers) not from metadata.namespace: %+v", c.Env)
	}
	for _, v := range d.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			t.Errorf("volume %s mounts ConfigMap %s with config.source cluster", v.Name, v.ConfigMap.Name)
		}
	}
	if d.Spec.Template.Spec.AutomountServiceAccountToken != nil && !*d.Spec.Template.Spec.AutomountServiceAccountToken {
		t.Error("the controllers need the ServiceAccount token")
	}
}

func TestCRDsAreInstalledFromTheChart(t *testing.T) {
	m := render(t, nil, "--include-crds")
	want := map[string]bool{"stores.config.assay.dev": true, "verifiers.config.assay.dev": true, "policies.config.assay.dev": true,
		"namespacedstores.config.assay.dev": true, "namespacedverifiers.config.assay.dev": true, "namespacedpolicies.config.assay.dev": true}
	got := map[string]bool{}
	for _, o := range m.all("CustomResourceDefinition") {
		got[o.Name] = true
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("CRDs (-want +got):\n%s", diff)
	}
}

// dig returns the value at path in nested maps, or nil.
func dig(v any, path ...string) any {
	for _, p := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[p]
	}
	return v
}

// testCA returns the PEM of a new self-signed CA certificate.
func testCA(t *testing.T) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// TestValuesAreDocumentedAndTyped walks values.yaml: every value has a
// "# --" doc comment, or is a section (a map whose keys are documented one
// by one), and a typed, described entry in values.schema.json.
func TestValuesAreDocumentedAndTyped(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(chartDir(t), "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var values map[string]any
	if err := yaml.Unmarshal(raw, &values); err != nil {
		t.Fatal(err)
	}
	schemaRaw, err := os.ReadFile(filepath.Join(chartDir(t), "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := yaml.Unmarshal(schemaRaw, &schema); err != nil {
		t.Fatalf("values.schema.json: %v", err)
	}
	if schema["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("values.schema.json $schema %v: want draft-07", schema["$schema"])
	}
	documented := docComments(string(raw))

	var walk func(path string, v any, s map[string]any)
	walk = func(path string, v any, s map[string]any) {
		if s == nil {
			t.Errorf("values.schema.json has no entry for %s", path)
			return
		}
		if _, ok := s["type"]; !ok {
			if _, ok := s["oneOf"]; !ok {
				t.Errorf("values.schema.json: %s has no type", path)
			}
		}
		if d, _ := s["description"].(string); d == "" {
			t.Errorf("values.schema.json: %s has no description", path)
		}
		if documented[path] {
			return // documented as a whole, like resources
		}
		m, isMap := v.(map[string]any)
		props, hasProps := s["properties"].(map[string]any)
		if !isMap || len(m) == 0 || !hasProps {
			t.Errorf("values.yaml: %s has no \"# --\" doc comment", path)
			return
		}
		for k, child := range m {
			cs, _ := props[k].(map[string]any)
			walk(path+"."+k, child, cs)
		}
	}
	props := schema["properties"].(map[string]any)
	for k, v := range values {
		cs, _ := props[k].(map[string]any)
		walk(k, v, cs)
	}
}

// docComments returns the dotted paths of the keys of values.yaml that
// follow a "# --" comment block.
func docComments(text string) map[string]bool {
	documented := map[string]bool{}
	var stack []string
	inDoc := false
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "":
			inDoc = false
			continue
		case strings.HasPrefix(trimmed, "# --"):
			inDoc = true
			continue
		case strings.HasPrefix(trimmed, "#"):
			continue
		}
		key, _, ok := strings.Cut(trimmed, ":")
		if !ok || strings.HasPrefix(trimmed, "- ") {
			inDoc = false
			continue
		}
		depth := (len(line) - len(strings.TrimLeft(line, " "))) / 2
		if depth > len(stack) {
			depth = len(stack)
		}
		stack = append(stack[:depth], key)
		if inDoc {
			documented[strings.Join(stack, ".")] = true
		}
		inDoc = false
	}
	return documented
}

func TestPodPullSecrets(t *testing.T) {
	m := render(t, map[string]any{"podPullSecrets": map[string]any{"enabled": true}, "config": map[string]any{"source": "cluster"}})
	_, c := deployment(t, m)
	if !slices.Contains(c.Args, "--pod-pull-secrets") {
		t.Errorf("args %q lack --pod-pull-secrets", c.Args)
	}
	var cr rbacv1.ClusterRole
	m.get(t, "ClusterRole", release+"-pull-secrets").into(t, &cr)
	want := []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"secrets", "serviceaccounts"}, Verbs: []string{"get"}}}
	if diff := cmp.Diff(want, cr.Rules); diff != "" {
		t.Errorf("pull-secrets ClusterRole rules (-want +got):\n%s", diff)
	}
	var crb rbacv1.ClusterRoleBinding
	m.get(t, "ClusterRoleBinding", release+"-pull-secrets").into(t, &crb)
	if crb.RoleRef.Name != release+"-pull-secrets" || len(crb.Subjects) != 1 || crb.Subjects[0].Name != release || crb.Subjects[0].Namespace != namespace {
		t.Errorf("binding %+v %+v: want the chart's ServiceAccount bound to %s-pull-secrets", crb.RoleRef, crb.Subjects, release)
	}

	// Off by default: no cluster-wide Secrets access, no flag.
	m = render(t, map[string]any{"config": map[string]any{"source": "cluster"}})
	if n := len(m.all("ClusterRole")); n != 1 {
		t.Errorf("%d ClusterRoles without podPullSecrets, want 1", n)
	}
	if _, c := deployment(t, m); slices.Contains(c.Args, "--pod-pull-secrets") {
		t.Error("--pod-pull-secrets passed while podPullSecrets is off")
	}

	out := renderFails(t, nil, "--set", "podPullSecrets.enabled=true")
	if !strings.Contains(out, "podPullSecrets.enabled reads the Pods' Secrets from the cluster, so it needs config.source=cluster") {
		t.Errorf("podPullSecrets with config.source=file: %s", out)
	}
}

// TestTheChartRunsTheImageAsBuilt ties the chart's defaults to the image
// pkg/ociimage builds (`make image`).
func TestTheChartRunsTheImageAsBuilt(t *testing.T) {
	m := render(t, nil)
	d, c := deployment(t, m)
	if v, _ := flag(c.Args, "--plugin-dir"); v != ociimage.PluginDir {
		t.Errorf("--plugin-dir %q, want the image's %s", v, ociimage.PluginDir)
	}
	if !slices.Equal(c.Command, []string{path.Base(ociimage.BinaryPath)}) {
		t.Errorf("command %q, want %q on the image's PATH", c.Command, path.Base(ociimage.BinaryPath))
	}
	for what, uid := range map[string]*int64{"pod": d.Spec.Template.Spec.SecurityContext.RunAsUser, "container": c.SecurityContext.RunAsUser} {
		if uid == nil || *uid != ociimage.UID {
			t.Errorf("%s runAsUser %v, want the image's user %d", what, uid, ociimage.UID)
		}
	}
	if !strings.HasPrefix(c.Image, "ghcr.io/assayproj/assay:") {
		t.Errorf("image %s", c.Image)
	}
}
