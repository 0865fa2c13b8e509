package check

import (
	"bytes"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// ---- Live TLS probe

func checkProbeHandshake(v *checkView) Result {
	p := v.s.Probe
	if p == nil && v.s.ProbeOff {
		return skip("the live probe was turned off (--probe=false)")
	}
	if p == nil {
		what := "the gateway Service has no load balancer address"
		if len(v.HTTPSServers()) == 0 {
			what = "the Gateway has no address in its status"
		}
		return warn(fmt.Sprintf("pass --probe-address HOST:PORT of the gateway's HTTPS listener (e.g. after %s)", v.portForwardHint()),
			"no address to probe: %s", what)
	}
	if p.Skipped != "" {
		return skip("not probed: %s (with no load balancer address to probe, verify probes through a port-forward to a gateway pod)", p.Skipped)
	}
	if failure := p.Unprobed(); failure != "" {
		return warn(fmt.Sprintf("try the same by hand (%s), or pass --probe-address HOST:PORT that reaches the gateway", v.portForwardHint()),
			"could not check, the probe did not reach the gateway%s: %s", viaLabel(p), failure)
	}
	var late []string
	for _, h := range p.Hosts {
		switch {
		case h.TimedOut && h.Served == nil:
			late = append(late, h.Host)
		case h.ConnectErr != "" && p.Guessed:
			return warn("pass --probe-address HOST:PORT that reaches the gateway from here", "could not connect to %s (%s): %s", p.Address, v.guessedFrom(), h.ConnectErr)
		case h.ConnectErr != "":
			return fail("check --probe-address", "could not connect to %s: %s", p.Address, h.ConnectErr)
		case h.HandshakeErr != "":
			return fail("check that the gateway serves the Secret's certificate for this host, and that clients trust its CA",
				"TLS handshake with %s for %s failed: %s", p.Address, h.Host, h.HandshakeErr)
		}
	}
	if len(late) > 0 {
		first := firstTimeout(p.Hosts)
		msg := fmt.Sprintf("%s did not answer in time for %d of %d hosts (%s): %s", p.Address, len(late), len(p.Hosts), shortList(late, 5), first)
		if p.Guessed {
			return warn("pass --probe-address HOST:PORT that reaches the gateway from here, or raise --probe-timeout", "%s", msg)
		}
		return fail("check that the gateway pods are ready and listen there ("+v.gatewayLogsHint()+"), or raise --probe-timeout", "%s", msg)
	}
	var hosts []string
	for _, h := range p.Hosts {
		hosts = append(hosts, h.Host)
	}
	if p.Via != "" {
		return pass("%s validated for %s; through a port-forward, the path does not cover the gateway Service and its load balancer", p.Address, strings.Join(hosts, ", "))
	}
	return pass("%s validated for %s", p.Address, strings.Join(hosts, ", "))
}

// viaLabel names the port-forward the probe went through, if any.
func viaLabel(p *snapshot.ProbeReport) string {
	if p == nil || p.Via == "" {
		return ""
	}
	return " (via " + p.Via + ")"
}

// firstTimeout is the error of the first host whose probe timed out before
// the handshake completed.
func firstTimeout(hosts []snapshot.HostProbe) string {
	for _, h := range hosts {
		if h.TimedOut && h.Served == nil {
			if h.ConnectErr != "" {
				return h.ConnectErr
			}
			return h.HandshakeErr
		}
	}
	return ""
}

// shortList joins names, the first n of them and how many more.
func shortList(names []string, n int) string {
	if len(names) > n {
		names = append(names[:n:n], fmt.Sprintf("and %d more", len(names)-n))
	}
	return strings.Join(names, ", ")
}

// handshakesSucceed reports whether p has hosts, and every one of them
// completed the TLS handshake.
func handshakesSucceed(p *snapshot.ProbeReport) bool {
	if p == nil || len(p.Hosts) == 0 {
		return false
	}
	for _, h := range p.Hosts {
		if h.ConnectErr != "" || h.HandshakeErr != "" || h.Served == nil {
			return false
		}
	}
	return true
}

func checkProbeServedCert(v *checkView) Result {
	ps := v.parsedCredentials()
	for _, h := range v.s.Probe.Hosts {
		matched := false
		for _, p := range ps {
			matched = matched || bytes.Equal(h.Served.Raw, p.Chain[0].Raw)
		}
		if !matched {
			return fail("wait for the gateway to load the new Secret, or check that no other Gateway claims this host",
				"for %s the gateway serves a certificate (serial %s) that is not the one in %s", h.Host, h.Served.SerialNumber, snapshot.SecretRef(ps[0].Secret))
		}
	}
	return pass("the served certificate is the Secret's%s", viaLabel(v.s.Probe))
}

func checkProbeRoute(v *checkView) Result {
	hosts := v.s.Probe.Hosts
	for _, h := range hosts {
		if h.StatusErr != "" {
			return fail("check the gateway's logs: "+v.gatewayLogsHint(), "GET https://%s/%s failed: %s", h.Host, viaLabel(v.s.Probe), h.StatusErr)
		}
		if h.Status >= 400 {
			return v.notTheApplication(h)
		}
	}
	return pass("GET / answered %d%s", hosts[0].Status, viaLabel(v.s.Probe))
}

// notTheApplication fails an answer of the gateway that is not the
// application's, with its likely cause: the gateway answers 404 without a
// route, 403 when its own RBAC refuses, 401 when it wants a token, and 503
// when it cannot reach the application (ztunnel at the entry pods refused
// it, or no endpoint is ready).
func (v *checkView) notTheApplication(h snapshot.HostProbe) Result {
	what := fmt.Sprintf("GET https://%s/%s answered %d", h.Host, viaLabel(v.s.Probe), h.Status)
	if h.Body != "" {
		what += fmt.Sprintf(" (%q)", h.Body)
	}
	switch {
	case h.Status == 404:
		hint := "check routing: the VirtualService's hosts and gateways must match the Gateway"
		if len(v.HTTPSServers()) == 0 {
			hint = "check routing: the HTTPRoute's parentRefs and hostnames must match the Gateway's HTTPS listener"
		}
		return fail(hint, "%s: no route", what)
	case h.Status == 403:
		return fail("see authorization.gateway-admits-clients, and kubectl get authorizationpolicy -A", "%s: the gateway's own authorization refuses clients%s", what, v.gatewayPoliciesFor(h.Host))
	case h.Status == 401:
		return fail("send a valid token, or check the RequestAuthentication and CUSTOM AuthorizationPolicies on the gateway (kubectl get requestauthentication,authorizationpolicy -A)",
			"%s: the gateway wants credentials verify does not send", what)
	case h.Status == 503 && strings.Contains(h.Body, "no healthy upstream"):
		return fail(fmt.Sprintf("check that the entry pods are ready (kubectl get endpointslices -n %s)", v.s.Namespace), "%s: the gateway has no ready endpoint of the application", what)
	case h.Status >= 500:
		return fail("see authorization.ingress-admitted (ztunnel at the entry pods resets a gateway it does not admit), and the gateway's logs: "+v.gatewayLogsHint(),
			"%s: the gateway could not get the application's answer", what)
	}
	return fail("check the gateway's logs: "+v.gatewayLogsHint(), "%s: not the application's answer", what)
}

// gatewayPoliciesFor names the policies the gateway applies to a client's
// request for host, as authorization.gateway-admits-clients judges them.
func (v *checkView) gatewayPoliciesFor(host string) string {
	for _, r := range v.clientRequests() {
		if r.req.Host != host {
			continue
		}
		d := istio.EvaluateAtGateway(v.s.AuthorizationPolicies, v.rootNamespace(), r.proxy, r.req)
		switch {
		case d.Deny != nil:
			return fmt.Sprintf(": DENY policy %s matches", snapshot.Key(d.Deny.Namespace, d.Deny.Name))
		case len(d.Allows) > 0 && d.Admitted == istio.No:
			return fmt.Sprintf(": ALLOW policies %s apply to the gateway and none admits a client", policyNames(d.Allows))
		case len(d.Custom) > 0:
			return fmt.Sprintf(": CUSTOM policies %s hand requests to an external authorizer", policyNames(d.Custom))
		}
	}
	return ""
}

func checkProbeRedirect(v *checkView) Result {
	p := v.s.Probe
	if p.RedirectErr != "" {
		if p.Guessed {
			return warn("pass --probe-http-address HOST:PORT that reaches the gateway from here", "could not reach %s: %s", p.HTTPAddress, p.RedirectErr)
		}
		return fail("check --probe-http-address", "plain HTTP to %s failed: %s", p.HTTPAddress, p.RedirectErr)
	}
	switch p.RedirectStatus {
	case 301, 302, 307, 308:
		if strings.HasPrefix(p.RedirectLocation, "https://") {
			return pass("%d to %s%s", p.RedirectStatus, p.RedirectLocation, viaLabel(p))
		}
	case 401, 403:
		// The gateway's authentication comes before the redirect; the
		// probe never sends a token over plain HTTP.
		if v.authenticationConfigured() {
			return pass("%d: requests without a token are refused before the redirect to HTTPS", p.RedirectStatus)
		}
	}
	hint := "set tls.httpsRedirect: true on the Gateway's HTTP server"
	if len(v.HTTPSServers()) == 0 {
		hint = "attach to the Gateway's HTTP listener an HTTPRoute whose RequestRedirect filter sets scheme https"
	}
	return fail(hint, "plain HTTP to %s answered %d (Location %q), not a redirect to https", p.HTTPAddress, p.RedirectStatus, p.RedirectLocation)
}

// portForwardHint is the kubectl port-forward that reaches the HTTPS
// listener of the application's gateway through its Service.
func (v *checkView) portForwardHint() string {
	for _, gs := range v.HTTPSServers() {
		for _, pod := range v.GatewayPods(gs.Gateway) {
			for _, svc := range v.PodServices(pod) {
				if port, ok := snapshot.Forwarded(svc, pod, v.ListenPort(pod, gs.Server.Port.Number)); ok {
					return fmt.Sprintf("kubectl port-forward -n %s svc/%s 8443:%d", svc.Namespace, svc.Name, port)
				}
			}
		}
	}
	if ls := v.APITLSListeners(); len(ls) > 0 && ls[0].Gateway.Managed() {
		return fmt.Sprintf("kubectl port-forward -n %s svc/%s 8443:%d", ls[0].Gateway.Namespace, gatewayapi.DeploymentName(ls[0].Gateway), ls[0].Listener.Port)
	}
	return "kubectl port-forward -n <gateway-namespace> svc/<gateway-service> 8443:443"
}

// guessedFrom says where a guessed probe address came from.
func (v *checkView) guessedFrom() string {
	if len(v.HTTPSServers()) == 0 {
		return "the Gateway's status address"
	}
	return "the gateway Service's address"
}

// gatewayLogsHint is the kubectl logs of the application's gateway pods.
func (v *checkView) gatewayLogsHint() string {
	for _, gw := range v.Gateways {
		if ns := v.GatewayPodNamespaces(gw); len(ns) > 0 {
			return fmt.Sprintf("kubectl logs -n %s -l %s", ns[0], labels.Set(gw.Selector))
		}
	}
	if len(v.APIGateways) > 0 {
		gw := v.APIGateways[0]
		return fmt.Sprintf("kubectl logs -n %s -l %s=%s", gw.Namespace, gatewayapi.GatewayNameLabel, gw.Name)
	}
	return "kubectl logs -n <gateway-namespace> -l <gateway selector>"
}
