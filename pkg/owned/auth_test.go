package owned

import (
	"context"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// authPolicies are secure --auth jwt's policies for application appNS on
// the shared gateway in namespace gw.
func authPolicies(gw, appNS string, opts ...option) []*unstructured.Unstructured {
	names := ownership.NamesFor(appNS)
	with := append([]option{ours(appNS)}, opts...)
	return []*unstructured.Unstructured{
		object("security.istio.io/v1", "RequestAuthentication", gw, names.RequestAuthentication, with...),
		object("security.istio.io/v1", "AuthorizationPolicy", gw, names.RequireJWT, with...),
	}
}

const (
	requireJWTRef = "authorizationpolicy.security.istio.io/opea-chatqna-require-jwt in istio-ingress"
	jwtRef        = "requestauthentication.security.istio.io/opea-chatqna-jwt in istio-ingress"
)

// unsecure removes the --auth policies of its application from the shared
// gateway, after the routes, and never another application's there, nor a
// user's policy with secure's name but not its labels.
func TestFindAuthPoliciesOnASharedGateway(t *testing.T) {
	apis := discover.APIs{Networking: "v1", Security: "v1", AuthorizationPolicies: "v1", RequestAuthentications: "v1"}
	objs := objects(one(namespace(app), namespace("istio-ingress"), namespace("rag")), routing(nil),
		authPolicies("istio-ingress", app), authPolicies("istio-ingress", "rag"),
		one(object("security.istio.io/v1", "AuthorizationPolicy", "istio-ingress", "opea-chatqna-ext-authz")))
	for _, gatewayNamespace := range []string{"istio-ingress", ""} {
		for _, keepMTLS := range []bool{false, true} {
			found, err := Find(context.Background(), newClient(t, objs, nil), Options{AppNamespace: app, GatewayNamespace: gatewayNamespace, KeepMTLS: keepMTLS, FieldManager: ownership.ManagedByValue, APIs: apis})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{vsRef, gwRef, paRef, requireJWTRef, jwtRef}
			if keepMTLS {
				want = []string{vsRef, gwRef, requireJWTRef, jwtRef}
			}
			if diff := cmp.Diff(want, summarize(found).Remove); diff != "" {
				t.Errorf("--gateway-namespace %q, --keep-mtls=%v: Remove (-want +got):\n%s", gatewayNamespace, keepMTLS, diff)
			}
		}
	}

	// secure --auth=none finds the same two, and only them.
	found, err := FindAuth(context.Background(), newClient(t, objs, nil), Options{AppNamespace: app, GatewayNamespace: "istio-ingress", FieldManager: ownership.ManagedByValue, APIs: apis})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(result{Remove: []string{requireJWTRef, jwtRef}, Managers: secureManager}, summarize(found)); diff != "" {
		t.Errorf("FindAuth (-want +got):\n%s", diff)
	}
}

// With the Gateway API the policies are in the application namespace, next
// to the Gateway: found once, whether or not the lockdown's search lists
// them too.
func TestFindAuthPoliciesNextToAGatewayAPIGateway(t *testing.T) {
	apis := discover.APIs{Security: "v1", AuthorizationPolicies: "v1", RequestAuthentications: "v1", GatewayAPI: "v1"}
	objs := objects(one(namespace(app)), authPolicies(app, app))
	for _, keepMTLS := range []bool{false, true} {
		found, err := Find(context.Background(), newClient(t, objs, nil), Options{AppNamespace: app, GatewayNamespace: app, KeepMTLS: keepMTLS, FieldManager: ownership.ManagedByValue, APIs: apis})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"authorizationpolicy.security.istio.io/opea-chatqna-require-jwt in chatqna", "requestauthentication.security.istio.io/opea-chatqna-jwt in chatqna"}
		if diff := cmp.Diff(want, summarize(found).Remove); diff != "" {
			t.Errorf("--keep-mtls=%v: Remove (-want +got):\n%s", keepMTLS, diff)
		}
	}
}

// The policy of --auth next to a Gateway API Gateway is no lockdown: a
// plain secure must not take it for one, nor --lockdown=false remove it.
func TestFindLockdownLeavesTheAuthPolicy(t *testing.T) {
	apis := discover.APIs{Security: "v1", AuthorizationPolicies: "v1", RequestAuthentications: "v1", GatewayAPI: "v1"}
	found, err := FindLockdown(context.Background(), newClient(t, objects(one(namespace(app)), authPolicies(app, app)), nil),
		Options{AppNamespace: app, FieldManager: ownership.ManagedByValue, APIs: apis})
	if err != nil {
		t.Fatal(err)
	}
	if !found.Nothing() {
		t.Errorf("FindLockdown found %v", summarize(found))
	}
}
