package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/fulcio/certificate"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/verify"

	"github.com/assayproj/assay/pkg/plugin"
	"github.com/assayproj/assay/pkg/plugin/params"
	"github.com/assayproj/assay/pkg/reason"
)

// Name is the plugin's name, equal to its binary name.
const Name = "cosign"

// Artifact types this plugin verifies.
const (
	// ArtifactTypeSignature is what Assay's store reports for a manifest
	// under cosign's classic tag "sha256-<hex>.sig".
	ArtifactTypeSignature = "application/vnd.dev.cosign.artifact.sig.v1+json"
	// ArtifactTypeBundle is a Sigstore bundle v0.3 stored as an OCI 1.1
	// referrer (cosign v3).
	ArtifactTypeBundle = "application/vnd.dev.sigstore.bundle.v0.3+json"
)

// Layer media types.
const (
	mediaTypeSimpleSigning = "application/vnd.dev.cosign.simplesigning.v1+json"
	mediaTypeBundle        = "application/vnd.dev.sigstore.bundle.v0.3+json"
	maxBundleSize          = 4 << 20
)

const timeLayout = time.RFC3339

// Remediations.
const (
	remediationConfigInvalid = "Fix the Verifier's parameters; the message names the field."
	remediationNoTrustPolicy = "Add a trust policy whose scopes include this repository (or \"*\")."
	remediationReSign        = "Re-sign the image and push the signature again; the signature does not match the image or was altered."
	remediationUntrusted     = "Sign with a key or identity the trust policy trusts, or add the signer to the trust policy."
	remediationIdentity      = "Sign with a trusted identity, or add the signer's issuer and subject to the trust policy's keyless identities."
	remediationTimestamp     = "Re-sign with timestamps from a timestamping authority of the trusted root, or lower the trust policy's timestamps."
	remediationTlog          = "Re-sign with the transparency log of the trusted root (cosign's default), check the trusted root's Rekor keys, or set tlog: skip."
)

// Options configures NewVerifier.
type Options struct {
	// Version is the plugin version reported by Metadata. If empty, the
	// main module's version from the build info is used, or "devel".
	Version string
	// MaxConfigs is how many parsed configurations are kept (each keyed by
	// the sha256 of its bytes). If <= 0, plugin.DefaultConfigCacheSize
	// (currently 16) is used.
	MaxConfigs int
}

// Verifier verifies cosign signatures, classic and Sigstore bundles, with
// sigstore-go against trust policies given as parameters. It implements
// plugin.Verifier, is safe for concurrent use and never uses the network.
type Verifier struct {
	version string
	configs *plugin.ConfigCache[*config]
}

var _ plugin.Verifier = (*Verifier)(nil)

// NewVerifier returns a Verifier with opts' defaults applied.
func NewVerifier(opts Options) *Verifier {
	v := &Verifier{version: opts.Version, configs: plugin.NewConfigCache(opts.MaxConfigs, parseConfig)}
	if v.version == "" {
		v.version = "devel"
		if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v.version = bi.Main.Version
		}
	}
	return v
}

// Metadata describes the plugin. It declares no capability: everything
// it trusts arrives as parameters; it makes no network call. Both its
// artifact types, the classic signature and the Sigstore bundle, are
// signatures.
func (v *Verifier) Metadata(context.Context) (plugin.Metadata, error) {
	return plugin.Metadata{
		Name:           Name,
		Version:        v.version,
		ArtifactTypes:  []string{ArtifactTypeSignature, ArtifactTypeBundle},
		SignatureTypes: []string{ArtifactTypeSignature, ArtifactTypeBundle},
	}, nil
}

// ValidateConfig decodes and checks parameters and returns every problem
// found as a diagnostic naming its field. It never returns an error.
func (v *Verifier) ValidateConfig(_ context.Context, raw []byte) ([]plugin.Diagnostic, error) {
	return append([]plugin.Diagnostic(nil), v.configs.Get(raw).diags...), nil
}

// outcome is a verdict with its explanation.
type outcome struct {
	verdict     plugin.Verdict
	reason      reason.Code
	message     string
	remediation string
	details     map[string]any
}

func (o *outcome) response(base map[string]any) *plugin.VerifyResponse {
	d := base
	for k, val := range o.details {
		d[k] = val
	}
	return &plugin.VerifyResponse{Verdict: o.verdict, Reason: o.reason, Message: o.message, Remediation: o.remediation, Details: d}
}

