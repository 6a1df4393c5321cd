package main

import "github.com/assayproj/assay/pkg/plugin"

// version is set at build time with -ldflags "-X main.version=v1.2.3"; if
// empty, the module version from the build info is used.
var version string

func main() {
	plugin.Serve(NewVerifier(Options{Version: version}))
}
