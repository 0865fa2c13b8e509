package reachability

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

const (
	ns      = "chatqna"
	gateway = "cluster.local/ns/istio-ingress/sa/istio-ingress"
	static  = "istio-system/" + istio.StaticStrictPolicyName
)

// chatqna is a small application: an entry Service whose port 80 reaches
// the pods' named port "http" (8080), and a backend.
func chatqna() Input {
	return Input{
		Namespace: ns,
		Services: []Service{
			{Name: "chatqna-nginx", Selector: map[string]string{"app": "nginx"},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}},
			{Name: "chatqna-tgi", Selector: map[string]string{"app": "tgi"},
				Ports: []corev1.ServicePort{{Name: "tgi", Port: 80, TargetPort: intstr.FromInt32(80)}}},
		},
		Pods: []Pod{
			{Name: "nginx-1", Labels: map[string]string{"app": "nginx"}, ServiceAccount: "nginx",
				ContainerPorts: []istio.ContainerPort{{Name: "http", Number: 8080}}},
			{Name: "tgi-1", Labels: map[string]string{"app": "tgi"}, ServiceAccount: "tgi"},
		},
		GatewayPrincipals:  []string{gateway},
		AppServiceAccounts: []string{"nginx", "tgi"},
	}
}

func compute(t *testing.T, in Input) Matrix {
	t.Helper()
	m, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// cell returns the cell of column key at svc:port.
func cell(t *testing.T, m Matrix, svc string, port int32, key string) Cell {
	t.Helper()
	col := -1
	for i, c := range m.Columns {
		if c.Key == key {
			col = i
		}
	}
	for _, r := range m.Rows {
		if r.Service == svc && r.Port == port && col >= 0 {
			return r.Cells[col]
		}
	}
	t.Fatalf("no cell %s:%d %s", svc, port, key)
	return Cell{}
}

func expect(t *testing.T, m Matrix, svc string, port int32, key string, v Verdict, decider string) {
	t.Helper()
	c := cell(t, m, svc, port, key)
	if c.Verdict != v || c.Decider != decider {
		t.Errorf("%s:%d %s: %s by %q, want %s by %q", svc, port, key, c.Verdict, c.Decider, v, decider)
	}
}

func strictNamespace() istio.PeerAuthentication {
	return istio.PeerAuthentication{Namespace: ns, Name: "default", MTLS: &istio.MTLS{Mode: "STRICT"}}
}

func allow(name string, selector map[string]string, rules ...istio.AuthorizationRule) istio.AuthorizationPolicy {
	p := istio.AuthorizationPolicy{Namespace: ns, Name: name, Rules: rules}
	if selector != nil {
		p.Selector = &istio.WorkloadSelector{MatchLabels: selector}
	}
	return p
}

func from(principals ...string) istio.AuthorizationRule {
	return istio.AuthorizationRule{From: []istio.RuleFrom{{Source: istio.Source{Principals: principals}}}}
}

func TestRowsPerServicePortResolvedToPodPorts(t *testing.T) {
	in := chatqna()
	in.Services = append(in.Services, Service{Name: "waypoint", Labels: map[string]string{ManagedLabel: "istio.io-mesh-controller"},
		Selector: map[string]string{"gateway.networking.k8s.io/gateway-name": "waypoint"}, Ports: []corev1.ServicePort{{Port: 15008}}},
		Service{Name: "external", Ports: []corev1.ServicePort{{Port: 443}}})
	m := compute(t, in)
	if len(m.Rows) != 2 {
		t.Fatalf("%d rows, want one per Service port", len(m.Rows))
	}
	if r := m.Rows[0]; r.Service != "chatqna-nginx" || r.Port != 80 || len(r.PodPorts) != 1 || r.PodPorts[0] != 8080 {
		t.Errorf("named targetPort not resolved through the pod: %+v", r)
	}
	wantCols := []string{ColumnPlaintext, ColumnGateway, ColumnApp, ColumnOtherNamespace}
	for i, c := range m.Columns {
		if c.Key != wantCols[i] {
			t.Errorf("column %d is %s, want %s", i, c.Key, wantCols[i])
		}
	}
}

func TestNoPolicyAdmitsEveryone(t *testing.T) {
	m := compute(t, chatqna())
	expect(t, m, "chatqna-tgi", 80, ColumnPlaintext, Allowed, NoStrict)
	expect(t, m, "chatqna-tgi", 80, ColumnOtherNamespace, Allowed, NoPolicy)
	if r := m.Rows[1]; r.Decider != NoPolicy || r.PlaintextDecider != NoStrict {
		t.Errorf("row deciders %q / %q", r.Decider, r.PlaintextDecider)
	}
}

func TestStrictRefusesPlaintextByTheStaticPolicy(t *testing.T) {
	in := chatqna()
	in.PeerAuthentications = []istio.PeerAuthentication{strictNamespace()}
	m := compute(t, in)
	expect(t, m, "chatqna-nginx", 80, ColumnPlaintext, Refused, static)
	expect(t, m, "chatqna-nginx", 80, ColumnGateway, Allowed, NoPolicy)
}

func TestMeshWideStrictInAnotherRootNamespace(t *testing.T) {
	in := chatqna()
	in.RootNamespace = "mesh-root"
	in.PeerAuthentications = []istio.PeerAuthentication{{Namespace: "mesh-root", Name: "default", MTLS: &istio.MTLS{Mode: "STRICT"}}}
	expect(t, compute(t, in), "chatqna-tgi", 80, ColumnPlaintext, Refused, "mesh-root/"+istio.StaticStrictPolicyName)
}

// portLevelMtls is keyed by the pod port: 8080 opens the entry, 80 (the
// Service port) would open nothing there.
func TestPortLevelExceptionIsKeyedByPodPort(t *testing.T) {
	in := chatqna()
	exception := func(port string) istio.PeerAuthentication {
		return istio.PeerAuthentication{Namespace: ns, Name: "nginx", Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app": "nginx"}},
			PortLevelMTLS: map[string]istio.MTLS{port: {Mode: "PERMISSIVE"}}, CreationTimestamp: time.Unix(10, 0)}
	}
	in.PeerAuthentications = []istio.PeerAuthentication{strictNamespace(), exception("8080")}
	m := compute(t, in)
	expect(t, m, "chatqna-nginx", 80, ColumnPlaintext, Allowed, ns+"/"+istio.ConvertedPeerAuthenticationPrefix+"nginx")
	expect(t, m, "chatqna-tgi", 80, ColumnPlaintext, Refused, static)

	in.PeerAuthentications = []istio.PeerAuthentication{strictNamespace(), exception("80")}
	expect(t, compute(t, in), "chatqna-nginx", 80, ColumnPlaintext, Refused, ns+"/"+istio.ConvertedPeerAuthenticationPrefix+"nginx")
}

// secure's lockdown: a namespace-wide ALLOW of nothing, the gateway
// admitted at the entry, the app's accounts everywhere.
func TestLockdown(t *testing.T) {
	in := chatqna()
	in.PeerAuthentications = []istio.PeerAuthentication{strictNamespace()}
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{
		allow("opea-deny-by-default", nil),
		allow("opea-allow-ingress", map[string]string{"app": "nginx"}, istio.AuthorizationRule{
			From: []istio.RuleFrom{{Source: istio.Source{Principals: []string{gateway}}}},
			To:   []istio.RuleTo{{Operation: istio.Operation{Ports: []string{"8080"}}}}}),
		allow("opea-allow-app", nil, from("cluster.local/ns/chatqna/sa/nginx", "cluster.local/ns/chatqna/sa/tgi")),
	}
	m := compute(t, in)
	expect(t, m, "chatqna-nginx", 80, ColumnGateway, Allowed, ns+"/opea-allow-ingress")
	expect(t, m, "chatqna-nginx", 80, ColumnApp, Allowed, ns+"/opea-allow-app")
	expect(t, m, "chatqna-nginx", 80, ColumnOtherNamespace, Refused, ns+"/opea-allow-app, "+ns+"/opea-allow-ingress, "+ns+"/opea-deny-by-default")
	expect(t, m, "chatqna-tgi", 80, ColumnGateway, Refused, ns+"/opea-allow-app, "+ns+"/opea-deny-by-default")
	expect(t, m, "chatqna-tgi", 80, ColumnPlaintext, Refused, static)
}

func TestUserDenyNamesThePolicy(t *testing.T) {
	in := chatqna()
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{{Namespace: ns, Name: "no-strangers", Action: "DENY",
		Rules: []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{NotNamespaces: []string{ns, "istio-ingress"}}}}}}}}
	m := compute(t, in)
	expect(t, m, "chatqna-tgi", 80, ColumnOtherNamespace, Refused, ns+"/no-strangers")
	expect(t, m, "chatqna-tgi", 80, ColumnGateway, Allowed, NoAllowPolicy)
	// A plaintext caller has no namespace: notNamespaces matches it.
	expect(t, m, "chatqna-tgi", 80, ColumnPlaintext, Refused, ns+"/no-strangers")
}

