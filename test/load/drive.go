package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/assayproj/assay/pkg/provider"
	"github.com/assayproj/assay/pkg/servetest"
)

// Outcomes of one key, as counted in a run's answers.
const (
	outcomeSuccess   = "isSuccess=true"
	outcomeTransport = "transport error" // per request: no ProviderResponse came back
	outcomeSystem    = "systemError"     // per request
	outcomeMissing   = "no item for the key"
)

// next hands a worker the keys of its next request, or false when the
// run is over. It is called from every worker at once.
type next func() ([]string, bool)

// fixed hands out each batch once.
func fixed(batches [][]string) next {
	var i atomic.Int64
	return func() ([]string, bool) {
		n := int(i.Add(1)) - 1
		if n >= len(batches) {
			return nil, false
		}
		return batches[n], true
	}
}

// repeat hands out keys n times, or, if n <= 0, until d has passed since
// the first call.
func repeat(keys []string, n int, d time.Duration) next {
	var i atomic.Int64
	var once sync.Once
	var end time.Time
	return func() ([]string, bool) {
		if n > 0 {
			return keys, int(i.Add(1)) <= n
		}
		once.Do(func() { end = time.Now().Add(d) })
		return keys, time.Now().Before(end)
	}
}

// result is what the load generator saw in one run.
type result struct {
	elapsed   time.Duration
	latencies []time.Duration // one per request, client-side
	keys      int             // keys sent
	// outcomes counts keys by outcome (outcomeSuccess, "isSuccess=false
	// <REASON>", "item error <REASON>"), and requests that got no items
	// (outcomeTransport, outcomeSystem).
	outcomes map[string]int
	// examples holds one message per outcome other than success.
	examples map[string]string
}

// success counts the keys answered with isSuccess true.
func (r *result) success() int { return r.outcomes[outcomeSuccess] }

// drive sends requests from concurrency workers until next says stop and
// records the latency and the answer of each.
func drive(ctx context.Context, srv *servetest.Server, concurrency int, next next) *result {
	parts := make([]*result, concurrency)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range concurrency {
		r := &result{outcomes: map[string]int{}, examples: map[string]string{}}
		parts[w] = r
		wg.Go(func() {
			for {
				keys, ok := next()
				if !ok || ctx.Err() != nil {
					return
				}
				t := time.Now()
				resp, err := srv.Post(ctx, provider.PathVerify, keys...)
				r.latencies = append(r.latencies, time.Since(t))
				r.keys += len(keys)
				r.record(keys, resp, err)
			}
		})
	}
	wg.Wait()
	all := &result{elapsed: time.Since(start), outcomes: map[string]int{}, examples: map[string]string{}}
	for _, r := range parts {
		all.latencies = append(all.latencies, r.latencies...)
		all.keys += r.keys
		for k, n := range r.outcomes {
			all.outcomes[k] += n
		}
		for k, m := range r.examples {
			all.examples[k] = m
		}
	}
	slices.Sort(all.latencies)
	return all
}

// record counts the answer to one request for keys.
func (r *result) record(keys []string, resp *servetest.Response, err error) {
	note := func(outcome, msg string, n int) {
		r.outcomes[outcome] += n
		if _, ok := r.examples[outcome]; !ok && msg != "" {
			r.examples[outcome] = msg
		}
	}
	switch {
	case err != nil:
		note(outcomeTransport, err.Error(), 1)
		return
	case resp.Response.SystemError != "":
		note(outcomeSystem, resp.Response.SystemError, 1)
		return
	}
	answered := map[string]bool{}
	for _, it := range resp.Response.Items {
		answered[it.Key] = true
		outcome, msg := classifyItem(it)
		note(outcome, msg, 1)
	}
	for _, k := range keys {
		if !answered[k] {
			answered[k] = true // a key sent twice is answered once
			note(outcomeMissing, k, 1)
		}
	}
}

// classifyItem names the outcome of one item: its isSuccess and reason,
// or its error's reason code (the text before the first colon).
func classifyItem(it servetest.Item) (outcome, msg string) {
	if it.Error != "" {
		code, _, _ := strings.Cut(it.Error, ":")
		return "item error " + code, it.Error
	}
	var rep struct {
		IsSuccess bool   `json:"isSuccess"`
		Reason    string `json:"reason"`
		Message   string `json:"message"`
	}
	if err := json.Unmarshal(it.Value, &rep); err != nil {
		return "undecodable item", fmt.Sprintf("%s: %v", it.Key, err)
	}
	if rep.IsSuccess {
		return outcomeSuccess, ""
	}
	return "isSuccess=false " + rep.Reason, rep.Message
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method, or 0 for no samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
