package secure

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

var permissionRequests = map[string]PermissionRequest{
	"classic, gateway searched":    {AppNamespace: "chatqna", SearchGateway: true, GatewayNamespace: "istio-ingress"},
	"classic, --gateway-namespace": {AppNamespace: "chatqna", GatewayNamespace: "gw"},
	"--gateway-api --lockdown":     {AppNamespace: "chatqna", GatewayAPI: true, Lockdown: true},
	"--tls-secret":                 {AppNamespace: "chatqna", GatewayNamespace: "gw", TLSSecret: true},
	"--issuer, ClusterIssuer":      {AppNamespace: "chatqna", GatewayNamespace: "gw", Issuer: true, ClusterIssuer: true},
}

// grants reports whether rules grant a, as the RBAC authorizer matches them.
func grants(rules []rbacv1.PolicyRule, a snapshot.Access) bool {
	for _, r := range rules {
		if slices.Contains(r.APIGroups, a.Group) && slices.Contains(r.Resources, a.Resource) && slices.Contains(r.Verbs, a.Verb) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, a.Name)) {
			return true
		}
	}
	return false
}

// The RBAC objects --print-rbac prints grant every permission the check
// asks about: they come from the same list.
func TestRBACGrantsWhatTheCheckAsks(t *testing.T) {
	for name, r := range permissionRequests {
		roles, clusterRole := RBAC(r)
		assertPrintedRBACGrants(t, name, accesses(r), roles, clusterRole, "kubectl-opea-secure-chatqna")
	}
}

// assertPrintedRBACGrants fails unless the printed Roles (each named
// roleName, in a namespace) and ClusterRole grant every access asked.
func assertPrintedRBACGrants(t *testing.T, name string, asked []snapshot.Access, roles []*rbacv1.Role, clusterRole *rbacv1.ClusterRole, roleName string) {
	t.Helper()
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
		if role.Name != roleName || role.Namespace == "" {
			t.Errorf("%s: Role %s/%s", name, role.Namespace, role.Name)
		}
	}
}

// Cluster-wide grants are only what must be: cluster-scoped resources and
// the lists of the gateway search; everything else is in a namespace.
func TestRBACGrantsClusterWideOnlyWhatMustBe(t *testing.T) {
	_, narrow := RBAC(permissionRequests["classic, --gateway-namespace"])
	for _, rule := range narrow.Rules {
		for _, res := range rule.Resources {
			if res != "namespaces" && !(res == "gateways" && slices.Equal(rule.Verbs, []string{"list"})) {
				t.Errorf("with --gateway-namespace the ClusterRole grants %v %s", rule.Verbs, res)
			}
		}
		if slices.Contains(rule.Resources, "namespaces") && !slices.Equal(rule.ResourceNames, []string{"chatqna", "gw"}) && !slices.Equal(rule.ResourceNames, []string{"chatqna"}) {
			t.Errorf("namespaces granted for %v", rule.ResourceNames)
		}
	}
	_, searched := RBAC(permissionRequests["classic, gateway searched"])
	var resources []string
	for _, rule := range searched.Rules {
		resources = append(resources, strings.Join(rule.Resources, ","))
	}
	for _, want := range []string{"deployments", "services"} {
		if !slices.Contains(resources, want) {
			t.Errorf("searching for the gateway needs %s in every namespace; the ClusterRole grants %v", want, resources)
		}
	}
}

func TestPrintRBACCommandNamesTheFlagsThatChangeIt(t *testing.T) {
	for r, want := range map[PermissionRequest]string{
		{AppNamespace: "a", SearchGateway: true}:                                    "kubectl opea secure --print-rbac -n a",
		{AppNamespace: "a", SearchGateway: true, GatewayNamespace: "istio-ingress"}: "kubectl opea secure --print-rbac -n a",
		{AppNamespace: "a", SearchGateway: true, GatewayNamespace: "gw"}:            "kubectl opea secure --print-rbac -n a --gateway-namespace gw",
		{AppNamespace: "a", GatewayAPI: true, Lockdown: true}:                       "kubectl opea secure --print-rbac -n a --gateway-api --lockdown",
		{AppNamespace: "a", GatewayNamespace: "gw", TLSSecret: true}:                "kubectl opea secure --print-rbac -n a --gateway-namespace gw --tls-secret NAME",
	} {
		if got := r.PrintRBACCommand(); got != want {
			t.Errorf("%+v: %q, want %q", r, got, want)
		}
	}
}
