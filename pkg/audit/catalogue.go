package audit

import (
	"fmt"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

const (
	redirectionAnnotation = "ambient.istio.io/redirection"
	sidecarStatus         = "sidecar.istio.io/status"
)

// Catalogue is every check verify runs, in report order. A new check is one
// row here, one function, and one anchor in docs/checks.md.
var Catalogue = []Check{
	{"cluster.api-reachable", CategoryCluster, AnyIngress, "Kubernetes API reachable", nil, nil, checkAPIReachable},
	{"cluster.istio-apis", CategoryCluster, AnyIngress, "Istio networking and security APIs served", nil, nil, checkIstioAPIs},
	{"cluster.cert-manager-api", CategoryCluster, AnyIngress, "cert-manager API served where a Certificate is used", nil, nil, checkCertManagerAPI},

	{"ambient.istiod", CategoryAmbient, AnyIngress, "istiod running", needIstiod, nil, checkIstiod},
	{"ambient.istiod-ambient-mode", CategoryAmbient, AnyIngress, "istiod runs with ambient mode on", needIstiod, requireIstiod, checkIstiodAmbient},
	{"ambient.ztunnel", CategoryAmbient, AnyIngress, "ztunnel ready on every node", needDaemonSets, nil, func(v *checkView) Result { return checkDaemonSet(v.s.ZTunnel, "ztunnel", "app=ztunnel") }},
	{"ambient.istio-cni", CategoryAmbient, AnyIngress, "istio-cni ready on every node", needDaemonSets, nil, func(v *checkView) Result { return checkDaemonSet(v.s.CNI, "istio-cni-node", "k8s-app=istio-cni-node") }},
	{"ambient.cni-ambient-enabled", CategoryAmbient, AnyIngress, "istio-cni has ambient mode enabled", needCNIConfig, nil, checkCNIAmbient},

	{"enrolment.namespace-label", CategoryEnrolment, AnyIngress, "namespace enrolled in ambient mode", needNamespacePods, nil, checkNamespaceLabel},
	{"enrolment.no-sidecar-injection", CategoryEnrolment, AnyIngress, "namespace not set up for sidecar injection", needNamespace, nil, checkNoSidecarInjection},
	{"enrolment.no-opt-out", CategoryEnrolment, AnyIngress, "no pod opted out or running a sidecar", needPods, nil, checkNoOptOut},
	{"enrolment.pods-redirected", CategoryEnrolment, AnyIngress, "every pod's traffic captured by ztunnel", needPods, nil, checkPodsRedirected},

	{"mtls.namespace-strict", CategoryMTLS, AnyIngress, "effective mTLS mode STRICT for every workload", needWorkloadPolicies, nil, checkStrict},
	{"mtls.no-permissive-ports", CategoryMTLS, AnyIngress, "no port-level exception to STRICT", needWorkloadPolicies, nil, checkPortLevel},
	{"mtls.ignored-policies", CategoryMTLS, AnyIngress, "no PeerAuthentication that ambient ignores", needPolicies, nil, checkIgnoredPolicies},
	{"mtls.destinationrule-tls", CategoryMTLS, AnyIngress, "no DestinationRule TLS settings on the namespace's hosts", needDestinationRules, nil, checkDestinationRuleTLS},

	// Which inputs it needs depends on the ingress it finds: it says itself.
	{"ingress.gateway-found", CategoryIngress, AnyIngress, "a Gateway routes to the application", nil, nil, checkGatewayFound},
	{"ingress.selector-matches", CategoryIngress, ClassicIngress, "Gateway selector matches ingress gateway pods", needGatewayPods, requireGateways, checkSelectorMatches},
	{"ingress.service-ports", CategoryIngress, ClassicIngress, "Gateway ports exposed by the gateway Service", needGatewayServices, requireGateways, checkServicePorts},
	{"ingress.https-server", CategoryIngress, ClassicIngress, "HTTPS server terminates TLS with a credential", needRouting, requireGateways, checkHTTPSServer},
	{"ingress.http-redirect", CategoryIngress, ClassicIngress, "plain HTTP redirects to HTTPS", needRouting, requireGateways, checkHTTPRedirect},
	{"ingress.no-conflicts", CategoryIngress, ClassicIngress, "no other Gateway conflicts on the same pods", needGatewayServices, requireGateways, checkNoConflicts},

	{"routing.gateway-ref", CategoryRouting, ClassicIngress, "VirtualService gateway references resolve", needRouting, requireRoutes, checkGatewayRefs},
	{"routing.hosts-intersect", CategoryRouting, ClassicIngress, "VirtualService hosts match the Gateway's", needRouting, requireGateways, checkHostsIntersect},
	{"routing.destination-exists", CategoryRouting, ClassicIngress, "route destinations exist with their ports", needDestinations, requireRoutes, checkDestinations},

	{"gatewayapi.class-accepted", CategoryGatewayAPI, GatewayAPIIngress, "GatewayClass exists and is Accepted", needAPIClasses, requireAPIGateways, checkClassAccepted},
	{"gatewayapi.gateway-accepted", CategoryGatewayAPI, GatewayAPIIngress, "Gateway Accepted by its controller", needAPIClasses, requireAPIClass, checkAPIGatewayAccepted},
	{"gatewayapi.gateway-programmed", CategoryGatewayAPI, GatewayAPIIngress, "Gateway Programmed: deployed with an address", needAPIClasses, requireAPIAccepted, checkAPIGatewayProgrammed},
	{"gatewayapi.route-hostnames", CategoryGatewayAPI, GatewayAPIIngress, "HTTPRoute hostnames match the listeners'", needAPIIngress, requireAPIGateways, checkRouteHostnames},
	{"gatewayapi.route-backend", CategoryGatewayAPI, GatewayAPIIngress, "HTTPRoute backends exist with their ports", needAPIBackends, nil, checkRouteBackends},
	{"gatewayapi.route-accepted", CategoryGatewayAPI, GatewayAPIIngress, "HTTPRoute Accepted by each parent Gateway", needAPIClasses, requireAPIRouteAccepted, checkRouteAccepted},
	{"gatewayapi.route-refs-resolved", CategoryGatewayAPI, GatewayAPIIngress, "HTTPRoute references resolved", needAPIBackends, requireAPIRouteRefs, checkRouteRefsResolved},
	{"gatewayapi.https-listener", CategoryGatewayAPI, GatewayAPIIngress, "HTTPS listener terminates TLS with a certificate", needAPIIngress, requireAPIListeners, checkHTTPSListener},
	{"gatewayapi.certificate-ref-granted", CategoryGatewayAPI, GatewayAPIIngress, "certificateRefs to other namespaces granted", needAPIGrants, requireAPIHTTPS, checkCertificateRefGranted},
	{"gatewayapi.listener-refs-resolved", CategoryGatewayAPI, GatewayAPIIngress, "HTTPS listener's certificate resolved and programmed", needAPIListenerRefs, requireAPIGranted, checkListenerRefsResolved},
	{"gatewayapi.http-redirect", CategoryGatewayAPI, GatewayAPIIngress, "plain HTTP redirects to HTTPS", needAPIIngress, requireAPIGateways, checkAPIHTTPRedirect},

	{"certificate.secret-present", CategoryCertificate, AnyIngress, "credential Secret in the gateway pods' namespace", needCredentials, requireHTTPS, checkSecretPresent},
	{"certificate.gateway-may-read", CategoryCertificate, AnyIngress, "gateway ServiceAccount may read its credentials", needSecretAccess, requireHTTPS, checkGatewayMayRead},
	{"certificate.secret-format", CategoryCertificate, AnyIngress, "credential Secret in a form Istio reads", needCredentials, requireCredentials, checkSecretFormat},
	{"certificate.keypair", CategoryCertificate, AnyIngress, "certificate and key parse and match", needCredentials, requireReadable, checkKeyPair},
	{"certificate.sans", CategoryCertificate, AnyIngress, "certificate covers every HTTPS host", needCredentials, requireParsed, checkSANs},
	{"certificate.validity", CategoryCertificate, AnyIngress, "certificate valid now and for long enough", needCredentials, requireParsed, checkValidity},
	{"certificate.chain", CategoryCertificate, AnyIngress, "certificate chains to the Secret's ca.crt", needCredentials, requireParsed, checkChain},
	{"certificate.cert-manager-ready", CategoryCertificate, AnyIngress, "cert-manager Certificate and issuer Ready", needCertManager, requireCertManager, checkCertManagerReady},

	{"probe.tls-handshake", CategoryProbe, AnyIngress, "TLS handshake validates for every host", needProbe, requireProbeHTTPS, checkProbeHandshake},
	{"probe.served-certificate", CategoryProbe, AnyIngress, "gateway serves the Secret's certificate", needProbe, requireServedCert, checkProbeServedCert},
	{"probe.https-route", CategoryProbe, AnyIngress, "HTTPS request reaches the application", needProbe, requireHandshakes, checkProbeRoute},
	{"probe.http-redirect", CategoryProbe, AnyIngress, "plain HTTP answers with a redirect to HTTPS", needProbe, requireHTTPProbe, checkProbeRedirect},

	{"authorization.ingress-admitted", CategoryAuthorization, AnyIngress, "AuthorizationPolicies admit the ingress gateway to the entry pods", needIngressAdmitted, requireEntryAndGateway, checkIngressAdmitted},
	{"authorization.gateway-admits-clients", CategoryAuthorization, AnyIngress, "AuthorizationPolicies on the gateway itself admit clients", needGatewayAuthorization, requireGatewayIdentified, checkGatewayAdmitsClients},
	{"authorization.ztunnel-accepted", CategoryAuthorization, AnyIngress, "ztunnel enforces the namespace's AuthorizationPolicies as written", needZtunnelAccepted, nil, checkZtunnelAccepted},
	{"authorization.waypoint-ingress", CategoryAuthorization, AnyIngress, "ingress traffic goes through the entry Service's waypoint", needWaypointIngress, requireEntry, checkWaypointIngress},
	{"authorization.waypoint-admitted", CategoryAuthorization, AnyIngress, "AuthorizationPolicies admit the waypoints the Services use", needWaypointAdmitted, nil, checkWaypointAdmitted},
	{"authorization.port-forward", CategoryAuthorization, AnyIngress, "no one but cluster admins may port-forward to the pods", needRBAC, nil, checkPortForward},
	{"authorization.no-bypass-service", CategoryAuthorization, AnyIngress, "no NodePort or LoadBalancer Service around the ingress gateway", needBypass, nil, checkNoBypassService},
	{"authorization.lockdown-intact", CategoryAuthorization, AnyIngress, "secure's lockdown policies intact, where in place", needLockdownIntact, nil, checkLockdownIntact},
}

// What the checks read. Each list is whole: a check of the gateway's pods
// also names the routing objects that lead to them.
var (
	needIstiod           = []Input{InputIstiod}
	needDaemonSets       = []Input{InputDaemonSets}
	needCNIConfig        = []Input{InputCNIConfig}
	needNamespace        = []Input{InputNamespace}
	needPods             = []Input{InputPods}
	needNamespacePods    = []Input{InputNamespace, InputPods}
	needPolicies         = []Input{InputPeerAuthentications, InputMeshConfig}
	needWorkloadPolicies = []Input{InputPods, InputPeerAuthentications, InputMeshConfig}
	needDestinationRules = []Input{InputDestinationRules}
	needRouting          = []Input{InputVirtualServices, InputGateways}
	needDestinations     = []Input{InputVirtualServices, InputGateways, InputServices}
	// istiod's PILOT_SCOPE_GATEWAY_TO_NAMESPACE decides which pods serve a
	// Gateway.
	needGatewayPods     = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod}
	needGatewayServices = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod, InputServices}
	needCredentials     = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod, InputSecrets}
	needSecretAccess    = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod, InputSecretAccess}
	needCertManager     = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod, InputSecrets, InputCertificates}
	// The Gateway API's objects; the routes come first: they say which
	// Gateways are the application's.
	needIngressFound    = []Input{InputVirtualServices, InputGateways, InputHTTPRoutes, InputGatewayAPIGateways}
	needAPIIngress      = []Input{InputHTTPRoutes, InputGatewayAPIGateways}
	needAPIClasses      = []Input{InputHTTPRoutes, InputGatewayAPIGateways, InputGatewayClasses}
	needAPIBackends     = []Input{InputHTTPRoutes, InputGatewayAPIGateways, InputServices}
	needAPIGrants       = []Input{InputHTTPRoutes, InputGatewayAPIGateways, InputReferenceGrants}
	needAPIListenerRefs = []Input{InputHTTPRoutes, InputGatewayAPIGateways, InputGatewayClasses, InputReferenceGrants, InputSecrets}
	// The probe finds the gateway's address through its Service, and
	// validates against the Secret's ca.crt.
	needProbe = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod, InputSecrets, InputServices}
	// The gateway's principal comes from its pods (an Istio Gateway) or
	// its Gateway (the Gateway API), the trust domain and root namespace
	// from the mesh config; the entry pods from the routes and Services.
	needIngressAdmitted = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod, InputHTTPRoutes, InputGatewayAPIGateways,
		InputServices, InputPods, InputMeshConfig, InputAuthorizationPolicies}
	// The gateway's pods or Gateway, its listeners and hosts, and the
	// policies of its namespace and the root namespace.
	needGatewayAuthorization = []Input{InputVirtualServices, InputGateways, InputGatewayPods, InputIstiod, InputHTTPRoutes, InputGatewayAPIGateways,
		InputServices, InputPods, InputMeshConfig, InputAuthorizationPolicies}
	// istiod's settings say whether it writes ZtunnelAccepted.
	needZtunnelAccepted  = []Input{InputAuthorizationPolicies, InputIstiod}
	needWaypointIngress  = []Input{InputVirtualServices, InputGateways, InputHTTPRoutes, InputGatewayAPIGateways, InputServices, InputNamespace}
	needWaypointAdmitted = []Input{InputNamespace, InputServices, InputPods, InputGatewayAPIGateways, InputMeshConfig, InputAuthorizationPolicies}
	// What secure would render: the waypoints the Services use, the trust
	// domain. (Without the pods' service accounts, the check judges what it
	// can.)
	needLockdownIntact = []Input{InputAuthorizationPolicies, InputNamespace, InputServices, InputGatewayAPIGateways, InputMeshConfig}
	needRBAC           = []Input{InputRBAC}
	needBypass         = []Input{InputServices, InputPods}
)

