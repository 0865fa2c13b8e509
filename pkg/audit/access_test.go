package audit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var allInputs = []Input{InputNamespace, InputPods, InputIstiod, InputMeshConfig, InputDaemonSets, InputCNIConfig,
	InputPeerAuthentications, InputDestinationRules, InputGateways, InputVirtualServices, InputServices,
	InputGatewayPods, InputSecrets, InputSecretAccess, InputCertificates, InputAuthorizationPolicies, InputRBAC}

// Each input left unread makes exactly the checks that need it unknown,
// naming the refused request; every other check runs as before.
func TestUnreadInputLeavesExactlyItsChecksUnknown(t *testing.T) {
	for _, in := range allInputs {
		t.Run(string(in), func(t *testing.T) {
			s := healthy(t)
			refused := Access{Verb: "list", Group: "example.io", Resource: strings.ReplaceAll(string(in), " ", ""), AllNamespaces: true}
			s.Unread = map[Input][]Access{in: {refused}}
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
				case !needs && o.Status != Pass:
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

func TestAccessesReadAsKubectlAndSortStably(t *testing.T) {
	for _, tc := range []struct {
		a    Access
		want string
	}{
		{Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true}, "list deployments.apps in every namespace"},
		{Access{Verb: "get", Resource: "namespaces", Name: "chatqna"}, `get namespaces "chatqna"`},
		{Access{Verb: "get", Resource: "secrets", Name: "tls", Namespace: "istio-ingress"}, `get secrets "tls" in namespace istio-ingress`},
		{Access{Verb: "list", Group: "cert-manager.io", Resource: "clusterissuers"}, "list clusterissuers.cert-manager.io"},
		{subjectAccessReview, "create subjectaccessreviews.authorization.k8s.io"},
	} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%+v reads %q, want %q", tc.a, got, tc.want)
		}
	}

	secret := Access{Verb: "get", Resource: "secrets", Name: "tls", Namespace: "istio-ingress"}
	issuers := Access{Verb: "list", Group: "cert-manager.io", Resource: "issuers", Namespace: "b"}
	certs := Access{Verb: "list", Group: "cert-manager.io", Resource: "certificates", Namespace: "b"}
	deployments := Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true}
	namespace := Access{Verb: "get", Resource: "namespaces", Name: "chatqna"}
	s := &Snapshot{}
	s.deny(InputSecrets, secret)
	s.deny(InputCertificates, issuers)
	s.deny(InputCertificates, certs)
	s.deny(InputNamespace, namespace)
	s.deny(InputIstiod, deployments)
	s.inherit(InputMeshConfig, InputIstiod)
	s.inherit(InputGatewayPods, InputIstiod, InputNamespace)
	want := []Access{deployments, namespace, certs, issuers, secret}
	// The inputs are a map: the order must not depend on its iteration.
	for i := 0; i < 50; i++ {
		if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
			t.Fatalf("Forbidden (-want +got):\n%s", diff)
		}
	}
}

// The table and the JSON report list the refused reads once, in order, at
// the end; success is false; the summary counts the checks that did not run.
func TestReportsListMissingPermissionsOnce(t *testing.T) {
	s := healthy(t)
	deployments := Access{Verb: "list", Group: "apps", Resource: "deployments", AllNamespaces: true}
	secret := Access{Verb: "get", Resource: "secrets", Name: "opea-chatqna-tls", Namespace: "istio-ingress"}
	s.Unread = map[Input][]Access{InputSecrets: {secret}, InputIstiod: {deployments}, InputMeshConfig: {deployments}}
	outcomes := Run(s)
	summary := Summarize(outcomes)
	if summary.Failed != 0 || summary.Unknown == 0 || !Incomplete(outcomes) || Failed(outcomes) {
		t.Fatalf("summary %+v", summary)
	}

	var table, short bytes.Buffer
	if err := RenderTable(&table, "chatqna", outcomes, s.Forbidden(), Style{}, false); err != nil {
		t.Fatal(err)
	}
	if err := RenderTable(&short, "chatqna", outcomes, s.Forbidden(), Style{}, true); err != nil {
		t.Fatal(err)
	}
	block := "\nyou lack permissions to read:\n" +
		"  list deployments.apps in every namespace\n" +
		"  get secrets \"opea-chatqna-tls\" in namespace istio-ingress\n" +
		"fix: " + PermissionHint + "\n"
	verdict := "Verdict: chatqna could NOT be fully verified: "
	for name, out := range map[string]string{"table": table.String(), "short": short.String()} {
		if !strings.HasSuffix(out, block) || strings.Count(out, "you lack permissions") != 1 || !strings.Contains(out, verdict) {
			t.Errorf("-o %s does not end with the one list of missing permissions:\n%s", name, out)
		}
	}
	if want := "[?]    istiod running (not run: you may not list deployments.apps in every namespace)\n"; !strings.Contains(table.String(), want) {
		t.Errorf("table lacks %q:\n%s", want, table.String())
	}
	if strings.Contains(short.String(), "[?]") {
		t.Errorf("-o short lists the checks that did not run one by one:\n%s", short.String())
	}

	var buf bytes.Buffer
	if err := RenderJSON(&buf, NewReport("chatqna", outcomes, s.Forbidden())); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, buf.Bytes())
	var report Report
	if err := json.Unmarshal(buf.Bytes(), &report); err != nil {
		t.Fatal(err)
	}
	if report.Success || report.Summary.Unknown != summary.Unknown {
		t.Errorf("success %v, summary %+v", report.Success, report.Summary)
	}
	if diff := cmp.Diff([]Access{deployments, secret}, report.MissingPermissions); diff != "" {
		t.Errorf("missingPermissions (-want +got):\n%s", diff)
	}
}
