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

// noApplication is the verdict column of a context where no OPEA
// application was found: not an error, as with verify -A on one cluster.
const noApplication = "no application"

// ContextsTable writes the audit of several kube contexts: one table of
// every context's namespaces, then why each context that could not be
// audited could not, each context's shared and failing findings, the fleet
// checks, and the verdict.
func ContextsTable(w io.Writer, f *audit.ContextsResult, st Style) error {
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "CONTEXT\tNAMESPACE\tENTRY\tVERDICT\tPASSED\tWARNINGS\tFAILED\tUNKNOWN\tFAILED CHECKS")
	for _, c := range f.Contexts {
		switch {
		case c.Err != nil:
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t-\t-\t-\t-\t-\n", c.Context, audit.VerdictNotRun)
		case len(c.Fleet.Namespaces) == 0:
			fmt.Fprintf(tw, "%s\t-\t-\t%s\t-\t-\t-\t-\t-\n", c.Context, noApplication)
		}
		if c.Fleet == nil {
			continue
		}
		for _, r := range c.Fleet.Namespaces {
			s := check.Summarize(r.Outcomes)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%s\n", c.Context, r.Namespace, orNone(r.Entry, "<none>"), r.Verdict(), s.Passed, s.Warnings, s.Failed, s.Unknown,
				orNone(strings.Join(r.FailedIDs(), ","), "-"))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	writeNotRun(&b, f)
	for _, c := range f.Contexts {
		if c.Fleet != nil {
			writeContextFindings(&b, c, st)
		}
	}
	b.WriteString("\n")
	writeOutcomes(&b, f.Checks, st, false)
	b.WriteString(f.Line() + "\n")
	writeContextsForbidden(&b, f)
	_, err := io.WriteString(w, b.String())
	return err
}

func orNone(s, none string) string {
	if s == "" {
		return none
	}
	return s
}

// writeNotRun says, for each context that could not be audited, why.
func writeNotRun(b *strings.Builder, f *audit.ContextsResult) {
	first := true
	for _, c := range f.Contexts {
		if c.Err == nil {
			continue
		}
		if first {
			b.WriteString("\ncould not audit:\n")
			first = false
		}
		fmt.Fprintf(b, "  %s: %s\n", c.Context, strings.ReplaceAll(c.Err.Error(), "\n", "\n    "))
	}
}

// writeContextFindings writes what one context found wrong: the data
// plane's warnings and failures once, each failing namespace's own, the
// pods it could not read, the search it could not complete and what secure
// left behind.
func writeContextFindings(b *strings.Builder, c audit.ContextResult, st Style) {
	results := c.Fleet.Namespaces
	if len(results) > 0 {
		if shared := sharedOutcomes(results[0].Outcomes, true); hasFindings(shared) {
			heading := c.Context + ": every namespace (the mesh's data plane)"
			fmt.Fprintf(b, "\n%s\n%s\n", heading, strings.Repeat("=", len(heading)))
			var block strings.Builder
			writeOutcomes(&block, shared, st, true)
			b.WriteString(strings.TrimSuffix(block.String(), "\n"))
		}
	}
	for _, r := range results {
		if r.Verdict() != audit.VerdictFailing {
			continue
		}
		heading := c.Context + "/" + r.Namespace
		fmt.Fprintf(b, "\n%s\n%s\n", heading, strings.Repeat("=", len(heading)))
		writeOutcomes(b, sharedOutcomes(r.Outcomes, false), st, true)
		b.WriteString(r.Line() + "\n")
	}
	for _, r := range results {
		if len(r.Unreadable) > 0 {
			fmt.Fprintf(b, "\ncould not read the pods of %s/%s: you may not %s\n", c.Context, r.Namespace, snapshot.AccessList(r.Unreadable))
		}
	}
	if len(c.Fleet.Unsearched) > 0 {
		fmt.Fprintf(b, "\ncould not look for OPEA applications everywhere in %s: you may not %s\n", c.Context, snapshot.AccessList(c.Fleet.Unsearched))
	}
	if len(c.Fleet.Leftovers) > 0 {
		fmt.Fprintf(b, "\nin %s, kubectl opea secure left objects for namespaces that no longer exist (cert-manager keeps renewing their certificates):\n", c.Context)
		for _, lo := range c.Fleet.Leftovers {
			fmt.Fprintf(b, "  %s: %s\n    fix: %s\n", lo.Namespace, strings.Join(lo.Objects, ", "), withContext(lo.Fix, c.Context))
		}
	}
}

// withContext puts --context name into the kubectl opea command that ends
// text (the last one it holds).
func withContext(text, name string) string {
	i := strings.LastIndex(text, "kubectl opea ")
	if i < 0 {
		return text
	}
	return text[:i] + "kubectl opea --context " + name + " " + text[i+len("kubectl opea "):]
}

