package audit

import (
	"context"
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// gatewayAPICluster is a Gateway API ingress as istiod leaves it: a Gateway
// in namespace gx whose HTTPS listener takes its certificate from namespace
// certs (granted), an HTTPRoute in chatqna to the application, and, in
// other namespaces, objects of other applications.
func gatewayAPICluster() cluster {
	withStatus := func(u *unstructured.Unstructured, status map[string]interface{}) *unstructured.Unstructured {
		u.Object["status"] = status
		return u
	}
	accepted := []interface{}{map[string]interface{}{"type": "Accepted", "status": "True", "reason": "Accepted", "observedGeneration": int64(1)}}
	class := withStatus(unstructuredObject("gateway.networking.k8s.io/v1", "GatewayClass", "", "istio", map[string]interface{}{"controllerName": "istio.io/gateway-controller"}),
		map[string]interface{}{"conditions": accepted})
	gw := withStatus(unstructuredObject("gateway.networking.k8s.io/v1", "Gateway", "gx", "opea-ingress", map[string]interface{}{
		"gatewayClassName": "istio",
		"listeners": []interface{}{
			// Routes of other namespaces attach only where a listener admits them.
			map[string]interface{}{"name": "https", "port": int64(443), "protocol": "HTTPS", "hostname": "chatqna.example.com",
				"allowedRoutes": map[string]interface{}{"namespaces": map[string]interface{}{"from": "All"}},
				"tls":           map[string]interface{}{"certificateRefs": []interface{}{map[string]interface{}{"name": "chatqna-tls", "namespace": "certs"}}}},
			map[string]interface{}{"name": "http", "port": int64(80), "protocol": "HTTP"},
		},
	}), map[string]interface{}{
		"addresses":  []interface{}{map[string]interface{}{"type": "Hostname", "value": "opea-ingress-istio.gx.svc.cluster.local"}},
		"conditions": accepted,
		"listeners":  []interface{}{map[string]interface{}{"name": "https", "attachedRoutes": int64(1), "conditions": accepted}},
	})
	other := unstructuredObject("gateway.networking.k8s.io/v1", "Gateway", "elsewhere", "other", map[string]interface{}{
		"gatewayClassName": "istio",
		"listeners": []interface{}{map[string]interface{}{"name": "https", "port": int64(443), "protocol": "HTTPS",
			"tls": map[string]interface{}{"certificateRefs": []interface{}{map[string]interface{}{"name": "other-tls"}}}}},
	})
	route := withStatus(unstructuredObject("gateway.networking.k8s.io/v1", "HTTPRoute", "chatqna", "opea-ingress", map[string]interface{}{
		"parentRefs": []interface{}{map[string]interface{}{"name": "opea-ingress", "namespace": "gx", "sectionName": "https"}},
		"hostnames":  []interface{}{"chatqna.example.com"},
		"rules":      []interface{}{map[string]interface{}{"backendRefs": []interface{}{map[string]interface{}{"name": "chatqna-nginx", "port": int64(80)}}}},
	}), map[string]interface{}{"parents": []interface{}{map[string]interface{}{
		"parentRef":      map[string]interface{}{"name": "opea-ingress", "namespace": "gx", "sectionName": "https"},
		"controllerName": "istio.io/gateway-controller", "conditions": accepted,
	}}})
	otherRoute := unstructuredObject("gateway.networking.k8s.io/v1", "HTTPRoute", "elsewhere", "other", map[string]interface{}{
		"parentRefs": []interface{}{map[string]interface{}{"name": "other"}},
		"rules":      []interface{}{map[string]interface{}{"backendRefs": []interface{}{map[string]interface{}{"name": "ui", "port": int64(80)}}}},
	})
	grant := unstructuredObject("gateway.networking.k8s.io/v1beta1", "ReferenceGrant", "certs", "gx-gateways", map[string]interface{}{
		"from": []interface{}{map[string]interface{}{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "gx"}},
		"to":   []interface{}{map[string]interface{}{"group": "", "kind": "Secret"}},
	})
	secret := func(ns, name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")}}
	}
	return cluster{
		gatewayAPI: true,
		kube:       []runtime.Object{secret("certs", "chatqna-tls"), secret("elsewhere", "other-tls"), secret("gx", "chatqna-tls")},
		dynamic:    []runtime.Object{class, gw, other, route, otherRoute, grant},
	}
}

// Read lists each Gateway API resource once, in every namespace, decodes
// objects with their status, and reads only the Secrets the application's
// HTTPS listeners name, where they name them.
func TestReadGatewayAPIIngress(t *testing.T) {
	clients, kube, _ := gatewayAPICluster().clients(t)
	s, err := Read(context.Background(), clients, ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	if s.APIs.GatewayAPI != "v1" || len(s.GatewayClasses) != 1 || len(s.GatewayAPIGateways) != 2 || len(s.HTTPRoutes) != 2 || len(s.ReferenceGrants) != 1 {
		t.Fatalf("read %d classes, %d Gateways, %d HTTPRoutes, %d ReferenceGrants (API %q)",
			len(s.GatewayClasses), len(s.GatewayAPIGateways), len(s.HTTPRoutes), len(s.ReferenceGrants), s.APIs.GatewayAPI)
	}
	gw := s.GatewayAPIGateway("gx", "opea-ingress")
	if gw == nil || gw.Address() != "opea-ingress-istio.gx.svc.cluster.local" || !gatewayapi.IsTrue(gw.Status.Conditions, "Accepted", 0) ||
		gw.ListenerStatus("https") == nil {
		t.Errorf("Gateway read without its status: %+v", gw)
	}
	if st := s.HTTPRoutes[0].Status.Parents; len(st) != 1 || st[0].ControllerName != "istio.io/gateway-controller" {
		t.Errorf("HTTPRoute status: %+v", st)
	}
	var secrets []string
	for k := range s.Secrets {
		secrets = append(secrets, k)
	}
	if diff := cmp.Diff([]string{"certs/chatqna-tls"}, secrets); diff != "" {
		t.Errorf("Secrets read (-want +got):\n%s", diff)
	}
	if len(kube.Actions()) == 0 {
		t.Fatal("no request recorded")
	}
	lists := map[string]int{}
	for _, a := range clients.Dynamic.(*dynamicfake.FakeDynamicClient).Actions() {
		if a.GetVerb() != "list" || a.GetResource().Group != gatewayapi.Group {
			continue
		}
		if a.GetNamespace() != "" {
			t.Errorf("%s listed in namespace %s, not in every namespace at once", a.GetResource().Resource, a.GetNamespace())
		}
		lists[a.GetResource().Resource]++
	}
	if diff := cmp.Diff(map[string]int{"gatewayclasses": 1, "gateways": 1, "httproutes": 1, "referencegrants": 1}, lists); diff != "" {
		t.Errorf("Gateway API lists (-want +got):\n%s", diff)
	}

	v := snapshot.NewScope(s)
	if classic, api := v.IngressInUse(); classic || !api {
		t.Errorf("ingress in use: classic %v, Gateway API %v", classic, api)
	}
	if len(v.APITLSListeners()) != 1 || v.APITLSListeners()[0].String() != "Gateway gx/opea-ingress listener https" {
		t.Errorf("the application's TLS listeners: %v", v.APITLSListeners())
	}
	if https, plain := guessAddresses(v); https != "opea-ingress-istio.gx.svc.cluster.local:443" || plain != "opea-ingress-istio.gx.svc.cluster.local:80" {
		t.Errorf("guessed probe addresses %q, %q", https, plain)
	}
}

// A user who may not list the Gateway API's objects: each refused list is
// recorded once, and the checks that need them are unknown, not skipped.
func TestReadGatewayAPIForbidden(t *testing.T) {
	clients, _, _ := gatewayAPICluster().clients(t)
	forbid(&clients.Dynamic.(*dynamicfake.FakeDynamicClient).Fake, func(a k8stesting.Action) bool {
		return a.GetResource().Group == gatewayapi.Group
	})
	s, err := Read(context.Background(), clients, ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatalf("Read stopped: %v", err)
	}
	all := func(resource string) snapshot.Access {
		return snapshot.Access{Verb: "list", Group: gatewayapi.Group, Resource: resource, AllNamespaces: true}
	}
	// GatewayClasses have no namespace.
	classes := snapshot.Access{Verb: "list", Group: gatewayapi.Group, Resource: "gatewayclasses"}
	want := []snapshot.Access{classes, all("gateways"), all("httproutes"), all("referencegrants")}
	if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
		t.Errorf("refused requests (-want +got):\n%s", diff)
	}
	var unread []string
	for in := range s.Unread {
		unread = append(unread, string(in))
	}
	sort.Strings(unread)
	if diff := cmp.Diff([]string{"gatewayclasses", "gateways.gateway.networking.k8s.io", "httproutes", "referencegrants"}, unread); diff != "" {
		t.Errorf("unread inputs (-want +got):\n%s", diff)
	}
	for _, o := range check.Run(s) {
		if (o.Ingress == check.GatewayAPIIngress || o.ID == "ingress.gateway-found") && o.Status != check.Unknown {
			t.Errorf("%s = %s %q, want unknown", o.ID, o.Status, o.Message)
		}
		if o.Ingress == check.ClassicIngress {
			t.Errorf("%s ran with no classic ingress found", o.ID)
		}
	}
}
