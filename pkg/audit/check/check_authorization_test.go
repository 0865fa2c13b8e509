package check

import (
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

func fromNamespaces(ns ...string) istio.AuthorizationRule {
	return istio.AuthorizationRule{From: []istio.RuleFrom{{Source: istio.Source{Namespaces: ns}}}}
}

// lockdown is what kubectl opea secure --lockdown writes for the healthy
// snapshot's application.
func lockdown() []istio.AuthorizationPolicy {
	labelled := func(p istio.AuthorizationPolicy) istio.AuthorizationPolicy {
		p.Labels = map[string]string{ownership.ManagedByLabel: ownership.ManagedByValue, ownership.AppNamespaceLabel: "chatqna"}
		return p
	}
	return []istio.AuthorizationPolicy{
		labelled(accepted("chatqna", ownership.DenyByDefaultPolicy, istio.AuthorizationPolicy{})),
		labelled(accepted("chatqna", ownership.AllowAppPolicy, istio.AuthorizationPolicy{Rules: []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{
			Principals: []string{"cluster.local/ns/chatqna/sa/default"}}}}}}})),
		labelled(accepted("chatqna", ownership.AllowIngressPolicy, istio.AuthorizationPolicy{
			Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "nginx"}},
			Rules: []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{Principals: []string{"cluster.local/ns/istio-ingress/sa/istio-ingress"}}}},
				To: []istio.RuleTo{{Operation: istio.Operation{Ports: []string{"80"}}}}}}})),
	}
}

