package engine_test

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/controller"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/assayproj/assay/pkg/store"
	"oras.land/oras-go/v2/registry/remote/auth"
)

// pluginDir holds the notation and cosign plugins built once for the
// package.
var pluginDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "assay-engine-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		defer os.RemoveAll(dir)
		if err := servetest.BuildPlugins(dir, servetest.Plugins("notation", "cosign")); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		pluginDir = dir
		return m.Run()
	}()
	os.Exit(code)
}

// newRuntime returns a runtime with opts on a registry stack of its own.
func newRuntime(t *testing.T, opts engine.Options) (*store.Stack, *engine.Runtime) {
	t.Helper()
	stack, err := store.NewStack(store.StackOptions{})
	if err != nil {
		t.Fatal(err)
	}
	opts.Stack = stack
	rt, err := engine.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return stack, rt
}

// requestLog records the requests a registry receives.
type requestLog struct {
	mu   sync.Mutex
	reqs []string
}

func (l *requestLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.reqs = append(l.reqs, r.Method+" "+r.URL.Path)
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

// take returns the requests since the last call and forgets them.
func (l *requestLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.reqs
	l.reqs = nil
	return out
}

func count(reqs []string, f func(string) bool) int {
	n := 0
	for _, r := range reqs {
		if f(r) {
			n++
		}
	}
	return n
}

// objects decodes servetest's notation configuration (a Store, a
// Verifier trusting ca for repository and a Policy requiring a Notary
// Project signature), with the registry's credentials on the Store and
// the Verifier named verifierName.
func objects(t *testing.T, host, repository, verifierName string, ca *notationtest.CA) *catalog.Objects {
	t.Helper()
	params := notationtest.MustJSON(t, notationtest.NewParams(repository, ca, nil))
	objs, err := catalog.Decode("test", []byte(servetest.NotationConfig([]string{host}, params, "")))
	if err != nil {
		t.Fatal(err)
	}
	objs.Stores[0].Spec.Registries[0].Username, objs.Stores[0].Spec.Registries[0].Password = "user", "pass"
	objs.Verifiers[0].Name = verifierName
	if err := objs.Validate("test"); err != nil {
		t.Fatal(err)
	}
	return objs
}

// TestOneRegistryStackAcrossNamespacesAndConfigurations verifies one
// signed image in two namespaces that each have a Verifier of their own,
// then again after a configuration change, against a real registry that
// wants a bearer token. The two namespaces' Engines share one registry
// stack: one token fetch and one fetch of the signature's manifest and
// envelope in all; the new configuration's Engines find everything in
// the stack's cache and send no request at all.
func TestOneRegistryStackAcrossNamespacesAndConfigurations(t *testing.T) {
	log := &requestLog{}
	bearer := registrytest.BearerAuth(registrytest.BearerAuthOptions{AccessToken: "access", Username: "user", Password: "pass"})
	srv := registrytest.NewOlaregBehind(t, func(next http.Handler) http.Handler { return log.wrap(bearer(next)) })
	push := srv.Repository(t, "team/app")
	push.Client = &auth.Client{Credential: auth.StaticCredential(srv.Host(), auth.Credential{AccessToken: "access"})}
	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	leaf := notationtest.MustLeaf(t, ca, notationtest.LeafOptions{})
	subject := notationtest.MustPushImage(t, push, "team/app:v1", "v1")
	notationtest.MustPushSignature(t, push, subject, notationtest.MustSign(t, leaf, subject, notationtest.SignOptions{}))
	repository := srv.RepositoryName("team/app")
	ref := repository + "@" + subject.Digest.String()
	log.take()

	stack, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	ctx := context.Background()
	apply := func(generation string) {
		t.Helper()
		err := rt.Apply(ctx, controller.Configuration{
			ID:      generation,
			Cluster: objects(t, srv.Host(), repository, "cluster-"+generation, ca),
			Namespaces: map[string]*catalog.Objects{
				"team-a": objects(t, srv.Host(), repository, "team-a-"+generation, ca),
				"team-b": objects(t, srv.Host(), repository, "team-b-"+generation, ca),
			},
		})
		if err != nil {
			t.Fatalf("apply generation %s: %v", generation, err)
		}
	}
	verify := func(ns string) *report.Report {
		t.Helper()
		rep, err := rt.Verify(ctx, provider.Key{Namespace: ns, Reference: ref})
		if err != nil {
			t.Fatalf("verify in %s: %v", ns, err)
		}
		if !rep.IsSuccess {
			t.Fatalf("verify in %s: %s: %s", ns, rep.Reason, rep.Message)
		}
		return rep
	}
	verifierOf := func(rep *report.Report) string {
		if len(rep.Artifacts) != 1 || len(rep.Artifacts[0].Results) != 1 {
			t.Fatalf("report artifacts: %+v", rep.Artifacts)
		}
		return rep.Artifacts[0].Results[0].Verifier
	}

	apply("1")
	if got := verifierOf(verify("team-a")); got != "team-a-1" {
		t.Fatalf("team-a verified by %q, want its own Verifier team-a-1", got)
	}
	if got := verifierOf(verify("team-b")); got != "team-b-1" {
		t.Fatalf("team-b verified by %q, want its own Verifier team-b-1", got)
	}
	first := log.take()
	t.Logf("requests of the first generation: %q", first)
	tokens := count(first, func(r string) bool { return strings.HasSuffix(r, registrytest.TokenPath) })
	if tokens != 1 {
		t.Errorf("two namespaces with the same registry credentials fetched %d tokens, want 1 (one token cache per credential set): %q", tokens, first)
	}
	blobs := count(first, func(r string) bool { return strings.HasPrefix(r, "GET ") && strings.Contains(r, "/blobs/") })
	if blobs != 1 {
		t.Errorf("the signature envelope both namespaces read was fetched %d times, want 1 (one content cache): %q", blobs, first)
	}
	manifests := count(first, func(r string) bool { return strings.HasPrefix(r, "GET ") && strings.Contains(r, "/manifests/") })
	if manifests != 1 {
		t.Errorf("the signature manifest was fetched %d times, want 1: %q", manifests, first)
	}

	// A configuration change: new Verifiers and Policies, the same
	// registry stack. Everything the new Engines read is in its cache
	// (content by digest; the referrers listing within its TTL).
	apply("2")
	for _, ns := range []string{"team-a", "team-b", "elsewhere"} {
		want := ns + "-2"
		if ns == "elsewhere" {
			want = "cluster-2"
		}
		if got := verifierOf(verify(ns)); got != want {
			t.Fatalf("%s verified by %q after the change, want %q", ns, got, want)
		}
	}
	if again := log.take(); len(again) != 0 {
		t.Errorf("after a configuration change the same verifications sent %d registry requests, want 0 (the registry stack is kept): %q", len(again), again)
	}
	if entries, _ := stack.CacheStats(); entries == 0 {
		t.Error("the stack's cache is empty")
	}
}

// pluginProcesses counts the running processes of the notation plugin
// built for this package.
func pluginProcesses(t *testing.T) int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && strings.HasPrefix(string(cmdline), filepath.Join(pluginDir, "notation")+"\x00") {
			n++
		}
	}
	return n
}

