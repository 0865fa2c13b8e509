package snapshot

import (
	"fmt"
	"sort"
	"strings"
	"sync"
)

// Input is one part of the Snapshot that Read fills from the API server.
// Each check names the inputs it needs: when one could not be read for lack
// of permission, the check cannot run and is reported Unknown.
type Input string

// The inputs of a Snapshot. Some derive from others (the gateway pods from
// the Gateways, the credential Secrets from the gateway pods): Read marks a
// derived input unread, with the same refused requests, when what it
// derives from is.
const (
	// InputNamespace is the application namespace's labels.
	InputNamespace Input = "namespace"
	// InputPods are the application's pods.
	InputPods Input = "pods"
	// InputIstiod is istiod's Deployments and settings.
	InputIstiod Input = "istiod"
	// InputMeshConfig is the mesh config's root namespace and trust domain.
	InputMeshConfig Input = "mesh config"
	// InputDaemonSets are ztunnel and istio-cni.
	InputDaemonSets Input = "daemonsets"
	// InputCNIConfig is ConfigMap istio-cni-config.
	InputCNIConfig Input = "istio-cni config"
	// InputPeerAuthentications, InputDestinationRules, InputGateways and
	// InputVirtualServices are Istio's objects in every namespace.
	InputPeerAuthentications Input = "peerauthentications"
	InputDestinationRules    Input = "destinationrules"
	InputGateways            Input = "gateways"
	InputVirtualServices     Input = "virtualservices"
	// InputGatewayClasses, InputGatewayAPIGateways, InputHTTPRoutes and
	// InputReferenceGrants are the Gateway API's objects (GatewayClasses,
	// and the rest in every namespace).
	InputGatewayClasses     Input = "gatewayclasses"
	InputGatewayAPIGateways Input = "gateways.gateway.networking.k8s.io"
	InputHTTPRoutes         Input = "httproutes"
	InputReferenceGrants    Input = "referencegrants"
	// InputServices are the Services of every namespace.
	InputServices Input = "services"
	// InputGatewayPods are the pods each Gateway of the application selects.
	InputGatewayPods Input = "gateway pods"
	// InputSecrets are the credential Secrets: of Istio's Gateways and of
	// the Gateway API's HTTPS listeners.
	InputSecrets Input = "secrets"
	// InputSecretAccess is whether each gateway ServiceAccount may read its
	// credentials.
	InputSecretAccess Input = "secret access"
	// InputCertificates are cert-manager's Certificates and issuers.
	InputCertificates Input = "certificates"
	// InputAuthorizationPolicies are the AuthorizationPolicies of every
	// namespace.
	InputAuthorizationPolicies Input = "authorizationpolicies"
	// InputEndpointSlices are the EndpointSlices of the application
	// namespace: the pod port each named targetPort resolves to, as
	// istiod and ztunnel see it.
	InputEndpointSlices Input = "endpointslices"
	// InputRequestAuthentications are the RequestAuthentications of every
	// namespace.
	InputRequestAuthentications Input = "requestauthentications"
	// InputRBAC are the Roles and RoleBindings of the application
	// namespace, and every ClusterRole and ClusterRoleBinding.
	InputRBAC Input = "rbac"
	// InputNetworkPolicies are the NetworkPolicies of the application
	// namespace.
	InputNetworkPolicies Input = "networkpolicies"
	// InputServiceAccounts are the ServiceAccounts of the application
	// namespace.
	InputServiceAccounts Input = "serviceaccounts"
	// InputMeshRoot is ConfigMap istio-ca-root-cert of the application
	// namespace.
	InputMeshRoot Input = "mesh root"
)

// ProbeInputs are what the live probe reads: it finds the gateway's
// address through its Service, and validates against the Secret's ca.crt.
var ProbeInputs = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod, InputSecrets, InputServices}

// Access is one request the API server refused.
type Access struct {
	Verb     string `json:"verb"`
	Group    string `json:"group,omitempty"`
	Resource string `json:"resource"`
	Name     string `json:"name,omitempty"`
	// Namespace is where the request was made; "" with AllNamespaces false
	// is a cluster-scoped resource.
	Namespace     string `json:"namespace,omitempty"`
	AllNamespaces bool   `json:"allNamespaces,omitempty"`
}

