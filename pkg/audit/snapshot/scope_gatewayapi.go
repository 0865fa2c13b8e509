package snapshot

import (
	"fmt"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// APIListener is one listener of a Gateway API Gateway.
type APIListener struct {
	Gateway  gatewayapi.Gateway
	Listener gatewayapi.Listener
}

func (l APIListener) String() string {
	return fmt.Sprintf("Gateway %s listener %s", Key(l.Gateway.Namespace, l.Gateway.Name), l.Listener.Name)
}

// findGatewayAPIIngress fills the scope's Gateway API part: the routes into
// the application namespace through a Gateway, their Gateways and the
// listeners they attach to. A route whose parents are all Services (GAMMA)
// routes inside the mesh and is no ingress.
func (v *Scope) findGatewayAPIIngress() {
	s := v.s
	seen := map[string]bool{}
	for _, r := range s.HTTPRoutes {
		if len(r.ServiceBackends(s.Namespace)) == 0 || !r.GatewayParent() {
			continue
		}
		v.APIRoutes = append(v.APIRoutes, r)
		for _, ref := range r.ParentRefs {
			ns := ref.GatewayNamespace(r.Namespace)
			if !ref.IsGateway() || seen[Key(ns, ref.Name)] {
				continue
			}
			if gw := s.GatewayAPIGateway(ns, ref.Name); gw != nil {
				seen[Key(ns, ref.Name)] = true
				v.APIGateways = append(v.APIGateways, *gw)
			}
		}
	}
	sort.Slice(v.APIGateways, func(i, j int) bool {
		return Key(v.APIGateways[i].Namespace, v.APIGateways[i].Name) < Key(v.APIGateways[j].Namespace, v.APIGateways[j].Name)
	})
	for _, gw := range v.APIGateways {
		for _, l := range gw.Listeners {
			if len(v.attachedRoutes(gw, l)) > 0 {
				v.APIListeners = append(v.APIListeners, APIListener{gw, l})
			}
		}
	}
}

func (s *Snapshot) GatewayAPIGateway(ns, name string) *gatewayapi.Gateway {
	for i := range s.GatewayAPIGateways {
		if s.GatewayAPIGateways[i].Namespace == ns && s.GatewayAPIGateways[i].Name == name {
			return &s.GatewayAPIGateways[i]
		}
	}
	return nil
}

func (s *Snapshot) GatewayClass(name string) *gatewayapi.GatewayClass {
	for i := range s.GatewayClasses {
		if s.GatewayClasses[i].Name == name {
			return &s.GatewayClasses[i]
		}
	}
	return nil
}

// attachedRoutes are the application's routes that listener l of gw takes,
// as istiod decides it (gatewayapi.Attach).
func (v *Scope) attachedRoutes(gw gatewayapi.Gateway, l gatewayapi.Listener) []gatewayapi.HTTPRoute {
	var out []gatewayapi.HTTPRoute
	for _, r := range v.APIRoutes {
		if v.takes(gw, l, r) {
			out = append(out, r)
		}
	}
	return out
}

// takes reports whether listener l of gw takes route r through one of its
// parentRefs.
func (v *Scope) takes(gw gatewayapi.Gateway, l gatewayapi.Listener, r gatewayapi.HTTPRoute) bool {
	for _, ref := range r.ParentRefs {
		if gatewayapi.Attach(r, ref, gw, l, v.NamespaceLabels).Attached() {
			return true
		}
	}
	return false
}

// NamespaceLabels knows the labels of the application namespace only.
func (v *Scope) NamespaceLabels(ns string) (map[string]string, bool) {
	if ns != v.s.Namespace || v.s.NamespaceLabels == nil {
		return nil, false
	}
	return v.s.NamespaceLabels, true
}

// SecretRefs are the certificateRefs of l that name Secrets.
func SecretRefs(l gatewayapi.Listener) []gatewayapi.SecretReference {
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

// APITLSListeners are the application's listeners that terminate TLS with
// a Secret.
func (v *Scope) APITLSListeners() []APIListener {
	var out []APIListener
	for _, l := range v.APIListeners {
		if l.Listener.Terminates() && len(SecretRefs(l.Listener)) > 0 {
			out = append(out, l)
		}
	}
	return out
}

// APIClientHosts are the names clients use for l: the hostnames its
// routes of the application serve on it, without "*"; empty means any name.
func (v *Scope) APIClientHosts(l APIListener) []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range v.attachedRoutes(l.Gateway, l.Listener) {
		for _, h := range gatewayapi.RouteHostnames(l.Listener.Hostname, r.Hostnames) {
			if h != "*" && !seen[h] {
				seen[h] = true
				out = append(out, h)
			}
		}
	}
	return out
}

// PlainListener is an HTTP listener of the application's Gateways, with
// the routes attached to it: the application's (served in plaintext) and
// those that only redirect.
type PlainListener struct {
	APIListener
	Served, Redirects []gatewayapi.HTTPRoute
}

// APIPlainListeners are the HTTP listeners of the application's Gateways.
func (v *Scope) APIPlainListeners() []PlainListener {
	var out []PlainListener
	for _, gw := range v.APIGateways {
		for _, l := range gw.Listeners {
			if l.Protocol != "HTTP" {
				continue
			}
			p := PlainListener{APIListener: APIListener{gw, l}, Served: v.attachedRoutes(gw, l)}
			for _, r := range v.s.HTTPRoutes {
				if r.Redirects() && v.takes(gw, l, r) {
					p.Redirects = append(p.Redirects, r)
				}
			}
			out = append(out, p)
		}
	}
	return out
}

// IngressInUse says which kinds of ingress the checks judge: those that
// route to the application, and those that could not be read (their
// checks are then unknown). With neither, the classic one, as before the
// Gateway API was known.
func (v *Scope) IngressInUse() (classic, api bool) {
	classic = len(v.Routes) > 0 || v.s.Unread[InputVirtualServices] != nil || v.s.Unread[InputGateways] != nil
	api = len(v.APIRoutes) > 0 || v.s.Unread[InputHTTPRoutes] != nil || v.s.Unread[InputGatewayAPIGateways] != nil
	return classic || !api, api
}

// DeployedGatewayPod reports whether p is a pod Istio deployed for a
// Gateway API Gateway of its namespace: Istio runs those outside ztunnel on
// purpose (istio.io/dataplane-mode=none in its kube-gateway template).
func (v *Scope) DeployedGatewayPod(p Object) bool {
	name := p.Labels[gatewayapi.GatewayNameLabel]
	if name == "" || p.Labels[gatewayapi.ManagedLabel] == "" {
		return false
	}
	// Without the Gateways, the labels Istio sets are taken at their word.
	return v.s.GatewayAPIGateway(p.Namespace, name) != nil || v.s.Unread[InputGatewayAPIGateways] != nil
}

// AppPods are the namespace's pods but those Istio deploys for Gateways,
// and how many of those were left out. The pods are the snapshot's own
// where none is left out (the checks call this a dozen times per
// namespace, and read what it returns); an append to them copies.
func (v *Scope) AppPods() (pods []Object, gateways int) {
	for _, p := range v.s.Pods {
		if v.DeployedGatewayPod(p) {
			gateways++
		}
	}
	if gateways == 0 {
		return v.s.Pods[:len(v.s.Pods):len(v.s.Pods)], 0
	}
	pods = make([]Object, 0, len(v.s.Pods)-gateways)
	for _, p := range v.s.Pods {
		if !v.DeployedGatewayPod(p) {
			pods = append(pods, p)
		}
	}
	return pods, gateways
}

// UnidentifiedGateways say which of the application's Gateway API Gateways
// are unmanaged (gatewayapi.Gateway.Managed): bound by spec.addresses to
// proxies istiod did not deploy, whose identity verify cannot tell.
func (v *Scope) UnidentifiedGateways() []string {
	var out []string
	for _, gw := range v.APIGateways {
		if !gw.Managed() {
			out = append(out, fmt.Sprintf("Gateway %s is unmanaged (spec.addresses %s): istiod deploys no gateway for it",
				Key(gw.Namespace, gw.Name), strings.Join(gw.AddressValues(), ", ")))
		}
	}
	return out
}
