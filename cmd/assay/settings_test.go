package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/config"
	"github.com/assayproj/assay/pkg/doctest"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/report"
	"github.com/spf13/cobra"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/yaml"
)

// configKeys lists the settings keys of config.Config's fields, from
// their mapstructure tags.
func configKeys(t reflect.Type, prefix string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		key := prefix + f.Tag.Get("mapstructure")
		if f.Type.Kind() == reflect.Struct {
			keys = append(keys, configKeys(f.Type, key+".")...)
			continue
		}
		keys = append(keys, key)
	}
	return keys
}

func TestTheSettingsTableNamesEveryConfigField(t *testing.T) {
	want := configKeys(reflect.TypeFor[config.Config](), "")
	var got []string
	flags := map[string]bool{}
	for _, s := range settings() {
		if slices.Contains(got, s.key) {
			t.Errorf("setting %s is listed twice", s.key)
		}
		got = append(got, s.key)
		if s.flag != "" {
			if flags[s.flag] {
				t.Errorf("flag --%s names two settings", s.flag)
			}
			flags[s.flag] = true
		}
		if s.help == "" {
			t.Errorf("setting %s has no help", s.key)
		}
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(want, got) {
		t.Fatalf("settings table keys\n%q\nconfig.Config keys\n%q", got, want)
	}
}

func TestFlagsEnvironmentAndDefaultsReachTheConfig(t *testing.T) {
	t.Setenv("ASSAY_CACHE_TAG_TTL", "42s")
	var stdout, stderr bytes.Buffer
	root, g := newRoot(&stdout, &stderr)
	for _, c := range root.Commands() {
		if c.Name() == "serve" {
			c.RunE = func(*cobra.Command, []string) error { return nil }
		}
	}
	root.SetArgs([]string{"serve", "--concurrency", "3", "--key-concurrency", "5", "--tls-cert", "c.pem"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := defaults()
	want.Concurrency = 3
	want.Serve.KeyConcurrency = 5
	want.Serve.TLSCert = "c.pem"
	want.Cache.TagTTL = 42 * time.Second
	if !reflect.DeepEqual(g.cfg, want) {
		t.Fatalf("settings\n%+v\nwant\n%+v", g.cfg, want)
	}
}

func TestAnUnknownSettingsKeyIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "settings.yaml")
	if err := os.WriteFile(path, []byte("concurency: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--settings", path, "version"}, &stdout, &stderr)
	if code != exitUsage || !strings.Contains(stderr.String(), "concurency") {
		t.Fatalf("exit %d, stderr %q; want %d naming the unknown key", code, stderr.String(), exitUsage)
	}
}

func TestAnUnknownSettingsKeyNamesTheFileAndTheClosestSetting(t *testing.T) {
	tests := map[string]struct {
		content string
		want    string
	}{
		"a misspelt key": {
			content: "concurency: 3\n",
			want:    `unknown setting "concurency"; did you mean "concurrency"?`,
		},
		"a misspelt nested key": {
			content: "cache:\n  redis:\n    adress: r:6379\n",
			want:    `unknown setting "cache.redis.adress"; did you mean "cache.redis.address"?`,
		},
		"a key like no setting": {
			content: "colour: blue\n",
			want:    `unknown setting "colour"; known settings: log.level, log.format, plugin-dir`,
		},
		"a value where a group belongs": {
			content: "serve: true\n",
			want:    `"serve" is a group of settings (such as "serve.listen"), not a value`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "settings.yaml")
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), []string{"--settings", path, "version"}, &stdout, &stderr)
			want := "settings file " + path + ": " + tc.want
			if code != exitUsage || !strings.Contains(stderr.String(), want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUsage, want)
			}
		})
	}
}

func TestABadSettingValueNamesItsSourceAndTheExpectedForm(t *testing.T) {
	tests := map[string]struct {
		env      map[string]string
		settings string
		want     string
	}{
		"a duration in the environment": {
			env:  map[string]string{"ASSAY_TIMEOUT": "abc"},
			want: `ASSAY_TIMEOUT="abc": not a duration; write a number with a unit, such as 10s, 500ms or 1m30s`,
		},
		"a number in the environment": {
			env:  map[string]string{"ASSAY_SERVE_KEY_CONCURRENCY": "many"},
			want: `ASSAY_SERVE_KEY_CONCURRENCY="many": not a whole number`,
		},
		"a boolean in the environment": {
			env:  map[string]string{"ASSAY_SERVE_PPROF": "maybe"},
			want: `ASSAY_SERVE_PPROF="maybe": not true or false`,
		},
		"a duration without a unit in the settings file": {
			settings: "cache:\n  verdict-ttl: 300\n",
			want:     `cache.verdict-ttl: 300 is not a duration; write a number with a unit`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			args := []string{"version"}
			want := tc.want
			if tc.settings != "" {
				path := filepath.Join(t.TempDir(), "settings.yaml")
				if err := os.WriteFile(path, []byte(tc.settings), 0o600); err != nil {
					t.Fatal(err)
				}
				args = append([]string{"--settings", path}, args...)
				want = "settings file " + path + ": " + want
			}
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), args, &stdout, &stderr)
			if code != exitUsage || !strings.Contains(stderr.String(), want) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUsage, want)
			}
		})
	}
}