// TestPluginsRunFromTheirFirstUse: with StopUnusedPlugins, the plugin
// started to check a configuration is stopped once the configuration is
// in effect, and runs again from the first verification.
func TestPluginsRunFromTheirFirstUse(t *testing.T) {
	srv := registrytest.NewOlareg(t)
	push := srv.Repository(t, "lazy/app")
	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	subject := notationtest.MustPushImage(t, push, "lazy/app:v1", "v1")
	notationtest.MustPushSignature(t, push, subject, notationtest.MustSign(t, notationtest.MustLeaf(t, ca, notationtest.LeafOptions{}), subject, notationtest.SignOptions{}))
	repository := srv.RepositoryName("lazy/app")
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir, StopUnusedPlugins: true})
	before := pluginProcesses(t)
	objs := objects(t, srv.Host(), repository, "notation", ca)
	objs.Stores[0].Spec.Registries[0].Username, objs.Stores[0].Spec.Registries[0].Password = "", ""
	if err := rt.Apply(context.Background(), controller.Configuration{ID: "1", Cluster: objs}); err != nil {
		t.Fatal(err)
	}
	waitProcesses := func(want int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); pluginProcesses(t) != want; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d notation plugin processes, want %d", pluginProcesses(t), want)
			}
		}
	}
	waitProcesses(before)
	rep, err := rt.Verify(context.Background(), provider.Key{Reference: repository + "@" + subject.Digest.String()})
	if err != nil || !rep.IsSuccess {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	waitProcesses(before + 1)
	// Checking the same configuration again neither starts nor stops it.
	if err := rt.Apply(context.Background(), controller.Configuration{ID: "2", Cluster: objs}); err != nil {
		t.Fatal(err)
	}
	if n := pluginProcesses(t); n != before+1 {
		t.Fatalf("after the same configuration was applied again: %d processes, want %d", n, before+1)
	}
}

// TestRequestsBeforeAnyConfigurationAreDenied: a key that arrives before
// the first configuration is put in effect gets a failing report that
// says so, never a pass and never a panic.
func TestRequestsBeforeAnyConfigurationAreDenied(t *testing.T) {
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	if rt.Ready() == nil {
		t.Fatal("ready without a configuration")
	}
	rep, err := rt.Verify(context.Background(), provider.Key{Reference: "registry.example/app:v1"})
	if err != nil {
		t.Fatal(err)
	}
	if rep.IsSuccess || rep.Reason != report.ReasonNoPolicy || !strings.Contains(rep.Message, "no configuration") {
		t.Fatalf("report before any configuration: %+v", rep)
	}
	if _, err := rt.Resolve(context.Background(), provider.Key{Reference: "registry.example/app:v1"}); err == nil {
		t.Fatal("resolve before any configuration succeeded")
	}
}

