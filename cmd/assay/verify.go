package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/assayproj/assay/pkg/engine"
	"github.com/assayproj/assay/pkg/report"
	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
)

func newVerifyCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "verify <image>...",
		Short: "Verify images against the configured Verifiers and Policy",
		Long: `Verify pins each image to a digest, discovers the artifacts attached to it,
runs the configured Verifiers on them and evaluates the Policy.

Each report is printed as soon as it and the earlier ones are done, in
the order given; -o json prints one JSON array of reports, also for one
image. Warnings about the configuration, and progress when stderr is a
terminal, go to stderr (docs/cli.md).

The exit code is 0 only when every image passes, 1 when any fails, 2 on a
usage or configuration error.`,
		Example: `  assay verify --config assay.yaml localhost:5000/app:v1
  assay verify --config assay.yaml -o json ghcr.io/org/app@sha256:...`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if g.objects == "" {
				g.note("no --config given: no Store, Verifier or Policy is configured, so every image is NO_POLICY and none passes; " +
					"give --config <file> with Store, Verifier and Policy documents (docs/configuration.md; `make demo` writes a working one)")
			}
			eng, closeFn, err := g.prepare(cmd.Context(), output, false)
			if err != nil {
				return err
			}
			defer closeFn()
			for _, w := range eng.Warnings() {
				g.warn(w)
			}

			out := newReportWriter(cmd.OutOrStdout(), output, writeVerify)
			prog := newProgress(g.stderr, len(args), isTerminal(g.stderr))
			failed := false
			verifyEach(cmd.Context(), g.cfg.Concurrency, args, func(ctx context.Context, ref string) *report.Report {
				ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
				defer cancel()
				rep, err := eng.Verify(ctx, ref)
				if err != nil {
					g.log.V(1).Info("subject not pinned", "reference", ref, "error", err.Error())
				}
				explainDeadline(rep, g.cfg.Timeout)
				return rep
			}, func(r *report.Report) {
				failed = failed || !r.IsSuccess
				prog.clear()
				out.write(r)
				prog.finished(r.IsSuccess)
			})
			prog.clear()
			if err := out.close(); err != nil {
				return &exitError{code: exitInternal, err: err}
			}
			if failed {
				return &exitError{code: exitFailed, err: errors.New("verification failed")}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}

// prepare checks the output format, reads the verification objects and
// wires the engine; discoverOnly starts no plugin.
func (g *globals) prepare(ctx context.Context, output string, discoverOnly bool) (*engine.Engine, func(), error) {
	if output != "text" && output != "json" {
		return nil, nil, usageError(fmt.Errorf("--output: %q is not text or json", output))
	}
	return g.newCLIEngine(ctx, discoverOnly)
}

// verifyEach verifies refs, at most limit at once, and calls emit with
// each report in input order as soon as it and every earlier one are
// done, from the calling goroutine.
func verifyEach(ctx context.Context, limit int, refs []string, verify func(context.Context, string) *report.Report, emit func(*report.Report)) {
	type done struct {
		i   int
		rep *report.Report
	}
	finished := make(chan done, len(refs)) // never blocks a worker
	var eg errgroup.Group
	eg.SetLimit(limit)
	go func() {
		for i, ref := range refs {
			eg.Go(func() error {
				finished <- done{i, verify(ctx, ref)}
				return nil
			})
		}
	}()
	reports := make([]*report.Report, len(refs))
	ready := make([]bool, len(refs))
	next := 0
	for range refs {
		d := <-finished
		reports[d.i], ready[d.i] = d.rep, true
		for next < len(refs) && ready[next] {
			emit(reports[next])
			reports[next] = nil // printed; let it go
			next++
		}
	}
}

func newDiscoverCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "discover <image>",
		Short: "Show the tree of artifacts attached to an image",
		Long: `Discover pins the image to a digest and walks the tree of artifacts
attached to it without verifying them, and says where it looked: the
referrers API or the referrers tag schema, and cosign's signature tag.
-o json prints a JSON array of one report (docs/cli.md).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, closeFn, err := g.prepare(cmd.Context(), output, true)
			if err != nil {
				return err
			}
			defer closeFn()
			ctx, cancel := context.WithTimeout(cmd.Context(), g.cfg.Timeout)
			defer cancel()
			rep, pinErr := eng.Discover(ctx, args[0])
			explainDeadline(rep, g.cfg.Timeout)
			out := newReportWriter(cmd.OutOrStdout(), output, writeDiscover)
			out.write(rep)
			if err := out.close(); err != nil {
				return &exitError{code: exitInternal, err: err}
			}
			if pinErr != nil || rep.Reason != "" {
				return &exitError{code: exitFailed, err: errors.New("discovery failed")}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	return cmd
}
