package plugin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// SumsFile is the name of the checksum file in HostOptions.Dir, in the
// format written by sha256sum: one "<64 hex digits>  <name>" line per
// plugin binary ("<hex> *<name>" is accepted too). `make plugins` writes it
// next to the binaries at image build time.
const SumsFile = "SHA256SUMS"

// DefaultStartTimeout is used when HostOptions.StartTimeout is not positive.
const DefaultStartTimeout = 10 * time.Second

// DefaultIdleTimeout is used when HostOptions.IdleTimeout is 0.
const DefaultIdleTimeout = 5 * time.Minute

// DefaultHealthCheckAfter is used when HostOptions.HealthCheckAfter is 0.
const DefaultHealthCheckAfter = 2 * time.Second

// DefaultHealthCheckTimeout is used when HostOptions.HealthCheckTimeout
// is not positive.
const DefaultHealthCheckTimeout = time.Second

// maxValidations bounds the ValidateConfig answers a Host keeps.
const maxValidations = 256

// HostOptions configures NewHost.
type HostOptions struct {
	// Dir is the directory holding the plugin binaries and SumsFile.
	// Required. A plugin is the executable Dir/<name>; it is started only
	// if SumsFile lists <name> with the binary's sha256. SumsFile is read
	// once, by NewHost: to add or upgrade a plugin, restart the host.
	Dir string
	// StartTimeout bounds how long a new plugin process has to complete the
	// go-plugin handshake and answer GetMetadata. A start runs on its own,
	// not under the context of the call that triggered it: a caller whose
	// context ends first gets its context error, and the start carries on
	// so the next call finds the process ready. If <= 0, DefaultStartTimeout
	// (currently 10s) is used.
	StartTimeout time.Duration
	// IdleTimeout stops a plugin process that has had no call in flight
	// for this long; the next call starts it again. Its metadata and the
	// answers it gave to ValidateConfig are kept meanwhile, so checking a
	// configuration again (as the controllers do every minute) does not
	// start it: a process runs while Verifiers use it. If 0,
	// DefaultIdleTimeout (currently 5m); if negative, processes run until
	// Close.
	IdleTimeout time.Duration
	// HealthCheckAfter is how long a plugin process may have calls in
	// flight without answering any (neither a call nor a health check)
	// before the host checks it with gRPC's health service; while calls
	// stay unanswered it is checked again every HealthCheckAfter. A
	// process that misses a check (HealthCheckTimeout) is taken to be
	// hung, stopped or starved: the host kills it, its calls in flight
	// return ErrUnresponsive at once, and the next call starts a new
	// process. A slow verification on a healthy process is not cut
	// short: its process answers the checks. If 0,
	// DefaultHealthCheckAfter (currently 2s); if negative, processes are
	// never checked and a hung plugin holds its calls until their
	// deadlines.
	HealthCheckAfter time.Duration
	// HealthCheckTimeout bounds one health check. If <= 0,
	// DefaultHealthCheckTimeout (currently 1s).
	HealthCheckTimeout time.Duration
	// Logger receives the host's logs, go-plugin's logs and every line the
	// plugins write to stderr (under the logger name "<name>"). go-plugin's
	// Error level maps to Error, Warn to V(0), Info to V(1), Debug to V(2)
	// and Trace to V(3). The zero value discards everything.
	Logger logr.Logger
}

// Host starts verifier plugins and calls them. Each plugin binary runs as
// one long-lived process, started on first use and shared by all callers;
// a process that has exited or whose connection broke is replaced on the
// next call. Host is safe for concurrent use. Call Close when done.
//
// Processes are started with go-plugin's SecureConfig (sha256 from
// SumsFile, checked again by the host beforehand so that the error is
// precise), AutoMTLS, gRPC only, and Managed, so goplugin.CleanupClients
// (see CleanupClients) also kills them. go-plugin keeps every managed
// client in a process-wide list for CleanupClients, so each restart leaves
// a small record behind; restarts are rare enough for that not to matter.
type Host struct {
	dir          string
	sums         map[string][]byte
	startTimeout time.Duration
	idleTimeout  time.Duration // <= 0: never
	checkAfter   time.Duration // <= 0: never
	checkTimeout time.Duration
	log          logr.Logger
	hclog        hclog.Logger

	mu      sync.Mutex
	closed  bool
	closing chan struct{} // closed by Close
	slots   map[string]*slot
	wg      sync.WaitGroup // starts, background kills and the reaper; Add only under mu while !closed
	reaping bool           // the idle reaper runs

	// meta holds each plugin's metadata once a process of it started
	// (the binary is fixed by SumsFile for the Host's life), and
	// validations the ValidateConfig answers by plugin and config
	// digest; guarded by mu.
	meta        map[string]Metadata
	validations map[string][]Diagnostic
	validOrder  []string

	starts atomic.Int64 // process launches attempted, for tests
	// noDeathSignal starts processes without the parent-death signal, so
	// that a test sees Serve's parent watchdog alone.
	noDeathSignal bool
}

