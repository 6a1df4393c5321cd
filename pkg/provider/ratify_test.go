package provider_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/assayproj/assay/pkg/executor"
	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/registrytest"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/store"
	"github.com/google/go-cmp/cmp"
)

const (
	sarifDigest = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc"
	sigDigest   = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
	sarifType   = "application/sarif+json"
	notaryType  = "application/vnd.cncf.notary.signature"
)

// ratifyAnswer posts keys to PathRatifyVerify and decodes each item's
// value as Ratify's response, keyed by key.
func ratifyAnswer(t *testing.T, url string, keys ...string) map[string]provider.RatifyResponse {
	t.Helper()
	_, r := post(t, url+provider.PathRatifyVerify, "application/json", request(keys...))
	out := map[string]provider.RatifyResponse{}
	for _, it := range r.Response.Items {
		if it.Error != "" {
			t.Fatalf("%s: error %q", it.Key, it.Error)
		}
		var v provider.RatifyResponse
		if err := json.Unmarshal(it.Value, &v); err != nil {
			t.Fatalf("%s: %v in %s", it.Key, err, it.Value)
		}
		out[it.Key] = v
	}
	return out
}

// scanned is a passing report of an image with one vulnerability report
// (by plugin, with details) that carries a verified Notary Project
// signature of its own.
func scanned(plugin string, details map[string]any) *report.Report {
	rep := passing("reg/app@" + digestA)
	rep.Artifacts = []report.Artifact{{
		ArtifactType: sarifType, Digest: sarifDigest,
		Results: []report.Result{{Verifier: "reports", Type: plugin, Verdict: report.Verified, Reason: report.ReasonVerified, Details: details}},
		Artifacts: []report.Artifact{{
			ArtifactType: notaryType, Digest: sigDigest,
			Results: []report.Result{{Verifier: "notation", Type: "notation", Verdict: report.Verified, Reason: report.ReasonVerified}},
		}},
	}}
	return rep
}

func TestRatifyReportsCarryRatifysVerifierTypeNames(t *testing.T) {
	result := func(verifier, plugin string, v report.Verdict) report.Result {
		return report.Result{Verifier: verifier, Type: plugin, Verdict: v, Reason: report.ReasonVerified}
	}
	rep := passing("reg/app@" + digestA)
	rep.Artifacts = []report.Artifact{
		{ArtifactType: notaryType, Digest: sigDigest, Results: []report.Result{result("corp-notation", "notation", report.Verified)}},
		{ArtifactType: "application/vnd.dev.sigstore.bundle.v0.3+json", Digest: "sha256:5151", Results: []report.Result{result("keyless", "cosign", report.Verified)}},
		{ArtifactType: sarifType, Digest: sarifDigest, Results: []report.Result{result("reports", "vulnreport", report.Verified)}},
		{ArtifactType: "application/spdx+json", Digest: "sha256:5252", Results: []report.Result{result("sboms", "sbomcheck", report.Verified)}},
	}
	srv := newServer(t, &fakeEngine{reports: map[string]*report.Report{"reg/app:v1": rep}}, provider.Options{})
	got := map[string][3]string{} // verifier name -> name, type, verifierType
	for _, vr := range ratifyAnswer(t, srv.URL, "reg/app:v1")["reg/app:v1"].VerifierReports {
		got[vr.VerifierName] = [3]string{vr.Name, vr.Type, vr.VerifierType}
	}
	want := map[string][3]string{
		"corp-notation": {"corp-notation", "notation", "notation"},
		"keyless":       {"keyless", "cosign", "cosign"},
		// Ratify's vulnerability report template keeps only reports of
		// type "vulnerabilityreport".
		"reports": {"reports", "vulnerabilityreport", "vulnerabilityreport"},
		// A plugin Ratify has no verifier for keeps its own name.
		"sboms": {"sboms", "sbomcheck", "sbomcheck"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("verifier reports by Verifier: name, type, verifierType (-want +got):\n%s", diff)
	}
}

func TestRatifyVulnerabilityReportsCarryCreatedAt(t *testing.T) {
	tests := map[string]struct {
		plugin  string
		created any // the plugin's createdAt detail; nil for none
		want    any // extensions.createdAt; nil for absent
	}{
		"the plugin's creation time is passed on": {
			plugin: "vulnreport", created: "2026-11-20T08:30:00Z", want: "2026-11-20T08:30:00Z",
		},
		"a time with an offset is given in UTC": {
			plugin: "vulnreport", created: "2026-11-20T10:30:00.25+02:00", want: "2026-11-20T08:30:00.25Z",
		},
		"an undated report has none, so Ratify's template does not count it": {
			plugin: "vulnreport", created: nil, want: nil,
		},
		"a creation time that is not RFC 3339 is left out": {
			plugin: "vulnreport", created: "last Tuesday", want: nil,
		},
		"another plugin's detail is passed on as it is": {
			plugin: "sbomcheck", created: "last Tuesday", want: "last Tuesday",
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			details := map[string]any{"scanner": "trivy"}
			if tc.created != nil {
				details["createdAt"] = tc.created
			}
			srv := newServer(t, &fakeEngine{reports: map[string]*report.Report{"reg/app:v1": scanned(tc.plugin, details)}}, provider.Options{})
			reports := ratifyAnswer(t, srv.URL, "reg/app:v1")["reg/app:v1"].VerifierReports
			if len(reports) != 1 {
				t.Fatalf("verifier reports: %+v, want the vulnerability report's", reports)
			}
			vr := reports[0]
			if got := vr.Extensions["createdAt"]; got != tc.want {
				t.Errorf("extensions.createdAt = %v, want %v", got, tc.want)
			}
			// What else Ratify's template reads.
			if !vr.IsSuccess || vr.ArtifactType != sarifType || vr.Extensions["scanner"] != "trivy" {
				t.Errorf("isSuccess %v artifactType %q extensions %v", vr.IsSuccess, vr.ArtifactType, vr.Extensions)
			}
		})
	}
}