// Enterprise-RAG fences each workload with a DENY of everyone but the
// principals named.
func TestPerWorkloadFenceWithNotPrincipals(t *testing.T) {
	in := chatqna()
	in.ExtraPrincipals = []string{"cluster.local/ns/monitoring/sa/prometheus"}
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{{Namespace: ns, Name: "tgi-fence", Action: "DENY",
		Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app": "tgi"}},
		Rules:    []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{NotPrincipals: []string{"cluster.local/ns/chatqna/sa/nginx"}}}}}}}}
	m := compute(t, in)
	expect(t, m, "chatqna-tgi", 80, ColumnApp, Partly, NoAllowPolicy+", "+ns+"/tgi-fence")
	expect(t, m, "chatqna-tgi", 80, "cluster.local/ns/monitoring/sa/prometheus", Refused, ns+"/tgi-fence")
	expect(t, m, "chatqna-tgi", 80, ColumnGateway, Refused, ns+"/tgi-fence")
	expect(t, m, "chatqna-nginx", 80, ColumnGateway, Allowed, NoPolicy)
}

func TestWaypointCarriesTheMeshCallers(t *testing.T) {
	in := chatqna()
	in.NamespaceLabels = map[string]string{istio.UseWaypointLabel: "waypoint"}
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{
		allow("app-only", map[string]string{"app": "tgi"}, from("cluster.local/ns/chatqna/sa/nginx")),
		{Namespace: ns, Name: "waypoint-no-strangers", Action: "DENY",
			TargetRefs: []istio.PolicyTargetReference{{Group: "gateway.networking.k8s.io", Kind: "Gateway", Name: "waypoint"}},
			Rules:      []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{NotNamespaces: []string{ns}}}}}}},
	}
	m := compute(t, in)
	if m.Rows[1].Waypoint != ns+"/waypoint" {
		t.Fatalf("waypoint %q", m.Rows[1].Waypoint)
	}
	// The app's own callers arrive as the waypoint, whom app-only does
	// not admit; the waypoint refuses other namespaces itself.
	expect(t, m, "chatqna-tgi", 80, ColumnApp, Refused, ns+"/app-only")
	expect(t, m, "chatqna-tgi", 80, ColumnOtherNamespace, Refused, ns+"/waypoint-no-strangers")
	if o := cell(t, m, "chatqna-tgi", 80, ColumnApp).Outcomes[0]; o.Arrives != "cluster.local/ns/chatqna/sa/waypoint" {
		t.Errorf("arrives as %q", o.Arrives)
	}
	// Without istio.io/ingress-use-waypoint the gateway goes straight to
	// the pods; plaintext never passes a waypoint.
	expect(t, m, "chatqna-tgi", 80, ColumnGateway, Refused, ns+"/app-only")
	if o := cell(t, m, "chatqna-tgi", 80, ColumnGateway).Outcomes[0]; o.Arrives != gateway {
		t.Errorf("gateway arrives as %q", o.Arrives)
	}
	expect(t, m, "chatqna-tgi", 80, ColumnPlaintext, Refused, ns+"/app-only")

	in.AuthorizationPolicies[0] = allow("app-only", map[string]string{"app": "tgi"}, from("cluster.local/ns/chatqna/sa/edge"))
	in.Waypoints = []WaypointGateway{{Namespace: ns, Name: "waypoint", Class: istio.WaypointClass, Annotations: map[string]string{istio.GatewayServiceAccountAnnotation: "edge"}}}
	expect(t, compute(t, in), "chatqna-tgi", 80, ColumnApp, Allowed, ns+"/app-only")
}