// slot is the state of one plugin name. Guarded by Host.mu.
type slot struct {
	cur      *process   // running process, or nil
	starting *startCall // start in progress, or nil
	busy     int        // calls in flight on cur
	idle     time.Time  // when the last call on cur ended
	answered time.Time  // when cur passed a health check, or got a call in flight while it had none (see also process.answeredAt)
}

// enter counts a call in flight on cur. The first call in flight after
// cur answered something starts the time it may stay silent; calls that
// came and went unanswered (ended by their callers' deadlines) do not
// restart it.
func (s *slot) enter() {
	if s.busy == 0 && !time.Unix(0, s.cur.answeredAt.Load()).Before(s.answered) {
		s.answered = time.Now()
	}
	s.busy++
}

type startCall struct {
	done chan struct{} // closed when p and err are set
	p    *process
	err  error
}

// process is one running plugin process.
type process struct {
	client *goplugin.Client
	rpc    *client
	meta   Metadata
	pid    int
	served atomic.Bool // it was asked to Verify
	exit   *exitState  // how its exit is logged
	// hung is cancelled, with an ErrUnresponsive cause, when the process
	// missed a health check; that ends the calls in flight on it.
	hung    context.Context
	abandon context.CancelCauseFunc
	// answeredAt is when the process last answered a call (Unix ns): a
	// call that ended because its caller's context did is no answer.
	answeredAt atomic.Int64
}

// call runs f with ctx, ended early if p is found unresponsive, in which
// case it returns the ErrUnresponsive cause (unless ctx ended first).
func (p *process) call(ctx context.Context, f func(context.Context) error) error {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.hung, cancel)
	defer stop()
	err := f(cctx)
	if err == nil || ctx.Err() == nil && cctx.Err() == nil {
		p.answeredAt.Store(time.Now().UnixNano())
	}
	if err != nil && ctx.Err() == nil {
		if cause := context.Cause(p.hung); cause != nil {
			return cause
		}
	}
	return err
}

// kill stops p (go-plugin's Kill: a graceful shutdown, then SIGKILL),
// noting first that the stop is the host's, so that its exit is not
// logged as an error.
func (p *process) kill() {
	p.exit.stopping.Store(true)
	p.client.Kill()
}

