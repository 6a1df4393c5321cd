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
		rr := evalRule(rule, g, results, e.isSignature(rule.ArtifactType))
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
	default:
		rep.Reason = firstBad.Reason
		rep.Message = firstBad.Message
		rep.Remediation = firstBad.Remediation
	}
}

// evalRule evaluates one rule; signature says whether its artifact type
// is a signature.
func evalRule(rule Rule, g *graph, results [][]report.Result, signature bool) report.RuleResult {
	mode := rule.Mode
	if mode == "" {
		mode = ModeAny
	}
	rr := report.RuleResult{ArtifactType: rule.ArtifactType, Mode: string(mode), Required: rule.Required}
	var firstFailed, firstInconclusive *report.Result
	var ofType []int
	for _, c := range g.nodes[0].children {
		if g.nodes[c].desc.ArtifactType == rule.ArtifactType {
			ofType = append(ofType, c)
		}
	}
	if mode == ModeNewest && len(ofType) > 0 {
		return evalNewest(rule, rr, g, ofType, results)
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
		rr.Message = fmt.Sprintf("no %s of type %s is attached to the image", what, rule.ArtifactType)
	case rr.Found == 0:
		rr.Satisfied = true
		rr.Reason = report.ReasonVerified
		rr.Message = fmt.Sprintf("no %s found; not required", rule.ArtifactType)
	case mode == ModeAny && rr.Verified > 0, mode == ModeAll && rr.Verified == rr.Found:
		rr.Satisfied = true
		rr.Reason = report.ReasonVerified
		rr.Message = fmt.Sprintf("%d of %d %s verified", rr.Verified, rr.Found, rule.ArtifactType)
	default:
		bad := firstFailed
		if bad == nil {
			bad = firstInconclusive
		}
		rr.Reason = report.ReasonPolicyNotSatisfied
		rr.Message = fmt.Sprintf("%d of %d %s verified (mode %s)", rr.Verified, rr.Found, rule.ArtifactType, mode)
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
// last). The counts cover every artifact of the type.
func evalNewest(rule Rule, rr report.RuleResult, g *graph, ofType []int, results [][]report.Result) report.RuleResult {
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
	what := fmt.Sprintf("the newest of %d %s (%s, %s)", rr.Found, rule.ArtifactType, d.Digest, created)
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
