package servetest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options start one `assay serve`.
type Options struct {
	// Assay is the path of the assay binary; PluginDir its plugin
	// directory. Required.
	Assay, PluginDir string
	// Config is the --config file. Required unless Exact.
	Config string
	// TLS is the certificate material. Required; with Exact only its
	// ServerCA and client certificate are used, to reach the server.
	TLS *TLS
	// Args are more flags, such as "--verify-timeout=2s".
	Args []string
	// Env is added to the process's environment.
	Env []string
	// Log, if set, receives the process's output as it comes.
	Log io.Writer
	// Listen and HealthListen are the addresses to serve on. If empty,
	// random loopback ports.
	Listen, HealthListen string
	// NotReady makes Start return once the process serves, without
	// waiting for /readyz (to test a server that is not ready).
	NotReady bool
	// Exact makes Args all of assay's arguments, as a Deployment gives
	// them: Config, the TLS files, Listen and HealthListen add nothing.
	Exact bool
}

// Server is a running `assay serve`.
type Server struct {
	// URL is the provider's https://127.0.0.1:<port>; HealthURL the
	// http:// address of /healthz, /readyz and /metrics.
	URL, HealthURL string
	// Client speaks TLS 1.3 with the client certificate.
	Client *http.Client

	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	out    bytes.Buffer
	once   sync.Once
}

// servingLine is the log line naming the listeners, in the text and the
// JSON log formats.
var servingLine = regexp.MustCompile(`provider=https://(\S+) health=http://(\S+)|"provider":"https://([^"]+)","health":"http://([^"]+)"`)

// Start runs assay serve on random loopback ports and waits until it is
// ready. Stop it with Stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.HealthListen == "" {
		o.HealthListen = "127.0.0.1:0"
	}
	args := []string{"--plugin-dir", o.PluginDir, "--config", o.Config, "serve",
		"--listen", o.Listen, "--health-listen", o.HealthListen,
		"--tls-cert", o.TLS.CertFile, "--tls-key", o.TLS.KeyFile, "--client-ca", o.TLS.ClientCAFile}
	args = append(args, o.Args...)
	if o.Exact {
		args = o.Args
	}
	cmd := exec.Command(o.Assay, args...)
	cmd.Env = append(cmd.Environ(), o.Env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // plugins die with it
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	s := &Server{cmd: cmd, exited: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addrs := make(chan []string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			if o.Log != nil {
				fmt.Fprintln(o.Log, line)
			}
			if m := servingLine.FindStringSubmatch(line); m != nil {
				a := m[1:3]
				if a[0] == "" {
					a = m[3:5]
				}
				select {
				case addrs <- a:
				default:
				}
			}
		}
		io.Copy(io.Discard, pr)
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		close(s.exited)
	}()
	tlsConfig, err := o.TLS.ClientConfig()
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}, Timeout: 30 * time.Second}
	select {
	case a := <-addrs:
		s.URL, s.HealthURL = "https://"+a[0], "http://"+a[1]
	case <-s.exited:
		return nil, fmt.Errorf("assay serve exited before serving:\n%s", s.Output())
	case <-ctx.Done():
		s.Stop()
		return nil, fmt.Errorf("assay serve did not start: %w\n%s", ctx.Err(), s.Output())
	}
	if o.NotReady {
		return s, nil
	}
	if err := s.WaitReady(ctx); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

// WaitReady polls /readyz until it answers 200.
func (s *Server) WaitReady(ctx context.Context) error {
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.HealthURL+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("assay serve not ready: %w\n%s", ctx.Err(), s.Output())
		case <-s.exited:
			return fmt.Errorf("assay serve exited:\n%s", s.Output())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Output is what the process printed so far.
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// Exited is closed when the process has exited.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// Pid is the process id of assay serve, for reading its /proc entries
// (memory, CPU time). Its plugins are its child processes.
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM and waits for the process to exit (SIGKILL after
// 10 seconds). It is safe to call more than once.
func (s *Server) Stop() {
	s.once.Do(func() {
		if s.cmd.Process == nil {
			return
		}
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
			<-s.exited
		}
	})
}

// ProviderRequest is the JSON body Gatekeeper sends for keys.
func ProviderRequest(keys ...string) []byte {
	b, _ := json.Marshal(map[string]any{
		"apiVersion": "externaldata.gatekeeper.sh/v1beta1",
		"kind":       "ProviderRequest",
		"request":    map[string]any{"keys": keys},
	})
	return b
}

// Item is one answer of a ProviderResponse.
type Item struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value"`
	Error string          `json:"error"`
}

// Response is a decoded ProviderResponse.
type Response struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Response   struct {
		Idempotent  bool   `json:"idempotent"`
		Items       []Item `json:"items"`
		SystemError string `json:"systemError"`
	} `json:"response"`
}

// Post sends keys to path (such as "/v1/verify") and decodes the answer.
func (s *Server) Post(ctx context.Context, path string, keys ...string) (*Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, bytes.NewReader(ProviderRequest(keys...)))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	var r Response
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("answer (HTTP %d) is not a ProviderResponse: %w: %s", resp.StatusCode, err, data)
	}
	if r.Kind != "ProviderResponse" {
		return nil, errors.New("answer kind is " + r.Kind)
	}
	return &r, nil
}

// Metric returns the value of the first sample of a metric (name with
// labels as Prometheus prints them, e.g. `assay_config_reloads_total{result="ok"}`)
// from /metrics, or an error when it is absent.
func (s *Server) Metric(ctx context.Context, name string) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.HealthURL+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("metric %s not found", name)
}