func TestAFlagOverridesABadEnvironmentValue(t *testing.T) {
	t.Setenv("ASSAY_TIMEOUT", "abc")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"--timeout", "3s", "version"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d, stderr %q: a flag given takes precedence over the environment", code, stderr.String())
	}
}

func TestThePluginDirectoryDefaultsToTheOneBesideTheExecutable(t *testing.T) {
	tests := map[string]struct {
		exe, plugins string // relative to a temporary root; plugins "" for none
		want         string
	}{
		"make build's bin/":    {exe: "bin/assay", plugins: "bin/plugins", want: "bin/plugins"},
		"the container image":  {exe: "usr/bin/assay", plugins: "usr/lib/assay/plugins", want: "usr/lib/assay/plugins"},
		"no plugins beside it": {exe: "elsewhere/assay", want: ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			root := t.TempDir()
			exe := filepath.Join(root, tc.exe)
			if err := os.MkdirAll(filepath.Dir(exe), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(exe, nil, 0o755); err != nil {
				t.Fatal(err)
			}
			if tc.plugins != "" {
				if err := os.MkdirAll(filepath.Join(root, tc.plugins), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			want := config.Default().PluginDir
			if tc.want != "" {
				want = filepath.Join(root, tc.want)
			}
			if got := pluginDirOf(exe, config.Default().PluginDir); got != want {
				t.Fatalf("plugin directory of %s = %q, want %q", tc.exe, got, want)
			}
			// A symbolic link on PATH finds the directory beside its target.
			link := filepath.Join(t.TempDir(), "assay")
			if err := os.Symlink(exe, link); err != nil {
				t.Fatal(err)
			}
			if got := pluginDirOf(link, config.Default().PluginDir); got != want {
				t.Fatalf("plugin directory of a link to %s = %q, want %q", tc.exe, got, want)
			}
		})
	}
}

func TestAMissingPluginDirectoryNamesTheSetting(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "assay.yaml")
	if err := os.WriteFile(cfg, []byte(`apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec:
  plugin: notation
  artifactTypes: [application/vnd.cncf.notary.signature]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "plugins")
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), []string{"--config", cfg, "--plugin-dir", dir, "verify", "registry.example/app:v1"}, &stdout, &stderr)
	want := `plugin directory "` + dir + `" does not exist; build the plugins (make build) or set --plugin-dir / ASSAY_PLUGIN_DIR`
	if code != exitUsage || !strings.Contains(stderr.String(), want) {
		t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUsage, want)
	}
}

// TestServeFromAClusterNamesAMissingPluginDirectoryAtOnce: in cluster
// mode every Verifier needs the plugins, so serve refuses to start
// without them, naming the setting, rather than failing each Verifier.
func TestServeFromAClusterNamesAMissingPluginDirectoryAtOnce(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "plugins")
	var stdout, stderr bytes.Buffer
	pem := filepath.Join(t.TempDir(), "unused.pem") // checked after the plugins
	code := run(context.Background(), []string{"--plugin-dir", dir, "serve", "--config-source", "cluster",
		"--tls-cert", pem, "--tls-key", pem, "--client-ca", pem}, &stdout, &stderr)
	want := `plugin directory "` + dir + `" does not exist; build the plugins (make build) or set --plugin-dir / ASSAY_PLUGIN_DIR`
	if code != exitUsage || !strings.Contains(stderr.String(), want) {
		t.Fatalf("exit %d, stderr %q; want %d and %q", code, stderr.String(), exitUsage, want)
	}
}

// TestControllerRuntimeLogsThroughTheProcessLogger runs a command in a
// child process (controller-runtime's logger is set once per process)
// and logs through controller-runtime's package logger afterwards, as its
// certificate watcher does: the line must reach assay's log, and no
// "log.SetLogger(...) was never called" stack trace may follow.
func TestControllerRuntimeLogsThroughTheProcessLogger(t *testing.T) {
	if os.Getenv("ASSAY_TEST_CHILD") == "ctrl-log" {
		code := run(context.Background(), []string{"version"}, os.Stdout, os.Stderr)
		ctrl.Log.WithName("certwatcher").Info("probe from controller-runtime")
		os.Exit(code)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestControllerRuntimeLogsThroughTheProcessLogger$")
	cmd.Env = append(os.Environ(), "ASSAY_TEST_CHILD=ctrl-log")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "probe from controller-runtime") || !strings.Contains(stderr.String(), "certwatcher") {
		t.Fatalf("controller-runtime's log line did not reach assay's logger; stderr:\n%s", stderr.String())
	}
}

func TestATimedOutReportNamesTheBudgetAndTheFlag(t *testing.T) {
	rep := &report.Report{Reason: report.ReasonDeadlineExceeded, Message: "the deadline passed before r.example/app:v1 was resolved: context deadline exceeded"}
	explainDeadline(rep, 30*time.Second)
	if want := "verification did not finish within 30s (--timeout): the deadline passed before r.example/app:v1 was resolved: context deadline exceeded"; rep.Message != want {
		t.Errorf("message %q, want %q", rep.Message, want)
	}
	if want := "Retry; if it persists, raise --timeout (or ASSAY_TIMEOUT) above 30s, or check the registry's latency."; rep.Remediation != want {
		t.Errorf("remediation %q, want %q", rep.Remediation, want)
	}
	other := &report.Report{Reason: report.ReasonNoSignature, Message: "no signature"}
	explainDeadline(other, 30*time.Second)
	if other.Message != "no signature" || other.Remediation != "" {
		t.Errorf("a report that did not time out was changed: %+v", other)
	}
}

// TestTheDocumentedSettingsFileIsRead reads every settings file the
// documentation shows (YAML blocks marked <!-- settings -->, read with
// pkg/doctest) as `--settings` does, and checks that each key names a
// setting of the table and that its value reaches the configuration.
func TestTheDocumentedSettingsFileIsRead(t *testing.T) {
	blocks, err := doctest.Read("../..")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, b := range blocks {
		if b.Marker != doctest.Settings {
			continue
		}
		checked++
		t.Run(b.String(), func(t *testing.T) {
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(b.Text), &doc); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "settings.yaml")
			if err := os.WriteFile(path, []byte(b.Text), 0o600); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			root, g := newRoot(&stdout, &stderr)
			for _, c := range root.Commands() {
				if c.Name() == "serve" {
					c.RunE = func(*cobra.Command, []string) error { return nil }
				}
			}
			root.SetArgs([]string{"serve", "--settings", path})
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("assay serve --settings with the documented file: %v", err)
			}
			for key, value := range flatten("", doc) {
				i := slices.IndexFunc(settings(), func(s setting) bool { return s.key == key })
				if i < 0 {
					t.Errorf("key %s is not a setting", key)
					continue
				}
				got := settings()[i].get(g.cfg)
				want := fmt.Sprint(value)
				if d, ok := got.(time.Duration); ok {
					w, err := time.ParseDuration(want)
					if err != nil || w != d {
						t.Errorf("%s: documented %q, configuration has %v", key, want, d)
					}
					continue
				}
				if fmt.Sprint(got) != want {
					t.Errorf("%s: documented %q, configuration has %v", key, want, got)
				}
			}
		})
	}
	if checked == 0 {
		t.Fatal("no settings file in the documentation; docs/configuration.md shows one")
	}
}

// flatten turns nested settings into dotted keys, as viper reads them.
func flatten(prefix string, m map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			maps.Copy(out, flatten(prefix+k+".", sub))
			continue
		}
		out[prefix+k] = v
	}
	return out
}

// TestThePluginSettingDefaultsAreThePluginHosts: config.Default, which
// cannot import package plugin, restates the host's documented defaults;
// they must not drift.
func TestThePluginSettingDefaultsAreThePluginHosts(t *testing.T) {
	d := config.Default()
	if d.PluginIdleTimeout != plugin.DefaultIdleTimeout {
		t.Errorf("plugin-idle-timeout default %s, plugin.DefaultIdleTimeout %s", d.PluginIdleTimeout, plugin.DefaultIdleTimeout)
	}
	if d.PluginHealthCheckAfter != plugin.DefaultHealthCheckAfter {
		t.Errorf("plugin-health-check-after default %s, plugin.DefaultHealthCheckAfter %s", d.PluginHealthCheckAfter, plugin.DefaultHealthCheckAfter)
	}
	if d.PluginHealthCheckTimeout != plugin.DefaultHealthCheckTimeout {
		t.Errorf("plugin-health-check-timeout default %s, plugin.DefaultHealthCheckTimeout %s", d.PluginHealthCheckTimeout, plugin.DefaultHealthCheckTimeout)
	}
}
