package check

import (
	"strings"
	"testing"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// istiod keeps the oldest namespace-wide PeerAuthentication: an older
// PERMISSIVE one makes "default" STRICT ineffective, and is named.
func TestOldestNamespacePolicyWins(t *testing.T) {
	s := healthy(t)
	legacy := strict("chatqna")
	legacy.Name, legacy.MTLS.Mode, legacy.CreationTimestamp = "zz-legacy", "PERMISSIVE", now.Add(-time.Hour)
	s.PeerAuthentications[0].CreationTimestamp = now
	s.PeerAuthentications = append(s.PeerAuthentications, legacy)
	got := outcomesByID(s)
	if o := got["mtls.namespace-strict"]; o.Status != Fail || !strings.Contains(o.Message, "PERMISSIVE (set by chatqna/zz-legacy)") {
		t.Errorf("mtls.namespace-strict = %s %q", o.Status, o.Message)
	}
	if o := got["mtls.ignored-policies"]; o.Status != Warn || !strings.Contains(o.Message, "chatqna/default (ignored: istiod uses only the oldest namespace-wide policy, chatqna/zz-legacy)") {
		t.Errorf("mtls.ignored-policies = %s %q", o.Status, o.Message)
	}
}

// Only an exact host string on the same listener port of the same pods
// makes istiod drop a server; the older Gateway keeps it.
func TestConflictsAsIstiodMergesGateways(t *testing.T) {
	https := func(number int32, name string, hosts ...string) istio.Server {
		return istio.Server{Port: istio.Port{Number: number, Name: name, Protocol: "HTTPS"}, Hosts: hosts, TLS: &istio.ServerTLS{Mode: "SIMPLE", CredentialName: "x"}}
	}
	for _, tc := range []struct {
		name   string
		other  func(*istio.Gateway)
		status Status
		want   string
	}{
		{"overlapping wildcard: SNI tells them apart", func(g *istio.Gateway) { g.Servers = []istio.Server{https(443, "https", "*.example.com")} }, Pass, ""},
		{"same HTTPS port name in another Gateway", func(g *istio.Gateway) {
			g.Servers = []istio.Server{https(443, "https-chatqna", "codetrans.example.com")}
		}, Pass, ""},
		{"plain HTTP servers merge", func(g *istio.Gateway) {
			g.Servers = []istio.Server{{Port: istio.Port{Number: 80, Name: "http", Protocol: "HTTP"}, Hosts: []string{"chatqna.example.com"}}}
		}, Pass, ""},
		{"other pods", func(g *istio.Gateway) {
			g.Selector = map[string]string{"istio": "eastwest"}
			g.Servers = []istio.Server{https(443, "https", "chatqna.example.com")}
		}, Pass, ""},
		{"another port", func(g *istio.Gateway) { g.Servers = []istio.Server{https(9443, "https", "chatqna.example.com")} }, Pass, ""},
		{"the same host and port", func(g *istio.Gateway) { g.Servers = []istio.Server{https(443, "https", "chatqna.example.com")} }, Fail, "keeps legacy/gw"},
		{"the pod port of our Service port", func(g *istio.Gateway) {
			g.Servers = []istio.Server{https(8443, "https", "chatqna.example.com")}
		}, Fail, "keeps legacy/gw and drops the port 443 server of chatqna/opea-ingress: both claim host chatqna.example.com on listener port 8443"},
		{"a namespaced host string differs", func(g *istio.Gateway) { g.Servers = []istio.Server{https(443, "https", "./chatqna.example.com")} }, Pass, ""},
		{"*/host is the bare host", func(g *istio.Gateway) { g.Servers = []istio.Server{https(443, "https", "*/chatqna.example.com")} }, Fail, "keeps legacy/gw"},
		{"ours is older: the other loses", func(g *istio.Gateway) {
			g.CreationTimestamp = now.Add(time.Hour)
			g.Servers = []istio.Server{https(443, "https", "chatqna.example.com")}
		}, Warn, "istiod keeps chatqna/opea-ingress and drops the port 443 server of legacy/gw"},
		{"no selector: every gateway pod", func(g *istio.Gateway) {
			g.Selector = nil
			g.Servers = []istio.Server{https(443, "https", "chatqna.example.com")}
		}, Fail, "keeps legacy/gw"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			legacyGateway(s, false, 443, 80) // the Service sends 443 to 8443
			s.Gateways[0].CreationTimestamp = now
			other := istio.Gateway{Namespace: "legacy", Name: "gw", CreationTimestamp: now.Add(-time.Hour), Selector: map[string]string{"istio": "ingress"}}
			tc.other(&other)
			s.Gateways = append(s.Gateways, other)
			got := outcomesByID(s)["ingress.no-conflicts"]
			if got.Status != tc.status || !strings.Contains(got.Message, tc.want) {
				t.Errorf("ingress.no-conflicts = %s %q, want %s with %q", got.Status, got.Message, tc.status, tc.want)
			}
		})
	}
}