var authorizationBrokenCases = []brokenCase{
	{"an ALLOW of the namespace's own callers shuts out the gateway", "authorization.ingress-admitted", Fail,
		"ALLOW policies chatqna/same-namespace apply to chatqna-nginx-1 and none admits the ingress gateway's principal cluster.local/ns/istio-ingress/sa/istio-ingress on port 80",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("chatqna", "same-namespace", istio.AuthorizationPolicy{Rules: []istio.AuthorizationRule{fromNamespaces("chatqna")}})}
		}},
	{"a mesh-wide DENY of the gateway's namespace", "authorization.ingress-admitted", Fail, "DENY policy istio-system/no-ingress refuses the ingress gateway",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("istio-system", "no-ingress", istio.AuthorizationPolicy{Action: "DENY", Rules: []istio.AuthorizationRule{fromNamespaces("istio-ingress")}})}
		}},
	{"an ALLOW of mesh identities in the gateway's namespace", "authorization.gateway-admits-clients", Fail,
		"ALLOW policies istio-ingress/mesh-only apply to the gateway itself and none admits a client without a mesh identity (GET / for chatqna.example.com on port 443 of gateway pod istio-ingress/",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("istio-ingress", "mesh-only", istio.AuthorizationPolicy{Rules: []istio.AuthorizationRule{fromNamespaces("istio-ingress")}})}
		}},
	// A DENY of requests without a token is the Authentication checks' to
	// judge: without a RequestAuthentication, no request has a token.
	{"a DENY of requests without a token on the gateway, and no RequestAuthentication", "authentication.policies-attached", Fail,
		"no RequestAuthentication binds gateway pod istio-ingress/istio-ingress-abc, so no token is validated there, yet AuthorizationPolicies istio-ingress/require-jwt decide by the token",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("istio-ingress", "require-jwt", istio.AuthorizationPolicy{Action: "DENY",
				Rules: []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{NotRequestPrincipals: []string{"*"}}}}}}})}
			s.Probe.Hosts[0].Status, s.Probe.RedirectStatus = 403, 403
		}},
	{"a DENY by path on the gateway", "authorization.gateway-admits-clients", Fail,
		"DENY policy istio-ingress/no-root matches GET / for chatqna.example.com on port 443",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("istio-ingress", "no-root", istio.AuthorizationPolicy{Action: "DENY",
				Rules: []istio.AuthorizationRule{{To: []istio.RuleTo{{Operation: istio.Operation{Paths: []string{"/"}}}}}}})}
		}},
	{"an ALLOW of the client's address on the gateway", "authorization.gateway-admits-clients", Warn,
		"depends on their address, their headers or an external authorizer",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("istio-ingress", "office", istio.AuthorizationPolicy{
				Rules: []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{RemoteIPBlocks: []string{"192.0.2.0/24"}}}}}}})}
		}},
	{"an ALLOW of the application's own callers, and a waypoint a backend Service uses", "authorization.waypoint-admitted", Fail,
		"none admits waypoint chatqna/waypoint (cluster.local/ns/chatqna/sa/waypoint) on port 8888: every call to Service chatqna",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("chatqna", "own-callers", istio.AuthorizationPolicy{
				Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "chatqna"}},
				Rules:    []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{Principals: []string{"cluster.local/ns/chatqna/sa/default"}}}}}}})}
			s.Services = append(s.Services, snapshot.Service{Namespace: "chatqna", Name: "chatqna", Labels: map[string]string{istio.UseWaypointLabel: "waypoint"},
				Selector: map[string]string{"app.kubernetes.io/name": "chatqna"}, Ports: []snapshot.ServicePort{{Name: "http", Port: 8888, Target: 8888}}})
			s.GatewayAPIGateways = append(s.GatewayAPIGateways, waypointGateway("chatqna", "waypoint", ""))
		}},
	{"an ALLOW with HTTP fields", "authorization.ztunnel-accepted", Fail, "chatqna/get-only: ztunnel drops its ALLOW rules with HTTP fields (methods)",
		func(t *testing.T, s *snapshot.Snapshot) {
			p := accepted("chatqna", "get-only", istio.AuthorizationPolicy{Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "chatqna"}},
				Rules: []istio.AuthorizationRule{{To: []istio.RuleTo{{Operation: istio.Operation{Methods: []string{"GET"}}}}}}})
			p.Conditions[0].Reason, p.Conditions[0].Message = "UnsupportedValue", "ztunnel does not support HTTP attributes (found: methods)."
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{p}
		}},
	{"a policy istiod has not seen", "authorization.ztunnel-accepted", Warn, "chatqna/new: istiod has not written ZtunnelAccepted yet",
		func(t *testing.T, s *snapshot.Snapshot) {
			p := accepted("chatqna", "new", istio.AuthorizationPolicy{Action: "DENY", Rules: []istio.AuthorizationRule{fromNamespaces("legacy")}})
			p.Conditions = nil
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{p}
		}},
	{"the namespace's waypoint without ingress", "authorization.waypoint-ingress", Warn, "Service chatqna/chatqna-nginx uses waypoint chatqna/waypoint, but without istio.io/ingress-use-waypoint=true",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.NamespaceLabels[istio.UseWaypointLabel] = "waypoint"
			s.GatewayAPIGateways = append(s.GatewayAPIGateways, waypointGateway("chatqna", "waypoint", ""))
		}},
	{"a developer may port-forward", "authorization.port-forward", Warn, "User alice (RoleBinding dev, ClusterRole edit)",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.ClusterRoles = append(s.ClusterRoles, rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "edit"},
				Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"create"}}}})
			s.RoleBindings = []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "dev"},
				RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, Name: "alice"}}}}
		}},
	{"the entry Service is a NodePort", "authorization.no-bypass-service", Warn, "chatqna/chatqna-nginx (NodePort)",
		func(t *testing.T, s *snapshot.Snapshot) { s.Services[0].Type = "NodePort" }},
	{"a lockdown policy deleted", "authorization.lockdown-intact", Fail, "opea-allow-app is missing",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = append(lockdown()[:1], lockdown()[2])
		}},
	{"the deny-by-default policy given a rule", "authorization.lockdown-intact", Fail, "opea-deny-by-default is no longer a namespace-wide ALLOW of nothing",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = lockdown()
			s.AuthorizationPolicies[0].Rules = []istio.AuthorizationRule{{}}
		}},
	{"the recorded callers edited to every identity", "authorization.lockdown-intact", Fail,
		`opea-allow-app records callers --allow-principal would refuse (annotation opea.dev/allow-principals="*,cluster.local/ns/monitoring/sa/prometheus": "*" is not of the form`,
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
			allowApp := &s.AuthorizationPolicies[1]
			allowApp.Annotations = map[string]string{ownership.AllowPrincipalsAnnotation: "*,cluster.local/ns/monitoring/sa/prometheus"}
			allowApp.Rules[0].From[0].Source.Principals = []string{"*", "cluster.local/ns/chatqna/sa/default", "cluster.local/ns/monitoring/sa/prometheus"}
		}},
	{"a wildcard principal", "authorization.lockdown-intact", Fail, "opea-allow-app admits principals with a wildcard (cluster.local/ns/*): every identity they match may call the pods",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
			s.AuthorizationPolicies[1].Rules[0].From[0].Source.Principals = append(s.AuthorizationPolicies[1].Rules[0].From[0].Source.Principals, "cluster.local/ns/*")
		}},
	{"a caller secure would not render", "authorization.lockdown-intact", Fail,
		"opea-allow-app admits cluster.local/ns/other/sa/intruder, which neither the application's pods run as nor secure --lockdown recorded",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
			s.AuthorizationPolicies[1].Rules[0].From[0].Source.Principals = append(s.AuthorizationPolicies[1].Rules[0].From[0].Source.Principals, "cluster.local/ns/other/sa/intruder")
		}},
	{"a service account added since", "authorization.lockdown-intact", Fail,
		"opea-allow-app does not admit cluster.local/ns/chatqna/sa/chatqna-ui, which the application's pods run as or secure --lockdown recorded",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"chatqna-ui", "default"}
		}},
	{"a namespace source beside the principals", "authorization.lockdown-intact", Fail,
		"opea-allow-app has other rules, sources or conditions than the one list of principals secure writes",
		func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
			s.AuthorizationPolicies[1].Rules = append(s.AuthorizationPolicies[1].Rules, fromNamespaces("other"))
		}},
}

