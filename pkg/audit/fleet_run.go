package audit

import (
	"context"
	"strings"
)

// fleetProbeWorkers is how many namespaces' gateways are probed at once;
// each probe runs its hosts concurrently too (probeWorkers).
const fleetProbeWorkers = 4

// NamespaceResult is the audit of one namespace of many.
type NamespaceResult struct {
	Namespace string
	// Entry is the application's entry Service, "" when none was found.
	Entry     string
	Outcomes  []Outcome
	Forbidden []Access
	// Unreadable are the refused reads of the namespace's own objects
	// (its labels, its pods): nothing of the application could be judged.
	Unreadable []Access
}

// Verdict of one namespace.
const (
	VerdictSecured    = "secured"
	VerdictFailing    = "failing"
	VerdictIncomplete = "incomplete"
	VerdictUnreadable = "unreadable"
)

// Verdict is unreadable when the namespace's own objects could not be read
// (what the checks say of it then rests on the cluster-wide inputs only);
// else failing when a check failed; incomplete when a check could not run;
// secured when every check ran and none failed.
func (r NamespaceResult) Verdict() string {
	switch {
	case len(r.Unreadable) > 0:
		return VerdictUnreadable
	case Failed(r.Outcomes):
		return VerdictFailing
	case Incomplete(r.Outcomes):
		return VerdictIncomplete
	}
	return VerdictSecured
}

// FailedIDs are the IDs of the failed checks, in catalogue order.
func (r NamespaceResult) FailedIDs() []string {
	var ids []string
	for _, o := range r.Outcomes {
		if o.Status == Fail {
			ids = append(ids, o.ID)
		}
	}
	return ids
}

// AuditAll audits every namespace holding an OPEA application from one read
// of the cluster (ReadAll). With probe, the gateways are probed as well,
// several namespaces at once.
func AuditAll(ctx context.Context, c Clients, o ReadOptions, p ProbeOptions, probe bool) ([]NamespaceResult, error) {
	snapshots, err := ReadAll(ctx, c, o)
	if err != nil {
		return nil, err
	}
	for _, s := range snapshots {
		s.ProbeOff = !probe
	}
	if probe {
		tasks := make([]func(context.Context), len(snapshots))
		for i, s := range snapshots {
			tasks[i] = func(ctx context.Context) { s.Probe = Probe(ctx, s, p) }
		}
		runBounded(ctx, fleetProbeWorkers, tasks)
	}
	results := make([]NamespaceResult, len(snapshots))
	for i, s := range snapshots {
		results[i] = NamespaceResult{Namespace: s.Namespace, Entry: Entry(s), Outcomes: Run(s), Forbidden: s.Forbidden(),
			Unreadable: sortedAccesses(append(append([]Access(nil), s.Unread[InputNamespace]...), s.Unread[InputPods]...))}
	}
	return results, nil
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
