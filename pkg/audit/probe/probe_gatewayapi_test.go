package probe

import (
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// With Gateway API ingress and no --probe-address, the probe's address is
// the Gateway's status address with the HTTPS listener's port, and the
// redirecting HTTP listener's port for plain HTTP.
func TestProbeAddressFromTheGatewayStatus(t *testing.T) {
	s := healthyGatewayAPI(t)
	s.GatewayAPIGateways[0].Status.Addresses = []gatewayapi.Address{{Type: "IPAddress", Value: "192.0.2.7"}}
	https, plain := GuessAddresses(snapshot.NewScope(s))
	if https != "192.0.2.7:443" || plain != "192.0.2.7:80" {
		t.Errorf("guessed %q and %q", https, plain)
	}
	if hosts := probeHosts(snapshot.NewScope(s)); len(hosts) != 1 || hosts[0] != "chatqna.example.com" {
		t.Errorf("probe hosts %v", hosts)
	}
	s.GatewayAPIGateways[0].Status.Addresses = nil
	if https, _ := GuessAddresses(snapshot.NewScope(s)); https != "" {
		t.Errorf("guessed %q without a status address", https)
	}
}
