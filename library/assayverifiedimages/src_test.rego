package assayverifiedimages

# Fixtures: reports in the shape pkg/report produces (docs/report.md), and
# responses in the shape Gatekeeper's external_data returns.

notary := "application/vnd.cncf.notary.signature"

sarif := "application/sarif+json"

report(ref, fields) := object.union(
	{
		"mediaType": "application/vnd.assay.verification-report.v1+json",
		"reference": ref,
		"subject": concat("@", [ref, "sha256:1111111111111111111111111111111111111111111111111111111111111111"]),
		"artifacts": [],
		"timestamp": "2026-11-22T09:00:01Z",
	},
	fields,
)

rule(fields) := object.union(
	{
		"artifactType": notary,
		"mode": "any",
		"required": true,
		"found": 1,
		"verified": 0,
		"failed": 0,
		"inconclusive": 0,
	},
	fields,
)

signature(verdict, reason) := {
	"artifactType": notary,
	"digest": "sha256:5151515151515151515151515151515151515151515151515151515151515151",
	"results": [{
		"verifier": "notation",
		"type": "notation",
		"verdict": verdict,
		"reason": reason,
		"message": sprintf("signature %s", [verdict]),
	}],
}

signed(ref) := report(ref, {
	"isSuccess": true,
	"reason": "VERIFIED",
	"message": "policy \"signed\" satisfied: 1 of 1 application/vnd.cncf.notary.signature verified",
	"policy": {"name": "signed", "rules": [rule({"satisfied": true, "verified": 1, "reason": "VERIFIED"})]},
	"artifacts": [signature("verified", "VERIFIED")],
})

unsigned(ref) := report(ref, {
	"isSuccess": false,
	"reason": "NO_SIGNATURE",
	"message": "no signature of type application/vnd.cncf.notary.signature is attached to the image",
	"policy": {"name": "signed", "rules": [rule({
		"satisfied": false, "found": 0, "reason": "NO_SIGNATURE",
		"message": "no signature of type application/vnd.cncf.notary.signature is attached to the image",
		"remediation": "Sign the image and push the signature to the same repository.",
	})]},
})

untrusted(ref) := report(ref, {
	"isSuccess": false,
	"reason": "SIGNATURE_UNTRUSTED",
	"message": "0 of 1 application/vnd.cncf.notary.signature verified (mode any): certificate chain not trusted",
	"policy": {"name": "signed", "rules": [rule({
		"satisfied": false, "failed": 1, "reason": "SIGNATURE_UNTRUSTED",
		"remediation": "Sign with a certificate issued by a trusted CA, or add the signer's root CA to the verifier's trust store.",
	})]},
	"artifacts": [signature("failed", "SIGNATURE_UNTRUSTED")],
})

# The provider's answer when the budget ran out before the key was done.
late(ref) := report(ref, {
	"isSuccess": false,
	"reason": "DEADLINE_EXCEEDED",
	"message": "verification did not finish within the provider's budget of 2.7s",
})

# A plugin crashed while verifying the only signature.
crashed(ref) := report(ref, {
	"isSuccess": false,
	"reason": "PLUGIN_UNAVAILABLE",
	"message": "0 of 1 application/vnd.cncf.notary.signature verified (mode any): plugin exited",
	"policy": {"name": "signed", "rules": [rule({"satisfied": false, "inconclusive": 1, "reason": "PLUGIN_UNAVAILABLE"})]},
	"artifacts": [signature("inconclusive", "PLUGIN_UNAVAILABLE")],
})

ok_response(pairs) := {"responses": pairs, "errors": [], "status_code": 200, "system_error": ""}

requests_for(images) := [{"key": image, "image": image} | some image in images]

app := "registry.example.com/team/app:v1"

sidecar := "registry.example.com/team/sidecar:v2"

pod(spec) := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "app", "namespace": "team-a"},
	"spec": spec,
}

# --- the decision on fixture responses ---