// What the checks assume of what they read. Each list is whole and in
// order: a check of the certificate first requires the Secret that holds it.
var (
	requireIstiod   = []Requirement{istiodFound}
	requireRoutes   = []Requirement{virtualServicesRoute}
	requireGateways = []Requirement{gatewaysRoute}
	// A Gateway API listener whose certificate does not resolve is
	// gatewayapi.listener-refs-resolved's finding.
	requireHTTPS       = []Requirement{httpsServer, listenerRefsResolved}
	requireCredentials = []Requirement{httpsServer, listenerRefsResolved, credentialsPresent}
	requireReadable    = []Requirement{httpsServer, listenerRefsResolved, credentialsPresent, credentialsReadable}
	requireParsed      = []Requirement{httpsServer, listenerRefsResolved, credentialsPresent, credentialsReadable, credentialsUsable}
	requireCertManager = []Requirement{httpsServer, listenerRefsResolved, credentialsPresent, certManagerManaged}
	requireProbeHTTPS  = []Requirement{httpsServerToProbe}
	requireHandshakes  = []Requirement{handshakesSucceeded}
	requireServedCert  = []Requirement{handshakesSucceeded, secretCertificateUsable}
	requireHTTPProbe   = []Requirement{httpProbeAddress}

	requireAPIGateways      = []Requirement{apiGatewaysRoute}
	requireAPIClass         = []Requirement{apiGatewaysRoute, apiClassAccepted}
	requireAPIAccepted      = []Requirement{apiGatewaysRoute, apiClassAccepted, apiGatewayAccepted}
	requireAPIRouteAccepted = []Requirement{apiClassAccepted, apiHostnamesMatch}
	requireAPIRouteRefs     = []Requirement{apiClassAccepted, apiBackendsExist}
	requireAPIListeners     = []Requirement{apiGatewaysRoute, apiRoutesAttach}
	requireAPIHTTPS         = []Requirement{apiGatewaysRoute, apiRoutesAttach, apiHTTPSListener}
	// A listener's status is written by its class's controller: without
	// one, there is none to judge.
	requireAPIGranted = []Requirement{apiGatewaysRoute, apiClassAccepted, apiRoutesAttach, apiHTTPSListener, apiRefsGranted}

	requireEntry             = []Requirement{entryRouted}
	requireEntryAndGateway   = []Requirement{entryRouted, gatewayIdentified}
	requireGatewayIdentified = []Requirement{gatewayIdentified}
)

