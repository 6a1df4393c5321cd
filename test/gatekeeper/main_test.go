// Package gatekeeper evaluates the ConstraintTemplates of library/ with
// Gatekeeper's own Rego engine (the frameworks/constraint client and Rego
// driver that Gatekeeper v3.23.1 builds in its main.go), whose
// external_data builtin calls a running `assay serve` over mutual TLS,
// which verifies real Notary Project signatures and SARIF vulnerability
// reports (with the notation and vulnreport plugins as processes) in a real
// OCI registry.
//
// external_data is registered process-globally in OPA, so TestMain builds
// one driver and one constraint client for the whole test binary, as
// Gatekeeper does for its whole process, and one environment around them:
// an olareg registry, a registry host that never answers, and `assay
// serve` trusting a test signer. Each test adds the constraints it needs
// and removes them when it ends, and pushes images of its own, so no test
// sees another's cached answers. Tests therefore do not run in parallel.
package gatekeeper

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/frameworks/constraint/pkg/apis"
	"github.com/open-policy-agent/frameworks/constraint/pkg/apis/externaldata/unversioned"
	constraintclient "github.com/open-policy-agent/frameworks/constraint/pkg/client"
	"github.com/open-policy-agent/frameworks/constraint/pkg/client/drivers/rego"
	"github.com/open-policy-agent/frameworks/constraint/pkg/externaldata"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/gator/reader"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/target"
	"github.com/open-policy-agent/gatekeeper/v3/pkg/util"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/servetest"
)

const (
	// notarySignature is the artifact type the Policy requires.
	notarySignature = "application/vnd.cncf.notary.signature"
	// sarifType is the artifact type of vulnerability reports, which the
	// Policy does not require (mode newest when present).
	sarifType = "application/sarif+json"
	// reportsMaxAge and reportsDisallowed are the vulnreport Verifier's
	// maxAge and disallowedSeverities: those of the library's sample
	// constraint (maxAgeHours 168, disallowedSeverities CRITICAL and HIGH),
	// so that the plugin and the template judge a report alike.
	reportsMaxAge     = 168 * time.Hour
	reportsDisallowed = `["CRITICAL", "HIGH"]`
	// providerName is the Provider the library's samples name;
	// downProviderName one whose URL nothing listens on.
	providerName     = "assay"
	downProviderName = "assay-down"
	// providerTimeout is both Providers' spec.timeout in seconds, and
	// assay serve's --verify-timeout.
	providerTimeout = 3
	// responseCacheTTL is Gatekeeper's default
	// --external-data-provider-response-cache-ttl.
	responseCacheTTL = 3 * time.Minute
	// libraryDir holds the templates, relative to this package.
	libraryDir = "../../library"
)

var (
	assayBin  string // built by TestMain
	pluginDir string // holds notation, vulnreport and SHA256SUMS
	env       *environment
)

