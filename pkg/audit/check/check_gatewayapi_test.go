package check

import (
	"strings"
	"testing"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

func TestHealthyGatewayAPISnapshotPassesEveryCheck(t *testing.T) {
	ran := map[string]bool{}
	for _, o := range Run(healthyGatewayAPI(t)) {
		ran[o.ID] = true
		if !healthyOutcome(o) {
			t.Errorf("%s: %s %s", o.ID, o.Status, o.Message)
		}
	}
	for _, c := range Catalogue {
		if c.Ingress == GatewayAPIIngress && !ran[c.ID] {
			t.Errorf("%s did not run", c.ID)
		}
	}
}

// The classic ingress's own checks are neither run nor listed when only a
// Gateway API Gateway routes to the application, and the other way round;
// when both route to it, both sets run.
func TestOnlyTheChecksOfTheIngressInUseRun(t *testing.T) {
	ids := func(s *snapshot.Snapshot) map[IngressKind]int {
		out := map[IngressKind]int{}
		for _, o := range Run(s) {
			out[o.Ingress]++
		}
		return out
	}
	classic, api := 0, 0
	for _, c := range Catalogue {
		switch c.Ingress {
		case ClassicIngress:
			classic++
		case GatewayAPIIngress:
			api++
		}
	}
	if got := ids(healthyGatewayAPI(t)); got[ClassicIngress] != 0 || got[GatewayAPIIngress] != api {
		t.Errorf("Gateway API ingress: ran %v", got)
	}
	if got := ids(healthy(t)); got[ClassicIngress] != classic || got[GatewayAPIIngress] != 0 {
		t.Errorf("classic ingress: ran %v", got)
	}
	none := healthy(t)
	none.VirtualServices, none.APIs.GatewayAPI = nil, "v1"
	if got := ids(none); got[ClassicIngress] != classic || got[GatewayAPIIngress] != 0 {
		t.Errorf("no ingress: ran %v, want the classic checks as before", got)
	}
	if o := outcomesByID(none)["ingress.gateway-found"]; o.Status != Fail || !strings.Contains(o.Message, "no VirtualService or HTTPRoute routes") ||
		!strings.Contains(o.Hint, "kubectl opea secure -n chatqna --host <host> --gateway-api") {
		t.Errorf("no ingress: gateway-found = %s %q (%s)", o.Status, o.Message, o.Hint)
	}

	both := healthyGatewayAPI(t)
	classicSnap := healthy(t)
	both.Gateways, both.VirtualServices, both.GatewayPods, both.SecretAccess = classicSnap.Gateways, classicSnap.VirtualServices, classicSnap.GatewayPods, classicSnap.SecretAccess
	both.Services = append(both.Services, classicSnap.Services[1])
	for k, sec := range classicSnap.Secrets {
		both.Secrets[k] = sec
	}
	both.Certificates = append(both.Certificates, classicSnap.Certificates...)
	both.IssuerReady["Issuer/istio-ingress/opea-chatqna-ca"] = true
	both.Probe = nil
	if got := ids(both); got[ClassicIngress] != classic || got[GatewayAPIIngress] != api {
		t.Errorf("both: ran %v", got)
	}
	for _, o := range Run(both) {
		if (o.Status == Fail || o.Status == Warn) && o.ID != "probe.tls-handshake" {
			t.Errorf("both: %s %s %s", o.ID, o.Status, o.Message)
		}
	}
	if o := outcomesByID(both)["ingress.gateway-found"]; !strings.Contains(o.Message, "Gateway chatqna/opea-ingress, VirtualService") || !strings.Contains(o.Message, "Gateway API Gateway chatqna/opea-ingress, HTTPRoute chatqna/opea-ingress") {
		t.Errorf("both: gateway-found says %q", o.Message)
	}
}

// apiBrokenCases each break one thing in a healthy Gateway API snapshot;
// exactly the named check must notice.
var apiBrokenCases = []brokenCase{
	{"no HTTPRoute to the application", "ingress.gateway-found", Fail, "no VirtualService or HTTPRoute routes to a Service in namespace chatqna", func(t *testing.T, s *snapshot.Snapshot) {
		s.HTTPRoutes, s.Probe = nil, nil
	}},
	{"HTTPRoute to another entry port", "ingress.gateway-found", Fail, "no VirtualService or HTTPRoute routes to Service chatqna/chatqna-nginx port 8080", func(t *testing.T, s *snapshot.Snapshot) {
		s.EntryService, s.EntryPort = "chatqna-nginx", 8080
	}},
	{"GatewayClass missing", "gatewayapi.class-accepted", Fail, `names GatewayClass "istio", which does not exist`, func(t *testing.T, s *snapshot.Snapshot) {
		s.GatewayClasses = nil
	}},
	{"GatewayClass not Accepted", "gatewayapi.class-accepted", Fail, "Accepted False (InvalidParameters): bad parameters", func(t *testing.T, s *snapshot.Snapshot) {
		s.GatewayClasses[0].Conditions[0] = gatewayapi.Condition{Type: "Accepted", Status: "False", Reason: "InvalidParameters", Message: "bad parameters", ObservedGeneration: 1}
	}},
	{"Gateway not Accepted", "gatewayapi.gateway-accepted", Fail, "Gateway chatqna/opea-ingress: Accepted False (InvalidParameters)", func(t *testing.T, s *snapshot.Snapshot) {
		setCondition(s.GatewayAPIGateways[0].Status.Conditions, gatewayapi.Condition{Type: "Accepted", Status: "False", Reason: "InvalidParameters", Message: "invalid", ObservedGeneration: 2})
	}},
	{"Gateway status of an older generation", "gatewayapi.gateway-accepted", Fail, "Accepted is for generation 2, not the current 3", func(t *testing.T, s *snapshot.Snapshot) {
		s.GatewayAPIGateways[0].Generation = 3
		for i := range s.GatewayAPIGateways[0].Status.Listeners {
			for j := range s.GatewayAPIGateways[0].Status.Listeners[i].Conditions {
				s.GatewayAPIGateways[0].Status.Listeners[i].Conditions[j].ObservedGeneration = 3
			}
		}
	}},
	{"Programmed False: no address assigned", "gatewayapi.gateway-programmed", Fail, "kubectl get deploy opea-ingress-istio -n chatqna", func(t *testing.T, s *snapshot.Snapshot) {
		setCondition(s.GatewayAPIGateways[0].Status.Conditions, gatewayapi.Condition{Type: "Programmed", Status: "False", Reason: "AddressNotAssigned",
			Message: "Failed to assign to any requested addresses: no instances found for hostname opea-ingress-istio.chatqna.svc.cluster.local", ObservedGeneration: 2})
	}},
	{"Programmed False on secure's Gateway: secure sets the Service type", "gatewayapi.gateway-programmed", Fail,
		"run kubectl opea secure -n chatqna --gateway-api again with its --host values and --gateway-service-type ClusterIP", func(t *testing.T, s *snapshot.Snapshot) {
			s.GatewayAPIGateways[0].Labels = map[string]string{ownership.ManagedByLabel: ownership.ManagedByValue, ownership.AppNamespaceLabel: "chatqna"}
			setCondition(s.GatewayAPIGateways[0].Status.Conditions, gatewayapi.Condition{Type: "Programmed", Status: "False", Reason: "AddressNotAssigned",
				Message: "Failed to assign to any requested addresses", ObservedGeneration: 2})
		}},
	{"route hostname outside the listener's", "gatewayapi.route-hostnames", Fail, "hostnames other.example.com match none of Gateway chatqna/opea-ingress's listener hostnames https-chatqna:chatqna.example.com", func(t *testing.T, s *snapshot.Snapshot) {
		r := &s.HTTPRoutes[0]
		r.Hostnames = []string{"other.example.com"}
		setCondition(r.Status.Parents[0].Conditions, gatewayapi.Condition{Type: "Accepted", Status: "False", Reason: "NoMatchingListenerHostname",
			Message: `no hostnames matched parent hostname "chatqna.example.com"`, ObservedGeneration: 1})
	}},
	{"backend Service missing", "gatewayapi.route-backend", Fail, "sends requests to Service chatqna/chatqna-nginx, which does not exist", func(t *testing.T, s *snapshot.Snapshot) {
		s.Services = s.Services[1:]
		setCondition(s.HTTPRoutes[0].Status.Parents[0].Conditions, gatewayapi.Condition{Type: "ResolvedRefs", Status: "False", Reason: "BackendNotFound",
			Message: "backend(chatqna-nginx.chatqna.svc.cluster.local) not found", ObservedGeneration: 1})
	}},
	{"backend port missing", "gatewayapi.route-backend", Fail, "port 8080, which the Service lacks", func(t *testing.T, s *snapshot.Snapshot) {
		port := int32(8080)
		s.HTTPRoutes[0].Rules[0].BackendRefs[0].Port = &port
	}},
	{"parentRef names no listener", "gatewayapi.route-accepted", Fail, `Accepted False (NoMatchingParent): sectionName "https" not found`, func(t *testing.T, s *snapshot.Snapshot) {
		r := &s.HTTPRoutes[0]
		r.ParentRefs[0].SectionName = "https"
		r.Status.Parents[0].ParentRef.SectionName = "https"
		setCondition(r.Status.Parents[0].Conditions, gatewayapi.Condition{Type: "Accepted", Status: "False", Reason: "NoMatchingParent",
			Message: `sectionName "https" not found`, ObservedGeneration: 1})
		s.Probe = nil // no route attaches to a listener: nothing to probe
	}},
	{"parent Gateway missing", "gatewayapi.route-accepted", Fail, "names Gateway chatqna/opea-ingres as its parent, which does not exist", func(t *testing.T, s *snapshot.Snapshot) {
		s.HTTPRoutes[0].ParentRefs[0].Name = "opea-ingres"
		s.HTTPRoutes[0].Status.Parents = nil
		s.Probe = nil
	}},
	{"no controller wrote the route's status", "gatewayapi.route-accepted", Fail, "not attached to Gateway chatqna/opea-ingress listener https-chatqna: no controller wrote status", func(t *testing.T, s *snapshot.Snapshot) {
		s.HTTPRoutes[0].Status.Parents = nil
	}},
	{"backend not permitted", "gatewayapi.route-refs-resolved", Fail, "ResolvedRefs False (RefNotPermitted)", func(t *testing.T, s *snapshot.Snapshot) {
		setCondition(s.HTTPRoutes[0].Status.Parents[0].Conditions, gatewayapi.Condition{Type: "ResolvedRefs", Status: "False", Reason: "RefNotPermitted",
			Message: "backendRef chatqna-nginx/chatqna not accessible", ObservedGeneration: 1})
	}},
	{"no HTTPS listener", "gatewayapi.https-listener", Fail, "is HTTPS in tls.mode Passthrough: TLS is not terminated at the gateway", func(t *testing.T, s *snapshot.Snapshot) {
		// A Passthrough listener passes TLS through to the backend:
		// nothing terminates it. (A TLS listener would take no HTTPRoute.)
		s.GatewayAPIGateways[0].Listeners[0].TLS.Mode = "Passthrough"
	}},
	{"HTTPS listener without certificateRef", "gatewayapi.https-listener", Fail, "has no certificateRef to a Secret", func(t *testing.T, s *snapshot.Snapshot) {
		s.GatewayAPIGateways[0].Listeners[0].TLS.CertificateRefs = nil
		s.Probe = nil
	}},
	{"Secret in another namespace without ReferenceGrant", "gatewayapi.certificate-ref-granted", Fail, "no ReferenceGrant in certs lets Gateways of chatqna refer to it", func(t *testing.T, s *snapshot.Snapshot) {
		moveSecret(s)
		ls := &s.GatewayAPIGateways[0].Status.Listeners[0]
		msg := `certificateRef opea-chatqna-tls/certs not accessible to a Gateway in namespace "chatqna" (missing a ReferenceGrant?)`
		setCondition(ls.Conditions, gatewayapi.Condition{Type: "ResolvedRefs", Status: "False", Reason: "RefNotPermitted", Message: msg, ObservedGeneration: 2})
		setCondition(ls.Conditions, gatewayapi.Condition{Type: "Accepted", Status: "False", Reason: "NoValidCACertificate", Message: msg, ObservedGeneration: 2})
		setCondition(ls.Conditions, gatewayapi.Condition{Type: "Programmed", Status: "False", Reason: "Invalid", Message: "Bad TLS configuration", ObservedGeneration: 2})
	}},
	{"certificateRef to a Secret cert-manager has not written yet", "gatewayapi.listener-refs-resolved", Fail, "Certificate chatqna/opea-chatqna-tls has not written it yet kubectl describe certificate opea-chatqna-tls -n chatqna", func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets = map[string]*snapshot.Secret{}
		setCondition(s.GatewayAPIGateways[0].Status.Listeners[0].Conditions, gatewayapi.Condition{Type: "ResolvedRefs", Status: "False", Reason: "InvalidCertificateRef",
			Message: "invalid certificate reference /Secret/opea-chatqna-tls, secret chatqna/opea-chatqna-tls not found", ObservedGeneration: 2})
	}},
	{"certificateRef to a missing Secret", "gatewayapi.listener-refs-resolved", Fail, "Secret chatqna/opea-chatqna-tls named by Gateway chatqna/opea-ingress listener https-chatqna not found kubectl opea secure", func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets = map[string]*snapshot.Secret{}
		s.Certificates = nil
		setCondition(s.GatewayAPIGateways[0].Status.Listeners[0].Conditions, gatewayapi.Condition{Type: "ResolvedRefs", Status: "False", Reason: "InvalidCertificateRef",
			Message: "invalid certificate reference /Secret/opea-chatqna-tls, secret chatqna/opea-chatqna-tls not found", ObservedGeneration: 2})
		setCondition(s.GatewayAPIGateways[0].Status.Listeners[0].Conditions, gatewayapi.Condition{Type: "Programmed", Status: "False", Reason: "Invalid",
			Message: "Bad TLS configuration", ObservedGeneration: 2})
	}},
	{"key of another certificate", "gatewayapi.listener-refs-resolved", Fail, "the key does not match the certificate", func(t *testing.T, s *snapshot.Snapshot) {
		s.Secrets["chatqna/opea-chatqna-tls"].Data["tls.key"] = issue(t, []string{"x.example.com"}, now, now.Add(time.Hour)).KeyPEM
	}},
	{"listener not programmed", "gatewayapi.listener-refs-resolved", Fail, "Programmed False (Invalid): Bad TLS configuration", func(t *testing.T, s *snapshot.Snapshot) {
		setCondition(s.GatewayAPIGateways[0].Status.Listeners[0].Conditions, gatewayapi.Condition{Type: "Programmed", Status: "False", Reason: "Invalid",
			Message: "Bad TLS configuration", ObservedGeneration: 2})
	}},
	{"route attached to the HTTP listener", "gatewayapi.http-redirect", Warn, "listener http-chatqna (port 80) serves the application in plaintext", func(t *testing.T, s *snapshot.Snapshot) {
		s.HTTPRoutes[0].ParentRefs = append(s.HTTPRoutes[0].ParentRefs, gatewayapi.ParentRef{Name: "opea-ingress", SectionName: "http-chatqna"})
		st := s.HTTPRoutes[0].Status.Parents[0]
		st.ParentRef.SectionName = "http-chatqna"
		s.HTTPRoutes[0].Status.Parents = append(s.HTTPRoutes[0].Status.Parents, st)
	}},
	{"gateway pod opted out in an application pod's stead", "enrolment.no-opt-out", Fail, "chatqna-1", func(t *testing.T, s *snapshot.Snapshot) {
		s.Pods[1].Labels["istio.io/dataplane-mode"] = "none"
	}},
	{"certificate expired", "certificate.validity", Fail, "the certificate in chatqna/opea-chatqna-tls of Gateway chatqna/opea-ingress listener https-chatqna expired", func(t *testing.T, s *snapshot.Snapshot) {
		s.Now, s.Certificates[0].RenewalTime = now.Add(100*24*time.Hour), now.Add(101*24*time.Hour)
	}},
	{"SANs miss the host", "certificate.sans", Fail, "not for host chatqna.example.com", func(t *testing.T, s *snapshot.Snapshot) {
		c := issue(t, []string{"other.example.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
		s.Secrets["chatqna/opea-chatqna-tls"].Data = map[string][]byte{"tls.crt": c.CertPEM, "tls.key": c.KeyPEM, "ca.crt": c.CAPEM}
		s.Probe.Hosts[0].Served = c.Leaf
	}},
	{"Certificate not Ready", "certificate.cert-manager-ready", Fail, "Certificate chatqna/opea-chatqna-tls is not Ready", func(t *testing.T, s *snapshot.Snapshot) {
		s.Certificates[0].Ready = false
	}},
	{"no probe address", "probe.tls-handshake", Warn, "the Gateway has no address in its status", func(t *testing.T, s *snapshot.Snapshot) { s.Probe = nil }},
	{"404 after the handshake", "probe.https-route", Fail, "the HTTPRoute's parentRefs and hostnames", func(t *testing.T, s *snapshot.Snapshot) { s.Probe.Hosts[0].Status = 404 }},
}

func TestEachGatewayAPICheckOnItsBrokenSnapshot(t *testing.T) {
	for _, tc := range apiBrokenCases {
		t.Run(tc.name, func(t *testing.T) {
			s := healthyGatewayAPI(t)
			tc.breakIt(t, s)
			outcomes := outcomesByID(s)
			got := outcomes[tc.id]
			if got.Status != tc.status || !strings.Contains(got.Message+" "+got.Hint, tc.want) {
				t.Errorf("%s = %s %q (hint %q), want %s containing %q", tc.id, got.Status, got.Message, got.Hint, tc.status, tc.want)
			}
			if got.Status != Pass && got.Hint == "" {
				t.Errorf("%s %s without a hint", tc.id, got.Status)
			}
			for id, o := range outcomes {
				if id != tc.id && (o.Status == Fail || o.Status == Warn || o.Status == Unknown) {
					t.Errorf("%s also %s: %s", id, o.Status, o.Message)
				}
			}
		})
	}
}

// A cross-namespace certificateRef passes once a ReferenceGrant in the
// Secret's namespace allows Gateways of the Gateway's namespace.
func TestCertificateRefGrantedByReferenceGrant(t *testing.T) {
	s := healthyGatewayAPI(t)
	moveSecret(s)
	s.ReferenceGrants = []gatewayapi.ReferenceGrant{certsGrant()}
	for _, o := range Run(s) {
		if !healthyOutcome(o) {
			t.Errorf("%s: %s %s", o.ID, o.Status, o.Message)
		}
	}
	if o := outcomesByID(s)["gatewayapi.certificate-ref-granted"]; o.Message != "Secret certs/opea-chatqna-tls granted to Gateways of chatqna" {
		t.Errorf("certificate-ref-granted says %q", o.Message)
	}
	// A grant to another namespace's Gateways does not count.
	grant := certsGrant()
	grant.From[0].Namespace = "elsewhere"
	s.ReferenceGrants = []gatewayapi.ReferenceGrant{grant}
	if o := outcomesByID(s)["gatewayapi.certificate-ref-granted"]; o.Status != Fail {
		t.Errorf("a grant to other Gateways: %s %q", o.Status, o.Message)
	}
}

// The pods Istio deploys for a Gateway API Gateway run outside ztunnel on
// purpose: they are neither opted out nor uncaptured, and the pass says
// they were left out. A pod merely labelled like one, for a Gateway that
// does not exist, is judged as any other.
func TestDeployedGatewayPodsAreNotEnrolmentFindings(t *testing.T) {
	outcomes := outcomesByID(healthyGatewayAPI(t))
	for _, id := range []string{"enrolment.no-opt-out", "enrolment.pods-redirected"} {
		if o := outcomes[id]; o.Status != Pass || !strings.Contains(o.Message, "1 gateway pod left out: Istio deploys it outside ztunnel on purpose") {
			t.Errorf("%s = %s %q", id, o.Status, o.Message)
		}
	}
	s := healthyGatewayAPI(t)
	s.Pods[2].Labels[gatewayapi.GatewayNameLabel] = "gone"
	if o := outcomesByID(s)["enrolment.no-opt-out"]; o.Status != Fail || !strings.Contains(o.Message, "opea-ingress-istio-7c9d") {
		t.Errorf("a pod for no Gateway: %s %q", o.Status, o.Message)
	}
	s = healthyGatewayAPI(t)
	s.NamespaceLabels = map[string]string{}
	for i := range s.Pods[:2] {
		s.Pods[i].Labels["istio.io/dataplane-mode"] = "ambient"
	}
	if o := outcomesByID(s)["enrolment.namespace-label"]; o.Status != Pass {
		t.Errorf("every application pod labelled ambient: %s %q", o.Status, o.Message)
	}
}
