package secure

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// Every precondition whose read fails refuses: a server error, a timeout
// or a refused read is not "absent", and going ahead on it could write a
// second ingress, overwrite a Secret of the user's or leave a lockdown
// unrendered. NotFound alone means absent.
func TestPlanRefusesWhenAPreconditionCannotBeRead(t *testing.T) {
	failures := map[string]func(schema.GroupResource) error{
		"server error": func(schema.GroupResource) error { return apierrors.NewInternalError(errors.New("injected")) },
		"timeout":      func(schema.GroupResource) error { return apierrors.NewTimeoutError("injected", 1) },
		"forbidden": func(gr schema.GroupResource) error {
			return apierrors.NewForbidden(gr, "", errors.New("RBAC"))
		},
	}
	for _, tc := range []struct {
		name       string
		gatewayAPI bool
		// verb, group and resource of the read that fails.
		verb, group, resource string
		want                  string
	}{
		{name: "the Gateway API Gateway of the other mode", verb: "get", group: gatewayapi.Group, resource: "gateways",
			want: "could not check that namespace chatqna is not secured through its own Gateway API gateway already"},
		{name: "the Istio Gateway of the other mode", gatewayAPI: true, verb: "get", group: "networking.istio.io", resource: "gateways",
			want: "could not check that namespace chatqna is not secured through an Istio ingress gateway already"},
		{name: "other Gateways on the gateway pods", verb: "list", group: "networking.istio.io", resource: "gateways",
			want: "could not check that no other Gateway serves the same hosts on the gateway pods"},
		{name: "the GatewayClass", gatewayAPI: true, verb: "get", group: gatewayapi.Group, resource: "gatewayclasses",
			want: "could not check that GatewayClass istio exists and is accepted"},
		{name: "PeerAuthentications", verb: "list", group: "security.istio.io", resource: "peerauthentications",
			want: "could not check that no PeerAuthentication in namespace chatqna overrides STRICT"},
		{name: "an earlier lockdown", verb: "list", group: "security.istio.io", resource: "authorizationpolicies",
			want: "could not check for a lockdown an earlier secure --lockdown made in namespace chatqna"},
		{name: "a Secret in the way", verb: "get", resource: "secrets",
			want: "could not check that no Secret of yours is named opea-chatqna-tls in namespace istio-ingress"},
		{name: "the application namespace", verb: "get", resource: "namespaces",
			want: "could not check that namespace chatqna exists"},
		{name: "the entry Service", verb: "list", resource: "services",
			want: "could not check the application's entry Service"},
	} {
		for failure, fail := range failures {
			t.Run(tc.name+"/"+failure, func(t *testing.T) {
				c := newFakeCluster(t, "v1", classicGateway(), classes("v1", gatewayClass("istio", accepted("True", "Accepted", "")))).servePolicies()
				req := gatewayAPIRequest()
				if !tc.gatewayAPI {
					req.GatewayAPI, req.GatewayClass = false, ""
				}
				// Without the fault the plan goes ahead.
				if _, _, err := c.plan(req); err != nil {
					t.Fatalf("plan without a fault: %v", err)
				}
				reactor := func(a k8stesting.Action) (bool, runtime.Object, error) {
					gr := a.GetResource().GroupResource()
					if gr.Group != tc.group || a.GetVerb() != tc.verb {
						return false, nil, nil
					}
					return true, nil, fail(gr)
				}
				c.Kube.PrependReactor(tc.verb, tc.resource, reactor)
				c.Dynamic.PrependReactor(tc.verb, tc.resource, reactor)
				plan, _, err := c.plan(req)
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("plan with the %s failing: %v\nwant a problem with %q", tc.resource, err, tc.want)
				}
				if plan != nil {
					t.Error("a plan came back with the problem")
				}
				if !strings.Contains(err.Error(), "fix: ") {
					t.Errorf("no fix: %v", err)
				}
				if failure == "forbidden" && !strings.Contains(err.Error(), "you may not "+tc.verb+" ") {
					t.Errorf("a refused read does not name the request: %v", err)
				}
			})
		}
	}
}
