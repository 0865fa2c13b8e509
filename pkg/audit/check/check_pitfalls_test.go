package check

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

func tcp(port int32) networkingv1.NetworkPolicyPort {
	p := intstr.FromInt32(port)
	proto := corev1.ProtocolTCP
	return networkingv1.NetworkPolicyPort{Protocol: &proto, Port: &p}
}

func netpol(name string, selector map[string]string, types []networkingv1.PolicyType, rules ...networkingv1.NetworkPolicyIngressRule) networkingv1.NetworkPolicy {
	return networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: name},
		Spec: networkingv1.NetworkPolicySpec{PodSelector: metav1.LabelSelector{MatchLabels: selector}, PolicyTypes: types, Ingress: rules}}
}

// ingressOn is an ingress rule on these ports, from anyone.
func ingressOn(ports ...networkingv1.NetworkPolicyPort) networkingv1.NetworkPolicyIngressRule {
	return networkingv1.NetworkPolicyIngressRule{Ports: ports}
}

// waypointGateway is the waypoint Gateway istioctl waypoint apply makes.
func waypointGateway(ns, name string, waypointFor string) gatewayapi.Gateway {
	gw := gatewayapi.Gateway{Namespace: ns, Name: name, ClassName: istio.WaypointClass}
	if waypointFor != "" {
		gw.Labels = map[string]string{waypointForLabel: waypointFor}
	}
	return gw
}

// megaservice is ChatQnA's megaservice Service, with labels.
func megaservice(labels map[string]string) snapshot.Service {
	return snapshot.Service{Namespace: "chatqna", Name: "chatqna", Labels: labels,
		Selector: map[string]string{"app.kubernetes.io/name": "chatqna"}, Ports: []snapshot.ServicePort{{Name: "http", Port: 8888, Target: 8888}}}
}

// waypointPolicy sends the megaservice's traffic through a waypoint that
// enforces an HTTP policy bound to the Service.
func waypointPolicy(s *snapshot.Snapshot) {
	s.Services = append(s.Services, megaservice(map[string]string{istio.UseWaypointLabel: "waypoint"}))
	s.GatewayAPIGateways = append(s.GatewayAPIGateways, waypointGateway("chatqna", "waypoint", ""))
	s.AuthorizationPolicies = []istio.AuthorizationPolicy{{Namespace: "chatqna", Name: "get-only",
		TargetRefs: []istio.PolicyTargetReference{{Kind: "Service", Name: "chatqna"}},
		Rules:      []istio.AuthorizationRule{{To: []istio.RuleTo{{Operation: istio.Operation{Methods: []string{"GET"}}}}}}}}
}

// opeaAuthAddOn is OPEA's authN-authZ add-on (GenAIInfra, helm-chart-based)
// applied to the namespace: a RequestAuthentication with a Keycloak issuer
// and an ALLOW on the token's claims, both selecting the megaservice's pods.
func opeaAuthAddOn(s *snapshot.Snapshot) {
	megaservice := &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "chatqna"}}
	s.RequestAuthentications = []istio.RequestAuthentication{{Namespace: "chatqna", Name: "jwt-keycloak", Selector: megaservice,
		JWTRules: []istio.JWTRule{{Issuer: "http://keycloak.example.com/realms/opea", JWKSURI: "http://keycloak.example.com/realms/opea/protocol/openid-connect/certs"}}}}
	s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("chatqna", "router", istio.AuthorizationPolicy{Selector: megaservice,
		Rules: []istio.AuthorizationRule{{When: []istio.RuleCondition{
			{Key: "request.auth.claims[iss]", Values: []string{"http://keycloak.example.com/realms/opea"}},
			{Key: "request.auth.claims[preferred_username]", Values: []string{"mary"}},
		}}}})}
}

