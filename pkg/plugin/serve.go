package plugin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	verifierv1 "github.com/assayproj/assay/pkg/plugin/internal/pb/verifier/v1"
)

// Serve serves v as an Assay verifier plugin over go-plugin gRPC. It is the
// only call a plugin's main function makes:
//
//	func main() { plugin.Serve(&myVerifier{}) }
//
// Serve does not return while the host is connected; when the host goes
// away the process exits. That holds when the host is killed too: on
// Linux the host starts plugins with a parent-death signal (SIGKILL), and
// on every system Serve checks once a second that its parent is still
// the process that started it (see parentCheckInterval) and exits when
// it is not (the plugin was re-parented to init or a subreaper). Started by hand (without the host's handshake
// cookie) it prints a notice and exits with status 1.
//
// Each RPC runs v's method with the incoming gRPC context, so the host's
// deadline and cancellation reach v. A Verify request that fails
// VerifyRequest.Validate is answered with the protocol's INVALID_REQUEST
// status (code INVALID_ARGUMENT, see verifier.proto) and never reaches v.
//
// Serve is the plugin side's one panic boundary: a panic inside v's
// methods is recovered and returned to the host as an error (ErrPanicked,
// which the host reports as inconclusive); the plugin keeps serving.
// Plugins therefore do not recover panics themselves. Panics in
// goroutines that v starts itself still crash the process, which the host
// sees as ErrCrashed.
//
// Logs written to os.Stderr through the standard log package or an hclog
// logger reach the host's logger; Serve logs recovered panics with their
// stack there too.
func Serve(v Verifier) {
	if v == nil {
		panic("plugin: Serve called with a nil Verifier")
	}
	// go-plugin redirects os.Stderr once serving; this logger keeps the
	// process's real stderr, which the host reads and parses as JSON.
	log := hclog.New(&hclog.LoggerOptions{
		Level:      hclog.Debug,
		Output:     os.Stderr,
		JSONFormat: true,
	})
	go watchParent(os.Getppid(), parentCheckInterval, log)
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig:  handshake(),
		VersionedPlugins: versionedPlugins(v, log),
		GRPCServer:       newGRPCServer,
		Logger:           log,
	})
}

// parentCheckInterval is how often a plugin checks that its host is
// alive.
const parentCheckInterval = time.Second

// watchParent exits the process once its parent is no longer host, the
// pid of the process that started it: the host died and the plugin was
// re-parented. go-plugin gives the plugin the host's own stdin, not a
// pipe whose end would tell, so the parent pid is the signal. A host
// that died before this started is missed here; on Linux the
// parent-death signal covers that case (the child checks its parent
// right after setting it).
func watchParent(host int, every time.Duration, log hclog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for range t.C {
		if ppid := os.Getppid(); ppid != host {
			log.Error("host process exited; stopping", "hostPid", host, "parentPid", ppid)
			os.Exit(1)
		}
	}
}

// newGRPCServer raises the message size limits to MaxMessageSize.
func newGRPCServer(opts []grpc.ServerOption) *grpc.Server {
	opts = append(opts,
		grpc.MaxRecvMsgSize(MaxMessageSize),
		grpc.MaxSendMsgSize(MaxMessageSize),
	)
	return grpc.NewServer(opts...)
}

// Status detail conventions of the v1 protocol (see verifier.proto).
const (
	errorDomain          = "verifier.v1.assay"
	reasonPluginError    = "PLUGIN_ERROR"
	reasonPluginPanic    = "PLUGIN_PANIC"
	reasonInvalidRequest = "INVALID_REQUEST"
)

// deadlineKey is the gRPC metadata key carrying the host's absolute
// deadline in Unix nanoseconds. gRPC itself sends a relative timeout, which
// the plugin turns back into a deadline on receipt, so the plugin's
// deadline would trail the host's by the transit time (and by gRPC's
// rounding, up to a millisecond for timeouts over 100 s). Host and plugin
// share a clock, so the plugin applies the absolute deadline as well and
// never outlives the host's.
const deadlineKey = "assay-deadline-unix-nano"

// incoming returns ctx bounded by the host's absolute deadline, if sent.
func incoming(ctx context.Context) (context.Context, context.CancelFunc) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get(deadlineKey)
	if len(vals) == 0 {
		return ctx, func() {}
	}
	ns, err := strconv.ParseInt(vals[0], 10, 64)
	if err != nil {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, time.Unix(0, ns))
}

// server adapts a Verifier to the generated gRPC service.
type server struct {
	verifierv1.UnimplementedVerifierServer
	impl Verifier
	log  hclog.Logger
}

func (s *server) GetMetadata(ctx context.Context, _ *verifierv1.GetMetadataRequest) (_ *verifierv1.GetMetadataResponse, err error) {
	defer s.recoverPanic("GetMetadata", &err)
	ctx, cancel := incoming(ctx)
	defer cancel()
	m, err := s.impl.Metadata(ctx)
	if err != nil {
		return nil, pluginStatus(err)
	}
	return metadataToProto(m), nil
}

func (s *server) ValidateConfig(ctx context.Context, in *verifierv1.ValidateConfigRequest) (_ *verifierv1.ValidateConfigResponse, err error) {
	defer s.recoverPanic("ValidateConfig", &err)
	ctx, cancel := incoming(ctx)
	defer cancel()
	ds, err := s.impl.ValidateConfig(ctx, in.GetConfig())
	if err != nil {
		return nil, pluginStatus(err)
	}
	return &verifierv1.ValidateConfigResponse{Diagnostics: diagnosticsToProto(ds)}, nil
}

func (s *server) Verify(ctx context.Context, in *verifierv1.VerifyRequest) (_ *verifierv1.VerifyResponse, err error) {
	defer s.recoverPanic("Verify", &err)
	ctx, cancel := incoming(ctx)
	defer cancel()
	req := verifyRequestFromProto(in)
	if err := req.Validate(); err != nil {
		return nil, detailedStatus(codes.InvalidArgument, reasonInvalidRequest, err.Error())
	}
	resp, err := s.impl.Verify(ctx, req)
	if err != nil {
		return nil, pluginStatus(err)
	}
	if resp == nil {
		return nil, detailedStatus(codes.Unknown, reasonPluginError, "Verify returned neither a response nor an error")
	}
	out, err := verifyResponseToProto(resp)
	if err != nil {
		return nil, detailedStatus(codes.Unknown, reasonPluginError, fmt.Sprintf("Verify response: %v", err))
	}
	return out, nil
}

// recoverPanic turns a panic in a plugin method into a PLUGIN_PANIC status.
func (s *server) recoverPanic(method string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	s.log.Error("verifier panicked", "method", method, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	*err = detailedStatus(codes.Internal, reasonPluginPanic, fmt.Sprintf("%s panicked: %v", method, r))
}

// pluginStatus maps an error returned by the plugin's Verifier. Context
// errors keep their meaning; anything else is a PLUGIN_ERROR whatever gRPC
// code the plugin may have used, so the host can tell it from a transport
// failure.
func pluginStatus(err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	default:
		return detailedStatus(codes.Unknown, reasonPluginError, err.Error())
	}
}

func detailedStatus(code codes.Code, reason, msg string) error {
	st := status.New(code, msg)
	withInfo, err := st.WithDetails(&errdetails.ErrorInfo{Reason: reason, Domain: errorDomain})
	if err != nil {
		return st.Err()
	}
	return withInfo.Err()
}