func TestUnknownAddressesDepend(t *testing.T) {
	in := chatqna()
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{allow("by-ip", nil, istio.AuthorizationRule{
		From: []istio.RuleFrom{{Source: istio.Source{IPBlocks: []string{"10.0.0.0/8"}}}}})}
	expect(t, compute(t, in), "chatqna-tgi", 80, ColumnOtherNamespace, Depends, ns+"/by-ip")
}

func TestRowsWithoutPodsOrCallers(t *testing.T) {
	in := chatqna()
	in.GatewayPrincipals = nil
	in.Pods = in.Pods[1:] // no nginx pod
	m := compute(t, in)
	expect(t, m, "chatqna-nginx", 80, ColumnOtherNamespace, Unknown, NoPodSelected)
	expect(t, m, "chatqna-tgi", 80, ColumnGateway, Unknown, NoCallerKnown)
	// A pod that lacks the named port does not serve it.
	in = chatqna()
	in.Pods[0].ContainerPorts = nil
	expect(t, compute(t, in), "chatqna-nginx", 80, ColumnApp, Unknown, NoPodSelected)
}

func TestBadInputIsRefused(t *testing.T) {
	for _, mutate := range []func(*Input){
		func(in *Input) { in.ExtraPrincipals = []string{"prometheus"} },
		func(in *Input) { in.GatewayPrincipals = []string{"cluster.local/ns/x/sa/*"} },
		func(in *Input) { in.GatewayPrincipals = []string{""} },
		func(in *Input) { in.Namespace = "" },
		func(in *Input) { in.OtherNamespace = ns },
	} {
		in := chatqna()
		mutate(&in)
		if _, err := Compute(in); err == nil || !strings.Contains(err.Error(), "reachability") {
			t.Errorf("Compute(%+v) = %v, want an error", in, err)
		}
	}
}

