package audit

import (
	"context"
	"fmt"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/internal/workers"
	"github.com/opea-project/kubectl-opea/pkg/audit/probe"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// fleetProbeWorkers is how many namespaces' gateways are probed at once;
// each probe runs its hosts concurrently too.
const fleetProbeWorkers = 4

// Result is the audit of one namespace.
type Result struct {
	Namespace string
	// Entry is the application's entry Service, "" when none was found.
	Entry     string
	Outcomes  []check.Outcome
	Forbidden []snapshot.Access
	// Unreadable are the refused reads of the namespace's pods: what is
	// judged of the application rests on the cluster-wide inputs only.
	Unreadable []snapshot.Access
	// Reachability is who ztunnel lets into the application's pods, port
	// by port.
	Reachability Reachability
	// Mesh names the cluster's mesh, when the read was asked to
	// (read.ReadOptions.MeshIdentity).
	Mesh snapshot.MeshIdentity
}

// Judge runs the checks on s, read and probed.
func Judge(s *snapshot.Snapshot) Result {
	return Result{Namespace: s.Namespace, Entry: read.Entry(s), Outcomes: check.Run(s), Forbidden: s.Forbidden(),
		Unreadable: snapshot.SortedAccesses(s.Unread[snapshot.InputPods]), Reachability: reachabilityOf(s), Mesh: s.Mesh}
}

// Verdict is the namespace's.
func (r Result) Verdict() Verdict { return judge(r.Outcomes, r.Unreadable) }

// Line is the last line of the namespace's report.
func (r Result) Line() string { return r.Verdict().Line(r.Namespace, r.Outcomes) }

// Err is what the verdict says went wrong, nil when the namespace is
// secured.
func (r Result) Err() error {
	s := check.Summarize(r.Outcomes)
	switch r.Verdict() {
	case VerdictFailing:
		return fmt.Errorf("%s failed", Count(s.Failed, "check"))
	case VerdictIncomplete, VerdictUnreadable:
		return fmt.Errorf("%s could not run: you lack permissions to read what they need (listed in the report)", Count(s.Unknown, "check"))
	}
	return nil
}

// FailedIDs are the IDs of the failed checks, in catalogue order.
func (r Result) FailedIDs() []string {
	var ids []string
	for _, o := range r.Outcomes {
		if o.Status == check.Fail {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// NoApplicationError means the namespace asked for holds nothing to audit:
// no OPEA application, no ingress route into it, no entry Service named.
type NoApplicationError struct {
	Namespace string
	// Found are the namespaces that hold an OPEA application.
	Found []string
}

func (e *NoApplicationError) Error() string {
	return fmt.Sprintf("namespace %q holds no OPEA application", e.Namespace)
}

// Audit audits one namespace: it reads it (read.Read), probes its gateway
// when probing, and runs the checks; the twin of AuditAll.
func Audit(ctx context.Context, c read.Clients, o read.ReadOptions, p probe.Options, probing bool) (*Result, error) {
	s, err := read.Read(ctx, c, o)
	if err != nil {
		return nil, err
	}
	if read.HoldsNoApplication(s) {
		return nil, &NoApplicationError{Namespace: s.Namespace, Found: read.AppNamespaces(s)}
	}
	probeGateway(ctx, s, p, probing)
	r := Judge(s)
	return &r, nil
}

// probeGateway records in s the live probe of its gateway and the keys
// of the RequestAuthentications that may bind it, or that none was asked
// for.
func probeGateway(ctx context.Context, s *snapshot.Snapshot, p probe.Options, probing bool) {
	s.ProbeOff = !probing
	if probing {
		s.Probe = probe.Probe(ctx, s, p)
		s.JWKS = probe.FetchKeys(ctx, s, p)
	}
}

// FleetResult is the audit of every namespace holding an OPEA application.
type FleetResult struct {
	Namespaces []Result
	// Unsearched are the refused reads that looking for the applications
	// needed: one may be missing from Namespaces.
	Unsearched []snapshot.Access
	// Leftovers are secure's objects for namespaces that no longer exist:
	// a warning, which does not change the verdict.
	Leftovers []read.Leftover
	// Mesh names the cluster's mesh, when the read was asked to
	// (read.ReadOptions.MeshIdentity): for the fleet checks.
	Mesh snapshot.MeshIdentity
}

// AuditAll audits every namespace holding an OPEA application from one read
// of the cluster (read.ReadAll). With probing, the gateways are probed as
// well, several namespaces at once.
func AuditAll(ctx context.Context, c read.Clients, o read.ReadOptions, p probe.Options, probing bool) (*FleetResult, error) {
	fleet, err := read.ReadAll(ctx, c, o)
	if err != nil {
		return nil, err
	}
	snapshots := fleet.Snapshots
	tasks := make([]func(context.Context), len(snapshots))
	for i, s := range snapshots {
		tasks[i] = func(ctx context.Context) { probeGateway(ctx, s, p, probing) }
	}
	workers.Run(ctx, fleetProbeWorkers, tasks)
	result := &FleetResult{Namespaces: make([]Result, len(snapshots)), Unsearched: fleet.Unsearched, Leftovers: fleet.Leftovers, Mesh: fleet.Mesh}
	for i, s := range snapshots {
		result.Namespaces[i] = Judge(s)
	}
	return result, nil
}

// count is how many namespaces have each verdict.
func (f *FleetResult) count() map[Verdict]int {
	count := map[Verdict]int{}
	for _, r := range f.Namespaces {
		count[r.Verdict()]++
	}
	return count
}

// Verdict is failing when a namespace is; else incomplete when one could
// not be fully verified, or the search for applications was refused a
// read; secured when every namespace is.
func (f *FleetResult) Verdict() Verdict {
	count := f.count()
	switch {
	case count[VerdictFailing] > 0:
		return VerdictFailing
	case count[VerdictIncomplete]+count[VerdictUnreadable] > 0 || len(f.Unsearched) > 0:
		return VerdictIncomplete
	}
	return VerdictSecured
}

// Success is what exit code 0 means: every application was looked for,
// and every namespace found is secured.
func (f *FleetResult) Success() bool { return f.Verdict().Success() }

// Err is what the verdict says went wrong, nil when every namespace is
// secured.
func (f *FleetResult) Err() error {
	count := f.count()
	of := Count(len(f.Namespaces), "OPEA namespace")
	switch {
	case count[VerdictFailing] > 0:
		return fmt.Errorf("%d of %s failed: %s", count[VerdictFailing], of, f.Failing())
	case count[VerdictIncomplete]+count[VerdictUnreadable] > 0:
		return fmt.Errorf("%d of %s could not be fully verified: you lack permissions to read what they need (listed in the report)", count[VerdictIncomplete]+count[VerdictUnreadable], of)
	case len(f.Unsearched) > 0:
		return fmt.Errorf("could not look for OPEA applications everywhere: you may not %s", snapshot.AccessList(f.Unsearched))
	}
	return nil
}

// Line is the last line of an audit of many namespaces.
func (f *FleetResult) Line() string {
	count := f.count()
	line := fmt.Sprintf("Verdict: %d of %s secured", count[VerdictSecured], Count(len(f.Namespaces), "OPEA namespace"))
	if n := count[VerdictFailing]; n > 0 {
		line += fmt.Sprintf(", %d NOT secured (%s)", n, f.Failing())
	}
	if n := count[VerdictIncomplete] + count[VerdictUnreadable]; n > 0 {
		line += fmt.Sprintf(", %d could NOT be fully verified", n)
	}
	if len(f.Unsearched) > 0 {
		line += "; others may have been missed"
	}
	return line
}

// Failing are the namespaces whose verdict is failing, joined for a
// message.
func (f *FleetResult) Failing() string {
	var names []string
	for _, r := range f.Namespaces {
		if r.Verdict() == VerdictFailing {
			names = append(names, r.Namespace)
		}
	}
	return strings.Join(names, ", ")
}
