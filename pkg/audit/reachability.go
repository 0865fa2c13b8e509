package audit

import (
	"fmt"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/reachability"
)

// Reachability is the namespace's reachability matrix, or why there is
// none: a matrix computed without one of its inputs would show refused
// cells that nobody judged, so it is left out, never guessed.
type Reachability struct {
	Matrix *reachability.Matrix
	// Unavailable says why Matrix is nil.
	Unavailable string
}

// reachabilityOf computes s's matrix, with a column for each of the
// principals given with --as-principal.
func reachabilityOf(s *snapshot.Snapshot) Reachability {
	if refused := s.Refused(check.ReachabilityInputs...); len(refused) > 0 {
		return Reachability{Unavailable: "not computed: you may not " + snapshot.AccessList(refused)}
	}
	m, err := check.ReachabilityMatrix(s, s.ExtraPrincipals)
	if err != nil {
		return Reachability{Unavailable: fmt.Sprintf("not computed: %v", err)}
	}
	return Reachability{Matrix: &m}
}