func failed(code reason.Code, remediation, format string, args ...any) *outcome {
	return &outcome{verdict: plugin.VerdictFailed, reason: code, remediation: remediation, message: withoutNilErrors(fmt.Sprintf(format, args...))}
}

// withoutNilErrors drops what fmt prints for a nil error given to %w
// from a message quoting a library's error: sigstore-go v1.3 wraps
// errors.Join of no errors (nil) when a threshold is missed for want of
// any timestamp, which reads "…; error: %!w(<nil>)".
func withoutNilErrors(msg string) string {
	msg = strings.ReplaceAll(msg, "; error: %!w(<nil>)", "")
	return strings.ReplaceAll(msg, "%!w(<nil>)", "")
}

// Verify verifies the cosign signature manifest carried by req against
// the subject. A signature that is bad, for another image, untrusted, or
// by another identity is VerdictFailed; invalid parameters and a
// repository no trust policy covers are VerdictInconclusive. It never
// returns an error. Serve has validated req (subject digest, repository,
// config) and recovers a panic in the parsers of the untrusted
// signature, which the host reports as inconclusive.
func (v *Verifier) Verify(ctx context.Context, req *plugin.VerifyRequest) (*plugin.VerifyResponse, error) {
	cfg := v.configs.Get(req.Config)
	if d := cfg.invalid(); d != nil {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictInconclusive, Reason: reason.ConfigInvalid, Message: params.InvalidMessage(d), Remediation: remediationConfigInvalid}, nil
	}
	pol := cfg.match(req.Repository)
	if pol == nil {
		return &plugin.VerifyResponse{
			Verdict:     plugin.VerdictInconclusive,
			Reason:      reason.NoTrustPolicy,
			Message:     fmt.Sprintf("no trust policy's scopes cover repository %q", req.Repository),
			Remediation: remediationNoTrustPolicy,
			Details:     map[string]any{"repository": req.Repository},
		}, nil
	}
	details := map[string]any{"trustPolicy": pol.name}
	if ctx.Err() != nil {
		return &plugin.VerifyResponse{Verdict: plugin.VerdictInconclusive, Reason: reason.VerificationFailed, Message: fmt.Sprintf("the request ended before verification: %v", ctx.Err()), Details: details}, nil
	}
	subject, err := hex.DecodeString(req.Subject.Digest.Encoded())
	if err != nil || req.Subject.Digest.Algorithm() != "sha256" {
		return failed(reason.SignatureInvalid, remediationReSign, "subject digest %s is not a sha256 digest, which cosign signs", req.Subject.Digest).response(details), nil
	}
	j := &judge{pol: pol, subject: subject, subjectDigest: req.Subject.Digest.String()}
	for _, b := range req.Blobs {
		if b.Descriptor.Digest != "" {
			if err := b.Descriptor.Digest.Validate(); err != nil || b.Descriptor.Digest.Algorithm().FromBytes(b.Data) != b.Descriptor.Digest {
				return failed(reason.SignatureInvalid, remediationReSign, "layer %s: the bytes do not match their descriptor", b.Descriptor.Digest).response(details), nil
			}
		}
	}
	switch {
	case req.Artifact.ArtifactType == ArtifactTypeBundle || len(req.Blobs) == 1 && req.Blobs[0].Descriptor.MediaType == mediaTypeBundle:
		details["signatureFormat"] = "bundle"
		return j.bundle(req.Blobs).response(details), nil
	default:
		details["signatureFormat"] = "simplesigning"
		return j.classic(ctx, req.Blobs).response(details), nil
	}
}

// judge verifies one request's signatures against one trust policy.
type judge struct {
	pol           *policy
	subject       []byte // sha256 digest bytes
	subjectDigest string
}