// NewHost validates opts and reads Dir/SumsFile. It starts no process. It
// fails if Dir is empty, missing (ErrNoDir) or not a directory, or SumsFile is missing or has
// a malformed line (fail closed).
func NewHost(opts HostOptions) (*Host, error) {
	if opts.Dir == "" {
		return nil, errors.New("plugin: HostOptions.Dir is required")
	}
	fi, err := os.Stat(opts.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("plugin: %w: %s", ErrNoDir, opts.Dir)
	}
	if err != nil {
		return nil, fmt.Errorf("plugin: plugin directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("plugin: plugin directory %s is not a directory", opts.Dir)
	}
	sums, err := readSums(filepath.Join(opts.Dir, SumsFile))
	if err != nil {
		return nil, fmt.Errorf("plugin: %w", err)
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = DefaultStartTimeout
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.HealthCheckAfter == 0 {
		opts.HealthCheckAfter = DefaultHealthCheckAfter
	}
	if opts.HealthCheckTimeout <= 0 {
		opts.HealthCheckTimeout = DefaultHealthCheckTimeout
	}
	return &Host{
		dir:          opts.Dir,
		sums:         sums,
		startTimeout: opts.StartTimeout,
		idleTimeout:  opts.IdleTimeout,
		checkAfter:   opts.HealthCheckAfter,
		checkTimeout: opts.HealthCheckTimeout,
		meta:         map[string]Metadata{},
		validations:  map[string][]Diagnostic{},
		log:          opts.Logger,
		hclog:        newHCLogAdapter(opts.Logger),
		closing:      make(chan struct{}),
		slots:        make(map[string]*slot),
	}, nil
}

// CleanupClients kills every plugin process started by any Host in this
// process. Call it once, deferred in main, as a safety net besides
// Host.Close (it wraps go-plugin's CleanupClients).
func CleanupClients() { goplugin.CleanupClients() }

// Metadata returns the metadata of plugin name, starting its process if
// needed. It was validated when the process started and is cached for
// the process's life. Errors are *Error with Op "metadata".
func (h *Host) Metadata(ctx context.Context, name string) (Metadata, error) {
	const op = "metadata"
	h.mu.Lock()
	md, ok := h.meta[name]
	h.mu.Unlock()
	if ok {
		return cloneMetadata(md), nil
	}
	p, err := h.acquire(ctx, name)
	if err != nil {
		return Metadata{}, &Error{Plugin: name, Op: op, Err: err}
	}
	defer h.release(name, p)
	return cloneMetadata(p.meta), nil
}

// ValidateConfig asks plugin name to check a Verifier object's parameters
// (JSON). An empty result means the configuration is usable. Errors are
// *Error with Op "validate config".
//
// The answer for the same plugin and config bytes is kept (the 256 most
// recent) and given again without a call: a plugin's answer depends on
// the bytes. Files the parameters name are read when they are checked
// and again by Verify when they change, so a file broken later shows in
// the verdicts (CONFIG_INVALID), not in a second check.
func (h *Host) ValidateConfig(ctx context.Context, name string, config []byte) ([]Diagnostic, error) {
	const op = "validate config"
	sum := sha256.Sum256(config)
	key := name + "\x00" + hex.EncodeToString(sum[:])
	h.mu.Lock()
	ds, ok := h.validations[key]
	h.mu.Unlock()
	if ok {
		return slices.Clone(ds), nil
	}
	p, err := h.acquire(ctx, name)
	if err != nil {
		return nil, &Error{Plugin: name, Op: op, Err: err}
	}
	defer h.release(name, p)
	err = p.call(ctx, func(ctx context.Context) (err error) {
		ds, err = p.rpc.ValidateConfig(ctx, config)
		return err
	})
	if err != nil {
		h.afterError(name, p, err)
		return nil, &Error{Plugin: name, Op: op, Err: err}
	}
	h.mu.Lock()
	if _, ok := h.validations[key]; !ok {
		if len(h.validOrder) >= maxValidations {
			delete(h.validations, h.validOrder[0])
			h.validOrder = h.validOrder[1:]
		}
		h.validations[key] = slices.Clone(ds)
		h.validOrder = append(h.validOrder, key)
	}
	h.mu.Unlock()
	return ds, nil
}

// Verify asks plugin name to verify one artifact. ctx's deadline is sent
// to the plugin. The response is returned as the plugin sent it:
// VerdictUnspecified (also what an unknown future verdict becomes) is not
// an error here; the caller reports it as inconclusive.
//
// Errors are *Error with Op "verify" wrapping a sentinel of this package
// or a context error: context.DeadlineExceeded when the deadline passed
// (on either side of the process boundary), ErrCrashed when the process
// died before or during the call (the call returns as soon as the
// connection breaks; the next call starts a new process),
// ErrUnresponsive when it stopped answering and was replaced (see
// HostOptions.HealthCheckAfter), ErrPanicked,
// ErrRemote, and the start errors (ErrNotFound, ErrNotListed,
// ErrChecksumMismatch, ErrStart, ErrInvalidMetadata, ErrProtocol).
func (h *Host) Verify(ctx context.Context, name string, req *VerifyRequest) (*VerifyResponse, error) {
	const op = "verify"
	p, err := h.acquire(ctx, name)
	if err != nil {
		return nil, &Error{Plugin: name, Op: op, Err: err}
	}
	defer h.release(name, p)
	p.served.Store(true)
	var resp *VerifyResponse
	err = p.call(ctx, func(ctx context.Context) (err error) {
		resp, err = p.rpc.Verify(ctx, req)
		return err
	})
	if err != nil {
		h.afterError(name, p, err)
		return nil, &Error{Plugin: name, Op: op, Err: err}
	}
	return resp, nil
}

// Close kills all plugin processes and waits for them and for starts in
// progress (at most StartTimeout). Calls in flight fail; later calls fail
// with ErrClosed. Close is idempotent.
func (h *Host) Close() {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		h.wg.Wait()
		return
	}
	h.closed = true
	close(h.closing)
	var procs []*process
	for _, s := range h.slots {
		if s.cur != nil {
			procs = append(procs, s.cur)
			s.cur = nil
		}
	}
	h.mu.Unlock()

	var kills sync.WaitGroup
	for _, p := range procs {
		kills.Go(p.kill)
	}
	kills.Wait()
	h.wg.Wait()
}

// acquire returns the running process for name, starting one if there is
// none or the last one exited. Concurrent callers share one start.
func (h *Host) acquire(ctx context.Context, name string) (*process, error) {
	if err := validName(name); err != nil {
		return nil, err
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	s := h.slots[name]
	if s == nil {
		s = &slot{}
		h.slots[name] = s
	}
	if p := s.cur; p != nil {
		if !p.client.Exited() {
			s.enter()
			h.mu.Unlock()
			return p, nil
		}
		h.log.Info("plugin process exited; restarting", "plugin", name, "pid", p.pid)
		s.cur = nil
		h.wg.Go(p.client.Kill) // reap go-plugin's goroutines
	}
	call := s.starting
	if call == nil {
		call = &startCall{done: make(chan struct{})}
		s.starting = call
		h.wg.Go(func() { h.start(name, s, call) })
	}
	h.mu.Unlock()

	select {
	case <-call.done:
		if call.err != nil {
			return nil, call.err
		}
		h.mu.Lock()
		if s.cur == call.p {
			s.enter()
		} else if h.closed {
			h.mu.Unlock()
			return nil, ErrClosed
		}
		// else: retired since it started (a crash, or idle); the call
		// goes to it anyway and fails as it would have.
		h.mu.Unlock()
		return call.p, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// release ends a call on p that acquire counted.
func (h *Host) release(name string, p *process) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.slots[name]; s != nil && s.cur == p {
		s.busy--
		if s.busy == 0 {
			s.idle = time.Now()
		}
	}
}

// StopUnused stops the processes that have never been asked to Verify
// and have no call in flight: those started only to check a
// configuration (Metadata, ValidateConfig). Their metadata and answers
// are kept; the first Verify starts the plugin again. A long-running
// host calls it once a configuration is in effect, so that plugin
// processes run for the Verifiers that use them.
func (h *Host) StopUnused() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	for name, s := range h.slots {
		if p := s.cur; p != nil && s.busy == 0 && !p.served.Load() {
			h.log.V(1).Info("stopping a plugin process no Verifier has used yet", "plugin", name, "pid", p.pid)
			s.cur = nil
			h.wg.Go(p.kill)
		}
	}
}

// reap stops, every quarter of the idle timeout, the processes that have
// had no call in flight for the idle timeout. It runs from the first
// start until Close.
func (h *Host) reap() {
	t := time.NewTicker(h.idleTimeout / 4)
	defer t.Stop()
	for {
		select {
		case <-h.closing:
			return
		case now := <-t.C:
			h.mu.Lock()
			for name, s := range h.slots {
				if p := s.cur; p != nil && s.busy == 0 && now.Sub(s.idle) >= h.idleTimeout {
					h.log.V(1).Info("stopping an idle plugin process", "plugin", name, "pid", p.pid, "idle", now.Sub(s.idle).String())
					s.cur = nil
					h.wg.Go(p.kill)
				}
			}
			h.mu.Unlock()
		}
	}
}

// monitor checks p, the process of s, while it is s's: when p has had
// calls in flight and answered nothing for checkAfter, it asks p's gRPC
// health service, and replaces p if the check times out. A check that
// fails otherwise (the connection broke) is left to the calls, which
// return ErrCrashed. It runs from p's start until p is retired or the
// host closes.
func (h *Host) monitor(name string, s *slot, p *process) {
	t := time.NewTicker(max(h.checkAfter/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-h.closing:
			return
		case now := <-t.C:
			h.mu.Lock()
			if s.cur != p {
				h.mu.Unlock()
				return
			}
			last := s.answered
			if a := time.Unix(0, p.answeredAt.Load()); a.After(last) {
				last = a
			}
			silent := now.Sub(last)
			due := s.busy > 0 && silent >= h.checkAfter
			h.mu.Unlock()
			if !due {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), h.checkTimeout)
			err := p.rpc.ping(ctx)
			cancel()
			switch {
			case err == nil:
				h.mu.Lock()
				if s.cur == p {
					s.answered = time.Now()
				}
				h.mu.Unlock()
			case status.Code(err) == codes.DeadlineExceeded:
				h.replace(name, s, p, silent+h.checkTimeout, err)
				return
			}
		}
	}
}

// replace retires and kills p, which stopped answering, and ends the
// calls in flight on it with ErrUnresponsive.
func (h *Host) replace(name string, s *slot, p *process, silent time.Duration, pingErr error) {
	cause := fmt.Errorf("%w: process %d answered nothing for %s with calls in flight and missed a health check; it was killed and the next call starts a new process",
		ErrUnresponsive, p.pid, silent.Round(time.Millisecond))
	h.mu.Lock()
	if s.cur == p {
		s.cur = nil
	}
	h.mu.Unlock()
	h.log.Error(cause, "plugin process stopped answering; replacing it", "plugin", name, "pid", p.pid, "healthCheck", pingErr.Error())
	p.abandon(cause)
	// SIGKILL at once: go-plugin's Kill first closes the connection and
	// waits 2s for an exit a stopped process never makes. The exit is
	// the host's doing, already logged above.
	p.exit.stopping.Store(true)
	if p.pid > 0 {
		if proc, err := os.FindProcess(p.pid); err == nil {
			_ = proc.Kill()
		}
	}
	p.client.Kill()
}

// start launches a process for call and installs it in s.
func (h *Host) start(name string, s *slot, call *startCall) {
	p, err := h.launch(name)
	var orphan *process
	h.mu.Lock()
	s.starting = nil
	if err == nil && h.closed {
		orphan, p, err = p, nil, ErrClosed
	}
	if err == nil {
		s.cur, s.busy, s.idle = p, 0, time.Now()
		h.meta[name] = p.meta
		if h.idleTimeout > 0 && !h.reaping {
			h.reaping = true
			h.wg.Go(h.reap)
		}
		if h.checkAfter > 0 {
			h.wg.Go(func() { h.monitor(name, s, p) })
		}
	}
	call.p, call.err = p, err
	h.mu.Unlock()
	close(call.done)
	if orphan != nil {
		orphan.kill()
	}
	if err != nil {
		h.log.Error(err, "plugin failed to start", "plugin", name)
	}
}

// afterError retires p when err shows its process is gone or unusable, so
// that the next call starts a new one.
func (h *Host) afterError(name string, p *process, err error) {
	if errors.Is(err, ErrUnresponsive) {
		return // retired and killed by monitor
	}
	if !errors.Is(err, ErrCrashed) && !p.client.Exited() {
		return
	}
	h.log.Info("plugin process lost", "plugin", name, "pid", p.pid, "error", err.Error())
	h.mu.Lock()
	defer h.mu.Unlock()
	if s := h.slots[name]; s != nil && s.cur == p {
		s.cur = nil
	}
	if h.closed {
		return // Close kills it
	}
	// Not p.kill: the host did not ask for this exit, which go-plugin
	// may not have logged yet.
	h.wg.Go(p.client.Kill)
}

// launch checks the binary, starts it, negotiates the protocol and
// validates its metadata.
func (h *Host) launch(name string) (*process, error) {
	path := filepath.Join(h.dir, name)
	want, err := h.checkBinary(name, path)
	if err != nil {
		return nil, err
	}

	h.starts.Add(1)
	cmd := exec.Command(path)
	if !h.noDeathSignal {
		setParentDeathSignal(cmd)
	}
	exit := &exitState{cmd: cmd}
	c := goplugin.NewClient(&goplugin.ClientConfig{
		HandshakeConfig:  handshake(),
		VersionedPlugins: versionedPlugins(nil, nil),
		Cmd:              cmd,
		SecureConfig:     &goplugin.SecureConfig{Checksum: want, Hash: sha256.New()},
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		Managed:          true,
		StartTimeout:     h.startTimeout,
		Logger:           withExit(h.hclog, exit),
		SyncStdout:       h.hclog.Named(name).StandardWriter(nil),
		SyncStderr:       h.hclog.Named(name).StandardWriter(nil),
		GRPCDialOptions: []grpc.DialOption{
			grpc.WithDefaultCallOptions(
				grpc.MaxCallRecvMsgSize(MaxMessageSize),
				grpc.MaxCallSendMsgSize(MaxMessageSize),
			),
		},
	})
	p, err := h.connect(name, c)
	if err != nil {
		exit.stopping.Store(true) // the failed start is logged, not its exit
		c.Kill()
		return nil, err
	}
	p.exit = exit
	h.log.V(1).Info("plugin started", "plugin", name, "pid", p.pid, "version", p.meta.Version)
	return p, nil
}

func (h *Host) connect(name string, c *goplugin.Client) (*process, error) {
	proto, err := c.Client()
	if err != nil {
		if errors.Is(err, goplugin.ErrChecksumsDoNotMatch) {
			return nil, fmt.Errorf("%w: binary changed before start", ErrChecksumMismatch)
		}
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	if v := c.NegotiatedVersion(); v != ProtocolVersion {
		return nil, fmt.Errorf("%w: negotiated protocol version %d, want %d", ErrProtocol, v, ProtocolVersion)
	}
	raw, err := proto.Dispense(pluginKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrProtocol, err)
	}
	rpc, ok := raw.(*client)
	if !ok {
		return nil, fmt.Errorf("%w: unexpected client type %T", ErrProtocol, raw)
	}
	pid := 0
	if rc := c.ReattachConfig(); rc != nil {
		pid = rc.Pid
	}

	ctx, cancel := context.WithTimeout(context.Background(), h.startTimeout)
	defer cancel()
	go func() { // Close aborts a start waiting on GetMetadata.
		select {
		case <-h.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	meta, err := rpc.Metadata(ctx)
	if err != nil {
		return nil, fmt.Errorf("get metadata: %w", err)
	}
	if err := validateMetadata(name, meta); err != nil {
		return nil, err
	}
	hung, abandon := context.WithCancelCause(context.Background())
	return &process{client: c, rpc: rpc, meta: meta, pid: pid, hung: hung, abandon: abandon}, nil
}

// checkBinary returns the listed checksum of Dir/name after checking that
// the binary exists and matches it.
func (h *Host) checkBinary(name, path string) ([]byte, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, path)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	} else if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", ErrNotFound, path)
	}
	want, ok := h.sums[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s has no line for %s", ErrNotListed, SumsFile, name)
	}
	hash := sha256.New()
	if _, err := io.Copy(hash, f); err != nil {
		return nil, fmt.Errorf("%w: hash %s: %w", ErrStart, path, err)
	}
	if got := hash.Sum(nil); !bytes.Equal(got, want) {
		return nil, fmt.Errorf("%w: %s has sha256 %x, %s lists %x", ErrChecksumMismatch, path, got, SumsFile, want)
	}
	return want, nil
}

