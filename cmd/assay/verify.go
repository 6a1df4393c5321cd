package main

import (
	"context"
	"encoding/json"
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

The exit code is 0 only when every image passes, 1 when any fails, 2 on a
usage or configuration error.`,
		Example: `  assay verify --config assay.yaml localhost:5000/app:v1
  assay verify --config assay.yaml -o json ghcr.io/org/app@sha256:...`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			eng, closeFn, err := g.prepare(cmd.Context(), output, false)
			if err != nil {
				return err
			}
			defer closeFn()

			reports := verifyAll(cmd.Context(), g, eng, args)
			if err := writeReports(cmd, output, reports, writeVerify); err != nil {
				return &exitError{code: exitInternal, err: err}
			}
			for _, r := range reports {
				if !r.IsSuccess {
					return &exitError{code: exitFailed, err: errors.New("verification failed")}
				}
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

// verifyAll verifies refs concurrently, each within the time budget, and
// returns the reports in input order.
func verifyAll(ctx context.Context, g *globals, eng *engine.Engine, refs []string) []*report.Report {
	reports := make([]*report.Report, len(refs))
	var eg errgroup.Group
	eg.SetLimit(g.cfg.Concurrency)
	for i, ref := range refs {
		eg.Go(func() error {
			ctx, cancel := context.WithTimeout(ctx, g.cfg.Timeout)
			defer cancel()
			rep, err := eng.Verify(ctx, ref)
			if err != nil {
				g.log.V(1).Info("subject not pinned", "reference", ref, "error", err.Error())
			}
			explainDeadline(rep, g.cfg.Timeout)
			reports[i] = rep
			return nil
		})
	}
	_ = eg.Wait()
	return reports
}

// writeReports prints reports as JSON (one object for one image, an array
// for several) or as text through write.
func writeReports(cmd *cobra.Command, output string, reports []*report.Report, write func(*textWriter, *report.Report)) error {
	out := cmd.OutOrStdout()
	if output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if len(reports) == 1 {
			return enc.Encode(reports[0])
		}
		return enc.Encode(reports)
	}
	tw := &textWriter{w: out}
	for i, r := range reports {
		if i > 0 {
			tw.line("")
		}
		write(tw, r)
	}
	return tw.err
}

func newDiscoverCommand(g *globals) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "discover <image>",
		Short: "Show the tree of artifacts attached to an image",
		Args:  cobra.ExactArgs(1),
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
			if err := writeReports(cmd, output, []*report.Report{rep}, writeDiscover); err != nil {
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
