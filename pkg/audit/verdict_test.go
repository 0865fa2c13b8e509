package audit

import (
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/internal/fixture"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// One verdict decides the last line, the success and the exit code of a
// namespace: a failure outweighs refused reads, refused pods are
// unreadable, other refused reads incomplete.
func TestVerdictDecidesLineSuccessAndExitCode(t *testing.T) {
	refused := []snapshot.Access{{Verb: "list", Resource: "pods", Namespace: "chatqna"}}
	for _, tc := range []struct {
		name    string
		breakIt func(*snapshot.Snapshot)
		want    Verdict
		line    string
		code    int
	}{
		{"healthy", func(*snapshot.Snapshot) {}, VerdictSecured, "is secured", 0},
		{"a check fails", func(s *snapshot.Snapshot) { s.APIs.Security = "" }, VerdictFailing, "is NOT secured", 1},
		{"a check fails and the pods are refused", func(s *snapshot.Snapshot) {
			s.APIs.Security = ""
			s.Unread = map[snapshot.Input][]snapshot.Access{snapshot.InputPods: refused}
		}, VerdictFailing, "is NOT secured", 1},
		{"the pods are refused", func(s *snapshot.Snapshot) {
			s.Unread = map[snapshot.Input][]snapshot.Access{snapshot.InputPods: refused}
		}, VerdictUnreadable, "could NOT be fully verified", 3},
		{"the RBAC objects are refused", func(s *snapshot.Snapshot) {
			s.Unread = map[snapshot.Input][]snapshot.Access{snapshot.InputRBAC: {{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: "chatqna"}}}
		}, VerdictIncomplete, "could NOT be fully verified", 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fixture.Healthy(t)
			tc.breakIt(s)
			r := Judge(s)
			v := r.Verdict()
			if v != tc.want || v.Success() != (tc.code == 0) || v.ExitCode() != tc.code {
				t.Errorf("verdict %s, success %v, exit code %d; want %s, exit code %d", v, v.Success(), v.ExitCode(), tc.want, tc.code)
			}
			if !strings.Contains(r.Line(), tc.line) {
				t.Errorf("line %q, want it to say %q", r.Line(), tc.line)
			}
			if (r.Err() == nil) != (tc.code == 0) {
				t.Errorf("error %v with exit code %d", r.Err(), tc.code)
			}
		})
	}
	if VerdictNotRun.ExitCode() != 3 || VerdictNotRun.Success() {
		t.Errorf("an audit that could not run: exit code %d, success %v", VerdictNotRun.ExitCode(), VerdictNotRun.Success())
	}
}

// With -A, a failing namespace outweighs the others; a search refused a
// read leaves the audit incomplete even when every namespace found is
// secured.
func TestFleetVerdict(t *testing.T) {
	secured, failing := Judge(fixture.Healthy(t)), fixture.Healthy(t)
	failing.APIs.Security = ""
	unsearched := []snapshot.Access{{Verb: "list", Resource: "services", AllNamespaces: true}}
	for _, tc := range []struct {
		name string
		f    FleetResult
		want Verdict
	}{
		{"every namespace secured", FleetResult{Namespaces: []Result{secured}}, VerdictSecured},
		{"one failing", FleetResult{Namespaces: []Result{secured, Judge(failing)}, Unsearched: unsearched}, VerdictFailing},
		{"the search refused a read", FleetResult{Namespaces: []Result{secured}, Unsearched: unsearched}, VerdictIncomplete},
	} {
		if v := tc.f.Verdict(); v != tc.want || tc.f.Success() != (tc.want == VerdictSecured) || (tc.f.Err() == nil) != (tc.want == VerdictSecured) {
			t.Errorf("%s: verdict %s, success %v, error %v; want %s", tc.name, v, tc.f.Success(), tc.f.Err(), tc.want)
		}
	}
}