// A locked-down namespace passes every check, the gateway admitted by
// secure's policy.
func TestLockdownPasses(t *testing.T) {
	s := healthy(t)
	s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
	for _, o := range Run(s) {
		if !healthyOutcome(o) {
			t.Errorf("%s: %s %s", o.ID, o.Status, o.Message)
		}
	}
	// With a caller recorded by --allow-principal, and admitted.
	allowApp := &s.AuthorizationPolicies[1]
	allowApp.Annotations = map[string]string{ownership.AllowPrincipalsAnnotation: "cluster.local/ns/monitoring/sa/prometheus"}
	allowApp.Rules[0].From[0].Source.Principals = []string{"cluster.local/ns/chatqna/sa/default", "cluster.local/ns/monitoring/sa/prometheus"}
	if o := outcomesByID(s)["authorization.lockdown-intact"]; o.Status != Pass || !strings.Contains(o.Message, "admits the service accounts of the application's pods (1) and the callers secure recorded (1)") {
		t.Errorf("with a recorded caller: %s %q", o.Status, o.Message)
	}
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Message != "the ingress gateway is admitted by chatqna/opea-allow-ingress" {
		t.Errorf("ingress-admitted says %q", o.Message)
	}
	// The Gateway API's gateway is admitted by its own principal.
	s = healthyGatewayAPI(t)
	s.AuthorizationPolicies = lockdown()
	s.AuthorizationPolicies[2].Rules[0].From[0].Source.Principals = []string{"cluster.local/ns/chatqna/sa/opea-ingress-istio"}
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != Pass {
		t.Errorf("Gateway API: %s %q", o.Status, o.Message)
	}
	s.AuthorizationPolicies = lockdown()
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != Fail || !strings.Contains(o.Message, "cluster.local/ns/chatqna/sa/opea-ingress-istio") {
		t.Errorf("Gateway API, the classic gateway admitted: %s %q", o.Status, o.Message)
	}
}

// Without the service accounts of the application's pods, whether
// opea-allow-app admits what secure would render is unknown; a wildcard is
// a failure all the same.
func TestLockdownIntactWithoutThePods(t *testing.T) {
	s := healthy(t)
	s.AuthorizationPolicies = lockdown()
	s.Deny(snapshot.InputPods, snapshot.Access{Verb: "list", Resource: "pods", Namespace: "chatqna"})
	if o := outcomesByID(s)["authorization.lockdown-intact"]; o.Status != Unknown || o.Message != "not run: you may not list pods in namespace chatqna" {
		t.Errorf("%s %q", o.Status, o.Message)
	}
	s.AuthorizationPolicies[1].Rules[0].From[0].Source.Principals = []string{"*"}
	if o := outcomesByID(s)["authorization.lockdown-intact"]; o.Status != Fail || !strings.Contains(o.Message, "opea-allow-app admits principals with a wildcard (*)") {
		t.Errorf("with a wildcard: %s %q", o.Status, o.Message)
	}
}

