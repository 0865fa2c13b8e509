package istio

import (
	"reflect"
	"testing"
	"time"
)

// plaintextRefused reports which of the policies refuses a caller without
// a peer principal on port, "" when none does.
func plaintextRefused(policies []AuthorizationPolicy, port int32) string {
	for _, p := range policies {
		if p.Matches(Caller{Port: port}) == Yes {
			return p.Namespace + "/" + p.Name
		}
	}
	return ""
}

func zpa(ns, name string, age int, selector map[string]string, mode string, ports map[string]string) PeerAuthentication {
	p := PeerAuthentication{Namespace: ns, Name: name, CreationTimestamp: time.Unix(int64(1000-age), 0)}
	if selector != nil {
		p.Selector = &WorkloadSelector{MatchLabels: selector}
	}
	if mode != "" {
		p.MTLS = &MTLS{Mode: mode}
	}
	if ports != nil {
		p.PortLevelMTLS = map[string]MTLS{}
		for port, m := range ports {
			p.PortLevelMTLS[port] = MTLS{Mode: m}
		}
	}
	return p
}

// Each case is a rule of convertedSelectorPeerAuthentications and
// convertPeerAuthentication, checked by what a plaintext caller meets on
// ports 80 and 9443.
func TestZtunnelPeerAuthentications(t *testing.T) {
	nginx := map[string]string{"app": "nginx"}
	const static = "istio-system/" + StaticStrictPolicyName
	const converted = "app/" + ConvertedPeerAuthenticationPrefix + "nginx"
	for _, c := range []struct {
		name     string
		pas      []PeerAuthentication
		on80     string
		on9443   string
		policies int
	}{
		{name: "no policy: PERMISSIVE", pas: nil},
		{name: "namespace STRICT", pas: []PeerAuthentication{zpa("app", "default", 0, nil, "STRICT", nil)}, on80: static, on9443: static, policies: 1},
		{name: "mesh STRICT", pas: []PeerAuthentication{zpa("istio-system", "default", 0, nil, "STRICT", nil)}, on80: static, on9443: static, policies: 1},
		{name: "mesh STRICT, namespace PERMISSIVE", pas: []PeerAuthentication{zpa("istio-system", "default", 0, nil, "STRICT", nil), zpa("app", "default", 0, nil, "PERMISSIVE", nil)}},
		{name: "namespace DISABLE is not STRICT", pas: []PeerAuthentication{zpa("app", "default", 0, nil, "DISABLE", nil)}},
		{name: "root-namespace selector policy is ignored", pas: []PeerAuthentication{zpa("istio-system", "sel", 0, nginx, "STRICT", nil)}},
		{name: "root-namespace selector: {} is ignored", pas: []PeerAuthentication{zpa("istio-system", "sel", 0, map[string]string{}, "STRICT", nil)}},
		{name: "oldest namespace policy wins", pas: []PeerAuthentication{zpa("app", "a-new", 1, nil, "STRICT", nil), zpa("app", "z-old", 5, nil, "PERMISSIVE", nil)}},
		{name: "workload PERMISSIVE overrides namespace STRICT", pas: []PeerAuthentication{zpa("app", "default", 0, nil, "STRICT", nil), zpa("app", "nginx", 0, nginx, "PERMISSIVE", nil)}},
		{name: "workload STRICT with a PERMISSIVE port", pas: []PeerAuthentication{zpa("app", "nginx", 0, nginx, "STRICT", map[string]string{"9443": "PERMISSIVE"})},
			on80: converted, policies: 1},
		{name: "namespace STRICT, workload unset with a PERMISSIVE port", pas: []PeerAuthentication{zpa("app", "default", 0, nil, "STRICT", nil), zpa("app", "nginx", 0, nginx, "", map[string]string{"9443": "PERMISSIVE"})},
			on80: converted, policies: 1},
		{name: "namespace STRICT, workload unset with only a DISABLE port: ignored", pas: []PeerAuthentication{zpa("app", "default", 0, nil, "STRICT", nil), zpa("app", "nginx", 0, nginx, "", map[string]string{"9443": "DISABLE"})},
			on80: static, on9443: static, policies: 1},
		{name: "namespace PERMISSIVE, workload unset with a STRICT port", pas: []PeerAuthentication{zpa("app", "default", 0, nil, "PERMISSIVE", nil), zpa("app", "nginx", 0, nginx, "", map[string]string{"9443": "STRICT"})},
			on9443: converted, policies: 1},
		{name: "workload PERMISSIVE with a STRICT port", pas: []PeerAuthentication{zpa("app", "nginx", 0, nginx, "PERMISSIVE", map[string]string{"9443": "STRICT"})},
			on9443: converted, policies: 1},
		// istiod's operator precedence: a STRICT mesh policy skips the
		// STRICT port even though the workload says PERMISSIVE, so the
		// port accepts plaintext.
		{name: "mesh STRICT, workload PERMISSIVE with a STRICT port", pas: []PeerAuthentication{zpa("istio-system", "default", 0, nil, "STRICT", nil), zpa("app", "nginx", 0, nginx, "PERMISSIVE", map[string]string{"9443": "STRICT"})}},
		// A namespace policy with mode unset under a STRICT mesh: the
		// exception is skipped in the conversion, yet the workload no
		// longer gets the static policy: everything accepts plaintext.
		{name: "mesh STRICT, namespace unset, workload unset with a PERMISSIVE port", pas: []PeerAuthentication{zpa("istio-system", "default", 0, nil, "STRICT", nil), zpa("app", "default", 0, nil, "", nil), zpa("app", "nginx", 0, nginx, "", map[string]string{"9443": "PERMISSIVE"})}},
		{name: "mesh STRICT, workload unset with a PERMISSIVE port", pas: []PeerAuthentication{zpa("istio-system", "default", 0, nil, "STRICT", nil), zpa("app", "nginx", 0, nginx, "", map[string]string{"9443": "PERMISSIVE"})},
			on80: converted, policies: 1},
		{name: "selector for other pods", pas: []PeerAuthentication{zpa("app", "other", 0, map[string]string{"app": "other"}, "STRICT", nil)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ZtunnelPeerAuthentications(c.pas, "istio-system", "app", nginx)
			if len(got) != c.policies {
				t.Errorf("%d policies, want %d: %+v", len(got), c.policies, got)
			}
			if r := plaintextRefused(got, 80); r != c.on80 {
				t.Errorf("plaintext on 80 refused by %q, want %q", r, c.on80)
			}
			if r := plaintextRefused(got, 9443); r != c.on9443 {
				t.Errorf("plaintext on 9443 refused by %q, want %q", r, c.on9443)
			}
			// No policy derived from PeerAuthentications refuses a peer
			// with a principal.
			for _, p := range got {
				if m := p.Matches(Caller{Principal: "cluster.local/ns/x/sa/y", Namespace: "x", ServiceAccount: "y", Port: 80}); m != No {
					t.Errorf("%s matches a mesh caller: %v", p.Name, m)
				}
			}
		})
	}
}