test_signed_pod_is_admitted if {
	resp := ok_response([[app, signed(app)], [sidecar, signed(sidecar)]])
	count(decide(requests_for([app, sidecar]), resp, {})) == 0
}

test_unsigned_image_is_denied_with_reason_message_and_remediation if {
	resp := ok_response([[app, unsigned(app)]])
	decide(requests_for([app]), resp, {}) == {concat("", [
		"image \"registry.example.com/team/app:v1\" is not verified: NO_SIGNATURE: ",
		"no signature of type application/vnd.cncf.notary.signature is attached to the image",
		". Remediation: Sign the image and push the signature to the same repository.",
	])}
}

test_mixed_pod_is_denied_naming_only_the_bad_image if {
	resp := ok_response([[app, signed(app)], [sidecar, untrusted(sidecar)]])
	got := decide(requests_for([app, sidecar]), resp, {})
	count(got) == 1
	some msg in got
	startswith(msg, "image \"registry.example.com/team/sidecar:v2\" is not verified: SIGNATURE_UNTRUSTED: ")
	contains(msg, "certificate chain not trusted")
	endswith(msg, ". Remediation: Sign with a certificate issued by a trusted CA, or add the signer's root CA to the verifier's trust store.")
}

test_report_without_remediation_has_no_suffix if {
	decide(requests_for([app]), ok_response([[app, late(app)]]), {}) == {"image \"registry.example.com/team/app:v1\" is not verified: DEADLINE_EXCEEDED: verification did not finish within the provider's budget of 2.7s"}
}

test_top_level_remediation_is_preferred if {
	r := object.union(unsigned(app), {"remediation": "Ask the platform team."})
	some msg in decide(requests_for([app]), ok_response([[app, r]]), {})
	endswith(msg, ". Remediation: Ask the platform team.")
}

test_system_error_denies_naming_the_provider if {
	resp := {"responses": [], "errors": [], "status_code": 200, "system_error": "request body is not a ProviderRequest"}
	decide(requests_for([app, sidecar]), resp, {"provider": "assay-prod"}) == {"provider \"assay-prod\" failed, so images \"registry.example.com/team/app:v1\", \"registry.example.com/team/sidecar:v2\" could not be checked: request body is not a ProviderRequest"}
}

# Gatekeeper's HandleError: no lists at all, a status code and the error.
test_system_error_from_gatekeeper_shows_the_status if {
	resp := {"responses": null, "errors": null, "status_code": 400, "system_error": "failed to get provider assay: not found"}
	decide(requests_for([app]), resp, {}) == {"provider \"assay\" failed with HTTP status 400, so images \"registry.example.com/team/app:v1\" could not be checked: failed to get provider assay: not found"}
}

test_key_error_denies_naming_the_image_and_the_error if {
	resp := {
		"responses": [[app, signed(app)]],
		"errors": [[sidecar, "SUBJECT_NOT_FOUND: cannot resolve registry.example.com/team/sidecar:v2: not found"]],
		"status_code": 200,
		"system_error": "",
	}
	decide(requests_for([app, sidecar]), resp, {}) == {"image \"registry.example.com/team/sidecar:v2\" cannot be verified: provider \"assay\" answered: SUBJECT_NOT_FOUND: cannot resolve registry.example.com/team/sidecar:v2: not found"}
}

test_key_missing_from_the_response_denies if {
	resp := ok_response([[app, signed(app)]])
	decide(requests_for([app, sidecar]), resp, {}) == {"no answer for image \"registry.example.com/team/sidecar:v2\" from provider \"assay\""}
}

test_answer_for_another_key_does_not_count if {
	resp := ok_response([["registry.example.com/team/other:v1", signed(app)]])
	decide(requests_for([app]), resp, {}) == {"no answer for image \"registry.example.com/team/app:v1\" from provider \"assay\""}
}

