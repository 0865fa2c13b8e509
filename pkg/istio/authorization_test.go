package istio

import (
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

var (
	gateway = Caller{Principal: "cluster.local/ns/istio-ingress/sa/istio-ingress", Namespace: "istio-ingress", ServiceAccount: "istio-ingress", Port: 8080}
	nginx   = map[string]string{"app": "nginx"}
)

// policy decodes an AuthorizationPolicy in namespace chatqna (or the
// namespace the YAML names) as the API returns it.
func policy(t *testing.T, doc string) AuthorizationPolicy {
	t.Helper()
	data, err := yaml.YAMLToJSON([]byte("apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\n" + doc))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(data); err != nil {
		t.Fatal(err)
	}
	if u.GetNamespace() == "" {
		u.SetNamespace("chatqna")
	}
	p, err := DecodeAuthorizationPolicy(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestEvaluateAsZtunnel(t *testing.T) {
	for _, tc := range []struct {
		name     string
		policies []string
		caller   *Caller
		want     Match
		deny     string // the DENY named
		allow    string // the ALLOW that admits
	}{
		{name: "no policy", want: Yes},
		{name: "ALLOW of nothing (empty spec)", policies: []string{"metadata: {name: deny-all}\nspec: {}"}, want: No},
		{name: "ALLOW with rules: []", policies: []string{"metadata: {name: none}\nspec: {rules: []}"}, want: No},
		{name: "DENY without rules denies nothing", policies: []string{"metadata: {name: d}\nspec: {action: DENY}"}, want: Yes},
		{name: "ALLOW with an empty rule admits anyone", policies: []string{"metadata: {name: all}\nspec: {rules: [{}]}"}, want: Yes, allow: "all"},
		{name: "ALLOW of the gateway's principal", policies: []string{`metadata: {name: gw}
spec: {rules: [{from: [{source: {principals: [cluster.local/ns/istio-ingress/sa/istio-ingress]}}]}]}`}, want: Yes, allow: "gw"},
		{name: "ALLOW of the namespace's own sources shuts out the gateway (istio/istio#55937)", policies: []string{`metadata: {name: own}
spec: {rules: [{from: [{source: {namespaces: [chatqna]}}]}]}`}, want: No},
		{name: "prefix principal", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {principals: ["cluster.local/ns/istio-ingress/*"]}}]}]}`}, want: Yes, allow: "p"},
		{name: "suffix principal", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {principals: ["*/sa/istio-ingress"]}}]}]}`}, want: Yes, allow: "p"},
		{name: "any principal", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {principals: ["*"]}}]}]}`}, want: Yes, allow: "p"},
		{name: "another trust domain", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {principals: [example.org/ns/istio-ingress/sa/istio-ingress]}}]}]}`}, want: No},
		{name: "notPrincipals excludes the gateway", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {notPrincipals: ["cluster.local/ns/istio-ingress/*"]}}]}]}`}, want: No},
		{name: "notNamespaces excludes others", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {notNamespaces: [chatqna]}}]}]}`}, want: Yes, allow: "p"},
		{name: "service account of another namespace", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {serviceAccounts: [istio-ingress/istio-ingress]}}]}]}`}, want: Yes, allow: "p"},
		{name: "bare service account is of the policy's namespace", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {serviceAccounts: [istio-ingress]}}]}]}`}, want: No},
		{name: "the workload's port", policies: []string{`metadata: {name: p}
spec: {rules: [{to: [{operation: {ports: ["8080"]}}]}]}`}, want: Yes, allow: "p"},
		{name: "another port", policies: []string{`metadata: {name: p}
spec: {rules: [{to: [{operation: {ports: ["9090"]}}]}]}`}, want: No},
		{name: "notPorts", policies: []string{`metadata: {name: p}
spec: {rules: [{to: [{operation: {notPorts: ["8080"]}}]}]}`}, want: No},
		{name: "from and to must both match", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {namespaces: [istio-ingress]}}], to: [{operation: {ports: ["9090"]}}]}]}`}, want: No},
		{name: "an unknown port leaves a port rule undecided", caller: &Caller{Principal: gateway.Principal, Namespace: "istio-ingress", ServiceAccount: "istio-ingress"},
			policies: []string{`metadata: {name: p}
