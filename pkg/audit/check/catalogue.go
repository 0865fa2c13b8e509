package check

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

const (
	redirectionAnnotation = istio.RedirectionAnnotation
	sidecarStatus         = "sidecar.istio.io/status"
	// sidecarInject=true on a pod turns on injection for it, whatever its
	// namespace's labels (as a label; the annotation is its older form).
	sidecarInject = "sidecar.istio.io/inject"
)

// sidecarRequested reports whether pod asks the injector for a sidecar.
func sidecarRequested(pod snapshot.Object) bool {
	return pod.Labels[sidecarInject] == "true" || pod.Annotations[sidecarInject] == "true"
}

// Catalogue is every check verify runs, in report order. A new check is one
// row here (or in a category's own list, appended here), one function, and
// one anchor in docs/checks.md.
var Catalogue = slices.Concat(coreChecks, pitfallChecks)

// coreChecks are the catalogue's rows up to the ambient pitfalls.
var coreChecks = []Check{
	{ID: "cluster.api-reachable", Category: CategoryCluster, Ingress: AnyIngress, Description: "Kubernetes API reachable",
		Run: checkAPIReachable},
	{ID: "cluster.istio-apis", Category: CategoryCluster, Ingress: AnyIngress, Description: "Istio networking and security APIs served",
		Run: checkIstioAPIs},
	{ID: "cluster.cert-manager-api", Category: CategoryCluster, Ingress: AnyIngress, Description: "cert-manager API served where a Certificate is used",
		Run: checkCertManagerAPI},

	{ID: "ambient.istiod", Category: CategoryAmbient, Ingress: AnyIngress, Description: "istiod running",
		Needs: needIstiod, Run: checkIstiod},
	{ID: "ambient.istiod-ambient-mode", Category: CategoryAmbient, Ingress: AnyIngress, Description: "istiod runs with ambient mode on",
		Needs: needIstiod, Requires: requireIstiod, Run: checkIstiodAmbient},
	{ID: "ambient.ztunnel", Category: CategoryAmbient, Ingress: AnyIngress, Description: "ztunnel ready on every node",
		Needs: needDaemonSets, Run: func(v *checkView) Result { return checkDaemonSet(v.s.ZTunnel, "ztunnel", "app=ztunnel") }},
	{ID: "ambient.istio-cni", Category: CategoryAmbient, Ingress: AnyIngress, Description: "istio-cni ready on every node",
		Needs: needDaemonSets, Run: func(v *checkView) Result { return checkDaemonSet(v.s.CNI, "istio-cni-node", "k8s-app=istio-cni-node") }},
	{ID: "ambient.cni-ambient-enabled", Category: CategoryAmbient, Ingress: AnyIngress, Description: "istio-cni has ambient mode enabled",
		Needs: needCNIConfig, Run: checkCNIAmbient},

	{ID: "enrolment.namespace-label", Category: CategoryEnrolment, Ingress: AnyIngress, Description: "namespace enrolled in ambient mode",
		Needs: needNamespacePods, Run: checkNamespaceLabel},
	{ID: "enrolment.no-sidecar-injection", Category: CategoryEnrolment, Ingress: AnyIngress, Description: "namespace not set up for sidecar injection",
		Needs: needNamespace, Run: checkNoSidecarInjection},
	{ID: "enrolment.no-opt-out", Category: CategoryEnrolment, Ingress: AnyIngress, Description: "no pod opted out or running a sidecar",
		Needs: needPods, Run: checkNoOptOut},
	{ID: "enrolment.pods-redirected", Category: CategoryEnrolment, Ingress: AnyIngress, Description: "every pod's traffic captured by ztunnel",
		Needs: needPods, Run: checkPodsRedirected},

	{ID: "mtls.namespace-strict", Category: CategoryMTLS, Ingress: AnyIngress, Description: "effective mTLS mode STRICT for every workload",
		Needs: needWorkloadPolicies, Run: checkStrict},
	{ID: "mtls.no-permissive-ports", Category: CategoryMTLS, Ingress: AnyIngress, Description: "no port-level exception to STRICT",
		Needs: needWorkloadPolicies, Run: checkPortLevel},
	{ID: "mtls.ignored-policies", Category: CategoryMTLS, Ingress: AnyIngress, Description: "no PeerAuthentication that ambient ignores",
		Needs: needPolicies, Run: checkIgnoredPolicies},
	{ID: "mtls.destinationrule-tls", Category: CategoryMTLS, Ingress: AnyIngress, Description: "no DestinationRule TLS settings on the namespace's hosts",
		Needs: needDestinationRules, Run: checkDestinationRuleTLS},

	// Which inputs it needs depends on the ingress it finds: it says itself.
	{ID: "ingress.gateway-found", Category: CategoryIngress, Ingress: AnyIngress, Description: "a Gateway routes to the application",
		Run: checkGatewayFound},
	{ID: "ingress.selector-matches", Category: CategoryIngress, Ingress: ClassicIngress, Description: "Gateway selector matches ingress gateway pods",
		Needs: needGatewayPods, Requires: requireGateways, Run: checkSelectorMatches},
	{ID: "ingress.service-ports", Category: CategoryIngress, Ingress: ClassicIngress, Description: "Gateway ports exposed by the gateway Service",
		Needs: needGatewayServices, Requires: requireGateways, Run: checkServicePorts},
	{ID: "ingress.https-server", Category: CategoryIngress, Ingress: ClassicIngress, Description: "HTTPS server terminates TLS with a credential",
		Needs: needRouting, Requires: requireGateways, Run: checkHTTPSServer},
	{ID: "ingress.http-redirect", Category: CategoryIngress, Ingress: ClassicIngress, Description: "plain HTTP redirects to HTTPS",
		Needs: needRouting, Requires: requireGateways, Run: checkHTTPRedirect},
	{ID: "ingress.no-conflicts", Category: CategoryIngress, Ingress: ClassicIngress, Description: "no other Gateway conflicts on the same pods",
		Needs: needGatewayServices, Requires: requireGateways, Run: checkNoConflicts},

	{ID: "routing.gateway-ref", Category: CategoryRouting, Ingress: ClassicIngress, Description: "VirtualService gateway references resolve",
		Needs: needRouting, Requires: requireRoutes, Run: checkGatewayRefs},
	{ID: "routing.hosts-intersect", Category: CategoryRouting, Ingress: ClassicIngress, Description: "VirtualService hosts match the Gateway's",
		Needs: needRouting, Requires: requireGateways, Run: checkHostsIntersect},
	{ID: "routing.destination-exists", Category: CategoryRouting, Ingress: ClassicIngress, Description: "route destinations exist with their ports",
		Needs: needDestinations, Requires: requireRoutes, Run: checkDestinations},

	{ID: "gatewayapi.class-accepted", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "GatewayClass exists and is Accepted",
		Needs: needAPIClasses, Requires: requireAPIGateways, Run: checkClassAccepted},
	{ID: "gatewayapi.gateway-accepted", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "Gateway Accepted by its controller",
		Needs: needAPIClasses, Requires: requireAPIClass, Run: checkAPIGatewayAccepted},
	{ID: "gatewayapi.gateway-programmed", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "Gateway Programmed: deployed with an address",
		Needs: needAPIClasses, Requires: requireAPIAccepted, Run: checkAPIGatewayProgrammed},
	{ID: "gatewayapi.route-hostnames", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "HTTPRoute hostnames match the listeners'",
		Needs: needAPIIngress, Requires: requireAPIGateways, Run: checkRouteHostnames},
	{ID: "gatewayapi.route-backend", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "HTTPRoute backends exist with their ports",
		Needs: needAPIBackends, Run: checkRouteBackends},
	{ID: "gatewayapi.route-accepted", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "HTTPRoute Accepted by each parent Gateway",
		Needs: needAPIClasses, Requires: requireAPIRouteAccepted, Run: checkRouteAccepted},
	{ID: "gatewayapi.route-refs-resolved", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "HTTPRoute references resolved",
		Needs: needAPIBackends, Requires: requireAPIRouteRefs, Run: checkRouteRefsResolved},
	{ID: "gatewayapi.https-listener", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "HTTPS listener terminates TLS with a certificate",
		Needs: needAPIIngress, Requires: requireAPIListeners, Run: checkHTTPSListener},
	{ID: "gatewayapi.certificate-ref-granted", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "certificateRefs to other namespaces granted",
		Needs: needAPIGrants, Requires: requireAPIHTTPS, Run: checkCertificateRefGranted},
	{ID: "gatewayapi.listener-refs-resolved", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "HTTPS listener's certificate resolved and programmed",
		Needs: needAPIListenerRefs, Requires: requireAPIGranted, Run: checkListenerRefsResolved},
	{ID: "gatewayapi.http-redirect", Category: CategoryGatewayAPI, Ingress: GatewayAPIIngress, Description: "plain HTTP redirects to HTTPS",
		Needs: needAPIIngress, Requires: requireAPIGateways, Run: checkAPIHTTPRedirect},

	{ID: "certificate.secret-present", Category: CategoryCertificate, Ingress: AnyIngress, Description: "credential Secret in the gateway pods' namespace",
		Needs: needCredentials, Requires: requireHTTPS, Run: checkSecretPresent},
	{ID: "certificate.gateway-may-read", Category: CategoryCertificate, Ingress: AnyIngress, Description: "gateway ServiceAccount may read its credentials",
		Needs: needSecretAccess, Requires: requireHTTPS, Run: checkGatewayMayRead},
	{ID: "certificate.secret-format", Category: CategoryCertificate, Ingress: AnyIngress, Description: "credential Secret in a form Istio reads",
		Needs: needCredentials, Requires: requireCredentials, Run: checkSecretFormat},
	{ID: "certificate.keypair", Category: CategoryCertificate, Ingress: AnyIngress, Description: "certificate and key parse and match",
		Needs: needCredentials, Requires: requireReadable, Run: checkKeyPair},
	{ID: "certificate.sans", Category: CategoryCertificate, Ingress: AnyIngress, Description: "certificate covers every HTTPS host",
		Needs: needCredentials, Requires: requireParsed, Run: checkSANs},
	{ID: "certificate.validity", Category: CategoryCertificate, Ingress: AnyIngress, Description: "certificate valid now and for long enough",
		Needs: needCredentials, Requires: requireParsed, Run: checkValidity},
	{ID: "certificate.chain", Category: CategoryCertificate, Ingress: AnyIngress, Description: "certificate chains to the Secret's ca.crt",
		Needs: needCredentials, Requires: requireParsed, Run: checkChain},
	{ID: "certificate.cert-manager-ready", Category: CategoryCertificate, Ingress: AnyIngress, Description: "cert-manager Certificate and issuer Ready",
		Needs: needCertManager, Requires: requireCertManager, Run: checkCertManagerReady},
	{ID: "certificate.renewal", Category: CategoryCertificate, Ingress: AnyIngress, Description: "cert-manager renews the certificate on time",
		Needs: needCertManager, Requires: requireCertManager, Run: checkCertificateRenewal},
	{ID: "certificate.served-current", Category: CategoryCertificate, Ingress: AnyIngress, Description: "gateway serves the latest issue of the certificate",
		Needs: needProbe, Requires: requireServedCert, Run: checkServedCurrent},
	{ID: "certificate.mesh-root-expiry", Category: CategoryCertificate, Ingress: AnyIngress, Description: "mesh root certificate valid for long enough",
		Needs: needMeshRoot, Run: checkMeshRootExpiry},
	{ID: "certificate.mesh-root-single", Category: CategoryCertificate, Ingress: AnyIngress, Description: "mesh root bundle holds one root",
		Needs: needMeshRoot, Requires: requireMeshRoot, Run: checkMeshRootSingle},

	{ID: "probe.tls-handshake", Category: CategoryProbe, Ingress: AnyIngress, Description: "TLS handshake validates for every host",
		Needs: needProbe, Requires: requireProbeHTTPS, Run: checkProbeHandshake},
	{ID: "probe.served-certificate", Category: CategoryProbe, Ingress: AnyIngress, Description: "gateway serves the Secret's certificate",
		Needs: needProbe, Requires: requireServedNotStale, Run: checkProbeServedCert},
	{ID: "probe.https-route", Category: CategoryProbe, Ingress: AnyIngress, Description: "HTTPS request reaches the application",
		Needs: needProbe, Requires: requireHandshakesOpen, Run: checkProbeRoute},
	{ID: "probe.http-redirect", Category: CategoryProbe, Ingress: AnyIngress, Description: "plain HTTP answers with a redirect to HTTPS",
		Needs: needProbe, Requires: requireHTTPProbe, Run: checkProbeRedirect},

	{ID: "authorization.ingress-admitted", Category: CategoryAuthorization, Ingress: AnyIngress, Description: "AuthorizationPolicies admit the ingress gateway to the entry pods",
		Needs: needIngressAdmitted, Requires: requireEntryAndGateway, Run: checkIngressAdmitted},
	{ID: "authorization.gateway-admits-clients", Category: CategoryAuthorization, Ingress: AnyIngress, Description: "AuthorizationPolicies on the gateway itself admit clients",
		Needs: needGatewayAuthorization, Requires: requireGatewayIdentified, Run: checkGatewayAdmitsClients},
	{ID: "authorization.ztunnel-accepted", Category: CategoryAuthorization, Ingress: AnyIngress, Description: "ztunnel enforces the namespace's AuthorizationPolicies as written",
		Needs: needZtunnelAccepted, Run: checkZtunnelAccepted},
	{ID: "authorization.waypoint-ingress", Category: CategoryAuthorization, Ingress: AnyIngress, Description: "ingress traffic goes through the entry Service's waypoint",
		Needs: needWaypointIngress, Requires: requireEntry, Run: checkWaypointIngress},
	{ID: "authorization.waypoint-admitted", Category: CategoryAuthorization, Ingress: AnyIngress, Description: "AuthorizationPolicies admit the waypoints the Services use",
		Needs: needWaypointAdmitted, Run: checkWaypointAdmitted},
	{ID: "authorization.port-forward", Category: CategoryAuthorization, Ingress: AnyIngress, Description: "no one but cluster admins may port-forward to the pods",
		Needs: needRBAC, Run: checkPortForward},
	{ID: "authorization.no-bypass-service", Category: CategoryAuthorization, Ingress: AnyIngress, Description: "no NodePort or LoadBalancer Service around the ingress gateway",
		Needs: needBypass, Run: checkNoBypassService},
	{ID: "authorization.lockdown-intact", Category: CategoryAuthorization, Ingress: AnyIngress, Description: "secure's lockdown policies intact, where in place",
		Needs: needLockdownIntact, Run: checkLockdownIntact},

	{ID: "reachability.plaintext-refused", Category: CategoryReachability, Ingress: AnyIngress, Description: "every port of the application refuses plaintext from outside the mesh",
		Needs: needReachability, Run: checkPlaintextRefused},
	{ID: "reachability.entry-admits-gateway", Category: CategoryReachability, Ingress: AnyIngress, Description: "the ingress gateway reaches the entry ports",
		Needs: needReachabilityGateway, Requires: requireEntryAndGateway, Run: checkEntryAdmitsGateway},
	{ID: "reachability.backends-internal", Category: CategoryReachability, Ingress: AnyIngress, Description: "no backend port is reachable from another namespace",
		Needs: needReachabilityBackends, Requires: requireEntry, Run: checkBackendsInternal},

	{ID: "authentication.configured", Category: CategoryAuthentication, Ingress: AnyIngress, Description: "the gateway requires a token or an authorizer's consent for the application's hosts",
		Needs: needAuthentication, Requires: requireGatewayIdentified, Run: checkAuthConfigured},
	{ID: "authentication.policies-attached", Category: CategoryAuthentication, Ingress: AnyIngress, Description: "the authentication policies bind the application's gateways",
		Needs: needAuthentication, Requires: requireGatewayIdentified, ReportedOnly: &authenticationConfigured, Run: checkAuthAttached},
	{ID: "authentication.hosts-covered", Category: CategoryAuthentication, Ingress: AnyIngress, Description: "every form of every host needs credentials, with and without the port",
		Needs: needAuthentication, Requires: requireCredentialPolicies, ReportedOnly: &authenticationConfigured, Run: checkAuthHostsCovered},
	{ID: "authentication.jwt-rules", Category: CategoryAuthentication, Ingress: AnyIngress, Description: "issuers and JWKS URIs well formed, and the ones the policies admit",
		Needs: needAuthentication, Requires: requireTokens, ReportedOnly: &authenticationConfigured, Run: checkAuthJWTRules},
	{ID: "authentication.jwks-reachable", Category: CategoryAuthentication, Ingress: AnyIngress, Description: "each issuer's keys answer from here",
		Needs: needAuthentication, Requires: requireTokens, ReportedOnly: &authenticationConfigured, Run: checkAuthJWKS},
	{ID: "authentication.provider-exists", Category: CategoryAuthentication, Ingress: AnyIngress, Description: "CUSTOM policies name an extension provider of the mesh config",
		Needs: needAuthentication, Requires: requireGatewayIdentified, ReportedOnly: &authenticationConfigured, Run: checkAuthProvider},
	{ID: "authentication.probe-without-token", Category: CategoryAuthentication, Ingress: AnyIngress, Description: "the gateway turns away a request without a token",
		Needs: needAuthProbe, Requires: requireHandshakes, ReportedOnly: &authenticationConfigured, Run: checkAuthProbeAnonymous},
	{ID: "authentication.probe-with-token", Category: CategoryAuthentication, Ingress: AnyIngress, Description: "a request with --probe-token-file's token reaches the application",
		Needs: needAuthProbe, Requires: requireHandshakes, ReportedOnly: &authenticationConfigured, Run: checkAuthProbeToken},
}

