package assayverifiedimagesnamespaced

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

requests_for(images) := namespaced_requests(images, "team-a")

app_key := "[team-a]registry.example.com/team/app:v1"

sidecar_key := "[team-a]registry.example.com/team/sidecar:v2"

app := "registry.example.com/team/app:v1"

sidecar := "registry.example.com/team/sidecar:v2"

pod(spec) := {
	"apiVersion": "v1",
	"kind": "Pod",
	"metadata": {"name": "app", "namespace": "team-a"},
	"spec": spec,
}

# --- the keys ---

test_keys_carry_the_namespace_prefix if {
	requests_for([app, sidecar]) == [{"key": app_key, "image": app}, {"key": sidecar_key, "image": sidecar}]
}

test_keys_carry_the_pods_pull_credentials_when_asked if {
	review := {"object": pod({
		"serviceAccountName": "builder",
		"imagePullSecrets": [{"name": "regcred"}, {"name": "ghcr"}, {"name": ""}, {}],
		"containers": [{"name": "a", "image": app}],
	})}
	key_prefix(review, {}) == "team-a"
	key_prefix(review, {"sendPullSecrets": false}) == "team-a"
	key_prefix(review, {"sendPullSecrets": true}) == "team-a;serviceAccount=builder;pullSecrets=regcred,ghcr"
}

test_pull_credentials_default_to_the_default_service_account if {
	key_prefix({"object": pod({"containers": []})}, {"sendPullSecrets": true}) == "team-a;serviceAccount=default"
	key_prefix({"object": pod({"serviceAccountName": "", "imagePullSecrets": "garbage"})}, {"sendPullSecrets": true}) == "team-a;serviceAccount=default"
}

test_violation_sends_pull_credentials_in_the_keys if {
	sent := keys with input as {
		"review": {"object": pod({"imagePullSecrets": [{"name": "regcred"}], "containers": [{"name": "a", "image": app}]})},
		"parameters": {"sendPullSecrets": true},
	}
	sent == ["[team-a;serviceAccount=default;pullSecrets=regcred]registry.example.com/team/app:v1"]
}

test_namespace_comes_from_the_object if {
	pod_namespace({"object": pod({}), "namespace": "other"}) == "team-a"
}

test_namespace_falls_back_to_the_request if {
	pod_namespace({"object": {"metadata": {"name": "app"}}, "namespace": "team-b"}) == "team-b"
	pod_namespace({"object": {"metadata": {"name": "app", "namespace": ""}}, "namespace": "team-b"}) == "team-b"
}

test_unknown_namespace_is_denied if {
	not pod_namespace({"object": {"metadata": {"name": "app"}}})
	namespace_problems([app], {"object": {"metadata": {"name": "app"}}}, {}) == {"cannot tell the namespace of Pod \"app\", which provider \"assay\" needs to verify images \"registry.example.com/team/app:v1\""}
}

test_known_namespace_or_no_images_is_no_problem if {
	count(namespace_problems([app], {"object": pod({})}, {})) == 0
	count(namespace_problems([], {"object": {"metadata": {"name": "app"}}}, {})) == 0
}

# --- the decision on fixture responses, keyed by "[namespace]image" ---

test_signed_pod_is_admitted if {
	resp := ok_response([[app_key, signed(app)], [sidecar_key, signed(sidecar)]])
	count(decide(requests_for([app, sidecar]), resp, {})) == 0
}

test_unsigned_image_is_denied_showing_the_image_without_prefix if {
	resp := ok_response([[app_key, signed(app)], [sidecar_key, unsigned(sidecar)]])
	decide(requests_for([app, sidecar]), resp, {}) == {concat("", [
		"image \"registry.example.com/team/sidecar:v2\" is not verified: NO_SIGNATURE: ",
		"no signature of type application/vnd.cncf.notary.signature is attached to the image",
		". Remediation: Sign the image and push the signature to the same repository.",
	])}
}

test_answer_for_the_bare_image_does_not_count if {
	resp := ok_response([[app, signed(app)]])
	decide(requests_for([app]), resp, {}) == {"no answer for image \"registry.example.com/team/app:v1\" from provider \"assay\""}
}