test_no_response_denies if {
	decide(requests_for([app, sidecar]), null, {}) == {"provider \"assay\" gave no response for images \"registry.example.com/team/app:v1\", \"registry.example.com/team/sidecar:v2\": the external_data call failed"}
}

test_nothing_requested_is_admitted if {
	count(decide([], null, {})) == 0
}

test_ratify_shaped_answer_is_not_a_report if {
	ratify := {"version": "0.2.0", "isSuccess": true, "verifierReports": []}
	decide(requests_for([app]), ok_response([[app, ratify]]), {}) == {"the answer of provider \"assay\" for image \"registry.example.com/team/app:v1\" is not an Assay v1 report (mediaType missing); point the Provider at Assay's /v1/verify endpoint"}
}

test_report_of_another_media_type_is_not_a_report if {
	v2 := object.union(signed(app), {"mediaType": "application/vnd.assay.verification-report.v2+json"})
	some msg in decide(requests_for([app]), ok_response([[app, v2]]), {})
	contains(msg, "(mediaType \"application/vnd.assay.verification-report.v2+json\")")
}

test_success_must_be_the_boolean_true if {
	r := object.union(signed(app), {"isSuccess": "true"})
	count(decide(requests_for([app]), ok_response([[app, r]]), {})) == 1
}

test_error_wins_over_a_value_for_the_same_key if {
	resp := {"responses": [[app, signed(app)]], "errors": [[app, "PLUGIN_ERROR: panic"]], "status_code": 200, "system_error": ""}
	decide(requests_for([app]), resp, {}) == {"image \"registry.example.com/team/app:v1\" cannot be verified: provider \"assay\" answered: PLUGIN_ERROR: panic"}
}

# --- inconclusive reports ---

# Each case: a report, and whether allowInconclusive admits it. Without
# allowInconclusive every one of them is denied.
inconclusive_cases := {
	"the budget ran out before the key was done": {"report": late(app), "allowed": true},
	"the registry was down when resolving": {"report": report(app, {"isSuccess": false, "reason": "REGISTRY_ERROR", "message": "cannot resolve: connection refused"}), "allowed": true},
	"the plugin crashed": {"report": crashed(app), "allowed": true},
	"discovery of the image's referrers timed out": {
		"report": report(app, {
			"isSuccess": false, "reason": "DEADLINE_EXCEEDED", "message": "discovery of referrers failed",
			"policy": {"name": "signed", "rules": [rule({"satisfied": false, "found": 0, "reason": "NO_SIGNATURE"})]},
		}),
		"allowed": true,
	},
	"a signature timed out but another type was never found": {
		"report": report(app, {
			"isSuccess": false, "reason": "DEADLINE_EXCEEDED", "message": "discovery failed deeper down",
			"policy": {"name": "signed", "rules": [
				rule({"satisfied": false, "inconclusive": 1, "reason": "DEADLINE_EXCEEDED"}),
				rule({"artifactType": sarif, "satisfied": false, "found": 0, "reason": "ARTIFACT_MISSING"}),
			]},
			"artifacts": [signature("inconclusive", "DEADLINE_EXCEEDED")],
		}),
		"allowed": false,
	},
	"one signature failed while another timed out": {
		"report": report(app, {
			"isSuccess": false, "reason": "DEADLINE_EXCEEDED", "message": "0 of 2 verified",
			"policy": {"name": "signed", "rules": [rule({"satisfied": false, "found": 2, "failed": 1, "inconclusive": 1, "reason": "DEADLINE_EXCEEDED"})]},
			"artifacts": [signature("inconclusive", "DEADLINE_EXCEEDED"), signature("failed", "SIGNATURE_UNTRUSTED")],
		}),
		"allowed": false,
	},
	"a nested verification failed": {
		"report": report(app, {
			"isSuccess": false, "reason": "DEADLINE_EXCEEDED", "message": "0 of 1 verified",
			"policy": {"name": "signed", "rules": [rule({"satisfied": false, "inconclusive": 1, "reason": "DEADLINE_EXCEEDED"})]},
			"artifacts": [object.union(signature("inconclusive", "DEADLINE_EXCEEDED"), {"artifacts": [signature("failed", "SIGNATURE_INVALID")]})],
		}),
		"allowed": false,
	},
	"no Verifier handles the signature": {
		"report": report(app, {
			"isSuccess": false, "reason": "NO_VERIFIER", "message": "no Verifier handles artifact type",
			"policy": {"name": "signed", "rules": [rule({"satisfied": false, "inconclusive": 1, "reason": "NO_VERIFIER"})]},
			"artifacts": [signature("inconclusive", "NO_VERIFIER")],
		}),
		"allowed": false,
	},
	"a transient reason with a misconfigured verifier": {
		"report": report(app, {
			"isSuccess": false, "reason": "PLUGIN_UNAVAILABLE", "message": "0 of 2 verified",
			"policy": {"name": "signed", "rules": [rule({"satisfied": false, "found": 2, "inconclusive": 2, "reason": "PLUGIN_UNAVAILABLE"})]},
			"artifacts": [signature("inconclusive", "PLUGIN_UNAVAILABLE"), signature("inconclusive", "CONFIG_INVALID")],
		}),
		"allowed": false,
	},
	"the referrer limit was exceeded": {"report": report(app, {"isSuccess": false, "reason": "LIMIT_EXCEEDED", "message": "more than 64 referrers"}), "allowed": false},
	"no Policy is configured": {"report": report(app, {"isSuccess": false, "reason": "NO_POLICY", "message": "no Policy is configured"}), "allowed": false},
	"the image is unsigned": {"report": unsigned(app), "allowed": false},
	"the signature is untrusted": {"report": untrusted(app), "allowed": false},
}

