package engine_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/servetest"
	"github.com/assayproj/assay/pkg/store"
	"github.com/prometheus/client_golang/prometheus"
)

// storeConfig is a configuration of one Store, which loads without
// plugins.
const storeConfig = `apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: default}
spec:
  registries: [{host: registry.example}]
`

// watch runs WatchFile on path until the test ends and returns a
// function that counts the reloads so far (from the runtime's
// assay_config_reloads_total, both results).
func watch(t *testing.T, path string) func() float64 {
	t.Helper()
	_, rt := newRuntime(t, engine.Options{DiscoverOnly: true})
	reg := prometheus.NewRegistry()
	if err := rt.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- rt.WatchFile(ctx, path) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("WatchFile: %v", err)
		}
	})
	// WatchFile has no "watching" signal: give it time to add its watches.
	time.Sleep(200 * time.Millisecond)
	return func() float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		n := 0.0
		for _, mf := range mfs {
			if mf.GetName() == "assay_config_reloads_total" {
				for _, m := range mf.GetMetric() {
					n += m.GetCounter().GetValue()
				}
			}
		}
		return n
	}
}

// waitReloads waits until reloads reaches want, then a little longer to
// see that it stays there.
func waitReloads(t *testing.T, reloads func() float64, want float64, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for reloads() < want && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // past the debounce: no second reload
	if got := reloads(); got != want {
		t.Fatalf("%s: %v reloads, want %v", what, got, want)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestWatchFileReloadsOnlyForItsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "assay.yaml")
	writeFile(t, path, storeConfig)
	reloads := watch(t, path)

	// A log file beside the configuration, written to steadily.
	logFile := filepath.Join(dir, "assay.log")
	f, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for range 20 {
		if _, err := f.WriteString("a log line\n"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	writeFile(t, filepath.Join(dir, "other.yaml"), storeConfig)
	waitReloads(t, reloads, 0, "writes to other files in the directory")

	writeFile(t, path, storeConfig+"  # edited\n")
	waitReloads(t, reloads, 1, "a write to the file")

	// An editor's save: write a new file, rename it over the old one.
	writeFile(t, path+".tmp", storeConfig)
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	waitReloads(t, reloads, 2, "a file renamed over the configuration")
}

// TestWatchFileFollowsAConfigMapUpdate lays out a directory as the
// kubelet mounts a ConfigMap (assay.yaml -> ..data/assay.yaml, ..data ->
// ..<timestamp>) and updates it as the kubelet does: a new timestamped
// directory, a new ..data link renamed over the old one, the old
// directory removed.
func TestWatchFileFollowsAConfigMapUpdate(t *testing.T) {
	dir := t.TempDir()
	version := func(name, content string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "assay.yaml"), content)
	}
	version("..2026_01_01_00_00_00.1", storeConfig)
	if err := os.Symlink("..2026_01_01_00_00_00.1", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "assay.yaml")
	if err := os.Symlink("..data/assay.yaml", path); err != nil {
		t.Fatal(err)
	}
	reloads := watch(t, path)

	writeFile(t, filepath.Join(dir, "unrelated.log"), "x\n")
	waitReloads(t, reloads, 0, "a write to another file")

	for i, name := range []string{"..2026_01_01_00_01_00.2", "..2026_01_01_00_02_00.3"} {
		old, err := os.Readlink(filepath.Join(dir, "..data"))
		if err != nil {
			t.Fatal(err)
		}
		version(name, storeConfig+"  # version "+name+"\n")
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
		waitReloads(t, reloads, float64(i+1), "ConfigMap update to "+name)
	}
}

func TestAMissingDockerConfigNamesTheFileAndTheStore(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "docker", "config.json")
	path := filepath.Join(dir, "assay.yaml")
	writeFile(t, path, `apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec: {plugin: notation, artifactTypes: [application/vnd.cncf.notary.signature]}
---
apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: private}
spec:
  dockerConfigPaths: ["`+missing+`"]
`)
	_, rt := newRuntime(t, engine.Options{DiscoverOnly: true})
	err := rt.LoadFile(context.Background(), path)
	if !errors.Is(err, store.ErrDockerConfig) || !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadFile: %v, want ErrDockerConfig and fs.ErrNotExist", err)
	}
	want := path + `: document 2 (Store "private") field spec.dockerConfigPaths: unusable docker config file: "` + missing + `": file does not exist`
	if err.Error() != want {
		t.Fatalf("message\n%s\nwant\n%s", err, want)
	}
}

