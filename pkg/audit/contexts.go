package audit

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/internal/workers"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// ContextResult is the audit of one kube context.
type ContextResult struct {
	Context string
	// Fleet is the audit of the context's namespaces: every one holding an
	// OPEA application (-A), or the one namespace named, and what names
	// the context's mesh (Fleet.Mesh), for the fleet checks. nil when the
	// audit could not run.
	Fleet *FleetResult
	// Err says why the audit could not run: the cluster unreachable, too
	// slow, refusing the credentials, the namespace missing.
	Err error
}

// Verdict is the context's: could not run when it did not, else its
// namespaces'.
func (c ContextResult) Verdict() Verdict {
	if c.Err != nil {
		return VerdictNotRun
	}
	return c.Fleet.Verdict()
}

// ContextsResult is the audit of several kube contexts, in the order of
// their names, and the fleet checks that compare them.
type ContextsResult struct {
	Contexts []ContextResult
	Checks   []check.Outcome
}

// ContextAudit audits one context under ctx, which bounds it in time.
type ContextAudit func(ctx context.Context, name string) ContextResult

// AuditContexts audits every named context with audit, at most parallel at
// once, each within timeout; a context that fails does not stop the others.
// The results are ordered by context name, whatever finished first, and the
// fleet checks compare the contexts that could be audited.
func AuditContexts(ctx context.Context, names []string, parallel int, timeout time.Duration, audit ContextAudit) *ContextsResult {
	sorted := append([]string(nil), names...)
	sort.Strings(sorted)
	results := make([]ContextResult, len(sorted))
	tasks := make([]func(context.Context), len(sorted))
	for i, name := range sorted {
		tasks[i] = func(ctx context.Context) {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			results[i] = audit(ctx, name)
			results[i].Context = name
		}
	}
	workers.Run(ctx, parallel, tasks)
	var meshes []check.ContextMesh
	for _, r := range results {
		if r.Err == nil {
			meshes = append(meshes, check.ContextMesh{Context: r.Context, MeshIdentity: r.Fleet.Mesh})
		}
	}
	return &ContextsResult{Contexts: results, Checks: check.RunFleet(meshes)}
}

// namespaces counts the namespaces of every context by verdict.
func (f *ContextsResult) namespaces() (total int, count map[Verdict]int) {
	count = map[Verdict]int{}
	for _, c := range f.Contexts {
		if c.Fleet == nil {
			continue
		}
		for v, n := range c.Fleet.count() {
			count[v] += n
		}
		total += len(c.Fleet.Namespaces)
	}
	return total, count
}

// notRun are the contexts whose audit could not run.
func (f *ContextsResult) notRun() []string {
	var names []string
	for _, c := range f.Contexts {
		if c.Err != nil {
			names = append(names, c.Context)
		}
	}
	return names
}

// Verdict is the worst of the contexts': failing when a namespace of any
// context failed; else incomplete when a context could not be audited, or
// not fully, or a fleet check could not run; secured otherwise. A fleet
// check's warning does not change it.
func (f *ContextsResult) Verdict() Verdict {
	worst := VerdictSecured
	for _, c := range f.Contexts {
		switch c.Verdict() {
		case VerdictFailing:
			return VerdictFailing
		case VerdictSecured:
		default:
			worst = VerdictIncomplete
		}
	}
	if check.Incomplete(f.Checks) {
		worst = VerdictIncomplete
	}
	return worst
}

// Failing are the namespaces whose verdict is failing, as context/namespace.
func (f *ContextsResult) Failing() string {
	var names []string
	for _, c := range f.Contexts {
		if c.Fleet == nil {
			continue
		}
		for _, r := range c.Fleet.Namespaces {
			if r.Verdict() == VerdictFailing {
				names = append(names, c.Context+"/"+r.Namespace)
			}
		}
	}
	return strings.Join(names, ", ")
}

// Err is what the verdict says went wrong, nil when every context is
// secured.
func (f *ContextsResult) Err() error {
	total, count := f.namespaces()
	var parts []string
	if n := count[VerdictFailing]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %s failed: %s", n, Count(total, "OPEA namespace"), f.Failing()))
	}
	if names := f.notRun(); len(names) > 0 {
		parts = append(parts, fmt.Sprintf("%d of %s could not be audited: %s", len(names), Count(len(f.Contexts), "context"), strings.Join(names, ", ")))
	}
	if n := count[VerdictIncomplete] + count[VerdictUnreadable]; n > 0 {
		parts = append(parts, fmt.Sprintf("%d of %s could not be fully verified: you lack permissions to read what they need (listed in the report)", n, Count(total, "OPEA namespace")))
	}
	for _, c := range f.Contexts {
		if c.Fleet != nil && len(c.Fleet.Unsearched) > 0 {
			parts = append(parts, fmt.Sprintf("could not look for OPEA applications everywhere in %s: you may not %s", c.Context, snapshot.AccessList(c.Fleet.Unsearched)))
		}
	}
	for _, o := range f.Checks {
		if o.Status == check.Unknown {
			parts = append(parts, fmt.Sprintf("%s %s", o.ID, o.Message))
		}
	}
	if len(parts) == 0 {
		return nil
	}
	return fmt.Errorf("%s", strings.Join(parts, "; "))
}

// Line is the last line of an audit of several contexts.
func (f *ContextsResult) Line() string {
	total, count := f.namespaces()
	line := fmt.Sprintf("Verdict: %d of %s in %s secured", count[VerdictSecured], Count(total, "OPEA namespace"), Count(len(f.Contexts)-len(f.notRun()), "context"))
	if n := count[VerdictFailing]; n > 0 {
		line += fmt.Sprintf(", %d NOT secured (%s)", n, f.Failing())
	}
	if n := count[VerdictIncomplete] + count[VerdictUnreadable]; n > 0 {
		line += fmt.Sprintf(", %d could NOT be fully verified", n)
	}
	if names := f.notRun(); len(names) > 0 {
		line += fmt.Sprintf("; %s could NOT be audited (%s)", Count(len(names), "context"), strings.Join(names, ", "))
	}
	return line
}
