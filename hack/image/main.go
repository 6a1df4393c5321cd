// Command image builds Assay's container image (pkg/ociimage) into an
// OCI image layout directory and, with -push, copies it to a registry.
// No container engine is needed: `make image` runs it.
//
//	go run ./hack/image -assay bin/static/assay -plugins bin/static/plugins \
//	    -out bin/image -tag v0.1.0 [-push ghcr.io/assayproj/assay:v0.1.0]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"oras.land/oras-go/v2"
	"oras.land/oras-go/v2/content/oci"
	"oras.land/oras-go/v2/registry/remote"
	"oras.land/oras-go/v2/registry/remote/auth"
	"oras.land/oras-go/v2/registry/remote/credentials"

	"github.com/assayproj/assay/pkg/ociimage"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run() error {
	var o ociimage.Options
	flag.StringVar(&o.Assay, "assay", "bin/static/assay", "statically linked assay binary")
	flag.StringVar(&o.PluginDir, "plugins", "bin/static/plugins", "plugin directory with SHA256SUMS")
	flag.StringVar(&o.CACertificates, "ca-certificates", ociimage.DefaultCACertificates, "PEM bundle of CA certificates for the image")
	flag.StringVar(&o.Version, "version", "", "org.opencontainers.image.version")
	out := flag.String("out", "bin/image", "OCI image layout directory to write")
	tag := flag.String("tag", "dev", "tag of the image in the layout")
	push := flag.String("push", "", "also copy the image to this registry reference (credentials from the docker config)")
	plainHTTP := flag.Bool("plain-http", false, "reach the -push registry over plain HTTP")
	flag.Parse()

	ctx := context.Background()
	layout, err := oci.New(*out)
	if err != nil {
		return err
	}
	desc, err := ociimage.Build(ctx, layout, *tag, o)
	if err != nil {
		return err
	}
	fmt.Printf("%s:%s %s (%d bytes)\n", *out, *tag, desc.Digest, desc.Size)
	if *push == "" {
		return nil
	}
	repo, err := remote.NewRepository(*push)
	if err != nil {
		return err
	}
	repo.PlainHTTP = *plainHTTP
	store, err := credentials.NewStoreFromDocker(credentials.StoreOptions{})
	if err != nil {
		return err
	}
	repo.Client = &auth.Client{Credential: credentials.Credential(store), Cache: auth.NewCache()}
	ref := repo.Reference.Reference
	if ref == "" || strings.HasPrefix(ref, "sha256:") {
		return fmt.Errorf("-push %s: give a tag", *push)
	}
	if _, err := oras.Copy(ctx, layout, *tag, repo, ref, oras.DefaultCopyOptions); err != nil {
		return fmt.Errorf("push %s: %w", *push, err)
	}
	fmt.Printf("pushed %s@%s\n", *push, desc.Digest)
	return nil
}
