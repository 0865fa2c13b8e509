package check

import (
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

var allInputs = []snapshot.Input{snapshot.InputNamespace, snapshot.InputPods, snapshot.InputIstiod, snapshot.InputMeshConfig, snapshot.InputDaemonSets, snapshot.InputCNIConfig,
	snapshot.InputPeerAuthentications, snapshot.InputDestinationRules, snapshot.InputGateways, snapshot.InputVirtualServices, snapshot.InputServices,
	snapshot.InputGatewayPods, snapshot.InputSecrets, snapshot.InputSecretAccess, snapshot.InputCertificates, snapshot.InputAuthorizationPolicies, snapshot.InputRequestAuthentications, snapshot.InputRBAC}

// Each input left unread makes exactly the checks that need it unknown,
// naming the refused request; every other check runs as before.
func TestUnreadInputLeavesExactlyItsChecksUnknown(t *testing.T) {
	for _, in := range allInputs {
		t.Run(string(in), func(t *testing.T) {
			s := healthy(t)
			refused := snapshot.Access{Verb: "list", Group: "example.io", Resource: strings.ReplaceAll(string(in), " ", ""), AllNamespaces: true}
			s.Unread = map[snapshot.Input][]snapshot.Access{in: {refused}}
			unknown := 0
			for _, o := range Run(s) {
				needs := false
				for _, n := range o.Needs {
					needs = needs || n == in
				}
				switch {
				case needs && o.Status != Unknown:
					t.Errorf("%s needs %s but is %s: %s", o.ID, in, o.Status, o.Message)
				case needs && o.Message != "not run: you may not "+refused.String():
					t.Errorf("%s: message %q does not name the refused request", o.ID, o.Message)
				case !needs && !healthyOutcome(o):
					t.Errorf("%s does not need %s but is %s: %s", o.ID, in, o.Status, o.Message)
				}
				if o.Status == Unknown {
					unknown++
				}
			}
			if unknown == 0 {
				t.Errorf("no check needs %s", in)
			}
		})
	}
}
