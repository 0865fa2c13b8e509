package check

import (
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// Requirement is a named precondition of a check: a state of what the check
// reads that it assumes, such as a Gateway routing to the application or a
// credential Secret that parses. Where it does not hold the check does not
// apply: it is skipped with Reason and does not run.
type Requirement struct {
	Name   string
	Reason string
	holds  func(*checkView) bool
	// why, when set, says more than Reason of why it does not hold.
	why func(*checkView) string
}

// checkView is the scope the checks run on, with what the requirements
// derive from it: computed once, on first use, for every check that reads it.
type checkView struct {
	*snapshot.Scope
	s       *snapshot.Snapshot
	lookup  *credentialLookup
	parsing *credentialParsing
	// podPAs is podPeerAuthentications' answer, once asked.
	podPAs []istio.PeerAuthentication
}

// unmet is the skip result of the first of reqs that does not hold; ok is
// true when all hold.
func (v *checkView) unmet(reqs []Requirement) (r Result, ok bool) {
	for _, req := range reqs {
		if !req.holds(v) {
			reason := req.Reason
			if req.why != nil {
				reason = req.why(v)
			}
			return Result{Status: Skip, Message: reason}, false
		}
	}
	return Result{}, true
}

// The preconditions of the catalogue's checks.
var (
	istiodFound = Requirement{Name: "istiodFound", Reason: "no istiod",
		holds: func(v *checkView) bool { return len(v.s.Istiod) > 0 }}
	virtualServicesRoute = Requirement{Name: "virtualServicesRoute", Reason: "no VirtualService routes to the application",
		holds: func(v *checkView) bool { return len(v.Routes) > 0 }}
	gatewaysRoute = Requirement{Name: "gatewaysRoute", Reason: "no Gateway routes to the application",
		holds: func(v *checkView) bool { return len(v.Gateways) > 0 }}
	httpsServer = Requirement{Name: "httpsServer", Reason: "no HTTPS server",
		holds: func(v *checkView) bool { return len(v.TLSListeners()) > 0 }}
	// listenerRefsResolved holds trivially without Gateway API listeners.
	listenerRefsResolved = Requirement{Name: "listenerRefsResolved", Reason: "a Gateway API listener's certificate does not resolve",
		holds: func(v *checkView) bool { p, _ := v.listenerRefProblem(); return p == "" }}
	// credentialsPresent: every HTTPS server's Secret is where Istio reads it.
	credentialsPresent = Requirement{Name: "credentialsPresent", Reason: "the credential Secret is missing",
		holds: func(v *checkView) bool { return len(v.missingCredentials()) == 0 && len(v.foundCredentials()) > 0 }}
	// credentialsReadable: the first credential that is not usable, if any,
	// is in a form Istio reads.
	credentialsReadable = Requirement{Name: "credentialsReadable", Reason: "the credential Secret is not usable",
		holds: func(v *checkView) bool { return !v.parseCredentials().unreadable }}
	// credentialsUsable: every credential's certificate and key parse and
	// match.
	credentialsUsable = Requirement{Name: "credentialsUsable", Reason: "the certificate or key is not usable",
		holds: func(v *checkView) bool { return v.parseCredentials().bad == nil }}
	certManagerManaged = Requirement{Name: "certManagerManaged", Reason: "the credential Secret is not managed by cert-manager",
		holds: func(v *checkView) bool { return v.certManagerManaged() }}

	httpsServerToProbe = Requirement{Name: "httpsServerToProbe", Reason: "no HTTPS server to probe",
		holds: func(v *checkView) bool { return len(v.TLSListeners()) > 0 }}
	// probeReachedGateway: the probe, if any ran, was not skipped and its
	// port-forward carried it.
	probeReachedGateway = Requirement{Name: "probeReachedGateway", Reason: "the probe did not reach the gateway",
		holds: func(v *checkView) bool { return v.s.Probe == nil || v.s.Probe.Unprobed() == "" },
		why:   func(v *checkView) string { return "not probed: " + v.s.Probe.Unprobed() }}
	handshakesSucceeded = Requirement{Name: "handshakesSucceeded", Reason: "no successful handshake",
		holds: func(v *checkView) bool { return handshakesSucceed(v.s.Probe) }}
	// secretCertificateUsable is credentialsPresent and credentialsUsable,
	// as the probe names them.
	secretCertificateUsable = Requirement{Name: "secretCertificateUsable", Reason: "the Secret's certificate is not usable",
		holds: func(v *checkView) bool { return credentialsPresent.holds(v) && v.parseCredentials().bad == nil }}
	servedNotStale = Requirement{Name: "servedNotStale", Reason: "the gateway serves an earlier issue of the Secret's certificate: see certificate.served-current",
		holds: func(v *checkView) bool { _, _, stale := v.staleHost(); return !stale }}
	meshRootFound = Requirement{Name: "meshRootFound", Reason: "no ConfigMap istio-ca-root-cert in the namespace: see certificate.mesh-root-expiry",
		holds: func(v *checkView) bool { return v.s.MeshRoot.Found }}
	httpProbeAddress = Requirement{Name: "httpProbeAddress", Reason: "no plain HTTP address to probe",
		holds: func(v *checkView) bool { return v.s.Probe != nil && v.s.Probe.HTTPAddress != "" }}

	// The Gateway API's: each names the check whose finding it is.
	apiGatewaysRoute = Requirement{Name: "apiGatewaysRoute", Reason: "no Gateway API Gateway routes to the application",
		holds: func(v *checkView) bool { return len(v.APIGateways) > 0 }}
	apiClassAccepted = Requirement{Name: "apiClassAccepted", Reason: "the GatewayClass is missing or not Accepted",
		holds: func(v *checkView) bool { p, _ := v.classProblem(); return p == "" }}
	apiGatewayAccepted = Requirement{Name: "apiGatewayAccepted", Reason: "the Gateway is not Accepted",
		holds: func(v *checkView) bool {
			for _, gw := range v.APIGateways {
				if gatewayapi.Unmet(gw.Status.Conditions, "Accepted", gw.Generation) != "" {
					return false
				}
			}
			return true
		}}
	apiHostnamesMatch = Requirement{Name: "apiHostnamesMatch", Reason: "the HTTPRoute's hostnames match no listener's",
		holds: func(v *checkView) bool { p, _ := v.hostnameProblem(); return p == "" }}
	apiBackendsExist = Requirement{Name: "apiBackendsExist", Reason: "a backend of the HTTPRoute is missing",
		holds: func(v *checkView) bool { p, _ := v.backendProblem(); return p == "" }}
	apiRoutesAttach = Requirement{Name: "apiRoutesAttach", Reason: "no HTTPRoute of the application attaches to a listener",
		holds: func(v *checkView) bool { return len(v.APIListeners) > 0 }}
	apiHTTPSListener = Requirement{Name: "apiHTTPSListener", Reason: "no HTTPS listener with a certificate carries the application's routes",
		holds: func(v *checkView) bool { return len(v.APITLSListeners()) > 0 }}
	// The Authorization checks judge the Services the routes lead to, and
	// the gateway pods that send to them.
	entryRouted = Requirement{Name: "entryRouted", Reason: "the ingress routes to no Service of the namespace",
		holds: func(v *checkView) bool { return len(v.EntryTargets()) > 0 }}
	gatewayIdentified = Requirement{Name: "gatewayIdentified", Reason: "no gateway pod serves the application's Gateways",
		holds: func(v *checkView) bool { return len(v.gatewayCallers()) > 0 || len(v.UnidentifiedGateways()) > 0 }}
	// The Authentication checks are reported only where the application's
	// hosts need credentials; the probe's check of the application's
	// answer then leaves it to them. Either way, what could not be read
	// is judged: the checks are reported Unknown, the answer is judged
	// without.
	authenticationConfigured = Requirement{Name: "authenticationConfigured", Reason: "no authentication at the gateway for the application's hosts",
		holds: func(v *checkView) bool { return v.authenticationConfigured() }}
	noAuthentication = Requirement{Name: "noAuthentication", Reason: "requests for the hosts need a token or an authorizer's consent: authentication.probe-without-token and authentication.probe-with-token judge the gateway's answers",
		holds: func(v *checkView) bool {
			return len(v.s.Refused(needAuthentication...)) > 0 || !v.authentication().configured()
		}}
	credentialPolicies = Requirement{Name: "credentialPolicies", Reason: "no AuthorizationPolicy requires credentials for the application's hosts",
		holds: func(v *checkView) bool { return len(v.authentication().policies) > 0 }}
	requestAuthentications = Requirement{Name: "requestAuthentications", Reason: "no RequestAuthentication on the application's gateways: tokens are left to the external authorizer",
		holds: func(v *checkView) bool { return len(v.authentication().ras) > 0 }}
	apiRefsGranted = Requirement{Name: "apiRefsGranted", Reason: "a certificateRef to another namespace is not granted",
		holds: func(v *checkView) bool { p, _ := v.grantProblem(); return p == "" }}
)