var pitfallBrokenCases = []brokenCase{
	{"a default-deny NetworkPolicy", "pitfalls.networkpolicy-admits-hbone", Fail,
		"NetworkPolicies default-deny isolate chatqna-1, chatqna-nginx-1 and admit no TCP 15008",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.NetworkPolicies = []networkingv1.NetworkPolicy{netpol("default-deny", nil, nil)}
		}},
	{"a NetworkPolicy admitting the application's port only", "pitfalls.networkpolicy-admits-hbone", Fail,
		`kubectl patch networkpolicy nginx-80 -n chatqna --type json -p '[{"op":"add","path":"/spec/ingress/-"`,
		func(t *testing.T, s *snapshot.Snapshot) {
			s.NetworkPolicies = []networkingv1.NetworkPolicy{netpol("nginx-80", map[string]string{"app.kubernetes.io/name": "nginx"},
				[]networkingv1.PolicyType{networkingv1.PolicyTypeIngress}, ingressOn(tcp(80)))}
		}},
	{"a principal naming a service account the namespace lacks", "pitfalls.principals-exist", Warn,
		"chatqna/allow-ui principals cluster.local/ns/chatqna/sa/chatqna-ui (no ServiceAccount chatqna-ui in namespace chatqna)",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("chatqna", "allow-ui", istio.AuthorizationPolicy{Rules: []istio.AuthorizationRule{
				{From: []istio.RuleFrom{{Source: istio.Source{Principals: []string{"cluster.local/ns/chatqna/sa/default", "cluster.local/ns/chatqna/sa/chatqna-ui",
					"cluster.local/ns/istio-ingress/sa/istio-ingress"}}}}}}})}
		}},
	{"a serviceAccounts entry of a mesh-wide policy naming an account the namespace lacks", "pitfalls.principals-exist", Warn,
		"istio-system/fence serviceAccounts chatqna/retriever (no ServiceAccount retriever in namespace chatqna)",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("istio-system", "fence", istio.AuthorizationPolicy{Action: "DENY", Rules: []istio.AuthorizationRule{
				{From: []istio.RuleFrom{{Source: istio.Source{ServiceAccounts: []string{"chatqna/retriever"}}}}}}})}
		}},
	{"a gateway pod on the host network", "pitfalls.gateway-host-network", Warn, "gateway pods run on the host network, with their node's address: ztunnel cannot tell their connections from the node's (istio/ztunnel#1901), so the identity the application's policies admit may not be theirs: istio-ingress/istio-ingress-abc",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.GatewayPods["chatqna/opea-ingress"][0].HostNetwork = true
		}},
	{"the RequestAuthentication of OPEA's authN-authZ add-on", "pitfalls.l7-policy-enforced", Fail,
		"RequestAuthentication chatqna/jwt-keycloak (issuer http://keycloak.example.com/realms/opea) validates no token: no proxy at the pods reads HTTP (selects chatqna-1)",
		func(t *testing.T, s *snapshot.Snapshot) {
			opeaAuthAddOn(s)
			s.AuthorizationPolicies = nil // the whole add-on: TestOPEAAuthAddOnHintMovesItToTheIngress
		}},
	{"a RequestAuthentication of the root namespace selecting the pods", "pitfalls.l7-policy-enforced", Fail,
		"RequestAuthentication istio-system/nginx-jwt (issuer https://idp.example.com) validates no token",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.RequestAuthentications = []istio.RequestAuthentication{{Namespace: "istio-system", Name: "nginx-jwt",
				Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "nginx"}}, JWTRules: []istio.JWTRule{{Issuer: "https://idp.example.com"}}}}
		}},
	{"a Service naming a waypoint that does not exist", "pitfalls.waypoint-exists", Fail,
		"Service chatqna names waypoint chatqna/waypoint, which does not exist: istiod binds no waypoint (WaypointIsNotReady)",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.Services = append(s.Services, megaservice(map[string]string{istio.UseWaypointLabel: "waypoint"}))
		}},
	{"a pod naming a waypoint that takes Service traffic only", "pitfalls.waypoint-exists", Fail,
		"pod chatqna-1 names waypoint chatqna/waypoint, which takes service traffic only (istio.io/waypoint-for=service): istiod does not bind it to the pod (UnsupportedTrafficType)",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.Pods[1].Labels[istio.UseWaypointLabel] = "waypoint"
			s.GatewayAPIGateways = append(s.GatewayAPIGateways, waypointGateway("chatqna", "waypoint", ""))
		}},
	{"a waypoint's policy that callers of the pods' addresses bypass", "pitfalls.waypoint-exists", Warn,
		"AuthorizationPolicy chatqna/get-only bound to waypoint chatqna/waypoint for Service chatqna see only connections addressed to the Service: ztunnel at pod chatqna-1 admits cluster.local/ns/chatqna/sa/default on port 8888 straight to the pod's address, past the waypoint",
		func(t *testing.T, s *snapshot.Snapshot) {
			waypointPolicy(s)
		}},
	{"a pod asking for a sidecar in an ambient namespace", "enrolment.no-opt-out", Fail,
		"pods ask for a sidecar (sidecar.istio.io/inject=true) in ambient mode",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.Pods[1].Labels[sidecarInject] = "true"
		}},
	{"an Enterprise-RAG carve-out on a webhook port", "mtls.no-permissive-ports", Warn,
		"plaintext allowed only on carve-outs for callers outside the mesh: chatqna-1 port 9443 PERMISSIVE (chatqna/webhook): a webhook's port: the kube-apiserver calls it without mTLS",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.PeerAuthentications = append(s.PeerAuthentications, istio.PeerAuthentication{Namespace: "chatqna", Name: "webhook",
				Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "chatqna"}},
				MTLS:     &istio.MTLS{Mode: "STRICT"}, PortLevelMTLS: map[string]istio.MTLS{"9443": {Mode: "PERMISSIVE"}}})
		}},
}

