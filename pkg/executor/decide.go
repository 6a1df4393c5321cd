package executor

import (
	"fmt"
	"slices"
	"strings"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/assayproj/assay/pkg/report"
)

// isSignature reports whether artifactType is a signature: whether one of
// the Verifiers declares it so (SignatureTyper). The executor names no
// signature type itself; the plugins do, in their metadata.
func (e *Executor) isSignature(artifactType string) bool {
	for _, v := range e.opts.Verifiers {
		if st, ok := v.(SignatureTyper); ok && slices.Contains(st.SignatureTypes(), artifactType) {
			return true
		}
	}
	return false
}

// allSignatures reports whether every one of types is a signature.
func (e *Executor) allSignatures(types []string) bool {
	for _, t := range types {
		if !e.isSignature(t) {
			return false
		}
	}
	return true
}

// alternatives names types as a reader would: "a", "a or b", "a, b or c".
func alternatives(types []string) string {
	if len(types) < 2 {
		return strings.Join(types, "")
	}
	return strings.Join(types[:len(types)-1], ", ") + " or " + types[len(types)-1]
}

// nothingVerified reports whether no rule counted a verified artifact.
func nothingVerified(rules []report.RuleResult) bool {
	for _, r := range rules {
		if r.Verified > 0 {
			return false
		}
	}
	return true
}

// decide fills IsSuccess, Reason, Message and Policy. Only artifacts
// attached directly to the subject count toward the rules.
func (e *Executor) decide(rep *report.Report, g *graph, results [][]report.Result) {
	if g.err != nil {
		rep.IsSuccess = false
		rep.Reason = g.errReason
		rep.Message = g.errMessage()
	}
	p := e.opts.Policy
	if p == nil {
		rep.Policy = nil
		if g.err == nil {
			rep.Reason = report.ReasonNoPolicy
			rep.Message = fmt.Sprintf("no Policy is configured, so nothing defines success (%s found)", report.Count(len(g.nodes)-1, "artifact", "artifacts"))
			if left := e.opts.PoliciesNotInEffect; len(left) > 0 {
				rep.Message = fmt.Sprintf("no Policy is in effect, so nothing defines success (%s found); not in effect: %s",
					report.Count(len(g.nodes)-1, "artifact", "artifacts"), strings.Join(left, "; "))
				rep.Remediation = "Fix the Policy named here (its status says the same) or restore what it depends on; until then every image is denied."
			}
		}
		return
	}
	rep.Policy = &report.PolicyResult{Name: p.Name, Rules: make([]report.RuleResult, 0, len(p.Rules))}
	ok := g.err == nil
	var firstBad *report.RuleResult
	var summary []string
	for _, rule := range p.Rules {
		rr := evalRule(rule, g, results, e.allSignatures(rule.Types()))
		rep.Policy.Rules = append(rep.Policy.Rules, rr)
		if !rr.Satisfied {
			ok = false
			if firstBad == nil {
				firstBad = &rep.Policy.Rules[len(rep.Policy.Rules)-1]
			}
		} else if rr.Found > 0 {
			summary = append(summary, rr.Message)
		}
	}
	rep.IsSuccess = ok
	switch {
	case g.err != nil:
		// reason and message already say discovery failed
	case ok:
		rep.Reason = report.ReasonVerified
		rep.Message = "policy " + quote(p.Name) + " satisfied"
		if len(summary) > 0 {
			rep.Message += ": " + strings.Join(summary, "; ")
		}
		if p.AllowUnsigned && nothingVerified(rep.Policy.Rules) {
			rep.Message += "; " + AdmittedUnverified
		}
	default:
		rep.Reason = firstBad.Reason
		rep.Message = firstBad.Message
		rep.Remediation = firstBad.Remediation
	}
}

