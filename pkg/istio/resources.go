package istio

import "k8s.io/apimachinery/pkg/runtime/schema"

// The API groups of Istio's configuration that kubectl-opea reads and writes.
const (
	NetworkingGroup = "networking.istio.io"
	SecurityGroup   = "security.istio.io"
)

// Gateways is the resource of Istio's Gateway in version (v1 or v1beta1).
func Gateways(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: NetworkingGroup, Version: version, Resource: "gateways"}
}

// VirtualServices is the resource of Istio's VirtualService in version.
func VirtualServices(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: NetworkingGroup, Version: version, Resource: "virtualservices"}
}

// DestinationRules is the resource of Istio's DestinationRule in version.
func DestinationRules(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: NetworkingGroup, Version: version, Resource: "destinationrules"}
}

// PeerAuthentications is the resource of Istio's PeerAuthentication in
// version.
func PeerAuthentications(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: SecurityGroup, Version: version, Resource: "peerauthentications"}
}

// AuthorizationPolicies is the resource of Istio's AuthorizationPolicy in
// version.
func AuthorizationPolicies(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: SecurityGroup, Version: version, Resource: "authorizationpolicies"}
}
