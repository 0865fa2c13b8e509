package check

import (
	"fmt"
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// ---- Ingress gateway

func checkGatewayFound(v *checkView) Result {
	if len(v.Routes) == 0 && len(v.APIRoutes) == 0 {
		if r, ok := v.missing(needIngressFound...); !ok {
			return r
		}
		return fail(fmt.Sprintf("kubectl opea secure -n %s --host <host> (an Istio Gateway), or kubectl opea secure -n %s --host <host> --gateway-api (a Gateway API Gateway)", v.s.Namespace, v.s.Namespace),
			"no %s routes to a Service in namespace %s", v.routeKinds(), v.s.Namespace)
	}
	if v.s.EntryService != "" || v.s.EntryPort != 0 {
		if r, ok := v.routesToEntry(); !ok {
			return r
		}
	}
	var found []string
	if len(v.Routes) > 0 {
		var names []string
		for _, gw := range v.Gateways {
			names = append(names, snapshot.Key(gw.Namespace, gw.Name))
		}
		var routes []string
		for _, vs := range v.Routes {
			routes = append(routes, snapshot.Key(vs.Namespace, vs.Name))
		}
		if len(names) == 0 {
			found = append(found, fmt.Sprintf("VirtualService %s (its Gateway is checked under Routing)", strings.Join(routes, ", ")))
		} else {
			found = append(found, fmt.Sprintf("Gateway %s, VirtualService %s", strings.Join(names, ", "), strings.Join(routes, ", ")))
		}
	}
	if len(v.APIRoutes) > 0 {
		if len(v.APIGateways) == 0 {
			found = append(found, fmt.Sprintf("HTTPRoute %s (its Gateway is checked under %s)", routeNames(v.APIRoutes), CategoryGatewayAPI))
		} else {
			found = append(found, fmt.Sprintf("Gateway API Gateway %s, HTTPRoute %s", gatewayNames(v.APIGateways), routeNames(v.APIRoutes)))
		}
	}
	return pass("%s", strings.Join(found, "; "))
}

// routeKinds names the kinds of route verify looks for: HTTPRoutes too
// when the Gateway API is served.
func (v *checkView) routeKinds() string {
	if v.s.APIs.GatewayAPI != "" {
		return "VirtualService or HTTPRoute"
	}
	return "VirtualService"
}

// routesToEntry reports whether a route of the application reaches the
// entry Service and port that --service and --port name; a route without a
// port reaches the Service's only port.
func (v *checkView) routesToEntry() (Result, bool) {
	for _, r := range v.APIRoutes {
		for _, b := range r.ServiceBackends(v.s.Namespace) {
			if (v.s.EntryService == "" || b.Name == v.s.EntryService) && (v.s.EntryPort == 0 || (b.Port != nil && *b.Port == v.s.EntryPort)) {
				return Result{}, true
			}
		}
	}
	for _, vs := range v.Routes {
		for _, h := range vs.HTTP {
			for _, r := range h.Route {
				ns, name := snapshot.DestinationService(vs.Namespace, r.Destination.Host)
				if ns != v.s.Namespace || (v.s.EntryService != "" && name != v.s.EntryService) {
					continue
				}
				port := r.Destination.PortNumber()
				if v.s.EntryPort == 0 || port == v.s.EntryPort {
					return Result{}, true
				}
				if port != 0 {
					continue
				}
				if r, ok := v.missing(snapshot.InputServices); !ok {
					return r, false
				}
				if svc := v.s.Service(ns, name); svc != nil && len(svc.Ports) == 1 && svc.Ports[0].Port == v.s.EntryPort {
					return Result{}, true
				}
			}
		}
	}
	target := "a Service in namespace " + v.s.Namespace
	fix := v.secureCommand()
	if v.s.EntryService != "" {
		target = "Service " + snapshot.Key(v.s.Namespace, v.s.EntryService)
		fix += " --service " + v.s.EntryService
	}
	if v.s.EntryPort != 0 {
		target += fmt.Sprintf(" port %d", v.s.EntryPort)
		fix += fmt.Sprintf(" --port %d", v.s.EntryPort)
	}
	return fail(fix, "no %s routes to %s", v.routeKinds(), target), false
}

func checkSelectorMatches(v *checkView) Result {
	for _, gw := range v.Gateways {
		if len(v.GatewayPods(gw)) == 0 && len(v.s.GatewayPods[snapshot.Key(gw.Namespace, gw.Name)]) > 0 {
			return fail(fmt.Sprintf("create the Gateway in the gateway pods' namespace (%s): istiod runs with PILOT_SCOPE_GATEWAY_TO_NAMESPACE=true",
				v.s.GatewayPods[snapshot.Key(gw.Namespace, gw.Name)][0].Namespace),
				"Gateway %s selects only gateway pods of its own namespace, and none runs there", snapshot.Key(gw.Namespace, gw.Name))
		}
		if len(v.GatewayPods(gw)) == 0 {
			return fail("set the Gateway's selector to the ingress gateway pods' labels (kubectl get pods -A -l istio=ingress --show-labels)",
				"Gateway %s selects %s, which matches no pod", snapshot.Key(gw.Namespace, gw.Name), labels.Set(gw.Selector))
		}
	}
	gw := v.Gateways[0]
	return pass("%s matches %d pods in %s", labels.Set(gw.Selector), len(v.GatewayPods(gw)), strings.Join(v.GatewayPodNamespaces(gw), ", "))
}

func checkServicePorts(v *checkView) Result {
	for _, gw := range v.Gateways {
		if len(v.GatewayPods(gw)) == 0 {
			return skip("the Gateway matches no pod")
		}
		for _, pod := range v.GatewayPods(gw) {
			services := v.PodServices(pod)
			for _, srv := range gw.Servers {
				// istiod translates a Service port to its targetPort and
				// takes any other number as the pod port itself.
				listen := v.ListenPort(pod, srv.Port.Number)
				reachable := false
				for _, svc := range services {
					_, ok := snapshot.Forwarded(svc, pod, listen)
					reachable = reachable || ok
				}
				if !reachable {
					return fail("use a port of the gateway Service (or the pod port it targets), or add it to the Service",
						"Gateway %s listens on %d for server port %d, which no Service of pod %s forwards to",
						snapshot.Key(gw.Namespace, gw.Name), listen, srv.Port.Number, snapshot.Key(pod.Namespace, pod.Name))
				}
			}
		}
	}
	return pass("every server port reaches the gateway pods through their Service")
}

func checkHTTPSServer(v *checkView) Result {
	for _, gw := range v.Gateways {
		for _, srv := range gw.Servers {
			if srv.Port.Protocol != "HTTPS" {
				continue
			}
			if srv.TLS == nil || (srv.TLS.Mode != "SIMPLE" && srv.TLS.Mode != "MUTUAL") || len(srv.TLS.Credentials()) == 0 {
				return fail("set tls.mode SIMPLE and tls.credentialName (or credentialNames) on the HTTPS server (kubectl opea secure does)",
					"Gateway %s port %d is HTTPS without tls.mode SIMPLE or MUTUAL and a credentialName or credentialNames", snapshot.Key(gw.Namespace, gw.Name), srv.Port.Number)
			}
		}
	}
	if len(v.HTTPSServers()) == 0 {
		return fail(v.secureCommand(), "no Gateway of the application terminates TLS")
	}
	s := v.HTTPSServers()[0]
	return pass("%s port %d, %s, credential %s", snapshot.Key(s.Gateway.Namespace, s.Gateway.Name), s.Server.Port.Number, s.Server.TLS.Mode, strings.Join(s.Server.TLS.Credentials(), ", "))
}

func checkHTTPRedirect(v *checkView) Result {
	plain := 0
	for _, gw := range v.Gateways {
		for _, srv := range gw.Servers {
			if srv.Port.Protocol != "HTTP" {
				continue
			}
			plain++
			if srv.TLS == nil || !srv.TLS.HTTPSRedirect {
				return warn("set tls.httpsRedirect: true on the HTTP server (kubectl opea secure does)",
					"Gateway %s port %d serves the application in plaintext", snapshot.Key(gw.Namespace, gw.Name), srv.Port.Number)
			}
		}
	}
	if plain == 0 {
		return pass("no plaintext listener")
	}
	return pass("HTTP redirects to HTTPS")
}

func checkNoConflicts(v *checkView) Result {
	ours := map[string]bool{}
	for _, gw := range v.Gateways {
		ours[snapshot.Key(gw.Namespace, gw.Name)] = true
	}
	lost, won := map[string]bool{}, map[string]bool{}
	for _, gw := range v.Gateways {
		for _, pod := range v.GatewayPods(gw) {
			// Every Gateway on this pod, whoever it routes for.
			var onPod []istio.Gateway
			for _, other := range v.s.Gateways {
				if istio.SelectsPod(other, pod.Labels) {
					onPod = append(onPod, other)
				}
			}
			resolve := func(n int32) int32 { return v.ListenPort(pod, n) }
			for _, d := range istio.DroppedServers(onPod, resolve) {
				msg := fmt.Sprintf("istiod keeps %s and drops the port %d server of %s: both claim host %s on listener port %d",
					snapshot.Key(d.Keeper.Namespace, d.Keeper.Name), d.Server.Port.Number, snapshot.Key(d.Gateway.Namespace, d.Gateway.Name), d.Host, d.Port)
				switch {
				case ours[snapshot.Key(d.Gateway.Namespace, d.Gateway.Name)]:
					lost[msg] = true
				case ours[snapshot.Key(d.Keeper.Namespace, d.Keeper.Name)]:
					won[msg] = true
				}
			}
		}
	}
	if len(lost) > 0 {
		return fail("give each Gateway on these pods its own hosts (kubectl opea secure --host), or delete the older Gateway",
			"%s", strings.Join(sortedKeys(lost), "; "))
	}
	if len(won) > 0 {
		return warn("give the other Gateway its own hosts: its server is dropped",
			"%s", strings.Join(sortedKeys(won), "; "))
	}
	return pass("no other Gateway on the same pods claims the same host and port")
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// ---- Routing

func checkGatewayRefs(v *checkView) Result {
	for _, vs := range v.Routes {
		// "mesh" (or no entry at all) binds the routes to sidecars and
		// waypoints only: no gateway serves them.
		bound := false
		for _, ref := range vs.Gateways {
			_, _, ok := istio.ResolveGatewayRef(vs.Namespace, ref)
			bound = bound || ok
		}
		if !bound {
			return fail(fmt.Sprintf("add the Gateway as <namespace>/<name> to spec.gateways of VirtualService %s", snapshot.Key(vs.Namespace, vs.Name)),
				"VirtualService %s is bound to no Gateway (only the mesh)", snapshot.Key(vs.Namespace, vs.Name))
		}
		for _, ref := range vs.Gateways {
			ns, name, ok := istio.ResolveGatewayRef(vs.Namespace, ref)
			if !ok || v.s.Gateway(ns, name) != nil {
				continue
			}
			hint := fmt.Sprintf("create Gateway %s/%s or fix the reference", ns, name)
			for _, gw := range v.s.Gateways {
				if gw.Name == name && gw.Namespace != ns {
					hint = fmt.Sprintf("write the reference as %s/%s: a Gateway in another namespace needs the namespace prefix", gw.Namespace, gw.Name)
				}
			}
			return fail(hint, "VirtualService %s refers to Gateway %q, which resolves to %s/%s: not found", snapshot.Key(vs.Namespace, vs.Name), ref, ns, name)
		}
	}
	return pass("every reference resolves")
}

func checkHostsIntersect(v *checkView) Result {
	for _, vs := range v.Routes {
		for _, ref := range vs.Gateways {
			ns, name, ok := istio.ResolveGatewayRef(vs.Namespace, ref)
			gw := v.s.Gateway(ns, name)
			if !ok || gw == nil {
				continue
			}
			var gwHosts []string
			bound := false
			for _, srv := range gw.Servers {
				gwHosts = append(gwHosts, srv.Hosts...)
				for _, h := range srv.Hosts {
					for _, vh := range vs.Hosts {
						bound = bound || istio.GatewayHostBinds(h, gw.Namespace, vh, vs.Namespace)
					}
				}
			}
			if !bound {
				return fail("use the Gateway's hosts in the VirtualService (kubectl opea secure sets both from --host); a Gateway host <ns>/<host> admits only VirtualServices of <ns>",
					"VirtualService %s hosts %s match none of Gateway %s's hosts %s: requests get 404",
					snapshot.Key(vs.Namespace, vs.Name), strings.Join(vs.Hosts, ","), snapshot.Key(ns, name), strings.Join(gwHosts, ","))
			}
		}
	}
	// Every HTTPS server needs a route of its own: istiod gives a server
	// only the VirtualServices whose hosts it binds, and answers 404 on a
	// TLS connection that has none.
	for _, gs := range v.HTTPSServers() {
		if !v.serverHasRoute(gs) {
			return fail("use the Gateway's hosts in the VirtualService (kubectl opea secure sets both from --host); a Gateway host <ns>/<host> admits only VirtualServices of <ns>",
				"the HTTPS server on port %d of Gateway %s (hosts %s) admits none of the VirtualServices bound to it: requests get 404",
				gs.Server.Port.Number, snapshot.Key(gs.Gateway.Namespace, gs.Gateway.Name), strings.Join(gs.Server.Hosts, ","))
		}
	}
	return pass("hosts intersect")
}

// serverHasRoute reports whether a route of the application is bound to the
// server's Gateway with a host the server admits.
func (v *checkView) serverHasRoute(gs snapshot.GatewayServer) bool {
	for _, vs := range v.Routes {
		for _, ref := range vs.Gateways {
			ns, name, ok := istio.ResolveGatewayRef(vs.Namespace, ref)
			if !ok || ns != gs.Gateway.Namespace || name != gs.Gateway.Name {
				continue
			}
			for _, h := range gs.Server.Hosts {
				for _, vh := range vs.Hosts {
					if istio.GatewayHostBinds(h, gs.Gateway.Namespace, vh, vs.Namespace) {
						return true
					}
				}
			}
		}
	}
	return false
}

func checkDestinations(v *checkView) Result {
	for _, vs := range v.Routes {
		for _, h := range vs.HTTP {
			for _, r := range h.Route {
				ns, name := snapshot.DestinationService(vs.Namespace, r.Destination.Host)
				if ns != v.s.Namespace {
					continue
				}
				svc := v.s.Service(ns, name)
				if svc == nil {
					return fail(fmt.Sprintf("create Service %s/%s or route to an existing one", ns, name),
						"VirtualService %s routes to Service %s/%s, which does not exist", snapshot.Key(vs.Namespace, vs.Name), ns, name)
				}
				port := r.Destination.PortNumber()
				if port == 0 {
					if len(svc.Ports) != 1 {
						return fail("set destination.port.number", "VirtualService %s routes to %s/%s without a port, and it has %d ports", snapshot.Key(vs.Namespace, vs.Name), ns, name, len(svc.Ports))
					}
					continue
				}
				found := false
				for _, p := range svc.Ports {
					found = found || p.Port == port
				}
				if !found {
					return fail("use one of the Service's ports", "VirtualService %s routes to %s/%s port %d, which the Service lacks", snapshot.Key(vs.Namespace, vs.Name), ns, name, port)
				}
			}
		}
	}
	return pass("every destination exists")
}
