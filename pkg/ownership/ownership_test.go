package ownership

import (
	"testing"

	"k8s.io/apimachinery/pkg/labels"
)

func TestSelectorSelectsExactlyOurLabels(t *testing.T) {
	if got, want := Selector("chatqna"), "app.kubernetes.io/managed-by=kubectl-opea,opea.dev/app-namespace=chatqna"; got != want {
		t.Errorf("Selector = %q, want %q", got, want)
	}
	sel, err := labels.Parse(Selector("chatqna"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{Labels("chatqna"), true},
		{Labels("other"), false},
		{map[string]string{ManagedByLabel: "helm", AppNamespaceLabel: "chatqna"}, false},
		{map[string]string{AppNamespaceLabel: "chatqna"}, false},
		{map[string]string{ManagedByLabel: ManagedByValue}, false},
		{nil, false},
	} {
		// The selector unsecure lists with and the rule verify and secure
		// apply to objects they already hold must agree.
		if got := sel.Matches(labels.Set(tc.labels)); got != tc.want {
			t.Errorf("selector matches %v = %v, want %v", tc.labels, got, tc.want)
		}
		if got := Ours(tc.labels, "chatqna"); got != tc.want {
			t.Errorf("Ours(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

func TestAppNamespaceOnlyOfManagedObjects(t *testing.T) {
	if got := AppNamespace(Labels("chatqna")); got != "chatqna" {
		t.Errorf("AppNamespace(ours) = %q", got)
	}
	if got := AppNamespace(map[string]string{AppNamespaceLabel: "chatqna"}); got != "" {
		t.Errorf("AppNamespace(unmanaged) = %q, want empty", got)
	}
}

func TestNamesInTheGatewayNamespaceCarryTheApplication(t *testing.T) {
	a, b := NamesFor("a"), NamesFor("b")
	for _, pair := range [][2]string{{a.CACertificate, b.CACertificate}, {a.CAIssuer, b.CAIssuer}, {a.SelfSignedIssuer, b.SelfSignedIssuer},
		{a.Certificate, b.Certificate}, {a.TLSSecret, b.TLSSecret}, {a.CASecret, b.CASecret},
		{a.RequestAuthentication, b.RequestAuthentication}, {a.RequireJWT, b.RequireJWT}, {a.ExtAuthz, b.ExtAuthz}} {
		if pair[0] == pair[1] {
			t.Errorf("two applications share the name %q in the gateway namespace", pair[0])
		}
	}
}
