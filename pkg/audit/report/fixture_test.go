package report

import (
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/internal/fixture"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// The snapshots and certificates the tests build (package fixture).
var (
	now               = fixture.Now
	issue             = fixture.Issue
	issueSANs         = fixture.IssueSANs
	strict            = fixture.Strict
	healthy           = fixture.Healthy
	conditionsTrue    = fixture.ConditionsTrue
	setCondition      = fixture.SetCondition
	healthyGatewayAPI = fixture.HealthyGatewayAPI
	moveSecret        = fixture.MoveSecret
	certsGrant        = fixture.CertsGrant
	sharedGatewayAPI  = fixture.SharedGatewayAPI
	legacyGateway     = fixture.LegacyGateway
	setHosts          = fixture.SetHosts
	accepted          = fixture.Accepted
)

type issued = fixture.Issued

// The fake clusters the tests read (package fixture).
var (
	unstructuredObject = fixture.UnstructuredObject
	forbid             = fixture.Forbid
	clusterWide        = fixture.ClusterWide
	fleet              = fixture.Fleet
	namespacesOf       = fixture.NamespacesOf
	securedFleet       = fixture.SecuredFleet
	withLeftovers      = fixture.WithLeftovers
	goneLeftover       = fixture.GoneLeftover
)

type cluster = fixture.Cluster

const redirectionAnnotation = istio.RedirectionAnnotation

func outcomesByID(s *snapshot.Snapshot) map[string]check.Outcome {
	out := map[string]check.Outcome{}
	for _, o := range check.Run(s) {
		out[o.ID] = o
	}
	return out
}

// brokenCases[0] of package check's tests: the Istio APIs missing, which a
// check fails on.
var brokenCases = []struct {
	breakIt func(*testing.T, *snapshot.Snapshot)
}{
	{func(t *testing.T, s *snapshot.Snapshot) { s.APIs.Security = "" }},
}
