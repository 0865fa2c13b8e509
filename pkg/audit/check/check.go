// Package check is verify's catalogue: each check a pure function of a
// snapshot, with the inputs it needs and the requirements it assumes. It
// does no I/O and imports no client (TestCheckImportsNoClient).
package check

import (
	"fmt"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// Status is the outcome of one check. The values are those of the JSON
// output and are a contract.
type Status string

const (
	Pass Status = "success"
	Warn Status = "warning"
	Fail Status = "error"
	// Skip: the check does not apply, or a check it depends on failed.
	Skip Status = "skipped"
	// Unknown: the check could not run, because something it needs could
	// not be read for lack of permission.
	Unknown Status = "unknown"
)

// Result is what one check found.
type Result struct {
	Status Status
	// Message says what was found: the reason for a failure, a detail for a pass.
	Message string
	// Hint is the one command or change that fixes a failure or warning.
	Hint string
}

func pass(format string, args ...interface{}) Result {
	return Result{Status: Pass, Message: fmt.Sprintf(format, args...)}
}

func fail(hint, format string, args ...interface{}) Result {
	return Result{Status: Fail, Message: fmt.Sprintf(format, args...), Hint: hint}
}

func warn(hint, format string, args ...interface{}) Result {
	return Result{Status: Warn, Message: fmt.Sprintf(format, args...), Hint: hint}
}

func skip(format string, args ...interface{}) Result {
	return Result{Status: Skip, Message: fmt.Sprintf(format, args...)}
}

// IngressKind is the kind of ingress a check judges.
type IngressKind string

const (
	// AnyIngress: the check applies whatever the ingress.
	AnyIngress IngressKind = ""
	// ClassicIngress: an Istio Gateway and VirtualService.
	ClassicIngress IngressKind = "istio"
	// GatewayAPIIngress: a Gateway API Gateway and HTTPRoute.
	GatewayAPIIngress IngressKind = "gateway-api"
)

// Check is one row of the catalogue.
type Check struct {
	// ID is stable: scripts, docs anchors and --wait rely on it.
	ID       string
	Category string
	// Ingress is the kind of ingress the check judges: it runs, and is
	// reported, only when that kind routes to the application.
	Ingress     IngressKind
	Description string
	// Needs are the inputs the check reads: when one is unread, the check
	// does not run and is Unknown, naming the refused requests.
	Needs []snapshot.Input
	// Requires are the check's preconditions, tested in order once its
	// Needs are read: the first that does not hold skips the check with its
	// reason, so Run may assume them all.
	Requires []Requirement
	// ReportedOnly, when set, is a precondition under which alone the
	// check is run and reported: the Authentication checks are only where
	// there is authentication (authentication.configured says so either
	// way).
	ReportedOnly *Requirement
	Run          func(*checkView) Result
}

// Categories in the order they are reported.
const (
	CategoryCluster     = "Cluster"
	CategoryAmbient     = "Ambient data plane"
	CategoryEnrolment   = "Enrolment"
	CategoryMTLS        = "mTLS"
	CategoryIngress     = "Ingress gateway"
	CategoryRouting     = "Routing"
	CategoryGatewayAPI  = "Gateway API"
	CategoryCertificate = "Certificate"
	CategoryProbe       = "Live TLS probe"
	// CategoryAuthorization judges who may reach the application, not
	// only that what reaches it is encrypted.
	CategoryAuthorization = "Authorization"
	// CategoryReachability judges, port by port, who ztunnel lets into
	// the application's pods (pkg/reachability's matrix).
	CategoryReachability = "Reachability"
	// CategoryAuthentication judges the token (or external authorizer) the
	// gateway requires of callers.
	CategoryAuthentication = "Authentication"
)

// Outcome is one check's result, with the check.
type Outcome struct {
	Check
	Result
}

// Run runs the checks of the catalogue that apply to the kinds of ingress
// found in s, in order.
func Run(s *snapshot.Snapshot) []Outcome {
	v := &checkView{Scope: s.Scope(), s: s}
	classic, api := v.IngressInUse()
	out := make([]Outcome, 0, len(Catalogue))
	for _, c := range Catalogue {
		if (c.Ingress == ClassicIngress && !classic) || (c.Ingress == GatewayAPIIngress && !api) {
			continue
		}
		if c.ReportedOnly != nil && !c.ReportedOnly.holds(v) {
			continue
		}
		r, ok := v.missing(c.Needs...)
		if ok {
			r, ok = v.unmet(c.Requires)
		}
		if ok {
			r = c.Run(v)
		}
		out = append(out, Outcome{Check: c, Result: r})
	}
	return out
}

// Incomplete reports whether any check could not run for lack of permission.
func Incomplete(outcomes []Outcome) bool {
	for _, o := range outcomes {
		if o.Status == Unknown {
			return true
		}
	}
	return false
}

// Failed reports whether any outcome is a failure.
func Failed(outcomes []Outcome) bool {
	for _, o := range outcomes {
		if o.Status == Fail {
			return true
		}
	}
	return false
}

// missing is the Unknown result of a check when one of inputs could not be
// read, naming the refused requests; ok is true when all were read.
func (v *checkView) missing(inputs ...snapshot.Input) (r Result, ok bool) {
	denied := v.s.Refused(inputs...)
	if len(denied) == 0 {
		return Result{}, true
	}
	return Result{Status: Unknown, Message: "not run: you may not " + snapshot.AccessList(denied), Hint: snapshot.PermissionHint}, false
}

// Summary counts outcomes by status.
type Summary struct {
	Passed   int `json:"passed"`
	Warnings int `json:"warnings"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	// Unknown counts the checks that could not run for lack of permission.
	Unknown int `json:"unknown"`
}

// Summarize counts outcomes.
func Summarize(outcomes []Outcome) Summary {
	var s Summary
	for _, o := range outcomes {
		switch o.Status {
		case Pass:
			s.Passed++
		case Warn:
			s.Warnings++
		case Fail:
			s.Failed++
		case Skip:
			s.Skipped++
		case Unknown:
			s.Unknown++
		}
	}
	return s
}