// TestLoadFileReportsEveryErrorAtOnce loads a file with a catalog error
// (an unknown rule mode), a file-mode error (pull Secrets) and a plugin
// error (a parameter the notation plugin does not know): one run names
// all three, so a user fixes the file once.
func TestLoadFileReportsEveryErrorAtOnce(t *testing.T) {
	const config = `apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: default}
spec:
  pullSecrets: [{name: regcred, namespace: assay-system}]
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec:
  plugin: notation
  artifactTypes: [application/vnd.cncf.notary.signature]
  parameters: {trustPolicyDocument: {version: "1.0", trustPolicies: []}, notAField: 1}
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: signed}
spec:
  rules:
    - {artifactType: application/vnd.cncf.notary.signature, required: true, mode: sometimes}
`
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	err := rt.LoadFile(context.Background(), path)
	if err == nil {
		t.Fatal("the file loaded")
	}
	for _, want := range []string{
		`"sometimes" is not a mode`,
		`Store "default" field spec.pullSecrets`,
		`Verifier "notation" field spec.parameters`,
		"notAField",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not name %q:\n%v", want, err)
		}
	}
	if rt.Ready() == nil {
		t.Error("a configuration is in effect after a file that does not load")
	}
}

// reloadResults returns assay_config_reloads_total by result.
func reloadResults(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "assay_config_reloads_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" {
					out[l.GetValue()] = m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// TestAnEmptyOrTruncatedFileKeepsTheLastGoodConfiguration writes over
// a good configuration what an editor or a ConfigMap update can leave
// for a moment: an empty file, a file of comments, the first document
// only, and a file without its Policy. Each is refused with
// ErrIncomplete naming the file, counted as failed, and the good
// configuration stays in effect and ready.
func TestAnEmptyOrTruncatedFileKeepsTheLastGoodConfiguration(t *testing.T) {
	ca := notationtest.MustCA(t, notationtest.CAOptions{})
	params := notationtest.MustJSON(t, notationtest.NewParams("registry.example/app", ca, nil))
	good := servetest.NotationConfig([]string{"registry.example"}, params, "")
	docs := strings.Split(good, "---\n")
	path := filepath.Join(t.TempDir(), "assay.yaml")
	writeFile(t, path, good)
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	reg := prometheus.NewRegistry()
	if err := rt.RegisterMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if err := rt.LoadFile(context.Background(), path); err != nil {
		t.Fatal(err)
	}
	before := rt.Engine("")
	for i, tc := range []struct{ name, content, want string }{
		{"empty", "", "holds no Store, Verifier or Policy document"},
		{"comments only", "# being written\n", "holds no Store, Verifier or Policy document"},
		{"first document only", docs[0], "holds no Policy document (1 Store, no Verifiers)"},
		{"no Policy", docs[0] + "---\n" + docs[1], "holds no Policy document (1 Store, 1 Verifier)"},
	} {
		writeFile(t, path, tc.content)
		err := rt.LoadFile(context.Background(), path)
		if !errors.Is(err, engine.ErrIncomplete) {
			t.Fatalf("%s: LoadFile: %v, want ErrIncomplete", tc.name, err)
		}
		if !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v\nwant the file and %q", tc.name, err, tc.want)
		}
		if rt.Engine("") != before {
			t.Fatalf("%s: the file replaced the configuration in effect", tc.name)
		}
		if err := rt.Ready(); err != nil {
			t.Fatalf("%s: not ready: %v", tc.name, err)
		}
		if got := reloadResults(t, reg); got["ok"] != 1 || got["failed"] != float64(i+1) {
			t.Fatalf("%s: reloads %v, want ok 1 and failed %d", tc.name, got, i+1)
		}
	}
}

// TestAnIncompleteFirstFileLoadsNothing: `assay serve --config` with an
// empty file has nothing to keep, so it is refused and the runtime is
// not ready.
func TestAnIncompleteFirstFileLoadsNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "empty.yaml")
	writeFile(t, path, "")
	_, rt := newRuntime(t, engine.Options{PluginDir: pluginDir})
	if err := rt.LoadFile(context.Background(), path); !errors.Is(err, engine.ErrIncomplete) {
		t.Fatalf("LoadFile: %v, want ErrIncomplete", err)
	}
	if rt.Ready() == nil || rt.Engine("") != nil {
		t.Fatal("a configuration is in effect after an empty first file")
	}
}