func TestStaticStrictPolicyDeniesOnlyPlaintext(t *testing.T) {
	p := StaticStrictPolicy("mesh-root")
	if p.Namespace != "mesh-root" || p.Name != StaticStrictPolicyName || p.EffectiveAction() != "DENY" {
		t.Errorf("policy %+v", p)
	}
	if p.Matches(Caller{}) != Yes || p.Matches(Caller{Principal: "td/ns/a/sa/b"}) != No {
		t.Error("the static policy must match exactly the callers without a principal")
	}
}

func TestWaypointAttachmentAndEvaluation(t *testing.T) {
	wp := Waypoint{Namespace: "app", Name: "waypoint"}
	gw := PolicyTargetReference{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "waypoint"}
	svc := PolicyTargetReference{Kind: "Service", Name: "backend"}
	class := PolicyTargetReference{Group: "gateway.networking.k8s.io", Kind: "GatewayClass", Name: WaypointClass}
	allowApp := []AuthorizationRule{{From: []RuleFrom{{Source: Source{Namespaces: []string{"app"}}}}}}
	cases := []struct {
		p      AuthorizationPolicy
		attach bool
	}{
		{AuthorizationPolicy{Namespace: "app", Name: "gw", TargetRefs: []PolicyTargetReference{gw}}, true},
		{AuthorizationPolicy{Namespace: "app", Name: "svc", TargetRef: &svc}, true},
		{AuthorizationPolicy{Namespace: "istio-system", Name: "class", TargetRefs: []PolicyTargetReference{class}}, true},
		{AuthorizationPolicy{Namespace: "app", Name: "class-outside-root", TargetRefs: []PolicyTargetReference{class}}, false},
		{AuthorizationPolicy{Namespace: "app", Name: "selector", Selector: &WorkloadSelector{MatchLabels: map[string]string{"a": "b"}}}, false},
		{AuthorizationPolicy{Namespace: "app", Name: "namespace-wide"}, false},
		{AuthorizationPolicy{Namespace: "other", Name: "gw-elsewhere", TargetRefs: []PolicyTargetReference{gw}}, false},
		{AuthorizationPolicy{Namespace: "app", Name: "other-service", TargetRefs: []PolicyTargetReference{{Kind: "Service", Name: "frontend"}}}, false},
	}
	for _, c := range cases {
		if got := c.p.AttachesToWaypoint("istio-system", wp, "app", "backend"); got != c.attach {
			t.Errorf("%s attaches: %v, want %v", c.p.Name, got, c.attach)
		}
	}
	policies := []AuthorizationPolicy{{Namespace: "app", Name: "gw", TargetRefs: []PolicyTargetReference{gw}, Rules: allowApp}}
	inApp := Caller{Principal: "cluster.local/ns/app/sa/x", Namespace: "app", ServiceAccount: "x"}
	outside := Caller{Principal: "cluster.local/ns/o/sa/x", Namespace: "o", ServiceAccount: "x"}
	if d := EvaluateAtWaypoint(policies, "istio-system", wp, "app", "backend", inApp); d.Admitted != Yes || d.Allow == nil {
		t.Errorf("the app's own caller: %+v", d)
	}
	if d := EvaluateAtWaypoint(policies, "istio-system", wp, "app", "backend", outside); d.Admitted != No {
		t.Errorf("another namespace's caller: %+v", d)
	}
	getOnly := []AuthorizationPolicy{{Namespace: "app", Name: "get", TargetRefs: []PolicyTargetReference{gw},
		Rules: []AuthorizationRule{{To: []RuleTo{{Operation: Operation{Methods: []string{"GET"}}}}}}}}
	if d := EvaluateAtWaypoint(getOnly, "istio-system", wp, "app", "backend", inApp); d.Admitted != Undecided {
		t.Errorf("an ALLOW on methods depends on the request: %+v", d)
	}
	if d := EvaluateAtWaypoint(nil, "istio-system", wp, "app", "backend", outside); !reflect.DeepEqual(d.Applied, []AuthorizationPolicy(nil)) || d.Admitted != Yes {
		t.Errorf("no policy: %+v", d)
	}
}

