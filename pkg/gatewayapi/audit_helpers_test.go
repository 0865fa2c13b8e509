package gatewayapi

import (
	"reflect"
	"testing"
)

func TestUnmetSaysWhyAConditionDoesNotHold(t *testing.T) {
	conds := []Condition{
		{Type: "Accepted", Status: "True", Reason: "Accepted", ObservedGeneration: 2},
		{Type: "Programmed", Status: "False", Reason: "AddressNotAssigned", Message: "Failed to assign to any requested addresses", ObservedGeneration: 2},
		{Type: "ResolvedRefs", Status: "True", ObservedGeneration: 1},
	}
	for _, c := range []struct {
		t          string
		generation int64
		want       string
	}{
		{"Accepted", 2, ""},
		{"Accepted", 0, ""},
		{"Programmed", 2, "Programmed False (AddressNotAssigned): Failed to assign to any requested addresses"},
		{"ResolvedRefs", 2, "ResolvedRefs is for generation 1, not the current 2: the controller has not processed the last change yet"},
		{"Conflicted", 2, "no Conflicted condition: no controller wrote its status"},
	} {
		if got := Unmet(conds, c.t, c.generation); got != c.want {
			t.Errorf("Unmet(%s, %d) = %q, want %q", c.t, c.generation, got, c.want)
		}
	}
}

func TestSecretNamespaceDefaultsToTheGateways(t *testing.T) {
	if got := (SecretReference{Name: "tls"}).SecretNamespace("gx"); got != "gx" {
		t.Errorf("no namespace: %q", got)
	}
	if got := (SecretReference{Name: "tls", Namespace: "certs"}).SecretNamespace("gx"); got != "certs" {
		t.Errorf("namespace given: %q", got)
	}
}

func TestServiceBackendsIntoANamespace(t *testing.T) {
	port := int32(80)
	other := "example.com"
	kind := "ServiceImport"
	r := HTTPRoute{Namespace: "routes", Rules: []RouteRule{
		{BackendRefs: []BackendRef{{Name: "nginx", Namespace: "chatqna", Port: &port}, {Name: "local", Port: &port}}},
		{BackendRefs: []BackendRef{{Name: "imported", Namespace: "chatqna", Kind: &kind}, {Name: "x", Namespace: "chatqna", Group: &other}}},
		{BackendRefs: []BackendRef{{Name: "ui", Namespace: "chatqna"}}},
	}}
	want := []BackendRef{{Name: "nginx", Namespace: "chatqna", Port: &port}, {Name: "ui", Namespace: "chatqna"}}
	if got := r.ServiceBackends("chatqna"); !reflect.DeepEqual(got, want) {
		t.Errorf("ServiceBackends = %+v, want %+v", got, want)
	}
	if got := r.ServiceBackends("routes"); len(got) != 1 || got[0].Name != "local" {
		t.Errorf("backends in the route's own namespace = %+v", got)
	}
}

func TestAddressAndListener(t *testing.T) {
	gw := Gateway{Listeners: []Listener{{Name: "http", Port: 80}, {Name: "https", Port: 443}}}
	if gw.Address() != "" {
		t.Errorf("address without status: %q", gw.Address())
	}
	gw.Status.Addresses = []Address{{Type: "Hostname", Value: "opea-ingress-istio.gx.svc.cluster.local"}, {Type: "IPAddress", Value: "10.0.0.1"}}
	if gw.Address() != "opea-ingress-istio.gx.svc.cluster.local" {
		t.Errorf("address = %q", gw.Address())
	}
	if l := gw.Listener("https"); l == nil || l.Port != 443 {
		t.Errorf("listener https = %+v", l)
	}
	if gw.Listener("nope") != nil {
		t.Error("a missing listener was found")
	}
}