// ---- Cluster

func checkAPIReachable(v *checkView) Result {
	return pass("Kubernetes %s", v.s.ServerVersion)
}

func checkIstioAPIs(v *checkView) Result {
	a := v.s.APIs
	if a.Networking == "" || a.Security == "" {
		return fail("install Istio in ambient mode: istioctl install --set profile=ambient",
			"networking.istio.io and security.istio.io are not both served (Istio's CRDs are missing)")
	}
	return pass("networking.istio.io/%s, security.istio.io/%s", a.Networking, a.Security)
}

func checkCertManagerAPI(v *checkView) Result {
	needed := len(v.s.Certificates) > 0
	for _, sec := range v.s.Secrets {
		if sec.Annotations["cert-manager.io/certificate-name"] != "" {
			needed = true
		}
	}
	if v.s.APIs.CertManager != "" {
		return pass("cert-manager.io/%s", v.s.APIs.CertManager)
	}
	// Whether it is needed is read from the credential Secrets.
	if r, ok := v.missing(needCredentials...); !ok {
		return r
	}
	if needed {
		return fail("install cert-manager: helm install cert-manager jetstack/cert-manager -n cert-manager --create-namespace --set crds.enabled=true",
			"a credential Secret was written by cert-manager, but cert-manager.io/v1 is not served")
	}
	return skip("no Certificate is involved")
}

