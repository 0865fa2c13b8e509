package gatewayapi

import (
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"
)

func TestRouteHostnamesFollowTheIntersectionRule(t *testing.T) {
	cases := []struct {
		listener string
		route    []string
		want     []string
	}{
		{"chatqna.example.com", nil, []string{"chatqna.example.com"}},
		{"", nil, []string{"*"}},
		{"", []string{"a.example.com"}, []string{"a.example.com"}},
		{"chatqna.example.com", []string{"chatqna.example.com"}, []string{"chatqna.example.com"}},
		{"chatqna.example.com", []string{"CHATQNA.example.com"}, []string{"CHATQNA.example.com"}},
		{"chatqna.example.com", []string{"elsewhere.example.org"}, nil},
		{"*.example.com", []string{"chatqna.example.com", "a.b.example.com", "example.com"}, []string{"chatqna.example.com", "a.b.example.com"}},
		{"chatqna.example.com", []string{"*.example.com"}, []string{"chatqna.example.com"}},
		{"*.example.com", []string{"*.example.com"}, []string{"*.example.com"}},
		{"*.example.com", []string{"*.a.example.com"}, []string{"*.a.example.com"}},
		{"example.com", []string{"*.example.com"}, nil},
	}
	for _, c := range cases {
		if got := RouteHostnames(c.listener, c.route); !reflect.DeepEqual(got, c.want) {
			t.Errorf("RouteHostnames(%q, %v) = %v, want %v", c.listener, c.route, got, c.want)
		}
	}
}

func TestReferenceGranted(t *testing.T) {
	name := "cert"
	other := "other"
	grant := func(ns, fromNs string, to ReferenceTo) ReferenceGrant {
		return ReferenceGrant{Namespace: ns, From: []ReferenceFrom{{Group: Group, Kind: "Gateway", Namespace: fromNs}}, To: []ReferenceTo{to}}
	}
	cases := []struct {
		name   string
		grants []ReferenceGrant
		want   bool
	}{
		{"none", nil, false},
		{"every Secret", []ReferenceGrant{grant("certs", "app", ReferenceTo{Kind: "Secret"})}, true},
		{"this Secret", []ReferenceGrant{grant("certs", "app", ReferenceTo{Kind: "Secret", Name: &name})}, true},
		{"another Secret", []ReferenceGrant{grant("certs", "app", ReferenceTo{Kind: "Secret", Name: &other})}, false},
		{"from another namespace", []ReferenceGrant{grant("certs", "elsewhere", ReferenceTo{Kind: "Secret"})}, false},
		{"in another namespace", []ReferenceGrant{grant("app", "app", ReferenceTo{Kind: "Secret"})}, false},
		{"to ConfigMaps", []ReferenceGrant{grant("certs", "app", ReferenceTo{Kind: "ConfigMap"})}, false},
	}
	for _, c := range cases {
		if got := ReferenceGranted(c.grants, "certs", "Gateway", "app", "Secret", "cert"); got != c.want {
			t.Errorf("%s: ReferenceGranted = %v, want %v", c.name, got, c.want)
		}
	}
}

func decodeYAML(t *testing.T, doc string) *unstructured.Unstructured {
	t.Helper()
	// Through JSON, as the API returns objects: integers stay int64.
	j, err := yaml.YAMLToJSON([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(j); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestDecodeGatewayAndRouteAsIstiodWritesThem(t *testing.T) {
	gw, err := DecodeGateway(decodeYAML(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: opea-ingress, namespace: chatqna, generation: 2}
spec:
  gatewayClassName: istio
  listeners:
  - {name: https, hostname: chatqna.example.com, port: 443, protocol: HTTPS, tls: {mode: Terminate, certificateRefs: [{name: tls}]}}
  - {name: http, hostname: chatqna.example.com, port: 80, protocol: HTTP}
status:
  addresses: [{type: Hostname, value: opea-ingress-istio.chatqna.svc.cluster.local}]
  conditions:
  - {type: Accepted, status: "True", reason: Accepted, observedGeneration: 2}
  - {type: Programmed, status: "False", reason: AddressNotAssigned, observedGeneration: 2}
  listeners:
  - name: https
    attachedRoutes: 1
    conditions: [{type: ResolvedRefs, status: "True", observedGeneration: 1}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if DeploymentName(gw) != "opea-ingress-istio" || ServiceAccountName(gw) != "opea-ingress-istio" || !gw.Listeners[0].Terminates() || gw.Listeners[1].Terminates() {
		t.Errorf("decoded %+v", gw)
	}
	if !IsTrue(gw.Status.Conditions, "Accepted", gw.Generation) || IsTrue(gw.Status.Conditions, "Programmed", gw.Generation) {
		t.Errorf("conditions %+v", gw.Status.Conditions)
	}
	if ls := gw.ListenerStatus("https"); ls == nil || IsTrue(ls.Conditions, "ResolvedRefs", gw.Generation) {
		t.Errorf("a listener condition of generation 1 counts for generation 2: %+v", ls)
	}

	route, err := DecodeHTTPRoute(decodeYAML(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: redirect, namespace: chatqna}
spec:
  parentRefs: [{name: opea-ingress, sectionName: http}]
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
status:
  parents:
  - parentRef: {group: gateway.networking.k8s.io, kind: Gateway, name: opea-ingress, sectionName: http}
    conditions: [{type: Accepted, status: "True"}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if !route.Redirects() {
		t.Error("a route that only redirects to https does not Redirect")
	}
	ref := route.ParentRefs[0]
	if !Attach(route, ref, gw, gw.Listeners[1], nil).Attached() || Attach(route, ref, gw, gw.Listeners[0], nil).Attached() {
		t.Error("sectionName http attaches to the wrong listener")
	}
	if ps := route.ParentStatus(ref); ps == nil || !IsTrue(ps.Conditions, "Accepted", 0) {
		t.Errorf("parent status %+v", ps)
	}
}
