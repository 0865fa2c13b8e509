package secure

import (
	"slices"
	"testing"

	"github.com/opea-project/kubectl-opea/pkg/discover"
)

var unsecureRequests = map[string]UnsecureRequest{
	"searched, every API":          {AppNamespace: "chatqna", Search: true, GatewayNamespace: "istio-ingress", APIs: AllAPIs},
	"--gateway-namespace, --wait":  {AppNamespace: "chatqna", GatewayNamespace: "gw", Wait: true, APIs: AllAPIs},
	"--keep-mtls, no cert-manager": {AppNamespace: "chatqna", GatewayNamespace: "gw", KeepMTLS: true, APIs: discover.APIs{Networking: "v1", Security: "v1", AuthorizationPolicies: "v1"}},
	"gateway namespace not known":  {AppNamespace: "chatqna", Search: true, APIs: AllAPIs},
}

// The RBAC objects unsecure --print-rbac prints grant every permission
// unsecure's check asks about: they come from the same list.
func TestUnsecureRBACGrantsWhatTheCheckAsks(t *testing.T) {
	for name, r := range unsecureRequests {
		roles, clusterRole := UnsecureRBAC(r)
		asked := accessesOf(UnsecurePermissions(r), r.namespaceOf)
		if len(asked) == 0 {
			t.Fatalf("%s: the check asks nothing", name)
		}
		for _, a := range asked {
			granted := grants(clusterRole.Rules, a)
			for _, role := range roles {
				if role.Namespace == a.Namespace && !a.AllNamespaces {
					granted = granted || grants(role.Rules, a)
				}
			}
			if !granted {
				t.Errorf("%s: the check asks to %s, which the printed RBAC does not grant", name, a)
			}
		}
		for _, role := range roles {
			if role.Name != "kubectl-opea-unsecure-chatqna" || role.Namespace == "" {
				t.Errorf("%s: Role %s/%s", name, role.Namespace, role.Name)
			}
		}
	}
}

// What unsecure asks about follows its flags and the APIs served: no
// permission for what it keeps or cannot find, the lists of certificates
// in every namespace only when it searches them, get of what it deletes
// only for --wait, and the gateway namespace's only once it is known.
func TestUnsecurePermissionsFollowTheFlags(t *testing.T) {
	asked := func(name string) []string {
		r := unsecureRequests[name]
		return accessStrings(accessesOf(UnsecurePermissions(r), r.namespaceOf))
	}
	for _, tc := range []struct {
		request    string
		has, lacks []string
	}{
		{"searched, every API",
			[]string{"list secrets in every namespace", "delete secrets in namespace istio-ingress", `patch namespaces "chatqna"`,
				"list requestauthentications.security.istio.io in every namespace", "delete requestauthentications.security.istio.io in namespace istio-ingress",
				"list authorizationpolicies.security.istio.io in every namespace", "delete authorizationpolicies.security.istio.io in namespace istio-ingress",
				"delete httproutes.gateway.networking.k8s.io in namespace chatqna", "delete authorizationpolicies.security.istio.io in namespace chatqna"},
			[]string{"get virtualservices.networking.istio.io in namespace chatqna"}},
		{"--gateway-namespace, --wait",
			[]string{"list secrets in namespace gw", "get virtualservices.networking.istio.io in namespace chatqna", "get issuers.cert-manager.io in namespace gw"},
			[]string{"list secrets in every namespace", `get namespaces "gw"`}},
		// --keep-mtls keeps the lockdown, but removes the policies of
		// --auth with the ingress they guard (next to a Gateway API Gateway,
		// in the application namespace).
		{"--keep-mtls, no cert-manager",
			[]string{"delete gateways.networking.istio.io in namespace chatqna", `get namespaces "chatqna"`,
				"delete authorizationpolicies.security.istio.io in namespace chatqna", "delete authorizationpolicies.security.istio.io in namespace gw"},
			[]string{`patch namespaces "chatqna"`, "delete peerauthentications.security.istio.io in namespace chatqna",
				"list certificates.cert-manager.io in namespace gw", "delete httproutes.gateway.networking.k8s.io in namespace chatqna"}},
		{"gateway namespace not known",
			[]string{"list certificates.cert-manager.io in every namespace"},
			[]string{"delete certificates.cert-manager.io in namespace istio-ingress"}},
	} {
		got := asked(tc.request)
		for _, want := range tc.has {
			if !slices.Contains(got, want) {
				t.Errorf("%s: does not ask to %s; asks %v", tc.request, want, got)
			}
		}
		for _, not := range tc.lacks {
			if slices.Contains(got, not) {
				t.Errorf("%s: asks to %s", tc.request, not)
			}
		}
	}
}

func TestUnsecurePrintRBACCommandNamesTheFlagsThatChangeIt(t *testing.T) {
	for r, want := range map[UnsecureRequest]string{
		{AppNamespace: "a", Search: true}:                                      "kubectl opea unsecure --print-rbac -n a",
		{AppNamespace: "a", Search: true, GatewayNamespace: "istio-ingress"}:   "kubectl opea unsecure --print-rbac -n a",
		{AppNamespace: "a", Search: true, GatewayNamespace: "gw"}:              "kubectl opea unsecure --print-rbac -n a --gateway-namespace gw",
		{AppNamespace: "a", GatewayNamespace: "istio-ingress", KeepMTLS: true}: "kubectl opea unsecure --print-rbac -n a --gateway-namespace istio-ingress --keep-mtls",
	} {
		if got := r.PrintRBACCommand(); got != want {
			t.Errorf("%+v: %q, want %q", r, got, want)
		}
	}
}
