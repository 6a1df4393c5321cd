package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/report"
	"github.com/google/go-cmp/cmp"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// fakeEngine answers Verify and Resolve from a table keyed by reference;
// a reference that is not in the table blocks until ctx is done.
type fakeEngine struct {
	reports map[string]*report.Report
	digests map[string]string

	// stuck, when set, is what references containing "ignores" wait
	// for instead of their context: a verifier that overruns its deadline.
	stuck chan struct{}

	mu    sync.Mutex
	calls []provider.Key
	n     atomic.Int64
}

var (
	_ provider.Verifier = (*fakeEngine)(nil)
	_ provider.Resolver = (*fakeEngine)(nil)
)

func (f *fakeEngine) record(k provider.Key) {
	f.n.Add(1)
	f.mu.Lock()
	f.calls = append(f.calls, k)
	f.mu.Unlock()
}

func (f *fakeEngine) Verify(ctx context.Context, k provider.Key) (*report.Report, error) {
	f.record(k)
	if r, ok := f.reports[k.Reference]; ok {
		if r.Reason == "panic" {
			panic("boom")
		}
		cp := *r
		cp.Reference = k.Reference
		return &cp, nil
	}
	if strings.Contains(k.Reference, "ignores") {
		<-f.stuck
	}
	<-ctx.Done()
	return &report.Report{MediaType: report.MediaType, Reference: k.Reference, Reason: report.ReasonDeadlineExceeded}, ctx.Err()
}

func (f *fakeEngine) Resolve(ctx context.Context, k provider.Key) (string, error) {
	f.record(k)
	if d, ok := f.digests[k.Reference]; ok {
		return d, nil
	}
	<-ctx.Done()
	return "", ctx.Err()
}

func passing(subject string) *report.Report {
	return &report.Report{MediaType: report.MediaType, Subject: subject, IsSuccess: true, Reason: report.ReasonVerified, Message: "ok", Artifacts: []report.Artifact{}}
}

func newServer(t *testing.T, f *fakeEngine, opts provider.Options) *httptest.Server {
	t.Helper()
	opts.Verifier, opts.Resolver = f, f
	if opts.VerifyTimeout == 0 {
		opts.VerifyTimeout = 500 * time.Millisecond
	}
	if opts.MutateTimeout == 0 {
		opts.MutateTimeout = 400 * time.Millisecond
	}
	if opts.Margin == 0 {
		opts.Margin = 100 * time.Millisecond
	}
	h, err := provider.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// response is a ProviderResponse decoded generically.
type response struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   struct {
		Idempotent  bool   `json:"idempotent"`
		SystemError string `json:"systemError"`
		Items       []struct {
			Key   string          `json:"key"`
			Value json.RawMessage `json:"value"`
			Error string          `json:"error"`
		} `json:"items"`
	} `json:"response"`
}

func post(t *testing.T, url, contentType, body string) (int, response) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var r response
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("answer is not JSON (%v): %s", err, data)
	}
	if r.Kind != provider.KindResponse {
		t.Fatalf("kind = %q in %s", r.Kind, data)
	}
	return resp.StatusCode, r
}

func request(keys ...string) string {
	b, _ := json.Marshal(map[string]any{"apiVersion": provider.APIVersion, "kind": provider.KindRequest, "request": map[string]any{"keys": keys}})
	return string(b)
}

