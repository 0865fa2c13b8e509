package secure

import (
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// couldNotCheck is the problem of a precondition whose read failed (refused,
// timed out, answered with a server error): secure refuses rather than take
// what it could not see for absent. what says what the check makes sure of
// ("that namespace chatqna exists"), request the read that failed, as RBAC
// names it ("get namespaces \"chatqna\"").
func couldNotCheck(what, request string, err error) *problems.Problem {
	if apierrors.IsForbidden(err) {
		return notAllowedToCheck(what, request)
	}
	return problems.New(
		fmt.Sprintf("could not check %s: %s: %v", what, request, err),
		"check that the API server answers (kubectl get --raw /readyz), then run the command again; nothing was written")
}

// notAllowedToCheck is couldNotCheck for a read the API server refused.
func notAllowedToCheck(what, request string) *problems.Problem {
	return problems.New(
		fmt.Sprintf("could not check %s: you may not %s", what, request),
		fmt.Sprintf("ask a cluster admin for the permission to %s (in a Role or ClusterRole), or use --context/--as with an identity that has it; nothing was written", request))
}
