package audit

import (
	"fmt"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// Verdict is what an audit concludes of a namespace, or of all of them: the
// one place that decides the report's last line, its success and the exit
// code. The values are those of the JSON output and are a contract.
type Verdict string

const (
	// VerdictSecured: every check ran and none failed.
	VerdictSecured Verdict = "secured"
	// VerdictFailing: a check failed, even one judged from the cluster-wide
	// inputs only.
	VerdictFailing Verdict = "failing"
	// VerdictIncomplete: nothing failed, but a check could not run for lack
	// of permission (with -A: or the search for applications was refused a
	// read).
	VerdictIncomplete Verdict = "incomplete"
	// VerdictUnreadable: nothing failed, but the namespace's pods could not
	// be read: what is judged rests on the cluster-wide inputs only.
	VerdictUnreadable Verdict = "unreadable"
	// VerdictNotRun: the audit could not run at all.
	VerdictNotRun Verdict = "could not run"
)

// judge is the verdict of outcomes, where unreadable are the refused reads
// of the namespace's pods.
func judge(outcomes []check.Outcome, unreadable []snapshot.Access) Verdict {
	switch {
	case check.Failed(outcomes):
		return VerdictFailing
	case len(unreadable) > 0:
		return VerdictUnreadable
	case check.Incomplete(outcomes):
		return VerdictIncomplete
	}
	return VerdictSecured
}

// Success is what exit code 0 means.
func (v Verdict) Success() bool { return v == VerdictSecured }

// ExitCode is the process exit code of the verdict: 0 secured, 1 failing,
// 3 when the audit could not run, or not in full.
func (v Verdict) ExitCode() int {
	switch v {
	case VerdictSecured:
		return 0
	case VerdictFailing:
		return 1
	}
	return 3
}

// Line is the report's last line for namespace, with the counts of its
// outcomes.
func (v Verdict) Line(namespace string, outcomes []check.Outcome) string {
	s := check.Summarize(outcomes)
	counts := fmt.Sprintf("%d passed, %s, %d failed, %d skipped", s.Passed, Count(s.Warnings, "warning"), s.Failed, s.Skipped)
	if s.Unknown > 0 {
		counts += fmt.Sprintf(", %d unknown", s.Unknown)
	}
	switch v {
	case VerdictFailing:
		return fmt.Sprintf("Verdict: %s is NOT secured as intended (%s)", namespace, counts)
	case VerdictIncomplete, VerdictUnreadable:
		return fmt.Sprintf("Verdict: %s could NOT be fully verified: %s could not run for lack of permission (%s)", namespace, Count(s.Unknown, "check"), counts)
	}
	return fmt.Sprintf("Verdict: %s is secured: TLS ingress and STRICT mTLS in place (%s)", namespace, counts)
}

// Count is n and noun, in the plural unless n is 1.
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
