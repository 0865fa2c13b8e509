package check

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

func outcomesByID(s *snapshot.Snapshot) map[string]Outcome {
	out := map[string]Outcome{}
	for _, o := range Run(s) {
		out[o.ID] = o
	}
	return out
}

// healthyOutcome is what a check of a healthy application reports: a
// pass, or, for authentication.configured, that there is no
// authentication to judge (the other Authentication checks are then not
// reported).
func healthyOutcome(o Outcome) bool {
	return o.Status == Pass || (o.ID == "authentication.configured" && o.Status == Skip)
}

func TestHealthySnapshotPassesEveryCheck(t *testing.T) {
	for _, o := range Run(healthy(t)) {
		if !healthyOutcome(o) {
			t.Errorf("%s: %s %s", o.ID, o.Status, o.Message)
		}
	}
}

type brokenCase struct {
	name    string
	id      string
	status  Status
	want    string // in the message or the hint
	breakIt func(t *testing.T, s *snapshot.Snapshot)
}

// brokenCases each break one thing in a healthy snapshot; exactly the named
// check must notice.
var brokenCases = []brokenCase{
	{"Istio APIs missing", "cluster.istio-apis", Fail, "not both served", func(t *testing.T, s *snapshot.Snapshot) {
		s.APIs.Security = ""
	}},
	{"cert-manager gone while its Secret is used", "cluster.cert-manager-api", Fail, "cert-manager.io/v1 is not served", func(t *testing.T, s *snapshot.Snapshot) {
		s.APIs.CertManager, s.Certificates = "", nil
	}},
	{"no istiod", "ambient.istiod", Fail, "no istiod Deployment", func(t *testing.T, s *snapshot.Snapshot) { s.Istiod = nil }},
	{"istiod not ready", "ambient.istiod", Fail, "no ready replica", func(t *testing.T, s *snapshot.Snapshot) { s.Istiod[0].Ready = 0 }},
	{"ztunnel not on every node", "ambient.ztunnel", Fail, "2 of 3 pods ready", func(t *testing.T, s *snapshot.Snapshot) { s.ZTunnel[0].Ready = 2 }},
	{"istio-cni scheduled nowhere", "ambient.istio-cni", Fail, "0 of 0 pods ready", func(t *testing.T, s *snapshot.Snapshot) { s.CNI[0].Desired, s.CNI[0].Ready = 0, 0 }},
	{"istio-cni without ambient", "ambient.cni-ambient-enabled", Fail, `AMBIENT_ENABLED=""`, func(t *testing.T, s *snapshot.Snapshot) { s.CNIConfig = map[string]string{} }},
	{"namespace not enrolled", "enrolment.namespace-label", Fail, "lacks istio.io/dataplane-mode=ambient", func(t *testing.T, s *snapshot.Snapshot) {
		s.NamespaceLabels = map[string]string{}
	}},
	{"revision label", "enrolment.no-sidecar-injection", Fail, "istio.io/rev=canary", func(t *testing.T, s *snapshot.Snapshot) {
		s.NamespaceLabels["istio.io/rev"] = "canary"
	}},
	{"pod opted out", "enrolment.no-opt-out", Fail, "chatqna-1", func(t *testing.T, s *snapshot.Snapshot) {
		s.Pods[1].Labels["istio.io/dataplane-mode"] = "none"
	}},
	{"sidecar pod", "enrolment.no-opt-out", Fail, "run an Istio sidecar: chatqna-1", func(t *testing.T, s *snapshot.Snapshot) {
		s.Pods[1].Annotations = map[string]string{sidecarStatus: "{}"}
	}},
	{"pod not captured", "enrolment.pods-redirected", Fail, "not captured by ztunnel", func(t *testing.T, s *snapshot.Snapshot) {
		s.Pods[0].Annotations = nil
	}},
	{"no pods", "enrolment.pods-redirected", Warn, "has no pods", func(t *testing.T, s *snapshot.Snapshot) { s.Pods = nil }},
	{"PERMISSIVE namespace policy", "mtls.namespace-strict", Fail, "PERMISSIVE (set by chatqna/default)", func(t *testing.T, s *snapshot.Snapshot) {
		s.PeerAuthentications[0].MTLS.Mode = "PERMISSIVE"
	}},
	{"no policy at all", "mtls.namespace-strict", Fail, "no PeerAuthentication applies", func(t *testing.T, s *snapshot.Snapshot) {
		s.PeerAuthentications = nil
	}},
	{"workload policy weakens one pod", "mtls.namespace-strict", Fail, "chatqna-1: PERMISSIVE (set by chatqna/legacy)", func(t *testing.T, s *snapshot.Snapshot) {
		pa := strict("chatqna")
		pa.Name, pa.MTLS.Mode = "legacy", "PERMISSIVE"
		pa.Selector = &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "chatqna"}}
		s.PeerAuthentications = append(s.PeerAuthentications, pa)
	}},
	// istiod drops the STRICT policy for the workload policy's exception
	// port, then converts none, since the namespace policy's mode is unset.
	{"a PERMISSIVE port under a namespace policy with mode unset and a STRICT mesh", "mtls.namespace-strict", Fail,
		"chatqna-1: PERMISSIVE (istio-system/default sets STRICT, but istiod attaches no policy to the pod: the port exceptions of chatqna/metrics", func(t *testing.T, s *snapshot.Snapshot) {
			s.PeerAuthentications[0].MTLS = nil
			pa := strict("chatqna")
			pa.Name, pa.MTLS = "metrics", nil
			pa.Selector = &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "chatqna"}}
			pa.PortLevelMTLS = map[string]istio.MTLS{"9090": {Mode: "PERMISSIVE"}}
			s.PeerAuthentications = append(s.PeerAuthentications, strict("istio-system"), pa)
		}},
	{"port-level hole", "mtls.no-permissive-ports", Fail, "chatqna-1 port 9090 PERMISSIVE", func(t *testing.T, s *snapshot.Snapshot) {
		pa := strict("chatqna")
		pa.Name = "metrics"
		pa.Selector = &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "chatqna"}}
		pa.PortLevelMTLS = map[string]istio.MTLS{"9090": {Mode: "PERMISSIVE"}}
		s.PeerAuthentications = append(s.PeerAuthentications, pa)
	}},
	{"root-namespace selector policy", "mtls.ignored-policies", Warn, "selector policies in the root namespace are ignored", func(t *testing.T, s *snapshot.Snapshot) {
		pa := strict("istio-system")
		pa.Name = "gw"
		pa.Selector = &istio.WorkloadSelector{MatchLabels: map[string]string{"app": "x"}}
		s.PeerAuthentications = append(s.PeerAuthentications, pa)
	}},
	{"DISABLE selector policy", "mtls.ignored-policies", Warn, "mode DISABLE acts as PERMISSIVE in ambient", func(t *testing.T, s *snapshot.Snapshot) {
		pa := strict("chatqna")
		pa.Name, pa.MTLS.Mode = "off", "DISABLE"
		pa.Selector = &istio.WorkloadSelector{MatchLabels: map[string]string{"app": "none-of-ours"}}
		s.PeerAuthentications = append(s.PeerAuthentications, pa)
	}},
	{"younger namespace-wide policy", "mtls.ignored-policies", Warn, "chatqna/strict (ignored: istiod uses only the oldest namespace-wide policy, chatqna/default)", func(t *testing.T, s *snapshot.Snapshot) {
		pa := strict("chatqna")
		pa.Name, pa.CreationTimestamp = "strict", now
		s.PeerAuthentications[0].CreationTimestamp = now.Add(-time.Hour)
		s.PeerAuthentications = append(s.PeerAuthentications, pa)
	}},
	{"DestinationRule with TLS", "mtls.destinationrule-tls", Warn, "tls.mode ISTIO_MUTUAL", func(t *testing.T, s *snapshot.Snapshot) {
		dr := istio.DestinationRule{Namespace: "chatqna", Name: "backend", Host: "chatqna"}
		dr.TrafficPolicy = &istio.TrafficPolicy{TLS: &istio.ClientTLS{Mode: "ISTIO_MUTUAL"}}
		s.DestinationRules = append(s.DestinationRules, dr)
	}},
	{"no route", "ingress.gateway-found", Fail, "no VirtualService routes", func(t *testing.T, s *snapshot.Snapshot) { s.VirtualServices = nil; s.Probe = nil }},
	{"selector matches nothing", "ingress.selector-matches", Fail, "matches no pod", func(t *testing.T, s *snapshot.Snapshot) { s.GatewayPods = nil }},
	{"port not on the Service", "ingress.service-ports", Fail, "listens on 443", func(t *testing.T, s *snapshot.Snapshot) {
		s.Services[1].Ports = s.Services[1].Ports[:2]
	}},
	{"HTTPS without credential", "ingress.https-server", Fail, "without tls.mode SIMPLE or MUTUAL", func(t *testing.T, s *snapshot.Snapshot) {
		s.Gateways[0].Servers[0].TLS = &istio.ServerTLS{Mode: "PASSTHROUGH"}
	}},
	{"plaintext listener", "ingress.http-redirect", Warn, "port 80 serves the application in plaintext", func(t *testing.T, s *snapshot.Snapshot) {
		s.Gateways[0].Servers[1].TLS = nil
	}},
	{"an older Gateway claims the host", "ingress.no-conflicts", Fail, "istiod keeps legacy/gw and drops the port 443 server of chatqna/opea-ingress: both claim host chatqna.example.com on listener port 443", func(t *testing.T, s *snapshot.Snapshot) {
		other := s.Gateways[0]
		s.Gateways[0].CreationTimestamp = now
		other.Namespace, other.Name, other.CreationTimestamp = "legacy", "gw", now.Add(-time.Hour)
		other.Selector = map[string]string{"istio": "ingress"} // another selector string, the same pods
		other.Servers = []istio.Server{{Port: istio.Port{Number: 443, Name: "https", Protocol: "HTTPS"}, Hosts: []string{"chatqna.example.com"}, TLS: &istio.ServerTLS{Mode: "SIMPLE", CredentialName: "x"}}}
		s.Gateways = append(s.Gateways, other)
	}},
	{"bare gateway reference across namespaces", "routing.gateway-ref", Fail, "write the reference as chatqna/opea-ingress", func(t *testing.T, s *snapshot.Snapshot) {
		s.VirtualServices[0].Namespace = "routes"
		s.VirtualServices[0].Gateways = []string{"opea-ingress"}
		s.VirtualServices[0].HTTP[0].Route[0].Destination.Host = "chatqna-nginx.chatqna"
	}},
	{"gateway ServiceAccount may not read Secrets", "certificate.gateway-may-read", Fail, "ServiceAccount istio-ingress/istio-ingress may not list Secrets in its namespace", func(t *testing.T, s *snapshot.Snapshot) {
		s.SecretAccess["istio-ingress/istio-ingress"] = false
	}},
	{"no right to ask about the gateway's Secret access", "certificate.gateway-may-read", Unknown, "not run: you may not create subjectaccessreviews.authorization.k8s.io", func(t *testing.T, s *snapshot.Snapshot) {
		s.SecretAccess = map[string]bool{}
		s.Unread = map[snapshot.Input][]snapshot.Access{snapshot.InputSecretAccess: {snapshot.SubjectAccessReview}}
	}},
	{"no answer about the gateway's Secret access", "certificate.gateway-may-read", Unknown, "could not ask whether ServiceAccount istio-ingress/istio-ingress may list Secrets: you may not create subjectaccessreviews", func(t *testing.T, s *snapshot.Snapshot) {
		delete(s.SecretAccess, "istio-ingress/istio-ingress")
	}},
	{"route to another port of the entry Service", "ingress.gateway-found", Fail, "no VirtualService routes to Service chatqna/chatqna-nginx port 8080", func(t *testing.T, s *snapshot.Snapshot) {
		s.EntryService, s.EntryPort = "chatqna-nginx", 8080
	}},
	{"route to no Service on the entry port", "ingress.gateway-found", Fail, "kubectl opea secure -n chatqna --host <host> --port 8080", func(t *testing.T, s *snapshot.Snapshot) {
		s.EntryPort = 8080
	}},
	{"istiod without ambient mode", "ambient.istiod-ambient-mode", Fail, `PILOT_ENABLE_AMBIENT=""`, func(t *testing.T, s *snapshot.Snapshot) {
		s.Istiod[0].Env = map[string]string{}
	}},
	{"Gateway scoped to a namespace without gateway pods", "ingress.selector-matches", Fail, "selects only gateway pods of its own namespace", func(t *testing.T, s *snapshot.Snapshot) {
		s.Istiod[0].Env["PILOT_SCOPE_GATEWAY_TO_NAMESPACE"] = "true"
	}},
	{"hosts do not intersect", "routing.hosts-intersect", Fail, "requests get 404", func(t *testing.T, s *snapshot.Snapshot) {
		s.VirtualServices[0].Hosts = []string{"other.example.com"}
	}},
	{"VirtualService bound to the mesh only", "routing.gateway-ref", Fail, "bound to no Gateway (only the mesh)", func(t *testing.T, s *snapshot.Snapshot) {
		s.VirtualServices[0].Gateways = []string{"mesh"}
	}},
	{"HTTPS host bound to another namespace", "routing.hosts-intersect", Fail, "the HTTPS server on port 443 of Gateway chatqna/opea-ingress (hosts elsewhere/chatqna.example.com) admits none", func(t *testing.T, s *snapshot.Snapshot) {
		s.Gateways[0].Servers[0].Hosts = []string{"elsewhere/chatqna.example.com"}
	}},
	{"destination Service missing", "routing.destination-exists", Fail, "does not exist", func(t *testing.T, s *snapshot.Snapshot) {
		s.Services = s.Services[1:]
	}},
	{"destination port missing", "routing.destination-exists", Fail, "port 8080, which the Service lacks", func(t *testing.T, s *snapshot.Snapshot) {
		s.VirtualServices[0].HTTP[0].Route[0].Destination.Port.Number = 8080
	}},
	{"Secret absent", "certificate.secret-present", Fail, "not found in istio-ingress kubectl opea secure", func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets = map[string]*snapshot.Secret{}
		s.Certificates = nil
	}},
	{"Secret not written yet by its Certificate", "certificate.secret-present", Fail, "Certificate istio-ingress/opea-chatqna-tls has not written it yet kubectl describe certificate", func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets = map[string]*snapshot.Secret{}
	}},
	{"Secret in the Gateway's namespace", "certificate.secret-present", Fail, "is in the Gateway's namespace chatqna", func(t *testing.T, s *snapshot.Snapshot) {
		sec := s.Secrets["istio-ingress/opea-chatqna-tls"]
		sec.Namespace = "chatqna"
		s.Secrets = map[string]*snapshot.Secret{"chatqna/opea-chatqna-tls": sec}
	}},
	{"empty key", "certificate.secret-format", Fail, `found keys "tls.crt" and "tls.key", but not both hold a value`, func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets["istio-ingress/opea-chatqna-tls"].Data["tls.key"] = nil
	}},
	{"key of another certificate", "certificate.keypair", Fail, "the key does not match", func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets["istio-ingress/opea-chatqna-tls"].Data["tls.key"] = issue(t, []string{"x.example.com"}, now, now.Add(time.Hour)).KeyPEM
	}},
	{"SANs miss the host", "certificate.sans", Fail, "not for host chatqna.example.com", func(t *testing.T, s *snapshot.Snapshot) {
		c := issue(t, []string{"other.example.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
		s.Secrets["istio-ingress/opea-chatqna-tls"].Data = map[string][]byte{"tls.crt": c.CertPEM, "tls.key": c.KeyPEM, "ca.crt": c.CAPEM}
		s.Probe.Hosts[0].Served = c.Leaf
	}},
	// Days later: cert-manager renews shortly before expiry (renewBefore
	// shorter than --min-validity), so no renewal is due yet.
	{"expired", "certificate.validity", Fail, "expired on", func(t *testing.T, s *snapshot.Snapshot) {
		s.Now, s.Certificates[0].RenewalTime = now.Add(100*24*time.Hour), now.Add(101*24*time.Hour)
	}},
	{"expiring soon", "certificate.validity", Warn, "in less than 720h0m0s", func(t *testing.T, s *snapshot.Snapshot) {
		s.Now, s.Certificates[0].RenewalTime = now.Add(80*24*time.Hour), now.Add(85*24*time.Hour)
	}},
	{"ca.crt of another CA", "certificate.chain", Fail, "does not chain to its ca.crt", func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets["istio-ingress/opea-chatqna-tls"].Data["ca.crt"] = issue(t, []string{"x.example.com"}, now, now.Add(time.Hour)).CAPEM
	}},
	{"Certificate not Ready", "certificate.cert-manager-ready", Fail, "is not Ready: rate limited", func(t *testing.T, s *snapshot.Snapshot) {
		s.Certificates[0].Ready, s.Certificates[0].Message = false, "rate limited"
	}},
	{"issuer not Ready", "certificate.cert-manager-ready", Fail, "Issuer/istio-ingress/opea-chatqna-ca of Certificate", func(t *testing.T, s *snapshot.Snapshot) {
		s.IssuerReady = map[string]bool{}
	}},
	{"no probe address", "probe.tls-handshake", Warn, "no address to probe", func(t *testing.T, s *snapshot.Snapshot) { s.Probe = nil }},
	{"guessed address unreachable", "probe.tls-handshake", Warn, "(the gateway Service's address)", func(t *testing.T, s *snapshot.Snapshot) {
		s.Probe.Guessed, s.Probe.Hosts[0] = true, snapshot.HostProbe{Host: "chatqna.example.com", ConnectErr: "connection refused"}
		s.Probe.HTTPAddress = ""
	}},
	{"given address unreachable", "probe.tls-handshake", Fail, "could not connect to 192.0.2.10:443", func(t *testing.T, s *snapshot.Snapshot) {
		s.Probe.Hosts[0] = snapshot.HostProbe{Host: "chatqna.example.com", ConnectErr: "connection refused"}
	}},
	{"handshake fails validation", "probe.tls-handshake", Fail, "certificate signed by unknown authority", func(t *testing.T, s *snapshot.Snapshot) {
		s.Probe.Hosts[0] = snapshot.HostProbe{Host: "chatqna.example.com", HandshakeErr: "x509: certificate signed by unknown authority"}
	}},
	{"served another certificate", "probe.served-certificate", Fail, "is not the one in istio-ingress/opea-chatqna-tls", func(t *testing.T, s *snapshot.Snapshot) {
		s.Probe.Hosts[0].Served = issue(t, []string{"chatqna.example.com"}, now.Add(-time.Hour), now.Add(time.Hour)).Leaf
	}},
	{"404 after the handshake", "probe.https-route", Fail, "answered 404", func(t *testing.T, s *snapshot.Snapshot) { s.Probe.Hosts[0].Status = 404 }},
	{"no redirect", "probe.http-redirect", Fail, "answered 200", func(t *testing.T, s *snapshot.Snapshot) {
		s.Probe.RedirectStatus, s.Probe.RedirectLocation = 200, ""
	}},
}

