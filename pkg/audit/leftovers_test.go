package audit

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// withLeftovers is the fleet (a and b hold ChatQnA) with secure's
// certificate chain in istio-ingress for a, and for gone, a namespace
// since deleted; and a Certificate of someone else's for gone.
func withLeftovers() cluster {
	c := fleet()
	chain := func(app string) []runtime.Object {
		ours := map[string]string{ownership.ManagedByLabel: ownership.ManagedByValue, ownership.AppNamespaceLabel: app}
		var objs []runtime.Object
		for _, name := range []string{"ca", "tls"} {
			cert := unstructuredObject("cert-manager.io/v1", "Certificate", "istio-ingress", "opea-"+app+"-"+name,
				map[string]interface{}{"secretName": "opea-" + app + "-" + name})
			cert.SetLabels(ours)
			objs = append(objs, cert)
		}
		for _, name := range []string{"ca", "selfsigned"} {
			issuer := unstructuredObject("cert-manager.io/v1", "Issuer", "istio-ingress", "opea-"+app+"-"+name, map[string]interface{}{})
			issuer.SetLabels(ours)
			objs = append(objs, issuer)
		}
		return objs
	}
	c.dynamic = append(append(c.dynamic, chain("a")...), chain("gone")...)
	c.dynamic = append(c.dynamic, unstructuredObject("cert-manager.io/v1", "Certificate", "istio-ingress", "team-gone", map[string]interface{}{"secretName": "team-gone"}))
	return c
}

var goneLeftover = Leftover{
	Namespace: "gone",
	Objects: []string{
		"certificate.cert-manager.io/opea-gone-ca in istio-ingress", "certificate.cert-manager.io/opea-gone-tls in istio-ingress",
		"issuer.cert-manager.io/opea-gone-ca in istio-ingress", "issuer.cert-manager.io/opea-gone-selfsigned in istio-ingress",
	},
	Secrets: []string{"istio-ingress/opea-gone-ca", "istio-ingress/opea-gone-tls"},
	Fix:     "kubectl opea unsecure -n gone",
}

// verify -A names what secure left for a namespace that no longer exists,
// and the unsecure that removes it; not what it made for one that exists.
func TestAuditAllNamesLeftoversOfDeletedNamespaces(t *testing.T) {
	clients, _, _ := withLeftovers().clients(t)
	fleet, err := AuditAll(context.Background(), clients, ReadOptions{AllNamespaces: true}, ProbeOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]Leftover{goneLeftover}, fleet.Leftovers); diff != "" {
		t.Errorf("leftovers (-want +got):\n%s", diff)
	}
	var table, short bytes.Buffer
	if err := RenderFleetTable(&table, fleet, Style{}); err != nil {
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
	if err := RenderFleetShort(&short, fleet); err != nil {
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
		want   []Leftover
	}{
		{"namespaces read one by one", func(a k8stesting.Action) bool { return a.GetVerb() == "list" }, []Leftover{goneLeftover}},
		{"no namespace may be read", func(k8stesting.Action) bool { return true }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clients, kube, _ := withLeftovers().clients(t)
			forbid(&kube.Fake, func(a k8stesting.Action) bool { return a.GetResource().Resource == "namespaces" && tc.refuse(a) })
			fleet, err := ReadAll(context.Background(), clients, ReadOptions{AllNamespaces: true})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, fleet.Leftovers); diff != "" {
				t.Errorf("leftovers (-want +got):\n%s", diff)
			}
		})
	}
}

// With a namespace selector, leftovers are not looked for: a namespace that
// does not exist matches no selector.
func TestReadAllLeftoversNotWithASelector(t *testing.T) {
	clients, _, _ := withLeftovers().clients(t)
	fleet, err := ReadAll(context.Background(), clients, ReadOptions{AllNamespaces: true, NamespaceSelector: "team=a"})
	if err != nil {
		t.Fatal(err)
	}
	if fleet.Leftovers != nil {
		t.Errorf("leftovers %v with a selector, want none", fleet.Leftovers)
	}
}

// Leftovers in -o json match the schema, and leave success as it is: they
// are a warning.
func TestLeftoversValidateAgainstTheSchema(t *testing.T) {
	s := healthy(t)
	fleet := &FleetResult{Namespaces: []NamespaceResult{{Namespace: s.Namespace, Entry: "chatqna-nginx", Outcomes: Run(s)}}, Leftovers: []Leftover{goneLeftover}}
	report := NewFleetReport("", fleet)
	var b bytes.Buffer
	if err := RenderJSON(&b, report); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, b.Bytes())
	if !report.Success || !strings.Contains(b.String(), `"fix": "kubectl opea unsecure -n gone"`) {
		t.Errorf("success %v:\n%s", report.Success, b.String())
	}
}