spec: {rules: [{to: [{operation: {ports: ["8080"]}}]}]}`}, want: Undecided, allow: "p"},
		{name: "an IP block is undecided", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {ipBlocks: [10.0.0.0/8]}}]}]}`}, want: Undecided, allow: "p"},
		{name: "an ALLOW rule with HTTP fields never matches", policies: []string{`metadata: {name: p}
spec: {rules: [{from: [{source: {namespaces: [istio-ingress]}}], to: [{operation: {methods: [GET]}}]}]}`}, want: No},
		{name: "an ALLOW rule with an HTTP when never matches", policies: []string{`metadata: {name: p}
spec: {rules: [{when: [{key: "request.headers[x-user]", values: [a]}]}]}`}, want: No},
		{name: "its other rules still do", policies: []string{`metadata: {name: p}
spec: {rules: [{to: [{operation: {paths: [/admin]}}]}, {from: [{source: {namespaces: [istio-ingress]}}]}]}`}, want: Yes, allow: "p"},
		{name: "a DENY rule with HTTP fields beside a port denies without them", policies: []string{`metadata: {name: d}
spec: {action: DENY, rules: [{from: [{source: {namespaces: [istio-ingress]}}], to: [{operation: {ports: ["8080"], methods: [POST]}}]}]}`}, want: No, deny: "d"},
		{name: "a DENY rule whose operation is only HTTP denies nobody", policies: []string{`metadata: {name: d}
spec: {action: DENY, rules: [{from: [{source: {namespaces: [istio-ingress]}}], to: [{operation: {methods: [POST]}}]}]}`}, want: Yes},
		// istiod sends an operation, source or when condition of HTTP
		// fields only as a match with no field set; ztunnel skips it.
		{name: "a DENY of only HTTP fields denies nobody", policies: []string{`metadata: {name: d}
spec: {action: DENY, rules: [{from: [{source: {requestPrincipals: ["*"]}}]}]}`}, want: Yes},
		{name: "a DENY of only paths denies nobody", policies: []string{`metadata: {name: d}
spec: {action: DENY, rules: [{to: [{operation: {paths: [/admin]}}]}]}`}, want: Yes},
		{name: "a DENY rule with an HTTP when denies nobody", policies: []string{`metadata: {name: d}
spec: {action: DENY, rules: [{from: [{source: {namespaces: [istio-ingress]}}], when: [{key: "request.headers[x]", values: [a]}]}]}`}, want: Yes},
		{name: "a DENY of a path or a port denies the port", policies: []string{`metadata: {name: d}
spec: {action: DENY, rules: [{to: [{operation: {paths: [/admin]}}, {operation: {ports: ["8080"]}}]}]}`}, want: No, deny: "d"},
		{name: "a DENY of a path or another port denies nobody here", policies: []string{`metadata: {name: d}
spec: {action: DENY, rules: [{to: [{operation: {paths: [/admin]}}, {operation: {ports: ["9090"]}}]}]}`}, want: Yes},
		{name: "DENY first", policies: []string{"metadata: {name: all}\nspec: {rules: [{}]}", `metadata: {name: d}
spec: {action: DENY, rules: [{from: [{source: {namespaces: [istio-ingress]}}]}]}`}, want: No, deny: "d"},
		{name: "a DENY of others", policies: []string{`metadata: {name: d}
spec: {action: DENY, rules: [{from: [{source: {notNamespaces: [istio-ingress]}}]}]}`}, want: Yes},
		{name: "a when on the source namespace", policies: []string{`metadata: {name: p}
spec: {rules: [{when: [{key: source.namespace, values: [istio-ingress]}]}]}`}, want: Yes, allow: "p"},
		{name: "CUSTOM is not ztunnel's", policies: []string{`metadata: {name: ext}
spec: {action: CUSTOM, provider: {name: ext-authz}, rules: [{}]}`}, want: Yes},
		{name: "AUDIT is not ztunnel's", policies: []string{"metadata: {name: a}\nspec: {action: AUDIT, rules: [{}]}"}, want: Yes},
		{name: "a dry-run ALLOW is not enforced", policies: []string{"metadata: {name: dry, annotations: {istio.io/dry-run: \"true\"}}\nspec: {}"}, want: Yes},
		{name: "a policy bound to a waypoint is not ztunnel's", policies: []string{`metadata: {name: wp}
spec: {targetRefs: [{kind: Service, group: "", name: chatqna-nginx}], rules: [{from: [{source: {namespaces: [chatqna]}}]}]}`}, want: Yes},
		{name: "a selector policy of other pods", policies: []string{"metadata: {name: p}\nspec: {selector: {matchLabels: {app: tgi}}}"}, want: Yes},
		{name: "a selector policy of these pods", policies: []string{"metadata: {name: p}\nspec: {selector: {matchLabels: {app: nginx}}}"}, want: No},
		{name: "another namespace's policy", policies: []string{"metadata: {name: p, namespace: other}\nspec: {}"}, want: Yes},
		{name: "a mesh-wide policy of the root namespace", policies: []string{"metadata: {name: p, namespace: istio-system}\nspec: {}"}, want: No},
		{name: "a selector policy of the root namespace", policies: []string{"metadata: {name: p, namespace: istio-system}\nspec: {selector: {matchLabels: {app: nginx}}}"}, want: No},
		// istiod tells "selector: {}" (no matchLabels: selects nothing)
		// from "selector: {matchLabels: {}}" (selects every workload).
		{name: "selector: {} selects no workload", policies: []string{"metadata: {name: p}\nspec: {selector: {}}"}, want: Yes},
		{name: "selector: {matchLabels: {}} selects every workload", policies: []string{"metadata: {name: p}\nspec: {selector: {matchLabels: {}}}"}, want: No},
		{name: "selector: {matchLabels: {}} of the root namespace selects every workload", policies: []string{"metadata: {name: p, namespace: istio-system}\nspec: {selector: {matchLabels: {}}}"}, want: No},
		{name: "any ALLOW admits", policies: []string{"metadata: {name: own}\nspec: {rules: [{from: [{source: {namespaces: [chatqna]}}]}]}",
			"metadata: {name: gw}\nspec: {rules: [{from: [{source: {namespaces: [istio-ingress]}}]}]}"}, want: Yes, allow: "gw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ps []AuthorizationPolicy
			for _, doc := range tc.policies {
				ps = append(ps, policy(t, doc))
			}
			c := gateway
			if tc.caller != nil {
				c = *tc.caller
			}
			d := EvaluateAtZtunnel(ps, "istio-system", "chatqna", nginx, c)
			if d.Admitted != tc.want {
				t.Errorf("admitted %v, want %v", d.Admitted, tc.want)
			}
			name := func(p *AuthorizationPolicy) string {
				if p == nil {
					return ""
				}
				return p.Name
			}
			if name(d.Deny) != tc.deny || (tc.want != No && name(d.Allow) != tc.allow) {
				t.Errorf("deny %q allow %q, want %q and %q", name(d.Deny), name(d.Allow), tc.deny, tc.allow)
			}
		})
	}
}