func TestVerifyAnswersEveryKeyOnceInOrder(t *testing.T) {
	f := &fakeEngine{reports: map[string]*report.Report{
		"reg/a:1":  passing("reg/a@" + digestA),
		"reg/b:1":  {MediaType: report.MediaType, Reason: report.ReasonNoSignature, Message: "no signature", Artifacts: []report.Artifact{}},
		"reg/gone": {MediaType: report.MediaType, Reason: report.ReasonSubjectNotFound, Message: "no such tag"},
	}}
	srv := newServer(t, f, provider.Options{})
	keys := []string{"reg/a:1", "[team-a]reg/b:1", "reg/a:1", "reg/gone", "bad ref", "[Bad_NS]reg/a:1", "reg/a:1"}
	status, r := post(t, srv.URL+provider.PathVerify, "application/json", request(keys...))
	if status != http.StatusOK || r.APIVersion != provider.APIVersion || !r.Response.Idempotent || r.Response.SystemError != "" {
		t.Fatalf("status %d, %+v", status, r)
	}
	var gotKeys []string
	for _, it := range r.Response.Items {
		gotKeys = append(gotKeys, it.Key)
	}
	if diff := cmp.Diff([]string{"reg/a:1", "[team-a]reg/b:1", "reg/gone", "bad ref", "[Bad_NS]reg/a:1"}, gotKeys); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	if n := f.n.Load(); n != 3 {
		t.Errorf("verified %d times, want 3 (duplicates once, invalid keys never)", n)
	}
	items := r.Response.Items
	var a report.Report
	if err := json.Unmarshal(items[0].Value, &a); err != nil || !a.IsSuccess || a.MediaType != report.MediaType {
		t.Errorf("item 0: %s (%v)", items[0].Value, err)
	}
	var b report.Report
	if err := json.Unmarshal(items[1].Value, &b); err != nil || b.IsSuccess || b.Reason != report.ReasonNoSignature {
		t.Errorf("item 1 (a failing report is a value, not an error): %s (%v)", items[1].Value, err)
	}
	if !slices.ContainsFunc(f.calls, func(k provider.Key) bool { return k.Namespace == "team-a" && k.Reference == "reg/b:1" }) {
		t.Errorf("the namespace prefix did not reach the verifier: %+v", f.calls)
	}
	for i, want := range map[int]string{2: "SUBJECT_NOT_FOUND: no such tag", 3: "INVALID_REFERENCE: ", 4: "INVALID_REFERENCE: "} {
		if !strings.HasPrefix(items[i].Error, want) || items[i].Value != nil {
			t.Errorf("item %d: error %q value %s, want an error starting %q", i, items[i].Error, items[i].Value, want)
		}
	}
}

func TestTheBudgetRunsOutBeforeGatekeeperTimesOut(t *testing.T) {
	f := &fakeEngine{reports: map[string]*report.Report{"reg/fast:1": passing("reg/fast@" + digestA)}, stuck: make(chan struct{})}
	t.Cleanup(func() { close(f.stuck) })
	srv := newServer(t, f, provider.Options{VerifyTimeout: 400 * time.Millisecond, Margin: 150 * time.Millisecond})
	_, r := post(t, srv.URL+provider.PathVerify, "", request("reg/fast:1", "reg/ignores:1", "reg/hangs:1"))
	items := r.Response.Items
	if len(items) != 3 {
		t.Fatalf("items: %+v", items)
	}
	var fast, slow report.Report
	if err := json.Unmarshal(items[0].Value, &fast); err != nil || !fast.IsSuccess {
		t.Errorf("the finished key: %s", items[0].Value)
	}
	if err := json.Unmarshal(items[1].Value, &slow); err != nil || slow.IsSuccess || slow.Reason != report.ReasonDeadlineExceeded {
		t.Fatalf("the hanging key: %s, want DEADLINE_EXCEEDED", items[1].Value)
	}
	// The answer came although this verifier never returns.
	for _, want := range []string{"reg/ignores:1", "250ms", "400ms"} {
		if !strings.Contains(slow.Message, want) {
			t.Errorf("message %q does not mention %q", slow.Message, want)
		}
	}
	var hangs report.Report
	if err := json.Unmarshal(items[2].Value, &hangs); err != nil || hangs.IsSuccess || hangs.Reason != report.ReasonDeadlineExceeded {
		t.Fatalf("the key that stops at its deadline: %s, want DEADLINE_EXCEEDED", items[2].Value)
	}
}