func TestIngressAdmittedUsesTheTrustDomainAndTargetPort(t *testing.T) {
	s := healthy(t)
	s.TrustDomain = "example.org"
	s.Services[0].Ports[0].Target = 8080
	s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("chatqna", "gw", istio.AuthorizationPolicy{Rules: []istio.AuthorizationRule{{
		From: []istio.RuleFrom{{Source: istio.Source{Principals: []string{"example.org/ns/istio-ingress/sa/istio-ingress"}}}},
		To:   []istio.RuleTo{{Operation: istio.Operation{Ports: []string{"8080"}}}}}}})}
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != Pass {
		t.Errorf("%s %q", o.Status, o.Message)
	}
	// A named target port cannot be told: a rule on ports is undecided.
	s.Services[0].Ports[0].Target, s.Services[0].Ports[0].TargetName = 0, "http"
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != Warn || !strings.Contains(o.Message, "its named target port") {
		t.Errorf("named port: %s %q", o.Status, o.Message)
	}
	// No policy: every caller.
	s.AuthorizationPolicies = nil
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != Pass || !strings.Contains(o.Message, "every caller admitted") {
		t.Errorf("no policy: %s %q", o.Status, o.Message)
	}
}

// A DENY whose only operation is of paths reaches ztunnel as an empty
// match, which ztunnel skips: it does not shut the gateway out (only a
// waypoint could enforce it), and ztunnel-accepted says so. With a port
// beside the paths, it denies that port whatever the path.
func TestIngressAdmittedPastADenyOfPaths(t *testing.T) {
	s := healthy(t)
	paths := accepted("chatqna", "deny-admin", istio.AuthorizationPolicy{Action: "DENY",
		Rules: []istio.AuthorizationRule{{To: []istio.RuleTo{{Operation: istio.Operation{Paths: []string{"/admin"}}}}}}})
	s.AuthorizationPolicies = []istio.AuthorizationPolicy{paths}
	o := outcomesByID(s)
	if got := o["authorization.ingress-admitted"]; got.Status != Pass || got.Message != "no ALLOW policy applies to the entry pods and no DENY matches the ingress gateway" {
		t.Errorf("ingress-admitted: %s %q", got.Status, got.Message)
	}
	if got := o["authorization.ztunnel-accepted"]; got.Status != Fail || !strings.Contains(got.Message, "chatqna/deny-admin: ztunnel does not enforce what this DENY matches by HTTP fields alone (paths)") {
		t.Errorf("ztunnel-accepted: %s %q", got.Status, got.Message)
	}
	paths.Rules[0].To[0].Operation.Ports = []string{"80"}
	s.AuthorizationPolicies = []istio.AuthorizationPolicy{paths}
	if got := outcomesByID(s)["authorization.ingress-admitted"]; got.Status != Fail || !strings.Contains(got.Message, "DENY policy chatqna/deny-admin refuses the ingress gateway") {
		t.Errorf("with port 80 beside the paths: %s %q", got.Status, got.Message)
	}
}

