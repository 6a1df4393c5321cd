// Command vulnreport is Assay's verifier plugin for vulnerability reports:
// SARIF 2.1.0 logs, as Trivy and Grype write them, attached to an image as
// OCI referrers of artifact type "application/sarif+json" (the log is the
// artifact's layer of media type "application/sarif+json"). The Assay host
// starts it as a long-lived go-plugin process and sends it, per report, the
// report's descriptor (with the annotations of the referrers listing), its
// manifest and its layers. The plugin never contacts the registry and needs
// no network.
//
// Each report is judged on its own. Choosing among several reports (the
// newest decides) is a Policy rule of the host, and whether the report
// itself must be signed is the Verifier's spec.requireSignature, checked by
// the host on the report's own referrers; neither is this plugin's job.
//
// # Parameters
//
// See [Parameters] and README.md: maxAge, disallowedSeverities,
// denylistCVEs, allowlistCVEs and allowedScanners, all optional. They are
// decoded strictly: unknown fields (also a mere case mismatch), wrong
// types, durations that do not parse, unknown severities and an id in both
// lists are errors naming the field. A parsed configuration is cached by
// the sha256 of its bytes.
//
// # Findings and severities
//
// Every SARIF result is a finding, except results of kind "pass" or
// "notApplicable"; suppressions are not honoured. A finding's
// vulnerability id comes from its rule id (see vulnID: Grype's
// "CVE-2023-1234-libssl3" is CVE-2023-1234), and its severity from a
// severity word in the tags of the result or its rule, else from the
// numeric "security-severity" property (>= 9.0 CRITICAL, >= 7.0 HIGH,
// >= 4.0 MEDIUM, > 0 LOW), else UNKNOWN (see severityOf).
//
// # Outcomes
//
//   - verified, VERIFIED: the report is dated, well formed, from an
//     accepted scanner, young enough, and has no finding of a disallowed
//     severity and no denylisted id (allowlisted ids ignored).
//   - failed, VERIFICATION_FAILED: any of those does not hold, including a
//     missing or invalid org.opencontainers.image.created annotation and a
//     layer that is not a SARIF 2.1.0 log. Assay's reason codes have none
//     specific to vulnerability reports, so the failedChecks detail names
//     the checks that failed and the message lists every problem.
//   - inconclusive: CONFIG_INVALID for unusable parameters, LIMIT_EXCEEDED
//     for a SARIF layer over Options.MaxReportBytes.
//
// Details for Rego (the AssayVulnerabilityReport template reads them):
// scanner (the driver name, lower-cased), scannerVersion, createdAt (RFC
// 3339, UTC), age and ageSeconds, maxAge, countsBySeverity (every
// severity, allowlisted findings excluded), totalFindings, violations
// ([{id, severity, rule, checks}] sorted by id), allowlisted, sarifDigest
// and failedChecks, as far as they are known.
package main
