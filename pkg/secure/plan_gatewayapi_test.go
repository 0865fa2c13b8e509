package secure

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// fakeCluster is a cluster with namespace chatqna and its entry Service
// chatqna-nginx, serving Istio's APIs (AuthorizationPolicy only after
// servePolicies) and cert-manager's, and the Gateway API in gatewayAPI
// (none: not served). Typed objects go to the Kubernetes clientset,
// unstructured ones to the dynamic client.
type fakeCluster struct{ *clientstest.Cluster }

func newFakeCluster(t *testing.T, gatewayAPI string, typed []runtime.Object, objs []*unstructured.Unstructured) fakeCluster {
	t.Helper()
	entry := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-nginx"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "nginx", Port: 80}}}}
	c := clientstest.New(t, append([]runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}}, entry}, typed...)...)
	c.AllowAccessReviews().StopServingResources(authorizationPoliciesGVR)
	if gatewayAPI != "" {
		c.ServeGatewayAPI(gatewayAPI)
	}
	for _, u := range objs {
		if err := c.Add(u); err != nil {
			t.Fatal(err)
		}
	}
	return fakeCluster{c}
}

func (c fakeCluster) plan(req Request) (*Plan, string, error) {
	var notices bytes.Buffer
	plan, err := NewPlan(context.Background(), c.Getter(nil), req, &notices)
	return plan, notices.String(), err
}

// readsDeployments reports whether the plan looked for a classic gateway.
func (c fakeCluster) readsDeployments() bool {
	for _, a := range c.Kube.Actions() {
		if a.GetResource().Resource == "deployments" {
			return true
		}
	}
	return false
}

// gatewayClass is a GatewayClass of Istio's controller with conds.
func gatewayClass(name string, conds ...interface{}) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
		"spec":   map[string]interface{}{"controllerName": "istio.io/gateway-controller"},
		"status": map[string]interface{}{"conditions": conds},
	}}
	u.SetName(name)
	u.SetGeneration(1)
	return u
}

func accepted(status, reason, message string) interface{} {
	return map[string]interface{}{"type": "Accepted", "status": status, "reason": reason, "message": message, "observedGeneration": int64(1)}
}

// classes are GatewayClasses served in version v.
func classes(v string, objs ...*unstructured.Unstructured) []*unstructured.Unstructured {
	for _, u := range objs {
		u.SetAPIVersion(gatewayapi.Group + "/" + v)
	}
	return objs
}

func gatewayAPIRequest() Request {
	return Request{Namespace: "chatqna", Hosts: []string{"chatqna.example.com"}, Enroll: true, HTTPRedirect: true,
		IssuerKind: "Issuer", GatewayAPI: true, GatewayClass: gatewayapi.IstioClass}
}

func TestGatewayAPIPlan(t *testing.T) {
	for _, version := range gatewayapi.Versions {
		t.Run(version, func(t *testing.T) {
			c := newFakeCluster(t, version, nil, classes(version, gatewayClass("istio", accepted("True", "Accepted", "Handled by Istio controller"))))
			req := gatewayAPIRequest()
			req.GatewayServiceType = "ClusterIP"
			plan, notices, err := c.plan(req)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if notices != "" {
				t.Errorf("notices: %q", notices)
			}
			var got []string
			for _, o := range plan.Objects {
				got = append(got, o.GetAPIVersion()+" "+o.GetKind()+" "+o.GetNamespace()+"/"+o.GetName())
			}
			want := []string{
				"v1 Namespace /chatqna",
				"security.istio.io/v1 PeerAuthentication chatqna/default",
				"cert-manager.io/v1 Issuer chatqna/opea-chatqna-selfsigned",
				"cert-manager.io/v1 Certificate chatqna/opea-chatqna-ca",
				"cert-manager.io/v1 Issuer chatqna/opea-chatqna-ca",
				"cert-manager.io/v1 Certificate chatqna/opea-chatqna-tls",
				"gateway.networking.k8s.io/" + version + " Gateway chatqna/opea-ingress",
				"gateway.networking.k8s.io/" + version + " HTTPRoute chatqna/opea-ingress",
				"gateway.networking.k8s.io/" + version + " HTTPRoute chatqna/opea-ingress-redirect",
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("objects (-want +got):\n%s", diff)
			}
			if plan.Params.GatewayNamespace != "chatqna" || plan.Params.GatewayAPIVersion != version || plan.Params.GatewayServiceType != "ClusterIP" {
				t.Errorf("params %+v", plan.Params)
			}
			if !cmp.Equal(plan.Gateway, discover.Gateway{}) {
				t.Errorf("a classic gateway in the plan: %+v", plan.Gateway)
			}
			if c.readsDeployments() {
				t.Error("the plan looked for a classic ingress gateway")
			}
		})
	}
}

