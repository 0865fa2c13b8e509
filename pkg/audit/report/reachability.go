package report

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/reachability"
)

// ReachabilityDocument is the reachability matrix in a report: who
// ztunnel lets into the application's pods, one row per Service port, one
// cell per kind of caller, each with the policy that decides.
type ReachabilityDocument struct {
	// Unavailable says why there is no matrix (a read the API server
	// refused); Columns and Rows are then empty.
	Unavailable string               `json:"unavailable,omitempty"`
	Columns     []ReachabilityColumn `json:"columns"`
	Rows        []ReachabilityRow    `json:"rows"`
}

// ReachabilityColumn is one kind of caller: key plaintext, gateway, app,
// other-namespace, or a principal given with --as-principal.
type ReachabilityColumn struct {
	Key   string `json:"key"`
	Title string `json:"title"`
	// Callers are the principals the column calls as; none for plaintext,
	// and none where the callers are not known.
	Callers []string `json:"callers"`
}

// ReachabilityRow is one port of a Service of the application.
type ReachabilityRow struct {
	Service  string `json:"service"`
	Port     int32  `json:"port"`
	PortName string `json:"portName,omitempty"`
	// PodPorts are the pod ports the Service port reaches; none when no
	// running pod was found to serve it.
	PodPorts []int32 `json:"podPorts"`
	// Waypoint is namespace/name of the waypoint the Service's traffic
	// goes through.
	Waypoint string             `json:"waypoint,omitempty"`
	Cells    []ReachabilityCell `json:"cells"`
	// DecidedBy names the policies that decide the mesh callers' cells.
	DecidedBy string `json:"decidedBy,omitempty"`
}

// ReachabilityCell is what ztunnel decides for one column's callers at
// one Service port.
type ReachabilityCell struct {
	Column string `json:"column"`
	// Verdict is allowed, refused, partly (some callers or pods allowed,
	// others refused), depends (on what the model does not know) or
	// unknown (no caller, or no pod).
	Verdict string `json:"verdict"`
	// DecidedBy is namespace/name of the deciding policy (as istiod
	// converts it for ztunnel), or the reason in parentheses.
	DecidedBy string `json:"decidedBy"`
}

// reachabilityDocument is r's matrix as a document.
func reachabilityDocument(r audit.Reachability) *ReachabilityDocument {
	doc := &ReachabilityDocument{Unavailable: r.Unavailable, Columns: []ReachabilityColumn{}, Rows: []ReachabilityRow{}}
	if r.Matrix == nil {
		return doc
	}
	m := r.Matrix
	for _, c := range m.Columns {
		col := ReachabilityColumn{Key: c.Key, Title: c.Title, Callers: []string{}}
		for _, caller := range c.Callers {
			if caller.Principal != "" {
				col.Callers = append(col.Callers, caller.Principal)
			}
		}
		doc.Columns = append(doc.Columns, col)
	}
	for _, row := range m.Rows {
		out := ReachabilityRow{Service: row.Service, Port: row.Port, PortName: row.PortName, PodPorts: append([]int32{}, row.PodPorts...),
			Waypoint: row.Waypoint, DecidedBy: eachOnce(row.Decider), Cells: []ReachabilityCell{}}
		for i, cell := range row.Cells {
			out.Cells = append(out.Cells, ReachabilityCell{Column: m.Columns[i].Key, Verdict: string(cell.Verdict), DecidedBy: cell.Decider})
		}
		doc.Rows = append(doc.Rows, out)
	}
	return doc
}

// ReachabilityTable writes r's matrix as a table, one row per Service
// port: a cell per kind of caller, and the policies that decide for the
// mesh callers (DECIDED BY); then the verdict's line. Where the matrix
// could not be computed, it says why.
func ReachabilityTable(w io.Writer, r *audit.Result) error {
	var b strings.Builder
	if r.Reachability.Matrix == nil {
		fmt.Fprintf(&b, "Reachability of namespace %s: %s\n", r.Namespace, r.Reachability.Unavailable)
	} else {
		writeMatrix(&b, *r.Reachability.Matrix)
	}
	b.WriteString("\n" + r.Line() + "\n")
	writeForbidden(&b, r.Forbidden)
	_, err := io.WriteString(w, b.String())
	return err
}

func writeMatrix(b *strings.Builder, m reachability.Matrix) {
	if len(m.Rows) == 0 {
		b.WriteString("The application has no Service port: nothing to reach.\n")
		return
	}
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', 0)
	header := []string{"SERVICE:PORT (pod port)"}
	for _, c := range m.Columns {
		header = append(header, columnTitle(c))
	}
	header = append(header, "DECIDED BY")
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range m.Rows {
		line := []string{rowTitle(r)}
		for _, cell := range r.Cells {
			line = append(line, string(cell.Verdict))
		}
		line = append(line, rowDecider(r))
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	_ = tw.Flush()
}

// columnTitle is c's title, the application's with how many service
// accounts it calls as.
func columnTitle(c reachability.Column) string {
	if c.Key != reachability.ColumnApp {
		return c.Title
	}
	switch n := len(c.Callers); n {
	case 0:
		return c.Title + " (no SA known)"
	case 1:
		return c.Title + " (1 SA)"
	default:
		return fmt.Sprintf("%s (%d SAs)", c.Title, n)
	}
}

// rowTitle is "service:port (pod ports)", the pod ports left out where
// they are the Service port, "(no pod)" where no running pod serves it.
func rowTitle(r reachability.Row) string {
	name := fmt.Sprintf("%s:%d", r.Service, r.Port)
	switch {
	case len(r.PodPorts) == 0:
		return name + " (no pod)"
	case len(r.PodPorts) == 1 && r.PodPorts[0] == r.Port:
		return name
	}
	ports := make([]string, len(r.PodPorts))
	for i, p := range r.PodPorts {
		ports[i] = fmt.Sprint(p)
	}
	return name + " (" + strings.Join(ports, ", ") + ")"
}

// eachOnce names each policy of decider once: the deciders of several
// cells may share one.
func eachOnce(decider string) string {
	var out []string
	for _, d := range strings.Split(decider, ", ") {
		if d != "" && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return strings.Join(out, ", ")
}

// rowDecider is the mesh callers' deciders; the plaintext cell's, when
// plaintext gets in, follows, marked as such; with a waypoint, its name.
func rowDecider(r reachability.Row) string {
	if len(r.PodPorts) == 0 {
		return reachability.NoPodSelected
	}
	d := eachOnce(r.Decider)
	if len(r.Cells) > 0 && r.Cells[0].Verdict != reachability.Refused && r.Cells[0].Verdict != reachability.Unknown && r.PlaintextDecider != d {
		d += "; plaintext: " + r.PlaintextDecider
	}
	if r.Waypoint != "" {
		d += " (through waypoint " + r.Waypoint + ")"
	}
	if d == "" {
		return "-"
	}
	return d
}
