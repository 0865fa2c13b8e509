// Package served names which versions of the APIs kubectl-opea reads and
// writes a cluster serves (discover.ServedAPIs asks it), and the resources
// in those versions. It needs no client: a pure judgement of a cluster can
// name it.
package served

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// APIs records which versions of the APIs kubectl-opea writes are served.
// An empty version means the API is not served at all.
type APIs struct {
	Networking  string // networking.istio.io: Gateway, VirtualService
	Security    string // security.istio.io: PeerAuthentication
	CertManager string // cert-manager.io: Issuer, Certificate
	GatewayAPI  string // gateway.networking.k8s.io: GatewayClass, Gateway, HTTPRoute
	// AuthorizationPolicies is the security.istio.io version serving
	// AuthorizationPolicy (secure --lockdown); empty: not served.
	AuthorizationPolicies string
	// RequestAuthentications is the security.istio.io version serving
	// RequestAuthentication (secure --auth jwt); empty: not served.
	RequestAuthentications string
}

// IstioGateways is Istio's Gateway in the served networking.istio.io version.
func (a APIs) IstioGateways() schema.GroupVersionResource { return istio.Gateways(a.Networking) }

// VirtualServices is Istio's VirtualService in the served version.
func (a APIs) VirtualServices() schema.GroupVersionResource {
	return istio.VirtualServices(a.Networking)
}

// DestinationRules is Istio's DestinationRule in the served version.
func (a APIs) DestinationRules() schema.GroupVersionResource {
	return istio.DestinationRules(a.Networking)
}

// PeerAuthentications is Istio's PeerAuthentication in the served
// security.istio.io version.
func (a APIs) PeerAuthentications() schema.GroupVersionResource {
	return istio.PeerAuthentications(a.Security)
}

// AuthorizationPolicyResource is Istio's AuthorizationPolicy in the version
// serving it.
func (a APIs) AuthorizationPolicyResource() schema.GroupVersionResource {
	return istio.AuthorizationPolicies(a.AuthorizationPolicies)
}
