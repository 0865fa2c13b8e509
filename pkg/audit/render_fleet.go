package audit

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// RenderFleetTable writes the audit of many namespaces: one summary table,
// then the warnings and failures of each failing namespace, what could not
// be read, and the verdict. Without namespaces it writes nothing.
func RenderFleetTable(w io.Writer, results []NamespaceResult, st Style) error {
	if len(results) == 0 {
		return nil
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tENTRY\tVERDICT\tPASSED\tWARNINGS\tFAILED\tUNKNOWN\tFAILED CHECKS")
	for _, r := range results {
		s := Summarize(r.Outcomes)
		entry := r.Entry
		if entry == "" {
			entry = "<none>"
		}
		failed := strings.Join(r.FailedIDs(), ",")
		if failed == "" {
			failed = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.Namespace, entry, r.Verdict(), s.Passed, s.Warnings, s.Failed, s.Unknown, failed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The data plane's checks read only what every namespace shares: their
	// warnings and failures are written once, not once per namespace.
	if shared := sharedOutcomes(results[0].Outcomes, true); hasFindings(shared) {
		heading := "Every namespace (the mesh's data plane)"
		fmt.Fprintf(&b, "\n%s\n%s\n", heading, strings.Repeat("=", len(heading)))
		var block strings.Builder
		writeOutcomes(&block, shared, st, true)
		b.WriteString(strings.TrimSuffix(block.String(), "\n"))
	}
	for _, r := range results {
		if r.Verdict() != VerdictFailing {
			continue
		}
		fmt.Fprintf(&b, "\n%s\n%s\n", r.Namespace, strings.Repeat("=", len(r.Namespace)))
		writeOutcomes(&b, sharedOutcomes(r.Outcomes, false), st, true)
		b.WriteString(Verdict(r.Namespace, r.Outcomes) + "\n")
	}
	var unread []string
	for _, r := range results {
		if len(r.Unreadable) > 0 {
			unread = append(unread, fmt.Sprintf("  %s: you may not %s", r.Namespace, accessList(r.Unreadable)))
		}
	}
	if len(unread) > 0 {
		fmt.Fprintf(&b, "\ncould not read:\n%s\n", strings.Join(unread, "\n"))
	}
	b.WriteString("\n" + FleetVerdict(results) + "\n")
	writeForbidden(&b, fleetForbidden(results))
	_, err := io.WriteString(w, b.String())
	return err
}

// sharedOutcomes are the outcomes of the checks that judge the cluster, not
// the namespace (istiod, ztunnel, istio-cni, Istio's APIs), or, with shared
// false, the others.
func sharedOutcomes(outcomes []Outcome, shared bool) []Outcome {
	var out []Outcome
	for _, o := range outcomes {
		if (o.Category == CategoryAmbient || o.ID == "cluster.istio-apis") == shared {
			out = append(out, o)
		}
	}
	return out
}

// hasFindings reports whether a warning or failure is among outcomes.
func hasFindings(outcomes []Outcome) bool {
	for _, o := range outcomes {
		if o.Status == Warn || o.Status == Fail {
			return true
		}
	}
	return false
}

// RenderFleetShort writes one line per namespace: its verdict and, when it
// is not secured, why.
func RenderFleetShort(w io.Writer, results []NamespaceResult) error {
	var b strings.Builder
	for _, r := range results {
		s := Summarize(r.Outcomes)
		switch r.Verdict() {
		case VerdictFailing:
			fmt.Fprintf(&b, "%s: failing: %s failed: %s\n", r.Namespace, Count(s.Failed, "check"), strings.Join(r.FailedIDs(), ", "))
		case VerdictUnreadable:
			fmt.Fprintf(&b, "%s: unreadable: you may not %s\n", r.Namespace, accessList(r.Unreadable))
		case VerdictIncomplete:
			fmt.Fprintf(&b, "%s: incomplete: %s could not run for lack of permission\n", r.Namespace, Count(s.Unknown, "check"))
		default:
			fmt.Fprintf(&b, "%s: secured (%d passed, %s)\n", r.Namespace, s.Passed, Count(s.Warnings, "warning"))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// FleetVerdict is the last line of an audit of many namespaces.
func FleetVerdict(results []NamespaceResult) string {
	count := map[string]int{}
	for _, r := range results {
		count[r.Verdict()]++
	}
	line := fmt.Sprintf("Verdict: %d of %s secured", count[VerdictSecured], Count(len(results), "OPEA namespace"))
	if n := count[VerdictFailing]; n > 0 {
		line += fmt.Sprintf(", %d NOT secured (%s)", n, FleetFailing(results))
	}
	if n := count[VerdictIncomplete] + count[VerdictUnreadable]; n > 0 {
		line += fmt.Sprintf(", %d could NOT be fully verified", n)
	}
	return line
}

// fleetForbidden is every refused read of every namespace, once each.
func fleetForbidden(results []NamespaceResult) []Access {
	var all []Access
	for _, r := range results {
		all = append(all, r.Forbidden...)
	}
	return sortedAccesses(all)
}

// FleetReport is the JSON form of an audit of many namespaces, in the
// schema of docs/verify-output.schema.json: one Report per namespace.
type FleetReport struct {
	// AllNamespaces tells this document from a one-namespace Report.
	AllNamespaces bool   `json:"allNamespaces"`
	Selector      string `json:"selector,omitempty"`
	// Success is what exit code 0 means: no namespace failed, and every
	// check of every namespace ran.
	Success    bool         `json:"success"`
	Summary    FleetSummary `json:"summary"`
	Namespaces []Report     `json:"namespaces"`
	// MissingPermissions are the refused reads of every namespace, once
	// each. Absent when there were none.
	MissingPermissions []Access `json:"missingPermissions,omitempty"`
	// Error is set when the audit could not run (exit code 3).
	Error string `json:"error,omitempty"`
}

// FleetSummary counts namespaces by verdict.
type FleetSummary struct {
	Namespaces int `json:"namespaces"`
	Secured    int `json:"secured"`
	Failing    int `json:"failing"`
	Incomplete int `json:"incomplete"`
	Unreadable int `json:"unreadable"`
}

// NewFleetReport builds the JSON report of an audit of many namespaces.
func NewFleetReport(selector string, results []NamespaceResult) FleetReport {
	r := FleetReport{AllNamespaces: true, Selector: selector, Namespaces: []Report{}, MissingPermissions: fleetForbidden(results)}
	if len(r.MissingPermissions) == 0 {
		r.MissingPermissions = nil
	}
	for _, res := range results {
		report := NewReport(res.Namespace, res.Outcomes, res.Forbidden)
		report.EntryService, report.Verdict = res.Entry, res.Verdict()
		report.Unreadable = res.Unreadable
		if len(report.Unreadable) == 0 {
			report.Unreadable = nil
		}
		r.Namespaces = append(r.Namespaces, report)
		r.Summary.Namespaces++
		switch res.Verdict() {
		case VerdictSecured:
			r.Summary.Secured++
		case VerdictFailing:
			r.Summary.Failing++
		case VerdictIncomplete:
			r.Summary.Incomplete++
		case VerdictUnreadable:
			r.Summary.Unreadable++
		}
	}
	r.Success = r.Summary.Secured == r.Summary.Namespaces
	return r
}
