package check

import (
	"strings"
	"testing"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// A classic HTTPS server may name its certificates with credentialNames
// (an RSA and an ECDSA one, say): istiod serves both (mergeGateways), so
// the server is valid and each Secret is judged.
func TestCredentialNamesAreJudgedEach(t *testing.T) {
	withTwo := func(t *testing.T) *snapshot.Snapshot {
		s := healthy(t)
		s.Gateways[0].Servers[0].TLS = &istio.ServerTLS{Mode: "SIMPLE", CredentialNames: []string{"opea-chatqna-tls", "opea-chatqna-ecdsa"}}
		second := *s.Secrets["istio-ingress/opea-chatqna-tls"]
		second.Name, second.Annotations = "opea-chatqna-ecdsa", nil
		s.Secrets["istio-ingress/opea-chatqna-ecdsa"] = &second
		return s
	}
	t.Run("both present", func(t *testing.T) {
		for _, o := range Run(withTwo(t)) {
			if !healthyOutcome(o) {
				t.Errorf("%s: %s %s", o.ID, o.Status, o.Message)
			}
		}
		if o := outcomesByID(withTwo(t))["ingress.https-server"]; !strings.Contains(o.Message, "opea-chatqna-tls, opea-chatqna-ecdsa") {
			t.Errorf("ingress.https-server does not name both credentials: %s", o.Message)
		}
	})
	t.Run("the second missing", func(t *testing.T) {
		s := withTwo(t)
		delete(s.Secrets, "istio-ingress/opea-chatqna-ecdsa")
		if o := outcomesByID(s)["certificate.secret-present"]; o.Status != Fail || !strings.Contains(o.Message, "opea-chatqna-ecdsa") {
			t.Errorf("certificate.secret-present = %s %q, want a failure naming opea-chatqna-ecdsa", o.Status, o.Message)
		}
	})
	t.Run("the second expired", func(t *testing.T) {
		s := withTwo(t)
		old := issue(t, []string{"chatqna.example.com"}, now.Add(-100*24*time.Hour), now.Add(-24*time.Hour))
		s.Secrets["istio-ingress/opea-chatqna-ecdsa"].Data = map[string][]byte{"tls.crt": old.CertPEM, "tls.key": old.KeyPEM, "ca.crt": old.CAPEM}
		failed := false
		for _, o := range Run(s) {
			failed = failed || (o.Status == Fail && strings.HasPrefix(o.ID, "certificate.") && strings.Contains(o.Message, "opea-chatqna-ecdsa"))
		}
		if !failed {
			t.Error("no certificate check failed on the expired second credential")
		}
	})
}

// istiod takes a root-namespace PeerAuthentication as mesh-wide only when
// it has no selector at all (fetchPeerAuthentications); selector: {} there
// applies to nothing.
func TestRootNamespaceSelectorIsNotMeshWide(t *testing.T) {
	meshWide := func(selector *istio.WorkloadSelector) *snapshot.Snapshot {
		s := healthy(t)
		pa := strict("istio-system")
		pa.Selector = selector
		s.PeerAuthentications = []istio.PeerAuthentication{pa}
		return s
	}
	if o := outcomesByID(meshWide(nil))["mtls.namespace-strict"]; o.Status != Pass {
		t.Errorf("mesh-wide STRICT without a selector: mtls.namespace-strict %s %s", o.Status, o.Message)
	}
	outcomes := outcomesByID(meshWide(&istio.WorkloadSelector{}))
	if o := outcomes["mtls.namespace-strict"]; o.Status != Fail {
		t.Errorf("root-namespace STRICT with selector: {}: mtls.namespace-strict %s %s, want a failure", o.Status, o.Message)
	}
	if o := outcomes["mtls.ignored-policies"]; o.Status != Warn || !strings.Contains(o.Message, "selector: {} in the root namespace is not mesh-wide") {
		t.Errorf("mtls.ignored-policies = %s %q, want it to name the policy", o.Status, o.Message)
	}
}