test_inconclusive_is_denied_by_default[name] if {
	some name, tc in inconclusive_cases
	resp := ok_response([[app, tc.report]])
	count(decide(requests_for([app]), resp, {})) == 1
	count(decide(requests_for([app]), resp, {"allowInconclusive": false})) == 1
}

test_allow_inconclusive_admits_only_transient_inconclusive_reports[name] if {
	some name, tc in inconclusive_cases
	resp := ok_response([[app, tc.report]])
	got := decide(requests_for([app]), resp, {"allowInconclusive": true})
	count(got) == 0 == tc.allowed
}

test_allow_inconclusive_needs_the_boolean_true if {
	count(decide(requests_for([app]), ok_response([[app, late(app)]]), {"allowInconclusive": "true"})) == 1
}

test_allow_inconclusive_does_not_admit_errors_or_missing_keys if {
	params := {"allowInconclusive": true}
	resp := {"responses": [], "errors": [[app, "PLUGIN_ERROR: no report"]], "status_code": 200, "system_error": ""}
	count(decide(requests_for([app, sidecar]), resp, params)) == 2
	count(decide(requests_for([app]), null, params)) == 1
}

# --- the images asked about ---

test_every_kind_of_container_is_requested_in_order if {
	p := pod({
		"initContainers": [{"name": "init", "image": "registry.example.com/team/init:v1"}],
		"containers": [{"name": "app", "image": app}, {"name": "sidecar", "image": sidecar}],
		"ephemeralContainers": [{"name": "debug", "image": "registry.example.com/tools/debug:v3"}],
	})
	requested_images(p, {}) == [app, sidecar, "registry.example.com/team/init:v1", "registry.example.com/tools/debug:v3"]
}

test_repeated_images_are_requested_once if {
	p := pod({
		"initContainers": [{"name": "init", "image": app}],
		"containers": [{"name": "a", "image": app}, {"name": "b", "image": sidecar}, {"name": "c", "image": app}],
	})
	requested_images(p, {}) == [app, sidecar]
}