// ZtunnelAccepted is judged for the policy's current generation, and as
// istiod writes it; a policy bound to a waypoint is not ztunnel's.
func TestZtunnelAccepted(t *testing.T) {
	deny := accepted("chatqna", "d", istio.AuthorizationPolicy{Action: "DENY", Rules: []istio.AuthorizationRule{fromNamespaces("legacy")}})
	for _, tc := range []struct {
		name   string
		change func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot)
		want   Status
		says   string
	}{
		{"accepted", func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot) {}, Pass, "1 policies accepted by ztunnel as written"},
		{"an older generation", func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot) { p.Generation = 2 }, Warn, "is for generation 1, the policy is at 2"},
		{"refused", func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot) {
			p.Conditions[0].Status, p.Conditions[0].Reason, p.Conditions[0].Message = "False", "UnsupportedValue", "not supported"
		}, Fail, "ZtunnelAccepted is False (UnsupportedValue: not supported)"},
		{"CUSTOM", func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot) { p.Action = "CUSTOM" }, Fail, "ztunnel does not enforce action CUSTOM"},
		// The rule's only operation is of paths: istiod sends it as an
		// empty match, ztunnel skips it, and the rule denies nobody.
		{"DENY with an operation of HTTP fields only", func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot) {
			p.Rules[0].To = []istio.RuleTo{{Operation: istio.Operation{Paths: []string{"/admin"}}}}
		}, Fail, "chatqna/d: ztunnel does not enforce what this DENY matches by HTTP fields alone (paths)"},
		{"DENY with paths beside a port", func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot) {
			p.Rules[0].To = []istio.RuleTo{{Operation: istio.Operation{Ports: []string{"80"}, Paths: []string{"/admin"}}}}
		}, Warn, "chatqna/d: ztunnel enforces this DENY without its HTTP fields (paths) where they sit beside ports or sources: it denies more than written"},
		{"bound to a waypoint", func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot) {
			p.TargetRefs, p.Conditions = []istio.PolicyTargetReference{{Kind: "Service", Name: "chatqna-nginx"}}, nil
		}, Pass, "1 bound to waypoints or dry run left out"},
		{"istiod writes no status", func(p *istio.AuthorizationPolicy, s *snapshot.Snapshot) {
			p.Conditions = nil
			s.Istiod[0].Env["AMBIENT_ENABLE_STATUS"] = "false"
		}, Pass, "1 policies accepted"},
	} {
		s := healthy(t)
		p := deny
		p.Conditions = append([]istio.Condition(nil), deny.Conditions...)
		p.Rules = []istio.AuthorizationRule{fromNamespaces("legacy")}
		tc.change(&p, s)
		s.AuthorizationPolicies = []istio.AuthorizationPolicy{p}
		if o := outcomesByID(s)["authorization.ztunnel-accepted"]; o.Status != tc.want || !strings.Contains(o.Message, tc.says) {
			t.Errorf("%s: %s %q", tc.name, o.Status, o.Message)
		}
	}
}

func TestPortForwardLeavesOutClusterAdmins(t *testing.T) {
	s := healthy(t)
	if o := outcomesByID(s)["authorization.port-forward"]; !strings.Contains(o.Message, "no one but the cluster's admins (subjects bound to ClusterRole cluster-admin, left out)") {
		t.Errorf("%q", o.Message)
	}
	// "pods/*" grants no subresource in RBAC; "*/portforward" does.
	for resource, want := range map[string]Status{"pods/*": Pass, "*/portforward": Warn, "*": Warn, "pods": Pass} {
		s := healthy(t)
		s.Roles = []rbacv1.Role{{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "r"},
			Rules: []rbacv1.PolicyRule{{APIGroups: []string{"*"}, Resources: []string{resource}, Verbs: []string{"*"}}}}}
		s.RoleBindings = []rbacv1.RoleBinding{{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "r"},
			RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: "ci", Name: "deployer"}}}}
		if o := outcomesByID(s)["authorization.port-forward"]; o.Status != want {
			t.Errorf("%s: %s %q", resource, o.Status, o.Message)
		}
	}
	// Before 1.35 a websocket port-forward needed only get.
	s.ServerVersion = "v1.34.2"
	s.ClusterRoles = append(s.ClusterRoles, rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "view-pf"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"get"}}}})
	s.ClusterRoleBindings = append(s.ClusterRoleBindings, rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "view-pf"},
		RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "view-pf"}, Subjects: []rbacv1.Subject{{Kind: rbacv1.GroupKind, Name: "devs"}}})
	if o := outcomesByID(s)["authorization.port-forward"]; o.Status != Warn || !strings.Contains(o.Message, "Group devs") {
		t.Errorf("v1.34: %s %q", o.Status, o.Message)
	}
	s.ServerVersion = "v1.35.0"
	if o := outcomesByID(s)["authorization.port-forward"]; o.Status != Pass {
		t.Errorf("v1.35: %s %q", o.Status, o.Message)
	}
}

