package check

import (
	"strings"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// istiod attaches a route without sectionName only to the listeners that
// take it (referenceAllowed): another application's HTTPS listener, and an
// HTTP listener admitting only its own namespace, are no findings, and the
// certificate judged is the application's.
func TestSharedGatewayJudgesOnlyTheListenersTheRouteAttachesTo(t *testing.T) {
	s := sharedGatewayAPI(t)
	for _, o := range Run(s) {
		if o.Status == Fail || o.Status == Warn || o.Status == Unknown {
			t.Errorf("%s: %s %s", o.ID, o.Status, o.Message)
		}
	}
	v := snapshot.NewScope(s)
	var judged []string
	for _, l := range v.TLSListeners() {
		judged = append(judged, l.String()+" "+l.SecretName)
	}
	if want := "Gateway ingress/shared listener chatqna opea-chatqna-tls"; len(judged) != 1 || judged[0] != want {
		t.Errorf("TLS listeners judged %v, want only %q", judged, want)
	}

	t.Run("a hostname no listener has", func(t *testing.T) {
		s := sharedGatewayAPI(t)
		// (Without a hostname the HTTP listener would meet it, and turn
		// it away for its namespace: NotAllowedByListeners, route-accepted's.)
		s.GatewayAPIGateways[0].Listeners[2].Hostname = "ingress.example.com"
		s.HTTPRoutes[0].Hostnames = []string{"elsewhere.example.org"}
		o := outcomesByID(s)["gatewayapi.route-hostnames"]
		if o.Status != Fail || !strings.Contains(o.Message, "match none of Gateway ingress/shared's listener hostnames codegen:codegen.example.com,chatqna:chatqna.example.com,http:ingress.example.com") {
			t.Errorf("gatewayapi.route-hostnames = %s %q", o.Status, o.Message)
		}
	})
	t.Run("an HTTP listener that admits the application serves it in plaintext", func(t *testing.T) {
		s := sharedGatewayAPI(t)
		s.GatewayAPIGateways[0].Listeners[2].AllowedRoutes = &gatewayapi.AllowedRoutes{Namespaces: &gatewayapi.RouteNamespaces{From: "All"}}
		if o := outcomesByID(s)["gatewayapi.http-redirect"]; o.Status != Warn || !strings.Contains(o.Message, "serves the application in plaintext") {
			t.Errorf("gatewayapi.http-redirect = %s %q", o.Status, o.Message)
		}
	})
}

// A GAMMA route (parentRef kind Service) routes inside the mesh: it is no
// ingress, and without any Gateway verify fails rather than skips every
// ingress check.
func TestGAMMARouteIsNoIngress(t *testing.T) {
	s := healthyGatewayAPI(t)
	service, core := "Service", ""
	s.GatewayAPIGateways, s.Probe = nil, nil
	s.HTTPRoutes = s.HTTPRoutes[:1]
	s.HTTPRoutes[0].ParentRefs = []gatewayapi.ParentRef{{Group: &core, Kind: &service, Name: "chatqna-nginx"}}
	s.HTTPRoutes[0].Status = gatewayapi.RouteStatus{}
	outcomes := Run(s)
	if !Failed(outcomes) {
		t.Fatal("verify passes an application whose only route is a GAMMA route")
	}
	if o := outcomesByID(s)["ingress.gateway-found"]; o.Status != Fail {
		t.Errorf("ingress.gateway-found = %s %q, want a failure", o.Status, o.Message)
	}
}

// The gateway istiod deploys runs as the service-account annotation's
// account, else "<name>-<class>"; name-override renames only the Deployment.
func TestGatewayAPIServiceAccountAsIstiodNamesIt(t *testing.T) {
	admitting := func(sa string) []istio.AuthorizationPolicy {
		return []istio.AuthorizationPolicy{accepted("chatqna", "allow-gateway", istio.AuthorizationPolicy{
			Selector: &istio.WorkloadSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "nginx"}},
			Rules:    []istio.AuthorizationRule{{From: []istio.RuleFrom{{Source: istio.Source{Principals: []string{"cluster.local/ns/chatqna/sa/" + sa}}}}}}})}
	}
	for _, tc := range []struct {
		name        string
		annotations map[string]string
		admitted    string
		want        Status
	}{
		{"the default account", nil, "opea-ingress-istio", Pass},
		{"service-account names the account", map[string]string{gatewayapi.ServiceAccountAnnotation: "edge"}, "edge", Pass},
		{"an ALLOW of the default account shuts out a renamed one", map[string]string{gatewayapi.ServiceAccountAnnotation: "edge"}, "opea-ingress-istio", Fail},
		{"name-override does not rename the account", map[string]string{gatewayapi.NameOverrideAnnotation: "edge"}, "opea-ingress-istio", Pass},
		{"an ALLOW of the overridden name does not admit the gateway", map[string]string{gatewayapi.NameOverrideAnnotation: "edge"}, "edge", Fail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := healthyGatewayAPI(t)
			s.GatewayAPIGateways[0].Annotations = tc.annotations
			s.AuthorizationPolicies = admitting(tc.admitted)
			if o := outcomesByID(s)["authorization.ingress-admitted"]; o.Status != tc.want {
				t.Errorf("authorization.ingress-admitted = %s %q, want %s", o.Status, o.Message, tc.want)
			}
		})
	}
	t.Run("an unmanaged Gateway's callers are not guessed", func(t *testing.T) {
		s := healthyGatewayAPI(t)
		hostname := gatewayapi.HostnameAddressType
		s.GatewayAPIGateways[0].Addresses = []gatewayapi.SpecAddress{{Type: &hostname, Value: "edge.ingress.svc.cluster.local"}}
		s.AuthorizationPolicies = admitting("opea-ingress-istio")
		o := outcomesByID(s)["authorization.ingress-admitted"]
		if o.Status != Warn || !strings.Contains(o.Message, "Gateway chatqna/opea-ingress is unmanaged (spec.addresses edge.ingress.svc.cluster.local)") {
			t.Errorf("authorization.ingress-admitted = %s %q, want a warning naming the unmanaged Gateway", o.Status, o.Message)
		}
	})
}

// A Gateway of another controller's class is not Istio's to judge.
func TestGatewayOfAnotherControllerFails(t *testing.T) {
	s := healthyGatewayAPI(t)
	s.GatewayClasses[0].ControllerName = "example.com/gateway-controller"
	o := outcomesByID(s)["gatewayapi.class-accepted"]
	if o.Status != Fail || !strings.Contains(o.Message, "handled by controller example.com/gateway-controller, not Istio's gateway controller istio.io/gateway-controller") {
		t.Errorf("gatewayapi.class-accepted = %s %q", o.Status, o.Message)
	}
	// istiod renamed its controller: that class is Istio's.
	s.Istiod[0].Env[gatewayapi.ControllerNameEnv] = "example.com/gateway-controller"
	if o := outcomesByID(s)["gatewayapi.class-accepted"]; o.Status != Pass {
		t.Errorf("with istiod's controller renamed: gatewayapi.class-accepted = %s %q", o.Status, o.Message)
	}
}