// writeContextsForbidden ends the report with every context's refused
// reads.
func writeContextsForbidden(b *strings.Builder, f *audit.ContextsResult) {
	var lines []string
	for _, c := range f.Contexts {
		if c.Fleet == nil {
			continue
		}
		for _, a := range forbidden(c.Fleet) {
			lines = append(lines, fmt.Sprintf("  %s: %s", c.Context, a))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(b, "\nyou lack permissions to read:\n%s\nfix: %s\n", strings.Join(lines, "\n"), snapshot.PermissionHint)
}

// ContextsShort writes one line per namespace of every context, prefixed
// with the context, as FleetShort does for one; a line per context that
// could not be audited or holds no application; and a line per fleet check
// that did not pass or skip.
func ContextsShort(w io.Writer, f *audit.ContextsResult) error {
	var b strings.Builder
	for _, c := range f.Contexts {
		switch {
		case c.Err != nil:
			fmt.Fprintf(&b, "%s: could not run: %s\n", c.Context, strings.SplitN(c.Err.Error(), "\n", 2)[0])
			continue
		case len(c.Fleet.Namespaces) == 0 && len(c.Fleet.Leftovers) == 0:
			fmt.Fprintf(&b, "%s: no OPEA application found\n", c.Context)
			continue
		}
		var lines strings.Builder
		if err := FleetShort(&lines, c.Fleet); err != nil {
			return err
		}
		for _, line := range strings.SplitAfter(lines.String(), "\n") {
			if line != "" {
				// A leftover's fix runs in this context.
				b.WriteString(c.Context + ": " + withContext(line, c.Context))
			}
		}
	}
	for _, o := range f.Checks {
		if o.Status == check.Warn || o.Status == check.Fail || o.Status == check.Unknown {
			fmt.Fprintf(&b, "%s: %s: %s\n", o.ID, o.Status, strings.ReplaceAll(o.Message, "\n    ", "; "))
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// ContextsReport is the JSON form of an audit of several kube contexts, in
// the schema of docs/verify-output.schema.json: every namespace's Report
// with its context, a line per context, and the fleet checks.
type ContextsReport struct {
	// AllNamespaces says -A was given: every namespace holding an OPEA
	// application, in each context; else the namespace of -n (or each
	// context's own).
	AllNamespaces bool   `json:"allNamespaces"`
	Selector      string `json:"selector,omitempty"`
	// Success is what exit code 0 means: every context audited, and every
	// namespace of every context secured.
	Success  bool            `json:"success"`
	Summary  ContextsSummary `json:"summary"`
	Contexts []ContextReport `json:"contexts"`
	// Namespaces are every context's, ordered by context, then namespace.
	Namespaces  []Report      `json:"namespaces"`
	FleetChecks []ReportCheck `json:"fleetChecks"`
}

// ContextsSummary counts contexts and namespaces by verdict.
type ContextsSummary struct {
	Contexts    int `json:"contexts"`
	CouldNotRun int `json:"couldNotRun"`
	FleetSummary
}

// ContextReport is one context: its verdict, why it could not be audited,
// and what concerns it rather than one of its namespaces.
type ContextReport struct {
	Context    string `json:"context"`
	Verdict    string `json:"verdict"`
	Namespaces int    `json:"namespaces"`
	// Error says why the context could not be audited.
	Error              string            `json:"error,omitempty"`
	Unsearched         []snapshot.Access `json:"unsearched,omitempty"`
	MissingPermissions []snapshot.Access `json:"missingPermissions,omitempty"`
	Leftovers          []read.Leftover   `json:"leftovers,omitempty"`
}

// NewContexts builds the JSON report of an audit of several contexts.
func NewContexts(allNamespaces bool, selector string, f *audit.ContextsResult) ContextsReport {
	r := ContextsReport{AllNamespaces: allNamespaces, Selector: selector, Success: f.Verdict().Success(),
		Contexts: []ContextReport{}, Namespaces: []Report{}, FleetChecks: []ReportCheck{}}
	r.Summary.Contexts = len(f.Contexts)
	for _, c := range f.Contexts {
		cr := ContextReport{Context: c.Context, Verdict: string(c.Verdict())}
		if c.Err != nil {
			cr.Error = c.Err.Error()
			r.Summary.CouldNotRun++
			r.Contexts = append(r.Contexts, cr)
			continue
		}
		fleet := NewFleet(selector, c.Fleet)
		cr.Namespaces, cr.Unsearched, cr.MissingPermissions, cr.Leftovers = len(fleet.Namespaces), fleet.Unsearched, fleet.MissingPermissions, fleet.Leftovers
		r.Contexts = append(r.Contexts, cr)
		for _, ns := range fleet.Namespaces {
			ns.Context = c.Context
			r.Namespaces = append(r.Namespaces, ns)
		}
		r.Summary.Namespaces += fleet.Summary.Namespaces
		r.Summary.Secured += fleet.Summary.Secured
		r.Summary.Failing += fleet.Summary.Failing
		r.Summary.Incomplete += fleet.Summary.Incomplete
		r.Summary.Unreadable += fleet.Summary.Unreadable
	}
	for _, o := range f.Checks {
		r.FleetChecks = append(r.FleetChecks, ReportCheck{ID: o.ID, Description: o.Description, Result: o.Status, Message: o.Message, Hint: o.Hint, Docs: DocsURL + o.ID})
	}
	return r
}
