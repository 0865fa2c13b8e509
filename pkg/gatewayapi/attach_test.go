package gatewayapi

import (
	"testing"
)

// sharedGateway is a Gateway in namespace ingress shared by two
// applications: an HTTPS listener per host, each admitting routes of one
// namespace, and an HTTP listener admitting only routes of its own.
func sharedGateway(t *testing.T) Gateway {
	t.Helper()
	gw, err := DecodeGateway(decodeYAML(t, `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: shared, namespace: ingress}
spec:
  gatewayClassName: istio
  listeners:
  - name: chatqna
    hostname: chatqna.example.com
    port: 443
    protocol: HTTPS
    tls: {certificateRefs: [{name: chatqna-cert}]}
    allowedRoutes: {namespaces: {from: Selector, selector: {matchLabels: {kubernetes.io/metadata.name: chatqna}}}}
  - name: codegen
    hostname: codegen.example.com
    port: 443
    protocol: HTTPS
    tls: {certificateRefs: [{name: codegen-cert}]}
    allowedRoutes: {namespaces: {from: All}}
  - name: wildcard
    hostname: "*.example.com"
    port: 443
    protocol: HTTPS
    tls: {certificateRefs: [{name: wildcard-cert}]}
  - name: http
    port: 80
    protocol: HTTP
  - name: tls-passthrough
    port: 8443
    protocol: TLS
    tls: {mode: Passthrough}
    allowedRoutes: {namespaces: {from: All}}
`))
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

func route(ns string, hostnames []string, refs ...ParentRef) HTTPRoute {
	return HTTPRoute{Namespace: ns, Name: "r", Hostnames: hostnames, ParentRefs: refs}
}

func TestAttachAsIstiodsReferenceAllowed(t *testing.T) {
	gw := sharedGateway(t)
	toShared := ParentRef{Name: "shared", Namespace: "ingress"}
	section := func(name string) ParentRef { r := toShared; r.SectionName = name; return r }
	labels := func(ns string) (map[string]string, bool) { return map[string]string{"team": ns}, true }
	for _, tc := range []struct {
		name     string
		route    HTTPRoute
		listener string
		want     string // "" attached, else the reason
	}{
		{"own host, own listener", route("chatqna", []string{"chatqna.example.com"}, toShared), "chatqna", ""},
		{"own host, another app's listener", route("chatqna", []string{"chatqna.example.com"}, toShared), "codegen", ReasonNoMatchingListenerHostname},
		{"a wildcard listener of the Gateway's namespace only", route("chatqna", []string{"chatqna.example.com"}, toShared), "wildcard", ReasonNotAllowedByListeners},
		{"from: Same HTTP listener in another namespace", route("chatqna", []string{"chatqna.example.com"}, toShared), "http", ReasonNotAllowedByListeners},
		{"from: Same admits the Gateway's namespace", route("ingress", nil, toShared), "http", ""},
		{"a route without hostnames takes the listener's", route("codegen", nil, toShared), "codegen", ""},
		{"a Selector that does not match", route("codegen", []string{"chatqna.example.com"}, toShared), "chatqna", ReasonNotAllowedByListeners},
		{"sectionName names another listener", route("chatqna", []string{"chatqna.example.com"}, section("codegen")), "chatqna", ReasonNoMatchingParent},
		{"port names another listener", route("codegen", nil, ParentRef{Name: "shared", Namespace: "ingress", Port: 80}), "codegen", ReasonNoMatchingParent},
		{"a TLS listener takes no HTTPRoute", route("codegen", nil, toShared), "tls-passthrough", ReasonNotAllowedByListeners},
		{"a wildcard route hostname meets the listener's", route("codegen", []string{"*.example.com"}, toShared), "codegen", ""},
		{"another Gateway", route("chatqna", []string{"chatqna.example.com"}, ParentRef{Name: "other", Namespace: "ingress"}), "chatqna", ReasonNoMatchingParent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Attach(tc.route, tc.route.ParentRefs[0], gw, *gw.Listener(tc.listener), labels)
			if got.Reason != tc.want {
				t.Errorf("Attach = %+v, want reason %q", got, tc.want)
			}
		})
	}
}

