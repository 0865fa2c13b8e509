package check

import (
	"fmt"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// gatewayRequest is a client's request to one listener of the
// application's ingress gateway.
type gatewayRequest struct {
	proxy istio.GatewayProxy
	req   istio.ClientRequest
	// gateway names the gateway for messages: its pod, or its Gateway.
	gateway string
}

// clientRequests are the requests a client makes to the application's
// gateways: GET / for each host, on each listener that serves the
// application or redirects to it, at the port the gateway's Envoy listens
// on, through every proxy that serves them.
func (v *checkView) clientRequests() []gatewayRequest {
	var out []gatewayRequest
	seen := map[string]bool{}
	add := func(proxy istio.GatewayProxy, gateway string, port int32, hosts []string) {
		if len(hosts) == 0 {
			// A listener of any host: a client's host is not known, and
			// rules on hosts are undecided for it.
			hosts = []string{""}
		}
		for _, h := range hosts {
			r := gatewayRequest{proxy: proxy, gateway: gateway,
				req: istio.ClientRequest{Host: istio.ExampleHost(h, v.s.Namespace), Port: port, Method: "GET", Path: "/"}}
			k := fmt.Sprintf("%s|%v|%s|%d|%s", proxy.Namespace, proxy.Labels, proxy.GatewayName, port, r.req.Host)
			if !seen[k] {
				seen[k] = true
				out = append(out, r)
			}
		}
	}
	for _, gw := range v.Gateways {
		for _, pod := range v.GatewayPods(gw) {
			proxy := istio.GatewayProxy{Namespace: pod.Namespace, Labels: pod.Labels}
			for _, srv := range gw.Servers {
				if srv.Port.Protocol != "HTTPS" && srv.Port.Protocol != "HTTP" {
					continue
				}
				add(proxy, "gateway pod "+snapshot.Key(pod.Namespace, pod.Name), v.ListenPort(pod, srv.Port.Number), v.ClientHosts(snapshot.GatewayServer{Gateway: gw, Server: srv}))
			}
		}
	}
	for _, gw := range v.APIGateways {
		proxy := v.deployedGatewayProxy(gw)
		name := "Gateway " + snapshot.Key(gw.Namespace, gw.Name)
		for _, l := range v.APIListeners {
			if l.Gateway.Namespace == gw.Namespace && l.Gateway.Name == gw.Name {
				add(proxy, name, l.Listener.Port, v.APIClientHosts(l))
			}
		}
		for _, p := range v.APIPlainListeners() {
			if p.Gateway.Namespace != gw.Namespace || p.Gateway.Name != gw.Name || len(p.Redirects) == 0 {
				continue
			}
			var hosts []string
			if p.Listener.Hostname != "" && !strings.HasPrefix(p.Listener.Hostname, "*") {
				hosts = []string{p.Listener.Hostname}
			}
			add(proxy, name, p.Listener.Port, hosts)
		}
	}
	return out
}

// deployedGatewayProxy is the gateway Istio deploys for gw: its pods when
// they are among those read, else the labels Istio's gateway template puts
// on them (the gateway's name and class, the canonical name).
func (v *checkView) deployedGatewayProxy(gw gatewayapi.Gateway) istio.GatewayProxy {
	proxy := istio.GatewayProxy{Namespace: gw.Namespace, GatewayName: gw.Name}
	for _, p := range v.s.Pods {
		if p.Namespace == gw.Namespace && p.Labels[gatewayapi.GatewayNameLabel] == gw.Name && v.DeployedGatewayPod(p) {
			proxy.Labels = p.Labels
			return proxy
		}
	}
	proxy.Labels = map[string]string{
		gatewayapi.GatewayNameLabel:                    gw.Name,
		"gateway.networking.k8s.io/gateway-class-name": gw.ClassName,
		gatewayapi.ManagedLabel:                        "istio.io-gateway-controller",
		"service.istio.io/canonical-name":              gatewayapi.DeploymentName(gw),
	}
	return proxy
}

// checkGatewayAdmitsClients evaluates, for each request a client makes to
// the application's gateways, the AuthorizationPolicies istiod attaches to
// the gateway's own Envoy (istio.EvaluateAtGateway). A client outside the
// mesh has no principal: a namespace-wide ALLOW of mesh identities in the
// namespace of a gateway Istio deployed there shuts every client out, on
// every port. Policies that decide by the caller's credentials (a token,
// an external authorizer) are left to the Authentication checks: a client
// with them is the one to admit.
func checkGatewayAdmitsClients(v *checkView) Result {
	var undecided, admitted []string
	policies := withoutCredentialPolicies(v.s.AuthorizationPolicies)
	for _, r := range v.clientRequests() {
		d := istio.EvaluateAtGateway(policies, v.rootNamespace(), r.proxy, r.req)
		host := r.req.Host
		if host == "" {
			host = "any host"
		}
		where := fmt.Sprintf("GET / for %s on port %d of %s", host, r.req.Port, r.gateway)
		switch d.Admitted {
		case istio.No:
			return gatewayRefuses(d, r, where)
		case istio.Undecided:
			undecided = append(undecided, fmt.Sprintf("%s (%s)", where, policyNames(d.Applied)))
		case istio.Yes:
			if d.Allow != nil {
				admitted = append(admitted, snapshot.Key(d.Allow.Namespace, d.Allow.Name))
			}
		}
	}
	switch {
	case len(undecided) > 0:
		return warn("check that the policies on the gateway admit the clients you expect (kubectl get authorizationpolicy -A)",
			"whether the gateway lets clients through depends on their address, their headers or an external authorizer, which verify cannot tell: %s", strings.Join(undecided, "; "))
	case len(admitted) == 0:
		return pass("no AuthorizationPolicy on the gateway refuses clients")
	}
	sort.Strings(admitted)
	return pass("clients admitted by %s", strings.Join(compact(admitted), ", "))
}

// gatewayRefuses says which policy makes the gateway answer clients 403.
func gatewayRefuses(d istio.GatewayDecision, r gatewayRequest, where string) Result {
	if d.Deny != nil {
		return fail(fmt.Sprintf("narrow DENY policy %s so that it does not match the application's clients (kubectl get authorizationpolicy %s -n %s -o yaml)", snapshot.Key(d.Deny.Namespace, d.Deny.Name), d.Deny.Name, d.Deny.Namespace),
			"the gateway answers clients 403 (RBAC: access denied): DENY policy %s matches %s", snapshot.Key(d.Deny.Namespace, d.Deny.Name), where)
	}
	fix := fmt.Sprintf("give namespace-wide ALLOW policies of %s a selector of the application's pods, so that they leave the gateway alone", r.proxy.Namespace)
	if r.proxy.GatewayName != "" {
		fix = fmt.Sprintf("admit clients with an ALLOW policy bound to the Gateway, which ztunnel ignores: in namespace %s, spec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: %s}], rules: [{}]} (kubectl opea secure --lockdown writes one for its Gateway)",
			r.proxy.Namespace, r.proxy.GatewayName)
	}
	return fail(fix, "the gateway answers clients 403 (RBAC: access denied): ALLOW policies %s apply to the gateway itself and none admits a client without a mesh identity (%s)", policyNames(d.Allows), where)
}

// withoutCredentialPolicies are ps but those that decide by the caller's
// credentials (istio.RequiresCredentials).
func withoutCredentialPolicies(ps []istio.AuthorizationPolicy) []istio.AuthorizationPolicy {
	out := make([]istio.AuthorizationPolicy, 0, len(ps))
	for _, p := range ps {
		if !p.RequiresCredentials() {
			out = append(out, p)
		}
	}
	return out
}
