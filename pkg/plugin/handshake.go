package plugin

import (
	"context"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health/grpc_health_v1"

	verifierv1 "github.com/assayproj/assay/pkg/plugin/internal/pb/verifier/v1"
)

// The go-plugin handshake. The host passes the magic cookie to the plugin
// process in its environment; a binary started without it prints a notice
// and exits. It is a usability check, not a security measure: integrity
// comes from SHA256SUMS and AutoMTLS.
//
// NEVER change MagicCookieKey or MagicCookieValue. Every plugin ever built
// carries them, and a host with different values cannot start any of them.
const (
	MagicCookieKey   = "ASSAY_VERIFIER_PLUGIN"
	MagicCookieValue = "3b9c1e5f0d7a4c28b6e1f94a2d0c7e53"
)

// ProtocolVersion is the plugin protocol version this package speaks: the
// major version of the assay.verifier.v1 proto package. It is negotiated
// during the go-plugin handshake through VersionedPlugins, so a future v2
// can be served beside v1 by both hosts and plugins.
const ProtocolVersion = 1

// MaxMessageSize is the largest gRPC message, in bytes, that hosts and
// plugins send or accept: 64 MiB. It is raised deliberately from gRPC's
// 4 MiB default because a VerifyRequest carries the artifact's blobs
// (signature envelopes, SARIF reports) inline. Both the plugin's server
// and the host's client set it; a larger message fails with
// ErrMessageTooLarge rather than being truncated.
const MaxMessageSize = 64 << 20

// MaxRequestContentBytes is the most content one VerifyRequest may carry:
// its Config, ArtifactManifest and the Data of its Blobs together.
// It is MaxMessageSize less 1 MiB left for descriptors, annotations and
// framing, so a request within it always fits one message. A host
// refuses a larger artifact before fetching it.
const MaxRequestContentBytes = MaxMessageSize - 1<<20

// pluginKey is the key of the verifier in go-plugin's PluginSet. NEVER
// change it; it is part of the v1 handshake.
const pluginKey = "verifier"

func handshake() goplugin.HandshakeConfig {
	return goplugin.HandshakeConfig{
		// ProtocolVersion is negotiated through VersionedPlugins.
		MagicCookieKey:   MagicCookieKey,
		MagicCookieValue: MagicCookieValue,
	}
}

// versionedPlugins is the set of protocol versions served or accepted.
// impl is nil on the host side.
func versionedPlugins(impl Verifier, log hclog.Logger) map[int]goplugin.PluginSet {
	return map[int]goplugin.PluginSet{
		ProtocolVersion: {pluginKey: &grpcPlugin{impl: impl, log: log}},
	}
}

// grpcPlugin binds the v1 gRPC service to go-plugin.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	impl Verifier
	// log receives panic stacks on the plugin side; nil discards them.
	log hclog.Logger
}

var _ goplugin.GRPCPlugin = (*grpcPlugin)(nil)

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	log := p.log
	if log == nil {
		log = hclog.NewNullLogger()
	}
	verifierv1.RegisterVerifierServer(s, &server{impl: p.impl, log: log})
	return nil
}

func (p *grpcPlugin) GRPCClient(_ context.Context, _ *goplugin.GRPCBroker, c *grpc.ClientConn) (any, error) {
	return &client{rpc: verifierv1.NewVerifierClient(c), health: grpc_health_v1.NewHealthClient(c)}, nil
}
