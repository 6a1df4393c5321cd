# AssayVerifiedImagesNamespaced: every image of a Pod (containers,
# initContainers and ephemeralContainers) must be verified by Assay under
# the configuration of the Pod's namespace. Each key sent to the provider
# is prefixed with the namespace in Ratify's form "[namespace]image", so
# that Assay applies the Stores, Verifiers and Policies selected for that
# namespace; messages show the image without the prefix. With the
# parameter sendPullSecrets the prefix also names the Pod's ServiceAccount
# and imagePullSecrets, "[namespace;serviceAccount=sa;pullSecrets=a,b]image",
# so that an Assay run with --pod-pull-secrets reads the image with the
# Pod's own registry credentials.
#
# The decision fails closed. A Pod whose namespace cannot be told, a system
# error, a per-key error, a key the provider did not answer, an answer that
# is not an Assay v1 report, and a failed call all deny. Inconclusive
# reports (reason DEADLINE_EXCEEDED, REGISTRY_ERROR or PLUGIN_UNAVAILABLE
# with no failed verdict) deny unless the constraint sets
# allowInconclusive.
#
# Layout: the external_data call is the single rule `response`; everything
# else is a pure function of the Pod, the parameters and the response,
# unit-tested in src_test.rego. The rules below the "decision" marker are
# the same in assayverifiedimages and assayverifiedimagesnamespaced, and
# those below the "shared" marker in every Assay template (a Go test
# compares them).
package assayverifiedimagesnamespaced

parameters := object.get(input, "parameters", {})

images := requested_images(input.review.object, parameters)

# One key per image, as an array (a set or non-string keys make
# external_data fail, which would admit). Undefined, so nothing is asked,
# when the namespace is unknown.
requests := namespaced_requests(images, key_prefix(input.review, parameters))

keys := [r.key | some r in requests]

# The only call to the provider. null when there is nothing to ask or the
# call itself failed (a builtin error is undefined in Gatekeeper).
default response := null

response := external_data({"provider": provider_name(parameters), "keys": keys}) if count(keys) > 0

violation contains {"msg": msg} if {
	some msg in decide(requests, response, parameters)
}

violation contains {"msg": msg} if {
	some msg in namespace_problems(images, input.review, parameters)
}

# namespaced_requests pairs each image with its key "[prefix]image".
namespaced_requests(imgs, prefix) := [{"key": concat("", ["[", prefix, "]", image]), "image": image} | some image in imgs]

# key_prefix is the namespace and, with sendPullSecrets, the Pod's pull
# credentials. Undefined when the namespace is unknown.
key_prefix(review, params) := concat("", [pod_namespace(review), pull_credentials(review.object, params)])

pull_credentials(pod, params) := "" if {
	object.get(params, "sendPullSecrets", false) != true
} else := concat("", [";serviceAccount=", service_account(pod), pull_secrets_attribute(pod)])

# service_account is the Pod's serviceAccountName; "default" when unset,
# as the API server sets it.
service_account(pod) := name if {
	name := object.get(pod, ["spec", "serviceAccountName"], "")
	is_string(name)
	name != ""
} else := "default"

pull_secrets_attribute(pod) := "" if {
	count(pull_secret_names(pod)) == 0
} else := concat("", [";pullSecrets=", concat(",", pull_secret_names(pod))])

# pull_secret_names are the names of the Pod's imagePullSecrets, in order.
pull_secret_names(pod) := [name |
	some ref in object.get(pod, ["spec", "imagePullSecrets"], [])
	is_object(ref)
	name := object.get(ref, "name", "")
	is_string(name)
	name != ""
]

# pod_namespace is the Pod's metadata.namespace or, when the object does
# not carry it (as on many CREATE requests), the namespace of the
# admission request. Undefined when neither is set.
pod_namespace(review) := namespace if {
	namespace := object.get(review, ["object", "metadata", "namespace"], "")
	is_string(namespace)
	namespace != ""
} else := namespace if {
	namespace := object.get(review, "namespace", "")
	is_string(namespace)
	namespace != ""
}

