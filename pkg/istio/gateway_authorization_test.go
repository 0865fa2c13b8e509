package istio

import "testing"

var (
	// apiGateway is the gateway istiod deploys in chatqna for Gateway API
	// Gateway opea-ingress; classicGateway an ingress gateway of its own
	// namespace serving Istio Gateways.
	apiGateway = GatewayProxy{Namespace: "chatqna", GatewayName: "opea-ingress", Labels: map[string]string{
		"gateway.networking.k8s.io/gateway-name": "opea-ingress", "service.istio.io/canonical-name": "opea-ingress-istio"}}
	classicGateway = GatewayProxy{Namespace: "istio-ingress", Labels: map[string]string{"istio": "ingressgateway"}}
	getRoot        = ClientRequest{Host: "chatqna.example.com", Port: 443, Method: "GET", Path: "/"}
)

func TestEvaluateAtGateway(t *testing.T) {
	for _, tc := range []struct {
		name     string
		proxy    GatewayProxy
		policies []string
		want     Match
		deny     string // the DENY named
		allow    string // the ALLOW that admits
	}{
		{name: "no policy", proxy: apiGateway, want: Yes},
		{name: "namespace-wide allow-nothing shuts a deployed gateway", proxy: apiGateway,
			policies: []string{"metadata: {name: deny-all}\nspec: {}"}, want: No},
		{name: "the lockdown's ALLOW of the app's principals shuts clients out", proxy: apiGateway, policies: []string{
			"metadata: {name: opea-deny-by-default}\nspec: {}",
			"metadata: {name: opea-allow-app}\nspec: {rules: [{from: [{source: {principals: [cluster.local/ns/chatqna/sa/default]}}]}]}"}, want: No},
		{name: "an ALLOW bound to the Gateway with an empty rule opens it", proxy: apiGateway, policies: []string{
			"metadata: {name: opea-deny-by-default}\nspec: {}",
			"metadata: {name: clients}\nspec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: opea-ingress}], rules: [{}]}"},
			want: Yes, allow: "clients"},
		{name: "an ALLOW bound to another Gateway does not attach", proxy: apiGateway, policies: []string{
			"metadata: {name: opea-deny-by-default}\nspec: {}",
			"metadata: {name: other}\nspec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: other}], rules: [{}]}"}, want: No},
		{name: "an ALLOW bound to the Gateway from another namespace does not attach", proxy: apiGateway, policies: []string{
			"metadata: {name: opea-deny-by-default}\nspec: {}",
			"metadata: {name: far, namespace: elsewhere}\nspec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: opea-ingress, namespace: chatqna}], rules: [{}]}"}, want: No},
		{name: "the app namespace's policies do not reach a classic gateway elsewhere", proxy: classicGateway,
			policies: []string{"metadata: {name: deny-all}\nspec: {}"}, want: Yes},
		{name: "a classic gateway ignores targetRefs policies", proxy: classicGateway,
			policies: []string{"metadata: {name: t, namespace: istio-ingress}\nspec: {targetRefs: [{group: gateway.networking.k8s.io, kind: Gateway, name: opea-ingress}]}"}, want: Yes},
		{name: "a mesh-wide allow-nothing in the root namespace", proxy: classicGateway,
			policies: []string{"metadata: {name: mesh, namespace: istio-system}\nspec: {}"}, want: No},
		{name: "a selector of other pods", proxy: classicGateway,
			policies: []string{"metadata: {name: s, namespace: istio-ingress}\nspec: {selector: {matchLabels: {app: other}}}"}, want: Yes},
		{name: "an empty matchLabels selects the gateway pods", proxy: classicGateway,
			policies: []string{"metadata: {name: s, namespace: istio-ingress}\nspec: {selector: {matchLabels: {}}}"}, want: No},
		{name: "from namespaces never matches a client", proxy: apiGateway,
			policies: []string{"metadata: {name: own}\nspec: {rules: [{from: [{source: {namespaces: [chatqna]}}]}]}"}, want: No},
		{name: "DENY of requests without a token", proxy: classicGateway, policies: []string{
			"metadata: {name: jwt, namespace: istio-ingress}\nspec: {action: DENY, rules: [{from: [{source: {notRequestPrincipals: ['*']}}], to: [{operation: {hosts: [chatqna.example.com]}}]}]}"},
			want: No, deny: "jwt"},
		{name: "DENY for other hosts", proxy: classicGateway, policies: []string{
			"metadata: {name: jwt, namespace: istio-ingress}\nspec: {action: DENY, rules: [{from: [{source: {notRequestPrincipals: ['*']}}], to: [{operation: {hosts: [other.example.com]}}]}]}"},
			want: Yes},
		{name: "host match ignores case, and wildcards", proxy: classicGateway, policies: []string{
			"metadata: {name: h, namespace: istio-ingress}\nspec: {rules: [{to: [{operation: {hosts: ['*.EXAMPLE.com'], ports: ['443'], methods: [GET], paths: ['/*']}}]}]}"},
			want: Yes, allow: "h"},
		{name: "an ALLOW of another port", proxy: classicGateway, policies: []string{
			"metadata: {name: h, namespace: istio-ingress}\nspec: {rules: [{to: [{operation: {ports: ['8443']}}]}]}"}, want: No},
		{name: "ALLOW by the client's address is undecided", proxy: classicGateway, policies: []string{
			"metadata: {name: ip, namespace: istio-ingress}\nspec: {rules: [{from: [{source: {remoteIpBlocks: [10.0.0.0/8]}}]}]}"}, want: Undecided, allow: "ip"},
		{name: "a header condition is undecided", proxy: classicGateway, policies: []string{
			"metadata: {name: hdr, namespace: istio-ingress}\nspec: {action: DENY, rules: [{when: [{key: 'request.headers[x-user]', values: [bad]}]}]}"}, want: Undecided, deny: "hdr"},
		{name: "a claim condition on a request without a token", proxy: classicGateway, policies: []string{
			"metadata: {name: claims, namespace: istio-ingress}\nspec: {action: DENY, rules: [{when: [{key: 'request.auth.claims[groups]', notValues: [opea-users]}]}]}"},
			want: No, deny: "claims"},
		{name: "a CUSTOM policy leaves it to the external authorizer", proxy: classicGateway, policies: []string{
			"metadata: {name: ext, namespace: istio-ingress}\nspec: {action: CUSTOM, provider: {name: oauth2-proxy}, rules: [{}]}"}, want: Undecided},
		{name: "a dry-run DENY decides nothing", proxy: classicGateway, policies: []string{
			"metadata: {name: d, namespace: istio-ingress, annotations: {istio.io/dry-run: 'true'}}\nspec: {action: DENY, rules: [{}]}"}, want: Yes},
		{name: "AUDIT decides nothing", proxy: classicGateway, policies: []string{
			"metadata: {name: a, namespace: istio-ingress}\nspec: {action: AUDIT, rules: [{}]}"}, want: Yes},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps []AuthorizationPolicy
			for _, doc := range tc.policies {
				ps = append(ps, policy(t, doc))
			}
			d := EvaluateAtGateway(ps, "istio-system", tc.proxy, getRoot)
			if d.Admitted != tc.want {
				t.Errorf("Admitted = %v, want %v", d.Admitted, tc.want)
			}
			if got := nameOf(d.Deny); got != tc.deny {
				t.Errorf("Deny = %q, want %q", got, tc.deny)
			}
			if got := nameOf(d.Allow); got != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

func nameOf(p *AuthorizationPolicy) string {
	if p == nil {
		return ""
	}
	return p.Name
}