// environment is what every test of the binary shares.
type environment struct {
	// client is the constraint framework client with the Rego driver and
	// every library template added.
	client *constraintclient.Client
	// responses is the driver's external data response cache.
	responses *externaldata.ProviderResponseCache
	// providers is the driver's Provider cache, where the Provider
	// controller puts Provider objects; caBundle is the spec.caBundle of
	// a Provider calling Assay.
	providers *externaldata.ProviderCache
	caBundle  string
	registry  *registrytest.Server
	// hangHost is a registry host (listed in the Store) that accepts
	// connections and never answers.
	hangHost string
	// downURL is the Provider URL nothing listens on.
	downURL string
	// leaf signs images; its CA is the trust store of the Verifier.
	leaf *notationtest.Leaf
	srv  *servetest.Server
}

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "assay-gatekeeper-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if err := build(dir); err != nil {
		fmt.Fprintln(os.Stderr, "build binaries:", err)
		return 1
	}
	ctx, cancel := context.WithCancel(context.Background())
	var cleanups []func()
	defer func() {
		cancel()
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()
	env, err = setup(ctx, dir, func(f func()) { cleanups = append(cleanups, f) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "set up:", err)
		return 1
	}
	code := m.Run()
	if out := env.srv.Output(); code != 0 || strings.Contains(out, "panic:") {
		fmt.Fprintf(os.Stderr, "assay serve output:\n%s", out)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// build compiles assay and the plugins the tests use, with SHA256SUMS.
func build(dir string) (err error) {
	assayBin, pluginDir, err = servetest.Build(dir, servetest.Plugins("notation", "vulnreport"))
	return err
}

// setup starts the registries and assay serve, and builds the Rego driver
// and constraint client the way Gatekeeper's setupControllers does for a
// process running the webhook and audit operations. cleanup registers
// what to undo, last first.
func setup(ctx context.Context, dir string, cleanup func(func())) (*environment, error) {
	e := &environment{}

	// TLS: the serving certificate Assay presents and the client
	// certificate Gatekeeper presents (its webhook certificate).
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o700); err != nil {
		return nil, err
	}
	material, err := servetest.NewTLS(tlsDir)
	if err != nil {
		return nil, err
	}

	// Registries: olareg for the images, and a host that hangs.
	if e.registry, err = registrytest.StartOlareg(); err != nil {
		return nil, err
	}
	cleanup(e.registry.Close)
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	cleanup(func() { close(block); hang.Close() })
	e.hangHost = strings.TrimPrefix(hang.URL, "http://")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	e.downURL = "https://" + ln.Addr().String() + "/v1/verify"
	ln.Close() // nothing listens there any more

	// The signer, and assay serve trusting it for every repository.
	ca, err := notationtest.NewCA(notationtest.CAOptions{})
	if err != nil {
		return nil, err
	}
	if e.leaf, err = ca.IssueLeaf(notationtest.LeafOptions{}); err != nil {
		return nil, err
	}
	config, err := writeConfig(dir, e.registry.Host(), e.hangHost, ca)
	if err != nil {
		return nil, err
	}
	startCtx, cancelStart := context.WithTimeout(ctx, 60*time.Second)
	defer cancelStart()
	e.srv, err = servetest.Start(startCtx, servetest.Options{
		Assay: assayBin, PluginDir: pluginDir, Config: config, TLS: material,
		Args: []string{"--verify-timeout", fmt.Sprintf("%ds", providerTimeout), "--margin", "500ms"},
	})
	if err != nil {
		return nil, err
	}
	cleanup(e.srv.Stop)

	// The driver, as in Gatekeeper's main.go with external data enabled,
	// referential rules allowed (the default) and http.send disabled (the
	// Helm chart's default disabledBuiltins).
	providers := externaldata.NewCache()
	e.providers = providers
	e.responses = externaldata.NewProviderResponseCache(ctx, responseCacheTTL)
	certs, err := certwatcher.New(material.ClientCertFile, material.ClientKeyFile)
	if err != nil {
		return nil, fmt.Errorf("client certificate watcher: %w", err)
	}
	watching := make(chan error, 1)
	go func() { watching <- certs.Start(ctx) }()
	cleanup(func() {
		if err := <-watching; err != nil {
			fmt.Fprintln(os.Stderr, "certificate watcher:", err)
		}
	})
	driver, err := rego.New(
		rego.Tracing(false),
		rego.DisableBuiltins("http.send"),
		rego.AddExternalDataProviderCache(providers),
		rego.AddExternalDataProviderResponseCache(e.responses),
		rego.EnableExternalDataClientAuth(),
		rego.AddExternalDataClientCertWatcher(certs),
		rego.Externs("inventory"),
	)
	if err != nil {
		return nil, fmt.Errorf("rego driver: %w", err)
	}
	e.client, err = constraintclient.NewClient(
		constraintclient.Targets(&target.K8sValidationTarget{}),
		constraintclient.Driver(driver),
		constraintclient.EnforcementPoints(util.AuditEnforcementPoint, util.WebhookEnforcementPoint),
	)
	if err != nil {
		return nil, fmt.Errorf("constraint client: %w", err)
	}

	// The Providers, as the Provider controller puts them in the cache.
	caBundle := base64.StdEncoding.EncodeToString(material.ServerCA.PEM)
	e.caBundle = caBundle
	for name, url := range map[string]string{providerName: e.srv.URL + "/v1/verify", downProviderName: e.downURL} {
		err := providers.Upsert(&unversioned.Provider{
			TypeMeta:   metav1.TypeMeta{APIVersion: "externaldata.gatekeeper.sh/v1beta1", Kind: "Provider"},
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       unversioned.ProviderSpec{URL: url, Timeout: providerTimeout, CABundle: caBundle},
		})
		if err != nil {
			return nil, fmt.Errorf("provider %s: %w", name, err)
		}
	}

	// Every template of the library.
	scheme := runtime.NewScheme()
	if err := apis.AddToScheme(scheme); err != nil {
		return nil, err
	}
	paths, err := filepath.Glob(filepath.Join(libraryDir, "*", "template.yaml"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, errors.New("no template.yaml under " + libraryDir)
	}
	for _, p := range paths {
		rel, err := filepath.Rel(libraryDir, p)
		if err != nil {
			return nil, err
		}
		templ, err := reader.ReadTemplate(scheme, os.DirFS(libraryDir), filepath.ToSlash(rel))
		if err != nil {
			return nil, err
		}
		if _, err := e.client.AddTemplate(ctx, templ); err != nil {
			return nil, fmt.Errorf("add template %s: %w", rel, err)
		}
	}
	return e, nil
}

// writeConfig writes the verification objects: one Store with both
// registry hosts; the notation Verifier trusting ca for every repository
// (image signatures and signatures on reports alike); a vulnreport
// Verifier "reports" judging SARIF reports by the sample constraint's
// limits and requiring each report to carry a verified signature of its
// own; and a Policy requiring a Notary Project signature and letting the
// newest vulnerability report decide when there is one.
//
// servetest.NotationConfig renders a Policy of its own and a file holds at
// most one, so the documents are written here in full.
func writeConfig(dir, host, hangHost string, ca *notationtest.CA) (string, error) {
	params, err := notationtest.NewParams("*", ca, nil).JSON()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: {name: registries}\nspec:\n  registries:\n")
	for _, h := range []string{host, hangHost} {
		fmt.Fprintf(&b, "    - {host: %q, plainHTTP: true}\n", h)
	}
	fmt.Fprintf(&b, `---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec:
  plugin: notation
  artifactTypes: [%s]
  parameters: %s
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: reports}
spec:
  plugin: vulnreport
  artifactTypes: [%s]
  requireSignature: true
  parameters: {maxAge: %q, disallowedSeverities: %s}
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: signed}
spec:
  rules:
    - {artifactType: %s, required: true, mode: any}
    - {artifactType: %s, required: false, mode: newest}
`, notarySignature, params, sarifType, reportsMaxAge, reportsDisallowed, notarySignature, sarifType)
	path := filepath.Join(dir, "assay.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o600)
}