// validateMetadata checks GetMetadata's answer the way notation-go's
// plugin validate() does.
func validateMetadata(name string, m Metadata) error {
	switch {
	case m.Name != name:
		return fmt.Errorf("%w: name %q does not match binary name %q", ErrInvalidMetadata, m.Name, name)
	case m.Version == "":
		return fmt.Errorf("%w: empty version", ErrInvalidMetadata)
	case len(m.ArtifactTypes) == 0:
		return fmt.Errorf("%w: no artifact types", ErrInvalidMetadata)
	case slices.Contains(m.ArtifactTypes, ""):
		return fmt.Errorf("%w: empty artifact type", ErrInvalidMetadata)
	}
	for _, t := range m.SignatureTypes {
		if !slices.Contains(m.ArtifactTypes, t) {
			return fmt.Errorf("%w: signature type %q is not one of the artifact types", ErrInvalidMetadata, t)
		}
	}
	return nil
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validName accepts plain file names only: no path separators, no "..",
// no leading dot.
func validName(name string) error {
	if !nameRE.MatchString(name) || strings.Contains(name, "..") {
		return fmt.Errorf("%w: %q", ErrInvalidName, name)
	}
	return nil
}

// readSums parses a sha256sum file into name → digest.
func readSums(path string) (map[string][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read checksums: %w", err)
	}
	sums := make(map[string][]byte)
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		sumHex, rest, ok := strings.Cut(line, " ")
		if !ok || (!strings.HasPrefix(rest, " ") && !strings.HasPrefix(rest, "*")) {
			return nil, fmt.Errorf("%s:%d: want \"<sha256>  <name>\"", path, n)
		}
		sum, err := hex.DecodeString(sumHex)
		if err != nil || len(sum) != sha256.Size {
			return nil, fmt.Errorf("%s:%d: malformed sha256 %q", path, n, sumHex)
		}
		name := rest[1:]
		if err := validName(name); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, n, err)
		}
		if prev, dup := sums[name]; dup && !bytes.Equal(prev, sum) {
			return nil, fmt.Errorf("%s:%d: conflicting checksums for %s", path, n, name)
		}
		sums[name] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read checksums: %w", err)
	}
	return sums, nil
}

func cloneMetadata(m Metadata) Metadata {
	m.ArtifactTypes = slices.Clone(m.ArtifactTypes)
	m.Capabilities = slices.Clone(m.Capabilities)
	m.SignatureTypes = slices.Clone(m.SignatureTypes)
	return m
}