// Each pitfall's healthy twin stays quiet: every check passes.
func TestPitfallsHealthyTwinsPass(t *testing.T) {
	for _, tc := range []struct {
		name   string
		id     string
		want   string
		change func(s *snapshot.Snapshot)
	}{
		{"a default-deny NetworkPolicy beside one admitting HBONE", "pitfalls.networkpolicy-admits-hbone", "TCP 15008 admitted to the 2 pods NetworkPolicies isolate", func(s *snapshot.Snapshot) {
			s.NetworkPolicies = []networkingv1.NetworkPolicy{netpol("default-deny", nil, nil), netpol("hbone", nil, nil, ingressOn(tcp(HBONEPort)))}
		}},
		{"an Egress-only NetworkPolicy", "pitfalls.networkpolicy-admits-hbone", "no NetworkPolicy of namespace chatqna isolates the application's pods", func(s *snapshot.Snapshot) {
			s.NetworkPolicies = []networkingv1.NetworkPolicy{netpol("egress", nil, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress})}
		}},
		{"HBONE admitted from the gateway's namespace only", "pitfalls.networkpolicy-admits-hbone", "to chatqna-nginx-1 only from namespaces kubernetes.io/metadata.name=istio-ingress", func(s *snapshot.Snapshot) {
			rule := ingressOn(tcp(HBONEPort))
			rule.From = []networkingv1.NetworkPolicyPeer{{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "istio-ingress"}}}}
			s.NetworkPolicies = []networkingv1.NetworkPolicy{netpol("nginx", map[string]string{"app.kubernetes.io/name": "nginx"}, nil, rule)}
		}},
		{"principals of existing accounts and of other namespaces", "pitfalls.principals-exist", "1 naming other namespaces not judged", func(s *snapshot.Snapshot) {
			s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
		}},
		{"a gateway pod off the host network", "pitfalls.gateway-host-network", "no gateway pod of the application's Gateways on the host network", func(*snapshot.Snapshot) {}},
		{"token checks bound to a waypoint by targetRefs", "pitfalls.l7-policy-enforced", "no RequestAuthentication", func(s *snapshot.Snapshot) {
			s.RequestAuthentications = []istio.RequestAuthentication{{Namespace: "chatqna", Name: "jwt", TargetRefs: []istio.PolicyTargetReference{{Kind: "Service", Name: "chatqna"}},
				JWTRules: []istio.JWTRule{{Issuer: "https://idp.example.com"}}}}
		}},
		{"a RequestAuthentication of the gateway's namespace", "pitfalls.l7-policy-enforced", "no RequestAuthentication", func(s *snapshot.Snapshot) {
			s.RequestAuthentications = []istio.RequestAuthentication{{Namespace: "istio-ingress", Name: "jwt", Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"istio": "ingress"}}}}
		}},
		{"a mesh-wide RequestAuthentication, which gateways enforce", "pitfalls.l7-policy-enforced", "no RequestAuthentication", func(s *snapshot.Snapshot) {
			s.RequestAuthentications = []istio.RequestAuthentication{{Namespace: "istio-system", Name: "mesh-jwt", JWTRules: []istio.JWTRule{{Issuer: "https://idp.example.com"}}}}
		}},
		{"a Service using a waypoint that exists", "pitfalls.waypoint-exists", "the waypoints exist and take the traffic: Service chatqna through chatqna/waypoint", func(s *snapshot.Snapshot) {
			s.Services = append(s.Services, megaservice(map[string]string{istio.UseWaypointLabel: "waypoint"}))
			s.GatewayAPIGateways = append(s.GatewayAPIGateways, waypointGateway("chatqna", "waypoint", ""))
		}},
		{"a pod using a waypoint for all traffic", "pitfalls.waypoint-exists", "the waypoints exist and take the traffic: pod chatqna-1 through chatqna/waypoint", func(s *snapshot.Snapshot) {
			s.Pods[1].Labels[istio.UseWaypointLabel] = "waypoint"
			s.GatewayAPIGateways = append(s.GatewayAPIGateways, waypointGateway("chatqna", "waypoint", "all"))
		}},
		{"a waypoint's policy, and ztunnel admitting only the waypoint at the pods", "pitfalls.waypoint-exists", "the waypoints exist and take the traffic: Service chatqna through chatqna/waypoint", func(s *snapshot.Snapshot) {
			waypointPolicy(s)
			s.ServiceAccounts = append(s.ServiceAccounts, "waypoint")
			s.AuthorizationPolicies = append(s.AuthorizationPolicies, accepted("chatqna", "waypoint-only", istio.AuthorizationPolicy{
				Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "chatqna"}},
				Rules:    []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{Principals: []string{"cluster.local/ns/chatqna/sa/waypoint"}}}}}}}))
		}},
		{"a waypoint's policy, and the pods bound to the waypoint too", "pitfalls.waypoint-exists", "pod chatqna-1 through chatqna/waypoint", func(s *snapshot.Snapshot) {
			waypointPolicy(s)
			s.GatewayAPIGateways[0].Labels = map[string]string{waypointForLabel: "all"}
			s.Pods[1].Labels[istio.UseWaypointLabel] = "waypoint"
		}},
		{"Enterprise-RAG's per-workload fences", "authorization.lockdown-intact",
			"locked down by per-workload DENY fences (notPrincipals: every caller but those listed is denied): chatqna/chatqna-fence, chatqna/nginx-fence fence all 2 pods", func(s *snapshot.Snapshot) {
				fence := func(name, app string, principals ...string) istio.AuthorizationPolicy {
					return accepted("chatqna", name, istio.AuthorizationPolicy{Action: "DENY", Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": app}},
						Rules: []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{NotPrincipals: principals}}}}}})
				}
				s.AuthorizationPolicies = []istio.AuthorizationPolicy{
					fence("nginx-fence", "nginx", "cluster.local/ns/istio-ingress/sa/istio-ingress"),
					fence("chatqna-fence", "chatqna", "cluster.local/ns/chatqna/sa/default"),
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			tc.change(s)
			for _, o := range Run(s) {
				if !healthyOutcome(o) && !alsoNoticed(tc.name, "", o.ID, o.Result) {
					t.Errorf("%s: %s %s", o.ID, o.Status, o.Message)
				}
				if o.ID == tc.id && !strings.Contains(o.Message, tc.want) {
					t.Errorf("%s = %q, want it to contain %q", o.ID, o.Message, tc.want)
				}
			}
		})
	}
}