// What the checks read. Each list is whole: a check of the gateway's pods
// also names the routing objects that lead to them.
var (
	needIstiod           = []snapshot.Input{snapshot.InputIstiod}
	needDaemonSets       = []snapshot.Input{snapshot.InputDaemonSets}
	needCNIConfig        = []snapshot.Input{snapshot.InputCNIConfig}
	needNamespace        = []snapshot.Input{snapshot.InputNamespace}
	needPods             = []snapshot.Input{snapshot.InputPods}
	needNamespacePods    = []snapshot.Input{snapshot.InputNamespace, snapshot.InputPods}
	needPolicies         = []snapshot.Input{snapshot.InputPeerAuthentications, snapshot.InputMeshConfig}
	needWorkloadPolicies = []snapshot.Input{snapshot.InputPods, snapshot.InputPeerAuthentications, snapshot.InputMeshConfig}
	needDestinationRules = []snapshot.Input{snapshot.InputDestinationRules}
	needRouting          = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways}
	needDestinations     = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputServices}
	// istiod's PILOT_SCOPE_GATEWAY_TO_NAMESPACE decides which pods serve a
	// Gateway.
	needGatewayPods     = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputGatewayPods, snapshot.InputIstiod}
	needGatewayServices = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputGatewayPods, snapshot.InputIstiod, snapshot.InputServices}
	needCredentials     = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputGatewayPods, snapshot.InputIstiod, snapshot.InputSecrets}
	needSecretAccess    = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputGatewayPods, snapshot.InputIstiod, snapshot.InputSecretAccess}
	needCertManager     = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputGatewayPods, snapshot.InputIstiod, snapshot.InputSecrets, snapshot.InputCertificates}
	// The Gateway API's objects; the routes come first: they say which
	// Gateways are the application's.
	needIngressFound    = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways}
	needAPIIngress      = []snapshot.Input{snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways}
	needAPIClasses      = []snapshot.Input{snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways, snapshot.InputGatewayClasses}
	needAPIBackends     = []snapshot.Input{snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways, snapshot.InputServices}
	needAPIGrants       = []snapshot.Input{snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways, snapshot.InputReferenceGrants}
	needAPIListenerRefs = []snapshot.Input{snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways, snapshot.InputGatewayClasses, snapshot.InputReferenceGrants, snapshot.InputSecrets}
	needProbe           = snapshot.ProbeInputs
	// The gateway's principal comes from its pods (an Istio Gateway) or
	// its Gateway (the Gateway API), the trust domain and root namespace
	// from the mesh config; the entry pods from the routes and Services.
	needIngressAdmitted = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputGatewayPods, snapshot.InputIstiod, snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways,
		snapshot.InputServices, snapshot.InputPods, snapshot.InputMeshConfig, snapshot.InputAuthorizationPolicies}
	// The gateway's pods or Gateway, its listeners and hosts, and the
	// policies of its namespace and the root namespace.
	needGatewayAuthorization = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputGatewayPods, snapshot.InputIstiod, snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways,
		snapshot.InputServices, snapshot.InputPods, snapshot.InputMeshConfig, snapshot.InputAuthorizationPolicies}
	// istiod's settings say whether it writes ZtunnelAccepted.
	needZtunnelAccepted  = []snapshot.Input{snapshot.InputAuthorizationPolicies, snapshot.InputIstiod}
	needWaypointIngress  = []snapshot.Input{snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputHTTPRoutes, snapshot.InputGatewayAPIGateways, snapshot.InputServices, snapshot.InputNamespace}
	needWaypointAdmitted = []snapshot.Input{snapshot.InputNamespace, snapshot.InputServices, snapshot.InputPods, snapshot.InputGatewayAPIGateways, snapshot.InputMeshConfig, snapshot.InputAuthorizationPolicies}
	// The reachability matrix: the namespace's Services, its pods and the
	// pod ports their EndpointSlices resolve named targetPorts to, and
	// every policy that can apply; at the entry ports also who the gateway
	// is.
	needReachability        = []snapshot.Input{snapshot.InputNamespace, snapshot.InputPods, snapshot.InputEndpointSlices, snapshot.InputServices, snapshot.InputPeerAuthentications, snapshot.InputAuthorizationPolicies, snapshot.InputMeshConfig, snapshot.InputGatewayAPIGateways}
	needReachabilityGateway = append(append([]snapshot.Input(nil), needIngressAdmitted...), snapshot.InputPeerAuthentications, snapshot.InputNamespace, snapshot.InputEndpointSlices)
	// ReachabilityInputs are what the whole matrix is computed from: every
	// column's, the gateway's included.
	ReachabilityInputs = append(append([]snapshot.Input(nil), needReachability...), needReachabilityGateway...)
	// The backends are all but the entry Services the routes lead to.
	needReachabilityBackends = append(append([]snapshot.Input(nil), needReachability...), snapshot.InputVirtualServices, snapshot.InputGateways, snapshot.InputHTTPRoutes)
	// What secure would render: the waypoints the Services use, the trust
	// domain. (Without the pods' service accounts, the check judges what it
	// can.)
	needLockdownIntact = []snapshot.Input{snapshot.InputAuthorizationPolicies, snapshot.InputNamespace, snapshot.InputServices, snapshot.InputGatewayAPIGateways, snapshot.InputMeshConfig}
	needRBAC           = []snapshot.Input{snapshot.InputRBAC}
	// The gateway's pods or Gateway, its listeners and hosts, the policies
	// of its namespace and the root namespace, and the mesh config's
	// extension providers.
	needAuthentication = append(append([]snapshot.Input{}, needGatewayAuthorization...), snapshot.InputRequestAuthentications)
	needAuthProbe      = append(append([]snapshot.Input{}, snapshot.ProbeInputs...), needAuthentication...)
	needMeshRoot       = []snapshot.Input{snapshot.InputMeshRoot}
	needBypass         = []snapshot.Input{snapshot.InputServices, snapshot.InputPods}
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
	requireHandshakes  = []Requirement{probeReachedGateway, handshakesSucceeded}
	// Behind authentication, the application's answer needs a token.
	requireHandshakesOpen = []Requirement{probeReachedGateway, handshakesSucceeded, noAuthentication}
	requireServedCert     = []Requirement{probeReachedGateway, handshakesSucceeded, secretCertificateUsable}
	requireHTTPProbe      = []Requirement{probeReachedGateway, httpProbeAddress}
	// A stale certificate is certificate.served-current's finding.
	requireServedNotStale = []Requirement{probeReachedGateway, handshakesSucceeded, secretCertificateUsable, servedNotStale}
	requireMeshRoot       = []Requirement{meshRootFound}

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

	requireEntry              = []Requirement{entryRouted}
	requireEntryAndGateway    = []Requirement{entryRouted, gatewayIdentified}
	requireGatewayIdentified  = []Requirement{gatewayIdentified}
	requireTokens             = []Requirement{gatewayIdentified, requestAuthentications}
	requireCredentialPolicies = []Requirement{gatewayIdentified, credentialPolicies}
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

