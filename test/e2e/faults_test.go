package e2e

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
)

// faultyRegistry is olareg behind a middleware whose behaviour the test
// switches: pass everything, throttle everything, throttle once, or
// answer referrer listings with garbage.
type faultyRegistry struct {
	mode      atomic.Value // string
	throttled atomic.Int64
}

func (f *faultyRegistry) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch f.mode.Load() {
		case "throttle":
			f.throttled.Add(1)
			w.Header().Set("Retry-After", "30")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
			return
		case "throttle-once":
			if f.throttled.Add(1) == 1 {
				w.Header().Set("Retry-After", "1")
				http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS"}]}`, http.StatusTooManyRequests)
				return
			}
		case "garbage", "truncated":
			if strings.Contains(r.URL.Path, "/referrers/") {
				w.Header().Set("Content-Type", "application/vnd.oci.image.index.v1+json")
				if f.mode.Load() == "garbage" {
					w.Write([]byte(`{"schemaVersion":2,"manifests":"garbage"}`))
				} else {
					w.Write([]byte(`{"schemaVersion":2,"manifests":[{"garb`))
				}
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

func TestServeGivesPreciseAnswersForHostileRegistries(t *testing.T) {
	faults := &faultyRegistry{}
	faults.mode.Store("")
	reg := registrytest.NewOlaregBehind(t, faults.wrap)
	f := newFixture(t, reg.Host())
	r := f.repo("faults/app")
	images := map[string]string{}
	for _, tag := range []string{"throttled", "retried", "garbage", "truncated"} {
		d := f.image(r, tag)
		f.sign(r, f.leaf, d, notationtest.SignOptions{})
		images[tag] = r.Reference.String() + ":" + tag
	}
	material, err := servetest.NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, f.config(r.Reference.String(), configOptions{}), material, "--verdict-cache-bytes", "0")

	t.Run("429 with a Retry-After past the deadline", func(t *testing.T) {
		faults.mode.Store("throttle")
		faults.throttled.Store(0)
		rep := decodeReport(t, post(t, srv, "/v1/verify", images["throttled"]).Response.Items[0])
		if rep.IsSuccess || rep.Reason != report.ReasonRegistryError {
			t.Fatalf("%s %q, want REGISTRY_ERROR", rep.Reason, rep.Message)
		}
		for _, want := range []string{"throttled", "429", "Retry-After 30s"} {
			if !strings.Contains(rep.Message, want) {
				t.Errorf("message %q does not mention %q", rep.Message, want)
			}
		}
		if n := faults.throttled.Load(); n != 1 {
			t.Errorf("the registry saw %d requests; a Retry-After past the deadline must not be retried", n)
		}
	})
	t.Run("429 with a Retry-After within the deadline", func(t *testing.T) {
		faults.mode.Store("throttle-once")
		faults.throttled.Store(0)
		rep := decodeReport(t, post(t, srv, "/v1/verify", images["retried"]).Response.Items[0])
		if !rep.IsSuccess {
			t.Fatalf("%s %q, want the request retried after 1s and verified", rep.Reason, rep.Message)
		}
	})
	t.Run("a referrers listing that is not JSON", func(t *testing.T) {
		faults.mode.Store("garbage")
		rep := decodeReport(t, post(t, srv, "/v1/verify", images["garbage"]).Response.Items[0])
		if rep.IsSuccess || rep.Reason != report.ReasonRegistryError || !strings.Contains(rep.Message, "not a valid image index") {
			t.Fatalf("%s %q, want REGISTRY_ERROR saying the listing is not a valid image index", rep.Reason, rep.Message)
		}
	})
	t.Run("a referrers listing cut short", func(t *testing.T) {
		faults.mode.Store("truncated")
		rep := decodeReport(t, post(t, srv, "/v1/verify", images["truncated"]).Response.Items[0])
		if rep.IsSuccess || rep.Reason != report.ReasonRegistryError || !strings.Contains(rep.Message, "the listing is truncated") {
			t.Fatalf("%s %q, want REGISTRY_ERROR saying the listing is truncated", rep.Reason, rep.Message)
		}
	})
	faults.mode.Store("")
	if strings.Contains(srv.Output(), "panic") {
		t.Fatalf("assay serve panicked:\n%s", srv.Output())
	}
}
