package owned

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

const (
	apiGatewayRef = "gateway.gateway.networking.k8s.io/opea-ingress in chatqna"
	routeRef      = "httproute.gateway.networking.k8s.io/opea-ingress in chatqna"
	redirectRef   = "httproute.gateway.networking.k8s.io/opea-ingress-redirect in chatqna"
)

func apiGateway(namespace string, opts ...option) *unstructured.Unstructured {
	return object("gateway.networking.k8s.io/v1", "Gateway", namespace, "opea-ingress", opts...)
}

func httpRoute(namespace, name string, opts ...option) *unstructured.Unstructured {
	return object("gateway.networking.k8s.io/v1", "HTTPRoute", namespace, name, opts...)
}

// gatewayAPIRouting is what secure --gateway-api creates in the application
// namespace besides the certificate chain.
func gatewayAPIRouting(extra map[string][]option) []*unstructured.Unstructured {
	with := func(name string) []option { return append([]option{ours(app)}, extra[name]...) }
	return []*unstructured.Unstructured{
		apiGateway(app, with("gateway")...),
		httpRoute(app, "opea-ingress", with("httproute/opea-ingress")...),
		httpRoute(app, "opea-ingress-redirect", with("httproute/opea-ingress-redirect")...),
		peerAuthentication(with("peerauthentication")...),
	}
}

func TestFindGatewayAPI(t *testing.T) {
	enrolled := namespace(app, ambient(ownership.ManagedByValue, applyOp))
	withGatewayAPI := discover.APIs{Networking: "v1", Security: "v1", CertManager: "v1", GatewayAPI: "v1"}
	inApp := func(name string) string { return name + " in chatqna" }
	chainInApp := []string{
		inApp("certificate.cert-manager.io/opea-chatqna-ca"), inApp("certificate.cert-manager.io/opea-chatqna-tls"),
		inApp("issuer.cert-manager.io/opea-chatqna-ca"), inApp("issuer.cert-manager.io/opea-chatqna-selfsigned"),
		inApp("secret/opea-chatqna-ca"), inApp("secret/opea-chatqna-tls"),
	}
	// Istio's Deployment for the Gateway is not secure's: the Gateway owns it.
	deployed := object("v1", "Secret", app, "istio-ca-root-cert")
	for _, tc := range []struct {
		name string
		objs []*unstructured.Unstructured
		apis discover.APIs
		want result
	}{
		{
			name: "the Gateway, its routes and the certificate chain in the application namespace are removed, routes first",
			objs: objects(one(enrolled, deployed), gatewayAPIRouting(nil), chain(app, nil),
				one(apiGateway("rag", ours("rag")), httpRoute("rag", "opea-ingress", ours("rag")))),
			apis: withGatewayAPI,
			want: result{
				Remove:          append([]string{routeRef, redirectRef, apiGatewayRef, paRef}, chainInApp...),
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "both modes' objects, after secure ran in each, are all removed",
			objs: objects(one(enrolled), routing(nil), gatewayAPIRouting(nil)[:3]),
			apis: withGatewayAPI,
			want: result{
				Remove:          []string{vsRef, gwRef, routeRef, redirectRef, apiGatewayRef, paRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "the Gateway API not served: nothing of it is looked for",
			objs: objects(one(enrolled), one(peerAuthentication(ours(app)))),
			apis: allAPIs,
			want: result{
				Remove:          []string{paRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
			},
		},
		{
			name: "an adopted Gateway stays; routes of the same names that are not secure's are left alone",
			objs: objects(one(enrolled,
				apiGateway(app, ours(app), adoptedObject),
				httpRoute(app, "opea-ingress", label(ownership.ManagedByLabel, "helm")),
				httpRoute(app, "opea-ingress-redirect", ours("rag")),
				httpRoute(app, "team-route"))),
			apis: withGatewayAPI,
			want: result{
				Keep:            []string{apiGatewayRef},
				Namespace:       app,
				NamespaceObject: app,
				Managers:        secureManager,
				LeftAlone: []Note{
					{"httproute.gateway.networking.k8s.io/opea-ingress", notBy},
					{"httproute.gateway.networking.k8s.io/opea-ingress-redirect", `created by kubectl opea for namespace "rag", not chatqna`},
				},
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client := newClient(t, tc.objs, nil)
			found, err := Find(context.Background(), client, Options{AppNamespace: app, FieldManager: ownership.ManagedByValue, APIs: tc.apis})
			if err != nil {
				t.Fatalf("Find: %v", err)
			}
			if diff := cmp.Diff(tc.want, summarize(found)); diff != "" {
				t.Errorf("Find (-want +got):\n%s", diff)
			}
			for _, a := range client.Actions() {
				if a.GetResource().Group == gatewayapi.Group && tc.apis.GatewayAPI == "" {
					t.Errorf("%s %s although the Gateway API is not served", a.GetVerb(), a.GetResource().Resource)
				}
			}
		})
	}
}

// What unsecure would do (its dry run) names the Gateway API objects as
// kubectl does, routes before their Gateway.
func TestPlanGatewayAPI(t *testing.T) {
	client := newClient(t, objects(one(namespace(app)), gatewayAPIRouting(nil)), nil)
	found, err := Find(context.Background(), client, Options{AppNamespace: app, FieldManager: ownership.ManagedByValue,
		APIs: discover.APIs{Security: "v1", GatewayAPI: "v1"}})
	if err != nil {
		t.Fatal(err)
	}
	want := []Step{
		{"httproute.gateway.networking.k8s.io/opea-ingress", "deleted"},
		{"httproute.gateway.networking.k8s.io/opea-ingress-redirect", "deleted"},
		{"gateway.gateway.networking.k8s.io/opea-ingress", "deleted"},
		{"peerauthentication.security.istio.io/default", "deleted"},
	}
	if diff := cmp.Diff(want, found.Plan()); diff != "" {
		t.Errorf("Plan() (-want +got):\n%s", diff)
	}
}