// ---- Ambient data plane

func checkIstiod(v *checkView) Result {
	if len(v.s.Istiod) == 0 {
		return fail("install istiod with the ambient profile: istioctl install --set profile=ambient", "no istiod Deployment (label app=istiod) in any namespace")
	}
	for _, w := range v.s.Istiod {
		if w.Ready > 0 {
			return pass("%s/%s: %d/%d ready", w.Namespace, w.Name, w.Ready, w.Desired)
		}
	}
	w := v.s.Istiod[0]
	return fail(fmt.Sprintf("kubectl describe deployment %s -n %s", w.Name, w.Namespace), "istiod %s/%s has no ready replica", w.Namespace, w.Name)
}

// istiodSetting is istiod's environment variable name, "" when no istiod
// sets it.
func (v *view) istiodSetting(name string) string {
	for _, w := range v.s.Istiod {
		if value, ok := w.Env[name]; ok {
			return value
		}
	}
	return ""
}

// checkIstiodAmbient: without PILOT_ENABLE_AMBIENT istiod builds no
// workload or authorization configuration for ztunnel, so nothing of the
// namespace's enrolment or STRICT policy reaches the data plane.
func checkIstiodAmbient(v *checkView) Result {
	w := v.s.Istiod[0]
	if value := v.istiodSetting("PILOT_ENABLE_AMBIENT"); value != "true" {
		return fail("reinstall istiod with the ambient profile: istioctl install --set profile=ambient (or helm upgrade istiod istio/istiod -n istio-system --set profile=ambient)",
			"istiod %s/%s runs with PILOT_ENABLE_AMBIENT=%q: it sends ztunnel no workloads and no policies", w.Namespace, w.Name, value)
	}
	return pass("%s/%s: PILOT_ENABLE_AMBIENT=true", w.Namespace, w.Name)
}

