package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/notationtest"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/servetest"
)

// served is a registry with a signed and an unsigned image and a running
// assay serve trusting the signer.
type served struct {
	*fixture
	srv              *servetest.Server
	tls              *servetest.TLS
	config           string
	signed, unsigned string // tag references
	signedDigest     string
	repository       string
}

func startServed(t *testing.T, args ...string) *served {
	t.Helper()
	return startServedWith(t, true, args...)
}

// startServedNotReady is startServed for a server that may never be ready.
func startServedNotReady(t *testing.T, args ...string) *served {
	t.Helper()
	return startServedWith(t, false, args...)
}

func startServedWith(t *testing.T, waitReady bool, args ...string) *served {
	t.Helper()
	f := newFixture(t, registrytest.NewOlareg(t).Host())
	r := f.repo("serve/app")
	d := f.image(r, "signed")
	f.sign(r, f.leaf, d, notationtest.SignOptions{})
	f.image(r, "unsigned")
	s := &served{fixture: f, repository: r.Reference.String()}
	s.signed, s.unsigned = s.repository+":signed", s.repository+":unsigned"
	s.signedDigest = d.Digest.String()
	s.config = f.config(s.repository, configOptions{})
	var err error
	s.tls, err = servetest.NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.srv = startServeWith(t, s.config, s.tls, waitReady, args...)
	return s
}

func startServe(t *testing.T, config string, material *servetest.TLS, args ...string) *servetest.Server {
	t.Helper()
	return startServeWith(t, config, material, true, args...)
}

func startServeWith(t *testing.T, config string, material *servetest.TLS, waitReady bool, args ...string) *servetest.Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := servetest.Start(ctx, servetest.Options{Assay: assayBin, PluginDir: pluginDir, Config: config, TLS: material, Args: args, NotReady: !waitReady})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Stop()
		if out := srv.Output(); strings.Contains(out, "panic:") || t.Failed() {
			t.Logf("assay serve output:\n%s", out)
		}
	})
	return srv
}

func post(t *testing.T, srv *servetest.Server, path string, keys ...string) *servetest.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := srv.Post(ctx, path, keys...)
	if err != nil {
		t.Fatal(err)
	}
	if r.Response.SystemError != "" {
		t.Fatalf("systemError: %s", r.Response.SystemError)
	}
	if len(r.Response.Items) != len(dedupe(keys)) {
		t.Fatalf("%d items for %d distinct keys: %+v", len(r.Response.Items), len(dedupe(keys)), r.Response.Items)
	}
	return r
}

