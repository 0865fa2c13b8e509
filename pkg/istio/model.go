// Package istio holds the parts of Istio's semantics that kubectl-opea relies
// on, over plain structs read from the API: which PeerAuthentication wins for
// a workload, how a VirtualService names its Gateway, and how hosts match.
// Nothing here calls the API.
package istio

import "time"

// Gateway is a networking.istio.io Gateway.
type Gateway struct {
	Namespace string            `json:"-"`
	Name      string            `json:"-"`
	Labels    map[string]string `json:"-"`
	// CreationTimestamp orders Gateways on the same pods: istiod merges them
	// oldest first, and the first of two servers with the same host wins.
	CreationTimestamp time.Time         `json:"-"`
	Selector          map[string]string `json:"selector,omitempty"`
	Servers           []Server          `json:"servers,omitempty"`
}

// Server is one server of a Gateway.
type Server struct {
	Port  Port       `json:"port"`
	Bind  string     `json:"bind,omitempty"`
	Hosts []string   `json:"hosts,omitempty"`
	TLS   *ServerTLS `json:"tls,omitempty"`
}

// Port is a Gateway server port.
type Port struct {
	Number   int32  `json:"number"`
	Name     string `json:"name,omitempty"`
	Protocol string `json:"protocol,omitempty"`
}

// ServerTLS is a Gateway server's TLS settings.
type ServerTLS struct {
	Mode           string `json:"mode,omitempty"`
	CredentialName string `json:"credentialName,omitempty"`
	// CredentialNames name one or two Secrets (an RSA and an ECDSA
	// certificate, say) served on one listener; when set, istiod uses them
	// and not CredentialName.
	CredentialNames []string `json:"credentialNames,omitempty"`
	HTTPSRedirect   bool     `json:"httpsRedirect,omitempty"`
}

// Credentials are the Secrets istiod serves the server's certificates
// from, as mergeGateways and ApplyCredentialSDSToServerCommonTLSContext
// read them: credentialNames when set, else credentialName; none when
// neither is set.
func (t *ServerTLS) Credentials() []string {
	switch {
	case t == nil:
		return nil
	case len(t.CredentialNames) > 0:
		return t.CredentialNames
	case t.CredentialName != "":
		return []string{t.CredentialName}
	}
	return nil
}

// VirtualService is a networking.istio.io VirtualService (HTTP routes only).
type VirtualService struct {
	Namespace string      `json:"-"`
	Name      string      `json:"-"`
	Hosts     []string    `json:"hosts,omitempty"`
	Gateways  []string    `json:"gateways,omitempty"`
	HTTP      []HTTPRoute `json:"http,omitempty"`
}

// HTTPRoute is one http entry of a VirtualService.
type HTTPRoute struct {
	Route []RouteDestination `json:"route,omitempty"`
}

// RouteDestination wraps a Destination.
type RouteDestination struct {
	Destination Destination `json:"destination"`
}

// Destination is where a route sends traffic.
type Destination struct {
	Host string        `json:"host"`
	Port *PortSelector `json:"port,omitempty"`
}

// PortSelector names a destination port.
type PortSelector struct {
	Number int32 `json:"number"`
}

// PortNumber is the destination port, 0 when unset.
func (d Destination) PortNumber() int32 {
	if d.Port == nil {
		return 0
	}
	return d.Port.Number
}

// PeerAuthentication is a security.istio.io PeerAuthentication.
type PeerAuthentication struct {
	Namespace string `json:"-"`
	Name      string `json:"-"`
	// CreationTimestamp decides between policies at one level: the oldest wins.
	CreationTimestamp time.Time         `json:"-"`
	Selector          *WorkloadSelector `json:"selector,omitempty"`
	MTLS              *MTLS             `json:"mtls,omitempty"`
	PortLevelMTLS     map[string]MTLS   `json:"portLevelMtls,omitempty"`
}

// WorkloadSelector selects the pods a policy applies to.
type WorkloadSelector struct {
	MatchLabels map[string]string `json:"matchLabels,omitempty"`
}

// MTLS is a PeerAuthentication's mutual TLS mode, for all ports or one.
type MTLS struct {
	Mode string `json:"mode,omitempty"`
}

// Mode is the policy's mtls.mode, "" when unset (inherit).
func (p PeerAuthentication) Mode() string {
	if p.MTLS == nil || p.MTLS.Mode == "UNSET" {
		return ""
	}
	return p.MTLS.Mode
}

// MatchLabels is the workload selector, nil when the policy has none.
func (p PeerAuthentication) MatchLabels() map[string]string {
	if p.Selector == nil {
		return nil
	}
	return p.Selector.MatchLabels
}

// DestinationRule is a networking.istio.io DestinationRule.
type DestinationRule struct {
	Namespace     string         `json:"-"`
	Name          string         `json:"-"`
	Host          string         `json:"host"`
	TrafficPolicy *TrafficPolicy `json:"trafficPolicy,omitempty"`
}

// TrafficPolicy is the part of a DestinationRule's traffic policy read here.
type TrafficPolicy struct {
	TLS *ClientTLS `json:"tls,omitempty"`
}

// ClientTLS is the TLS a client-side proxy originates.
type ClientTLS struct {
	Mode string `json:"mode,omitempty"`
}

// TLSMode is trafficPolicy.tls.mode, "" when the rule sets no TLS.
func (d DestinationRule) TLSMode() string {
	if d.TrafficPolicy == nil || d.TrafficPolicy.TLS == nil {
		return ""
	}
	return d.TrafficPolicy.TLS.Mode
}
