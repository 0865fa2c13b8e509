package secure

import (
	"fmt"
	"io"
	"slices"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// RBACName names the Roles and the ClusterRole that grant secure what it
// needs for the application in namespace app.
func RBACName(app string) string { return "kubectl-opea-secure-" + app }

// RBAC returns the RBAC objects granting every permission of r, optional
// ones included: a Role in each namespace, and a ClusterRole for the
// cluster-scoped resources and the lists in every namespace.
func RBAC(r PermissionRequest) (roles []*rbacv1.Role, clusterRole *rbacv1.ClusterRole) {
	return rbacOf(RBACName(r.AppNamespace), Permissions(r), r.namespaceOf)
}

// rbacOf returns the Roles and the ClusterRole, all named name, that grant
// ps, each in the namespace namespaceOf gives it.
func rbacOf(name string, ps []Permission, namespaceOf func(Permission) string) (roles []*rbacv1.Role, clusterRole *rbacv1.ClusterRole) {
	byNamespace := map[string]*rbacv1.Role{}
	var order []string
	clusterRole = &rbacv1.ClusterRole{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"}, ObjectMeta: metav1.ObjectMeta{Name: name}}
	for _, p := range ps {
		rule := rbacv1.PolicyRule{APIGroups: []string{p.Group}, Resources: []string{p.Resource}, Verbs: slices.Clone(p.Verbs), ResourceNames: p.Names}
		ns := namespaceOf(p)
		if p.Scope.clusterWide() {
			clusterRole.Rules = addRule(clusterRole.Rules, rule)
			continue
		}
		if ns == "" {
			continue // the gateway namespace, not known: never granted everywhere instead
		}
		role, ok := byNamespace[ns]
		if !ok {
			role = &rbacv1.Role{TypeMeta: metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "Role"}, ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
			byNamespace[ns] = role
			order = append(order, ns)
		}
		role.Rules = addRule(role.Rules, rule)
	}
	for _, ns := range order {
		roles = append(roles, byNamespace[ns])
	}
	return roles, clusterRole
}

// addRule adds rule's verbs to the rule of the same resource and names, or
// appends it.
func addRule(rules []rbacv1.PolicyRule, rule rbacv1.PolicyRule) []rbacv1.PolicyRule {
	for i := range rules {
		r := &rules[i]
		if slices.Equal(r.APIGroups, rule.APIGroups) && slices.Equal(r.Resources, rule.Resources) && slices.Equal(r.ResourceNames, rule.ResourceNames) {
			for _, v := range rule.Verbs {
				if !slices.Contains(r.Verbs, v) {
					r.Verbs = append(r.Verbs, v)
				}
			}
			return rules
		}
	}
	return append(rules, rule)
}

// PrintRBAC writes the RBAC objects of r as a YAML stream to apply, after
// comments that say how to bind them to user, a user name or
// "system:serviceaccount:NS:NAME".
func PrintRBAC(w io.Writer, r PermissionRequest, note string) error {
	roles, clusterRole := RBAC(r)
	what := fmt.Sprintf("What kubectl opea secure needs to secure namespace %s", r.AppNamespace)
	return printRBAC(w, what, roles, clusterRole, note)
}

// printRBAC writes roles and clusterRole, all of one name, as a YAML stream
// to apply, after comments that say what they grant and how to bind them.
func printRBAC(w io.Writer, what string, roles []*rbacv1.Role, clusterRole *rbacv1.ClusterRole, note string) error {
	name := clusterRole.Name
	fmt.Fprintf(w, "# %s, from the list its own\n", what)
	fmt.Fprintf(w, "# permission check uses. A cluster admin applies it and binds it to the user, e.g.:\n")
	fmt.Fprintf(w, "#   kubectl apply -f this.yaml\n")
	for _, role := range roles {
		fmt.Fprintf(w, "#   kubectl create rolebinding %s -n %s --role %s --user USER\n", name, role.Namespace, name)
	}
	fmt.Fprintf(w, "#   kubectl create clusterrolebinding %s --clusterrole %s --user USER\n", name, name)
	fmt.Fprintf(w, "# (--serviceaccount NAMESPACE:NAME instead of --user for a ServiceAccount.)\n")
	if note != "" {
		fmt.Fprintf(w, "# %s\n", note)
	}
	var objs []any
	for _, role := range roles {
		objs = append(objs, role)
	}
	objs = append(objs, clusterRole)
	for _, obj := range objs {
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			return err
		}
		// Not an object read back from a server: no timestamp to show.
		unstructured.RemoveNestedField(u, "metadata", "creationTimestamp")
		data, err := yaml.Marshal(u)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "---\n%s", data)
	}
	return nil
}

// DefaultGatewayNamespace is where OPEA's guide installs the ingress
// gateway: --print-rbac grants the certificate's permissions there unless
// --gateway-namespace names another.
const DefaultGatewayNamespace = "istio-ingress"

// PrintRBACCommand is the command that prints the RBAC objects of r. A
// gateway found elsewhere than DefaultGatewayNamespace is named with
// --gateway-namespace, which secure then needs as well (movedGateway).
func (r PermissionRequest) PrintRBACCommand() string {
	cmd := "kubectl opea secure --print-rbac -n " + r.AppNamespace
	switch {
	case r.GatewayAPI:
	case !r.SearchGateway && r.GatewayNamespace != "", r.movedGateway():
		cmd += " --gateway-namespace " + r.GatewayNamespace
	}
	if r.GatewayAPI {
		cmd += " --gateway-api"
	}
	if r.Lockdown {
		cmd += " --lockdown"
	}
	if r.Auth != "" {
		cmd += " --auth " + r.Auth
	}
	switch {
	case r.TLSSecret:
		cmd += " --tls-secret NAME"
	case r.ClusterIssuer:
		cmd += " --issuer NAME --issuer-kind ClusterIssuer"
	case r.Issuer:
		cmd += " --issuer NAME"
	}
	return cmd
}

// movedGateway reports whether secure found the ingress gateway elsewhere
// than where --print-rbac assumes it without --gateway-namespace.
func (r PermissionRequest) movedGateway() bool {
	return r.SearchGateway && r.GatewayNamespace != "" && r.GatewayNamespace != DefaultGatewayNamespace
}