// With ingress through the entry Service's waypoint, ztunnel at the entry
// pods sees the waypoint: the lockdown, which admits the gateway there,
// does not admit it, and both the ingress and the waypoint checks say so;
// once the waypoint is admitted (as secure --lockdown does, by the account
// its Gateway names), both pass.
func TestIngressThroughAWaypointIsJudgedByTheWaypoint(t *testing.T) {
	s := healthy(t)
	s.AuthorizationPolicies = lockdown()
	s.NamespaceLabels[istio.UseWaypointLabel] = "waypoint"
	s.NamespaceLabels[istio.IngressUseWaypointLabel] = "true"
	s.GatewayAPIGateways = append(s.GatewayAPIGateways, gatewayapi.Gateway{Namespace: "chatqna", Name: "waypoint", ClassName: istio.WaypointClass,
		Annotations: map[string]string{istio.GatewayServiceAccountAnnotation: "wp"}})
	o := outcomesByID(s)
	if got := o["authorization.ingress-admitted"]; got.Status != Fail || !strings.Contains(got.Message, "cluster.local/ns/chatqna/sa/wp on port 80") {
		t.Errorf("ingress-admitted: %s %q", got.Status, got.Message)
	}
	if got := o["authorization.waypoint-admitted"]; got.Status != Fail || !strings.Contains(got.Message, "waypoint chatqna/waypoint (cluster.local/ns/chatqna/sa/wp)") {
		t.Errorf("waypoint-admitted: %s %q", got.Status, got.Message)
	}
	s.AuthorizationPolicies[1].Rules[0].From[0].Source.Principals = append(s.AuthorizationPolicies[1].Rules[0].From[0].Source.Principals, "cluster.local/ns/chatqna/sa/wp")
	o = outcomesByID(s)
	for _, id := range []string{"authorization.ingress-admitted", "authorization.waypoint-admitted", "authorization.waypoint-ingress"} {
		if o[id].Status != Pass {
			t.Errorf("admitted: %s %s %q", id, o[id].Status, o[id].Message)
		}
	}
}

// A named targetPort is judged at the port it names in the entry pods, as
// secure's lockdown resolved it; without the pods' ports it is undecided.
func TestIngressAdmittedResolvesANamedTargetPort(t *testing.T) {
	s := healthy(t)
	s.AuthorizationPolicies = lockdown()
	s.Services[0].Ports[0].Target, s.Services[0].Ports[0].TargetName = 0, "web"
	s.Pods[0].ContainerPorts = []istio.ContainerPort{{Name: "web", Number: 80, Protocol: "TCP"}}
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != Pass {
		t.Errorf("resolved: %s %q", o.Status, o.Message)
	}
	s.Pods[0].ContainerPorts[0].Number = 8080
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != Fail || !strings.Contains(o.Message, "on port 8080") {
		t.Errorf("resolved to another port: %s %q", o.Status, o.Message)
	}
	s.Pods[0].ContainerPorts = nil
	if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != Warn || !strings.Contains(o.Message, "a named target port verify could not resolve") {
		t.Errorf("unresolved: %s %q", o.Status, o.Message)
	}
}

// A fix names a secure command that runs: secure has no default host, so
// it gives the hosts of secure's Gateway, or says that the user must.
func TestLockdownFixNamesTheHostsAndValidCallers(t *testing.T) {
	s := healthy(t)
	s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
	s.AuthorizationPolicies[1].Annotations = map[string]string{ownership.AllowPrincipalsAnnotation: "cluster.local/ns/monitoring/sa/prometheus"}
	// Not secure's Gateway: the user names the host.
	o := outcomesByID(s)["authorization.lockdown-intact"]
	if want := "kubectl opea secure -n chatqna --host <host> --lockdown --force-conflicts --allow-principal cluster.local/ns/monitoring/sa/prometheus ("; o.Status != Fail || !strings.HasPrefix(o.Hint, want) {
		t.Errorf("%s %q, hint %q; want it to start %q", o.Status, o.Message, o.Hint, want)
	}
	s.Gateways[0].Labels = map[string]string{ownership.ManagedByLabel: ownership.ManagedByValue, ownership.AppNamespaceLabel: "chatqna"}
	o = outcomesByID(s)["authorization.lockdown-intact"]
	if want := "kubectl opea secure -n chatqna --host chatqna.example.com --lockdown --force-conflicts --allow-principal cluster.local/ns/monitoring/sa/prometheus ("; !strings.HasPrefix(o.Hint, want) {
		t.Errorf("hint %q; want it to start %q", o.Hint, want)
	}
}