# namespace_problems denies a Pod with images whose namespace is unknown:
# without it Assay cannot choose the namespace's configuration.
namespace_problems(imgs, review, params) := {msg |
	count(imgs) > 0
	not pod_namespace(review)
	msg := sprintf("cannot tell the namespace of Pod %q, which provider %q needs to verify images %s", [
		object.get(review, ["object", "metadata", "name"], ""),
		provider_name(params),
		concat(", ", [sprintf("%q", [image]) | some image in imgs]),
	])
}

# --- decision: the same in assayverifiedimages and assayverifiedimagesnamespaced from here ---

# decide returns the violation messages for reqs (objects with the key
# sent and the image it names) given the provider's response resp.
decide(reqs, resp, params) := answer_problems(reqs, resp, provider_name(params)) | {msg |
	some answer in reports(reqs, resp)
	some msg in report_problems(answer.image, answer.report, params)
}

# report_problems returns the messages for one Assay report: none when it
# is a success, or when it is only inconclusive and the constraint allows
# that.
report_problems(image, report, params) := set() if {
	report.isSuccess == true
} else := set() if {
	object.get(params, "allowInconclusive", false) == true
	inconclusive_only(report)
} else := {failure_message(image, report)}

# inconclusive_only holds when the report failed only because something
# could not be evaluated for a transient reason: its reason is transient, no
# result in the artifact tree failed or is inconclusive for another reason
# (NO_VERIFIER, CONFIG_INVALID, ...), and every unsatisfied policy rule has
# inconclusive artifacts and no failed ones, or nothing was found because
# discovery of the image's referrers did not complete.
inconclusive_only(report) if {
	report.reason in transient_reasons
	every result in tree_results(object.get(report, "artifacts", [])) {
		tolerable_result(result)
	}
	every rule in object.get(report, ["policy", "rules"], []) {
		tolerable_rule(rule, report)
	}
}

# transient_reasons are the reasons that say "could not evaluate now".
# LIMIT_EXCEEDED, PLUGIN_ERROR and configuration reasons are deliberately
# absent: content pushed by anyone can cause them, or they do not heal.
transient_reasons := {"DEADLINE_EXCEEDED", "REGISTRY_ERROR", "PLUGIN_UNAVAILABLE"}

tolerable_result(result) if result.verdict == "verified"

tolerable_result(result) if {
	result.verdict == "inconclusive"
	result.reason in transient_reasons
}

tolerable_rule(rule, _) if rule.satisfied == true

tolerable_rule(rule, _) if {
	object.get(rule, "failed", 0) == 0
	object.get(rule, "inconclusive", 0) > 0
}

# Nothing of the type was found, and nothing at all was found: discovery
# stopped at the image itself (the report's reason is transient).
tolerable_rule(rule, report) if {
	object.get(rule, "found", 0) == 0
	count(object.get(report, "artifacts", [])) == 0
}

failure_message(image, report) := sprintf("image %q is not verified: %s: %s%s", [
	image,
	object.get(report, "reason", ""),
	object.get(report, "message", ""),
	remediation_suffix(report),
])

# remediation_suffix is " Remediation: ..." from the report, or from the
# first unsatisfied policy rule with the report's reason, or "".
remediation_suffix(report) := sprintf(". Remediation: %s", [r]) if {
	r := object.get(report, "remediation", "")
	is_string(r)
	r != ""
} else := sprintf(". Remediation: %s", [rs[0]]) if {
	rs := [r |
		some rule in object.get(report, ["policy", "rules"], [])
		object.get(rule, "satisfied", false) != true
		object.get(rule, "reason", "") == report.reason
		r := object.get(rule, "remediation", "")
		is_string(r)
		r != ""
	]
	count(rs) > 0
} else := ""

# tree_results returns every result in an artifact tree (artifacts[] with
# results[] and nested artifacts[]).
tree_results(artifacts) := [result |
	walk(artifacts, [path, result])
	is_result_path(path)
	is_object(result)
]

# is_result_path holds for paths [i, "artifacts", j, ..., "results", k].
is_result_path(path) if {
	n := count(path)
	n >= 3
	n % 2 == 1
	path[n - 2] == "results"
	is_number(path[n - 1])
	every i, segment in array.slice(path, 0, n - 2) {
		tree_segment(i, segment)
	}
}

