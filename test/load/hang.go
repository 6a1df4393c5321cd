package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/assayproj/assay/pkg/catalog"
	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/report"
	"github.com/assayproj/assay/pkg/store"
)

// hangResult is what the hang run measured: the answers by kind and
// the slowest answer, from the request's start to its last byte.
type hangResult struct {
	deadline, saturated int
	// other holds the answers that are neither, one line each.
	other   []string
	slowest time.Duration
}

// hangRun sends n concurrent one-key requests to an in-process provider
// Handler (a discover-only Engine over the process's registry stack,
// Provider timeout timeout) for images of a registry that never
// answers, and classifies every answer. Each answer must be
// DEADLINE_EXCEEDED or the provider's saturation systemError.
func hangRun(ctx context.Context, n int, timeout time.Duration) (*hangResult, error) {
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	defer close(release)
	host := strings.TrimPrefix(hang.URL, "http://")
	stack, err := store.NewStack(store.StackOptions{})
	if err != nil {
		return nil, err
	}
	rt, err := engine.New(engine.Options{Stack: stack, DiscoverOnly: true})
	if err != nil {
		return nil, err
	}
	defer rt.Close()
	objs, err := catalog.Decode("hang", []byte(fmt.Sprintf(
		"apiVersion: config.assay.dev/v1alpha1\nkind: Store\nmetadata: {name: hang}\nspec:\n  registries: [{host: %q, plainHTTP: true}]\n", host)))
	if err != nil {
		return nil, err
	}
	if _, err := rt.Load(ctx, objs, "hang", nil); err != nil {
		return nil, err
	}
	h, err := provider.New(provider.Options{Verifier: rt, Resolver: rt, VerifyTimeout: timeout, MutateTimeout: timeout})
	if err != nil {
		return nil, err
	}
	res := &hangResult{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"apiVersion":%q,"kind":%q,"request":{"keys":["%s/app%d:v1"]}}`, provider.APIVersion, provider.KindRequest, host, i)
			<-start
			began := time.Now()
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodPost, provider.PathVerify, strings.NewReader(body)))
			took := time.Since(began)
			kind := classifyHang(rec.Body)
			mu.Lock()
			defer mu.Unlock()
			res.slowest = max(res.slowest, took)
			switch kind {
			case "deadline":
				res.deadline++
			case "saturated":
				res.saturated++
			default:
				res.other = append(res.other, kind)
			}
		}()
	}
	close(start)
	wg.Wait()
	return res, nil
}

// classifyHang returns "deadline", "saturated" or a description of any
// other answer.
func classifyHang(body io.Reader) string {
	data, _ := io.ReadAll(body)
	var resp struct {
		Response struct {
			SystemError string `json:"systemError"`
			Items       []struct {
				Error string          `json:"error"`
				Value json.RawMessage `json:"value"`
			} `json:"items"`
		} `json:"response"`
	}
	if err := json.Unmarshal(data, &resp); err != nil {
		return "undecodable answer: " + string(data)
	}
	if se := resp.Response.SystemError; se != "" {
		if strings.HasPrefix(se, provider.ErrSaturated.Error()+":") {
			return "saturated"
		}
		return "systemError: " + se
	}
	if len(resp.Response.Items) != 1 {
		return fmt.Sprintf("%d items", len(resp.Response.Items))
	}
	it := resp.Response.Items[0]
	var rep report.Report
	if it.Error == "" {
		if err := json.Unmarshal(it.Value, &rep); err != nil {
			return "undecodable report: " + string(it.Value)
		}
	}
	if strings.HasPrefix(it.Error, string(report.ReasonDeadlineExceeded)+":") || rep.Reason == report.ReasonDeadlineExceeded {
		return "deadline"
	}
	return fmt.Sprintf("error %q, report reason %s: %s", it.Error, rep.Reason, bytes.TrimSpace(it.Value))
}