func checkDaemonSet(ws []Workload, name, selector string) Result {
	if len(ws) == 0 {
		return fail("install it with the ambient profile: istioctl install --set profile=ambient", "no %s DaemonSet (pods labelled %s) in any namespace", name, selector)
	}
	for _, w := range ws {
		if w.Desired == 0 || w.Ready != w.Desired {
			return fail(fmt.Sprintf("kubectl rollout status daemonset %s -n %s", w.Name, w.Namespace),
				"%s/%s: %d of %d pods ready", w.Namespace, w.Name, w.Ready, w.Desired)
		}
	}
	return pass("%s/%s: %d/%d ready", ws[0].Namespace, ws[0].Name, ws[0].Ready, ws[0].Desired)
}

func checkCNIAmbient(v *checkView) Result {
	if v.s.CNIConfig == nil {
		return fail("install istio-cni with the ambient profile (helm install istio-cni istio/cni --set profile=ambient)", "ConfigMap istio-cni-config not found")
	}
	if v.s.CNIConfig["AMBIENT_ENABLED"] != "true" {
		return fail("reinstall istio-cni with --set profile=ambient", "istio-cni-config has AMBIENT_ENABLED=%q", v.s.CNIConfig["AMBIENT_ENABLED"])
	}
	return pass("AMBIENT_ENABLED=true")
}