func TestMutatePinsTagsAndKeepsDigests(t *testing.T) {
	f := &fakeEngine{digests: map[string]string{"reg/app:v1": digestA, "nginx": digestA, "localhost:5000/x/y:1.2": digestA}}
	srv := newServer(t, f, provider.Options{})
	pinned := "reg/app@" + digestA
	for _, path := range []string{provider.PathMutate, provider.PathRatifyMutate} {
		_, r := post(t, srv.URL+path, "application/json", request("reg/app:v1", pinned, "nginx", "localhost:5000/x/y:1.2", "reg/hangs:1", "no good"))
		if !r.Response.Idempotent {
			t.Fatal("mutation answers must be idempotent")
		}
		want := map[string]string{
			"reg/app:v1":             `"reg/app@` + digestA + `"`,
			pinned:                   `"` + pinned + `"`,
			"nginx":                  `"nginx@` + digestA + `"`,
			"localhost:5000/x/y:1.2": `"localhost:5000/x/y@` + digestA + `"`,
		}
		for _, it := range r.Response.Items {
			switch it.Key {
			case "reg/hangs:1":
				if !strings.HasPrefix(it.Error, "DEADLINE_EXCEEDED: ") {
					t.Errorf("%s: hanging key: %q", path, it.Error)
				}
			case "no good":
				if !strings.HasPrefix(it.Error, "INVALID_REFERENCE: ") {
					t.Errorf("%s: invalid key: %q", path, it.Error)
				}
			default:
				if string(it.Value) != want[it.Key] || it.Error != "" {
					t.Errorf("%s: %s → %s %q, want %s", path, it.Key, it.Value, it.Error, want[it.Key])
				}
			}
		}
		if len(r.Response.Items) != 6 {
			t.Errorf("%s: %d items, want 6", path, len(r.Response.Items))
		}
	}
}

func TestRatifyVerifyAnswersInRatifyShape(t *testing.T) {
	rep := passing("reg/app@" + digestA)
	rep.Artifacts = []report.Artifact{{
		ArtifactType: "application/vnd.cncf.notary.signature", Digest: "sha256:5151",
		Results: []report.Result{{Verifier: "notation", Type: "notation", Verdict: report.Verified, Reason: report.ReasonVerified,
			Message: "signature verified", Details: map[string]any{"signerIssuer": "CN=Root", "signerSubject": "CN=Signer"}}},
	}}
	f := &fakeEngine{reports: map[string]*report.Report{"reg/app:v1": rep, "reg/unsigned:v1": {
		MediaType: report.MediaType, Reason: report.ReasonNoSignature, Message: "no signature of type x", Artifacts: []report.Artifact{}}}}
	srv := newServer(t, f, provider.Options{})
	_, r := post(t, srv.URL+provider.PathRatifyVerify, "application/json", request("reg/app:v1", "reg/unsigned:v1"))
	if r.APIVersion != provider.RatifyAPIVersion {
		t.Errorf("apiVersion %q, want %q", r.APIVersion, provider.RatifyAPIVersion)
	}
	var ok, bad map[string]any
	if err := json.Unmarshal(r.Response.Items[0].Value, &ok); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(r.Response.Items[1].Value, &bad); err != nil {
		t.Fatal(err)
	}
	if ok["version"] != "0.2.0" || ok["isSuccess"] != true || ok["traceID"] == "" || ok["timestamp"] == nil {
		t.Errorf("passing: %v", ok)
	}
	vr := ok["verifierReports"].([]any)[0].(map[string]any)
	for k, want := range map[string]any{
		"subject": "reg/app@" + digestA, "isSuccess": true, "name": "notation", "verifierName": "notation",
		"type": "notation", "verifierType": "notation", "referenceDigest": "sha256:5151",
		"artifactType": "application/vnd.cncf.notary.signature", "message": "signature verified",
	} {
		if vr[k] != want {
			t.Errorf("verifierReports[0].%s = %v, want %v", k, vr[k], want)
		}
	}
	ext := vr["extensions"].(map[string]any)
	if ext["Issuer"] != "CN=Root" || ext["SN"] != "CN=Signer" {
		t.Errorf("extensions %v lack Ratify's Issuer and SN", ext)
	}
	if bad["isSuccess"] != false {
		t.Errorf("failing: %v", bad)
	}
	reports := bad["verifierReports"].([]any)
	last := reports[len(reports)-1].(map[string]any)
	if last["errorReason"] != "NO_SIGNATURE" || !strings.Contains(last["message"].(string), "no signature") {
		t.Errorf("failing report does not say why: %v", last)
	}
}

