package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/assayproj/assay/pkg/servetest"
)

// serveDemo starts assay serve on cfg, sends a ProviderRequest for the
// signed and the unsigned image with curl (or, without curl, Go's
// client), and checks the answers. With o.wait it then keeps running
// until interrupted.
func serveDemo(ctx context.Context, o options, out io.Writer, cfg, dir, repoName string) error {
	tlsDir := filepath.Join(dir, "tls")
	if err := os.MkdirAll(tlsDir, 0o755); err != nil {
		return err
	}
	material, err := servetest.NewTLS(tlsDir)
	if err != nil {
		return err
	}
	srv, err := servetest.Start(ctx, servetest.Options{
		Assay: o.assay, PluginDir: o.pluginDir, Config: cfg, TLS: material,
		Listen: o.listen, HealthListen: o.healthListen, Log: os.Stderr,
	})
	if err != nil {
		return err
	}
	defer srv.Stop()
	fmt.Fprintf(out, "== assay serve --config %s --tls-cert %s --tls-key %s --client-ca %s\n   provider %s, health and metrics %s\n\n",
		cfg, material.CertFile, material.KeyFile, material.ClientCAFile, srv.URL, srv.HealthURL)

	body := string(servetest.ProviderRequest(repoName+":signed", repoName+":unsigned"))
	args := []string{"-sS", "--cacert", material.ServerCAFile, "--cert", material.ClientCertFile, "--key", material.ClientKeyFile,
		"-H", "Content-Type: application/json", "-d", body, srv.URL + "/v1/verify"}
	fmt.Fprintf(out, "$ curl %s\n", shellJoin(args))
	var resp servetest.Response
	if _, lookErr := exec.LookPath("curl"); lookErr == nil {
		data, err := exec.CommandContext(ctx, "curl", args...).Output()
		if err != nil {
			return fmt.Errorf("curl: %w", err)
		}
		if err := json.Unmarshal(data, &resp); err != nil {
			return fmt.Errorf("curl printed no ProviderResponse (%v): %s", err, data)
		}
	} else {
		fmt.Fprintln(out, "(curl is not installed; sending the same request with Go's client)")
		r, err := srv.Post(ctx, "/v1/verify", repoName+":signed", repoName+":unsigned")
		if err != nil {
			return err
		}
		resp = *r
	}
	want := map[string]string{repoName + ":signed": "VERIFIED", repoName + ":unsigned": "NO_SIGNATURE"}
	for _, it := range resp.Response.Items {
		var rep struct {
			IsSuccess bool   `json:"isSuccess"`
			Reason    string `json:"reason"`
			Message   string `json:"message"`
		}
		if err := json.Unmarshal(it.Value, &rep); err != nil {
			return fmt.Errorf("item %s: %v (error %q)", it.Key, err, it.Error)
		}
		fmt.Fprintf(out, "  %s → isSuccess=%v reason=%s: %s\n", it.Key, rep.IsSuccess, rep.Reason, rep.Message)
		if rep.Reason != want[it.Key] {
			return fmt.Errorf("provider answered %s for %s, want %s", rep.Reason, it.Key, want[it.Key])
		}
		delete(want, it.Key)
	}
	if len(want) > 0 {
		return fmt.Errorf("provider did not answer %v", want)
	}
	fmt.Fprintln(out)
	if !o.wait {
		return nil
	}
	fmt.Fprintf(out, "== running until interrupted (Ctrl-C). Try:\n\ncurl %s\n\n", shellJoin(args))
	stop, cancel := signal.NotifyContext(context.WithoutCancel(ctx), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	select {
	case <-stop.Done():
		return nil
	case <-srv.Exited():
		return errors.New("assay serve exited")
	}
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '-' || r == '/' || r == '.' || r == ':' || r == '_' || r == '=' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		}) < 0 {
			q[i] = a
		} else {
			q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
	}
	return strings.Join(q, " ")
}
