package audit

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

// view is what the checks derive from a snapshot once: which routing objects
// belong to the application.
type view struct {
	s *Snapshot
	// routes are the VirtualServices with a destination in the app namespace.
	routes []istio.VirtualService
	// gateways are the existing Gateways those routes are bound to.
	gateways []istio.Gateway

	// apiRoutes are the HTTPRoutes with a Service backendRef in the app
	// namespace; apiGateways the existing Gateway API Gateways they name as
	// parents; apiListeners the listeners of those a parentRef of theirs
	// attaches to (by Gateway, section name and port).
	apiRoutes    []gatewayapi.HTTPRoute
	apiGateways  []gatewayapi.Gateway
	apiListeners []apiListener
}

func newView(s *Snapshot) *view {
	v := &view{s: s}
	seen := map[string]bool{}
	for _, vs := range s.VirtualServices {
		if !routesInto(vs, s.Namespace) {
			continue
		}
		v.routes = append(v.routes, vs)
		for _, ref := range vs.Gateways {
			ns, name, ok := istio.ResolveGatewayRef(vs.Namespace, ref)
			if !ok || seen[ns+"/"+name] {
				continue
			}
			if gw := s.gateway(ns, name); gw != nil {
				seen[ns+"/"+name] = true
				v.gateways = append(v.gateways, *gw)
			}
		}
	}
	sort.Slice(v.gateways, func(i, j int) bool {
		return key(v.gateways[i].Namespace, v.gateways[i].Name) < key(v.gateways[j].Namespace, v.gateways[j].Name)
	})
	v.findGatewayAPIIngress()
	return v
}

func key(ns, name string) string { return ns + "/" + name }

func (s *Snapshot) gateway(ns, name string) *istio.Gateway {
	for i := range s.Gateways {
		if s.Gateways[i].Namespace == ns && s.Gateways[i].Name == name {
			return &s.Gateways[i]
		}
	}
	return nil
}

func (s *Snapshot) service(ns, name string) *Service {
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
			if ns, _ := destinationService(vs.Namespace, r.Destination.Host); ns == namespace {
				return true
			}
		}
	}
	return false
}

