// Package report renders verify's audits: the table (and -o short) of
// one namespace or many, and the JSON and YAML documents of
// docs/verify-output.schema.json. Every renderer takes its verdict from
// package audit.
package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// DocsURL is where each check's documentation lives; a check's anchor is its ID.
const DocsURL = "https://github.com/opea-project/kubectl-opea/blob/main/docs/checks.md#"

// Style says how to decorate the table: glyphs and colour belong on a
// terminal only.
type Style struct {
	Glyphs bool
	Colour bool
}

var (
	glyphs = map[check.Status]string{check.Pass: "√", check.Warn: "‼", check.Fail: "×", check.Skip: "-", check.Unknown: "?"}
	words  = map[check.Status]string{check.Pass: "[ok]  ", check.Warn: "[warn]", check.Fail: "[FAIL]", check.Skip: "[skip]", check.Unknown: "[?]   "}
	colour = map[check.Status]string{check.Pass: "\033[32m", check.Warn: "\033[33m", check.Fail: "\033[31m", check.Skip: "\033[90m", check.Unknown: "\033[35m"}
)

func (st Style) mark(s check.Status) string {
	m := words[s]
	if st.Glyphs {
		m = glyphs[s]
	}
	if st.Colour {
		m = colour[s] + m + "\033[0m"
	}
	return m
}

// Table writes every check of r, grouped by category; short writes only
// the warnings and failures. Both end with the verdict and, when the API
// server refused reads, one list of them all.
func Table(w io.Writer, r *audit.Result, st Style, short bool) error {
	var b strings.Builder
	writeOutcomes(&b, r.Outcomes, st, short)
	b.WriteString(r.Line() + "\n")
	writeForbidden(&b, r.Forbidden)
	_, err := io.WriteString(w, b.String())
	return err
}

// writeForbidden ends a report with the reads the API server refused, and
// what to do about them; nothing when there were none.
func writeForbidden(b *strings.Builder, forbidden []snapshot.Access) {
	if len(forbidden) == 0 {
		return
	}
	b.WriteString("\nyou lack permissions to read:\n")
	for _, a := range forbidden {
		fmt.Fprintf(b, "  %s\n", a)
	}
	fmt.Fprintf(b, "fix: %s\n", snapshot.PermissionHint)
}

// writeOutcomes writes each outcome under its category's heading; short
// writes only the warnings and failures.
func writeOutcomes(b *strings.Builder, outcomes []check.Outcome, st Style, short bool) {
	category := ""
	for _, o := range outcomes {
		if short && (o.Status == check.Pass || o.Status == check.Skip || o.Status == check.Unknown) {
			continue
		}
		if o.Category != category {
			if category != "" {
				b.WriteString("\n")
			}
			category = o.Category
			fmt.Fprintf(b, "%s\n%s\n", category, strings.Repeat("-", len(category)))
		}
		fmt.Fprintf(b, "%s %s", st.mark(o.Status), o.Description)
		switch o.Status {
		case check.Pass, check.Skip, check.Unknown:
			if o.Message != "" {
				fmt.Fprintf(b, " (%s)", o.Message)
			}
			b.WriteString("\n")
		default:
			fmt.Fprintf(b, "  [%s]\n    %s\n", o.ID, o.Message)
			if o.Hint != "" {
				fmt.Fprintf(b, "    fix: %s\n", o.Hint)
			}
			fmt.Fprintf(b, "    see: %s%s\n", DocsURL, o.ID)
		}
	}
	if category != "" {
		b.WriteString("\n")
	}
}

// Report is the JSON form of a verify run: a stable schema, documented in
// docs/checks.md and docs/verify-output.schema.json.
type Report struct {
	// In an audit of several kube contexts (ContextsReport) only: the
	// context the namespace is in.
	Context    string           `json:"context,omitempty"`
	Namespace  string           `json:"namespace"`
	Success    bool             `json:"success"`
	Summary    check.Summary    `json:"summary"`
	Categories []ReportCategory `json:"categories"`
	// MissingPermissions are the reads the API server refused: the checks
	// that needed them are "unknown". Absent when there were none.
	MissingPermissions []snapshot.Access `json:"missingPermissions,omitempty"`
	// Error is set when the audit could not run (exit code 3).
	Error string `json:"error,omitempty"`

	// In an audit of all namespaces (FleetReport) only: the entry Service
	// found, the namespace's verdict, and the refused reads of its own
	// objects, when it is unreadable.
	EntryService string            `json:"entryService,omitempty"`
	Verdict      string            `json:"verdict,omitempty"`
	Unreadable   []snapshot.Access `json:"unreadable,omitempty"`

	// Reachability is who ztunnel lets into the application's pods, port
	// by port; absent when the audit could not run.
	Reachability *ReachabilityDocument `json:"reachability,omitempty"`
}

// ReportCategory is one category of checks.
type ReportCategory struct {
	CategoryName string        `json:"categoryName"`
	Checks       []ReportCheck `json:"checks"`
}

// ReportCheck is one check's outcome.
type ReportCheck struct {
	ID          string       `json:"id"`
	Description string       `json:"description"`
	Result      check.Status `json:"result"`
	Message     string       `json:"message,omitempty"`
	Hint        string       `json:"hint,omitempty"`
	Docs        string       `json:"docs"`
}

// New builds the JSON report of res: its outcomes and the reads the API
// server refused. Success is what exit code 0 means: the verdict's.
func New(res *audit.Result) Report {
	r := Report{Namespace: res.Namespace, Success: res.Verdict().Success(), Summary: check.Summarize(res.Outcomes), Categories: []ReportCategory{},
		MissingPermissions: res.Forbidden, Reachability: reachabilityDocument(res.Reachability)}
	for _, o := range res.Outcomes {
		if len(r.Categories) == 0 || r.Categories[len(r.Categories)-1].CategoryName != o.Category {
			r.Categories = append(r.Categories, ReportCategory{CategoryName: o.Category})
		}
		c := &r.Categories[len(r.Categories)-1]
		c.Checks = append(c.Checks, ReportCheck{ID: o.ID, Description: o.Description, Result: o.Status, Message: o.Message, Hint: o.Hint, Docs: DocsURL + o.ID})
	}
	return r
}

// NotRun is the document of an audit of namespace that could not run
// (audit.VerdictNotRun): err says why.
func NotRun(namespace string, err error) Report {
	return Report{Namespace: namespace, Categories: []ReportCategory{}, Error: err.Error()}
}

// YAML writes r, a Report or a FleetReport, as YAML: the document
// JSON writes, with its field names and in its field order (a reader
// finds the verdict first), converted.
func YAML(w io.Writer, r any) error {
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	// JSON is YAML: decoded into a node, it keeps its order; only its flow
	// style and quotes are dropped, so that it prints as block YAML.
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return err
	}
	blockStyle(&doc)
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return err
	}
	return enc.Close()
}

// blockStyle clears the styles of n and what it holds; the encoder then
// quotes only the strings that need it.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// JSON writes r, a Report or a FleetReport, as indented JSON.
func JSON(w io.Writer, r any) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", data)
	return err
}