// NetworkPolicy semantics as the API server defines them: an empty
// podSelector selects every pod; policyTypes defaults to Ingress; a rule
// without ports admits every port; ports match by number, by range
// (endPort) and by protocol; a named port is a container port, never
// ztunnel's.
func TestHBONEAdmission(t *testing.T) {
	udp := corev1.ProtocolUDP
	named := intstr.FromString("hbone")
	rangeOf := func(from, to int32) networkingv1.NetworkPolicyPort {
		p := tcp(from)
		p.EndPort = &to
		return p
	}
	protocolOnly := networkingv1.NetworkPolicyPort{}
	nginx := map[string]string{"app.kubernetes.io/name": "nginx"}
	for _, tc := range []struct {
		name      string
		policy    networkingv1.NetworkPolicy
		isolating bool
		admitted  bool
	}{
		{"empty podSelector, no rules", netpol("deny", nil, nil), true, false},
		{"a selector of other pods", netpol("other", map[string]string{"app": "other"}, nil), false, false},
		{"Egress only", netpol("egress", nil, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress}), false, false},
		{"Ingress and Egress, no rules", netpol("both", nil, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}), true, false},
		{"a rule without ports", netpol("all", nginx, nil, ingressOn()), true, true},
		{"a rule on port 15008", netpol("hbone", nginx, nil, ingressOn(tcp(HBONEPort))), true, true},
		{"a rule on another port", netpol("http", nginx, nil, ingressOn(tcp(80))), true, false},
		{"a range through 15008", netpol("range", nginx, nil, ingressOn(rangeOf(15000, 15010))), true, true},
		{"a range below 15008", netpol("range", nginx, nil, ingressOn(rangeOf(15000, 15007))), true, false},
		{"port 15008 over UDP", netpol("udp", nginx, nil, ingressOn(networkingv1.NetworkPolicyPort{Protocol: &udp, Port: tcp(HBONEPort).Port})), true, false},
		{"a protocol without port", netpol("tcp", nginx, nil, ingressOn(protocolOnly)), true, true},
		{"a named port", netpol("named", nginx, nil, ingressOn(networkingv1.NetworkPolicyPort{Port: &named})), true, false},
		{"a matchExpressions selector", networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "expr"}, Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app.kubernetes.io/name", Operator: metav1.LabelSelectorOpIn, Values: []string{"nginx", "ui"}}}}}}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hboneFor([]networkingv1.NetworkPolicy{tc.policy}, nginx)
			if got := len(h.isolating) > 0; got != tc.isolating || h.admitted != tc.admitted {
				t.Errorf("isolating %v admitted %v, want %v %v", got, h.admitted, tc.isolating, tc.admitted)
			}
		})
	}
}

