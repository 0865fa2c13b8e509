package read_test

import (
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/internal/fixture"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// The fake clusters the tests read, and the snapshots they build (package
// fixture).
var (
	readSnapshot       = fixture.ReadSnapshot
	unstructuredObject = fixture.UnstructuredObject
	daemonSet          = fixture.DaemonSet
	forbid             = fixture.Forbid
	clusterWide        = fixture.ClusterWide
	gatewayAPICluster  = fixture.GatewayAPICluster
	fleet              = fixture.Fleet
	namespacesOf       = fixture.NamespacesOf
	securedFleet       = fixture.SecuredFleet
	withLeftovers      = fixture.WithLeftovers
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