// ---- Enrolment

// checkNamespaceLabel follows istio-cni's default enablement selectors: a
// pod labelled istio.io/dataplane-mode=ambient is enrolled in any namespace;
// other pods (not labelled none) when their namespace is labelled ambient.
func checkNamespaceLabel(v *checkView) Result {
	if v.s.NamespaceLabels[istio.DataplaneModeLabel] == "ambient" {
		return pass("%s=ambient", istio.DataplaneModeLabel)
	}
	pods, _ := v.appPods()
	var unlabelled []Object
	for _, p := range pods {
		if p.Labels[istio.DataplaneModeLabel] != "ambient" {
			unlabelled = append(unlabelled, p)
		}
	}
	if len(pods) > 0 && len(unlabelled) == 0 {
		return pass("namespace unlabelled, but every pod is labelled %s=ambient", istio.DataplaneModeLabel)
	}
	what := "its pods are not in the mesh"
	if len(unlabelled) < len(pods) {
		what = "these pods are not in the mesh: " + podNames(unlabelled)
	}
	return fail(fmt.Sprintf("kubectl label namespace %s %s=ambient", v.s.Namespace, istio.DataplaneModeLabel),
		"namespace %s lacks %s=ambient: %s", v.s.Namespace, istio.DataplaneModeLabel, what)
}

func checkNoSidecarInjection(v *checkView) Result {
	if key, value, on := istio.SidecarInjection(v.s.NamespaceLabels); on {
		return fail(fmt.Sprintf("kubectl label namespace %s %s-", v.s.Namespace, key), "namespace %s has %s=%s (sidecar injection)", v.s.Namespace, key, value)
	}
	return pass("no istio-injection or istio.io/rev label")
}

func podNames(pods []Object) string {
	var names []string
	for _, p := range pods {
		names = append(names, p.Name)
	}
	sort.Strings(names)
	if len(names) > 10 {
		names = append(names[:10], fmt.Sprintf("and %d more", len(names)-10))
	}
	return strings.Join(names, ", ")
}

// leftOut says that pods Istio deploys for Gateways were not judged.
func leftOut(gateways int) string {
	if gateways == 0 {
		return ""
	}
	if gateways == 1 {
		return "; 1 gateway pod left out: Istio deploys it outside ztunnel on purpose"
	}
	return fmt.Sprintf("; %d gateway pods left out: Istio deploys them outside ztunnel on purpose", gateways)
}