// resource is the resource as kubectl names it: "deployments.apps".
func (a Access) resource() string {
	if a.Group == "" {
		return a.Resource
	}
	return a.Resource + "." + a.Group
}

// String reads as kubectl auth can-i takes it: list deployments.apps in
// every namespace.
func (a Access) String() string {
	s := a.Verb + " " + a.resource()
	if a.Name != "" {
		s += fmt.Sprintf(" %q", a.Name)
	}
	switch {
	case a.AllNamespaces:
		s += " in every namespace"
	case a.Namespace != "":
		s += " in namespace " + a.Namespace
	}
	return s
}

// scope orders cluster-wide requests before those of one namespace.
func (a Access) scope() string {
	if a.AllNamespaces || a.Namespace == "" {
		return ""
	}
	return "\x00" + a.Namespace
}

// SortedAccesses returns as once each, cluster-wide requests first, then by
// namespace, resource, verb and name.
func SortedAccesses(as []Access) []Access {
	seen := map[Access]bool{}
	out := make([]Access, 0, len(as))
	for _, a := range as {
		if !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.scope() != b.scope() {
			return a.scope() < b.scope()
		}
		if a.resource() != b.resource() {
			return a.resource() < b.resource()
		}
		if a.Verb != b.Verb {
			return a.Verb < b.Verb
		}
		return a.Name < b.Name
	})
	return out
}

// AccessList joins refused requests for a message: "list pods in every
// namespace; get secrets ...".
func AccessList(as []Access) string {
	parts := make([]string, len(as))
	for i, a := range as {
		parts[i] = a.String()
	}
	return strings.Join(parts, "; ")
}

// Deny records that in could not be read: the API server refused a.
func (s *Snapshot) Deny(in Input, a Access) {
	// The shared inputs are read concurrently.
	s.locked(func() {
		if s.Unread == nil {
			s.Unread = map[Input][]Access{}
		}
		s.Unread[in] = append(s.Unread[in], a)
	})
}

// Inherit marks in unread when one of from is, with the same requests, and
// reports whether it did.
func (s *Snapshot) Inherit(in Input, from ...Input) bool {
	var denied []Access
	inherited := false
	s.locked(func() {
		for _, f := range from {
			if d, ok := s.Unread[f]; ok {
				denied = append(denied, d...)
				inherited = true
			}
		}
	})
	for _, a := range denied {
		s.Deny(in, a)
	}
	return inherited
}

// Guard makes Deny and Inherit safe to call from several goroutines, as
// the shared inputs are read.
func (s *Snapshot) Guard() { s.lock = &sync.Mutex{} }

// locked runs f holding s.lock, when there is one.
func (s *Snapshot) locked(f func()) {
	if s.lock != nil {
		s.lock.Lock()
		defer s.lock.Unlock()
	}
	f()
}

// Forbidden is every request the API server refused while reading the
// snapshot, once each, in a stable order.
func (s *Snapshot) Forbidden() []Access {
	var all []Access
	for _, denied := range s.Unread {
		all = append(all, denied...)
	}
	return SortedAccesses(all)
}

// PermissionHint is what to do about refused reads.
const PermissionHint = "ask a cluster admin to grant them (a ClusterRole for cluster-wide reads, a Role in the namespace named), or use --context/--as with an identity that has them"

// Refused are the requests the API server refused for inputs, once each,
// in a stable order; none when every one was read.
func (s *Snapshot) Refused(inputs ...Input) []Access {
	var denied []Access
	for _, in := range inputs {
		denied = append(denied, s.Unread[in]...)
	}
	return SortedAccesses(denied)
}

// subjectAccessReview is the request that asks whether a gateway may read
// its credentials.
var SubjectAccessReview = Access{Verb: "create", Group: "authorization.k8s.io", Resource: "subjectaccessreviews"}

// findingInputs are the inputs AppNamespaces looks for applications in.
var findingInputs = []Input{InputServices, InputGateways, InputVirtualServices, InputGatewayAPIGateways, InputHTTPRoutes}

// Unsearched are the refused reads of the inputs applications are found in.
func (s *Snapshot) Unsearched() []Access {
	var denied []Access
	for _, in := range findingInputs {
		denied = append(denied, s.Unread[in]...)
	}
	return denied
}