func TestBadRequestsGetASystemError(t *testing.T) {
	f := &fakeEngine{}
	srv := newServer(t, f, provider.Options{MaxBodyBytes: 256, MaxKeys: 3})
	tests := map[string]struct {
		method, path, contentType, body string
		status                          int
		want                            string
	}{
		"malformed JSON":            {"POST", provider.PathVerify, "application/json", `{"request":`, 400, "not a ProviderRequest"},
		"trailing data":             {"POST", provider.PathVerify, "application/json", request("a") + `{}`, 400, "data after the JSON object"},
		"keys are not strings":      {"POST", provider.PathVerify, "application/json", `{"request":{"keys":[1,2]}}`, 400, "not a ProviderRequest"},
		"oversized body":            {"POST", provider.PathVerify, "application/json", request(strings.Repeat("x", 300)), 413, "larger than the limit of 256 bytes"},
		"too many keys":             {"POST", provider.PathVerify, "application/json", request("a", "b", "c", "d"), 400, "4 distinct keys, more than the limit of 3"},
		"wrong kind":                {"POST", provider.PathVerify, "application/json", `{"kind":"ProviderResponse","request":{"keys":["a"]}}`, 400, `kind is "ProviderResponse"`},
		"wrong content type":        {"POST", provider.PathVerify, "text/plain", request("a"), 415, `"text/plain" is not application/json`},
		"GET":                       {"GET", provider.PathVerify, "", "", 405, "method GET is not allowed"},
		"unknown endpoint":          {"POST", "/v2/verify", "application/json", request("a"), 404, "no endpoint /v2/verify"},
		"unknown endpoint (Ratify)": {"POST", "/ratify/gatekeeper/v2/verify", "application/json", request("a"), 404, "/ratify/gatekeeper/v1/verify"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var r response
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(r.Response.SystemError, tc.want) {
				t.Fatalf("status %d systemError %q, want %d with %q", resp.StatusCode, r.Response.SystemError, tc.status, tc.want)
			}
			if len(r.Response.Items) != 0 {
				t.Fatalf("a rejected request has items: %+v", r.Response.Items)
			}
		})
	}
	if n := f.n.Load(); n != 0 {
		t.Fatalf("rejected requests reached the verifier %d times", n)
	}
}

func TestAPanickingVerifierIsAnItemError(t *testing.T) {
	f := &fakeEngine{reports: map[string]*report.Report{"reg/p:1": {Reason: "panic"}, "reg/a:1": passing("reg/a@" + digestA)}}
	srv := newServer(t, f, provider.Options{})
	_, r := post(t, srv.URL+provider.PathVerify, "application/json", request("reg/p:1", "reg/a:1"))
	if len(r.Response.Items) != 2 || !strings.Contains(r.Response.Items[0].Error, "internal error") || r.Response.Items[1].Error != "" {
		t.Fatalf("items: %+v", r.Response.Items)
	}
}

func TestNoGoroutinesOutliveABurst(t *testing.T) {
	f := &fakeEngine{reports: map[string]*report.Report{"reg/a:1": passing("reg/a@" + digestA)}}
	srv := newServer(t, f, provider.Options{VerifyTimeout: 200 * time.Millisecond, Margin: 100 * time.Millisecond})
	client := srv.Client()
	send := func(body string) {
		resp, err := client.Post(srv.URL+provider.PathVerify, "application/json", strings.NewReader(body))
		if err != nil {
			t.Error(err)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	send(request("reg/a:1")) // warm the connection pool
	before := runtime.NumGoroutine()
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			switch i % 3 {
			case 0:
				send(request("reg/a:1", fmt.Sprintf("reg/hangs:%d", i)))
			case 1:
				send(`{"garbage`)
			default:
				send(request("reg/a:1"))
			}
		}()
	}
	wg.Wait()
	client.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	after := runtime.NumGoroutine()
	for after > before+2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		after = runtime.NumGoroutine()
	}
	if after > before+2 {
		buf := make([]byte, 1<<16)
		n := runtime.Stack(buf, true)
		t.Fatalf("%d goroutines before the burst, %d after:\n%s", before, after, bytes.TrimSpace(buf[:n]))
	}
}

func TestNewRejectsAMarginLongerThanATimeout(t *testing.T) {
	f := &fakeEngine{}
	_, err := provider.New(provider.Options{Verifier: f, Resolver: f, MutateTimeout: time.Second, Margin: time.Second})
	if err == nil || !strings.Contains(err.Error(), "margin 1s") {
		t.Fatalf("New: %v", err)
	}
}