// classic verifies every layer of a classic signature manifest: any
// layer satisfying the policy verifies the manifest; each is listed.
func (j *judge) classic(ctx context.Context, blobs []plugin.Blob) *outcome {
	if len(blobs) == 0 {
		return failed(reason.SignatureInvalid, remediationReSign, "the cosign signature manifest has no layers")
	}
	var (
		list  []any
		first *outcome
		win   *outcome
	)
	for i, b := range blobs {
		if ctx.Err() != nil {
			return &outcome{verdict: plugin.VerdictInconclusive, reason: reason.VerificationFailed, message: fmt.Sprintf("the request ended after %d of %d signatures: %v", i, len(blobs), ctx.Err())}
		}
		o := j.classicLayer(b)
		entry := map[string]any{"index": i, "digest": b.Descriptor.Digest.String(), "verdict": o.verdict.String(), "reason": o.reason, "message": o.message}
		for k, val := range o.details {
			entry[k] = val
		}
		list = append(list, entry)
		switch {
		case o.verdict == plugin.VerdictVerified && win == nil:
			win = o
			win.message = fmt.Sprintf("signature %d of %d: %s", i+1, len(blobs), o.message)
		case o.verdict != plugin.VerdictVerified && first == nil:
			first = o
		}
	}
	out := win
	if out == nil {
		out = first
		if len(blobs) > 1 {
			out.message = fmt.Sprintf("none of the %d signatures satisfies trust policy %q; the first: %s", len(blobs), j.pol.name, first.message)
		}
	}
	if out.details == nil {
		out.details = map[string]any{}
	}
	out.details["signatures"] = list
	return out
}

func (j *judge) classicLayer(b plugin.Blob) *outcome {
	if b.Descriptor.MediaType != mediaTypeSimpleSigning {
		return failed(reason.SignatureInvalid, remediationReSign, "layer media type %q is not cosign's simple-signing payload %q", b.Descriptor.MediaType, mediaTypeSimpleSigning)
	}
	payload, err := parsePayload(b.Data)
	if err != nil {
		return failed(reason.SignatureInvalid, remediationReSign, "%v", err)
	}
	if signed := payload.Critical.Image.DockerManifestDigest; signed != j.subjectDigest {
		o := failed(reason.SignatureInvalid, remediationReSign, "the signature is for %s, not for the subject %s", signed, j.subjectDigest)
		o.details = map[string]any{"signedDigest": signed}
		return o
	}
	parts, err := decodeClassic(b.Data, b.Descriptor.Annotations, j.pol.tlog, j.pol.timestamps > 0)
	if err != nil {
		return failed(reason.SignatureInvalid, remediationReSign, "%v", err)
	}
	art := artifact{payload: b.Data}
	if len(j.pol.keys) > 0 {
		return j.withKeys(art, func(k *trustedKey) verify.SignedEntity {
			return &classicEntity{payload: parts.payload, sig: parts.sig, key: k, entries: parts.entries, timestamp: parts.timestamps}
		})
	}
	if parts.cert == nil {
		return failed(reason.SignatureUntrusted, remediationUntrusted, "the signature carries no certificate (it was made with a key), and trust policy %q trusts keyless identities only", j.pol.name)
	}
	return j.keyless(art, &classicEntity{payload: parts.payload, sig: parts.sig, cert: parts.cert, entries: parts.entries, timestamp: parts.timestamps})
}

