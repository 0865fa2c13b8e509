// Package snapshot is what verify judges a cluster by: the Snapshot read
// from it (its inputs, and the reads the API server refused), and the
// Scope, what the application's routing makes of it (the routes and
// Gateways that lead to the application, their listeners and credentials),
// built once per snapshot and shared by the reader, the probe and the
// checks. It does no I/O and imports no client.
package snapshot

import (
	"crypto/x509"
	"sync"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/opea-project/kubectl-opea/pkg/discover/served"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// Snapshot is everything the checks look at, read in a bounded number of API
// calls. Tests build snapshots by hand.
type Snapshot struct {
	// Namespace is the application namespace under audit.
	Namespace string
	// EntryService and EntryPort name the application's entry Service and
	// port, as given by --service and --port; empty and 0 mean any Service
	// of the namespace, and any of its ports, that a route leads to.
	EntryService string
	EntryPort    int32
	Now          time.Time
	MinValidity  time.Duration
	// WarnExpiry is how long before the mesh root expires it warns.
	WarnExpiry time.Duration

	ServerVersion string
	APIs          served.APIs
	// NamespaceLabels are the application namespace's labels.
	NamespaceLabels map[string]string
	Pods            []Object
	// AppServiceAccounts are the service accounts the application's pods
	// run as (discover.AppServiceAccounts), read only where kubectl opea
	// secure --lockdown's policies are (the principals its opea-allow-app
	// must admit) or where the reachability matrix is printed (the APP
	// column's callers). nil: not read.
	AppServiceAccounts []string
	// ExtraPrincipals are the callers given with verify --as-principal:
	// each gets a column of the reachability matrix. The checks do not
	// read them.
	ExtraPrincipals []string

	RootNamespace string
	// TrustDomain is meshConfig.trustDomain: the first part of every
	// principal AuthorizationPolicies name.
	TrustDomain string
	// MeshID is the mesh config's defaultConfig.meshId, "" when unset.
	MeshID  string
	Istiod  []Workload
	ZTunnel []Workload
	CNI     []Workload
	// CNIConfig is the data of ConfigMap istio-cni-config, nil if absent.
	CNIConfig map[string]string

	PeerAuthentications []istio.PeerAuthentication
	DestinationRules    []istio.DestinationRule
	Gateways            []istio.Gateway
	VirtualServices     []istio.VirtualService
	Services            []Service
	// AuthorizationPolicies are those of every namespace, with the
	// conditions istiod writes on them.
	AuthorizationPolicies []istio.AuthorizationPolicy
	// RequestAuthentications are those of every namespace (when Istio
	// serves them).
	RequestAuthentications []istio.RequestAuthentication
	// ExtensionProviders are the names of the mesh config's
	// extensionProviders, what a CUSTOM policy may name; MeshConfig is
	// the ConfigMap that holds it ("namespace/name"), "" without istiod.
	ExtensionProviders []string
	MeshConfig         string

	// The Gateway API's objects, read when gateway.networking.k8s.io is
	// served (APIs.GatewayAPI): every GatewayClass, and the Gateways,
	// HTTPRoutes and ReferenceGrants of every namespace, with their status.
	// GatewayAPIGateways are the Gateway API's Gateways; Gateways above are
	// Istio's.
	GatewayClasses     []gatewayapi.GatewayClass
	GatewayAPIGateways []gatewayapi.Gateway
	HTTPRoutes         []gatewayapi.HTTPRoute
	ReferenceGrants    []gatewayapi.ReferenceGrant

	// GatewayPods are the pods each relevant Gateway's selector matches,
	// keyed by the Gateway's "namespace/name".
	GatewayPods map[string][]Object
	// Secrets are the credential Secrets, keyed by "namespace/name": for
	// Istio's Gateways read in the gateway pods' namespaces and the
	// Gateways' own namespaces; for the Gateway API's, the Secrets the
	// application's HTTPS listeners name in their certificateRefs, in the
	// ref's namespace (the Gateway's by default).
	Secrets      map[string]*Secret
	Certificates []Certificate
	// MeshRoot is the application namespace's copy of the mesh root.
	MeshRoot MeshRoot
	// Mesh names the cluster's mesh, for the fleet checks of verify
	// --contexts: read only when asked for (read.ReadOptions.MeshIdentity),
	// zero otherwise. No check of the namespace reads it.
	Mesh MeshIdentity
	// SecretAccess says, per gateway ServiceAccount "namespace/name",
	// whether it may list Secrets in its namespace: istiod serves a
	// gateway credential only then. Missing: the question could not be
	// asked (no right to create SubjectAccessReviews: Unread says so).
	SecretAccess map[string]bool
	// IssuerReady holds Ready of each issuer, keyed by "Issuer/ns/name" or
	// "ClusterIssuer/name".
	IssuerReady map[string]bool

	// The RBAC objects that say who may port-forward to the application's
	// pods: the Roles and RoleBindings of its namespace, and every
	// ClusterRole and ClusterRoleBinding.
	Roles               []rbacv1.Role
	RoleBindings        []rbacv1.RoleBinding
	ClusterRoles        []rbacv1.ClusterRole
	ClusterRoleBindings []rbacv1.ClusterRoleBinding

	// NetworkPolicies are the application namespace's: whether they let
	// HBONE (TCP 15008) reach its pods.
	NetworkPolicies []networkingv1.NetworkPolicy
	// ServiceAccounts are the names of the application namespace's
	// ServiceAccounts: whom the principals of its policies may name.
	ServiceAccounts []string

	// Probe is the live TLS probe's findings; nil when none ran.
	Probe *ProbeReport
	// JWKS are the JSON Web Key Sets of the RequestAuthentications on the
	// application's gateway, fetched from here with the probe, keyed by
	// URL; nil when none was fetched.
	JWKS map[string]JWKSFetch
	// ProbeOff says the probe was not asked for (--probe=false): its
	// checks are skipped rather than warning that there was no address.
	ProbeOff bool

	// Unread are the inputs Read could not read for lack of permission,
	// each with the requests the API server refused (for an input derived
	// from another, that one's). The checks that need them are Unknown.
	Unread map[Input][]Access
	// scope is what the application's routing makes of the snapshot,
	// pinned once the inputs it derives from are read (PinScope).
	scope *Scope
	// lock guards Unread while the shared inputs are read concurrently;
	// nil afterwards.
	lock *sync.Mutex
}

// Object is the metadata of one object.
type Object struct {
	Namespace   string
	Name        string
	Labels      map[string]string
	Annotations map[string]string
	// ContainerPorts are the ports a gateway pod's containers declare, where
	// a named targetPort resolves; for the application's pods, the named
	// ports their EndpointSlices resolve (ResolveNamedPorts), nil when none
	// is known.
	ContainerPorts []istio.ContainerPort
	// ServiceAccount is a gateway pod's; "" for the application's pods.
	ServiceAccount string
	// HostNetwork is a gateway pod's spec.hostNetwork; false for the
	// application's pods.
	HostNetwork bool
}

// ServiceAccountKey is "namespace/serviceaccount" of a pod; a pod that
// names none runs as "default".
func (o Object) ServiceAccountKey() string {
	if o.ServiceAccount == "" {
		return Key(o.Namespace, "default")
	}
	return Key(o.Namespace, o.ServiceAccount)
}

// Workload is a Deployment or DaemonSet and its readiness.
type Workload struct {
	Namespace string
	Name      string
	Desired   int32
	Ready     int32
	// Env is the plain environment of the first container (istiod's
	// settings live there), nil for DaemonSets.
	Env map[string]string
}

// Service is a Kubernetes Service with its ports.
type Service struct {
	Namespace string
	Name      string
	Labels    map[string]string
	Selector  map[string]string
	// Type is the Service's spec.type; "" is ClusterIP.
	Type  string
	Ports []ServicePort
	// Address is the load balancer IP or host name, "" if none.
	Address string
}

// ServicePort is one port of a Service.
type ServicePort struct {
	Name string
	Port int32
	// Target is a numeric targetPort; TargetName a named one, resolved per
	// pod through its container ports (Target is then 0).
	Target     int32
	TargetName string
	Protocol   string // "" means TCP
}

// Secret is a credential Secret as the checks need it. Key material never
// leaves this struct: only parsed facts are reported.
type Secret struct {
	Namespace string
	Name      string
	Type      string
	Data      map[string][]byte
	// Annotations tell whether cert-manager wrote it.
	Annotations map[string]string
}

// Certificate is a cert-manager Certificate.
type Certificate struct {
	Namespace  string
	Name       string
	SecretName string
	IssuerKind string
	IssuerName string
	Ready      bool
	Message    string
	// The status of its issuance: when the certificate in the Secret was
	// issued and expires, when cert-manager renews it, and how many times
	// it has issued it (zero values: not set).
	NotBefore, NotAfter, RenewalTime time.Time
	Revision                         int64
	// Issuing is the Issuing condition, nil when absent: True while an
	// issuance is in progress, False with reason Failed when the last one
	// failed.
	Issuing *Condition
	// LastFailureTime is when the last issuance failed; cert-manager clears
	// it once an issuance succeeds. FailedAttempts counts the failures in a
	// row.
	LastFailureTime time.Time
	FailedAttempts  int64
}

// Condition is a status condition of a cert-manager resource.
type Condition struct {
	Status, Reason, Message string
	LastTransitionTime      time.Time
}

// MeshRoot is ConfigMap istio-ca-root-cert of the application namespace,
// where istiod publishes the mesh's root certificates (root-cert.pem).
type MeshRoot struct {
	// Found is false when the namespace has no such ConfigMap.
	Found bool
	PEM   []byte
}

// MeshRootConfigMap is the ConfigMap istiod writes the mesh root into, in
// every namespace, and its key.
const (
	MeshRootConfigMap = "istio-ca-root-cert"
	MeshRootKey       = "root-cert.pem"
)

// ProbeReport is what the live TLS probe saw.
type ProbeReport struct {
	// Address is host:port of the HTTPS listener probed; through a
	// port-forward, the pod's port and Via.
	Address string
	// Via is "port-forward to <namespace>/<pod>" when the probe went
	// through a port-forward to that gateway pod, "" when it connected to
	// Address itself.
	Via string
	// Skipped says why the probe did not run although it could have: the
	// user may not port-forward to the gateway pods.
	Skipped string
	// ForwardErr says why the port-forward failed: nothing was probed.
	ForwardErr string
	// Guessed is true when the address came from the gateway Service, not
	// from --probe-address: a failure to connect then only warns.
	Guessed bool
	Hosts   []HostProbe
	// HTTPAddress is host:port of the plain HTTP listener, "" if unknown.
	HTTPAddress string
	// Redirect is the plain HTTP answer: status and Location.
	RedirectStatus   int
	RedirectLocation string
	RedirectErr      string
	// Token says GET / was sent a second time, with a bearer token.
	Token bool
}

// JWKSFetch is what one JWKS URL answered from here.
type JWKSFetch struct {
	// Keys is how many keys it holds; Err why none could be read.
	Keys int
	Err  string
	// Via is the OpenID discovery document that named the URL, when the
	// rule gave only its issuer.
	Via string
}

// Unprobed says why the probe checked nothing, "" when it ran: it was
// skipped, or its port-forward failed, whole or for a host.
func (p *ProbeReport) Unprobed() string {
	if p.Skipped != "" {
		return p.Skipped
	}
	if p.ForwardErr != "" {
		return p.ForwardErr
	}
	for _, h := range p.Hosts {
		if h.ForwardErr != "" {
			return h.ForwardErr
		}
	}
	return ""
}

// HostProbe is the probe of one host name (SNI).
type HostProbe struct {
	Host string
	// ConnectErr is set when no TCP connection could be made.
	ConnectErr string
	// ForwardErr is set when the port-forward did not carry the
	// connection: the gateway was not reached.
	ForwardErr string
	// HandshakeErr is set when TLS failed, including certificate validation.
	HandshakeErr string
	// TimedOut is set when the host's probe ran out of time: no connection,
	// no TLS or HTTP answer, or the probe's deadline passed before its turn.
	TimedOut bool
	// Served is the leaf certificate the gateway presented.
	Served *x509.Certificate
	// Status is the HTTP status of GET /, 0 if no answer; Body the first
	// line of its body, for an answer that is not the application's.
	Status    int
	Body      string
	StatusErr string
	// Location is the Location header of a redirect.
	Location string
	// TokenStatus, TokenBody and TokenErr are the answer to GET / with the
	// token of --probe-token-file, when one was given (ProbeReport.Token);
	// the token itself is never kept.
	TokenStatus int
	TokenBody   string
	TokenErr    string
}

// Issuing is the cert-manager Certificate that writes Secret ns/name, or
// nil: a Secret not found yet may only be waiting for it.
func (s *Snapshot) Issuing(ns, name string) *Certificate {
	for i := range s.Certificates {
		if c := &s.Certificates[i]; c.Namespace == ns && c.SecretName == name {
			return c
		}
	}
	return nil
}

// Scope is what the application's routing makes of s: the one PinScope
// pinned, else built afresh (a snapshot made by hand may change between
// uses).
func (s *Snapshot) Scope() *Scope {
	if s.scope != nil {
		return s.scope
	}
	return NewScope(s)
}

// PinScope builds s's scope once for every later use: the reader calls it
// once the inputs the scope derives from (the routing objects and the
// namespace's labels) are read; they do not change afterwards.
func (s *Snapshot) PinScope() *Scope {
	s.scope = NewScope(s)
	return s.scope
}

// ForNamespace copies the shared inputs for namespace ns: the lists are
// shared, read only; what each namespace adds to is its own.
func (s *Snapshot) ForNamespace(ns string) *Snapshot {
	out := *s
	out.Namespace = ns
	out.lock = nil
	out.scope = nil
	out.Unread = nil
	for in, denied := range s.Unread {
		for _, a := range denied {
			out.Deny(in, a)
		}
	}
	out.GatewayPods = map[string][]Object{}
	out.Secrets = map[string]*Secret{}
	out.IssuerReady = map[string]bool{}
	return &out
}

// LockedDown reports whether kubectl opea secure --lockdown's policy
// admitting the application's callers is in s's namespace.
func (s *Snapshot) LockedDown() bool {
	for _, p := range s.AuthorizationPolicies {
		if p.Namespace == s.Namespace && p.Name == ownership.AllowAppPolicy && ownership.Ours(p.Labels, s.Namespace) {
			return true
		}
	}
	return false
}
