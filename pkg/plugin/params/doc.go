// Package params is the strict decoding of a Verifier's parameters into a
// plugin's Go type, with diagnostics naming the field and suggesting the
// intended name.
//
// A Verifier object's spec.parameters reach a plugin as JSON bytes.
// encoding/json alone is too forgiving for configuration: it matches field
// names case-insensitively and ignores unknown ones, so a typo silently
// turns a rule off. Decode rejects both, reports every unknown key at once
// with its full path ("trustPolicies[0].keyless.identities[1].subjct") and
// a suggestion ("Did you mean \"subject\"?"), and still decodes the rest
// leniently so that the plugin can validate it too: a user sees all the
// problems of one configuration in one pass.
//
// Problems are plugin.Diagnostic values, never errors: a plugin's
// ValidateConfig returns them and its Verify turns an error diagnostic
// into an inconclusive verdict. Error and Warning build them; JoinPath,
// Suggest, Kind, ValueKind and DescribeJSONError are the pieces Decode is
// made of, for a plugin that decodes part of its parameters by hand.
//
// The package imports nothing of Assay's but pkg/plugin, so a plugin may
// use it without pulling in the host.
package params