// Every precondition of the Gateway API refuses with its own message, and
// with the other problems found.
func TestGatewayAPIPlanRefuses(t *testing.T) {
	istioAccepted := gatewayClass("istio", accepted("True", "Accepted", "Handled by Istio controller"))
	for _, tc := range []struct {
		name    string
		served  string
		typed   []runtime.Object
		classes []*unstructured.Unstructured
		modify  func(*Request)
		want    []string // each a problem's What, then its Fix
	}{
		{
			name: "the Gateway API is not served",
			want: []string{
				"the Kubernetes Gateway API gateway.networking.k8s.io (GatewayClass, Gateway and HTTPRoute, v1 or v1beta1) is not served: its CRDs are not installed",
				"kubectl apply --server-side -f https://github.com/kubernetes-sigs/gateway-api/releases/download/" + GatewayAPIRelease + "/standard-install.yaml, or leave out --gateway-api to use an Istio ingress gateway",
			},
		},
		{
			name:   "no GatewayClass istio",
			served: "v1",
			want: []string{
				`GatewayClass "istio" does not exist: istiod creates it when it handles the Gateway API`,
				"check that istiod runs (kubectl get pods -n istio-system -l app=istiod) and that its PILOT_ENABLE_GATEWAY_API is not false; if it started before the Gateway API CRDs were installed, restart it (kubectl rollout restart deployment/istiod -n istio-system)",
			},
		},
		{
			name:    "--gateway-class names no class",
			served:  "v1",
			classes: []*unstructured.Unstructured{istioAccepted},
			modify:  func(r *Request) { r.GatewayClass = "envoy" },
			want: []string{
				`GatewayClass "envoy" does not exist`,
				"list the classes with 'kubectl get gatewayclasses' and pass one with --gateway-class (istio is Istio's own)",
			},
		},
		{
			name:    "a class its controller refused",
			served:  "v1",
			classes: []*unstructured.Unstructured{gatewayClass("istio", accepted("False", "InvalidParameters", "parametersRef not found"))},
			want: []string{
				"GatewayClass istio (controllerName istio.io/gateway-controller) is not accepted, so no controller would deploy a gateway for it: Accepted False (InvalidParameters): parametersRef not found",
				"check that the controller runs: for Istio, istiod (kubectl get pods -n istio-system -l app=istiod) with PILOT_ENABLE_GATEWAY_API not false; or pass another --gateway-class (kubectl get gatewayclasses)",
			},
		},
		{
			name:   "a class of another controller (Istio's waypoints)",
			served: "v1",
			classes: []*unstructured.Unstructured{func() *unstructured.Unstructured {
				u := gatewayClass("istio-waypoint", accepted("True", "Accepted", "Handled by Istio controller"))
				_ = unstructured.SetNestedField(u.Object, "istio.io/mesh-controller", "spec", "controllerName")
				return u
			}()},
			modify: func(r *Request) { r.GatewayClass = "istio-waypoint" },
			want: []string{
				"GatewayClass istio-waypoint is handled by controller istio.io/mesh-controller, not Istio's gateway controller istio.io/gateway-controller",
				"pass --gateway-class with a class of controllerName istio.io/gateway-controller (istio, the default)",
			},
		},
		{
			name:    "a class nobody accepted",
			served:  "v1",
			classes: []*unstructured.Unstructured{gatewayClass("istio")},
			want: []string{
				"GatewayClass istio (controllerName istio.io/gateway-controller) is not accepted, so no controller would deploy a gateway for it: no Accepted condition: no controller wrote its status",
			},
		},
		{
			name:    "--tls-secret is looked for in the application namespace",
			served:  "v1",
			classes: []*unstructured.Unstructured{istioAccepted},
			modify:  func(r *Request) { r.TLSSecret = "mine" },
			want: []string{
				"Secret chatqna/mine does not exist (the Gateway's certificateRefs name a Secret in its own namespace, the application's)",
				"kubectl create secret tls mine -n chatqna --cert=tls.crt --key=tls.key",
			},
		},
		{
			name:    "a Secret of the user's in the application namespace has the name of secure's",
			served:  "v1",
			typed:   []runtime.Object{&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "opea-chatqna-tls"}}},
			classes: []*unstructured.Unstructured{istioAccepted},
			want: []string{
				"Secret chatqna/opea-chatqna-tls exists and was not written for kubectl opea secure: cert-manager would overwrite it, and unsecure would delete it",
			},
		},
		{
			name:    "the namespace is missing, with the class",
			served:  "v1",
			classes: []*unstructured.Unstructured{gatewayClass("istio")},
			modify:  func(r *Request) { r.Namespace = "chatqna-prod" },
			want: []string{
				`namespace "chatqna-prod" does not exist`,
				"install the application first, or name its namespace with -n",
				"GatewayClass istio (controllerName istio.io/gateway-controller) is not accepted",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []*unstructured.Unstructured
			if tc.served != "" {
				objs = classes(tc.served, tc.classes...)
			}
			c := newFakeCluster(t, tc.served, tc.typed, objs)
			req := gatewayAPIRequest()
			if tc.modify != nil {
				tc.modify(&req)
			}
			plan, _, err := c.plan(req)
			var list problems.List
			if !errors.As(err, &list) {
				t.Fatalf("plan: %v, %v; want problems", plan, err)
			}
			text := err.Error()
			for _, want := range tc.want {
				if !strings.Contains(text, want) {
					t.Errorf("problems:\n%s\nlack %q", text, want)
				}
			}
			if c.readsDeployments() {
				t.Error("the plan looked for a classic ingress gateway")
			}
		})
	}
}

