package notationtest_test

import (
	"context"
	"fmt"
	"time"

	"oras.land/oras-go/v2/content/memory"

	"github.com/assayproj/assay/pkg/notationtest"
)

// A signature made while its certificate was valid, timestamped by a local
// TSA, and the request the Assay host would send the notation plugin.
func Example() {
	ctx := context.Background()
	root, err := notationtest.NewCA(notationtest.CAOptions{})
	if err != nil {
		panic(err)
	}
	now := time.Now()
	leaf, err := root.IssueLeaf(notationtest.LeafOptions{NotBefore: now.Add(-3 * time.Hour), NotAfter: now.Add(-time.Hour)})
	if err != nil {
		panic(err)
	}
	signedAt := now.Add(-2 * time.Hour)
	tsa, err := notationtest.NewTSA(notationtest.TSAOptions{Now: func() time.Time { return signedAt }})
	if err != nil {
		panic(err)
	}
	defer tsa.Close()

	subject, err := notationtest.PushImage(ctx, memory.New(), "app", "v1")
	if err != nil {
		panic(err)
	}
	sig, err := notationtest.Sign(ctx, leaf, subject, notationtest.SignOptions{MediaType: notationtest.MediaTypeCOSE, SigningTime: signedAt, TSA: tsa})
	if err != nil {
		panic(err)
	}
	params, err := notationtest.NewParams("localhost:5000/app", root, tsa).JSON()
	if err != nil {
		panic(err)
	}
	req, err := notationtest.VerifyRequest(ctx, params, "localhost:5000/app", subject, sig)
	if err != nil {
		panic(err)
	}
	fmt.Println(req.Artifact.ArtifactType, req.Blobs[0].Descriptor.MediaType, tsa.Requests())
	// Output: application/vnd.cncf.notary.signature application/cose 1
}