test_exempt_images_are_not_requested if {
	p := pod({"containers": [
		{"name": "a", "image": app},
		{"name": "pause", "image": "registry.k8s.io/pause:3.10"},
		{"name": "b", "image": sidecar},
		{"name": "c", "image": "registry.example.com/team/sidecar:v2.1"},
	]})
	params := {"exemptImages": ["registry.k8s.io/pause:*", "registry.example.com/team/sidecar:v2"]}
	requested_images(p, params) == [app, "registry.example.com/team/sidecar:v2.1"]
}

test_an_exact_exemption_is_not_a_prefix if {
	not exempt("registry.example.com/team/app:v1-debug", ["registry.example.com/team/app:v1"])
	exempt("registry.example.com/team/app:v1-debug", ["registry.example.com/team/app:*"])
	exempt("anything", ["*"])
}

test_a_pod_without_containers_requests_nothing if {
	requested_images({"kind": "Pod", "metadata": {"name": "x"}}, {}) == []
}

# --- the rules, with external_data mocked ---

# mock_external_data answers like Assay: signed unless the image name says
# otherwise. It insists on an array of string keys and the provider name.
mock_external_data(request) := {"responses": responses, "errors": [], "status_code": 200, "system_error": ""} if {
	is_array(request.keys)
	every key in request.keys {
		is_string(key)
	}
	request.provider == "assay"
	responses := [[key, value] |
		some key in request.keys
		value := mock_report(key)
	]
}

mock_report(key) := unsigned(key) if contains(key, "unsigned")

else := signed(key)

review(spec, params) := {"review": {"object": pod(spec), "kind": {"kind": "Pod"}}, "parameters": params}

test_violation_admits_a_signed_pod if {
	count(violation) == 0 with input as review({"containers": [{"name": "a", "image": app}]}, {})
		with external_data as mock_external_data
}

test_violation_denies_an_unsigned_init_container if {
	unsigned_init := "registry.example.com/team/unsigned-init:v1"
	got := violation with input as review(
		{
			"initContainers": [{"name": "init", "image": unsigned_init}],
			"containers": [{"name": "a", "image": app}],
		},
		{},
	)
		with external_data as mock_external_data
	count(got) == 1
	some v in got
	startswith(v.msg, "image \"registry.example.com/team/unsigned-init:v1\" is not verified: NO_SIGNATURE: ")
}

test_violation_denies_an_unsigned_ephemeral_container if {
	got := violation with input as review(
		{
			"containers": [{"name": "a", "image": app}],
			"ephemeralContainers": [{"name": "debug", "image": "registry.example.com/tools/unsigned-debug:v1"}],
		},
		{},
	)
		with external_data as mock_external_data
	count(got) == 1
	some v in got
	contains(v.msg, "\"registry.example.com/tools/unsigned-debug:v1\"")
}

test_violation_uses_the_provider_parameter if {
	# mock_external_data only answers provider "assay".
	got := violation with input as review({"containers": [{"name": "a", "image": app}]}, {"provider": "other"})
		with external_data as mock_external_data
	got == {{"msg": "provider \"other\" gave no response for images \"registry.example.com/team/app:v1\": the external_data call failed"}}
}

test_violation_fails_closed_when_external_data_fails if {
	# Not mocked: the test harness's external_data always fails.
	got := violation with input as review({"containers": [{"name": "a", "image": app}]}, {})
	got == {{"msg": "provider \"assay\" gave no response for images \"registry.example.com/team/app:v1\": the external_data call failed"}}
}

test_violation_does_not_call_the_provider_for_exempt_images if {
	# Not mocked: a call would fail and deny.
	count(violation) == 0 with input as review({"containers": [{"name": "a", "image": app}]}, {"exemptImages": [app]})
}

test_violation_sends_each_image_once if {
	sent := keys with input as review(
		{
			"initContainers": [{"name": "init", "image": app}],
			"containers": [{"name": "a", "image": app}, {"name": "b", "image": sidecar}],
		},
		{},
	)
	sent == [app, sidecar]
}
