package plugin

import (
	"context"
	"fmt"
	"strconv"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	verifierv1 "github.com/assayproj/assay/pkg/plugin/internal/pb/verifier/v1"
)

// client is the host side of the gRPC service. It implements Verifier so
// that a plugin process looks like a local one; every method forwards the
// caller's ctx, so its deadline crosses the process boundary.
type client struct {
	rpc verifierv1.VerifierClient
	// health is the gRPC health service every go-plugin server registers.
	health grpc_health_v1.HealthClient
}

var _ Verifier = (*client)(nil)

func (c *client) Metadata(ctx context.Context) (Metadata, error) {
	resp, err := c.rpc.GetMetadata(outgoing(ctx), &verifierv1.GetMetadataRequest{})
	if err != nil {
		return Metadata{}, callError(ctx, err)
	}
	return metadataFromProto(resp), nil
}

func (c *client) ValidateConfig(ctx context.Context, config []byte) ([]Diagnostic, error) {
	resp, err := c.rpc.ValidateConfig(outgoing(ctx), &verifierv1.ValidateConfigRequest{Config: config})
	if err != nil {
		return nil, callError(ctx, err)
	}
	return diagnosticsFromProto(resp.GetDiagnostics()), nil
}

// Verify returns the plugin's response as sent; a VerdictUnspecified
// verdict is passed through for the caller to report as inconclusive.
func (c *client) Verify(ctx context.Context, req *VerifyRequest) (*VerifyResponse, error) {
	resp, err := c.rpc.Verify(outgoing(ctx), verifyRequestToProto(req))
	if err != nil {
		return nil, callError(ctx, err)
	}
	return verifyResponseFromProto(resp), nil
}

// ping asks the process's gRPC health service whether it serves,
// bounded by ctx (go-plugin's own Ping has no deadline, so a stopped
// process would hold it forever). The process answers from its gRPC
// server, whatever its Verifier is busy with.
func (c *client) ping(ctx context.Context) error {
	resp, err := c.health.Check(ctx, &grpc_health_v1.HealthCheckRequest{Service: goplugin.GRPCServiceName})
	if err != nil {
		return err
	}
	if s := resp.GetStatus(); s != grpc_health_v1.HealthCheckResponse_SERVING {
		return fmt.Errorf("health status %s", s)
	}
	return nil
}

// outgoing adds ctx's absolute deadline to the call's metadata (see
// deadlineKey).
func outgoing(ctx context.Context) context.Context {
	d, ok := ctx.Deadline()
	if !ok {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, deadlineKey, strconv.FormatInt(d.UnixNano(), 10))
}

// callError maps a failed RPC back to this package's errors:
//   - a status carrying the protocol's ErrorInfo detail is what the plugin
//     said: ErrRemote, ErrPanicked, or ErrProtocol wrapping
//     ErrInvalidRequest;
//   - otherwise, if ctx has ended, the ctx error (the call was abandoned);
//   - DEADLINE_EXCEEDED and CANCELLED become context.DeadlineExceeded and
//     context.Canceled (the plugin gave up on the propagated deadline);
//   - RESOURCE_EXHAUSTED is ErrMessageTooLarge, UNIMPLEMENTED ErrProtocol,
//     UNKNOWN (a handler error without detail) ErrRemote;
//   - anything else, UNAVAILABLE first of all, means the connection to the
//     process broke: ErrCrashed.
func callError(ctx context.Context, err error) error {
	st := status.Convert(err)
	msg := st.Message()
	for _, d := range st.Details() {
		info, ok := d.(*errdetails.ErrorInfo)
		if !ok || info.GetDomain() != errorDomain {
			continue
		}
		switch info.GetReason() {
		case reasonPluginPanic:
			return fmt.Errorf("%w: %s", ErrPanicked, msg)
		case reasonInvalidRequest:
			return fmt.Errorf("%w: %w: plugin rejected the request: %s", ErrProtocol, ErrInvalidRequest, msg)
		default:
			return fmt.Errorf("%w: %s", ErrRemote, msg)
		}
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w: %s", ctxErr, msg)
	}
	switch st.Code() {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%w: %s", context.DeadlineExceeded, msg)
	case codes.Canceled:
		return fmt.Errorf("%w: %s", context.Canceled, msg)
	case codes.ResourceExhausted:
		return fmt.Errorf("%w: %s", ErrMessageTooLarge, msg)
	case codes.Unimplemented:
		return fmt.Errorf("%w: %s", ErrProtocol, msg)
	case codes.Unknown:
		return fmt.Errorf("%w: %s", ErrRemote, msg)
	default:
		return fmt.Errorf("%w: %s: %s", ErrCrashed, st.Code(), msg)
	}
}
