// Package library holds Assay's Gatekeeper ConstraintTemplates, one folder
// per policy, and the Go tests that guard them. It has no Go API.
//
// Each folder <name>/ contains:
//
//   - template.yaml: the ConstraintTemplate (templates.gatekeeper.sh/v1,
//     target admission.k8s.gatekeeper.sh, Rego v1 under code[].source);
//   - src.rego: the same Rego, byte for byte, for editing and testing;
//   - src_test.rego: Rego unit tests of the decision on fixture responses;
//   - samples/<case>/: a constraint and a Pod it admits and one it denies;
//   - suite.yaml: the samples as a gator Suite.
//
// The templates read Assay's verification report through Gatekeeper's
// external_data builtin
// (https://open-policy-agent.github.io/gatekeeper/website/docs/externaldata)
// and are documented in docs/policies.md.
//
// # Tests
//
// go test ./library/... runs every src_test.rego with OPA's tester, with
// external_data declared as a custom builtin that always fails (tests mock
// it with `with external_data as ...`, or call the pure decision functions
// directly); checks that each template.yaml is well formed, names its
// folder, compiles, and embeds exactly src.rego; that src.rego is opa fmt
// formatted; that the shared part of the templates is identical; and that
// the samples and suites refer to files that exist and to the right kind.
//
// After editing a src.rego, run go test ./library -update to copy it into
// its template.yaml.
package library