// A DENY whose operation has only HTTP fields reaches ztunnel as an empty
// match, which ztunnel skips: it refuses nobody.
func TestHTTPOnlyDenyRefusesNobodyAtZtunnel(t *testing.T) {
	in := chatqna()
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{{Namespace: ns, Name: "deny-admin", Action: "DENY",
		Rules: []istio.AuthorizationRule{{To: []istio.RuleTo{{Operation: istio.Operation{Paths: []string{"/admin"}}}}}}}}
	expect(t, compute(t, in), "chatqna-tgi", 80, ColumnOtherNamespace, Allowed, NoAllowPolicy)
}

// With istio.io/ingress-use-waypoint the gateway too arrives as the
// waypoint.
func TestIngressThroughTheWaypoint(t *testing.T) {
	in := chatqna()
	in.NamespaceLabels = map[string]string{istio.UseWaypointLabel: "waypoint", istio.IngressUseWaypointLabel: "true"}
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{allow("gateway-only", nil, from(gateway))}
	m := compute(t, in)
	expect(t, m, "chatqna-nginx", 80, ColumnGateway, Refused, ns+"/gateway-only")
	if o := cell(t, m, "chatqna-nginx", 80, ColumnGateway).Outcomes[0]; o.Arrives != "cluster.local/ns/chatqna/sa/waypoint" || o.Caller != gateway {
		t.Errorf("outcome %+v", o)
	}
	// A Service labelled istio.io/use-waypoint=none opts out.
	in.Services[0].Labels = map[string]string{istio.UseWaypointLabel: "none"}
	expect(t, compute(t, in), "chatqna-nginx", 80, ColumnGateway, Allowed, ns+"/gateway-only")
}

func TestFromKubernetesObjects(t *testing.T) {
	svc := ServiceFrom(corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "s", Labels: map[string]string{"l": "v"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "a"}, Ports: []corev1.ServicePort{{Port: 80}}}})
	if svc.Name != "s" || svc.Labels["l"] != "v" || svc.Selector["app"] != "a" || len(svc.Ports) != 1 {
		t.Errorf("service %+v", svc)
	}
	always := corev1.ContainerRestartPolicyAlways
	pod := PodFrom(corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "a"}}, Spec: corev1.PodSpec{
		Containers:     []corev1.Container{{Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}},
		InitContainers: []corev1.Container{{RestartPolicy: &always, Ports: []corev1.ContainerPort{{Name: "metrics", ContainerPort: 9090}}}},
	}})
	if pod.ServiceAccount != "default" || len(pod.ContainerPorts) != 2 || pod.Labels["app"] != "a" {
		t.Errorf("pod %+v: the service account defaults to default, native sidecars' ports count", pod)
	}
}

// What a waypoint's HTTP rules decide depends on the request; the
// waypoint's own policies are named.
func TestWaypointHTTPRulesDepend(t *testing.T) {
	in := chatqna()
	in.NamespaceLabels = map[string]string{istio.UseWaypointLabel: "waypoint"}
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{{Namespace: ns, Name: "get-only", TargetRefs: []istio.PolicyTargetReference{{Kind: "Service", Name: "chatqna-tgi"}},
		Rules: []istio.AuthorizationRule{{To: []istio.RuleTo{{Operation: istio.Operation{Methods: []string{"GET"}}}}}}}}
	m := compute(t, in)
	expect(t, m, "chatqna-tgi", 80, ColumnOtherNamespace, Depends, ns+"/get-only")
	// The policy is bound to the tgi Service only, and never reaches ztunnel.
	expect(t, m, "chatqna-nginx", 80, ColumnOtherNamespace, Allowed, NoPolicy)
	expect(t, m, "chatqna-tgi", 80, ColumnPlaintext, Allowed, NoStrict)
}

// A gateway whose pods run as two accounts, one of them admitted.
func TestGatewayOfSeveralAccounts(t *testing.T) {
	in := chatqna()
	in.GatewayPrincipals = []string{gateway, "cluster.local/ns/istio-ingress/sa/renamed"}
	in.AuthorizationPolicies = []istio.AuthorizationPolicy{allow("gateway-only", nil, from(gateway))}
	c := cell(t, compute(t, in), "chatqna-tgi", 80, ColumnGateway)
	if c.Verdict != Partly || len(c.Outcomes) != 2 || c.Outcomes[1].Verdict != Refused {
		t.Errorf("cell %+v", c)
	}
}
