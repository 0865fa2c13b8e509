package istio

import (
	"strings"
	"testing"
)

// RequestAuthentications bind a gateway as AuthorizationPolicies do: by
// namespace and selector, or by targetRefs to the Gateway of its pods.
func TestRequestAuthenticationAttachesToGateway(t *testing.T) {
	classic := GatewayProxy{Namespace: "istio-ingress", Labels: map[string]string{"app": "istio-ingress", "istio": "ingress"}}
	deployed := GatewayProxy{Namespace: "chatqna", Labels: map[string]string{"gateway.networking.k8s.io/gateway-name": "opea-ingress"}, GatewayName: "opea-ingress"}
	ref := []PolicyTargetReference{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "opea-ingress"}}
	for _, tc := range []struct {
		name  string
		ra    RequestAuthentication
		proxy GatewayProxy
		want  bool
	}{
		{"selector of the pods", RequestAuthentication{Namespace: "istio-ingress", Selector: &WorkloadSelector{MatchLabels: map[string]string{"istio": "ingress"}}}, classic, true},
		{"selector of other pods", RequestAuthentication{Namespace: "istio-ingress", Selector: &WorkloadSelector{MatchLabels: map[string]string{"istio": "eastwest"}}}, classic, false},
		{"the pods' namespace, no selector", RequestAuthentication{Namespace: "istio-ingress"}, classic, true},
		{"the root namespace, no selector", RequestAuthentication{Namespace: "istio-system"}, classic, true},
		{"another namespace", RequestAuthentication{Namespace: "chatqna", Selector: &WorkloadSelector{MatchLabels: map[string]string{"istio": "ingress"}}}, classic, false},
		{"targetRefs to the pods' Gateway", RequestAuthentication{Namespace: "chatqna", TargetRefs: ref}, deployed, true},
		{"targetRefs on a classic gateway", RequestAuthentication{Namespace: "istio-ingress", TargetRefs: ref}, classic, false},
		{"targetRefs to another Gateway", RequestAuthentication{Namespace: "chatqna", TargetRefs: []PolicyTargetReference{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "other"}}}, deployed, false},
	} {
		if got := tc.ra.AttachesToGateway("istio-system", tc.proxy); got != tc.want {
			t.Errorf("%s: attaches %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A policy requires credentials when it is CUSTOM, or when every rule of a
// DENY or ALLOW names request principals or token claims.
func TestRequiresCredentials(t *testing.T) {
	token := AuthorizationRule{From: []RuleFrom{{Source: Source{NotRequestPrincipals: []string{"https://idp/*"}}}}}
	claim := AuthorizationRule{When: []RuleCondition{{Key: "request.auth.claims[groups]", NotValues: []string{"opea-users"}}}}
	path := AuthorizationRule{To: []RuleTo{{Operation: Operation{Paths: []string{"/admin"}}}}}
	peer := AuthorizationRule{From: []RuleFrom{{Source: Source{Principals: []string{"cluster.local/ns/a/sa/b"}}}}}
	for _, tc := range []struct {
		name string
		p    AuthorizationPolicy
		want bool
	}{
		{"CUSTOM", AuthorizationPolicy{Action: "CUSTOM"}, true},
		{"DENY without a token", AuthorizationPolicy{Action: "DENY", Rules: []AuthorizationRule{token}}, true},
		{"DENY without a claim", AuthorizationPolicy{Action: "DENY", Rules: []AuthorizationRule{token, claim}}, true},
		{"ALLOW of token holders", AuthorizationPolicy{Rules: []AuthorizationRule{{From: []RuleFrom{{Source: Source{RequestPrincipals: []string{"*"}}}}}}}, true},
		{"DENY of a path", AuthorizationPolicy{Action: "DENY", Rules: []AuthorizationRule{path}}, false},
		{"DENY of a token and of a path", AuthorizationPolicy{Action: "DENY", Rules: []AuthorizationRule{token, path}}, false},
		{"ALLOW of a peer", AuthorizationPolicy{Rules: []AuthorizationRule{peer}}, false},
		{"ALLOW of nothing", AuthorizationPolicy{}, false},
		{"AUDIT of tokens", AuthorizationPolicy{Action: "AUDIT", Rules: []AuthorizationRule{token}}, false},
	} {
		if got := tc.p.RequiresCredentials(); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

// ConcernsRequest reads only a rule's to: who sends the request and the
// when conditions do not matter.
func TestConcernsRequest(t *testing.T) {
	p := AuthorizationPolicy{Action: "DENY", Rules: []AuthorizationRule{{
		From: []RuleFrom{{Source: Source{NotRequestPrincipals: []string{"*"}}}},
		To:   []RuleTo{{Operation: Operation{Hosts: []string{"chatqna.example.com", "chatqna.example.com:*"}}}},
		When: []RuleCondition{{Key: "request.auth.claims[groups]", Values: []string{"x"}}},
	}}}
	for host, want := range map[string]Match{"chatqna.example.com": Yes, "chatqna.example.com:8443": Yes, "other.example.com": No, "": Undecided} {
		if got := p.ConcernsRequest(ClientRequest{Host: host, Port: 443, Method: "GET", Path: "/"}); got != want {
			t.Errorf("host %q: %v, want %v", host, got, want)
		}
	}
}

func TestKeysURLAndURLProblem(t *testing.T) {
	if got := (JWTRule{Issuer: "https://idp/realms/opea/", JWKSURI: ""}).KeysURL(); got != "https://idp/realms/opea/.well-known/openid-configuration" {
		t.Errorf("discovery URL %q", got)
	}
	if got := (JWTRule{Issuer: "x", JWKS: `{"keys":[]}`}).KeysURL(); got != "" {
		t.Errorf("inline keys: %q", got)
	}
	for v, want := range map[string]string{
		"https://idp.example.com/certs": "", "http://127.0.0.1:8080/certs": "", "http://localhost/certs": "",
		"http://idp.example.com/certs": "must be an https URL", "/certs": "give an absolute URL", "https://u:p@idp/certs": "no user info", "": "it is empty",
	} {
		if got := URLProblem(v); (want == "") != (got == "") || (want != "" && !strings.Contains(got, want)) {
			t.Errorf("URLProblem(%q) = %q, want %q", v, got, want)
		}
	}
}