// bundle verifies a Sigstore bundle referrer.
func (j *judge) bundle(blobs []plugin.Blob) *outcome {
	if len(blobs) != 1 {
		return failed(reason.SignatureInvalid, remediationReSign, "a Sigstore bundle referrer has exactly one layer (the bundle), this one has %d", len(blobs))
	}
	if len(blobs[0].Data) > maxBundleSize {
		return failed(reason.SignatureInvalid, remediationReSign, "the bundle is larger than %d bytes", maxBundleSize)
	}
	var b bundle.Bundle
	if err := b.UnmarshalJSON(blobs[0].Data); err != nil {
		return failed(reason.SignatureInvalid, remediationReSign, "the layer is not a valid Sigstore bundle: %v", err)
	}
	details := map[string]any{}
	if mt := b.GetMediaType(); mt != "" {
		details["bundleMediaType"] = mt
	}
	sc, err := b.SignatureContent()
	if err != nil {
		return failed(reason.SignatureInvalid, remediationReSign, "the bundle's content cannot be read: %v", err)
	}
	with := func(o *outcome) *outcome {
		if o.details == nil {
			o.details = map[string]any{}
		}
		for k, val := range details {
			o.details[k] = val
		}
		return o
	}
	switch {
	case sc.EnvelopeContent() != nil:
		details["bundleContent"] = "dsse-envelope"
		st, err := sc.EnvelopeContent().Statement()
		if err != nil {
			return with(failed(reason.SignatureInvalid, remediationReSign, "the bundle's DSSE envelope holds no in-toto statement: %v", err))
		}
		details["predicateType"] = st.GetPredicateType()
		found := false
		var named []string
		for _, s := range st.GetSubject() {
			d := s.GetDigest()["sha256"]
			named = append(named, "sha256:"+d)
			if d == hex.EncodeToString(j.subject) {
				found = true
			}
		}
		if !found {
			return with(failed(reason.SignatureInvalid, remediationReSign, "the signed statement is about %s, not the subject %s", strings.Join(named, ", "), j.subjectDigest))
		}
		if !slices.Contains(j.pol.predicateTypes, st.GetPredicateType()) {
			return with(failed(reason.VerificationFailed, "Attach a signature (predicate type "+DefaultPredicateType+"), or add this predicate type to the trust policy's predicateTypes.",
				"the bundle is an attestation of predicate type %q, which trust policy %q does not accept as a signature (accepted: %s)", st.GetPredicateType(), j.pol.name, strings.Join(j.pol.predicateTypes, ", ")))
		}
	case sc.MessageSignatureContent() != nil:
		details["bundleContent"] = "message-signature"
		m := sc.MessageSignatureContent()
		if m.DigestAlgorithm() != "SHA2_256" || !bytes.Equal(m.Digest(), j.subject) {
			return with(failed(reason.SignatureInvalid, remediationReSign, "the message signature is over %s:%x, not the subject %s", m.DigestAlgorithm(), m.Digest(), j.subjectDigest))
		}
	default:
		return with(failed(reason.SignatureInvalid, remediationReSign, "the bundle holds neither a DSSE envelope nor a message signature"))
	}
	vc, err := b.VerificationContent()
	if err != nil {
		return with(failed(reason.SignatureInvalid, remediationReSign, "the bundle's verification material cannot be read: %v", err))
	}
	art := artifact{digest: j.subject}
	if len(j.pol.keys) > 0 {
		if vc.Certificate() != nil {
			return with(failed(reason.SignatureUntrusted, remediationUntrusted, "the bundle is signed with a certificate, and trust policy %q trusts keys only", j.pol.name))
		}
		return with(j.withKeys(art, func(k *trustedKey) verify.SignedEntity { return &bundleKeyEntity{Bundle: &b, key: k} }))
	}
	if vc.Certificate() == nil {
		return with(failed(reason.SignatureUntrusted, remediationUntrusted, "the bundle is signed with a key, and trust policy %q trusts keyless identities only", j.pol.name))
	}
	return with(j.keyless(art, &b))
}

// artifact is what the signature must cover: the classic payload bytes,
// or the subject digest for bundles.
type artifact struct {
	payload []byte
	digest  []byte
}

func (a artifact) option() verify.ArtifactPolicyOption {
	if a.payload != nil {
		return verify.WithArtifact(bytes.NewReader(a.payload))
	}
	return verify.WithArtifactDigest("sha256", a.digest)
}

func (a artifact) verifySignature(sc verify.SignatureContent, vc verify.VerificationContent, tm root.TrustedMaterial) error {
	if a.payload != nil {
		return verify.VerifySignatureWithArtifacts(sc, vc, tm, []io.Reader{bytes.NewReader(a.payload)})
	}
	return verify.VerifySignatureWithArtifactDigests(sc, vc, tm, []verify.ArtifactDigest{{Algorithm: "sha256", Digest: a.digest}})
}

// verifierOptions are the sigstore-go verifier options of the policy.
func (p *policy) verifierOptions(keyless bool) []verify.VerifierOption {
	var opts []verify.VerifierOption
	if p.tlog {
		opts = append(opts, verify.WithTransparencyLog(1), verify.WithIntegratedTimestamps(1))
	}
	if p.timestamps > 0 {
		opts = append(opts, verify.WithSignedTimestamps(p.timestamps))
	}
	if keyless && p.sct {
		opts = append(opts, verify.WithSignedCertificateTimestamps(1))
	}
	if !p.tlog && p.timestamps == 0 {
		opts = append(opts, verify.WithNoObserverTimestamps())
	}
	return opts
}

// errWrongKey marks a signature that does not verify with a key.
var errWrongKey = errors.New("signature does not verify with the key")

