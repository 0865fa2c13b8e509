package report

import (
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/internal/fixture"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// The snapshots and certificates the tests build (package fixture).
var (
	strict            = fixture.Strict
	healthy           = fixture.Healthy
	healthyGatewayAPI = fixture.HealthyGatewayAPI
	moveSecret        = fixture.MoveSecret
	certsGrant        = fixture.CertsGrant
	sharedGatewayAPI  = fixture.SharedGatewayAPI
)

// The fake clusters the tests read (package fixture).
var (
	forbid        = fixture.Forbid
	fleet         = fixture.Fleet
	withLeftovers = fixture.WithLeftovers
	goneLeftover  = fixture.GoneLeftover
)

// brokenCases[0] of package check's tests: the Istio APIs missing, which a
// check fails on.
var brokenCases = []struct {
	breakIt func(*testing.T, *snapshot.Snapshot)
}{
	{func(t *testing.T, s *snapshot.Snapshot) { s.APIs.Security = "" }},
}