// Without --gateway-api and without a classic ingress gateway, a cluster
// where Istio's GatewayClass exists is told about --gateway-api.
func TestClassicPlanSuggestsTheGatewayAPI(t *testing.T) {
	const suggestion = "pass --gateway-api to have Istio deploy a gateway for this application in namespace chatqna (GatewayClass istio exists); or install one (helm install istio-ingress istio/gateway -n istio-ingress --create-namespace)"
	classic := Request{Namespace: "chatqna", Hosts: []string{"chatqna.example.com"}, Enroll: true, HTTPRedirect: true, IssuerKind: "Issuer"}
	for _, tc := range []struct {
		name    string
		served  string
		classes []*unstructured.Unstructured
		typed   []runtime.Object
		modify  func(*Request)
		want    string
		notWant string
	}{
		{name: "the istio class exists", served: "v1", classes: []*unstructured.Unstructured{gatewayClass("istio")}, want: suggestion},
		{name: "v1beta1 only", served: "v1beta1", classes: []*unstructured.Unstructured{gatewayClass("istio")}, want: suggestion},
		{name: "no istio class", served: "v1", classes: []*unstructured.Unstructured{gatewayClass("envoy")}, notWant: "--gateway-api"},
		{name: "the Gateway API not served", notWant: "--gateway-api"},
		{
			name: "--gateway-namespace names a namespace without a gateway", served: "v1", classes: []*unstructured.Unstructured{gatewayClass("istio")},
			typed:  []runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-ingress"}}},
			modify: func(r *Request) { r.GatewayNamespace = "istio-ingress" },
			want:   "pass --gateway-api instead of --gateway-namespace to have Istio deploy",
		},
		{
			name: "a classic gateway exists", served: "v1", classes: []*unstructured.Unstructured{gatewayClass("istio")},
			typed: []runtime.Object{&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "istio-ingress"},
				Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"istio": "ingress"}}}}}},
			// Its Service is missing: another problem, and no suggestion.
			want: "no Service in namespace istio-ingress selects the pods of ingress gateway istio-ingress", notWant: "--gateway-api",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []*unstructured.Unstructured
			if tc.served != "" {
				objs = classes(tc.served, tc.classes...)
			}
			c := newFakeCluster(t, tc.served, tc.typed, objs)
			req := classic
			if tc.modify != nil {
				tc.modify(&req)
			}
			_, _, err := c.plan(req)
			if err == nil {
				t.Fatal("planned without an ingress gateway")
			}
			if tc.want != "" && !strings.Contains(err.Error(), tc.want) {
				t.Errorf("problems:\n%s\nlack %q", err, tc.want)
			}
			if tc.notWant != "" && strings.Contains(err.Error(), tc.notWant) {
				t.Errorf("problems:\n%s\nmention %q", err, tc.notWant)
			}
		})
	}
}

