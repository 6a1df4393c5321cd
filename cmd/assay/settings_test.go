package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/config"
	"github.com/assayproj/assay/pkg/doctest"
	"github.com/spf13/cobra"
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
	want := config.Default()
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
