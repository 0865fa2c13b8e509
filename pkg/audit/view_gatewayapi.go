package audit

import (
	"fmt"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// apiListener is one listener of a Gateway API Gateway.
type apiListener struct {
	gw       gatewayapi.Gateway
	listener gatewayapi.Listener
}

func (l apiListener) String() string {
	return fmt.Sprintf("Gateway %s listener %s", key(l.gw.Namespace, l.gw.Name), l.listener.Name)
}

// findGatewayAPIIngress fills the view's Gateway API part: the routes into
// the application namespace through a Gateway, their Gateways and the
// listeners they attach to. A route whose parents are all Services (GAMMA)
// routes inside the mesh and is no ingress.
func (v *view) findGatewayAPIIngress() {
	s := v.s
	seen := map[string]bool{}
	for _, r := range s.HTTPRoutes {
		if len(r.ServiceBackends(s.Namespace)) == 0 || !r.GatewayParent() {
			continue
		}
		v.apiRoutes = append(v.apiRoutes, r)
		for _, ref := range r.ParentRefs {
			ns := ref.GatewayNamespace(r.Namespace)
			if !ref.IsGateway() || seen[key(ns, ref.Name)] {
				continue
			}
			if gw := s.gatewayAPIGateway(ns, ref.Name); gw != nil {
				seen[key(ns, ref.Name)] = true
				v.apiGateways = append(v.apiGateways, *gw)
			}
		}
	}
	sort.Slice(v.apiGateways, func(i, j int) bool {
		return key(v.apiGateways[i].Namespace, v.apiGateways[i].Name) < key(v.apiGateways[j].Namespace, v.apiGateways[j].Name)
	})
	for _, gw := range v.apiGateways {
		for _, l := range gw.Listeners {
			if len(v.attachedRoutes(gw, l)) > 0 {
				v.apiListeners = append(v.apiListeners, apiListener{gw, l})
			}
		}
	}
}

func (s *Snapshot) gatewayAPIGateway(ns, name string) *gatewayapi.Gateway {
	for i := range s.GatewayAPIGateways {
		if s.GatewayAPIGateways[i].Namespace == ns && s.GatewayAPIGateways[i].Name == name {
			return &s.GatewayAPIGateways[i]
		}
	}
	return nil
}

func (s *Snapshot) gatewayClass(name string) *gatewayapi.GatewayClass {
	for i := range s.GatewayClasses {
		if s.GatewayClasses[i].Name == name {
			return &s.GatewayClasses[i]
		}
	}
	return nil
}

// attachedRoutes are the application's routes that listener l of gw takes,
// as istiod decides it (gatewayapi.Attach).
func (v *view) attachedRoutes(gw gatewayapi.Gateway, l gatewayapi.Listener) []gatewayapi.HTTPRoute {
	var out []gatewayapi.HTTPRoute
	for _, r := range v.apiRoutes {
		if v.takes(gw, l, r) {
			out = append(out, r)
		}
	}
	return out
}

// takes reports whether listener l of gw takes route r through one of its
// parentRefs.
func (v *view) takes(gw gatewayapi.Gateway, l gatewayapi.Listener, r gatewayapi.HTTPRoute) bool {
	for _, ref := range r.ParentRefs {
		if gatewayapi.Attach(r, ref, gw, l, v.namespaceLabels).Attached() {
			return true
		}
	}
	return false
}

// namespaceLabels knows the labels of the application namespace only.
func (v *view) namespaceLabels(ns string) (map[string]string, bool) {
	if ns != v.s.Namespace || v.s.NamespaceLabels == nil {
		return nil, false
	}
	return v.s.NamespaceLabels, true
}

// secretRefs are the certificateRefs of l that name Secrets.
func secretRefs(l gatewayapi.Listener) []gatewayapi.SecretReference {
	if l.TLS == nil {
		return nil
	}
	var out []gatewayapi.SecretReference
	for _, ref := range l.TLS.CertificateRefs {
		if ref.IsSecret() {
			out = append(out, ref)
		}
	}
	return out
}

// apiTLSListeners are the application's listeners that terminate TLS with
// a Secret.
func (v *view) apiTLSListeners() []apiListener {
	var out []apiListener
	for _, l := range v.apiListeners {
		if l.listener.Terminates() && len(secretRefs(l.listener)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// apiClientHosts are the names clients use for l: the hostnames its
// routes of the application serve on it, without "*"; empty means any name.
func (v *view) apiClientHosts(l apiListener) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range v.attachedRoutes(l.gw, l.listener) {
		for _, h := range gatewayapi.RouteHostnames(l.listener.Hostname, r.Hostnames) {
			if h != "*" && !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// plainListener is an HTTP listener of the application's Gateways, with
// the routes attached to it: the application's (served in plaintext) and
// those that only redirect.
type plainListener struct {
	apiListener
	served, redirects []gatewayapi.HTTPRoute
}

// apiPlainListeners are the HTTP listeners of the application's Gateways.
func (v *view) apiPlainListeners() []plainListener {
	var out []plainListener
	for _, gw := range v.apiGateways {
		for _, l := range gw.Listeners {
			if l.Protocol != "HTTP" {
				continue
			}
			p := plainListener{apiListener: apiListener{gw, l}, served: v.attachedRoutes(gw, l)}
			for _, r := range v.s.HTTPRoutes {
				if r.Redirects() && v.takes(gw, l, r) {
					p.redirects = append(p.redirects, r)
				}
			}
			out = append(out, p)
		}
	}
	return out
}

// ingressInUse says which kinds of ingress the checks judge: those that
// route to the application, and those that could not be read (their
// checks are then unknown). With neither, the classic one, as before the
// Gateway API was known.
func (v *view) ingressInUse() (classic, api bool) {
	classic = len(v.routes) > 0 || v.s.Unread[InputVirtualServices] != nil || v.s.Unread[InputGateways] != nil
	api = len(v.apiRoutes) > 0 || v.s.Unread[InputHTTPRoutes] != nil || v.s.Unread[InputGatewayAPIGateways] != nil
	return classic || !api, api
}

// deployedGatewayPod reports whether p is a pod Istio deployed for a
// Gateway API Gateway of its namespace: Istio runs those outside ztunnel on
// purpose (istio.io/dataplane-mode=none in its kube-gateway template).
func (v *view) deployedGatewayPod(p Object) bool {
	name := p.Labels[gatewayapi.GatewayNameLabel]
	if name == "" || p.Labels[gatewayapi.ManagedLabel] == "" {
		return false
	}
	// Without the Gateways, the labels Istio sets are taken at their word.
	return v.s.gatewayAPIGateway(p.Namespace, name) != nil || v.s.Unread[InputGatewayAPIGateways] != nil
}

// appPods are the namespace's pods but those Istio deploys for Gateways,
// and how many of those were left out.
func (v *view) appPods() (pods []Object, gateways int) {
	for _, p := range v.s.Pods {
		if v.deployedGatewayPod(p) {
			gateways++
			continue
		}
		pods = append(pods, p)
	}
	return pods, gateways
}

// unidentifiedGateways say which of the application's Gateway API Gateways
// are unmanaged (gatewayapi.Gateway.Managed): bound by spec.addresses to
// proxies istiod did not deploy, whose identity verify cannot tell.
func (v *view) unidentifiedGateways() []string {
	var out []string
	for _, gw := range v.apiGateways {
		if !gw.Managed() {
			out = append(out, fmt.Sprintf("Gateway %s is unmanaged (spec.addresses %s): istiod deploys no gateway for it",
				key(gw.Namespace, gw.Name), strings.Join(gw.AddressValues(), ", ")))
		}
	}
	return out
}