// The rules of several policies add up: one admitting HBONE is enough.
func TestHBONEAdmittedByAnyIsolatingPolicy(t *testing.T) {
	nginx := map[string]string{"app.kubernetes.io/name": "nginx"}
	h := hboneFor([]networkingv1.NetworkPolicy{netpol("http", nginx, nil, ingressOn(tcp(80))), netpol("hbone", nil, nil, ingressOn(tcp(HBONEPort)))}, nginx)
	if !h.admitted || len(h.isolating) != 2 {
		t.Errorf("%+v", h)
	}
}

// OPEA's add-on fails the pitfall check with a hint that moves the token
// check to the ingress with the add-on's own issuer, and the ALLOW on
// claims is named beside it (and failed by ztunnel-accepted).
func TestOPEAAuthAddOnHintMovesItToTheIngress(t *testing.T) {
	s := healthy(t)
	opeaAuthAddOn(s)
	o := outcomesByID(s)
	got := o["pitfalls.l7-policy-enforced"]
	for _, want := range []string{
		"AuthorizationPolicy chatqna/router (ALLOW on request.auth.claims[iss], request.auth.claims[preferred_username]) keeps no rule at ztunnel: an ALLOW of nothing, every connection to the pods is refused",
	} {
		if !strings.Contains(got.Message, want) {
			t.Errorf("message %q lacks %q", got.Message, want)
		}
	}
	for _, want := range []string{
		"kubectl opea secure -n chatqna --host <host> --auth jwt --jwt-issuer http://keycloak.example.com/realms/opea --jwks-uri http://keycloak.example.com/realms/opea/protocol/openid-connect/certs",
		"istioctl waypoint apply -n chatqna --enroll-namespace",
		"kubectl delete requestauthentication jwt-keycloak -n chatqna; kubectl delete authorizationpolicy router -n chatqna",
	} {
		if !strings.Contains(got.Hint, want) {
			t.Errorf("hint %q lacks %q", got.Hint, want)
		}
	}
	if z := o["authorization.ztunnel-accepted"]; z.Status != Fail || !strings.Contains(z.Message, "chatqna/router") {
		t.Errorf("authorization.ztunnel-accepted = %s %q", z.Status, z.Message)
	}
}

// The ServiceAccounts, NetworkPolicies or RequestAuthentications refused:
// the checks that need them could not check, never pass.
func TestPitfallsRefusedReadsAreUnknown(t *testing.T) {
	for in, id := range map[snapshot.Input]string{
		snapshot.InputNetworkPolicies:        "pitfalls.networkpolicy-admits-hbone",
		snapshot.InputServiceAccounts:        "pitfalls.principals-exist",
		snapshot.InputRequestAuthentications: "pitfalls.l7-policy-enforced",
	} {
		s := healthy(t)
		s.Deny(in, snapshot.Access{Verb: "list", Resource: string(in), Namespace: "chatqna"})
		if o := outcomesByID(s)[id]; o.Status != Unknown || !strings.HasPrefix(o.Message, "not run: you may not list "+string(in)) {
			t.Errorf("%s refused: %s = %s %q", in, id, o.Status, o.Message)
		}
	}
}
