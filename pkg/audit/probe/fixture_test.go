package probe

import (
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/internal/fixture"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// The snapshots and certificates the tests build (package fixture).
var (
	issue             = fixture.Issue
	issueSANs         = fixture.IssueSANs
	healthy           = fixture.Healthy
	healthyGatewayAPI = fixture.HealthyGatewayAPI
	legacyGateway     = fixture.LegacyGateway
	setHosts          = fixture.SetHosts
	accepted          = fixture.Accepted
)

type issued = fixture.Issued

func outcomesByID(s *snapshot.Snapshot) map[string]check.Outcome {
	out := map[string]check.Outcome{}
	for _, o := range check.Run(s) {
		out[o.ID] = o
	}
	return out
}