func dedupe(keys []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, k := range keys {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func decodeReport(t *testing.T, it servetest.Item) *report.Report {
	t.Helper()
	if it.Error != "" {
		t.Fatalf("key %s: error %q, want a report", it.Key, it.Error)
	}
	var rep report.Report
	if err := json.Unmarshal(it.Value, &rep); err != nil || rep.MediaType != report.MediaType {
		t.Fatalf("key %s: value is not a report (%v): %s", it.Key, err, it.Value)
	}
	return &rep
}

func TestServeAnswersGatekeeperRequests(t *testing.T) {
	s := startServed(t)
	missing := s.repository + ":no-such-tag"
	r := post(t, s.srv, "/v1/verify", s.signed, "[team-a]"+s.unsigned, missing, s.signed)
	if !r.Response.Idempotent || r.APIVersion != "externaldata.gatekeeper.sh/v1beta1" {
		t.Errorf("envelope: %+v", r)
	}
	if rep := decodeReport(t, r.Response.Items[0]); !rep.IsSuccess || rep.Subject != s.repository+"@"+s.signedDigest {
		t.Errorf("signed: %s %s subject %s", rep.Reason, rep.Message, rep.Subject)
	}
	if rep := decodeReport(t, r.Response.Items[1]); rep.IsSuccess || rep.Reason != report.ReasonNoSignature {
		t.Errorf("unsigned: %v %s %s", rep.IsSuccess, rep.Reason, rep.Message)
	}
	if e := r.Response.Items[2].Error; !strings.HasPrefix(e, "SUBJECT_NOT_FOUND: ") || !strings.Contains(e, "no-such-tag") {
		t.Errorf("missing tag: %q", e)
	}

	m := post(t, s.srv, "/v1/mutate", s.signed, s.repository+"@"+s.signedDigest)
	for _, it := range m.Response.Items {
		var v string
		if err := json.Unmarshal(it.Value, &v); err != nil || v != s.repository+"@"+s.signedDigest {
			t.Errorf("mutate %s → %s %q", it.Key, it.Value, it.Error)
		}
	}

	rr := post(t, s.srv, "/ratify/gatekeeper/v1/verify", s.signed, s.unsigned)
	if rr.APIVersion != "externaldata.gatekeeper.sh/v1alpha1" {
		t.Errorf("Ratify apiVersion %q", rr.APIVersion)
	}
	var ok, bad struct {
		Version         string           `json:"version"`
		IsSuccess       bool             `json:"isSuccess"`
		VerifierReports []map[string]any `json:"verifierReports"`
	}
	if err := json.Unmarshal(rr.Response.Items[0].Value, &ok); err != nil || !ok.IsSuccess || ok.Version != "0.2.0" || len(ok.VerifierReports) != 1 {
		t.Errorf("Ratify signed: %s", rr.Response.Items[0].Value)
	} else if ok.VerifierReports[0]["verifierName"] != "notation" || ok.VerifierReports[0]["artifactType"] != notarySignature {
		t.Errorf("Ratify verifier report: %v", ok.VerifierReports[0])
	}
	if err := json.Unmarshal(rr.Response.Items[1].Value, &bad); err != nil || bad.IsSuccess {
		t.Errorf("Ratify unsigned: %s", rr.Response.Items[1].Value)
	}

	// The second request for the signed image was a verdict cache hit.
	if v, err := s.srv.Metric(context.Background(), `assay_provider_requests_total{endpoint="verify",outcome="ok"}`); err != nil || v != "1" {
		t.Errorf("verify requests metric: %q %v", v, err)
	}
}

func TestServeRefusesClientsWithoutGatekeepersCertificate(t *testing.T) {
	s := startServed(t)
	good, err := s.tls.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	other, err := servetest.NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	noCert := good.Clone()
	noCert.Certificates = nil
	foreign.RootCAs = good.RootCAs // trusts the server; its client cert is from another CA
	tls12 := good.Clone()
	tls12.MinVersion, tls12.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
	for name, cfg := range map[string]*tls.Config{
		"no client certificate":                noCert,
		"a client certificate from another CA": foreign,
		"TLS 1.2":                              tls12,
	} {
		t.Run(name, func(t *testing.T) {
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
			resp, err := c.Post(s.srv.URL+"/v1/verify", "application/json", bytes.NewReader(servetest.ProviderRequest(s.signed)))
			if err == nil {
				resp.Body.Close()
				t.Fatalf("request succeeded with HTTP %d", resp.StatusCode)
			}
		})
	}
	// The provider still serves Gatekeeper.
	post(t, s.srv, "/v1/verify", s.signed)
}

func TestServeRejectsBadRequestsPrecisely(t *testing.T) {
	s := startServed(t, "--max-body-bytes", "4096")
	cases := map[string]struct {
		path, body string
		status     int
		want       string
	}{
		"malformed JSON":      {"/v1/verify", `{"request": {"keys": [`, 400, "not a ProviderRequest"},
		"an oversized body":   {"/v1/verify", string(servetest.ProviderRequest(strings.Repeat("a", 5000))), 413, "larger than the limit of 4096 bytes"},
		"an unknown endpoint": {"/validate", string(servetest.ProviderRequest("x")), 404, "no endpoint /validate"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			resp, err := s.srv.Client.Post(s.srv.URL+tc.path, "application/json", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var r servetest.Response
			if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tc.status || !strings.Contains(r.Response.SystemError, tc.want) {
				t.Fatalf("HTTP %d systemError %q, want %d with %q", resp.StatusCode, r.Response.SystemError, tc.status, tc.want)
			}
		})
	}
}

func TestServeAnswersWithinTheBudgetWhenTheRegistryHangsOrIsDown(t *testing.T) {
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); hang.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there any more
	hangHost := strings.TrimPrefix(hang.URL, "http://")
	cfg := writeFile(t, `apiVersion: config.assay.dev/v1alpha1
kind: Store
metadata: {name: s}
spec:
  registries:
    - {host: "`+hangHost+`", plainHTTP: true}
    - {host: "`+down+`", plainHTTP: true}
---
apiVersion: config.assay.dev/v1alpha1
kind: Verifier
metadata: {name: notation}
spec:
  plugin: notation
  artifactTypes: [application/vnd.cncf.notary.signature]
  parameters: `+string(notationtest.MustJSON(t, notationtest.NewParams(hangHost+"/slow/app", notationtest.MustCA(t, notationtest.CAOptions{}), nil)))+`
---
apiVersion: config.assay.dev/v1alpha1
kind: Policy
metadata: {name: p}
spec:
  rules: [{artifactType: application/vnd.cncf.notary.signature, required: true}]
`)
	material, err := servetest.NewTLS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv := startServe(t, cfg, material, "--verify-timeout", "2s", "--margin", "500ms")
	r := post(t, srv, "/v1/verify", hangHost+"/slow/app:v1", down+"/gone/app:v1")
	slow := decodeReport(t, r.Response.Items[0])
	if slow.IsSuccess || slow.Reason != report.ReasonDeadlineExceeded {
		t.Errorf("hanging registry: %s %q, want DEADLINE_EXCEEDED", slow.Reason, slow.Message)
	}
	gone := decodeReport(t, r.Response.Items[1])
	if gone.IsSuccess || gone.Reason != report.ReasonRegistryError || !strings.Contains(gone.Message, down) {
		t.Errorf("registry down: %s %q, want REGISTRY_ERROR naming %s", gone.Reason, gone.Message, down)
	}
}

func TestServeReloadsItsConfigurationAndKeepsTheLastGoodOne(t *testing.T) {
	s := startServed(t, "--verdict-cache-bytes", "0")
	if rep := decodeReport(t, post(t, s.srv, "/v1/verify", s.signed).Response.Items[0]); !rep.IsSuccess {
		t.Fatalf("before: %s %s", rep.Reason, rep.Message)
	}
	orig, err := os.ReadFile(s.config)
	if err != nil {
		t.Fatal(err)
	}
	// A Verifier that trusts another CA: the signed image now fails.
	other := notationtest.MustCA(t, notationtest.CAOptions{})
	strictFile := s.fixture.config(s.repository, configOptions{params: notationtest.MustJSON(t, notationtest.NewParams(s.repository, other, nil))})
	strictData, err := os.ReadFile(strictFile)
	if err != nil {
		t.Fatal(err)
	}
	stricter := string(strictData)
	writeAndWait := func(content string, result string, want int) {
		t.Helper()
		if err := os.WriteFile(s.config, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		waitMetric(t, s.srv, `assay_config_reloads_total{result="`+result+`"}`, want)
	}
	writeAndWait(stricter, "ok", 2)
	if rep := decodeReport(t, post(t, s.srv, "/v1/verify", s.signed).Response.Items[0]); rep.IsSuccess || rep.Reason != report.ReasonSignatureUntrusted {
		t.Fatalf("after the stricter policy: %v %s %s", rep.IsSuccess, rep.Reason, rep.Message)
	}
	// A broken file: logged, counted, and the stricter policy stays.
	writeAndWait(stricter+"  nonsense: [\n", "failed", 1)
	if rep := decodeReport(t, post(t, s.srv, "/v1/verify", s.signed).Response.Items[0]); rep.IsSuccess || rep.Reason != report.ReasonSignatureUntrusted {
		t.Fatalf("after a broken file: %v %s %s", rep.IsSuccess, rep.Reason, rep.Message)
	}
	writeAndWait(string(orig), "ok", 3)
	if rep := decodeReport(t, post(t, s.srv, "/v1/verify", s.signed).Response.Items[0]); !rep.IsSuccess {
		t.Fatalf("after restoring the file: %s %s", rep.Reason, rep.Message)
	}
	if !strings.Contains(s.srv.Output(), "configuration not reloaded; the previous one stays active") {
		t.Errorf("the broken file was not logged:\n%s", s.srv.Output())
	}
}

// waitMetric polls /metrics until name reaches want.
func waitMetric(t *testing.T, srv *servetest.Server, name string, want int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		v, _ := srv.Metric(context.Background(), name)
		if n, err := strconv.ParseFloat(v, 64); err == nil && int(n) >= want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want %d\n%s", name, v, want, srv.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestServeRotatesItsCertificateWithoutFailedRequests(t *testing.T) {
	s := startServed(t)
	serial := func() string {
		t.Helper()
		cfg, err := s.tls.ClientConfig()
		if err != nil {
			t.Fatal(err)
		}
		conn, err := tls.Dial("tcp", strings.TrimPrefix(s.srv.URL, "https://"), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0].SerialNumber.String()
	}
	before := serial()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures []string
	var mu sync.Mutex
	wg.Add(1)
	go func() { // requests keep flowing during the rotation, each on a new connection
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			cfg, _ := s.tls.ClientConfig()
			c := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}, Timeout: 10 * time.Second}
			resp, err := c.Post(s.srv.URL+"/v1/verify", "application/json", bytes.NewReader(servetest.ProviderRequest(s.signed)))
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			if err != nil || resp.StatusCode != http.StatusOK {
				mu.Lock()
				failures = append(failures, strings.TrimSpace(strings.Join([]string{errString(err), statusOf(resp)}, " ")))
				mu.Unlock()
			}
		}
	}()
	if err := s.tls.RotateServing(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for serial() == before {
		if time.Now().After(deadline) {
			t.Fatal("the new serving certificate was never served")
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Fatalf("%d requests failed during the rotation: %v", len(failures), failures)
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func statusOf(resp *http.Response) string {
	if resp == nil {
		return ""
	}
	return resp.Status
}

func TestServeGoroutinesDoNotGrowAfterABurst(t *testing.T) {
	// Two connections per registry at most, so the pools of idle
	// connections (two goroutines each) are full after the first burst
	// and do not grow with the next bursts' peak concurrency.
	s := startServed(t, "--verify-timeout", "1s", "--margin", "500ms", "--pprof", "--registry-concurrency", "2")
	block := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-block:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(block); hang.Close() })
	ctx := context.Background()
	burst := func(round int) {
		var wg sync.WaitGroup
		for j := range 60 {
			i := round*60 + j
			wg.Add(1)
			go func() {
				defer wg.Done()
				var body []byte
				switch i % 4 {
				case 0:
					body = servetest.ProviderRequest(s.signed, s.unsigned)
				case 1:
					body = []byte(`{"garbage`)
				case 2:
					body = servetest.ProviderRequest(strings.TrimPrefix(hang.URL, "http://") + "/x/y:" + strconv.Itoa(i))
				default:
					body = servetest.ProviderRequest(s.repository + ":missing-" + strconv.Itoa(i))
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.srv.URL+"/v1/verify", bytes.NewReader(body))
				resp, err := s.srv.Client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}()
		}
		wg.Wait()
		s.srv.Client.CloseIdleConnections()
	}
	// The first burst fills connection pools and starts the plugin; the
	// count after it is the baseline. Two more bursts must not add to it.
	burst(0)
	time.Sleep(time.Second)
	before := goroutines(t, s.srv)
	burst(1)
	burst(2)
	deadline := time.Now().Add(15 * time.Second)
	after := goroutines(t, s.srv)
	for after > before+5 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		after = goroutines(t, s.srv)
	}
	if after > before+5 {
		t.Fatalf("assay serve ran %d goroutines after one burst and %d after two more; now:\n%s", before, after, goroutineDump(t, s.srv))
	}
}

func goroutines(t *testing.T, srv *servetest.Server) int {
	t.Helper()
	v, err := srv.Metric(context.Background(), "go_goroutines")
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// goroutineDump returns assay serve's goroutines grouped by stack.
func goroutineDump(t *testing.T, srv *servetest.Server) string {
	t.Helper()
	resp, err := http.Get(srv.HealthURL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