func checkNoOptOut(v *checkView) Result {
	pods, gateways := v.appPods()
	var optedOut, sidecars []Object
	for _, p := range pods {
		if p.Labels[istio.DataplaneModeLabel] == "none" {
			optedOut = append(optedOut, p)
		}
		if p.Annotations[sidecarStatus] != "" {
			sidecars = append(sidecars, p)
		}
	}
	switch {
	case len(optedOut) > 0:
		return fail(fmt.Sprintf("remove the label from the pods' template (kubectl label pod -n %s %s %s-)", v.s.Namespace, optedOut[0].Name, istio.DataplaneModeLabel),
			"pods opted out with %s=none: %s", istio.DataplaneModeLabel, podNames(optedOut))
	case len(sidecars) > 0:
		return fail("disable sidecar injection for these workloads and restart them", "pods run an Istio sidecar: %s", podNames(sidecars))
	}
	return pass("%d pods, none opted out%s", len(pods), leftOut(gateways))
}

func checkPodsRedirected(v *checkView) Result {
	pods, gateways := v.appPods()
	if len(pods) == 0 {
		return warn("deploy the application, then run verify again", "namespace %s has no pods%s", v.s.Namespace, leftOut(gateways))
	}
	var pending, missing []Object
	for _, p := range pods {
		if p.Labels[istio.DataplaneModeLabel] == "none" || p.Annotations[sidecarStatus] != "" {
			continue // reported by enrolment.no-opt-out
		}
		switch p.Annotations[redirectionAnnotation] {
		case "enabled":
		case "pending":
			pending = append(pending, p)
		default:
			missing = append(missing, p)
		}
	}
	switch {
	case len(pending) > 0:
		return fail("check ztunnel on the pods' nodes: kubectl logs -n istio-system -l app=ztunnel",
			"traffic of pods not yet captured (redirection pending, traffic blocked): %s", podNames(pending))
	case len(missing) > 0:
		return fail(fmt.Sprintf("label the namespace (kubectl label namespace %s %s=ambient) or the pods; if they are, check istio-cni: kubectl logs -n istio-system -l k8s-app=istio-cni-node", v.s.Namespace, istio.DataplaneModeLabel),
			"pods not captured by ztunnel (no %s=enabled): %s", redirectionAnnotation, podNames(missing))
	}
	return pass("%d pods captured%s", len(pods), leftOut(gateways))
}

// ---- mTLS

func (v *view) rootNamespace() string {
	if v.s.RootNamespace != "" {
		return v.s.RootNamespace
	}
	return istio.DefaultRootNamespace
}

// workloads are the label sets mTLS is judged for: every pod, or, when the
// namespace has none, a pod without labels standing for any pod started
// there, named so that a message says what it is.
func (v *view) workloads() []Object {
	if len(v.s.Pods) == 0 {
		return []Object{{Namespace: v.s.Namespace, Name: fmt.Sprintf("any pod started in namespace %s (it has none)", v.s.Namespace)}}
	}
	return v.s.Pods
}

func checkStrict(v *checkView) Result {
	var weak []string
	for _, p := range v.workloads() {
		eff := istio.EffectiveMode(v.s.PeerAuthentications, v.rootNamespace(), v.s.Namespace, p.Labels)
		if eff.Mode != "STRICT" {
			source := "no PeerAuthentication applies"
			if eff.Source != "" {
				source = "set by " + eff.Source
			}
			if eff.Note != "" {
				source = eff.Note
			}
			weak = append(weak, fmt.Sprintf("%s: %s (%s)", p.Name, eff.Mode, source))
		}
	}
	if len(weak) > 0 {
		sort.Strings(weak)
		if len(weak) > 5 {
			weak = append(weak[:5], fmt.Sprintf("and %d more", len(weak)-5))
		}
		return fail(v.secureCommand()+" (or apply a PeerAuthentication named default with mtls.mode STRICT)",
			"workloads accept plaintext: %s", strings.Join(weak, "; "))
	}
	if len(v.s.Pods) == 0 {
		return pass("STRICT for any pod started in namespace %s (it has none)", v.s.Namespace)
	}
	return pass("STRICT for %d workloads", len(v.workloads()))
}

