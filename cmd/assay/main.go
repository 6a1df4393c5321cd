// Command assay verifies container images: it pins each image to a
// digest, discovers the signatures and other artifacts attached to it in
// the registry, runs verifier plugins on them and reports per image.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/assayproj/assay/pkg/config"
	"github.com/assayproj/assay/pkg/plugin"
	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	ctrl "sigs.k8s.io/controller-runtime"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // at least one image did not pass
	exitUsage    = 2 // bad flags, settings or configuration
	exitInternal = 3
)

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(err error) error { return &exitError{code: exitUsage, err: err} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	plugin.CleanupClients() // no plugin process outlives assay

	os.Exit(code)
}

// run executes the command line and returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.code != exitFailed {
			fmt.Fprintln(stderr, "Error:", ee.err)
		}
		return ee.code
	}
	fmt.Fprintln(stderr, "Error:", err)
	return exitUsage
}

// globals are the settings shared by every subcommand.
type globals struct {
	v       *viper.Viper
	cfg     config.Config
	objects string // --config: file of Store, Verifier and Policy documents
	log     logr.Logger
	stderr  io.Writer
}

func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	root, _ := newRoot(stdout, stderr)
	return root
}

// newRoot returns the command tree and the settings its commands share.
func newRoot(stdout, stderr io.Writer) (*cobra.Command, *globals) {
	g := &globals{v: viper.New(), stderr: stderr}
	root := &cobra.Command{
		Use:           "assay",
		Short:         "Verify container images: signatures and attached artifacts, per Policy",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return g.load(cmd, stderr)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	f := root.PersistentFlags()
	f.String("settings", "", "process settings file (YAML); flags and ASSAY_* environment override it")
	f.StringVar(&g.objects, "config", "", "file of Store, Verifier and Policy documents (config.assay.dev/v1alpha1)")
	addFlags(f, false)

	root.AddCommand(newVerifyCommand(g), newDiscoverCommand(g), newServeCommand(g), newVersionCommand())
	return root, g
}

// load fills g.cfg from defaults, the settings file, ASSAY_* environment
// and flags, in increasing precedence, then validates it.
func (g *globals) load(cmd *cobra.Command, stderr io.Writer) error {
	v := g.v
	d := defaults()
	for _, s := range settings() {
		v.SetDefault(s.key, s.get(d))
	}
	v.SetEnvPrefix("ASSAY")
	v.SetEnvKeyReplacer(envKeyReplacer())
	v.AutomaticEnv()
	path, _ := cmd.Flags().GetString("settings")
	if path != "" {
		v.SetConfigFile(path)
		if err := v.ReadInConfig(); err != nil {
			return usageError(fmt.Errorf("read settings %s: %w", path, err))
		}
		if err := checkKeys(v, path); err != nil {
			return usageError(err)
		}
	}
	var ferr error
	cmd.Flags().VisitAll(func(fl *pflag.Flag) {
		key, ok := settingOfFlag(fl.Name)
		if !ok || !fl.Changed {
			return
		}
		if err := v.BindPFlag(key, fl); err != nil && ferr == nil {
			ferr = err
		}
	})
	if ferr != nil {
		return usageError(ferr)
	}
	if err := checkValues(v, func(name string) bool { return cmd.Flags().Changed(name) }, path); err != nil {
		return usageError(err)
	}
	var cfg config.Config
	if err := v.UnmarshalExact(&cfg); err != nil {
		return usageError(fmt.Errorf("settings: %w", err))
	}
	if err := cfg.Validate(); err != nil {
		return usageError(fmt.Errorf("settings: %w", err))
	}
	g.cfg = cfg
	g.log = newLogger(cfg.Log, stderr)
	routeStdlibLog(cfg.Log, stderr)
	// controller-runtime logs through its package logger: the
	// certificate watcher in every mode, the manager and its clients with
	// --config-source cluster. Unset, it prints a stack trace after 30s.
	ctrl.SetLogger(g.log)
	return nil
}

func newLogger(l config.Log, w io.Writer) logr.Logger {
	return logr.FromSlogHandler(newSlog(l, w).Handler())
}

// maxStdlibLogBytes caps a line of the standard library logger: net/http
// writes one quoting up to 4 KiB of what a misbehaving registry sent
// ("Unsolicited response received on idle HTTP channel ...").
const maxStdlibLogBytes = 512

// routeStdlibLog sends the standard library logger (net/http's
// complaints, any library that calls log.Print) through the process
// logger, so that --log-format json stays JSON: each line becomes one
// record at warn, cut to maxStdlibLogBytes.
func routeStdlibLog(l config.Log, w io.Writer) {
	log.SetFlags(0)
	log.SetOutput(stdlibLog{newSlog(l, w)})
}

type stdlibLog struct{ l *slog.Logger }

func (w stdlibLog) Write(p []byte) (int, error) {
	msg := strings.TrimRight(string(p), "\n")
	if n := len(msg); n > maxStdlibLogBytes {
		msg = fmt.Sprintf("%s… (%d more bytes)", strings.ToValidUTF8(msg[:maxStdlibLogBytes], ""), n-maxStdlibLogBytes)
	}
	w.l.Warn(msg, "logger", "go standard library")
	return len(p), nil
}

func newSlog(l config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(l.Level))
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if l.Format == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h)
}

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of assay",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "assay %s\n", version)
			return nil
		},
	}
}
