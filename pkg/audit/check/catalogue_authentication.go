package check

import (
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// ---- Authentication
//
// In ambient mode the one Envoy a request from outside meets on its way to
// the application is the ingress gateway's: a token is checked there or
// nowhere. These checks judge the policies that make the gateway ask for
// one (secure --auth's, or any that require a token or an external
// authorizer's consent for the application's hosts), as istiod attaches
// them to the gateway, and what the gateway answers with and without a
// token.

// gatewayProxy is one Envoy that serves the application's hosts.
type gatewayProxy struct {
	proxy istio.GatewayProxy
	// name names it for messages: its pod, or its Gateway.
	name string
}

// appAuth is what of the snapshot authenticates the application's
// callers at its gateways.
type appAuth struct {
	requests []gatewayRequest
	proxies  []gatewayProxy
	// ours are secure --auth's policies for the application, wherever
	// they are; oursRA its RequestAuthentication among them.
	ours   []istio.AuthorizationPolicy
	oursRA []istio.RequestAuthentication
	// policies are the AuthorizationPolicies attached to a gateway of the
	// application that decide by the caller's credentials
	// (istio.RequiresCredentials) about a request for its hosts.
	policies []istio.AuthorizationPolicy
	// ras are the RequestAuthentications attached to a gateway of the
	// application, with secure's where it put them.
	ras []istio.RequestAuthentication
}

// configured reports whether the application's hosts are meant to need a
// token or an authorizer's consent.
func (a appAuth) configured() bool {
	return len(a.ours) > 0 || len(a.oursRA) > 0 || len(a.policies) > 0
}

// authentication gathers appAuth from the snapshot.
func (v *checkView) authentication() appAuth {
	a := appAuth{requests: v.clientRequests()}
	seen := map[string]bool{}
	for _, r := range a.requests {
		k := fmt.Sprintf("%s|%v|%s", r.proxy.Namespace, r.proxy.Labels, r.proxy.GatewayName)
		if !seen[k] {
			seen[k] = true
			a.proxies = append(a.proxies, gatewayProxy{proxy: r.proxy, name: r.gateway})
		}
	}
	names := ownership.NamesFor(v.s.Namespace)
	for _, p := range v.s.AuthorizationPolicies {
		if ownership.Ours(p.Labels, v.s.Namespace) && (p.Name == names.RequireJWT || p.Name == names.ExtAuthz) {
			a.ours = append(a.ours, p)
		}
		if p.RequiresCredentials() && v.concernsApp(p, a.requests) {
			a.policies = append(a.policies, p)
		}
	}
	for _, ra := range v.s.RequestAuthentications {
		ours := ownership.Ours(ra.Labels, v.s.Namespace) && ra.Name == names.RequestAuthentication
		if ours {
			a.oursRA = append(a.oursRA, ra)
		}
		if ours || a.attachedRA(v.rootNamespace(), ra) {
			a.ras = append(a.ras, ra)
		}
	}
	return a
}

// concernsApp reports whether p is attached to a gateway of the
// application and concerns a request for one of its hosts.
func (v *checkView) concernsApp(p istio.AuthorizationPolicy, requests []gatewayRequest) bool {
	for _, r := range requests {
		if p.AttachesToGateway(v.rootNamespace(), r.proxy) && p.ConcernsRequest(r.req) != istio.No {
			return true
		}
	}
	return false
}

func (a appAuth) attachedRA(root string, ra istio.RequestAuthentication) bool {
	for _, g := range a.proxies {
		if ra.AttachesToGateway(root, g.proxy) {
			return true
		}
	}
	return false
}

// authenticationConfigured is the requirement of the Authentication checks
// but authentication.configured, which says whether there is any: they are
// reported only where there is. When what it is judged by could not be
// read, they are reported, as Unknown.
func (v *checkView) authenticationConfigured() bool {
	if len(v.s.Refused(needAuthentication...)) > 0 {
		return true
	}
	return v.authentication().configured()
}

// recordedMode is the mode secure --auth recorded on its
// AuthorizationPolicy p, "" when it recorded none that reads.
func recordedMode(p istio.AuthorizationPolicy) string {
	var record struct {
		Mode string `json:"mode"`
	}
	if json.Unmarshal([]byte(p.Annotations[ownership.AuthAnnotation]), &record) != nil {
		return ""
	}
	return record.Mode
}

func raNames(ras []istio.RequestAuthentication) string {
	names := make([]string, 0, len(ras))
	for _, ra := range ras {
		names = append(names, snapshot.Key(ra.Namespace, ra.Name))
	}
	return strings.Join(names, ", ")
}

// rerunAuth is the secure command that writes secure --auth jwt's policies
// again from ra's first rule.
func (v *checkView) rerunAuth(ra istio.RequestAuthentication) string {
	if len(ra.JWTRules) == 0 {
		return v.secureCommand("--auth jwt --jwt-issuer <issuer> --jwks-uri <jwks-uri>")
	}
	r := ra.JWTRules[0]
	jwks := r.JWKSURI
	if jwks == "" {
		jwks = "<jwks-uri>"
	}
	extra := []string{"--auth jwt", "--jwt-issuer " + r.Issuer, "--jwks-uri " + jwks}
	for _, aud := range r.Audiences {
		extra = append(extra, "--audience "+aud)
	}
	return v.secureCommand(extra...) + " (and --require-claim for each claim you require)"
}

// checkAuthConfigured says whether the application's hosts need a token
// at the gateway, and fails when secure --auth jwt's RequestAuthentication
// is left without the AuthorizationPolicy that requires the token: the
// RequestAuthentication alone turns away invalid tokens only, and a
// request without one reaches the application.
func checkAuthConfigured(v *checkView) Result {
	a := v.authentication()
	if !a.configured() {
		return skip("no authentication at the gateway for the application's hosts: whoever reaches the gateway reaches the application (kubectl opea secure --auth jwt|ext-authz adds it)")
	}
	names := ownership.NamesFor(v.s.Namespace)
	requiresJWT := slices.ContainsFunc(a.ours, func(p istio.AuthorizationPolicy) bool { return p.Name == names.RequireJWT })
	if len(a.oursRA) > 0 && !requiresJWT {
		ra := a.oursRA[0]
		return fail(v.rerunAuth(ra),
			"RequestAuthentication %s of kubectl opea secure --auth jwt is in place without its AuthorizationPolicy %s: it turns away invalid tokens only, and requests without a token reach the application",
			snapshot.Key(ra.Namespace, ra.Name), snapshot.Key(ra.Namespace, names.RequireJWT))
	}
	var parts []string
	for _, p := range a.ours {
		if mode := recordedMode(p); mode != "" {
			parts = append(parts, "kubectl opea secure --auth "+mode)
		}
	}
	policies := slices.Clone(a.policies)
	for _, p := range a.ours {
		if !containsPolicy(policies, p) {
			policies = append(policies, p)
		}
	}
	if len(policies) > 0 {
		parts = append(parts, "AuthorizationPolicies "+policyNames(policies))
	}
	if len(a.ras) > 0 {
		parts = append(parts, "RequestAuthentications "+raNames(a.ras))
	}
	return pass("%s", strings.Join(parts, "; "))
}

func containsPolicy(ps []istio.AuthorizationPolicy, p istio.AuthorizationPolicy) bool {
	for _, q := range ps {
		if q.Namespace == p.Namespace && q.Name == p.Name {
			return true
		}
	}
	return false
}

// checkAuthAttached: secure's policies must bind the application's
// gateways as istiod attaches policies (their namespace, selector or
// targetRefs), and wherever a policy names a request principal or a
// claim, a RequestAuthentication must bind the same gateway: without one
// no token is validated, no request has a principal, and a DENY of
// requests without one refuses them all.
func checkAuthAttached(v *checkView) Result {
	a := v.authentication()
	root := v.rootNamespace()
	var problems, bound []string
	for _, p := range a.ours {
		if missed := a.unboundAP(root, p); missed != "" {
			problems = append(problems, fmt.Sprintf("AuthorizationPolicy %s binds no gateway of the application (%s)", snapshot.Key(p.Namespace, p.Name), missed))
		} else {
			bound = append(bound, "AuthorizationPolicy "+snapshot.Key(p.Namespace, p.Name))
		}
	}
	for _, ra := range a.oursRA {
		if !a.attachedRA(root, ra) {
			problems = append(problems, fmt.Sprintf("RequestAuthentication %s binds no gateway of the application (%s)", snapshot.Key(ra.Namespace, ra.Name), a.gatewayList()))
		} else {
			bound = append(bound, "RequestAuthentication "+snapshot.Key(ra.Namespace, ra.Name))
		}
	}
	for _, g := range a.proxies {
		var needy []istio.AuthorizationPolicy
		for _, p := range a.policies {
			if p.NamesToken() && p.AttachesToGateway(root, g.proxy) {
				needy = append(needy, p)
			}
		}
		if len(needy) == 0 {
			continue
		}
		validated := false
		for _, ra := range a.ras {
			validated = validated || ra.AttachesToGateway(root, g.proxy)
		}
		if !validated {
			problems = append(problems, fmt.Sprintf("no RequestAuthentication binds %s, so no token is validated there, yet AuthorizationPolicies %s decide by the token: every request for the hosts is refused", g.name, policyNames(needy)))
		}
	}
	if len(problems) > 0 {
		fix := v.secureCommand("--auth jwt|ext-authz ...") + " with the settings you use: it writes the policies where the gateway's pods or Gateway are"
		if len(a.oursRA) > 0 {
			fix = v.rerunAuth(a.oursRA[0])
		}
		return fail(fix, "%s", strings.Join(problems, "; "))
	}
	if len(bound) == 0 {
		return pass("AuthorizationPolicies %s bind %s", policyNames(a.policies), a.gatewayList())
	}
	return pass("%s bind %s", strings.Join(bound, ", "), a.gatewayList())
}

// unboundAP says which gateways of the application p does not bind, and
// why, "" when it binds them all.
func (a appAuth) unboundAP(root string, p istio.AuthorizationPolicy) string {
	var missed []string
	for _, g := range a.proxies {
		if p.AttachesToGateway(root, g.proxy) {
			continue
		}
		why := "its selector does not match the pods' labels"
		switch {
		case p.DryRun():
			why = "it is dry run"
		case p.Namespace != root && p.Namespace != g.proxy.Namespace:
			why = "it is not in the gateway's namespace " + g.proxy.Namespace
		case p.Targeted():
			why = "its targetRefs do not name the gateway's Gateway"
		}
		missed = append(missed, g.name+": "+why)
	}
	return strings.Join(missed, "; ")
}

func (a appAuth) gatewayList() string {
	names := make([]string, 0, len(a.proxies))
	for _, g := range a.proxies {
		names = append(names, g.name)
	}
	return strings.Join(names, ", ")
}

// hostForms are the Host headers a client may send for host to a listener
// on port: the name alone, with the HTTPS port a client names, and with
// the port the gateway listens on (through a port-forward, say).
func hostForms(host string, port int32) []string {
	forms := []string{host, host + ":443"}
	if p := host + ":" + strconv.Itoa(int(port)); port != 443 {
		forms = append(forms, p)
	}
	return forms
}

// checkAuthHostsCovered asks, for every form of every host of the
// application on every gateway listener, whether the gateway refuses a
// request without credentials (or hands it to the external authorizer):
// a policy naming the host without its port forms lets
// "chatqna.example.com:443" through.
func checkAuthHostsCovered(v *checkView) Result {
	a := v.authentication()
	var open, undecided, refused []string
	for _, r := range a.requests {
		if r.req.Host == "" {
			undecided = append(undecided, fmt.Sprintf("any host on port %d of %s (a policy cannot name every host a client may send)", r.req.Port, r.gateway))
			continue
		}
		for _, form := range hostForms(r.req.Host, r.req.Port) {
			req := r.req
			req.Host = form
			d := istio.EvaluateAtGateway(v.s.AuthorizationPolicies, v.rootNamespace(), r.proxy, req)
			where := fmt.Sprintf("Host: %s on port %d of %s", form, r.req.Port, r.gateway)
			switch {
			case d.Admitted == istio.No || d.AsksCustom == istio.Yes:
				refused = append(refused, form)
			case d.Admitted == istio.Yes:
				open = append(open, where)
			default:
				undecided = append(undecided, where)
			}
		}
	}
	switch {
	case len(open) > 0:
		return fail("name every form of each host in the policies' hosts: host and host:* (kubectl opea secure --auth writes both)",
			"requests without credentials reach the application for %s", strings.Join(open, "; "))
	case len(undecided) > 0:
		return warn("give the policies concrete hosts, each as host and host:*",
			"whether requests without credentials are refused depends on what verify cannot tell: %s", strings.Join(undecided, "; "))
	}
	sort.Strings(refused)
	return pass("requests without credentials refused for %s", strings.Join(compact(refused), ", "))
}

// checkAuthJWTRules: every rule of the RequestAuthentications on the
// gateways must name an issuer, and keys istiod can fetch: an absolute
// https jwksUri, or an https issuer whose discovery document names one
// (inline keys need neither). A plain-http URL other than loopback lets
// anyone on the way hand istiod keys of their own: a warning. The issuers
// the policies admit (request principals "<issuer>/*") must be those the
// RequestAuthentications validate, or no token ever has their principal.
func checkAuthJWTRules(v *checkView) Result {
	a := v.authentication()
	var bad, weak []string
	issuers := map[string]bool{}
	for _, ra := range a.ras {
		ref := snapshot.Key(ra.Namespace, ra.Name)
		if len(ra.JWTRules) == 0 {
			bad = append(bad, fmt.Sprintf("%s has no jwtRules", ref))
		}
		for _, r := range ra.JWTRules {
			issuers[r.Issuer] = true
			b, w := jwtRuleProblems(r)
			for _, p := range b {
				bad = append(bad, ref+": "+p)
			}
			for _, p := range w {
				weak = append(weak, ref+": "+p)
			}
		}
	}
	for _, p := range a.policies {
		for _, issuer := range admittedIssuers(p) {
			if !issuers[issuer] {
				bad = append(bad, fmt.Sprintf("AuthorizationPolicy %s admits tokens of %s, which no RequestAuthentication on the gateway validates: no request carries that principal", snapshot.Key(p.Namespace, p.Name), issuer))
			}
		}
	}
	fix := "give each jwtRule the issuer of your IdP and its https jwksUri (e.g. Keycloak: https://<host>/realms/<realm> and .../protocol/openid-connect/certs)"
	if len(a.oursRA) > 0 {
		fix = v.rerunAuth(a.oursRA[0])
	}
	switch {
	case len(bad) > 0:
		return fail(fix, "%s", strings.Join(bad, "; "))
	case len(weak) > 0:
		return warn(fix, "%s", strings.Join(weak, "; "))
	}
	var rules []string
	for _, ra := range a.ras {
		for _, r := range ra.JWTRules {
			rules = append(rules, fmt.Sprintf("issuer %s, keys %s", r.Issuer, keysSource(r)))
		}
	}
	return pass("%s", strings.Join(rules, "; "))
}

func keysSource(r istio.JWTRule) string {
	switch {
	case r.JWKS != "":
		return "inline"
	case r.JWKSURI != "":
		return r.JWKSURI
	}
	return "from " + r.KeysURL()
}

// jwtRuleProblems says what is wrong (bad) or weak in r.
func jwtRuleProblems(r istio.JWTRule) (bad, weak []string) {
	if strings.TrimSpace(r.Issuer) == "" || strings.TrimSpace(r.Issuer) != r.Issuer {
		bad = append(bad, fmt.Sprintf("issuer %q is empty or has spaces around it: no token's iss claim equals it", r.Issuer))
	}
	if r.JWKS != "" {
		return bad, weak
	}
	what, u := "jwksUri", r.JWKSURI
	if u == "" {
		// istiod reads the keys' URL from the issuer's discovery document.
		what, u = "issuer (no jwksUri: istiod looks its keys up from the issuer)", r.Issuer
	}
	if p := istio.URLProblem(u); p != "" {
		parsed, err := url.Parse(u)
		if err == nil && parsed.Scheme == "http" && parsed.Host != "" {
			weak = append(weak, fmt.Sprintf("%s %s is plain http: anyone on the way from istiod to it can hand istiod keys of their own", what, u))
		} else {
			bad = append(bad, fmt.Sprintf("%s %q: %s", what, u, p))
		}
	}
	return bad, weak
}

// admittedIssuers are the issuers whose tokens the request principals of
// p's rules name ("<issuer>/*" or "<issuer>/<subject>"); "*" names none.
func admittedIssuers(p istio.AuthorizationPolicy) []string {
	seen := map[string]bool{}
	var out []string
	for _, rule := range p.Rules {
		for _, f := range rule.From {
			for _, principal := range append(append([]string{}, f.Source.RequestPrincipals...), f.Source.NotRequestPrincipals...) {
				i := strings.LastIndex(principal, "/")
				if principal == "*" || i <= 0 || strings.HasPrefix(principal, "*") {
					continue
				}
				if issuer := principal[:i]; !seen[issuer] {
					seen[issuer] = true
					out = append(out, issuer)
				}
			}
		}
	}
	return out
}

// checkAuthJWKS: istiod fetches each issuer's keys itself and puts them
// into the gateway's configuration; when it cannot, it serves a key that
// fits no token, and every request with one is refused (401). verify
// fetches them from here with the probe: a key set that does not answer
// here may still answer where istiod runs, so this warns.
func checkAuthJWKS(v *checkView) Result {
	if v.s.ProbeOff {
		return skip("the live probe was turned off (--probe=false): the keys were not fetched")
	}
	a := v.authentication()
	var problems, found []string
	for _, ra := range a.ras {
		for _, r := range ra.JWTRules {
			if r.JWKS != "" {
				if n := inlineKeys(r.JWKS); n > 0 {
					found = append(found, fmt.Sprintf("%d inline keys (%s)", n, snapshot.Key(ra.Namespace, ra.Name)))
				} else {
					problems = append(problems, fmt.Sprintf("the inline jwks of %s holds no key", snapshot.Key(ra.Namespace, ra.Name)))
				}
				continue
			}
			u := r.KeysURL()
			f, ok := v.s.JWKS[u]
			switch {
			case !ok:
				problems = append(problems, fmt.Sprintf("%s was not fetched", u))
			case f.Err != "":
				problems = append(problems, fmt.Sprintf("%s: %s", u, f.Err))
			case f.Via != "":
				found = append(found, fmt.Sprintf("%d keys (named by %s)", f.Keys, u))
			default:
				found = append(found, fmt.Sprintf("%d keys at %s", f.Keys, u))
			}
		}
	}
	if len(problems) > 0 {
		return warn("make sure the URL answers with the keys where istiod runs, and that istiod trusts its certificate (kubectl logs -n "+v.istiodNamespace()+" deploy/istiod | grep -i jwks)",
			"the keys did not answer from here: %s; if istiod cannot fetch them either, it serves a key that fits no token, and every request with one is refused (401)", strings.Join(compact(problems), "; "))
	}
	return pass("%s", strings.Join(compact(found), "; "))
}

// inlineKeys counts the keys of an inline JWKS.
func inlineKeys(jwks string) int {
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if json.Unmarshal([]byte(jwks), &set) != nil {
		return 0
	}
	n := 0
	for _, k := range set.Keys {
		if kty, _ := k["kty"].(string); kty != "" {
			n++
		}
	}
	return n
}

func (v *checkView) istiodNamespace() string {
	if len(v.s.Istiod) > 0 {
		return v.s.Istiod[0].Namespace
	}
	return "istio-system"
}

// checkAuthProvider: a CUSTOM policy names an extension provider of the
// mesh config; istiod turns a policy naming one it does not have into a
// refusal of every request it matches.
func checkAuthProvider(v *checkView) Result {
	a := v.authentication()
	var customs []istio.AuthorizationPolicy
	for _, p := range append(append([]istio.AuthorizationPolicy{}, a.policies...), a.ours...) {
		if p.EffectiveAction() == "CUSTOM" && !containsPolicy(customs, p) {
			customs = append(customs, p)
		}
	}
	if len(customs) == 0 {
		return skip("no CUSTOM AuthorizationPolicy for the application's hosts")
	}
	where, have, edit := "the mesh config (no istiod found)", "none", "kubectl edit configmap istio -n istio-system"
	if ns, name, ok := strings.Cut(v.s.MeshConfig, "/"); ok {
		where, edit = "ConfigMap "+v.s.MeshConfig+", key mesh", fmt.Sprintf("kubectl edit configmap %s -n %s", name, ns)
	}
	if len(v.s.ExtensionProviders) > 0 {
		have = strings.Join(v.s.ExtensionProviders, ", ")
	}
	var missing, found []string
	for _, p := range customs {
		name := ""
		if p.Provider != nil {
			name = p.Provider.Name
		}
		ref := snapshot.Key(p.Namespace, p.Name)
		if name == "" || !slices.Contains(v.s.ExtensionProviders, name) {
			missing = append(missing, fmt.Sprintf("%s names provider %q", ref, name))
			continue
		}
		found = append(found, fmt.Sprintf("%s: %s", ref, name))
	}
	if len(missing) > 0 {
		return fail(fmt.Sprintf("add the provider under extensionProviders of %s (%s; with Helm, meshConfig.extensionProviders of the istiod chart), or name one it has", where, edit),
			"%s, which is not an extension provider of %s (it has %s): istiod rejects the policy and the gateway refuses every request for the hosts", strings.Join(missing, "; "), where, have)
	}
	return pass("%s, in %s", strings.Join(found, "; "), where)
}

// checkAuthProbeAnonymous: the live probe's GET / without a token must be
// turned away: 401 or 403, or a redirect to a sign-in page on another
// host (oauth2-proxy's answer through ext_authz). The application's own
// answer means it is open to anyone who reaches the gateway.
func checkAuthProbeAnonymous(v *checkView) Result {
	var statuses []string
	for _, h := range v.s.Probe.Hosts {
		what := fmt.Sprintf("GET https://%s/ without a token answered %d", h.Host, h.Status)
		switch {
		case h.StatusErr != "":
			return fail("check the gateway's logs: "+v.gatewayLogsHint(), "GET https://%s/ without a token failed: %s", h.Host, h.StatusErr)
		case h.Status == 401 || h.Status == 403:
			statuses = append(statuses, fmt.Sprintf("%s: %d", h.Host, h.Status))
		case redirectsAway(h):
			statuses = append(statuses, fmt.Sprintf("%s: %d to sign in at %s", h.Host, h.Status, signIn(h)))
		case h.Status >= 200 && h.Status < 400:
			return fail("see authentication.hosts-covered and authentication.policies-attached: the policies do not reach this request",
				"%s: the application is open to callers without a token", what)
		default:
			body := ""
			if h.Body != "" {
				body = fmt.Sprintf(" (%q)", h.Body)
			}
			return fail("see probe.tls-handshake and the gateway's logs: "+v.gatewayLogsHint(),
				"%s%s: neither a refusal (401, 403) nor the application's answer", what, body)
		}
	}
	return pass("refused: %s", strings.Join(statuses, ", "))
}

// redirectsAway reports whether h is a redirect to a sign-in page: on
// another host (the IdP's), or to oauth2-proxy's own paths (/oauth2/...)
// where it shares the application's host; not the application's own
// redirect.
func redirectsAway(h snapshot.HostProbe) bool {
	if h.Status < 300 || h.Status >= 400 || h.Location == "" {
		return false
	}
	u, err := url.Parse(h.Location)
	if err != nil {
		return false
	}
	to := hostOf(h.Location)
	return (to != "" && !strings.EqualFold(to, h.Host)) || strings.HasPrefix(u.Path, "/oauth2/")
}

// signIn names where a sign-in redirect leads: its host, or its path on
// the application's host.
func signIn(h snapshot.HostProbe) string {
	if to := hostOf(h.Location); to != "" && !strings.EqualFold(to, h.Host) {
		return to
	}
	u, _ := url.Parse(h.Location)
	return u.Path
}

// hostOf is the host name of an absolute URL, "" for a relative one.
func hostOf(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return ""
	}
	if host, _, err := net.SplitHostPort(u.Host); err == nil {
		return host
	}
	return u.Host
}

