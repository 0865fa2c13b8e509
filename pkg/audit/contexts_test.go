package audit

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
)

// The results are ordered by context name whatever finished first; no
// more than parallel audits run at once; each runs under its own deadline,
// and one that fails stops no other.
func TestAuditContextsOrderAndBounds(t *testing.T) {
	var running, most atomic.Int32
	audit := func(ctx context.Context, name string) ContextResult {
		now := running.Add(1)
		defer running.Add(-1)
		for {
			m := most.Load()
			if now <= m || most.CompareAndSwap(m, now) {
				break
			}
		}
		if name == "slow" {
			<-ctx.Done() // only its own deadline ends it
			return ContextResult{Err: ctx.Err()}
		}
		if _, ok := ctx.Deadline(); !ok {
			return ContextResult{Err: errors.New("no deadline")}
		}
		return ContextResult{Fleet: &FleetResult{Namespaces: []Result{{Namespace: "ns-" + name}}}}
	}
	names := []string{"c", "slow", "a", "b", "d"}
	got := AuditContexts(context.Background(), names, 2, 50*time.Millisecond, audit)
	var order []string
	for _, c := range got.Contexts {
		order = append(order, c.Context)
		if c.Context != "slow" && (c.Err != nil || c.Fleet.Namespaces[0].Namespace != "ns-"+c.Context) {
			t.Errorf("%s: %+v", c.Context, c)
		}
	}
	if diff := cmp.Diff([]string{"a", "b", "c", "d", "slow"}, order); diff != "" {
		t.Errorf("order (-want +got):\n%s", diff)
	}
	if !errors.Is(got.Contexts[4].Err, context.DeadlineExceeded) {
		t.Errorf("slow: %v", got.Contexts[4].Err)
	}
	if most.Load() > 2 {
		t.Errorf("%d audits ran at once, more than --parallel 2", most.Load())
	}
}

func TestContextsVerdict(t *testing.T) {
	failed := Result{Namespace: "x", Outcomes: []check.Outcome{{Result: check.Result{Status: check.Fail}}}}
	ok := Result{Namespace: "y", Outcomes: []check.Outcome{{Result: check.Result{Status: check.Pass}}}}
	run := func(rs ...Result) ContextResult { return ContextResult{Fleet: &FleetResult{Namespaces: rs}} }
	down := ContextResult{Err: errors.New("unreachable")}
	unknown := []check.Outcome{{Check: check.Check{ID: "fleet.trust-root"}, Result: check.Result{Status: check.Unknown, Message: "could not compare"}}}
	warned := []check.Outcome{{Check: check.Check{ID: "fleet.trust-root"}, Result: check.Result{Status: check.Warn}}}
	for _, tc := range []struct {
		name   string
		result ContextsResult
		want   Verdict
		code   int
	}{
		{"all secured", ContextsResult{Contexts: []ContextResult{run(ok), run(ok)}}, VerdictSecured, 0},
		{"a fleet warning does not change it", ContextsResult{Contexts: []ContextResult{run(ok), run(ok)}, Checks: warned}, VerdictSecured, 0},
		{"no application anywhere", ContextsResult{Contexts: []ContextResult{run(), run()}}, VerdictSecured, 0},
		{"a context down", ContextsResult{Contexts: []ContextResult{run(ok), down}}, VerdictIncomplete, 3},
		{"a failure beats a context down", ContextsResult{Contexts: []ContextResult{down, run(ok, failed)}}, VerdictFailing, 1},
		{"a fleet check that could not run", ContextsResult{Contexts: []ContextResult{run(ok), run(ok)}, Checks: unknown}, VerdictIncomplete, 3},
	} {
		if got := tc.result.Verdict(); got != tc.want || got.ExitCode() != tc.code {
			t.Errorf("%s: %s (exit %d), want %s (exit %d)", tc.name, got, got.ExitCode(), tc.want, tc.code)
		}
		if (tc.result.Err() == nil) != (tc.code == 0) {
			t.Errorf("%s: Err %v with exit %d", tc.name, tc.result.Err(), tc.code)
		}
	}
}