// withKeys tries each trusted key; the first that verifies wins.
func (j *judge) withKeys(art artifact, entity func(*trustedKey) verify.SignedEntity) *outcome {
	var names []string
	for _, k := range j.pol.keys {
		names = append(names, k.name)
		tm := keyMaterial(k, j.pol.trustedRoot)
		e := entity(k)
		res, o := j.check(tm, e, art, nil)
		if o == nil {
			out := &outcome{verdict: plugin.VerdictVerified, reason: reason.Verified,
				message: fmt.Sprintf("signed by key %q (%s) of trust policy %q", k.name, k.keyType, j.pol.name),
				details: map[string]any{"key": k.name, "keyFingerprint": k.fingerprint, "keyType": k.keyType}}
			j.evidence(out, res, e)
			return out
		}
		if !errors.Is(o.err, errWrongKey) {
			o.details = map[string]any{"key": k.name, "keyFingerprint": k.fingerprint}
			o.message = fmt.Sprintf("signed by key %q, but %s", k.name, o.message)
			return &o.outcome
		}
	}
	return failed(reason.SignatureUntrusted, remediationUntrusted,
		"the signature verifies with none of trust policy %q's keys (%s): it was made with another key, or the signed payload was altered", j.pol.name, strings.Join(names, ", "))
}

// keyless verifies a certificate-signed entity against the policy's
// trusted root and identities.
func (j *judge) keyless(art artifact, e verify.SignedEntity) *outcome {
	res, o := j.check(j.pol.trustedRoot, e, art, j.pol.identities)
	if o != nil {
		return &o.outcome
	}
	out := &outcome{verdict: plugin.VerdictVerified, reason: reason.Verified, details: map[string]any{}}
	if c := res.Signature; c != nil && c.Certificate != nil {
		out.details["subject"] = c.Certificate.SubjectAlternativeName
		out.details["issuer"] = c.Certificate.Issuer
		out.details["certificateIssuer"] = c.Certificate.CertificateIssuer
		out.message = fmt.Sprintf("signed by %s (issuer %s), trusted by trust policy %q", c.Certificate.SubjectAlternativeName, c.Certificate.Issuer, j.pol.name)
	}
	j.evidence(out, res, e)
	return out
}

// evidence records what dated and witnessed a verified signature.
func (j *judge) evidence(out *outcome, res *verify.VerificationResult, e verify.SignedEntity) {
	out.details["tlogVerified"] = false
	var tsa []any
	for _, ts := range res.VerifiedTimestamps {
		switch ts.Type {
		case "Tlog":
			out.details["tlogVerified"] = true
			out.details["integratedTime"] = ts.Timestamp.UTC().Format(timeLayout)
		case "TimestampAuthority":
			tsa = append(tsa, ts.Timestamp.UTC().Format(timeLayout))
		}
	}
	if entries, err := e.TlogEntries(); err == nil && len(entries) > 0 && j.pol.tlog {
		out.details["logIndex"] = entries[0].LogIndex()
	}
	out.details["timestampVerified"] = len(tsa) > 0
	if len(tsa) > 0 {
		out.details["timestamps"] = tsa
	}
	var checks []string
	if j.pol.tlog {
		checks = append(checks, "transparency log entry verified")
	}
	if len(tsa) > 0 {
		checks = append(checks, fmt.Sprintf("%d RFC 3161 timestamp(s) verified", len(tsa)))
	}
	if len(checks) > 0 {
		out.message += "; " + strings.Join(checks, ", ")
	}
}

// failure is a failed check with its cause.
type failure struct {
	outcome
	err error
}

