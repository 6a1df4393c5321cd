package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/config"
	"github.com/spf13/cobra"
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
