package e2e

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// make demo is the README's first command: it must run to the end on the
// local control plane and show the plugin's work.
func TestMakeDemoRunsToTheEnd(t *testing.T) {
	cmd := exec.Command("make", "--no-print-directory", "demo")
	cmd.Dir = controlplane.RepoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make demo: %v\n%s", err, out)
	}
	for _, want := range []string{
		"$ kubectl opea secure -n chatqna --host chatqna.example.com\n",
		"gateway.networking.istio.io/opea-ingress serverside-applied\n",
		"== cert-manager's controllers issue certificate istio-ingress/opea-chatqna-tls",
		"istiod -> gateway istio-ingress: port 443, SNI chatqna.example.com, certificate kubernetes://opea-chatqna-tls, routed to outbound|80||chatqna-nginx.chatqna.svc.cluster.local\n",
		"istiod -> gateway istio-ingress: port 80 redirects chatqna.example.com to HTTPS\n",
		"istiod -> ztunnel: every pod of chatqna under istio-system/istio_converted_static_strict (STRICT mTLS)\n",
		"$ kubectl opea verify -n chatqna --probe-address 127.0.0.1:",
		"Verdict: chatqna is secured",
		"gateway.networking.istio.io/opea-ingress unchanged\n",
		"certificate.cert-manager.io/opea-chatqna-tls ready\n",
		"$ kubectl opea unsecure -n chatqna --wait\n",
		"secret/opea-chatqna-tls deleted\n",
		"namespace/chatqna label istio.io/dataplane-mode removed\n",
		"Nothing to do: no object of kubectl opea secure remains for namespace chatqna.\n",
		"istiod -> gateway istio-ingress: nothing for chatqna.example.com on port 443\n",
		"istiod -> ztunnel: no STRICT policy on the pods of chatqna\n",
		// Again with a Gateway API Gateway and the lockdown: verified
		// through the emulator of the gateway istiod deployed, clients
		// admitted at the gateway itself.
		"$ kubectl opea secure -n chatqna --host chatqna.example.com --gateway-api --gateway-service-type ClusterIP --lockdown\n",
		"authorizationpolicy.security.istio.io/opea-allow-gateway-clients serverside-applied\n",
		"[ok]   AuthorizationPolicies on the gateway itself admit clients (clients admitted by chatqna/opea-allow-gateway-clients)\n",
		"[ok]   HTTPS request reaches the application (GET / answered 200)\n",
		"authorizationpolicy.security.istio.io/opea-allow-gateway-clients deleted\n",
		"== Stopping the local control plane",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("make demo output lacks %q:\n%s", want, out)
		}
	}
}