// Istio also reads generic Secrets, with tls.crt/tls.key or cert/key: they
// pass, and the type is named.
func TestGenericSecretsPass(t *testing.T) {
	for _, keys := range [][2]string{{"tls.crt", "tls.key"}, {"cert", "key"}} {
		s := healthy(t)
		sec := s.Secrets["istio-ingress/opea-chatqna-tls"]
		sec.Type = "Opaque"
		sec.Data = map[string][]byte{keys[0]: sec.Data["tls.crt"], keys[1]: sec.Data["tls.key"]}
		for _, o := range Run(s) {
			if !healthyOutcome(o) {
				t.Errorf("%v: %s %s %s", keys, o.ID, o.Status, o.Message)
			}
			if o.ID == "certificate.secret-format" && !strings.Contains(o.Message, "is of type Opaque; Istio reads its certificate and key") {
				t.Errorf("%v: the type is not named: %s", keys, o.Message)
			}
		}
	}
}

func TestEachCheckOnItsBrokenSnapshot(t *testing.T) {
	for _, tc := range slices.Concat(brokenCases, authorizationBrokenCases, reachabilityBrokenCases, pitfallBrokenCases, authenticationBrokenCases, certLifecycleBrokenCases) {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			tc.breakIt(t, s)
			outcomes := outcomesByID(s)
			got := outcomes[tc.id]
			if got.Status != tc.status || !strings.Contains(got.Message+" "+got.Hint, tc.want) {
				t.Errorf("%s = %s %q, want %s containing %q", tc.id, got.Status, got.Message, tc.status, tc.want)
			}
			if got.Status != Pass && got.Hint == "" {
				t.Errorf("%s %s without a hint", tc.id, got.Status)
			}
			for id, o := range outcomes {
				if id != tc.id && !alsoNoticed(tc.name, tc.id, id, o.Result) && (o.Status == Fail || o.Status == Warn || o.Status == Unknown) {
					t.Errorf("%s also %s: %s", id, o.Status, o.Message)
				}
			}
		})
	}
}