// checkAuthProbeToken: with --probe-token-file, the probe's GET / with the
// token must reach the application. The token is never shown.
func checkAuthProbeToken(v *checkView) Result {
	p := v.s.Probe
	if !p.Token {
		return skip("no --probe-token-file: give one with a token of the application's callers to check that it reaches the application")
	}
	for _, h := range p.Hosts {
		what := fmt.Sprintf("GET https://%s/ with the token answered %d", h.Host, h.TokenStatus)
		switch {
		case h.TokenErr != "":
			return fail("check the gateway's logs: "+v.gatewayLogsHint(), "GET https://%s/ with the token failed: %s", h.Host, h.TokenErr)
		case h.TokenStatus == 401:
			return fail("check the token's iss, aud and exp against the RequestAuthentication, and that istiod has the keys that signed it (see authentication.jwks-reachable)",
				"%s: the gateway rejects the token (expired, of another issuer or audience, or signed by a key istiod does not have)", what)
		case h.TokenStatus == 403:
			return fail("check the claims the policies require (kubectl get authorizationpolicy -A), or the external authorizer's logs",
				"%s: the token is valid but refused: it lacks a claim or principal the policies require, or the external authorizer refused it%s", what, v.gatewayPoliciesFor(h.Host))
		case h.TokenStatus >= 400:
			return v.notTheApplication(snapshot.HostProbe{Host: h.Host, Status: h.TokenStatus, Body: h.TokenBody})
		}
	}
	return pass("GET / with the token answered %d", p.Hosts[0].TokenStatus)
}
