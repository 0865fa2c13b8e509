// Package reachability computes, port by port, which callers ztunnel lets
// into an application's pods, and which policy decides: one row per Service
// port (resolved to the pods' ports, which is what ztunnel authorizes and
// what portLevelMtls is keyed by), one column per kind of caller. It reads
// nothing and calls nothing: its input is what the caller read from the
// API, its rules those of istiod and ztunnel as pkg/istio encodes them.
package reachability

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Service is a Service of the application namespace.
type Service struct {
	Name     string
	Labels   map[string]string
	Selector map[string]string
	Ports    []corev1.ServicePort
}

// ServiceFrom takes what the model needs of a Service.
func ServiceFrom(s corev1.Service) Service {
	return Service{Name: s.Name, Labels: s.Labels, Selector: s.Spec.Selector, Ports: s.Spec.Ports}
}

// Pod is a pod of the application namespace, captured by ztunnel.
type Pod struct {
	Name           string
	Labels         map[string]string
	ServiceAccount string
	// ContainerPorts resolve named targetPorts.
	ContainerPorts []istio.ContainerPort
}

// PodFrom takes what the model needs of a pod.
func PodFrom(p corev1.Pod) Pod {
	sa := p.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	return Pod{Name: p.Name, Labels: p.Labels, ServiceAccount: sa, ContainerPorts: istio.ContainerPorts(p.Spec)}
}

// WaypointGateway is a waypoint's Gateway, read to know the service
// account istiod deploys it with.
type WaypointGateway struct {
	Namespace, Name, Class string
	Annotations            map[string]string
}

// Input is what the model computes from.
type Input struct {
	// Namespace is the application's namespace.
	Namespace string
	// RootNamespace is meshConfig.rootNamespace; istio-system when empty.
	RootNamespace string
	// TrustDomain is meshConfig.trustDomain; cluster.local when empty.
	TrustDomain string
	// NamespaceLabels are the application namespace's labels (a namespace
	// istio.io/use-waypoint applies to its Services).
	NamespaceLabels map[string]string
	Services        []Service
	Pods            []Pod
	// PeerAuthentications and AuthorizationPolicies are all that can apply:
	// the root namespace's and the application namespace's (and, for
	// waypoints of another namespace, theirs).
	PeerAuthentications   []istio.PeerAuthentication
	AuthorizationPolicies []istio.AuthorizationPolicy
	// GatewayPrincipals are the ingress gateway's principals: the
	// identities of its pods (a classic ingress gateway) or of the proxy
	// istiod deploys for a Gateway API Gateway; none when not known.
	GatewayPrincipals []string
	// AppServiceAccounts are the application's service accounts, in
	// Namespace.
	AppServiceAccounts []string
	// ExtraPrincipals each get a column of their own.
	ExtraPrincipals []string
	// OtherNamespace stands for a mesh workload of another namespace
	// (its default service account); DefaultOtherNamespace when empty.
	OtherNamespace string
	// Waypoints are the waypoint Gateways read, for their service
	// accounts; a waypoint not among them is taken to run as istiod
	// deploys one of class istio-waypoint, under its own name.
	Waypoints []WaypointGateway
}

// DefaultOtherNamespace names the namespace of the "other namespace"
// column's caller: a name no policy is expected to single out.
const DefaultOtherNamespace = "another-namespace"

func (in Input) root() string {
	if in.RootNamespace == "" {
		return istio.DefaultRootNamespace
	}
	return in.RootNamespace
}

func (in Input) trustDomain() string {
	if in.TrustDomain == "" {
		return istio.DefaultTrustDomain
	}
	return in.TrustDomain
}

func (in Input) otherNamespace() string {
	if in.OtherNamespace == "" {
		return DefaultOtherNamespace
	}
	return in.OtherNamespace
}

// validate refuses input the model cannot read faithfully.
func (in Input) validate() error {
	if in.Namespace == "" {
		return fmt.Errorf("reachability: no application namespace given")
	}
	if in.otherNamespace() == in.Namespace {
		return fmt.Errorf("reachability: the other namespace %q is the application's own", in.Namespace)
	}
	for _, p := range append(append([]string(nil), in.GatewayPrincipals...), in.ExtraPrincipals...) {
		if _, err := callerOf(p); err != nil {
			return fmt.Errorf("reachability: %w", err)
		}
	}
	return nil
}

// callerOf is the mesh caller of principal p.
func callerOf(p string) (istio.Caller, error) {
	_, ns, sa, err := istio.ParsePrincipal(p)
	if err != nil {
		return istio.Caller{}, err
	}
	return istio.Caller{Principal: p, Namespace: ns, ServiceAccount: sa}, nil
}

func (in Input) caller(ns, sa string) istio.Caller {
	return istio.Caller{Principal: istio.Principal(in.trustDomain(), ns, sa), Namespace: ns, ServiceAccount: sa}
}

// waypointCaller is waypoint wp as ztunnel sees it at the pods behind it.
func (in Input) waypointCaller(wp istio.Waypoint) istio.Caller {
	sa := istio.WaypointServiceAccount(wp.Name, "", nil)
	for _, gw := range in.Waypoints {
		if gw.Namespace == wp.Namespace && gw.Name == wp.Name {
			sa = istio.WaypointServiceAccount(gw.Name, gw.Class, gw.Annotations)
		}
	}
	return in.caller(wp.Namespace, sa)
}