// The HTTP fields are named as istiod names them in ZtunnelAccepted.
func TestHTTPFields(t *testing.T) {
	p := policy(t, `metadata: {name: p}
spec:
  rules:
  - from: [{source: {requestPrincipals: ["*"], remoteIpBlocks: [1.2.3.4], namespaces: [a]}}]
    to: [{operation: {methods: [GET], paths: [/], ports: ["80"]}}]
    when: [{key: "request.auth.claims[iss]", values: [x]}, {key: source.ip, values: [1.2.3.4]}]
  - to: [{operation: {hosts: [a.example.com]}}]`)
	want := []string{"hosts", "methods", "paths", "remoteIpBlocks", "request.auth.claims[iss]", "requestPrincipals"}
	if got := p.HTTPFields(); !slices.Equal(got, want) {
		t.Errorf("HTTPFields = %v, want %v", got, want)
	}
}

// istiod writes observedGeneration as a string (the CRD declares it
// int-or-string).
func TestDecodeKeepsStatus(t *testing.T) {
	p := policy(t, `metadata: {name: p, generation: 3}
spec: {action: DENY}
status:
  conditions:
  - {type: ZtunnelAccepted, status: "True", reason: Accepted, message: attached to ztunnel, observedGeneration: "2"}`)
	c := p.Condition(ZtunnelAccepted)
	if c == nil || c.Status != "True" || c.Reason != "Accepted" || c.ObservedGeneration != 2 || p.Generation != 3 {
		t.Errorf("condition %+v, generation %d", c, p.Generation)
	}
	if p.Condition("WaypointAccepted") != nil {
		t.Error("a condition istiod did not write")
	}
}

// What ztunnel makes of a DENY's HTTP fields, for the ztunnel-accepted
// check to say.
func TestDenyHTTPAtZtunnel(t *testing.T) {
	for _, tc := range []struct {
		name             string
		spec             string
		skipped, widened bool
	}{
		{"no HTTP field", `{action: DENY, rules: [{to: [{operation: {ports: ["80"]}}]}]}`, false, false},
		{"only paths", `{action: DENY, rules: [{to: [{operation: {paths: [/admin]}}]}]}`, true, false},
		{"paths on a port", `{action: DENY, rules: [{to: [{operation: {ports: ["80"], paths: [/admin]}}]}]}`, false, true},
		{"an HTTP when beside a namespace", `{action: DENY, rules: [{from: [{source: {namespaces: [a]}}], when: [{key: "request.auth.claims[iss]", values: [x]}]}]}`, true, false},
		{"a path or a port", `{action: DENY, rules: [{to: [{operation: {paths: [/admin]}}, {operation: {ports: ["80"]}}]}]}`, true, false},
		{"both", `{action: DENY, rules: [{to: [{operation: {methods: [POST]}}]}, {from: [{source: {namespaces: [a], requestPrincipals: ["*"]}}]}]}`, true, true},
	} {
		p := policy(t, "metadata: {name: d}\nspec: "+tc.spec)
		if skipped, widened := p.DenyHTTPAtZtunnel(); skipped != tc.skipped || widened != tc.widened {
			t.Errorf("%s: skipped %v widened %v, want %v %v", tc.name, skipped, widened, tc.skipped, tc.widened)
		}
	}
}