// Across the Gateway's listeners a parentRef without sectionName is
// Accepted when any listener takes it; otherwise istiod reports the denial
// it ranks first.
func TestParentDenialAsIstiodsRouteStatus(t *testing.T) {
	gw := sharedGateway(t)
	gw.Listeners = gw.Listeners[:2] // the two applications' HTTPS listeners
	labels := func(ns string) (map[string]string, bool) { return nil, true }
	toShared := ParentRef{Name: "shared", Namespace: "ingress"}
	for _, tc := range []struct {
		name  string
		route HTTPRoute
		want  string
	}{
		{"attached to its own listener only", route("chatqna", []string{"chatqna.example.com"}, toShared), ""},
		{"no hostname anywhere", route("chatqna", []string{"elsewhere.example.org"}, toShared), ReasonNoMatchingListenerHostname},
		{"a hostname only a listener of others' namespaces has", route("other", []string{"chatqna.example.com"}, toShared), ReasonNotAllowedByListeners},
		{"a sectionName that does not exist", route("chatqna", nil, ParentRef{Name: "shared", Namespace: "ingress", SectionName: "nope"}), ReasonNoMatchingParent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ParentDenial(tc.route, tc.route.ParentRefs[0], gw, labels); got.Reason != tc.want {
				t.Errorf("ParentDenial = %+v, want %q", got, tc.want)
			}
		})
	}
}

func TestGatewayParent(t *testing.T) {
	service := "Service"
	core := ""
	gamma := route("chatqna", nil, ParentRef{Group: &core, Kind: &service, Name: "chatqna-nginx"})
	if gamma.GatewayParent() {
		t.Error("a route whose parent is a Service (GAMMA) counts as ingress")
	}
	if !route("chatqna", nil, ParentRef{Group: &core, Kind: &service, Name: "chatqna-nginx"}, ParentRef{Name: "gw"}).GatewayParent() {
		t.Error("a route with a Gateway parent does not count as ingress")
	}
}

// The gateway istiod deploys runs as "<name>-<class>" unless the
// service-account annotation names another; the name-override annotation
// renames only the Deployment and Service (configureIstioGateway). A
// Hostname address makes the Gateway unmanaged (IsManaged).
func TestDeployedNamesAndManaged(t *testing.T) {
	hostname, ip := HostnameAddressType, IPAddressType
	for _, tc := range []struct {
		name                string
		annotations         map[string]string
		addresses           []SpecAddress
		deployment, account string
		managed             bool
	}{
		{name: "defaults", deployment: "opea-ingress-istio", account: "opea-ingress-istio", managed: true},
		{name: "name-override names the Deployment only", annotations: map[string]string{NameOverrideAnnotation: "edge"}, deployment: "edge", account: "opea-ingress-istio", managed: true},
		{name: "service-account names the account only", annotations: map[string]string{ServiceAccountAnnotation: "edge-sa"}, deployment: "opea-ingress-istio", account: "edge-sa", managed: true},
		{name: "an IP address is managed", addresses: []SpecAddress{{Value: "10.0.0.5"}}, deployment: "opea-ingress-istio", account: "opea-ingress-istio", managed: true},
		{name: "an explicit IPAddress is managed", addresses: []SpecAddress{{Type: &ip, Value: "10.0.0.5"}}, deployment: "opea-ingress-istio", account: "opea-ingress-istio", managed: true},
		{name: "a Hostname address is unmanaged", addresses: []SpecAddress{{Type: &hostname, Value: "edge.ingress.svc.cluster.local"}}, deployment: "opea-ingress-istio", account: "opea-ingress-istio"},
		{name: "two addresses are unmanaged", addresses: []SpecAddress{{Value: "10.0.0.5"}, {Value: "10.0.0.6"}}, deployment: "opea-ingress-istio", account: "opea-ingress-istio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gw := Gateway{Name: "opea-ingress", ClassName: "istio", Annotations: tc.annotations, Addresses: tc.addresses}
			if DeploymentName(gw) != tc.deployment || ServiceAccountName(gw) != tc.account || gw.Managed() != tc.managed {
				t.Errorf("deployment %s, account %s, managed %v; want %s, %s, %v", DeploymentName(gw), ServiceAccountName(gw), gw.Managed(), tc.deployment, tc.account, tc.managed)
			}
		})
	}
}

func TestIstioControllerName(t *testing.T) {
	if got := IstioControllerName(nil); got != "istio.io/gateway-controller" {
		t.Errorf("default controller %q", got)
	}
	if got := IstioControllerName(map[string]string{ControllerNameEnv: "example.com/istio"}); got != "example.com/istio" {
		t.Errorf("renamed controller %q", got)
	}
}