// destinationService resolves a destination host to a Service's namespace
// and name: "svc", "svc.ns", "svc.ns.svc" or "svc.ns.svc.cluster.local".
// Other names (external hosts) resolve to no namespace.
func destinationService(vsNamespace, host string) (namespace, name string) {
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

// gatewayPods are the pods gw selects.
// With PILOT_SCOPE_GATEWAY_TO_NAMESPACE=true, istiod lets a Gateway select
// only gateway pods of its own namespace.
func (v *view) gatewayPods(gw istio.Gateway) []Object {
	pods := v.s.GatewayPods[key(gw.Namespace, gw.Name)]
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

func (v *view) gatewaysScopedToNamespace() bool {
	return v.istiodSetting("PILOT_SCOPE_GATEWAY_TO_NAMESPACE") == "true"
}

// gatewayPodNamespaces are the namespaces of the pods gw selects: where Istio
// reads its credentials.
func (v *view) gatewayPodNamespaces(gw istio.Gateway) []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range v.gatewayPods(gw) {
		if !seen[p.Namespace] {
			seen[p.Namespace] = true
			out = append(out, p.Namespace)
		}
	}
	sort.Strings(out)
	return out
}

// httpsServers are the servers of the app's Gateways that terminate TLS.
type gatewayServer struct {
	gw     istio.Gateway
	server istio.Server
}

func (v *view) httpsServers() []gatewayServer {
	var out []gatewayServer
	for _, gw := range v.gateways {
		for _, srv := range gw.Servers {
			if len(srv.TLS.Credentials()) > 0 && (srv.Port.Protocol == "HTTPS" || srv.Port.Protocol == "TLS") {
				out = append(out, gatewayServer{gw, srv})
			}
		}
	}
	return out
}

// tlsListener is where the application's gateway terminates TLS with a
// credential Secret: an HTTPS server of an Istio Gateway, or one
// certificateRef of a Gateway API HTTPS listener.
type tlsListener struct {
	// server is set for an Istio Gateway's server, api for a Gateway API
	// listener.
	server *gatewayServer
	api    *apiListener
	// secretName is the Secret's name, secretNamespaces where Istio reads
	// it, in order: the gateway pods' namespaces for an Istio Gateway, the
	// certificateRef's namespace for the Gateway API.
	secretName       string
	secretNamespaces []string
}

func (t tlsListener) String() string {
	if t.api != nil {
		return t.api.String()
	}
	return fmt.Sprintf("Gateway %s port %d", key(t.server.gw.Namespace, t.server.gw.Name), t.server.server.Port.Number)
}

// tlsListeners are the application's TLS listeners of both kinds.
func (v *view) tlsListeners() []tlsListener {
	var out []tlsListener
	for _, gs := range v.httpsServers() {
		// A server with credentialNames serves a certificate from each.
		for _, name := range gs.server.TLS.Credentials() {
			out = append(out, tlsListener{server: &gs, secretName: name, secretNamespaces: v.gatewayPodNamespaces(gs.gw)})
		}
	}
	for _, l := range v.apiTLSListeners() {
		for _, ref := range secretRefs(l.listener) {
			out = append(out, tlsListener{api: &l, secretName: ref.Name, secretNamespaces: []string{ref.SecretNamespace(l.gw.Namespace)}})
		}
	}
	return out
}

// sameGateway reports whether t and u belong to the same Gateway.
func (t tlsListener) sameGateway(u tlsListener) bool {
	switch {
	case t.api != nil && u.api != nil:
		return t.api.gw.Namespace == u.api.gw.Namespace && t.api.gw.Name == u.api.gw.Name
	case t.server != nil && u.server != nil:
		return t.server.gw.Namespace == u.server.gw.Namespace && t.server.gw.Name == u.server.gw.Name
	}
	return false
}

// listenerHosts are the names clients use for t; empty means any name.
func (v *view) listenerHosts(t tlsListener) []string {
	if t.api != nil {
		return v.apiClientHosts(*t.api)
	}
	return v.clientHosts(*t.server)
}

// core is p as the Kubernetes API has it.
func (p ServicePort) core() corev1.ServicePort {
	target := intstr.FromInt32(p.Target)
	if p.TargetName != "" {
		target = intstr.FromString(p.TargetName)
	}
	return corev1.ServicePort{Name: p.Name, Port: p.Port, TargetPort: target, Protocol: corev1.Protocol(p.Protocol)}
}

func (svc Service) corePorts() []corev1.ServicePort {
	out := make([]corev1.ServicePort, 0, len(svc.Ports))
	for _, p := range svc.Ports {
		out = append(out, p.core())
	}
	return out
}

// podServices are the Services whose selector picks pod, in snapshot order.
func (v *view) podServices(pod Object) []Service {
	var out []Service
	for _, svc := range v.s.Services {
		if svc.Namespace == pod.Namespace && len(svc.Selector) > 0 && labels.SelectorFromSet(svc.Selector).Matches(labels.Set(pod.Labels)) {
			out = append(out, svc)
		}
	}
	return out
}

// translation is the Service targets istiod translates a gateway pod's
// server ports through: those of its Services not opted out of it.
func (v *view) translation(pod Object) []istio.ServiceTarget {
	var out []istio.ServiceTarget
	for _, svc := range v.podServices(pod) {
		if _, off := svc.Labels[istio.DisablePortTranslationLabel]; !off {
			out = append(out, istio.ServiceTargets(svc.corePorts(), pod.ContainerPorts)...)
		}
	}
	return out
}

// listenPort is the port gateway pod listens on for a Gateway server port.
func (v *view) listenPort(pod Object, number int32) int32 {
	return istio.ResolveServerPort(v.translation(pod), number)
}

// forwarded reports the Service port of svc that sends traffic to port of
// pod, if any.
func forwarded(svc Service, pod Object, port int32) (int32, bool) {
	for _, t := range istio.ServiceTargets(svc.corePorts(), pod.ContainerPorts) {
		if t.TargetPort == port {
			return t.Port, true
		}
	}
	return 0, false
}

// clientHosts are the names clients use for gs: its hosts without namespace
// prefix, where "*" stands for the hosts of the application's VirtualServices
// it binds. Wildcards stay; an empty list means "any name".
func (v *view) clientHosts(gs gatewayServer) []string {
	seen := map[string]bool{}
	var out []string
	add := func(h string) {
		if h != "*" && !seen[h] {
			seen[h] = true
			out = append(out, h)
		}
	}
	for _, h := range istio.SanitizeHosts(gs.server.Hosts, gs.gw.Namespace) {
		ns, name, scoped := strings.Cut(h, "/")
		if !scoped {
			name = h
		}
		if name != "*" {
			add(name)
			continue
		}
		for _, vs := range v.routes {
			if (!scoped || ns == vs.Namespace) && bindsTo(vs, gs.gw) {
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