tree_segment(i, segment) if {
	i % 2 == 0
	is_number(segment)
}

tree_segment(i, segment) if {
	i % 2 == 1
	segment == "artifacts"
}

# --- shared: the same in every Assay template, from here to the end ---

report_media_type := "application/vnd.assay.verification-report.v1+json"

# provider_name is the Gatekeeper Provider to ask; default "assay".
provider_name(params) := object.get(params, "provider", "assay")

# requested_images returns the images of a Pod's containers,
# initContainers and ephemeralContainers, without duplicates and without
# the images exempted by params.exemptImages, in order of appearance.
requested_images(pod, params) := [image |
	some i, image in found
	not image in array.slice(found, 0, i)
	not exempt(image, object.get(params, "exemptImages", []))
] if {
	found := [c.image |
		some field in ["containers", "initContainers", "ephemeralContainers"]
		some c in object.get(pod, ["spec", field], [])
		is_string(c.image)
	]
}

# exempt holds when image matches one of patterns: a pattern ending in "*"
# matches every image starting with the rest, any other pattern only
# itself.
exempt(image, patterns) if {
	some pattern in patterns
	endswith(pattern, "*")
	startswith(image, trim_suffix(pattern, "*"))
}

exempt(image, patterns) if {
	some pattern in patterns
	not endswith(pattern, "*")
	image == pattern
}

# answer_problems returns the messages about the response itself: no
# response, a system error, per-key errors, keys left unanswered and
# answers that are not Assay reports. Reports are checked by the template.
answer_problems(reqs, resp, provider) := set() if {
	count(reqs) == 0
} else := {msg} if {
	not is_object(resp)
	msg := sprintf("provider %q gave no response for images %s: the external_data call failed", [provider, image_list(reqs)])
} else := {msg} if {
	system_error := object.get(resp, "system_error", "")
	system_error != ""
	system_error != null
	msg := sprintf("provider %q failed%s, so images %s could not be checked: %v", [provider, status_suffix(resp), image_list(reqs), system_error])
} else := {msg |
	some request in reqs
	some msg in key_problems(request, resp, provider)
}

status_suffix(resp) := sprintf(" with HTTP status %v", [code]) if {
	code := object.get(resp, "status_code", 0)
	not code in {0, 200}
} else := ""

# key_problems returns the messages for one request: its errors, an answer
# that is not an Assay report, or no answer at all.
key_problems(request, resp, provider) := errs if {
	errs := {sprintf("image %q cannot be verified: provider %q answered: %v", [request.image, provider, pair[1]]) |
		some pair in pairs(resp, "errors")
		pair[0] == request.key
	}
	count(errs) > 0
} else := {sprintf("the answer of provider %q for image %q is not an Assay v1 report (mediaType %s); point the Provider at Assay's /v1/verify endpoint", [provider, request.image, media_type(value)]) |
	some pair in pairs(resp, "responses")
	pair[0] == request.key
	value := pair[1]
	not is_report(value)
} if {
	some pair in pairs(resp, "responses")
	pair[0] == request.key
} else := {sprintf("no answer for image %q from provider %q", [request.image, provider])}

# reports returns {"image", "report"} for every request answered with an
# Assay report and no error.
reports(reqs, resp) := [{"image": request.image, "report": value} |
	is_object(resp)
	some request in reqs
	not has_error(request.key, resp)
	some pair in pairs(resp, "responses")
	pair[0] == request.key
	value := pair[1]
	is_report(value)
]

has_error(key, resp) if {
	some pair in pairs(resp, "errors")
	pair[0] == key
}

# pairs returns the [key, value] pairs of resp[field], tolerating null.
pairs(resp, field) := [pair |
	some pair in object.get(resp, field, [])
	is_array(pair)
	count(pair) == 2
]

is_report(value) if {
	is_object(value)
	value.mediaType == report_media_type
}

media_type(value) := sprintf("%q", [value.mediaType]) if {
	is_object(value)
	is_string(value.mediaType)
} else := "missing"

image_list(reqs) := concat(", ", [sprintf("%q", [r.image]) | some r in reqs])
