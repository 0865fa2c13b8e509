package check

import (
	"fmt"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// ---- Gateway API
//
// istiod writes what it made of each object into its status; these checks
// read it, and judge statically what verify can tell better (a missing
// Secret or Service, hostnames that do not meet), so that a defect is named
// once, by its cause. The reasons quoted come from istiod's gateway
// controller (pilot/pkg/config/kube/gateway/conversion.go and conditions.go).

// describeGateway is the kubectl command that shows gw's status.
func describeGateway(gw gatewayapi.Gateway) string {
	return fmt.Sprintf("kubectl describe gateways.gateway.networking.k8s.io %s -n %s", gw.Name, gw.Namespace)
}

func describeRoute(r gatewayapi.HTTPRoute) string {
	return fmt.Sprintf("kubectl describe httproute %s -n %s", r.Name, r.Namespace)
}

// classProblem says why the GatewayClass of an application's Gateway is
// not usable, with the fix; "" when every one is Accepted.
func (v *checkView) classProblem() (problem, hint string) {
	for _, gw := range v.APIGateways {
		class := v.s.GatewayClass(gw.ClassName)
		if class == nil {
			return fmt.Sprintf("Gateway %s names GatewayClass %q, which does not exist", snapshot.Key(gw.Namespace, gw.Name), gw.ClassName),
				fmt.Sprintf("use gatewayClassName: %s, the class istiod creates (its gateway controller must be on: PILOT_ENABLE_GATEWAY_API, the default)", gatewayapi.IstioClass)
		}
		// verify judges Istio's gateways: another controller's class is
		// neither configured nor deployed by istiod, and nothing here says
		// how its proxies are named or run.
		if istiod := gatewayapi.IstioControllerName(v.istiodEnv()); class.ControllerName != istiod {
			return fmt.Sprintf("Gateway %s is of GatewayClass %s, handled by controller %s, not Istio's gateway controller %s: verify judges only gateways istiod configures",
					snapshot.Key(gw.Namespace, gw.Name), class.Name, class.ControllerName, istiod),
				fmt.Sprintf("use gatewayClassName: %s (kubectl opea secure -n %s --host <host> --gateway-api), or check the Gateway with its own controller's tools", gatewayapi.IstioClass, v.s.Namespace)
		}
		if why := gatewayapi.Unmet(class.Conditions, "Accepted", class.Generation); why != "" {
			return fmt.Sprintf("GatewayClass %s (controller %s): %s", class.Name, class.ControllerName, why),
				fmt.Sprintf("kubectl describe gatewayclass %s; check that its controller (istiod for %s) runs", class.Name, gatewayapi.IstioClass)
		}
	}
	return "", ""
}

func checkClassAccepted(v *checkView) Result {
	if problem, hint := v.classProblem(); problem != "" {
		return fail(hint, "%s", problem)
	}
	class := v.s.GatewayClass(v.APIGateways[0].ClassName)
	return pass("%s, controller %s", class.Name, class.ControllerName)
}

func checkAPIGatewayAccepted(v *checkView) Result {
	for _, gw := range v.APIGateways {
		c := gatewayapi.FindCondition(gw.Status.Conditions, "Accepted")
		if c != nil && c.Status == "False" && c.Reason == "ListenersNotValid" && c.Current(gw.Generation) {
			// istiod rejects a Gateway none of whose listeners is valid;
			// the listener checks below say which and why.
			return skip("Gateway %s: none of its listeners is valid (see the listener checks)", snapshot.Key(gw.Namespace, gw.Name))
		}
		if why := gatewayapi.Unmet(gw.Status.Conditions, "Accepted", gw.Generation); why != "" {
			return fail(describeGateway(gw), "Gateway %s: %s", snapshot.Key(gw.Namespace, gw.Name), why)
		}
	}
	return pass("%s", gatewayNames(v.APIGateways))
}

func gatewayNames(gws []gatewayapi.Gateway) string {
	var names []string
	for _, gw := range gws {
		names = append(names, snapshot.Key(gw.Namespace, gw.Name))
	}
	return strings.Join(names, ", ")
}

// checkAPIGatewayProgrammed: istiod sets Programmed once the Service it
// deployed for the Gateway has an address with ready endpoints
// (gatewaycommon.SetProgrammedCondition); until then it reports
// AddressNotAssigned, and the Gateway serves nothing.
func checkAPIGatewayProgrammed(v *checkView) Result {
	for _, gw := range v.APIGateways {
		why := gatewayapi.Unmet(gw.Status.Conditions, "Programmed", gw.Generation)
		if why == "" {
			continue
		}
		hint := describeGateway(gw)
		if c := gatewayapi.FindCondition(gw.Status.Conditions, "Programmed"); c != nil && c.Reason == "AddressNotAssigned" {
			hint = fmt.Sprintf("the gateway's pods are not ready or its Service has no endpoints: kubectl get deploy %s -n %s", gatewayapi.DeploymentName(gw), gw.Namespace)
			if !gw.Managed() {
				hint = fmt.Sprintf("the Gateway is bound by spec.addresses to %s, whose Service has no ready endpoints: istiod deploys no gateway for it", strings.Join(gw.AddressValues(), ", "))
			}
			// A LoadBalancer Service (Istio's default) waits for an
			// address a cluster without load balancers never gives.
			// secure's own Gateway is changed by secure, which would
			// otherwise take back an annotation made by hand. An unmanaged
			// Gateway's Service is the user's.
			switch {
			case !gw.Managed() || gw.Annotations[gatewayapi.ServiceTypeAnnotation] != "":
			case ownership.Managed(gw.Labels):
				hint += fmt.Sprintf("; on a cluster without load balancers, run kubectl opea secure -n %s --gateway-api again with its --host values and --gateway-service-type ClusterIP",
					gw.Labels[ownership.AppNamespaceLabel])
			default:
				hint += fmt.Sprintf("; on a cluster without load balancers, kubectl annotate gateways.gateway.networking.k8s.io %s -n %s %s=ClusterIP",
					gw.Name, gw.Namespace, gatewayapi.ServiceTypeAnnotation)
			}
		}
		return fail(hint, "Gateway %s: %s", snapshot.Key(gw.Namespace, gw.Name), why)
	}
	gw := v.APIGateways[0]
	if gw.Address() == "" {
		return pass("%s", gatewayNames(v.APIGateways))
	}
	return pass("%s at %s", gatewayNames(v.APIGateways), gw.Address())
}

// hostnameProblem says which route of the application serves no hostname
// on any listener its parentRef names, or which HTTPS listener serves none
// of the routes attached to it (istiod: NoMatchingListenerHostname; requests
// get 404). A parentRef without sectionName is judged on the listeners that
// take it, as istiod judges it (gatewayapi.ParentDenial): another
// application's listener of a shared Gateway is no finding.
func (v *checkView) hostnameProblem() (problem, hint string) {
	hint = "use the listener's hostname in the HTTPRoute's hostnames (kubectl opea secure --host sets both)"
	for _, r := range v.APIRoutes {
		for _, ref := range r.ParentRefs {
			gw := v.s.GatewayAPIGateway(ref.GatewayNamespace(r.Namespace), ref.Name)
			if !ref.IsGateway() || gw == nil {
				continue
			}
			// A parentRef that names no listener, or that listeners do not
			// admit, is route-accepted's finding.
			if d := gatewayapi.ParentDenial(r, ref, *gw, v.NamespaceLabels); d.Reason == gatewayapi.ReasonNoMatchingListenerHostname {
				var named []string
				for _, l := range gw.Listeners {
					if gatewayapi.Attach(r, ref, *gw, l, v.NamespaceLabels).Reason != gatewayapi.ReasonNoMatchingParent {
						named = append(named, listenerHostname(l))
					}
				}
				return fmt.Sprintf("HTTPRoute %s hostnames %s match none of Gateway %s's listener hostnames %s: requests get 404",
					snapshot.Key(r.Namespace, r.Name), strings.Join(r.Hostnames, ","), snapshot.Key(gw.Namespace, gw.Name), strings.Join(named, ",")), hint
			}
		}
	}
	for _, l := range v.APITLSListeners() {
		if len(v.APIClientHosts(l)) == 0 && l.Listener.Hostname != "" {
			return fmt.Sprintf("%s (hostname %s) serves none of the application's HTTPRoutes attached to it: requests get 404", l, l.Listener.Hostname), hint
		}
	}
	return "", ""
}

func listenerHostname(l gatewayapi.Listener) string {
	if l.Hostname == "" {
		return l.Name + ":*"
	}
	return l.Name + ":" + l.Hostname
}

func checkRouteHostnames(v *checkView) Result {
	if problem, hint := v.hostnameProblem(); problem != "" {
		return fail(hint, "%s", problem)
	}
	var hosts []string
	for _, l := range v.APITLSListeners() {
		hosts = append(hosts, v.APIClientHosts(l)...)
	}
	if len(hosts) == 0 {
		return pass("hostnames intersect")
	}
	return pass("%s", strings.Join(hosts, ", "))
}

// backendProblem says which Service backend of the application's routes
// is missing, or lacks the port (istiod: ResolvedRefs False, BackendNotFound).
func (v *checkView) backendProblem() (problem, hint string) {
	for _, r := range v.APIRoutes {
		for _, b := range r.ServiceBackends(v.s.Namespace) {
			ns := b.ServiceNamespace(r.Namespace)
			svc := v.s.Service(ns, b.Name)
			if svc == nil {
				return fmt.Sprintf("HTTPRoute %s sends requests to Service %s, which does not exist", snapshot.Key(r.Namespace, r.Name), snapshot.Key(ns, b.Name)),
					fmt.Sprintf("create Service %s, or name an existing one in the HTTPRoute's backendRefs", snapshot.Key(ns, b.Name))
			}
			if b.Port == nil {
				return fmt.Sprintf("HTTPRoute %s sends requests to Service %s without a port", snapshot.Key(r.Namespace, r.Name), snapshot.Key(ns, b.Name)),
					"set backendRefs[].port to a port of the Service (the Gateway API requires it for a Service)"
			}
			found := false
			for _, p := range svc.Ports {
				found = found || p.Port == *b.Port
			}
			if !found {
				return fmt.Sprintf("HTTPRoute %s sends requests to Service %s port %d, which the Service lacks", snapshot.Key(r.Namespace, r.Name), snapshot.Key(ns, b.Name), *b.Port),
					"use one of the Service's ports in backendRefs[].port"
			}
		}
	}
	return "", ""
}

func checkRouteBackends(v *checkView) Result {
	if problem, hint := v.backendProblem(); problem != "" {
		return fail(hint, "%s", problem)
	}
	return pass("every backend exists")
}

// routeParents calls f for each Gateway parentRef of the application's
// routes, with the Gateway (nil when it does not exist) and the route's
// status for it (nil when no controller wrote one), until f returns false.
func (v *checkView) routeParents(f func(r gatewayapi.HTTPRoute, ref gatewayapi.ParentRef, gw *gatewayapi.Gateway, st *gatewayapi.RouteParentStatus) bool) {
	for _, r := range v.APIRoutes {
		for _, ref := range r.ParentRefs {
			if !ref.IsGateway() {
				continue
			}
			if !f(r, ref, v.s.GatewayAPIGateway(ref.GatewayNamespace(r.Namespace), ref.Name), r.ParentStatus(ref)) {
				return
			}
		}
	}
}

func parentName(r gatewayapi.HTTPRoute, ref gatewayapi.ParentRef) string {
	name := snapshot.Key(ref.GatewayNamespace(r.Namespace), ref.Name)
	if ref.SectionName != "" {
		name += " listener " + ref.SectionName
	}
	if ref.Port != 0 {
		name += fmt.Sprintf(" port %d", ref.Port)
	}
	return name
}

func checkRouteAccepted(v *checkView) Result {
	var r Result
	v.routeParents(func(route gatewayapi.HTTPRoute, ref gatewayapi.ParentRef, gw *gatewayapi.Gateway, st *gatewayapi.RouteParentStatus) bool {
		switch {
		case gw == nil:
			r = fail(fmt.Sprintf("create Gateway %s, or fix parentRefs of HTTPRoute %s", snapshot.Key(ref.GatewayNamespace(route.Namespace), ref.Name), snapshot.Key(route.Namespace, route.Name)),
				"HTTPRoute %s names Gateway %s as its parent, which does not exist", snapshot.Key(route.Namespace, route.Name), snapshot.Key(ref.GatewayNamespace(route.Namespace), ref.Name))
		case st == nil:
			r = fail("check that istiod runs and handles the Gateway's class ("+describeRoute(route)+")",
				"HTTPRoute %s is not attached to Gateway %s: no controller wrote status", snapshot.Key(route.Namespace, route.Name), parentName(route, ref))
		default:
			why := gatewayapi.Unmet(st.Conditions, "Accepted", route.Generation)
			if why == "" {
				return true
			}
			hint := describeRoute(route)
			if c := gatewayapi.FindCondition(st.Conditions, "Accepted"); c != nil {
				switch c.Reason {
				case "NoMatchingParent":
					hint = fmt.Sprintf("name a listener of Gateway %s in parentRefs[].sectionName (and port), or leave them out (kubectl get gateways.gateway.networking.k8s.io %s -n %s -o yaml)", snapshot.Key(gw.Namespace, gw.Name), gw.Name, gw.Namespace)
				case "NotAllowedByListeners":
					hint = fmt.Sprintf("let the listener admit routes of namespace %s: allowedRoutes.namespaces.from All or Selector on Gateway %s", route.Namespace, snapshot.Key(gw.Namespace, gw.Name))
				}
			}
			r = fail(hint, "HTTPRoute %s on Gateway %s: %s", snapshot.Key(route.Namespace, route.Name), parentName(route, ref), why)
		}
		return false
	})
	if r.Status != "" {
		return r
	}
	return pass("%s", routeNames(v.APIRoutes))
}

func routeNames(rs []gatewayapi.HTTPRoute) string {
	var names []string
	for _, r := range rs {
		names = append(names, snapshot.Key(r.Namespace, r.Name))
	}
	return strings.Join(names, ", ")
}

func checkRouteRefsResolved(v *checkView) Result {
	var r Result
	v.routeParents(func(route gatewayapi.HTTPRoute, ref gatewayapi.ParentRef, gw *gatewayapi.Gateway, st *gatewayapi.RouteParentStatus) bool {
		if gw == nil || st == nil {
			return true // route-accepted's finding
		}
		why := gatewayapi.Unmet(st.Conditions, "ResolvedRefs", route.Generation)
		if why == "" {
			return true
		}
		hint := describeRoute(route)
		if c := gatewayapi.FindCondition(st.Conditions, "ResolvedRefs"); c != nil && c.Reason == "RefNotPermitted" {
			hint = fmt.Sprintf("create a ReferenceGrant in the backend Service's namespace from HTTPRoute in namespace %s to Service", route.Namespace)
		}
		r = fail(hint, "HTTPRoute %s on Gateway %s: %s", snapshot.Key(route.Namespace, route.Name), parentName(route, ref), why)
		return false
	})
	if r.Status != "" {
		return r
	}
	return pass("every reference resolved")
}

func checkHTTPSListener(v *checkView) Result {
	for _, l := range v.APIListeners {
		if l.Listener.Protocol != "HTTPS" {
			continue
		}
		if !l.Listener.Terminates() {
			return fail("set tls.mode Terminate on the listener: an HTTPRoute needs TLS terminated at the gateway",
				"%s is HTTPS in tls.mode %s: TLS is not terminated at the gateway", l, l.Listener.TLS.Mode)
		}
		if len(snapshot.SecretRefs(l.Listener)) == 0 {
			return fail("name the Secret of the certificate in tls.certificateRefs (kubectl opea secure --gateway-api does)",
				"%s has no certificateRef to a Secret", l)
		}
	}
	ls := v.APITLSListeners()
	if len(ls) == 0 {
		return fail(fmt.Sprintf("kubectl opea secure -n %s --host <host> --gateway-api", v.s.Namespace),
			"no HTTPS listener of Gateway %s carries the application's HTTPRoutes: TLS is not terminated", gatewayNames(v.APIGateways))
	}
	l := ls[0]
	ref := snapshot.SecretRefs(l.Listener)[0]
	return pass("%s, port %d, certificate %s", l, l.Listener.Port, snapshot.Key(ref.SecretNamespace(l.Gateway.Namespace), ref.Name))
}

// grantProblem names a certificateRef to a Secret in another namespace
// that no ReferenceGrant there allows: istiod then refuses the listener
// (ResolvedRefs False, RefNotPermitted, in buildTLS).
func (v *checkView) grantProblem() (problem, hint string) {
	for _, l := range v.APITLSListeners() {
		for _, ref := range snapshot.SecretRefs(l.Listener) {
			ns := ref.SecretNamespace(l.Gateway.Namespace)
			if ns == l.Gateway.Namespace || gatewayapi.ReferenceGranted(v.s.ReferenceGrants, ns, "Gateway", l.Gateway.Namespace, "Secret", ref.Name) {
				continue
			}
			return fmt.Sprintf("%s refers to Secret %s in another namespace, and no ReferenceGrant in %s lets Gateways of %s refer to it", l, snapshot.Key(ns, ref.Name), ns, l.Gateway.Namespace),
				fmt.Sprintf("create a ReferenceGrant in namespace %s with from: [{group: %s, kind: Gateway, namespace: %s}] and to: [{group: \"\", kind: Secret, name: %s}], or move the Secret into %s",
					ns, gatewayapi.Group, l.Gateway.Namespace, ref.Name, l.Gateway.Namespace)
		}
	}
	return "", ""
}

func checkCertificateRefGranted(v *checkView) Result {
	if problem, hint := v.grantProblem(); problem != "" {
		return fail(hint, "%s", problem)
	}
	for _, l := range v.APITLSListeners() {
		for _, ref := range snapshot.SecretRefs(l.Listener) {
			if ns := ref.SecretNamespace(l.Gateway.Namespace); ns != l.Gateway.Namespace {
				return pass("Secret %s granted to Gateways of %s", snapshot.Key(ns, ref.Name), l.Gateway.Namespace)
			}
		}
	}
	return pass("every certificateRef is in its Gateway's namespace")
}

// listenerRefProblem says why the certificate of one of the application's
// Gateway API HTTPS listeners does not resolve, as istiod judges it
// (buildSecretReference: the Secret exists, holds a certificate and key it
// reads, and they make a pair), then what istiod reported for the listener;
// "" when all resolve.
func (v *checkView) listenerRefProblem() (problem, hint string) {
	for _, t := range v.missingCredentials() {
		if t.API != nil {
			ns := t.SecretNamespaces[0]
			problem := fmt.Sprintf("Secret %s named by %s not found", snapshot.Key(ns, t.SecretName), t.API)
			if cert := v.s.Issuing(ns, t.SecretName); cert != nil {
				return problem + fmt.Sprintf(": cert-manager Certificate %s has not written it yet", snapshot.Key(cert.Namespace, cert.Name)),
					fmt.Sprintf("kubectl describe certificate %s -n %s; kubectl opea verify --wait waits for it", cert.Name, cert.Namespace)
			}
			return problem, fmt.Sprintf("kubectl opea secure -n %s --host <host> --gateway-api, or kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", v.s.Namespace, t.SecretName, ns)
		}
	}
	for _, c := range v.foundCredentials() {
		if c.API == nil {
			continue
		}
		if p := formatProblem(c); p != "" {
			return p, fmt.Sprintf("recreate it: kubectl create secret tls %s -n %s --cert=tls.crt --key=tls.key", c.Secret.Name, c.Secret.Namespace)
		}
		p, err := c.Parse()
		if err == nil && !keyMatches(p) {
			err = fmt.Errorf("the key does not match the certificate")
		}
		if err != nil {
			return fmt.Sprintf("Secret %s: %v", c.Ref(), err), "reissue the certificate, or recreate the Secret from a matching PEM certificate and key"
		}
	}
	for _, l := range v.APITLSListeners() {
		st := l.Gateway.ListenerStatus(l.Listener.Name)
		if st == nil {
			return fmt.Sprintf("%s has no status: its controller has not processed it", l), describeGateway(l.Gateway)
		}
		for _, t := range []string{"ResolvedRefs", "Programmed", "Accepted"} {
			if why := gatewayapi.Unmet(st.Conditions, t, l.Gateway.Generation); why != "" {
				return fmt.Sprintf("%s: %s", l, why), describeGateway(l.Gateway)
			}
		}
	}
	return "", ""
}

func checkListenerRefsResolved(v *checkView) Result {
	if problem, hint := v.listenerRefProblem(); problem != "" {
		return fail(hint, "%s", problem)
	}
	var names []string
	for _, l := range v.APITLSListeners() {
		names = append(names, l.String())
	}
	return pass("%s", strings.Join(names, ", "))
}

// checkAPIHTTPRedirect follows ingress.http-redirect: an HTTP listener
// that carries the application's routes serves it in plaintext.
func checkAPIHTTPRedirect(v *checkView) Result {
	plain := v.APIPlainListeners()
	for _, p := range plain {
		if len(p.Served) > 0 {
			return warn("attach the application's HTTPRoutes to the HTTPS listener only (parentRefs[].sectionName), and to the HTTP listener a route whose RequestRedirect filter sets scheme https (kubectl opea secure --gateway-api does)",
				"%s (port %d) serves the application in plaintext: HTTPRoute %s", p.APIListener, p.Listener.Port, routeNames(p.Served))
		}
	}
	for _, p := range plain {
		if len(p.Redirects) > 0 {
			return pass("%s redirects to HTTPS (HTTPRoute %s)", p.APIListener, routeNames(p.Redirects))
		}
	}
	if len(plain) == 0 {
		return pass("no plaintext listener")
	}
	return pass("no HTTP listener serves the application")
}

// istiodEnv is the environment of the default revision's istiod (the first
// one read), which may rename its gateway controller.
func (v *checkView) istiodEnv() map[string]string {
	if len(v.s.Istiod) == 0 {
		return nil
	}
	return v.s.Istiod[0].Env
}