// Every check of the catalogue has a unique ID and is exercised by a broken
// case (of either kind of ingress), except the API check: an unreachable API server stops the audit
// before any check runs.
func TestEveryCheckHasABrokenCase(t *testing.T) {
	covered := map[string]bool{"cluster.api-reachable": true}
	for _, tc := range slices.Concat(brokenCases, apiBrokenCases, authorizationBrokenCases, reachabilityBrokenCases, pitfallBrokenCases, authenticationBrokenCases, certLifecycleBrokenCases) {
		covered[tc.id] = true
	}
	seen := map[string]bool{}
	for _, c := range Catalogue {
		if seen[c.ID] {
			t.Errorf("duplicate check ID %s", c.ID)
		}
		seen[c.ID] = true
		if !covered[c.ID] {
			t.Errorf("check %s has no broken case", c.ID)
		}
	}
}

// --service and --port name the entry the ingress must route to: a route
// with that port, or without a port to a Service whose only port it is.
func TestEntryPortPassesWhenTheRouteUsesIt(t *testing.T) {
	for _, tc := range []struct {
		name     string
		service  string
		port     int32
		noPort   bool
		unread   bool
		want     Status
		contains string
	}{
		{name: "service and port", service: "chatqna-nginx", port: 80, want: Pass},
		{name: "port of any Service", port: 80, want: Pass},
		{name: "route without a port to a one-port Service", service: "chatqna-nginx", port: 80, noPort: true, want: Pass},
		{name: "route without a port, another port", service: "chatqna-nginx", port: 8080, noPort: true, want: Fail, contains: "port 8080"},
		{name: "route without a port, Services unread", service: "chatqna-nginx", port: 80, noPort: true, unread: true, want: Unknown, contains: "list services in every namespace"},
	} {
		s := healthy(t)
		s.EntryService, s.EntryPort = tc.service, tc.port
		if tc.noPort {
			s.VirtualServices[0].HTTP[0].Route[0].Destination.Port = nil
		}
		if tc.unread {
			s.Unread = map[snapshot.Input][]snapshot.Access{snapshot.InputServices: {{Verb: "list", Resource: "services", AllNamespaces: true}}}
		}
		got := outcomesByID(s)["ingress.gateway-found"]
		if got.Status != tc.want || !strings.Contains(got.Message, tc.contains) {
			t.Errorf("%s: %s %q, want %s with %q", tc.name, got.Status, got.Message, tc.want, tc.contains)
		}
	}
}

// A namespace without pods is judged for the pods it would start, and the
// messages say so rather than naming a placeholder.
func TestStrictInANamespaceWithoutPodsSaysWhatItJudged(t *testing.T) {
	s := healthy(t)
	s.Pods = nil
	if o := outcomesByID(s)["mtls.namespace-strict"]; o.Status != Pass || o.Message != "STRICT for any pod started in namespace chatqna (it has none)" {
		t.Errorf("with STRICT: %s %q", o.Status, o.Message)
	}
	s.PeerAuthentications = nil
	o := outcomesByID(s)["mtls.namespace-strict"]
	want := "any pod started in namespace chatqna (it has none): PERMISSIVE (no PeerAuthentication applies)"
	if o.Status != Fail || !strings.Contains(o.Message, want) || strings.Contains(o.Message, "(namespace)") {
		t.Errorf("without a policy: %s %q, want a failure with %q", o.Status, o.Message, want)
	}
}
