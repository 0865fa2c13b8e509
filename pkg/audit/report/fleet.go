package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// FleetTable writes the audit of many namespaces: one summary table,
// then the warnings and failures of each failing namespace, what could not
// be read, and the verdict. Without namespaces it writes only what kept the
// search from looking everywhere, if anything did.
func FleetTable(w io.Writer, f *audit.FleetResult, st Style) error {
	results := f.Namespaces
	var b strings.Builder
	if len(results) == 0 {
		writeUnsearched(&b, f.Unsearched)
		writeLeftovers(&b, f.Leftovers)
		writeForbidden(&b, f.Unsearched)
		_, err := io.WriteString(w, strings.TrimPrefix(b.String(), "\n"))
		return err
	}
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tENTRY\tVERDICT\tPASSED\tWARNINGS\tFAILED\tUNKNOWN\tFAILED CHECKS")
	for _, r := range results {
		s := check.Summarize(r.Outcomes)
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
		if r.Verdict() != audit.VerdictFailing {
			continue
		}
		fmt.Fprintf(&b, "\n%s\n%s\n", r.Namespace, strings.Repeat("=", len(r.Namespace)))
		writeOutcomes(&b, sharedOutcomes(r.Outcomes, false), st, true)
		b.WriteString(r.Line() + "\n")
	}
	var unread []string
	for _, r := range results {
		if len(r.Unreadable) > 0 {
			unread = append(unread, fmt.Sprintf("  %s: you may not %s", r.Namespace, snapshot.AccessList(r.Unreadable)))
		}
	}
	if len(unread) > 0 {
		fmt.Fprintf(&b, "\ncould not read the pods of:\n%s\n", strings.Join(unread, "\n"))
	}
	writeUnsearched(&b, f.Unsearched)
	writeLeftovers(&b, f.Leftovers)
	b.WriteString("\n" + f.Line() + "\n")
	writeForbidden(&b, forbidden(f))
	_, err := io.WriteString(w, b.String())
	return err
}

// sharedOutcomes are the outcomes of the checks that judge the cluster, not
// the namespace (istiod, ztunnel, istio-cni, Istio's APIs), or, with shared
// false, the others.
func sharedOutcomes(outcomes []check.Outcome, shared bool) []check.Outcome {
	var out []check.Outcome
	for _, o := range outcomes {
		if (o.Category == check.CategoryAmbient || o.ID == "cluster.istio-apis") == shared {
			out = append(out, o)
		}
	}
	return out
}

// hasFindings reports whether a warning or failure is among outcomes.
func hasFindings(outcomes []check.Outcome) bool {
	for _, o := range outcomes {
		if o.Status == check.Warn || o.Status == check.Fail {
			return true
		}
	}
	return false
}

// writeUnsearched says which refused reads kept applications from being
// looked for everywhere.
func writeUnsearched(b *strings.Builder, unsearched []snapshot.Access) {
	if len(unsearched) > 0 {
		fmt.Fprintf(b, "\ncould not look for OPEA applications everywhere: you may not %s\n", snapshot.AccessList(unsearched))
	}
}

// writeLeftovers says what secure left for namespaces that no longer
// exist, and the command that removes it.
func writeLeftovers(b *strings.Builder, leftovers []read.Leftover) {
	if len(leftovers) == 0 {
		return
	}
	b.WriteString("\nkubectl opea secure left objects for namespaces that no longer exist (cert-manager keeps renewing their certificates):\n")
	for _, lo := range leftovers {
		fmt.Fprintf(b, "  %s: %s", lo.Namespace, strings.Join(lo.Objects, ", "))
		if len(lo.Secrets) > 0 {
			fmt.Fprintf(b, "; and the Secrets %s", strings.Join(lo.Secrets, ", "))
		}
		fmt.Fprintf(b, "\n    fix: %s\n", lo.Fix)
	}
}

