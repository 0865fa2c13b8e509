package gatewayapi

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// The reasons a listener turns a route's parentRef away, as istiod writes
// them in the route's Accepted condition (ParentError* in
// pilot/pkg/config/kube/gateway/conditions.go).
const (
	// ReasonNoMatchingParent: the parentRef's sectionName or port is not
	// the listener's.
	ReasonNoMatchingParent = "NoMatchingParent"
	// ReasonNotAllowedByListeners: the listener does not admit the route's
	// namespace (allowedRoutes.namespaces) or kind (allowedRoutes.kinds).
	ReasonNotAllowedByListeners = "NotAllowedByListeners"
	// ReasonNoMatchingListenerHostname: no hostname of the route meets the
	// listener's.
	ReasonNoMatchingListenerHostname = "NoMatchingListenerHostname"
)

// Denial is why a listener does not take a route; the zero Denial means it
// does.
type Denial struct {
	Reason  string
	Message string
}

// Attached reports whether the listener takes the route.
func (d Denial) Attached() bool { return d.Reason == "" }

// NamespaceLabels returns the labels of a namespace, and whether they are
// known.
type NamespaceLabels func(namespace string) (map[string]string, bool)

// Attach decides whether listener l of gw takes route r through its
// parentRef ref, as istiod's referenceAllowed does for each listener of the
// Gateway ref names: the parentRef's port and sectionName, when set, must
// be the listener's; then some hostname of the route (any, when it has
// none) must meet the listener's (any, when it has none) and the listener
// must admit the route's namespace (allowedRoutes.namespaces: Same by
// default, All, or a Selector over the namespace's labels); then the
// listener must admit HTTPRoutes (HTTP and HTTPS listeners do unless
// allowedRoutes.kinds leaves them out). A route attaches to a Gateway when
// some listener takes it; a parentRef without sectionName is not judged by
// the listeners that turn it away. When nsLabels does not know the route
// namespace's labels, a Selector is taken to admit it.
func Attach(r HTTPRoute, ref ParentRef, gw Gateway, l Listener, nsLabels NamespaceLabels) Denial {
	if !ref.IsGateway() || ref.Name != gw.Name || ref.GatewayNamespace(r.Namespace) != gw.Namespace {
		return Denial{ReasonNoMatchingParent, fmt.Sprintf("the parentRef names Gateway %s/%s", ref.GatewayNamespace(r.Namespace), ref.Name)}
	}
	if ref.Port != 0 && ref.Port != l.Port {
		return Denial{ReasonNoMatchingParent, fmt.Sprintf("port %d not found", ref.Port)}
	}
	if ref.SectionName != "" && ref.SectionName != l.Name {
		return Denial{ReasonNoMatchingParent, fmt.Sprintf("sectionName %q not found", ref.SectionName)}
	}
	listenerHost := l.Hostname
	if listenerHost == "" {
		listenerHost = "*"
	}
	routeHosts := r.Hostnames
	if len(routeHosts) == 0 {
		routeHosts = []string{"*"}
	}
	if !istio.HostsIntersect([]string{listenerHost}, routeHosts) {
		return Denial{ReasonNoMatchingListenerHostname, fmt.Sprintf("no hostnames matched parent hostname %q", l.Hostname)}
	}
	if !l.admitsNamespace(gw.Namespace, r.Namespace, nsLabels) {
		return Denial{ReasonNotAllowedByListeners, fmt.Sprintf("hostnames matched parent hostname %q, but namespace %q is not allowed by the parent", l.Hostname, r.Namespace)}
	}
	if !l.admitsHTTPRoutes() {
		return Denial{ReasonNotAllowedByListeners, fmt.Sprintf("kind HTTPRoute is not allowed by listener %s (protocol %s)", l.Name, l.Protocol)}
	}
	return Denial{}
}

// admitsNamespace is istiod's namespacesFromSelector: Same (the default)
// admits routes of the Gateway's namespace, All any, Selector those whose
// namespace's labels (with kubernetes.io/metadata.name) it matches.
func (l Listener) admitsNamespace(gatewayNamespace, routeNamespace string, nsLabels NamespaceLabels) bool {
	if l.AllowedRoutes == nil || l.AllowedRoutes.Namespaces == nil {
		return routeNamespace == gatewayNamespace
	}
	ns := l.AllowedRoutes.Namespaces
	switch ns.From {
	case "", "Same":
		return routeNamespace == gatewayNamespace
	case "All":
		return true
	case "Selector":
		if ns.Selector == nil {
			return true // istiod: "should never happen, invalid config"
		}
		sel, err := metav1.LabelSelectorAsSelector(ns.Selector)
		if err != nil {
			return false
		}
		got, known := map[string]string(nil), false
		if nsLabels != nil {
			got, known = nsLabels(routeNamespace)
		}
		if !known {
			return true
		}
		set := labels.Set{"kubernetes.io/metadata.name": routeNamespace}
		for k, v := range got {
			set[k] = v
		}
		return sel.Matches(set)
	}
	return false
}

// admitsHTTPRoutes is istiod's GenerateGatewaySupportedKinds for an
// HTTPRoute: HTTP and HTTPS listeners take them, unless allowedRoutes.kinds
// lists kinds without HTTPRoute.
func (l Listener) admitsHTTPRoutes() bool {
	if l.Protocol != "HTTP" && l.Protocol != "HTTPS" {
		return false
	}
	if l.AllowedRoutes == nil || len(l.AllowedRoutes.Kinds) == 0 {
		return true
	}
	for _, k := range l.AllowedRoutes.Kinds {
		if k.Kind == "HTTPRoute" && (k.Group == nil || *k.Group == Group) {
			return true
		}
	}
	return false
}

// ParentDenial is what istiod reports for route r's parentRef ref on gw,
// over all of gw's listeners (createRouteStatus): attached when any listener
// takes it; otherwise the denial it ranks first, NotAllowedByListeners,
// then NoMatchingListenerHostname, then NoMatchingParent, with the messages
// of the listeners that gave it joined.
func ParentDenial(r HTTPRoute, ref ParentRef, gw Gateway, nsLabels NamespaceLabels) Denial {
	rank := map[string]int{ReasonNotAllowedByListeners: 1, ReasonNoMatchingListenerHostname: 2, ReasonNoMatchingParent: 3}
	best := Denial{ReasonNoMatchingParent, "the Gateway has no listener"}
	var messages []string
	for _, l := range gw.Listeners {
		d := Attach(r, ref, gw, l, nsLabels)
		switch {
		case d.Attached():
			return d
		case len(messages) == 0 || rank[d.Reason] < rank[best.Reason]:
			best, messages = d, []string{d.Message}
		case d.Reason == best.Reason:
			messages = append(messages, d.Message)
		}
	}
	best.Message = strings.Join(messages, "; ")
	if best.Message == "" {
		best.Message = "the Gateway has no listener"
	}
	return best
}

// GatewayParent reports whether r has a parentRef naming a Gateway: a route
// whose parents are all Services (GAMMA, mesh routing) configures waypoints
// and sidecars, not ingress.
func (r HTTPRoute) GatewayParent() bool {
	for _, ref := range r.ParentRefs {
		if ref.IsGateway() {
			return true
		}
	}
	return false
}
