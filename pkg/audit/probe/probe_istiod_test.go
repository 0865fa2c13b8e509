package probe

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// istiod translates a server port equal to a Service port to its targetPort
// and takes other numbers as pod ports: both forms are valid, with numbered
// and named targetPorts.
func TestServerPortsResolveAsIstiodDoes(t *testing.T) {
	for _, tc := range []struct {
		name        string
		named       bool
		https, http int32
	}{
		{"Service ports, numbered targets", false, 443, 80},
		{"pod ports, numbered targets", false, 8443, 8080},
		{"Service ports, named targets", true, 443, 80},
		{"pod ports, named targets", true, 8443, 8080},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthy(t)
			legacyGateway(s, tc.named, tc.https, tc.http)
			if o := outcomesByID(s)["ingress.service-ports"]; o.Status != check.Pass {
				t.Errorf("ingress.service-ports = %s %s", o.Status, o.Message)
			}
			https, plain := GuessAddresses(snapshot.NewScope(s))
			if https != "192.0.2.10:443" || plain != "192.0.2.10:80" {
				t.Errorf("guessed %q and %q, want the Service's ports 443 and 80", https, plain)
			}
		})
	}
	// A named targetPort that no container declares leaves the Service port
	// out: istiod then listens on 443 itself, which nothing forwards to.
	s := healthy(t)
	legacyGateway(s, true, 443, 80)
	s.GatewayPods["chatqna/opea-ingress"][0].ContainerPorts = nil
	if o := outcomesByID(s)["ingress.service-ports"]; o.Status != check.Fail {
		t.Errorf("unresolvable named targetPort: ingress.service-ports = %s %s", o.Status, o.Message)
	}
}

// An HTTPS server for hosts "*" is legal: the certificate and the probe are
// judged for the names clients use, the VirtualService's hosts, or else the
// certificate's own names.
func TestServerForAnyHost(t *testing.T) {
	s := healthy(t)
	setHosts(s, "*")
	if o := outcomesByID(s)["certificate.sans"]; o.Status != check.Pass {
		t.Errorf("certificate.sans = %s %q", o.Status, o.Message)
	}
	if diff := cmp.Diff([]string{"chatqna.example.com"}, probeHosts(snapshot.NewScope(s))); diff != "" {
		t.Errorf("probe hosts (-want +got):\n%s", diff)
	}

	s.VirtualServices[0].Hosts = []string{"other.example.com"}
	if o := outcomesByID(s)["certificate.sans"]; o.Status != check.Fail || !strings.Contains(o.Message, "not for host other.example.com") {
		t.Errorf("certificate.sans for a VirtualService host it lacks = %s %q", o.Status, o.Message)
	}

	s.VirtualServices[0].Hosts = []string{"*"}
	if o := outcomesByID(s)["certificate.sans"]; o.Status != check.Pass {
		t.Errorf("certificate.sans, any host everywhere = %s %q", o.Status, o.Message)
	}
	if diff := cmp.Diff([]string{"chatqna.example.com"}, probeHosts(snapshot.NewScope(s))); diff != "" {
		t.Errorf("probe hosts from the certificate (-want +got):\n%s", diff)
	}
}
