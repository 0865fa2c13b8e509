package check

import (
	"github.com/opea-project/kubectl-opea/pkg/audit/internal/fixture"
)

// The snapshots and certificates the tests build (package fixture).
var (
	now               = fixture.Now
	issue             = fixture.Issue
	strict            = fixture.Strict
	healthy           = fixture.Healthy
	setCondition      = fixture.SetCondition
	healthyGatewayAPI = fixture.HealthyGatewayAPI
	moveSecret        = fixture.MoveSecret
	certsGrant        = fixture.CertsGrant
	sharedGatewayAPI  = fixture.SharedGatewayAPI
	legacyGateway     = fixture.LegacyGateway
	setHosts          = fixture.SetHosts
	accepted          = fixture.Accepted
	withJWT           = fixture.WithJWT
	withExtAuthz      = fixture.WithExtAuthz
)
