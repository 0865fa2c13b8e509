package check

import (
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// The Reachability checks restate, port by port from the matrix, what an
// mTLS or Authorization check finds: a defect one of those reports is
// reported by its Reachability twin too, and no other. A workload that is
// not STRICT at all is mtls.namespace-strict's alone.
var restatements = map[string][]string{
	"mtls.no-permissive-ports":          {"reachability.plaintext-refused"},
	"authorization.ingress-admitted":    {"reachability.entry-admits-gateway"},
	"reachability.plaintext-refused":    {"mtls.no-permissive-ports"},
	"reachability.entry-admits-gateway": {"authorization.ingress-admitted"},
}

// opensABackend are the setups that put a Service of the application's in
// front of a running pod with no AuthorizationPolicy keeping other
// namespaces out (the waypoint cases need one): reachability.backends-internal
// rightly warns of it, beside the check the setup is about.
var opensABackend = map[string]bool{
	"a Service naming a waypoint that does not exist":                          true,
	"a waypoint's policy that callers of the pods' addresses bypass":           true,
	"a Service using a waypoint that exists":                                   true,
	"a waypoint's policy, and ztunnel admitting only the waypoint at the pods": true,
	"a waypoint's policy, and the pods bound to the waypoint too":              true,
}

// alsoNoticed reports whether check id's outcome o is expected beside the
// finding of setup name, whose check is broken.
func alsoNoticed(name, broken, id string, o Result) bool {
	return restates(id, broken) || (opensABackend[name] && id == "reachability.backends-internal" && o.Status == Warn)
}

// restates reports whether check id may notice the defect of check broken.
func restates(id, broken string) bool {
	for _, r := range restatements[broken] {
		if r == id {
			return true
		}
	}
	return false
}

// backend adds a model server's Service in front of the healthy
// snapshot's pod chatqna-1, at pod port 8080.
func backend(s *snapshot.Snapshot) {
	s.Services = append(s.Services, snapshot.Service{Namespace: "chatqna", Name: "chatqna-tgi",
		Selector: map[string]string{"app.kubernetes.io/name": "chatqna"}, Ports: []snapshot.ServicePort{{Name: "http", Port: 80, Target: 8080}}})
}

var reachabilityBrokenCases = []brokenCase{
	{"a port-level PERMISSIVE at the entry pod's port", "reachability.plaintext-refused", Fail,
		"plaintext from outside the mesh is accepted at chatqna-nginx:80 (decided by chatqna/" + istio.ConvertedPeerAuthenticationPrefix + "nginx-plain)", func(t *testing.T, s *snapshot.Snapshot) {
			s.PeerAuthentications = append(s.PeerAuthentications, istio.PeerAuthentication{Namespace: "chatqna", Name: "nginx-plain",
				Selector:      &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "nginx"}},
				PortLevelMTLS: map[string]istio.MTLS{"80": {Mode: "PERMISSIVE"}}})
		}},
	{"a DENY of the gateway's namespace", "reachability.entry-admits-gateway", Fail,
		"the ingress gateway is not admitted at chatqna-nginx:80: refused (decided by istio-system/no-ingress)", func(t *testing.T, s *snapshot.Snapshot) {
			s.AuthorizationPolicies = []istio.AuthorizationPolicy{accepted("istio-system", "no-ingress", istio.AuthorizationPolicy{Action: "DENY", Rules: []istio.AuthorizationRule{fromNamespaces("istio-ingress")}})}
		}},
	{"a model server open to every mesh identity", "reachability.backends-internal", Warn,
		"a mesh workload of another namespace reaches chatqna-tgi:80 (8080) (decided by (no policy: any mesh identity))", func(t *testing.T, s *snapshot.Snapshot) {
			backend(s)
		}},
}

// The healthy twins: under secure's lockdown the backend is the
// application's own, STRICT refuses plaintext at every port, and the
// gateway is admitted by opea-allow-ingress.
func TestReachabilityChecksPassUnderTheLockdown(t *testing.T) {
	s := healthy(t)
	backend(s)
	s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
	outcomes := outcomesByID(s)
	for id, want := range map[string]string{
		"reachability.plaintext-refused":    "every port of the application refuses plaintext (2 ports)",
		"reachability.entry-admits-gateway": "the ingress gateway reaches chatqna-nginx:80 (decided by chatqna/opea-allow-ingress)",
		"reachability.backends-internal":    "no backend port is reachable from another namespace (1 port)",
	} {
		if o := outcomes[id]; o.Status != Pass || o.Message != want {
			t.Errorf("%s = %s %q, want success %q", id, o.Status, o.Message, want)
		}
	}
	for id, o := range outcomes {
		if !healthyOutcome(o) {
			t.Errorf("%s: %s %s", id, o.Status, o.Message)
		}
	}
}

// A Service whose pods are not running yet is named, not counted as
// refusing.
func TestReachabilityNamesPortsNoPodServes(t *testing.T) {
	s := healthy(t)
	backend(s)
	s.AuthorizationPolicies, s.AppServiceAccounts = lockdown(), []string{"default"}
	s.Services = append(s.Services, snapshot.Service{Namespace: "chatqna", Name: "chatqna-redis", Selector: map[string]string{"app": "redis"},
		Ports: []snapshot.ServicePort{{Port: 6379, Target: 6379}}})
	o := outcomesByID(s)["reachability.backends-internal"]
	if o.Status != Pass || !strings.Contains(o.Message, "(1 port); not judged, no running pod found to serve them: chatqna-redis:6379") {
		t.Errorf("backends-internal = %s %q", o.Status, o.Message)
	}
}

// A namespace that is not STRICT fails once, at mtls.namespace-strict:
// the ports it opens are listed by reachability.plaintext-refused, which
// is skipped, not failed a second time for the same cause.
func TestPlaintextOfAWorkloadNotStrictFailsOnce(t *testing.T) {
	s := healthy(t)
	backend(s)
	s.PeerAuthentications[0].MTLS = &istio.MTLS{Mode: "PERMISSIVE"}
	outcomes := outcomesByID(s)
	if o := outcomes["mtls.namespace-strict"]; o.Status != Fail {
		t.Errorf("mtls.namespace-strict = %s %q, want a failure", o.Status, o.Message)
	}
	want := "plaintext reaches chatqna-nginx:80, chatqna-tgi:80 (8080), served by workloads that are not STRICT: mtls.namespace-strict names them and their policies"
	if o := outcomes["reachability.plaintext-refused"]; o.Status != Skip || o.Message != want {
		t.Errorf("reachability.plaintext-refused = %s %q, want skipped %q", o.Status, o.Message, want)
	}
	// A port-level exception under a STRICT workload is the port's own:
	// it fails, and the ports of the workload not STRICT are named with it.
	s.PeerAuthentications = append(s.PeerAuthentications, istio.PeerAuthentication{Namespace: "chatqna", Name: "nginx-plain",
		Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "nginx"}},
		MTLS:     &istio.MTLS{Mode: "STRICT"}, PortLevelMTLS: map[string]istio.MTLS{"80": {Mode: "PERMISSIVE"}}})
	o := outcomesByID(s)["reachability.plaintext-refused"]
	if o.Status != Fail || !strings.Contains(o.Message, "accepted at chatqna-nginx:80 (decided by chatqna/"+istio.ConvertedPeerAuthenticationPrefix+"nginx-plain)") ||
		!strings.HasSuffix(o.Message, "; and at chatqna-tgi:80 (8080), whose workloads are not STRICT (mtls.namespace-strict)") {
		t.Errorf("reachability.plaintext-refused = %s %q", o.Status, o.Message)
	}
}
