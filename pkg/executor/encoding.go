package executor

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"errors"
	"io"
	"sync"

	"github.com/assayproj/assay/pkg/report"
)

// verdictEncoding is the first byte of an encoded verdict: the report's
// JSON, deflated with verdictDictionary. A cached value that starts with
// '{' is plain JSON, as earlier versions wrote it (a Redis shared with
// them), and is read as such.
const verdictEncoding = 0x01

// verdictDictionary primes the deflate window with what every report
// repeats: its keys, media types, verdicts and the common reason codes
// and phrases, so a verdict costs little more than what is its own
// (digests, names, messages). Changing it changes the encoding: bump
// verdictEncoding.
const verdictDictionary = `"verifier":"","type":"notation","verdict":"verified","reason":"VERIFIED","message":"signature verified by trust policy",` +
	`"details":{"signerIssuer":"CN=","signerSubject":"CN=","signingTime":"","certificateExpiry":"","level":"strict","trustPolicy":""},` +
	`"type":"cosign","type":"vulnreport","reason":"NO_SIGNATURE","reason":"SIGNATURE_UNTRUSTED","reason":"POLICY_NOT_SATISFIED","verdict":"failed","verdict":"inconclusive",` +
	`"artifactType":"application/vnd.dev.cosign.artifact.sig.v1+json","artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json",` +
	`"artifactType":"application/sarif+json","mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:",` +
	`"results":[{"verifier":"","artifacts":[{"artifactType":"application/vnd.cncf.notary.signature","digest":"sha256:",` +
	`"rules":[{"artifactType":"application/vnd.cncf.notary.signature","mode":"any","required":true,"satisfied":true,"reason":"VERIFIED","message":"1 of 1 application/vnd.cncf.notary.signature verified"}]},` +
	`{"mediaType":"application/vnd.assay.verification-report.v1+json","reference":"","subject":"@sha256:","isSuccess":true,"reason":"VERIFIED","message":"policy \"\" satisfied: ","policy":{"name":"",`

// verdictCodec encodes and decodes cached verdicts, reusing its deflate
// writers and readers (a writer is about 600 KiB to make).
type verdictCodec struct {
	writers sync.Pool // *flate.Writer
	readers sync.Pool // io.ReadCloser that is a flate.Resetter
}

var errVerdictEncoding = errors.New("unknown verdict encoding")

// encode returns rep's compact encoding.
func (c *verdictCodec) encode(rep *report.Report) ([]byte, error) {
	js, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(js) / 3)
	buf.WriteByte(verdictEncoding)
	w, _ := c.writers.Get().(*flate.Writer)
	if w == nil {
		if w, err = flate.NewWriterDict(&buf, flate.BestCompression, []byte(verdictDictionary)); err != nil {
			return nil, err
		}
	} else {
		w.Reset(&buf)
	}
	defer c.writers.Put(w)
	if _, err := w.Write(js); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(buf.Bytes()), nil
}

// decode reads an encoded verdict (or a plain JSON one) into rep.
func (c *verdictCodec) decode(data []byte, rep *report.Report) error {
	if len(data) > 0 && data[0] == '{' {
		return json.Unmarshal(data, rep)
	}
	if len(data) == 0 || data[0] != verdictEncoding {
		return errVerdictEncoding
	}
	src := bytes.NewReader(data[1:])
	r, _ := c.readers.Get().(io.ReadCloser)
	if r == nil {
		r = flate.NewReaderDict(src, []byte(verdictDictionary))
	} else if err := r.(flate.Resetter).Reset(src, []byte(verdictDictionary)); err != nil {
		return err
	}
	defer c.readers.Put(r)
	return json.NewDecoder(r).Decode(rep)
}

// EncodeVerdict returns the bytes rep is cached as (in memory or in
// Redis): its JSON deflated against a dictionary of what every report
// repeats. docs/performance.md says what a cached verdict costs.
func EncodeVerdict(rep *report.Report) ([]byte, error) { return (&verdictCodec{}).encode(rep) }
