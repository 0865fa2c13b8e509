package snapshot

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Scope is what the application's routing makes of a snapshot: which
// routing objects belong to the application. It is derived once per
// snapshot (Snapshot.Scope) and shared by the reader, the probe and the
// checks.
type Scope struct {
	s *Snapshot
	// Routes are the VirtualServices with a destination in the app namespace.
	Routes []istio.VirtualService
	// Gateways are the existing Gateways those routes are bound to.
	Gateways []istio.Gateway

	// APIRoutes are the HTTPRoutes with a Service backendRef in the app
	// namespace; apiGateways the existing Gateway API Gateways they name as
	// parents; apiListeners the listeners of those a parentRef of theirs
	// attaches to (by Gateway, section name and port).
	APIRoutes    []gatewayapi.HTTPRoute
	APIGateways  []gatewayapi.Gateway
	APIListeners []APIListener

	// selecting are the positions in the snapshot's Services of those
	// with a selector, by namespace: PodServices looks at a pod's own
	// namespace's, not at every Service of the cluster for every pod.
	selecting map[string][]int
}

// NewScope derives the scope of s; Snapshot.Scope is the one to use.
func NewScope(s *Snapshot) *Scope {
	v := &Scope{s: s}
	seen := map[string]bool{}
	for _, vs := range s.VirtualServices {
		if !routesInto(vs, s.Namespace) {
			continue
		}
		v.Routes = append(v.Routes, vs)
		for _, ref := range vs.Gateways {
			ns, name, ok := istio.ResolveGatewayRef(vs.Namespace, ref)
			if !ok || seen[ns+"/"+name] {
				continue
			}
			if gw := s.Gateway(ns, name); gw != nil {
				seen[ns+"/"+name] = true
				v.Gateways = append(v.Gateways, *gw)
			}
		}
	}
	sort.Slice(v.Gateways, func(i, j int) bool {
		return Key(v.Gateways[i].Namespace, v.Gateways[i].Name) < Key(v.Gateways[j].Namespace, v.Gateways[j].Name)
	})
	v.findGatewayAPIIngress()
	v.selecting = map[string][]int{}
	for i, svc := range s.Services {
		if len(svc.Selector) > 0 {
			v.selecting[svc.Namespace] = append(v.selecting[svc.Namespace], i)
		}
	}
	return v
}

// Snapshot is the snapshot the scope is of.
func (v *Scope) Snapshot() *Snapshot { return v.s }

func Key(ns, name string) string { return ns + "/" + name }

func (s *Snapshot) Gateway(ns, name string) *istio.Gateway {
	for i := range s.Gateways {
		if s.Gateways[i].Namespace == ns && s.Gateways[i].Name == name {
			return &s.Gateways[i]
		}
	}
	return nil
}

func (s *Snapshot) Service(ns, name string) *Service {
	for i := range s.Services {
		if s.Services[i].Namespace == ns && s.Services[i].Name == name {
			return &s.Services[i]
		}
	}
	return nil
}

// routesInto reports whether vs sends HTTP traffic to a Service in namespace.
func routesInto(vs istio.VirtualService, namespace string) bool {
	for _, h := range vs.HTTP {
		for _, r := range h.Route {
			if ns, _ := DestinationService(vs.Namespace, r.Destination.Host); ns == namespace {
				return true
			}
		}
	}
	return false
}

// DestinationService resolves a destination host to a Service's namespace
// and name: "svc", "svc.ns", "svc.ns.svc" or "svc.ns.svc.cluster.local".
// Other names (external hosts) resolve to no namespace.
func DestinationService(vsNamespace, host string) (namespace, name string) {
	host = strings.TrimSuffix(host, ".cluster.local")
	host = strings.TrimSuffix(host, ".svc")
	parts := strings.Split(host, ".")
	switch len(parts) {
	case 1:
		return vsNamespace, parts[0]
	case 2:
		return parts[1], parts[0]
	}
	return "", host
}

// GatewayPods are the pods gw selects.
// With PILOT_SCOPE_GATEWAY_TO_NAMESPACE=true, istiod lets a Gateway select
// only gateway pods of its own namespace.
func (v *Scope) GatewayPods(gw istio.Gateway) []Object {
	pods := v.s.GatewayPods[Key(gw.Namespace, gw.Name)]
	if !v.gatewaysScopedToNamespace() {
		return pods
	}
	var own []Object
	for _, p := range pods {
		if p.Namespace == gw.Namespace {
			own = append(own, p)
		}
	}
	return own
}

func (v *Scope) gatewaysScopedToNamespace() bool {
	return v.IstiodSetting("PILOT_SCOPE_GATEWAY_TO_NAMESPACE") == "true"
}

// GatewayPodNamespaces are the namespaces of the pods gw selects: where Istio
// reads its credentials.
func (v *Scope) GatewayPodNamespaces(gw istio.Gateway) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range v.GatewayPods(gw) {
		if !seen[p.Namespace] {
			seen[p.Namespace] = true
			out = append(out, p.Namespace)
		}
	}
	sort.Strings(out)
	return out
}

// GatewayServer is one server of an Istio Gateway.
type GatewayServer struct {
	Gateway istio.Gateway
	Server  istio.Server
}

// HTTPSServers are the servers of the app's Gateways that terminate TLS.
func (v *Scope) HTTPSServers() []GatewayServer {
	var out []GatewayServer
	for _, gw := range v.Gateways {
		for _, srv := range gw.Servers {
			if len(srv.TLS.Credentials()) > 0 && (srv.Port.Protocol == "HTTPS" || srv.Port.Protocol == "TLS") {
				out = append(out, GatewayServer{gw, srv})
			}
		}
	}
	return out
}