// evalRule evaluates one rule; signature says whether its artifact types
// are all signatures. The artifacts of all the rule's types attached to
// the subject count together.
func evalRule(rule Rule, g *graph, results [][]report.Result, signature bool) report.RuleResult {
	mode := rule.Mode
	if mode == "" {
		mode = ModeAny
	}
	types := rule.Types()
	rr := report.RuleResult{ArtifactType: rule.ArtifactType, ArtifactTypes: slices.Clone(rule.ArtifactTypes), Mode: string(mode), Required: rule.Required}
	var firstFailed, firstInconclusive *report.Result
	var ofType []int
	for _, c := range g.nodes[0].children {
		if slices.Contains(types, g.nodes[c].desc.ArtifactType) {
			ofType = append(ofType, c)
		}
	}
	found, of := foundLabel(rule, g, ofType)
	if mode == ModeNewest && len(ofType) > 0 {
		return evalNewest(rr, g, ofType, results, found, of)
	}
	for _, c := range ofType {
		rr.Found++
		switch verdictOf(results[c]) {
		case report.Verified:
			rr.Verified++
		case report.Failed:
			rr.Failed++
			if firstFailed == nil {
				firstFailed = firstWith(results[c], report.Failed)
			}
		default:
			rr.Inconclusive++
			if firstInconclusive == nil {
				firstInconclusive = firstWith(results[c], report.Inconclusive)
			}
		}
	}
	switch {
	case rr.Found == 0 && rule.Required:
		rr.Reason = report.ReasonArtifactMissing
		what := "artifact"
		if signature {
			rr.Reason, what = report.ReasonNoSignature, "signature"
		}
		rr.Message = fmt.Sprintf("no %s of type %s is attached to the image", what, alternatives(types))
	case rr.Found == 0:
		rr.Satisfied = true
		rr.Reason = report.ReasonVerified
		rr.Message = fmt.Sprintf("no %s found; not required", alternatives(types))
	case mode == ModeAny && rr.Verified > 0, mode == ModeAll && rr.Verified == rr.Found:
		rr.Satisfied = true
		rr.Reason = report.ReasonVerified
		rr.Message = fmt.Sprintf("%d of %d %s verified", rr.Verified, rr.Found, found)
		if of != "" {
			rr.Message += " (" + of + ")"
		}
	default:
		bad := firstFailed
		if bad == nil {
			bad = firstInconclusive
		}
		rr.Reason = report.ReasonPolicyNotSatisfied
		rr.Message = fmt.Sprintf("%d of %d %s verified (mode %s)", rr.Verified, rr.Found, found, mode)
		if of != "" {
			rr.Message = fmt.Sprintf("%d of %d %s verified (mode %s, %s)", rr.Verified, rr.Found, found, mode, of)
		}
		if bad != nil {
			rr.Reason = bad.Reason
			rr.Message += ": " + bad.Message
			rr.Remediation = bad.Remediation
		}
	}
	if !rr.Satisfied && rr.Remediation == "" {
		rr.Remediation = rr.Reason.Remediation()
	}
	return rr
}

// foundLabel names what a rule found, for its messages: its artifact
// type; under a rule of several types, the types found ("a and b") and,
// in of, the alternatives ("of a, b or c").
func foundLabel(rule Rule, g *graph, ofType []int) (found, of string) {
	if len(rule.ArtifactTypes) == 0 {
		return rule.ArtifactType, ""
	}
	var present []string
	for _, t := range rule.ArtifactTypes {
		for _, c := range ofType {
			if g.nodes[c].desc.ArtifactType == t {
				present = append(present, t)
				break
			}
		}
	}
	return strings.Join(present, " and "), "of " + alternatives(rule.ArtifactTypes)
}

func firstWith(results []report.Result, v report.Verdict) *report.Result {
	for i := range results {
		if results[i].Verdict == v {
			return &results[i]
		}
	}
	return nil
}

func quote(s string) string { return fmt.Sprintf("%q", s) }

// evalNewest decides a rule in mode newest: the artifact with the latest
// org.opencontainers.image.created annotation decides (an artifact
// without a valid one counts as the oldest; of equals, the one listed
// last), whichever of the rule's types it has. The counts cover every
// artifact of the rule's types; found and of name them (see foundLabel).
func evalNewest(rr report.RuleResult, g *graph, ofType []int, results [][]report.Result, found, of string) report.RuleResult {
	newest, newestAt := -1, time.Time{}
	for _, c := range ofType {
		rr.Found++
		switch verdictOf(results[c]) {
		case report.Verified:
			rr.Verified++
		case report.Failed:
			rr.Failed++
		default:
			rr.Inconclusive++
		}
		at, _ := time.Parse(time.RFC3339, g.nodes[c].desc.Annotations[ocispec.AnnotationCreated])
		if newest < 0 || !at.Before(newestAt) {
			newest, newestAt = c, at
		}
	}
	d := g.nodes[newest].desc
	created := "without a creation time"
	if !newestAt.IsZero() {
		created = "created " + newestAt.UTC().Format(time.RFC3339)
	}
	what := fmt.Sprintf("the newest of %d %s (%s, %s)", rr.Found, found, d.Digest, created)
	if of != "" {
		what = fmt.Sprintf("the newest of %d %s (%s; %s %s, %s)", rr.Found, found, of, d.ArtifactType, d.Digest, created)
	}
	switch v := verdictOf(results[newest]); v {
	case report.Verified:
		rr.Satisfied = true
		rr.Reason = report.ReasonVerified
		rr.Message = what + " is verified"
	default:
		bad := firstWith(results[newest], v)
		rr.Reason = report.ReasonPolicyNotSatisfied
		rr.Message = fmt.Sprintf("%s is %s", what, v)
		if bad != nil {
			rr.Reason = bad.Reason
			rr.Message += ": " + bad.Message
			rr.Remediation = bad.Remediation
		}
		if rr.Remediation == "" {
			rr.Remediation = rr.Reason.Remediation()
		}
	}
	return rr
}
