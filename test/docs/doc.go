// Package docs checks that the YAML examples of Assay's documentation
// (docs/*.md, README.md, charts/README.md, library/README.md, examples/README.md and
// plugins/*/README.md, read with pkg/doctest) are configurations that
// work as shown: Store, Verifier and Policy objects decode and validate
// with pkg/catalog and pass the file-mode checks of the serving runtime,
// or, marked cluster-only, those of a cluster; Gatekeeper objects decode
// strictly into Gatekeeper's own types and pass its own validation.
//
// The other kinds of block are checked where their reader lives: a
// plugin's parameters by the plugin's parser (plugins/*/config_test.go),
// chart values with the chart (test/helm), the settings file by
// cmd/assay.
package docs