func TestRatifyNestedResultsHaveTheArtifactAsSubject(t *testing.T) {
	srv := newServer(t, &fakeEngine{reports: map[string]*report.Report{"reg/app:v1": scanned("vulnreport", nil)}}, provider.Options{})
	reports := ratifyAnswer(t, srv.URL, "reg/app:v1")["reg/app:v1"].VerifierReports
	if len(reports) != 1 || len(reports[0].NestedResults) != 1 {
		t.Fatalf("verifier reports: %+v, want one with one nested result", reports)
	}
	if got, want := reports[0].Subject, "reg/app@"+digestA; got != want {
		t.Errorf("the report's subject is %q, want the image %q", got, want)
	}
	nested := reports[0].NestedResults[0]
	if want := "reg/app@" + sarifDigest; nested.Subject != want {
		t.Errorf("the nested signature's subject is %q, want the report it signs, %q", nested.Subject, want)
	}
	if nested.ReferenceDigest != sigDigest || nested.ArtifactType != notaryType || !nested.IsSuccess || nested.Type != "notation" {
		t.Errorf("nested result %+v", nested)
	}
}

// clock is a settable Options.Now.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func TestRatifyTimestampIsTheTimeOfTheRequest(t *testing.T) {
	// The verdict was made, and cached, at verified; requests come later.
	verified := time.Date(2026, 11, 22, 16, 12, 47, 0, time.UTC)
	rep := passing("reg/app@" + digestA)
	rep.IsSuccess, rep.Reason, rep.Message = false, report.ReasonNoSignature, "no signature"
	rep.Timestamp = verified
	now := &clock{}
	srv := newServer(t, &fakeEngine{reports: map[string]*report.Report{"reg/app:v1": rep}}, provider.Options{Now: now.Now})
	for _, at := range []time.Time{verified.Add(25 * time.Second), verified.Add(3 * time.Minute)} {
		now.Set(at.In(time.FixedZone("CET", 3600)))
		got := ratifyAnswer(t, srv.URL, "reg/app:v1")["reg/app:v1"]
		if want := at.UTC().Format(time.RFC3339Nano); got.Timestamp != want {
			t.Errorf("timestamp %q, want the request's %q, not the cached verdict's %s", got.Timestamp, want, verified.Format(time.RFC3339))
		}
	}
	if !rep.Timestamp.Equal(verified) {
		t.Errorf("the verifier's report was changed: timestamp %s", rep.Timestamp)
	}
}

