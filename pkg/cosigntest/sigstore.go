package cosigntest

import (
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/testing/ca"
	"github.com/sigstore/sigstore-go/pkg/tlog"
	"github.com/sigstore/sigstore-go/pkg/verify"
)

// Default identity of keyless signatures made by a Sigstore.
const (
	DefaultIdentity = "signer@assay.test"
	DefaultIssuer   = "https://issuer.assay.test"
)

// Sigstore is a local Sigstore deployment: a Fulcio CA (root and
// intermediate), a Rekor log, a CT log and a timestamping authority, from
// sigstore-go's testing CA (VirtualSigstore). It signs keyless and exports
// the trusted root that verifies its signatures.
type Sigstore struct {
	vs *ca.VirtualSigstore
}

// NewSigstore creates a Sigstore with fresh keys.
func NewSigstore() (*Sigstore, error) {
	vs, err := ca.NewVirtualSigstore()
	if err != nil {
		return nil, fmt.Errorf("cosigntest: new virtual sigstore: %w", err)
	}
	return &Sigstore{vs: vs}, nil
}

// TrustedRoot returns the Sigstore's trusted root: its Fulcio CA, Rekor
// and CT log keys and its TSA.
func (s *Sigstore) TrustedRoot() (*root.TrustedRoot, error) {
	// VirtualSigstore names its logs by the hex string of the key ID;
	// trusted_root.json carries the raw key ID.
	fix := func(in map[string]*root.TransparencyLog) (map[string]*root.TransparencyLog, error) {
		out := make(map[string]*root.TransparencyLog, len(in))
		for k, tl := range maps.All(in) {
			c := *tl
			id, err := hex.DecodeString(string(tl.ID))
			if err != nil {
				return nil, fmt.Errorf("cosigntest: log ID %q: %w", tl.ID, err)
			}
			c.ID = id
			out[k] = &c
		}
		return out, nil
	}
	rekor, err := fix(s.vs.RekorLogs())
	if err != nil {
		return nil, err
	}
	ct, err := fix(s.vs.CTLogs())
	if err != nil {
		return nil, err
	}
	tr, err := root.NewTrustedRoot(root.TrustedRootMediaType01, s.vs.FulcioCertificateAuthorities(), ct, s.vs.TimestampingAuthorities(), rekor)
	if err != nil {
		return nil, fmt.Errorf("cosigntest: trusted root: %w", err)
	}
	return tr, nil
}

// TrustedRootJSON returns the Sigstore's trusted_root.json.
func (s *Sigstore) TrustedRootJSON() ([]byte, error) {
	tr, err := s.TrustedRoot()
	if err != nil {
		return nil, err
	}
	b, err := tr.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("cosigntest: marshal trusted root: %w", err)
	}
	return b, nil
}

// KeylessOptions tunes a keyless signature.
type KeylessOptions struct {
	SignOptions
	// Identity is the certificate's SAN (an email address). If empty,
	// DefaultIdentity.
	Identity string
	// Issuer is the certificate's OIDC issuer. If empty, DefaultIssuer.
	Issuer string
	// WithoutTlog leaves out the Rekor bundle (or the bundle's tlog entry).
	WithoutTlog bool
	// WithoutTimestamp leaves out the RFC 3161 timestamp.
	WithoutTimestamp bool
	// WithChain adds the intermediate and root under the chain annotation.
	WithChain bool
}

func (o KeylessOptions) identity() (string, string) {
	id, iss := o.Identity, o.Issuer
	if id == "" {
		id = DefaultIdentity
	}
	if iss == "" {
		iss = DefaultIssuer
	}
	return id, iss
}

// integratedTime is when the VirtualSigstore's log says it saw a
// signature: inside its certificates' ten-minute validity.
func integratedTime() time.Time { return time.Now().Add(time.Minute) }

// SignClassic signs subject keyless in cosign's classic layout, as
// `cosign sign` with Fulcio and Rekor does: a Fulcio certificate for the
// identity, a Rekor hashedrekord entry with its signed entry timestamp in
// the bundle annotation, and an RFC 3161 timestamp.
func (s *Sigstore) SignClassic(subject ocispec.Descriptor, opts KeylessOptions) (*Layer, error) {
	payload := opts.payload(subject)
	id, iss := opts.identity()
	te, err := s.vs.SignAtTime(id, iss, payload, integratedTime())
	if err != nil {
		return nil, fmt.Errorf("cosigntest: keyless sign: %w", err)
	}
	parts, err := s.parts(te)
	if err != nil {
		return nil, err
	}
	l := &Layer{Payload: payload, Signature: parts.sig, Certificate: parts.cert}
	if opts.WithChain {
		for _, c := range s.vs.FulcioCertificateAuthorities() {
			fca, ok := c.(*root.FulcioCertificateAuthority)
			if !ok {
				continue
			}
			l.Chain = append(append(l.Chain, fca.Intermediates...), fca.Root)
		}
	}
	if !opts.WithoutTlog {
		set, err := s.signedEntryTimestamp(parts.entry)
		if err != nil {
			return nil, err
		}
		if l.RekorBundle, err = encodeRekorBundle(parts.entry, set); err != nil {
			return nil, err
		}
	}
	if !opts.WithoutTimestamp {
		l.Timestamp = parts.timestamp
	}
	return l, nil
}

// entityParts is what a VirtualSigstore TestEntity carries.
type entityParts struct {
	sig       []byte
	cert      *x509.Certificate
	entry     *tlog.Entry
	timestamp []byte
}

func (s *Sigstore) parts(te *ca.TestEntity) (*entityParts, error) {
	var p entityParts
	sc, err := te.SignatureContent()
	if err != nil {
		return nil, err
	}
	p.sig = sc.Signature()
	vc, err := te.VerificationContent()
	if err != nil {
		return nil, err
	}
	p.cert = vc.Certificate()
	entries, err := te.TlogEntries()
	if err != nil {
		return nil, err
	}
	if len(entries) != 1 {
		return nil, fmt.Errorf("cosigntest: virtual sigstore made %d log entries, want 1", len(entries))
	}
	p.entry = entries[0]
	ts, err := te.Timestamps()
	if err != nil {
		return nil, err
	}
	if len(ts) > 0 {
		p.timestamp = ts[0]
	}
	return &p, nil
}

// signedEntryTimestamp has the Rekor log sign entry's payload again (the
// TestEntity keeps its own signed entry timestamp to itself; ECDSA
// signatures differ each time and are all valid).
func (s *Sigstore) signedEntryTimestamp(entry *tlog.Entry) ([]byte, error) {
	tle := entry.TransparencyLogEntry()
	set, err := s.vs.RekorSignPayload(tlog.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(tle.GetCanonicalizedBody()),
		IntegratedTime: tle.GetIntegratedTime(),
		LogIndex:       tle.GetLogIndex(),
		LogID:          hex.EncodeToString(tle.GetLogId().GetKeyId()),
	})
	if err != nil {
		return nil, fmt.Errorf("cosigntest: sign entry timestamp: %w", err)
	}
	return set, nil
}

var _ verify.SignedEntity = (*ca.TestEntity)(nil)
