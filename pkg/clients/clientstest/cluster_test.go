package clientstest_test

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// The resource of a kind is the RESTMapper's, from the rows discovery
// lists: Istio's Gateway and the Gateway API's are told apart by group,
// and neither is stored as a guessed "gatewaies".
func TestKindsArePluralisedByTheMapper(t *testing.T) {
	for gvk, want := range map[schema.GroupVersionKind]schema.GroupVersionResource{
		{Group: "networking.istio.io", Version: "v1", Kind: "Gateway"}:           {Group: "networking.istio.io", Version: "v1", Resource: "gateways"},
		{Group: gatewayapi.Group, Version: "v1", Kind: "Gateway"}:                gatewayapi.Gateways("v1"),
		{Group: gatewayapi.Group, Version: "v1beta1", Kind: "ReferenceGrant"}:    gatewayapi.ReferenceGrants,
		{Group: "security.istio.io", Version: "v1", Kind: "AuthorizationPolicy"}: {Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"},
		{Group: certmanager.Group, Version: "v1", Kind: "ClusterIssuer"}:         certmanager.ClusterIssuers,
		{Version: "v1", Kind: "Namespace"}:                                       {Version: "v1", Resource: "namespaces"},
	} {
		got, err := clientstest.ResourceFor(gvk)
		if err != nil || got != want {
			t.Errorf("%s: %s, %v; want %s", gvk, got, err, want)
		}
	}
	if _, err := clientstest.ResourceFor(schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}); err == nil {
		t.Error("a kind the cluster does not know has a resource")
	}
}

func unstructuredObject(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": apiVersion, "kind": kind}}
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

// Each object goes where the clients look for it, and setting up records
// no request.
func TestObjectsAreListedWhereTheClientsLook(t *testing.T) {
	ctx := context.Background()
	c := clientstest.New(t,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}},
		unstructuredObject("networking.istio.io/v1", "Gateway", "chatqna", "opea-ingress"),
		unstructuredObject("gateway.networking.k8s.io/v1", "Gateway", "chatqna", "app-gateway"),
		&metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "ui-1"}},
	)
	if n := len(c.Requests()); n != 0 {
		t.Errorf("setting up recorded %d requests", n)
	}
	istioGateways, err := c.Dynamic.Resource(schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}).Namespace("chatqna").List(ctx, metav1.ListOptions{})
	if err != nil || len(istioGateways.Items) != 1 || istioGateways.Items[0].GetName() != "opea-ingress" {
		t.Errorf("Istio Gateways: %v, %v", istioGateways, err)
	}
	apiGateways, err := c.Dynamic.Resource(gatewayapi.Gateways("v1")).Namespace("chatqna").List(ctx, metav1.ListOptions{})
	if err != nil || len(apiGateways.Items) != 1 || apiGateways.Items[0].GetName() != "app-gateway" {
		t.Errorf("Gateway API Gateways: %v, %v", apiGateways, err)
	}
	pods, err := c.Metadata.Resource(schema.GroupVersionResource{Version: "v1", Resource: "pods"}).Namespace("chatqna").List(ctx, metav1.ListOptions{})
	if err != nil || len(pods.Items) != 1 {
		t.Errorf("pods' metadata: %v, %v", pods, err)
	}

	// A typed object replaces one of the same name.
	labelled := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna", Labels: map[string]string{"istio.io/dataplane-mode": "ambient"}}}
	if err := c.Add(labelled); err != nil {
		t.Fatal(err)
	}
	ns, err := c.Kube.CoreV1().Namespaces().Get(ctx, "chatqna", metav1.GetOptions{})
	if err != nil || ns.Labels["istio.io/dataplane-mode"] != "ambient" {
		t.Errorf("namespace chatqna: %v, %v", ns, err)
	}
	if err := c.Add(unstructuredObject("example.com/v1", "Widget", "chatqna", "w")); err == nil {
		t.Error("an object of an unknown kind was added")
	}
}

// Discovery serves Istio and cert-manager by default, and what the Serve
// methods say after; the Getter's REST mapper follows.
func TestDiscoveryServesWhatTheTestSays(t *testing.T) {
	c := clientstest.New(t)
	apis, err := discover.ServedAPIs(c.Discovery())
	if err != nil {
		t.Fatal(err)
	}
	if want := (discover.APIs{Networking: "v1", Security: "v1", AuthorizationPolicies: "v1", RequestAuthentications: "v1", CertManager: "v1"}); apis != want {
		t.Errorf("by default: %+v, want %+v", apis, want)
	}
	mapper, err := c.Getter(nil).ToRESTMapper()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mapper.RESTMapping(schema.GroupKind{Group: gatewayapi.Group, Kind: "HTTPRoute"}); err == nil {
		t.Error("the Gateway API is mapped though not served")
	}

	c.ServeGatewayAPI("v1beta1").StopServing(clientstest.CertManager).
		StopServingResources(schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"})
	if apis, _ = discover.ServedAPIs(c.Discovery()); apis != (discover.APIs{Networking: "v1", Security: "v1", RequestAuthentications: "v1", GatewayAPI: "v1beta1"}) {
		t.Errorf("after the changes: %+v", apis)
	}
	mapper, _ = c.Getter(nil).ToRESTMapper()
	if m, err := mapper.RESTMapping(schema.GroupKind{Group: gatewayapi.Group, Kind: "HTTPRoute"}); err != nil || m.Resource != gatewayapi.HTTPRoutes("v1beta1") {
		t.Errorf("HTTPRoute maps to %v, %v", m, err)
	}
}

// The Getter answers kubeconfig questions from an empty kubeconfig when
// given no flags: the namespace "default", no REST config.
func TestGetterWithoutFlags(t *testing.T) {
	g := clientstest.New(t).Getter(nil)
	if ns, _, err := g.ToRawKubeConfigLoader().Namespace(); ns != "default" || err != nil {
		t.Errorf("namespace %q, %v", ns, err)
	}
	if _, err := g.ToRESTConfig(); err == nil {
		t.Error("an empty kubeconfig gave a REST config")
	}
	if _, err := g.Kubernetes(); err != nil {
		t.Error(err)
	}
	if _, err := (&clientstest.Cluster{}).Getter(nil).Dynamic(); err == nil {
		t.Error("a cluster without a dynamic client handed one out")
	}
}

// The record lists every request, and the writes among them; an access
// review is a question, not a write.
func TestRecordsRequestsAndWrites(t *testing.T) {
	ctx := context.Background()
	c := clientstest.New(t, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}}).AllowAccessReviews()
	if _, err := c.Kube.CoreV1().Namespaces().Get(ctx, "chatqna", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	review, err := c.Kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{}, metav1.CreateOptions{})
	if err != nil || !review.Status.Allowed {
		t.Errorf("access review: %v, %v", review, err)
	}
	if _, err := c.Kube.CoreV1().Secrets("chatqna").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Dynamic.Resource(certmanager.Issuers).Namespace("chatqna").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := len(c.Requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
	if diff := cmp.Diff([]string{"create secrets in namespace chatqna"}, c.Writes()); diff != "" {
		t.Errorf("writes (-want +got):\n%s", diff)
	}
	c.ClearRequests()
	if n := len(c.Requests()); n != 0 {
		t.Errorf("%d requests after ClearRequests", n)
	}
}
