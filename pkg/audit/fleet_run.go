package audit

import (
	"context"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/internal/workers"
	"github.com/opea-project/kubectl-opea/pkg/audit/probe"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// fleetProbeWorkers is how many namespaces' gateways are probed at once;
// each probe runs its hosts concurrently too (probeWorkers).
const fleetProbeWorkers = 4

// NamespaceResult is the audit of one namespace of many.
type NamespaceResult struct {
	Namespace string
	// Entry is the application's entry Service, "" when none was found.
	Entry     string
	Outcomes  []check.Outcome
	Forbidden []snapshot.Access
	// Unreadable are the refused reads of the namespace's pods: what is
	// judged of the application rests on the cluster-wide inputs only.
	Unreadable []snapshot.Access
}

// FleetResult is the audit of every namespace holding an OPEA application.
type FleetResult struct {
	Namespaces []NamespaceResult
	// Unsearched are the refused reads that looking for the applications
	// needed: one may be missing from Namespaces.
	Unsearched []snapshot.Access
	// Leftovers are secure's objects for namespaces that no longer exist:
	// a warning, which does not change the verdict.
	Leftovers []read.Leftover
}

// Verdict of one namespace.
const (
	VerdictSecured    = "secured"
	VerdictFailing    = "failing"
	VerdictIncomplete = "incomplete"
	VerdictUnreadable = "unreadable"
)

// Verdict is failing when a check failed, even one judged from the
// cluster-wide inputs only; else unreadable when the namespace's pods
// could not be read; incomplete when another check could not run; secured
// when every check ran and none failed.
func (r NamespaceResult) Verdict() string {
	switch {
	case check.Failed(r.Outcomes):
		return VerdictFailing
	case len(r.Unreadable) > 0:
		return VerdictUnreadable
	case check.Incomplete(r.Outcomes):
		return VerdictIncomplete
	}
	return VerdictSecured
}

// FailedIDs are the IDs of the failed checks, in catalogue order.
func (r NamespaceResult) FailedIDs() []string {
	var ids []string
	for _, o := range r.Outcomes {
		if o.Status == check.Fail {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// AuditAll audits every namespace holding an OPEA application from one read
// of the cluster (read.ReadAll). With probing, the gateways are probed as well,
// several namespaces at once.
func AuditAll(ctx context.Context, c read.Clients, o read.ReadOptions, p probe.Options, probing bool) (*FleetResult, error) {
	fleet, err := read.ReadAll(ctx, c, o)
	if err != nil {
		return nil, err
	}
	snapshots := fleet.Snapshots
	for _, s := range snapshots {
		s.ProbeOff = !probing
	}
	if probing {
		tasks := make([]func(context.Context), len(snapshots))
		for i, s := range snapshots {
			tasks[i] = func(ctx context.Context) { s.Probe = probe.Probe(ctx, s, p) }
		}
		workers.Run(ctx, fleetProbeWorkers, tasks)
	}
	result := &FleetResult{Namespaces: make([]NamespaceResult, len(snapshots)), Unsearched: fleet.Unsearched, Leftovers: fleet.Leftovers}
	for i, s := range snapshots {
		result.Namespaces[i] = NamespaceResult{Namespace: s.Namespace, Entry: read.Entry(s), Outcomes: check.Run(s), Forbidden: s.Forbidden(),
			Unreadable: snapshot.SortedAccesses(s.Unread[snapshot.InputPods])}
	}
	return result, nil
}

// Success is what exit code 0 means: every application was looked for,
// and every namespace found is secured.
func (f *FleetResult) Success() bool {
	if len(f.Unsearched) > 0 {
		return false
	}
	for _, r := range f.Namespaces {
		if r.Verdict() != VerdictSecured {
			return false
		}
	}
	return true
}

// FleetFailing are the namespaces whose verdict is failing, joined for a
// message.
func FleetFailing(results []NamespaceResult) string {
	var names []string
	for _, r := range results {
		if r.Verdict() == VerdictFailing {
			names = append(names, r.Namespace)
		}
	}
	return strings.Join(names, ", ")
}
