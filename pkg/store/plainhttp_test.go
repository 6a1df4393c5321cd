package store_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/store"
)

// TestAPlainHTTPRegistryNamesTheStoreSetting: a registry that serves
// plain HTTP, reached over HTTPS because the Store does not say
// otherwise, gives ErrPlainHTTP, whose remediation names the setting and
// the host; with the setting, the same image resolves.
func TestAPlainHTTPRegistryNamesTheStoreSetting(t *testing.T) {
	reg := registrytest.NewOlareg(t)
	target := reg.Repository(t, "app")
	registrytest.PushImage(t, target, "v1")

	s, _ := newStore(t, store.Options{})
	_, err := s.Resolve(context.Background(), reg.Host()+"/app", "v1")
	if !errors.Is(err, store.ErrPlainHTTP) || !errors.Is(err, http.ErrSchemeMismatch) {
		t.Fatalf("Resolve over HTTPS from a plain HTTP registry: %v, want ErrPlainHTTP", err)
	}
	var fix interface{ Remediation() string }
	if !errors.As(err, &fix) {
		t.Fatalf("error %v has no Remediation", err)
	}
	want := `{host: "` + reg.Host() + `", plainHTTP: true}`
	if got := fix.Remediation(); !strings.Contains(got, "spec.registries") || !strings.Contains(got, want) {
		t.Fatalf("remediation %q does not name spec.registries and %s", got, want)
	}

	s, _ = newStore(t, store.Options{Registries: plain(reg.Host())})
	if _, err := s.Resolve(context.Background(), reg.Host()+"/app", "v1"); err != nil {
		t.Fatalf("Resolve with plainHTTP: %v", err)
	}
}