// TLSListener is where the application's gateway terminates TLS with a
// credential Secret: an HTTPS server of an Istio Gateway, or one
// certificateRef of a Gateway API HTTPS listener.
type TLSListener struct {
	// Server is set for an Istio Gateway's server, api for a Gateway API
	// listener.
	Server *GatewayServer
	API    *APIListener
	// SecretName is the Secret's name, secretNamespaces where Istio reads
	// it, in order: the gateway pods' namespaces for an Istio Gateway, the
	// certificateRef's namespace for the Gateway API.
	SecretName       string
	SecretNamespaces []string
}

func (t TLSListener) String() string {
	if t.API != nil {
		return t.API.String()
	}
	return fmt.Sprintf("Gateway %s port %d", Key(t.Server.Gateway.Namespace, t.Server.Gateway.Name), t.Server.Server.Port.Number)
}

// TLSListeners are the application's TLS listeners of both kinds.
func (v *Scope) TLSListeners() []TLSListener {
	var out []TLSListener
	for _, gs := range v.HTTPSServers() {
		// A server with credentialNames serves a certificate from each.
		for _, name := range gs.Server.TLS.Credentials() {
			out = append(out, TLSListener{Server: &gs, SecretName: name, SecretNamespaces: v.GatewayPodNamespaces(gs.Gateway)})
		}
	}
	for _, l := range v.APITLSListeners() {
		for _, ref := range SecretRefs(l.Listener) {
			out = append(out, TLSListener{API: &l, SecretName: ref.Name, SecretNamespaces: []string{ref.SecretNamespace(l.Gateway.Namespace)}})
		}
	}
	return out
}

// SameGateway reports whether t and u belong to the same Gateway.
func (t TLSListener) SameGateway(u TLSListener) bool {
	switch {
	case t.API != nil && u.API != nil:
		return t.API.Gateway.Namespace == u.API.Gateway.Namespace && t.API.Gateway.Name == u.API.Gateway.Name
	case t.Server != nil && u.Server != nil:
		return t.Server.Gateway.Namespace == u.Server.Gateway.Namespace && t.Server.Gateway.Name == u.Server.Gateway.Name
	}
	return false
}

// ListenerHosts are the names clients use for t; empty means any name.
func (v *Scope) ListenerHosts(t TLSListener) []string {
	if t.API != nil {
		return v.APIClientHosts(*t.API)
	}
	return v.ClientHosts(*t.Server)
}

// Core is p as the Kubernetes API has it.
func (p ServicePort) Core() corev1.ServicePort {
	target := intstr.FromInt32(p.Target)
	if p.TargetName != "" {
		target = intstr.FromString(p.TargetName)
	}
	return corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: target, Protocol: corev1.Protocol(p.Protocol)}
}

func (svc Service) corePorts() []corev1.ServicePort {
	out := make([]corev1.ServicePort, 0, len(svc.Ports))
	for _, p := range svc.Ports {
		out = append(out, p.Core())
	}
	return out
}

// PodServices are the Services whose selector picks pod, in snapshot order.
func (v *Scope) PodServices(pod Object) []Service {
	var out []Service
	for _, i := range v.selecting[pod.Namespace] {
		if svc := v.s.Services[i]; labels.SelectorFromSet(svc.Selector).Matches(labels.Set(pod.Labels)) {
			out = append(out, svc)
		}
	}
	return out
}

// translation is the Service targets istiod translates a gateway pod's
// server ports through: those of its Services not opted out of it.
func (v *Scope) translation(pod Object) []istio.ServiceTarget {
	var out []istio.ServiceTarget
	for _, svc := range v.PodServices(pod) {
		if _, off := svc.Labels[istio.DisablePortTranslationLabel]; !off {
			out = append(out, istio.ServiceTargets(svc.corePorts(), pod.ContainerPorts)...)
		}
	}
	return out
}

// ListenPort is the port gateway pod listens on for a Gateway server port.
func (v *Scope) ListenPort(pod Object, number int32) int32 {
	return istio.ResolveServerPort(v.translation(pod), number)
}

// Forwarded reports the Service port of svc that sends traffic to port of
// pod, if any.
func Forwarded(svc Service, pod Object, port int32) (int32, bool) {
	for _, t := range istio.ServiceTargets(svc.corePorts(), pod.ContainerPorts) {
		if t.TargetPort == port {
			return t.Port, true
		}
	}
	return 0, false
}

// ClientHosts are the names clients use for gs: its hosts without namespace
// prefix, where "*" stands for the hosts of the application's VirtualServices
// it binds. Wildcards stay; an empty list means "any name".
func (v *Scope) ClientHosts(gs GatewayServer) []string {
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		if h != "*" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, h := range istio.SanitizeHosts(gs.Server.Hosts, gs.Gateway.Namespace) {
		ns, name, scoped := strings.Cut(h, "/")
		if !scoped {
			name = h
		}
		if name != "*" {
			add(name)
			continue
		}
		for _, vs := range v.Routes {
			if (!scoped || ns == vs.Namespace) && bindsTo(vs, gs.Gateway) {
				for _, vh := range vs.Hosts {
					add(vh)
				}
			}
		}
	}
	return out
}

// bindsTo reports whether vs names gw among its gateways.
func bindsTo(vs istio.VirtualService, gw istio.Gateway) bool {
	for _, ref := range vs.Gateways {
		if ns, name, ok := istio.ResolveGatewayRef(vs.Namespace, ref); ok && ns == gw.Namespace && name == gw.Name {
			return true
		}
	}
	return false
}

// IstiodSetting is istiod's environment variable name, "" when no istiod
// sets it.
func (v *Scope) IstiodSetting(name string) string {
	for _, w := range v.s.Istiod {
		if value, ok := w.Env[name]; ok {
			return value
		}
	}
	return ""
}