// checkIstiodAmbient: without PILOT_ENABLE_AMBIENT istiod builds no
// workload or authorization configuration for ztunnel, so nothing of the
// namespace's enrolment or STRICT policy reaches the data plane.
func checkIstiodAmbient(v *checkView) Result {
	w := v.s.Istiod[0]
	if value := v.IstiodSetting("PILOT_ENABLE_AMBIENT"); value != "true" {
		return fail("reinstall istiod with the ambient profile: istioctl install --set profile=ambient (or helm upgrade istiod istio/istiod -n istio-system --set profile=ambient)",
			"istiod %s/%s runs with PILOT_ENABLE_AMBIENT=%q: it sends ztunnel no workloads and no policies", w.Namespace, w.Name, value)
	}
	return pass("%s/%s: PILOT_ENABLE_AMBIENT=true", w.Namespace, w.Name)
}

func checkDaemonSet(ws []snapshot.Workload, name, selector string) Result {
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
	pods, _ := v.AppPods()
	var unlabelled []snapshot.Object
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

func podNames(pods []snapshot.Object) string {
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
	pods, gateways := v.AppPods()
	var optedOut, sidecars, injecting []snapshot.Object
	for _, p := range pods {
		if p.Labels[istio.DataplaneModeLabel] == "none" {
			optedOut = append(optedOut, p)
		}
		switch {
		case p.Annotations[sidecarStatus] != "":
			sidecars = append(sidecars, p)
		case sidecarRequested(p):
			injecting = append(injecting, p)
		}
	}
	switch {
	case len(optedOut) > 0:
		return fail(fmt.Sprintf("remove the label from the pods' template (kubectl label pod -n %s %s %s-)", v.s.Namespace, optedOut[0].Name, istio.DataplaneModeLabel),
			"pods opted out with %s=none: %s", istio.DataplaneModeLabel, podNames(optedOut))
	case len(sidecars) > 0:
		return fail("disable sidecar injection for these workloads and restart them", "pods run an Istio sidecar: %s", podNames(sidecars))
	case len(injecting) > 0:
		return fail(fmt.Sprintf("remove %s from the pods' template (kubectl label pod -n %s %s %s-, then the Deployment's)", sidecarInject, v.s.Namespace, injecting[0].Name, sidecarInject),
			"pods ask for a sidecar (%s=true) in ambient mode: once injected, it takes their traffic and ztunnel leaves them to it (Kiali's KIA1311-KIA1316): %s", sidecarInject, podNames(injecting))
	}
	return pass("%d pods, none opted out%s", len(pods), leftOut(gateways))
}

func checkPodsRedirected(v *checkView) Result {
	pods, gateways := v.AppPods()
	if len(pods) == 0 {
		return warn("deploy the application, then run verify again", "namespace %s has no pods%s", v.s.Namespace, leftOut(gateways))
	}
	var pending, missing []snapshot.Object
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

func (v *checkView) rootNamespace() string {
	if v.s.RootNamespace != "" {
		return v.s.RootNamespace
	}
	return istio.DefaultRootNamespace
}

// podPeerAuthentications are the PeerAuthentications that can apply to a
// pod of the namespace, the root namespace's and its own (istiod's
// fetchPeerAuthentications looks nowhere else), picked once: every pod's
// mode is judged against them, and a cluster holds one or more per
// namespace.
func (v *checkView) podPeerAuthentications() []istio.PeerAuthentication {
	if v.podPAs == nil {
		v.podPAs = []istio.PeerAuthentication{}
		for _, pa := range v.s.PeerAuthentications {
			if pa.Namespace == v.rootNamespace() || pa.Namespace == v.s.Namespace {
				v.podPAs = append(v.podPAs, pa)
			}
		}
	}
	return v.podPAs
}

// workloads are the label sets mTLS is judged for: every pod, or, when the
// namespace has none, a pod without labels standing for any pod started
// there, named so that a message says what it is.
func (v *checkView) workloads() []snapshot.Object {
	if len(v.s.Pods) == 0 {
		return []snapshot.Object{{Namespace: v.s.Namespace, Name: fmt.Sprintf("any pod started in namespace %s (it has none)", v.s.Namespace)}}
	}
	return v.s.Pods
}

func checkStrict(v *checkView) Result {
	var weak []string
	for _, p := range v.workloads() {
		eff := istio.EffectiveMode(v.podPeerAuthentications(), v.rootNamespace(), v.s.Namespace, p.Labels)
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

// carveOuts are the ports where a plaintext exception to STRICT serves
// callers that cannot be in the mesh, as Enterprise-RAG writes them: the
// kube-apiserver calling an admission webhook, and clients reaching an
// ingress that runs in the mesh.
var carveOuts = map[string]string{
	"9443": "a webhook's port: the kube-apiserver calls it without mTLS",
	"443":  "an in-mesh ingress's port: clients outside the mesh connect there",
	"8443": "an in-mesh ingress's port: clients outside the mesh connect there",
}

func checkPortLevel(v *checkView) Result {
	var holes, carved []string
	for _, p := range v.workloads() {
		eff := istio.EffectiveMode(v.podPeerAuthentications(), v.rootNamespace(), v.s.Namespace, p.Labels)
		for port, mode := range eff.PortModes {
			if mode != "PERMISSIVE" && mode != "DISABLE" {
				continue
			}
			hole := fmt.Sprintf("%s port %s %s (%s)", p.Name, port, mode, eff.Source)
			if why, ok := carveOuts[port]; ok {
				carved = append(carved, hole+": "+why)
			} else {
				holes = append(holes, hole)
			}
		}
	}
	sort.Strings(holes)
	sort.Strings(carved)
	switch {
	case len(holes) > 0:
		also := ""
		if len(carved) > 0 {
			also = "; and on the carve-outs " + strings.Join(carved, "; ")
		}
		return fail("remove the portLevelMtls entries, or set them to STRICT", "plaintext allowed on: %s%s", strings.Join(holes, "; "), also)
	case len(carved) > 0:
		return warn(fmt.Sprintf("keep each carve-out only while a caller outside the mesh needs it (kubectl get peerauthentication -n %s -o yaml)", v.s.Namespace),
			"plaintext allowed only on carve-outs for callers outside the mesh: %s", strings.Join(carved, "; "))
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
func (v *checkView) olderNamespacePolicy(pa istio.PeerAuthentication) string {
	for _, other := range v.s.PeerAuthentications {
		if other.Namespace == pa.Namespace && len(other.MatchLabels()) == 0 && other.Name != pa.Name && istio.Older(other, pa) {
			return snapshot.Key(other.Namespace, other.Name)
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
		if ns, _ := snapshot.DestinationService(dr.Namespace, dr.Host); ns == v.s.Namespace || strings.HasSuffix(dr.Host, "."+v.s.Namespace+".svc.cluster.local") {
			rules = append(rules, fmt.Sprintf("%s/%s (host %s, tls.mode %s)", dr.Namespace, dr.Name, dr.Host, dr.TLSMode()))
		}
	}
	if len(rules) > 0 {
		return warn("remove trafficPolicy.tls from these DestinationRules: ambient encrypts with ztunnel, and client TLS settings break it (503 UF)",
			"DestinationRules set TLS for the namespace's hosts: %s", strings.Join(rules, "; "))
	}
	return pass("none")
}
