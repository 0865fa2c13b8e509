package secure

import (
	"context"
	"fmt"
	"io"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// UnsecureRequest is what decides the permissions unsecure needs: the
// application's namespace, where secure's certificates are, and which
// APIs are served (unsecure looks for the objects of those only).
type UnsecureRequest struct {
	AppNamespace string
	// GatewayNamespace is where secure put the certificates: the
	// --gateway-namespace given, or, without it (Search), where they were
	// found; "" while not known.
	GatewayNamespace string
	// Search says that unsecure lists the certificates, issuers and their
	// Secrets in every namespace (no --gateway-namespace).
	Search   bool
	KeepMTLS bool
	// Wait: --wait reads each deleted object until it is gone.
	Wait bool
	APIs discover.APIs
}

// AllAPIs are the APIs --print-rbac grants for, not knowing which a
// cluster serves: all of them.
var AllAPIs = discover.APIs{Networking: "v1", Security: "v1", CertManager: "v1", GatewayAPI: "v1", AuthorizationPolicies: "v1", RequestAuthentications: "v1"}

// removeVerbs are what removing secure's objects of a kind takes: list to
// find them, delete, patch to release the fields of one secure adopted,
// and with --wait get, to see it gone.
func (r UnsecureRequest) removeVerbs() []string {
	if r.Wait {
		return []string{"get", "list", "delete", "patch"}
	}
	return []string{"list", "delete", "patch"}
}

// UnsecurePermissions returns every permission unsecure needs for r, in
// the order it uses them: one list for its pre-check and for
// `unsecure --print-rbac`.
func UnsecurePermissions(r UnsecureRequest) []Permission {
	ps := []Permission{
		{Scope: ClusterScoped, Resource: "namespaces", Verbs: []string{"get"}, Names: []string{r.AppNamespace}, Why: "read the namespace and its ambient label"},
	}
	if !r.Search && r.GatewayNamespace != "" && r.GatewayNamespace != r.AppNamespace {
		ps = append(ps, Permission{Scope: ClusterScoped, Resource: "namespaces", Verbs: []string{"get"}, Names: []string{r.GatewayNamespace}, Optional: true, Why: "check that --gateway-namespace exists"})
	}
	if !r.KeepMTLS {
		ps = append(ps, Permission{Scope: ClusterScoped, Resource: "namespaces", Verbs: []string{"patch"}, Names: []string{r.AppNamespace}, Why: "release the namespace's ambient label"})
	}
	removeVerbs := r.removeVerbs()
	if r.APIs.Networking != "" {
		ps = append(ps,
			Permission{Scope: InAppNamespace, Group: istioNetworking, Resource: "virtualservices", Verbs: removeVerbs, Why: "remove the VirtualService"},
			Permission{Scope: InAppNamespace, Group: istioNetworking, Resource: "gateways", Verbs: removeVerbs, Why: "remove the Istio Gateway"})
	}
	if r.APIs.GatewayAPI != "" {
		ps = append(ps,
			Permission{Scope: InAppNamespace, Group: gatewayAPIGroup, Resource: "httproutes", Verbs: removeVerbs, Why: "remove the HTTPRoutes"},
			Permission{Scope: InAppNamespace, Group: gatewayAPIGroup, Resource: "gateways", Verbs: removeVerbs, Why: "remove the Gateway API Gateway"})
	}
	if !r.KeepMTLS && r.APIs.AuthorizationPolicies != "" {
		ps = append(ps, Permission{Scope: InAppNamespace, Group: istioSecurity, Resource: "authorizationpolicies", Verbs: removeVerbs, Why: "remove the lockdown's AuthorizationPolicies"})
	}
	if !r.KeepMTLS && r.APIs.Security != "" {
		ps = append(ps, Permission{Scope: InAppNamespace, Group: istioSecurity, Resource: "peerauthentications", Verbs: removeVerbs, Why: "remove PeerAuthentication default"})
	}
	ps = append(ps, authRemovePermissions(r)...)
	if r.APIs.CertManager == "" {
		return ps
	}
	if r.Search {
		ps = append(ps,
			Permission{Scope: EveryNamespace, Group: certManager, Resource: "certificates", Verbs: []string{"list"}, Why: "find secure's Certificates (pass --gateway-namespace to list in that namespace only)"},
			Permission{Scope: EveryNamespace, Group: certManager, Resource: "issuers", Verbs: []string{"list"}, Why: "find secure's Issuers"},
			Permission{Scope: EveryNamespace, Resource: "secrets", Verbs: []string{"list"}, Why: "find the Secrets cert-manager wrote for secure's Certificates"})
	} else {
		ps = append(ps,
			Permission{Scope: EveryNamespace, Group: certManager, Resource: "certificates", Verbs: []string{"list"}, Optional: true, Why: "say where secure's Certificates are when --gateway-namespace holds none"},
			Permission{Scope: EveryNamespace, Group: certManager, Resource: "issuers", Verbs: []string{"list"}, Optional: true, Why: "say where secure's Issuers are when --gateway-namespace holds none"})
	}
	// A Secret's Certificate, and a Certificate's Secret, are read by name.
	ps = append(ps,
		Permission{Scope: InGatewayNamespace, Group: certManager, Resource: "certificates", Verbs: []string{"get", "list", "delete", "patch"}, Why: "remove the Certificates"},
		Permission{Scope: InGatewayNamespace, Group: certManager, Resource: "issuers", Verbs: removeVerbs, Why: "remove the Issuers"},
		Permission{Scope: InGatewayNamespace, Resource: "secrets", Verbs: []string{"get", "list", "delete"}, Why: "remove the Secrets cert-manager wrote for the Certificates"})
	return ps
}

// authRemovePermissions are what removing secure --auth's policies takes:
// they are in the gateway pods' namespace (found in every namespace without
// --gateway-namespace), or the application's with the Gateway API.
func authRemovePermissions(r UnsecureRequest) []Permission {
	var ps []Permission
	for _, k := range []struct{ version, resource string }{
		{r.APIs.AuthorizationPolicies, "authorizationpolicies"}, {r.APIs.RequestAuthentications, "requestauthentications"},
	} {
		if k.version == "" {
			continue
		}
		why := "remove the policies of secure --auth on the ingress gateway"
		if r.Search {
			ps = append(ps, Permission{Scope: EveryNamespace, Group: istioSecurity, Resource: k.resource, Verbs: []string{"list"}, Why: "find the policies of secure --auth on the ingress gateway (pass --gateway-namespace to list in that namespace only)"})
		}
		ps = append(ps, Permission{Scope: InGatewayNamespace, Group: istioSecurity, Resource: k.resource, Verbs: r.removeVerbs(), Why: why})
		if k.resource == "requestauthentications" || r.KeepMTLS {
			// Without --keep-mtls the lockdown's permission covers them.
			ps = append(ps, Permission{Scope: InAppNamespace, Group: istioSecurity, Resource: k.resource, Verbs: r.removeVerbs(), Why: why + " (--gateway-api)"})
		}
	}
	return ps
}

// namespaceOf is the namespace p applies in for r; "" for the cluster-wide
// scopes, and for InGatewayNamespace while the gateway namespace is not
// known.
func (r UnsecureRequest) namespaceOf(p Permission) string {
	switch p.Scope {
	case InAppNamespace:
		return r.AppNamespace
	case InGatewayNamespace:
		return r.GatewayNamespace
	}
	return ""
}

// MissingUnsecurePermissions asks the API server which of the required
// permissions of r the user lacks, in the order of UnsecurePermissions;
// those in a gateway namespace not known yet wait.
func MissingUnsecurePermissions(ctx context.Context, reviews authorizationclient.SelfSubjectAccessReviewInterface, r UnsecureRequest) ([]snapshot.Access, error) {
	return refused(ctx, reviews, accessesOf(UnsecurePermissions(r), r.namespaceOf))
}

// UnsecurePermissionsProblem reports the permissions of r the user lacks,
// all at once, with the command that prints the RBAC objects granting
// them.
func UnsecurePermissionsProblem(missing []snapshot.Access, r UnsecureRequest) error {
	return problems.New(
		"you lack permissions to read what unsecure must find, or to remove it: "+strings.Join(accessStrings(missing), "; "),
		r.PermissionsFix())
}

// PermissionsFix is the fix of missing permissions: the command that
// prints the RBAC objects granting them, to hand to a cluster admin.
func (r UnsecureRequest) PermissionsFix() string {
	return "ask a cluster admin to grant them: '" + r.PrintRBACCommand() + "' prints the Roles and the ClusterRole to apply and bind to you; or use --context/--as with an identity that has them"
}

// UnsecureRBACName names the Roles and the ClusterRole that grant unsecure
// what it needs for the application in namespace app.
func UnsecureRBACName(app string) string { return "kubectl-opea-unsecure-" + app }

// UnsecureRBAC returns the RBAC objects granting every permission of r,
// optional ones included.
func UnsecureRBAC(r UnsecureRequest) (roles []*rbacv1.Role, clusterRole *rbacv1.ClusterRole) {
	return rbacOf(UnsecureRBACName(r.AppNamespace), UnsecurePermissions(r), r.namespaceOf)
}

// PrintUnsecureRBAC writes the RBAC objects of r as a YAML stream to
// apply, after comments that say how to bind them.
func PrintUnsecureRBAC(w io.Writer, r UnsecureRequest, note string) error {
	roles, clusterRole := UnsecureRBAC(r)
	what := fmt.Sprintf("What kubectl opea unsecure needs to remove what secure made for namespace %s", r.AppNamespace)
	return printRBAC(w, what, roles, clusterRole, note)
}

// PrintRBACCommand is the command that prints the RBAC objects of r: a
// gateway namespace searched for and found elsewhere than
// DefaultGatewayNamespace, or given, is named with --gateway-namespace.
func (r UnsecureRequest) PrintRBACCommand() string {
	cmd := "kubectl opea unsecure --print-rbac -n " + r.AppNamespace
	if r.GatewayNamespace != "" && (!r.Search || r.GatewayNamespace != DefaultGatewayNamespace) {
		cmd += " --gateway-namespace " + r.GatewayNamespace
	}
	if r.KeepMTLS {
		cmd += " --keep-mtls"
	}
	return cmd
}