func checkPortLevel(v *checkView) Result {
	var holes []string
	for _, p := range v.workloads() {
		eff := istio.EffectiveMode(v.s.PeerAuthentications, v.rootNamespace(), v.s.Namespace, p.Labels)
		for port, mode := range eff.PortModes {
			if mode == "PERMISSIVE" || mode == "DISABLE" {
				holes = append(holes, fmt.Sprintf("%s port %s %s (%s)", p.Name, port, mode, eff.Source))
			}
		}
	}
	if len(holes) > 0 {
		sort.Strings(holes)
		return fail("remove the portLevelMtls entries, or set them to STRICT", "plaintext allowed on: %s", strings.Join(holes, "; "))
	}
	return pass("no PERMISSIVE or DISABLE portLevelMtls")
}

func checkIgnoredPolicies(v *checkView) Result {
	var ignored []string
	for _, pa := range v.s.PeerAuthentications {
		if pa.Namespace != v.s.Namespace && pa.Namespace != v.rootNamespace() {
			continue
		}
		switch {
		case pa.Namespace == v.rootNamespace() && pa.Namespace != v.s.Namespace && len(pa.MatchLabels()) == 0 && pa.Selector != nil:
			// istiod takes a root-namespace policy as mesh-wide only when it
			// has no selector at all (fetchPeerAuthentications).
			ignored = append(ignored, fmt.Sprintf("%s/%s (selector: {} in the root namespace is not mesh-wide: remove the selector)", pa.Namespace, pa.Name))
		case pa.Namespace == v.rootNamespace() && len(pa.MatchLabels()) > 0:
			ignored = append(ignored, fmt.Sprintf("%s/%s (selector policies in the root namespace are ignored)", pa.Namespace, pa.Name))
		case len(pa.MatchLabels()) == 0 && v.olderNamespacePolicy(pa) != "":
			ignored = append(ignored, fmt.Sprintf("%s/%s (ignored: istiod uses only the oldest namespace-wide policy, %s)", pa.Namespace, pa.Name, v.olderNamespacePolicy(pa)))
		case pa.Namespace == v.s.Namespace && pa.Mode() == "DISABLE":
			ignored = append(ignored, fmt.Sprintf("%s/%s (mode DISABLE acts as PERMISSIVE in ambient: plaintext and mTLS are both accepted)", pa.Namespace, pa.Name))
		}
	}
	if len(ignored) > 0 {
		sort.Strings(ignored)
		return warn("delete these policies, or rewrite them as the one namespace policy (mode STRICT or PERMISSIVE)", "ambient does not apply as written: %s", strings.Join(ignored, "; "))
	}
	return pass("none")
}

// olderNamespacePolicy names the namespace-wide policy istiod prefers to pa
// in pa's namespace, "" when pa is the oldest.
func (v *view) olderNamespacePolicy(pa istio.PeerAuthentication) string {
	for _, other := range v.s.PeerAuthentications {
		if other.Namespace == pa.Namespace && len(other.MatchLabels()) == 0 && other.Name != pa.Name && istio.Older(other, pa) {
			return key(other.Namespace, other.Name)
		}
	}
	return ""
}

func checkDestinationRuleTLS(v *checkView) Result {
	var rules []string
	for _, dr := range v.s.DestinationRules {
		if dr.TLSMode() == "" {
			continue
		}
		if ns, _ := destinationService(dr.Namespace, dr.Host); ns == v.s.Namespace || strings.HasSuffix(dr.Host, "."+v.s.Namespace+".svc.cluster.local") {
			rules = append(rules, fmt.Sprintf("%s/%s (host %s, tls.mode %s)", dr.Namespace, dr.Name, dr.Host, dr.TLSMode()))
		}
	}
	if len(rules) > 0 {
		return warn("remove trafficPolicy.tls from these DestinationRules: ambient encrypts with ztunnel, and client TLS settings break it (503 UF)",
			"DestinationRules set TLS for the namespace's hosts: %s", strings.Join(rules, "; "))
	}
	return pass("none")
}