// VirtualService gateway references and Gateway host namespaces as istiod
// resolves them (resolveGatewayName, pickMatchingGatewayHosts).
func TestReferencesAsIstiodResolvesThem(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*snapshot.Snapshot)
		id     string
		status Status
	}{
		{"./name", func(s *snapshot.Snapshot) { s.VirtualServices[0].Gateways = []string{"./opea-ingress"} }, "routing.gateway-ref", Pass},
		{"legacy FQDN", func(s *snapshot.Snapshot) {
			s.VirtualServices[0].Gateways = []string{"opea-ingress.chatqna.svc.cluster.local"}
		}, "routing.gateway-ref", Pass},
		{"host of the VirtualService's namespace", func(s *snapshot.Snapshot) { setHosts(s, "chatqna/chatqna.example.com") }, "routing.hosts-intersect", Pass},
		{"./host: the Gateway's namespace", func(s *snapshot.Snapshot) { setHosts(s, "./chatqna.example.com") }, "routing.hosts-intersect", Pass},
		{"*/host: any namespace", func(s *snapshot.Snapshot) { setHosts(s, "*/chatqna.example.com") }, "routing.hosts-intersect", Pass},
		{"host of another namespace", func(s *snapshot.Snapshot) { setHosts(s, "codetrans/chatqna.example.com") }, "routing.hosts-intersect", Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			tc.change(s)
			if got := outcomesByID(s)[tc.id]; got.Status != tc.status {
				t.Errorf("%s = %s %q, want %s", tc.id, got.Status, got.Message, tc.status)
			}
		})
	}
}

// istiod reads cert and key before tls.crt and tls.key, whatever the
// Secret's type (ExtractCertInfo): the checks judge the same pair.
func TestCredentialKeysInIstiodsOrder(t *testing.T) {
	other := issue(t, []string{"other.example.com"}, now.Add(-time.Hour), now.Add(90*24*time.Hour))
	for _, tc := range []struct {
		name   string
		change func(data map[string][]byte)
		id     string
		status Status
		want   string
	}{
		{"cert and key win over tls.crt and tls.key", func(d map[string][]byte) { d["cert"], d["key"] = other.CertPEM, other.KeyPEM },
			"certificate.sans", Fail, "is for other.example.com"},
		{"an empty tls.key does not matter beside cert and key", func(d map[string][]byte) {
			d["cert"], d["key"], d["tls.key"] = d["tls.crt"], d["tls.key"], nil
		}, "certificate.secret-format", Pass, "read from cert and key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			tc.change(s.Secrets["istio-ingress/opea-chatqna-tls"].Data)
			got := outcomesByID(s)[tc.id]
			if got.Status != tc.status || !strings.Contains(got.Message, tc.want) {
				t.Errorf("%s = %s %q, want %s with %q", tc.id, got.Status, got.Message, tc.status, tc.want)
			}
		})
	}
}

// istio-cni's default enablement selectors enrol a pod labelled
// istio.io/dataplane-mode=ambient whatever its namespace's labels.
func TestPodLabelEnrolsWithoutTheNamespaceLabel(t *testing.T) {
	s := healthy(t)
	s.NamespaceLabels = map[string]string{}
	for i := range s.Pods {
		s.Pods[i].Labels["istio.io/dataplane-mode"] = "ambient"
	}
	for _, id := range []string{"enrolment.namespace-label", "enrolment.pods-redirected"} {
		if o := outcomesByID(s)[id]; o.Status != Pass {
			t.Errorf("%s = %s %q", id, o.Status, o.Message)
		}
	}
	delete(s.Pods[1].Labels, "istio.io/dataplane-mode")
	if o := outcomesByID(s)["enrolment.namespace-label"]; o.Status != Fail || !strings.Contains(o.Message, "these pods are not in the mesh: chatqna-1") {
		t.Errorf("one pod unlabelled: enrolment.namespace-label = %s %q", o.Status, o.Message)
	}
}

// The probe's hints name the gateway Service and pods that were found, not
// istio-ingress.
func TestProbeHintsNameTheDiscoveredGateway(t *testing.T) {
	s := healthy(t)
	s.Services[1].Namespace, s.Services[1].Name = "gateways", "edge"
	legacyGateway(s, false, 443, 80)
	s.GatewayPods["chatqna/opea-ingress"][0].Namespace = "gateways"
	s.Secrets = map[string]*snapshot.Secret{"gateways/opea-chatqna-tls": s.Secrets["istio-ingress/opea-chatqna-tls"]}
	s.Probe = nil
	if o := outcomesByID(s)["probe.tls-handshake"]; !strings.Contains(o.Hint, "kubectl port-forward -n gateways svc/edge 8443:443") {
		t.Errorf("probe.tls-handshake hint = %q", o.Hint)
	}
	s = healthy(t)
	s.Probe.Hosts[0].StatusErr = "EOF"
	if o := outcomesByID(s)["probe.https-route"]; !strings.Contains(o.Hint, "kubectl logs -n istio-ingress -l app=istio-ingress,istio=ingress") {
		t.Errorf("probe.https-route hint = %q", o.Hint)
	}
}
