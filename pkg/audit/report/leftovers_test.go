package report

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/probe"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
)

// verify -A names what secure left for a namespace that no longer exists,
// and the unsecure that removes it; not what it made for one that exists.
func TestAuditAllNamesLeftoversOfDeletedNamespaces(t *testing.T) {
	clients, _, _ := withLeftovers().Clients(t)
	fleet, err := audit.AuditAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true}, probe.Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]read.Leftover{goneLeftover}, fleet.Leftovers); diff != "" {
		t.Errorf("leftovers (-want +got):\n%s", diff)
	}
	var table, short bytes.Buffer
	if err := FleetTable(&table, fleet, Style{}); err != nil {
		t.Fatal(err)
	}
	want := "kubectl opea secure left objects for namespaces that no longer exist (cert-manager keeps renewing their certificates):\n" +
		"  gone: certificate.cert-manager.io/opea-gone-ca in istio-ingress, certificate.cert-manager.io/opea-gone-tls in istio-ingress, " +
		"issuer.cert-manager.io/opea-gone-ca in istio-ingress, issuer.cert-manager.io/opea-gone-selfsigned in istio-ingress; " +
		"and the Secrets istio-ingress/opea-gone-ca, istio-ingress/opea-gone-tls\n" +
		"    fix: kubectl opea unsecure -n gone\n"
	if !strings.Contains(table.String(), want) {
		t.Errorf("the table does not say:\n%s\ngot:\n%s", want, table.String())
	}
	if err := FleetShort(&short, fleet); err != nil {
		t.Fatal(err)
	}
	if want := "gone: deleted, but kubectl opea secure's 4 objects remain: kubectl opea unsecure -n gone\n"; !strings.HasSuffix(short.String(), want) {
		t.Errorf("-o short does not end with %q:\n%s", want, short.String())
	}
}

// Where the namespaces may not be listed, each one secure's objects name is
// read: a namespace that may not be read is not called deleted.
func TestAuditAllLeftoversWithoutTheListOfNamespaces(t *testing.T) {
	for _, tc := range []struct {
		name   string
		refuse func(k8stesting.Action) bool
		want   []read.Leftover
	}{
		{"namespaces read one by one", func(a k8stesting.Action) bool { return a.GetVerb() == "list" }, []read.Leftover{goneLeftover}},
		{"no namespace may be read", func(k8stesting.Action) bool { return true }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clients, kube, _ := withLeftovers().Clients(t)
			forbid(&kube.Fake, func(a k8stesting.Action) bool { return a.GetResource().Resource == "namespaces" && tc.refuse(a) })
			fleet, err := read.ReadAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, fleet.Leftovers); diff != "" {
				t.Errorf("leftovers (-want +got):\n%s", diff)
			}
		})
	}
}

// Leftovers in -o json match the schema, and leave success as it is: they
// are a warning.
func TestLeftoversValidateAgainstTheSchema(t *testing.T) {
	s := healthy(t)
	fleet := &audit.FleetResult{Namespaces: []audit.Result{{Namespace: s.Namespace, Entry: "chatqna-nginx", Outcomes: check.Run(s)}}, Leftovers: []read.Leftover{goneLeftover}}
	report := NewFleet("", fleet)
	var b bytes.Buffer
	if err := JSON(&b, report); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, b.Bytes())
	if !report.Success || !strings.Contains(b.String(), `"fix": "kubectl opea unsecure -n gone"`) {
		t.Errorf("success %v:\n%s", report.Success, b.String())
	}
}