// ztunnel skips a match istiod left empty: a DENY of paths only denies
// nobody there, while one on a port and a path denies that port.
func TestMatchesAtZtunnelSkipsEmptyMatches(t *testing.T) {
	pathsOnly := AuthorizationPolicy{Namespace: "app", Name: "deny-admin", Action: "DENY",
		Rules: []AuthorizationRule{{To: []RuleTo{{Operation: Operation{Paths: []string{"/admin"}}}}}}}
	portAndPath := AuthorizationPolicy{Namespace: "app", Name: "deny-80", Action: "DENY",
		Rules: []AuthorizationRule{{To: []RuleTo{{Operation: Operation{Ports: []string{"80"}, Paths: []string{"/admin"}}}}}}}
	headerWhen := AuthorizationPolicy{Namespace: "app", Name: "deny-header", Action: "DENY",
		Rules: []AuthorizationRule{{When: []RuleCondition{{Key: "request.headers[x]", Values: []string{"y"}}}}}}
	anyone := AuthorizationPolicy{Namespace: "app", Name: "deny-all", Action: "DENY", Rules: []AuthorizationRule{{}}}
	c := Caller{Principal: "cluster.local/ns/a/sa/b", Namespace: "a", ServiceAccount: "b", Port: 80}
	for _, tc := range []struct {
		p          AuthorizationPolicy
		want, port Match
	}{
		{pathsOnly, No, No},
		{portAndPath, Yes, No},
		{headerWhen, No, No},
		{anyone, Yes, Yes},
	} {
		if got := tc.p.MatchesAtZtunnel(c); got != tc.want {
			t.Errorf("%s on 80: %v, want %v", tc.p.Name, got, tc.want)
		}
		other := c
		other.Port = 8080
		if got := tc.p.MatchesAtZtunnel(other); got != tc.port {
			t.Errorf("%s on 8080: %v, want %v", tc.p.Name, got, tc.port)
		}
	}
	// Matches, unchanged, reads the empty match as everyone.
	if pathsOnly.Matches(c) != Yes {
		t.Error("Matches changed")
	}
	d := EvaluateAtZtunnel([]AuthorizationPolicy{pathsOnly}, "istio-system", "app", nil, c)
	if d.Admitted != Yes || len(d.Applied) != 1 {
		t.Errorf("EvaluateAtZtunnel: %+v", d)
	}
}
