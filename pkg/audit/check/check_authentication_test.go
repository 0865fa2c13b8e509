package check

import (
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/internal/fixture"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// authenticationChecks are the IDs of the Authentication category.
func authenticationChecks() []string {
	var ids []string
	for _, c := range Catalogue {
		if c.Category == CategoryAuthentication {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

// Without authentication, the category says so in one skipped check and
// reports no other: a healthy application stays as it was.
func TestNoAuthenticationReportsOnlyThatThereIsNone(t *testing.T) {
	outcomes := outcomesByID(healthy(t))
	for _, id := range authenticationChecks() {
		o, reported := outcomes[id]
		switch {
		case id == "authentication.configured" && (o.Status != Skip || !strings.Contains(o.Message, "kubectl opea secure --auth jwt|ext-authz adds it")):
			t.Errorf("%s = %s %q, want skipped, saying how to add it", id, o.Status, o.Message)
		case id != "authentication.configured" && reported:
			t.Errorf("%s reported without authentication: %s %s", id, o.Status, o.Message)
		}
	}
	if o := outcomes["probe.https-route"]; o.Status != Pass {
		t.Errorf("probe.https-route = %s %s, want it to judge the application's answer", o.Status, o.Message)
	}
}

// After secure --auth jwt, with a token: every check passes, and the
// probe's answer without a token is the Authentication checks' to judge.
func TestJWTOnTheGatewayPasses(t *testing.T) {
	s := healthy(t)
	withJWT(s)
	outcomes := outcomesByID(s)
	for _, id := range authenticationChecks() {
		if _, ok := outcomes[id]; !ok {
			t.Errorf("%s not reported with authentication", id)
		}
	}
	for id, o := range outcomes {
		switch {
		case id == "probe.https-route":
			if o.Status != Skip || !strings.Contains(o.Message, "authentication.probe-with-token") {
				t.Errorf("%s = %s %q, want skipped for the Authentication checks", id, o.Status, o.Message)
			}
		case id == "authentication.provider-exists":
			if o.Status != Skip {
				t.Errorf("%s = %s %q, want skipped: no CUSTOM policy", id, o.Status, o.Message)
			}
		case o.Status != Pass:
			t.Errorf("%s: %s %s", id, o.Status, o.Message)
		}
	}
	for id, want := range map[string]string{
		"authentication.configured":            "kubectl opea secure --auth jwt; AuthorizationPolicies istio-ingress/opea-chatqna-require-jwt; RequestAuthentications istio-ingress/opea-chatqna-jwt",
		"authentication.hosts-covered":         "refused for chatqna.example.com, chatqna.example.com:443",
		"authentication.jwks-reachable":        "2 keys at " + fixture.JWKSURI,
		"authentication.probe-without-token":   "chatqna.example.com: 403",
		"authorization.gateway-admits-clients": "no AuthorizationPolicy on the gateway refuses clients",
		"probe.http-redirect":                  "403: requests without a token are refused before the redirect",
	} {
		if !strings.Contains(outcomes[id].Message, want) {
			t.Errorf("%s says %q, want %q in it", id, outcomes[id].Message, want)
		}
	}
}

// After secure --auth ext-authz: the provider's redirect to sign in is a
// refusal, and there is no token rule to judge.
func TestExtAuthzOnTheGatewayPasses(t *testing.T) {
	s := healthy(t)
	withExtAuthz(s)
	for id, o := range outcomesByID(s) {
		switch {
		case id == "probe.https-route" || id == "authentication.jwt-rules" || id == "authentication.jwks-reachable":
			if o.Status != Skip {
				t.Errorf("%s = %s %q, want skipped", id, o.Status, o.Message)
			}
		case o.Status != Pass:
			t.Errorf("%s: %s %s", id, o.Status, o.Message)
		}
	}
	if o := outcomesByID(s)["authentication.probe-without-token"]; !strings.Contains(o.Message, "302 to sign in at idp.example.com") {
		t.Errorf("probe-without-token says %q", o.Message)
	}
}

// A policy of another author that requires a token for the hosts makes
// the category judge it, though secure made nothing.
func TestAnyTokenPolicyForTheHostsIsJudged(t *testing.T) {
	s := healthy(t)
	withJWT(s)
	for i := range s.AuthorizationPolicies {
		s.AuthorizationPolicies[i].Labels, s.AuthorizationPolicies[i].Annotations = nil, nil
	}
	for i := range s.RequestAuthentications {
		s.RequestAuthentications[i].Labels = nil
	}
	o := outcomesByID(s)["authentication.configured"]
	if o.Status != Pass || o.Message != "AuthorizationPolicies istio-ingress/opea-chatqna-require-jwt; RequestAuthentications istio-ingress/opea-chatqna-jwt" {
		t.Errorf("authentication.configured = %s %q", o.Status, o.Message)
	}
}

// Another application's token policy on the shared gateway, for its own
// hosts, leaves this one's category as it is without authentication.
func TestAnotherApplicationsAuthenticationIsNotThisOnes(t *testing.T) {
	s := healthy(t)
	hosts := append([]snapshot.HostProbe{}, s.Probe.Hosts...)
	redirect := s.Probe.RedirectStatus
	withJWT(s)
	for i := range s.AuthorizationPolicies {
		p := &s.AuthorizationPolicies[i]
		p.Labels, p.Annotations = nil, nil
		p.Rules[0].To[0].Operation.Hosts = []string{"other.example.com", "other.example.com:*"}
	}
	for i := range s.RequestAuthentications {
		s.RequestAuthentications[i].Labels = nil
	}
	s.Probe.Hosts, s.Probe.RedirectStatus, s.Probe.RedirectLocation, s.Probe.Token = hosts, redirect, "https://chatqna.example.com/", false
	outcomes := outcomesByID(s)
	if o := outcomes["authentication.configured"]; o.Status != Skip {
		t.Errorf("authentication.configured = %s %q, want skipped", o.Status, o.Message)
	}
	for id, o := range outcomes {
		if !healthyOutcome(o) {
			t.Errorf("%s: %s %s", id, o.Status, o.Message)
		}
	}
}

// The Gateway API's: the policies bind secure's Gateway by targetRefs.
func TestJWTBoundByTargetRefsPasses(t *testing.T) {
	s := healthyGatewayAPI(t)
	s.Probe = healthy(t).Probe
	withJWT(s)
	ref := []istio.PolicyTargetReference{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: s.GatewayAPIGateways[0].Name}}
	for i := range s.AuthorizationPolicies {
		p := &s.AuthorizationPolicies[i]
		p.Namespace, p.Selector, p.TargetRefs = "chatqna", nil, ref
	}
	s.RequestAuthentications[0].Namespace, s.RequestAuthentications[0].Selector, s.RequestAuthentications[0].TargetRefs = "chatqna", nil, ref
	outcomes := outcomesByID(s)
	for _, id := range []string{"authentication.configured", "authentication.policies-attached", "authentication.hosts-covered", "authentication.jwt-rules"} {
		if o := outcomes[id]; o.Status != Pass {
			t.Errorf("%s: %s %s", id, o.Status, o.Message)
		}
	}
	// Bound to another Gateway: it binds none of the application's.
	for i := range s.AuthorizationPolicies {
		s.AuthorizationPolicies[i].TargetRefs = []istio.PolicyTargetReference{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "other"}}
	}
	o := outcomesByID(s)["authentication.policies-attached"]
	if o.Status != Fail || !strings.Contains(o.Message, "its targetRefs do not name the gateway's Gateway") {
		t.Errorf("policies-attached with targetRefs to another Gateway = %s %q", o.Status, o.Message)
	}
}

// authenticationBrokenCases each break one thing of secure --auth on a
// healthy snapshot; exactly the named check notices.
var authenticationBrokenCases = []brokenCase{
	{"the AuthorizationPolicy of --auth jwt deleted by hand", "authentication.configured", Fail,
		"in place without its AuthorizationPolicy istio-ingress/opea-chatqna-require-jwt: it turns away invalid tokens only",
		func(t *testing.T, s *snapshot.Snapshot) {
			withJWT(s)
			s.AuthorizationPolicies = nil
		}},
	{"the RequestAuthentication's selector matches no gateway pod", "authentication.policies-attached", Fail,
		"RequestAuthentication istio-ingress/opea-chatqna-jwt binds no gateway of the application",
		func(t *testing.T, s *snapshot.Snapshot) {
			withJWT(s)
			s.RequestAuthentications[0].Selector.MatchLabels = map[string]string{"istio": "eastwestgateway"}
		}},
	{"the policy names the host without its port forms", "authentication.hosts-covered", Fail,
		"requests without credentials reach the application for Host: chatqna.example.com:443 on port 443",
		func(t *testing.T, s *snapshot.Snapshot) {
			withJWT(s)
			s.AuthorizationPolicies[0].Rules[0].To[0].Operation.Hosts = []string{"chatqna.example.com"}
		}},
	{"the RequestAuthentication validates another issuer than the policy admits", "authentication.jwt-rules", Fail,
		"admits tokens of https://idp.example.com/realms/opea, which no RequestAuthentication on the gateway validates",
		func(t *testing.T, s *snapshot.Snapshot) {
			withJWT(s)
			s.RequestAuthentications[0].JWTRules[0].Issuer = "https://other.example.com"
		}},
	{"the JWKS does not answer from here", "authentication.jwks-reachable", Warn,
		"serves a key that fits no token",
		func(t *testing.T, s *snapshot.Snapshot) {
			withJWT(s)
			s.JWKS[fixture.JWKSURI] = snapshot.JWKSFetch{Err: "dial tcp 192.0.2.1:443: connect: connection refused"}
		}},
	{"the CUSTOM policy's provider is not in the mesh config", "authentication.provider-exists", Fail,
		`istio-ingress/opea-chatqna-ext-authz names provider "oauth2-proxy", which is not an extension provider of ConfigMap istio-system/istio`,
		func(t *testing.T, s *snapshot.Snapshot) {
			withExtAuthz(s)
			s.ExtensionProviders = []string{"other"}
		}},
	{"the gateway answers without a token", "authentication.probe-without-token", Fail,
		"the application is open to callers without a token",
		func(t *testing.T, s *snapshot.Snapshot) {
			withJWT(s)
			s.Probe.Hosts[0].Status, s.Probe.Hosts[0].Body = 200, ""
		}},
	{"the gateway rejects the probe's token", "authentication.probe-with-token", Fail,
		"with the token answered 401: the gateway rejects the token",
		func(t *testing.T, s *snapshot.Snapshot) {
			withJWT(s)
			s.Probe.Hosts[0].TokenStatus = 401
		}},
}

// Each rule of a RequestAuthentication: what is wrong, and what is only
// weak.
func TestJWTRuleProblems(t *testing.T) {
	for _, tc := range []struct {
		rule      istio.JWTRule
		bad, weak string
	}{
		{rule: istio.JWTRule{Issuer: fixture.JWTIssuer, JWKSURI: fixture.JWKSURI}},
		{rule: istio.JWTRule{Issuer: fixture.JWTIssuer}},
		{rule: istio.JWTRule{Issuer: "not-a-url", JWKS: `{"keys":[]}`}},
		{rule: istio.JWTRule{Issuer: "", JWKSURI: fixture.JWKSURI}, bad: `issuer "" is empty`},
		{rule: istio.JWTRule{Issuer: "not-a-url"}, bad: "no jwksUri: istiod looks its keys up from the issuer"},
		{rule: istio.JWTRule{Issuer: fixture.JWTIssuer, JWKSURI: "/certs"}, bad: "give an absolute URL"},
		{rule: istio.JWTRule{Issuer: fixture.JWTIssuer, JWKSURI: "http://idp.example.com/certs"}, weak: "is plain http"},
		{rule: istio.JWTRule{Issuer: fixture.JWTIssuer, JWKSURI: "http://127.0.0.1:8080/certs"}},
	} {
		bad, weak := jwtRuleProblems(tc.rule)
		if got := strings.Join(bad, "; "); (tc.bad == "") != (got == "") || !strings.Contains(got, tc.bad) {
			t.Errorf("%+v: bad %q, want %q", tc.rule, got, tc.bad)
		}
		if got := strings.Join(weak, "; "); (tc.weak == "") != (got == "") || !strings.Contains(got, tc.weak) {
			t.Errorf("%+v: weak %q, want %q", tc.rule, got, tc.weak)
		}
	}
}

// A redirect to sign in is a refusal; the application's own redirect is
// not.
func TestRedirectsToSignIn(t *testing.T) {
	for location, want := range map[string]bool{
		"https://idp.example.com/realms/opea/protocol/openid-connect/auth?client_id=chatqna": true,
		"https://chatqna.example.com/oauth2/start?rd=%2F":                                    true,
		"/oauth2/sign_in":                   true,
		"https://chatqna.example.com/ui/":   false,
		"/ui/":                              false,
		"https://CHATQNA.example.com:443/x": false,
	} {
		h := snapshot.HostProbe{Host: "chatqna.example.com", Status: 302, Location: location}
		if got := redirectsAway(h); got != want {
			t.Errorf("%s: sign-in %v, want %v", location, got, want)
		}
	}
}