// The plan's objects are what desired renders for the discovered facts.
func TestGatewayAPIPlanMatchesDesired(t *testing.T) {
	c := newFakeCluster(t, "v1", nil, classes("v1", gatewayClass("istio", accepted("True", "Accepted", ""))))
	req := gatewayAPIRequest()
	req.HTTPRedirect, req.Issuer, req.IssuerKind = false, "corp", "ClusterIssuer"
	corp := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "cert-manager.io/v1", "kind": "ClusterIssuer",
		"spec": map[string]interface{}{"ca": map[string]interface{}{"secretName": "corp"}}}}
	corp.SetName("corp")
	if err := c.Add(corp); err != nil {
		t.Fatal(err)
	}
	plan, _, err := c.plan(req)
	if err != nil {
		t.Fatal(err)
	}
	want, err := desired.Objects(desired.Params{
		AppNamespace: "chatqna", GatewayNamespace: "chatqna", Hosts: req.Hosts, Service: "chatqna-nginx", ServicePort: 80,
		Enroll: true, Certificates: desired.ExistingIssuer, IssuerName: "corp", IssuerKind: "ClusterIssuer",
		NetworkingVersion: "v1", SecurityVersion: "v1", GatewayAPIVersion: "v1", GatewayClass: "istio",
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, plan.Objects); diff != "" {
		t.Errorf("objects (-want +got):\n%s", diff)
	}
}

// --http-redirect=false on a later secure --gateway-api removes the
// redirect HTTPRoute secure made; one secure did not make stays.
func TestGatewayAPIPlanRemovesTheRedirectRouteNoLongerWanted(t *testing.T) {
	for _, tc := range []struct {
		name       string
		labels     map[string]string
		wantRemove []string
	}{
		{"made by secure", ownership.Labels("chatqna"), []string{"opea-ingress-redirect"}},
		{"someone else's", map[string]string{"team": "web"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			route := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute"}}
			route.SetNamespace("chatqna")
			route.SetName("opea-ingress-redirect")
			route.SetLabels(tc.labels)
			// The route to the application is secure's too, and stays.
			toApp := route.DeepCopy()
			toApp.SetName("opea-ingress")
			toApp.SetLabels(ownership.Labels("chatqna"))
			objs := classes("v1", gatewayClass("istio", accepted("True", "Accepted", "")))
			objs = append(objs, route, toApp)
			c := newFakeCluster(t, "v1", nil, objs)
			req := gatewayAPIRequest()
			req.HTTPRedirect = false
			plan, _, err := c.plan(req)
			if err != nil {
				t.Fatal(err)
			}
			var removed []string
			if plan.Unlock != nil {
				for _, u := range plan.Unlock.Remove {
					removed = append(removed, u.GetName())
				}
			}
			if diff := cmp.Diff(tc.wantRemove, removed); diff != "" {
				t.Errorf("removed (-want +got):\n%s", diff)
			}
		})
	}
}

// Securing in one mode while secure's Gateway of the other is in place
// would leave two ingresses serving the hosts.
func TestPlanRefusesTheOtherModesGateway(t *testing.T) {
	labelled := func(u *unstructured.Unstructured, app string) *unstructured.Unstructured {
		u.SetLabels(ownership.Labels(app))
		return u
	}
	istioGateway := func(app string) []*unstructured.Unstructured {
		return []*unstructured.Unstructured{
			gatewayClass("istio", accepted("True", "Accepted", "")),
			labelled(gatewayObject("chatqna", "opea-ingress", time.Hour, map[string]interface{}{"istio": "ingress"}, 443, "chatqna.example.com"), app),
		}
	}
	apiGateway := func(app string) []*unstructured.Unstructured {
		u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway"}}
		u.SetNamespace("chatqna")
		u.SetName("opea-ingress")
		return []*unstructured.Unstructured{labelled(u, app)}
	}
	const (
		classic = "namespace chatqna is secured through an Istio ingress gateway already (Gateway chatqna/opea-ingress of networking.istio.io, applied by secure without --gateway-api): both ingresses would serve the hosts\n" +
			"  fix: remove that ingress first (kubectl opea unsecure -n chatqna --keep-mtls), then run this command again"
		own = "namespace chatqna is secured through its own Gateway API gateway already (Gateway chatqna/opea-ingress of gateway.networking.k8s.io, applied by secure with --gateway-api)"
	)
	for _, tc := range []struct {
		name       string
		gatewayAPI bool
		objs       []*unstructured.Unstructured
		want       string
	}{
		{name: "--gateway-api over the classic ingress", gatewayAPI: true, objs: istioGateway("chatqna"), want: classic},
		{name: "--gateway-api over another's Istio Gateway of that name", gatewayAPI: true, objs: istioGateway("rag")},
		{name: "classic over the Gateway API ingress", objs: apiGateway("chatqna"), want: own},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, "v1", nil, tc.objs)
			req := gatewayAPIRequest()
			req.GatewayAPI = tc.gatewayAPI
			_, _, err := c.plan(req)
			if tc.want == "" {
				if err != nil {
					t.Errorf("plan: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("problems:\n%v\nlack %q", err, tc.want)
			}
		})
	}
}