// TestAFailedApplyKeepsTheConfigurationInEffect: a configuration whose
// namespace part does not build is refused whole, and the previous
// generation stays in effect for every namespace.
func TestAFailedApplyKeepsTheConfigurationInEffect(t *testing.T) {
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	good := objects(t, "registry.example", "registry.example/app", "good", ca)
	if err := rt.Apply(context.Background(), controller.Configuration{ID: "1", Cluster: good}); err != nil {
		t.Fatal(err)
	}
	before := rt.Engine("team-a")
	bad := objects(t, "registry.example", "registry.example/app", "bad", ca)
	bad.Verifiers[0].Spec.ArtifactTypes = []string{"application/vnd.example.unknown"}
	err := rt.Apply(context.Background(), controller.Configuration{ID: "2", Cluster: good, Namespaces: map[string]*catalog.Objects{"team-a": bad}})
	if err == nil || !strings.Contains(err.Error(), "namespace team-a") || !strings.Contains(err.Error(), "spec.artifactTypes[0]") {
		t.Fatalf("apply of a broken namespace: %v, want an error naming the namespace and the field", err)
	}
	if rt.Engine("team-a") != before || rt.Engine("") != before {
		t.Fatal("a refused configuration replaced the one in effect")
	}
	if err := rt.Ready(); err != nil {
		t.Fatalf("not ready after a refused change: %v", err)
	}
}

// TestCatalogRefusesWhatTheStoreRefuses: a Store that catalog.Validate
// accepts must build; one the registry stack refuses must be refused by
// catalog.Validate first, naming its field, so that in a cluster the
// Store itself is marked Invalid rather than the whole configuration
// failing to apply.
func TestCatalogRefusesWhatTheStoreRefuses(t *testing.T) {
	_, rt := newRuntime(t, engine.Options{DiscoverOnly: true})
	for name, registry := range map[string]string{
		"a username alone":               `{host: r.example, username: u}`,
		"a password alone":               `{host: r.example, password: p}`,
		"a username and a password":      `{host: r.example, username: u, password: p}`,
		"a username and identity token":  `{host: r.example, username: u, identityToken: t}`,
		"an identity token alone":        `{host: r.example, identityToken: t}`,
		"Docker Hub under two names":     `{host: docker.io}, {host: index.docker.io}`,
		"a host with a path":             `{host: r.example/path}`,
		"plain HTTP with no credentials": `{host: "r.example:5000", plainHTTP: true}`,
	} {
		t.Run(name, func(t *testing.T) {
			doc := "apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: {name: s}\nspec:\n  registries: [" + registry + "]\n"
			objs, err := catalog.Decode("test", []byte(doc))
			if err != nil {
				t.Fatal(err)
			}
			verr := objs.Validate("test")
			_, berr := rt.Build(context.Background(), objs, "test", nil)
			if verr == nil && berr != nil {
				t.Fatalf("catalog accepts the Store, the registry stack refuses it: %v", berr)
			}
			if verr != nil && !strings.Contains(verr.Error(), "spec.registries[") {
				t.Fatalf("catalog refuses it without naming the field: %v", verr)
			}
		})
	}
}

// TestReadyNeedsAPolicyInEffect: a configuration under which every
// image fails NO_POLICY (no Policy, or in a cluster the only Policy left
// out of it) is not ready, and Ready says why, naming the Policy left
// out; a Policy in effect for the cluster or for one namespace makes it
// ready.
func TestReadyNeedsAPolicyInEffect(t *testing.T) {
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	if err := rt.Ready(); err == nil || !strings.Contains(err.Error(), "no configuration") {
		t.Fatalf("before any configuration: %v", err)
	}
	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	good := objects(t, "registry.example", "registry.example/app", "notation", ca)
	noPolicy := objects(t, "registry.example", "registry.example/app", "notation", ca)
	noPolicy.Policies = nil
	noPolicy.PoliciesNotInEffect = []string{`Policy "signed": its rule's Verifier is invalid`}
	if err := rt.Apply(context.Background(), controller.Configuration{ID: "1", Cluster: noPolicy}); err != nil {
		t.Fatal(err)
	}
	err := rt.Ready()
	if err == nil || !strings.Contains(err.Error(), string(report.ReasonNoPolicy)) || !strings.Contains(err.Error(), `Policy "signed": its rule's Verifier is invalid`) {
		t.Fatalf("without a Policy in effect: %v, want NO_POLICY and the Policy left out", err)
	}
	if err := rt.Apply(context.Background(), controller.Configuration{ID: "2", Cluster: noPolicy, Namespaces: map[string]*catalog.Objects{"team-a": good}}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Ready(); err != nil {
		t.Fatalf("with a Policy in effect for team-a: %v", err)
	}
	if err := rt.Apply(context.Background(), controller.Configuration{ID: "3", Cluster: good}); err != nil {
		t.Fatal(err)
	}
	if err := rt.Ready(); err != nil {
		t.Fatalf("with the cluster's Policy in effect: %v", err)
	}
}