// syncBuffer is a bytes.Buffer safe for the handler's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes the JSON log lines written so far.
func (b *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestRatifyTraceIDIsLoggedWithEachImageAndItsOutcome(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	f := &fakeEngine{reports: map[string]*report.Report{
		"reg/app:v1":      passing("reg/app@" + digestA),
		"reg/unsigned:v1": {MediaType: report.MediaType, Subject: "reg/unsigned@" + digestA, Reason: report.ReasonNoSignature, Message: "no signature", Artifacts: []report.Artifact{}},
		"reg/gone:v1":     {MediaType: report.MediaType, Reason: report.ReasonSubjectNotFound, Message: "cannot resolve reg/gone:v1: not found"},
	}}
	srv := newServer(t, f, provider.Options{Logger: logger})
	keys := []string{"reg/app:v1", "reg/unsigned:v1", "reg/gone:v1"}
	_, r := post(t, srv.URL+provider.PathRatifyVerify, "application/json", request(append(keys, "reg/app:v1")...))
	var traceID string
	for _, it := range r.Response.Items {
		if it.Error != "" {
			continue
		}
		var v provider.RatifyResponse
		if err := json.Unmarshal(it.Value, &v); err != nil {
			t.Fatal(err)
		}
		if v.TraceID == "" || (traceID != "" && v.TraceID != traceID) {
			t.Fatalf("traceIDs %q and %q in one answer", traceID, v.TraceID)
		}
		traceID = v.TraceID
	}

	got := map[string]map[string]any{}
	for _, l := range logs.lines(t) {
		if l["msg"] != "ratify verification" {
			continue
		}
		if l["level"] != "INFO" || l["traceID"] != traceID {
			t.Errorf("log line %v: want level INFO and the answer's traceID %s", l, traceID)
		}
		image, _ := l["image"].(string)
		if _, dup := got[image]; dup {
			t.Errorf("image %s logged twice for one request", image)
		}
		delete(l, "time")
		got[image] = l
	}
	want := map[string]map[string]any{
		"reg/app:v1": {"level": "INFO", "msg": "ratify verification", "traceID": traceID, "image": "reg/app:v1",
			"subject": "reg/app@" + digestA, "isSuccess": true, "reason": "VERIFIED"},
		"reg/unsigned:v1": {"level": "INFO", "msg": "ratify verification", "traceID": traceID, "image": "reg/unsigned:v1",
			"subject": "reg/unsigned@" + digestA, "isSuccess": false, "reason": "NO_SIGNATURE"},
		"reg/gone:v1": {"level": "INFO", "msg": "ratify verification", "traceID": traceID, "image": "reg/gone:v1",
			"isSuccess": false, "error": "SUBJECT_NOT_FOUND: cannot resolve reg/gone:v1: not found"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("info lines by image (-want +got):\n%s", diff)
	}
}

// executorEngine serves the provider with a real executor.
type executorEngine struct{ e *executor.Executor }

func (x executorEngine) Verify(ctx context.Context, k provider.Key) (*report.Report, error) {
	return x.e.Verify(ctx, k.Reference)
}

func (x executorEngine) Resolve(ctx context.Context, k provider.Key) (string, error) {
	return x.e.Resolve(ctx, k.Reference)
}

func TestMutateAnswersAnUnknownImageAsVerifyDoes(t *testing.T) {
	reg := registrytest.NewOlareg(t)
	repo := reg.Repository(t, "team/app")
	registrytest.PushImage(t, repo, "v1")
	st, err := store.New(store.Options{Registries: map[string]store.RegistryOptions{reg.Host(): {PlainHTTP: true}}, DockerConfigs: [][]byte{[]byte(`{}`)}})
	if err != nil {
		t.Fatal(err)
	}
	exec, err := executor.New(executor.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	eng := executorEngine{exec}
	h, err := provider.New(provider.Options{Verifier: eng, Resolver: eng})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	missing := reg.RepositoryName("team/app") + ":missing"
	answers := map[string]string{}
	for _, path := range []string{provider.PathVerify, provider.PathRatifyVerify, provider.PathMutate, provider.PathRatifyMutate} {
		_, r := post(t, srv.URL+path, "application/json", request(missing))
		if len(r.Response.Items) != 1 || r.Response.Items[0].Value != nil {
			t.Fatalf("%s: %+v, want one item with an error", path, r.Response.Items)
		}
		answers[path] = r.Response.Items[0].Error
	}
	verify := answers[provider.PathVerify]
	if !strings.HasPrefix(verify, "SUBJECT_NOT_FOUND: ") {
		t.Fatalf("verify: %q, want SUBJECT_NOT_FOUND", verify)
	}
	for path, got := range answers {
		if got != verify {
			t.Errorf("%s answers %q, verify %q", path, got, verify)
		}
		if n := strings.Count(got, "team/app:missing"); n != 1 {
			t.Errorf("%s: %q names the reference %d times, want once", path, got, n)
		}
	}
}