// check runs sigstore-go's verifier, the decision. When it refuses, the
// checks are run one by one to say which failed: signature, transparency
// log, timestamps, certificate chain, SCT, identity.
func (j *judge) check(tm root.TrustedMaterial, e verify.SignedEntity, art artifact, ids verify.CertificateIdentities) (*verify.VerificationResult, *failure) {
	keyless := ids != nil
	v, err := verify.NewVerifier(tm, j.pol.verifierOptions(keyless)...)
	if err != nil {
		return nil, &failure{outcome: outcome{verdict: plugin.VerdictInconclusive, reason: reason.ConfigInvalid, remediation: remediationConfigInvalid, message: "sigstore verifier cannot be built: " + err.Error()}, err: err}
	}
	var opts []verify.PolicyOption
	if keyless {
		for _, id := range ids {
			opts = append(opts, verify.WithCertificateIdentity(id))
		}
	} else {
		opts = append(opts, verify.WithKey())
	}
	res, verr := v.Verify(e, verify.NewPolicy(art.option(), opts...))
	if verr == nil {
		return res, nil
	}
	fail := func(code reason.Code, remediation, format string, args ...any) *failure {
		return &failure{outcome: *failed(code, remediation, format, args...), err: verr}
	}
	sc, err := e.SignatureContent()
	if err != nil {
		return nil, fail(reason.SignatureInvalid, remediationReSign, "the signature cannot be read: %v", err)
	}
	vc, err := e.VerificationContent()
	if err != nil {
		return nil, fail(reason.SignatureInvalid, remediationReSign, "the verification material cannot be read: %v", err)
	}
	if err := art.verifySignature(sc, vc, tm); err != nil {
		if !keyless {
			return nil, &failure{outcome: *failed(reason.SignatureUntrusted, remediationUntrusted, "%v", err), err: errWrongKey}
		}
		return nil, fail(reason.SignatureInvalid, remediationReSign, "the signature does not match the signed content (altered payload or signature): %v", err)
	}
	var logTimes []verify.TimestampVerificationResult
	if j.pol.tlog {
		ts, err := verify.VerifyTlogEntry(e, tm, 1, true)
		if err != nil {
			return nil, fail(reason.SignatureUntrusted, remediationTlog, "no transparency log entry verified against the trusted root: %v", err)
		}
		if len(ts) == 0 {
			return nil, fail(reason.SignatureUntrusted, remediationTlog, "no transparency log entry of the signature is signed by a log of the trusted root")
		}
		for _, t := range ts {
			logTimes = append(logTimes, verify.TimestampVerificationResult{Type: "Tlog", URI: t.URI, Timestamp: t.Time})
		}
	}
	if j.pol.timestamps > 0 {
		if ts, err := e.Timestamps(); err == nil && len(ts) < j.pol.timestamps {
			return nil, fail(reason.TimestampInvalid, remediationTimestamp, "the signature carries %d RFC 3161 timestamp(s); trust policy %q requires %d from a timestamping authority of its trusted root", len(ts), j.pol.name, j.pol.timestamps)
		}
	}
	observed, err := v.VerifyObserverTimestamps(e, logTimes)
	if err != nil {
		return nil, fail(reason.TimestampInvalid, remediationTimestamp, "the signature's timestamps do not satisfy trust policy %q: %v", j.pol.name, err)
	}
	if keyless {
		leaf := vc.Certificate()
		for _, ts := range observed {
			if ts.Timestamp.Before(leaf.NotBefore) || ts.Timestamp.After(leaf.NotAfter) {
				return nil, fail(reason.CertificateExpired, "Re-sign: the signature was not made while its certificate was valid.",
					"the signature was observed at %s (%s), outside its certificate's validity (%s to %s)", ts.Timestamp.UTC().Format(timeLayout), ts.Type, leaf.NotBefore.UTC().Format(timeLayout), leaf.NotAfter.UTC().Format(timeLayout))
			}
			c, err := verify.VerifyLeafCertificate(ts.Timestamp, leaf, tm)
			if err != nil {
				return nil, fail(reason.SignatureUntrusted, "Sign with a certificate from a certificate authority of the trusted root, or add that CA to the trusted root.",
					"the signing certificate (issuer %q) does not chain to a certificate authority of the trusted root: %v", leaf.Issuer.String(), err)
			}
			if j.pol.sct {
				if err := verify.VerifySignedCertificateTimestamp(c, 1, tm); err != nil {
					return nil, fail(reason.SignatureUntrusted, "Use certificates with an SCT from a CT log of the trusted root, or set sct: skip.",
						"the signing certificate has no signed certificate timestamp from a CT log of the trusted root: %v", err)
				}
			}
		}
		if _, err := v.Verify(e, verify.NewPolicy(art.option(), verify.WithoutIdentitiesUnsafe())); err == nil {
			san, iss := "", ""
			if s, err := certificate.SummarizeCertificate(leaf); err == nil {
				san, iss = s.SubjectAlternativeName, s.Issuer
			}
			f := fail(reason.IdentityMismatch, remediationIdentity, "the certificate's identity %s (issuer %s) is none of trust policy %q's identities (%s)", san, iss, j.pol.name, strings.Join(j.pol.identityText, "; "))
			f.details = map[string]any{"subject": san, "issuer": iss}
			return nil, f
		}
	}
	return nil, fail(reason.VerificationFailed, "Inspect the message; sigstore-go refused the signature.", "verification failed: %v", verr)
}