test_key_error_shows_the_image_without_prefix if {
	resp := {"responses": [], "errors": [[app_key, "INVALID_REFERENCE: invalid key"]], "status_code": 200, "system_error": ""}
	decide(requests_for([app]), resp, {}) == {"image \"registry.example.com/team/app:v1\" cannot be verified: provider \"assay\" answered: INVALID_REFERENCE: invalid key"}
}

test_system_error_denies if {
	resp := {"responses": null, "errors": null, "status_code": 500, "system_error": "connection refused"}
	decide(requests_for([app]), resp, {"provider": "assay-ns"}) == {"provider \"assay-ns\" failed with HTTP status 500, so images \"registry.example.com/team/app:v1\" could not be checked: connection refused"}
}

test_no_response_denies if {
	count(decide(requests_for([app]), null, {})) == 1
}

test_inconclusive_is_denied_unless_allowed if {
	resp := ok_response([[app_key, late(app)]])
	count(decide(requests_for([app]), resp, {})) == 1
	count(decide(requests_for([app]), resp, {"allowInconclusive": true})) == 0
	count(decide(requests_for([app]), ok_response([[app_key, crashed(app)]]), {"allowInconclusive": true})) == 0
	count(decide(requests_for([app]), ok_response([[app_key, untrusted(app)]]), {"allowInconclusive": true})) == 1
}

# --- the rules, with external_data mocked ---

# mock_external_data answers like Assay for keys "[team-a]image": signed
# unless the image name says otherwise. Keys without the prefix, keys that
# are not strings or not an array, and another provider get no answer.
mock_external_data(request) := {"responses": responses, "errors": [], "status_code": 200, "system_error": ""} if {
	is_array(request.keys)
	every key in request.keys {
		is_string(key)
		startswith(key, "[team-a]")
	}
	request.provider == "assay"
	responses := [[key, value] |
		some key in request.keys
		value := mock_report(trim_prefix(key, "[team-a]"))
	]
}

mock_report(image) := unsigned(image) if contains(image, "unsigned")

else := signed(image)

review(spec, params) := {"review": {"object": pod(spec), "namespace": "team-a", "kind": {"kind": "Pod"}}, "parameters": params}

test_violation_admits_a_signed_pod if {
	count(violation) == 0 with input as review({"containers": [{"name": "a", "image": app}]}, {})
		with external_data as mock_external_data
}

test_violation_denies_unsigned_images_of_every_kind_of_container if {
	got := violation with input as review(
		{
			"initContainers": [{"name": "init", "image": "registry.example.com/team/unsigned-init:v1"}],
			"containers": [{"name": "a", "image": app}],
			"ephemeralContainers": [{"name": "debug", "image": "registry.example.com/tools/unsigned-debug:v1"}],
		},
		{},
	)
		with external_data as mock_external_data
	msgs := {v.msg | some v in got}
	count(msgs) == 2
	some init_msg in msgs
	startswith(init_msg, "image \"registry.example.com/team/unsigned-init:v1\" is not verified: NO_SIGNATURE: ")
	some debug_msg in msgs
	startswith(debug_msg, "image \"registry.example.com/tools/unsigned-debug:v1\" is not verified: NO_SIGNATURE: ")
}

test_violation_sends_prefixed_keys_from_the_request_namespace if {
	sent := keys with input as {
		"review": {"object": {"kind": "Pod", "metadata": {"name": "app"}, "spec": {"containers": [{"name": "a", "image": app}, {"name": "b", "image": app}]}}, "namespace": "team-b"},
		"parameters": {},
	}
	sent == ["[team-b]registry.example.com/team/app:v1"]
}

test_violation_denies_a_pod_without_namespace_without_calling_the_provider if {
	# Not mocked: a call would add a "no response" violation.
	got := violation with input as {"review": {"object": {"kind": "Pod", "metadata": {"name": "app"}, "spec": {"containers": [{"name": "a", "image": app}]}}}, "parameters": {}}
	got == {{"msg": "cannot tell the namespace of Pod \"app\", which provider \"assay\" needs to verify images \"registry.example.com/team/app:v1\""}}
}

test_violation_fails_closed_when_external_data_fails if {
	got := violation with input as review({"containers": [{"name": "a", "image": app}]}, {})
	got == {{"msg": "provider \"assay\" gave no response for images \"registry.example.com/team/app:v1\": the external_data call failed"}}
}