// FleetShort writes one line per namespace: its verdict and, when it
// is not secured, why; then one per namespace that no longer exists but
// for what secure left for it.
func FleetShort(w io.Writer, f *audit.FleetResult) error {
	var b strings.Builder
	for _, r := range f.Namespaces {
		s := check.Summarize(r.Outcomes)
		switch r.Verdict() {
		case audit.VerdictFailing:
			fmt.Fprintf(&b, "%s: failing: %s failed: %s", r.Namespace, audit.Count(s.Failed, "check"), strings.Join(r.FailedIDs(), ", "))
			if len(r.Unreadable) > 0 {
				fmt.Fprintf(&b, "; and you may not %s", snapshot.AccessList(r.Unreadable))
			}
			b.WriteString("\n")
		case audit.VerdictUnreadable:
			fmt.Fprintf(&b, "%s: unreadable: you may not %s\n", r.Namespace, snapshot.AccessList(r.Unreadable))
		case audit.VerdictIncomplete:
			fmt.Fprintf(&b, "%s: incomplete: %s could not run: you may not %s\n", r.Namespace, audit.Count(s.Unknown, "check"), snapshot.AccessList(r.Forbidden))
		default:
			fmt.Fprintf(&b, "%s: secured (%d passed, %s)\n", r.Namespace, s.Passed, audit.Count(s.Warnings, "warning"))
		}
	}
	for _, lo := range f.Leftovers {
		fmt.Fprintf(&b, "%s: deleted, but kubectl opea secure's %s remain: %s\n", lo.Namespace, audit.Count(len(lo.Objects), "object"), lo.Fix)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// forbidden is every refused read of f, once each: of every namespace, and
// of the search for them.
func forbidden(f *audit.FleetResult) []snapshot.Access {
	all := append([]snapshot.Access(nil), f.Unsearched...)
	for _, r := range f.Namespaces {
		all = append(all, r.Forbidden...)
	}
	return snapshot.SortedAccesses(all)
}

// FleetReport is the JSON form of an audit of many namespaces, in the
// schema of docs/verify-output.schema.json: one Report per namespace.
type FleetReport struct {
	// AllNamespaces tells this document from a one-namespace Report.
	AllNamespaces bool   `json:"allNamespaces"`
	Selector      string `json:"selector,omitempty"`
	// Success is what exit code 0 means: every application was looked for,
	// no namespace failed, and every check of every namespace ran.
	Success    bool         `json:"success"`
	Summary    FleetSummary `json:"summary"`
	Namespaces []Report     `json:"namespaces"`
	// Unsearched are the refused reads that looking for the applications
	// needed: one may be missing from Namespaces. Absent when none.
	Unsearched []snapshot.Access `json:"unsearched,omitempty"`
	// MissingPermissions are the refused reads of every namespace and of
	// the search, once each. Absent when there were none.
	MissingPermissions []snapshot.Access `json:"missingPermissions,omitempty"`
	// Leftovers are what kubectl opea secure left for namespaces that no
	// longer exist. Absent when there are none.
	Leftovers []read.Leftover `json:"leftovers,omitempty"`
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

// NewFleet builds the JSON report of an audit of many namespaces.
func NewFleet(selector string, f *audit.FleetResult) FleetReport {
	r := FleetReport{AllNamespaces: true, Selector: selector, Namespaces: []Report{}, Unsearched: f.Unsearched, MissingPermissions: forbidden(f),
		Success: f.Verdict().Success(), Leftovers: f.Leftovers}
	if len(r.MissingPermissions) == 0 {
		r.MissingPermissions = nil
	}
	for _, res := range f.Namespaces {
		report := New(&res)
		report.EntryService, report.Verdict = res.Entry, string(res.Verdict())
		report.Unreadable = res.Unreadable
		if len(report.Unreadable) == 0 {
			report.Unreadable = nil
		}
		r.Namespaces = append(r.Namespaces, report)
		r.Summary.Namespaces++
		switch res.Verdict() {
		case audit.VerdictSecured:
			r.Summary.Secured++
		case audit.VerdictFailing:
			r.Summary.Failing++
		case audit.VerdictIncomplete:
			r.Summary.Incomplete++
		case audit.VerdictUnreadable:
			r.Summary.Unreadable++
		}
	}
	return r
}

// FleetNotRun is the document of an audit of many namespaces that could not
// run (audit.VerdictNotRun): err says why.
func FleetNotRun(selector string, err error) FleetReport {
	return FleetReport{AllNamespaces: true, Selector: selector, Namespaces: []Report{}, Error: err.Error()}
}
