package secure

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationclient "k8s.io/client-go/kubernetes/typed/authorization/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// Where a permission applies.
type Scope int

const (
	// InAppNamespace is the application's namespace.
	InAppNamespace Scope = iota
	// InGatewayNamespace is the namespace of the ingress gateway pods, where
	// the certificate goes (the application's with --gateway-api).
	InGatewayNamespace
	// InMeshRootNamespace is Istio's root namespace, which holds the mesh
	// config.
	InMeshRootNamespace
	// ClusterScoped is a resource of no namespace (namespaces themselves).
	ClusterScoped
	// EveryNamespace is a resource of every namespace, as a list across all.
	EveryNamespace
)

// clusterWide reports whether s is granted by a ClusterRole.
func (s Scope) clusterWide() bool { return s == ClusterScoped || s == EveryNamespace }

// Permission is one thing secure asks the API server for: the verbs on a
// resource in a scope, and why. The list Permissions returns is what the
// pre-check asks about and what --print-rbac grants: one list for both.
type Permission struct {
	Scope    Scope
	Group    string
	Resource string
	Verbs    []string
	// Names limits the permission to these objects (RBAC resourceNames);
	// empty: any. Only for verbs that name an object (get, patch).
	Names []string
	// Optional permissions let a check run that secure otherwise skips,
	// saying so; secure goes on without them.
	Optional bool
	Why      string
}

// PermissionRequest is what decides the permissions secure needs: its mode
// and options, and the namespaces they apply in.
type PermissionRequest struct {
	AppNamespace string
	// GatewayNamespace is where the classic ingress gateway pods run, and
	// the certificate goes; empty when not known. SearchGateway says that
	// secure looks for the gateway pods by their labels in every namespace
	// (no --gateway-namespace).
	GatewayNamespace string
	SearchGateway    bool
	GatewayAPI       bool
	Lockdown         bool
	TLSSecret        bool
	Issuer           bool
	ClusterIssuer    bool
	// Auth is the mode --auth gives (jwt, ext-authz or none); empty when
	// not given.
	Auth string
}

const (
	istioNetworking = "networking.istio.io"
	istioSecurity   = "security.istio.io"
	certManager     = "cert-manager.io"
	gatewayAPIGroup = "gateway.networking.k8s.io"
)

// applyVerbs are what server-side apply of a named object takes: get to
// read it first, create when absent, patch for the apply itself.
var applyVerbs = []string{"get", "create", "patch"}

// Permissions returns every permission secure needs for r, in the order
// secure uses them.
func Permissions(r PermissionRequest) []Permission {
	namespaces := []string{r.AppNamespace}
	if r.GatewayNamespace != "" && r.GatewayNamespace != r.AppNamespace && !r.GatewayAPI {
		namespaces = append(namespaces, r.GatewayNamespace)
	}
	ps := []Permission{
		{Scope: ClusterScoped, Resource: "namespaces", Verbs: []string{"get"}, Names: namespaces, Why: "check that the namespaces exist"},
		{Scope: ClusterScoped, Resource: "namespaces", Verbs: []string{"patch"}, Names: []string{r.AppNamespace}, Why: "label the namespace for ambient mode"},
		{Scope: InAppNamespace, Resource: "services", Verbs: []string{"get", "list"}, Why: "find the entry Service"},
		{Scope: InAppNamespace, Group: istioSecurity, Resource: "peerauthentications", Verbs: applyVerbs, Why: "apply PeerAuthentication default (STRICT)"},
		{Scope: InAppNamespace, Group: istioSecurity, Resource: "peerauthentications", Verbs: []string{"list"}, Optional: true, Why: "check that no other PeerAuthentication overrides STRICT"},
		{Scope: InAppNamespace, Group: istioSecurity, Resource: "authorizationpolicies", Verbs: []string{"list"}, Why: "find a lockdown an earlier secure made"},
	}
	if r.GatewayAPI {
		ps = append(ps,
			Permission{Scope: InAppNamespace, Group: gatewayAPIGroup, Resource: "gateways", Verbs: applyVerbs, Why: "apply the Gateway API Gateway"},
			Permission{Scope: InAppNamespace, Group: gatewayAPIGroup, Resource: "httproutes", Verbs: append([]string{"list", "delete"}, applyVerbs...), Why: "apply the HTTPRoutes, and remove a redirect route no longer wanted"},
			Permission{Scope: InAppNamespace, Group: istioNetworking, Resource: "gateways", Verbs: []string{"get"}, Why: "check that the application is not secured in the classic mode too"},
			Permission{Scope: ClusterScoped, Group: gatewayAPIGroup, Resource: "gatewayclasses", Verbs: []string{"get"}, Optional: true, Why: "check that the GatewayClass exists and is accepted"},
		)
	} else {
		ps = append(ps,
			Permission{Scope: InAppNamespace, Group: istioNetworking, Resource: "gateways", Verbs: applyVerbs, Why: "apply the Istio Gateway"},
			Permission{Scope: InAppNamespace, Group: istioNetworking, Resource: "virtualservices", Verbs: applyVerbs, Why: "apply the VirtualService"},
			Permission{Scope: InAppNamespace, Group: gatewayAPIGroup, Resource: "gateways", Verbs: []string{"get"}, Why: "check that the application is not secured with --gateway-api too"},
			Permission{Scope: EveryNamespace, Group: istioNetworking, Resource: "gateways", Verbs: []string{"list"}, Optional: true, Why: "check that no other Gateway claims the hosts on the same gateway pods"},
		)
		where := InGatewayNamespace
		if r.SearchGateway {
			where = EveryNamespace
		}
		ps = append(ps,
			Permission{Scope: where, Group: "apps", Resource: "deployments", Verbs: []string{"list"}, Why: "find the ingress gateway"},
			Permission{Scope: where, Resource: "services", Verbs: []string{"list"}, Why: "find the ingress gateway's Service"},
		)
	}
	switch {
	case r.TLSSecret:
		ps = append(ps, Permission{Scope: InGatewayNamespace, Resource: "secrets", Verbs: []string{"get"}, Why: "check the --tls-secret"})
	case r.Issuer:
		ps = append(ps, Permission{Scope: InGatewayNamespace, Group: certManager, Resource: "certificates", Verbs: applyVerbs, Why: "apply the gateway's Certificate"})
		if r.ClusterIssuer {
			ps = append(ps, Permission{Scope: ClusterScoped, Group: certManager, Resource: "clusterissuers", Verbs: []string{"get"}, Why: "check the --issuer"})
		} else {
			ps = append(ps, Permission{Scope: InGatewayNamespace, Group: certManager, Resource: "issuers", Verbs: []string{"get"}, Why: "check the --issuer"})
		}
	default:
		ps = append(ps,
			Permission{Scope: InGatewayNamespace, Group: certManager, Resource: "certificates", Verbs: applyVerbs, Why: "apply the private CA's and the gateway's Certificates"},
			Permission{Scope: InGatewayNamespace, Group: certManager, Resource: "issuers", Verbs: applyVerbs, Why: "apply the private CA's Issuers"},
		)
	}
	if !r.TLSSecret {
		ps = append(ps, Permission{Scope: InGatewayNamespace, Resource: "secrets", Verbs: []string{"get"}, Optional: true, Why: "check that no Secret of yours has the name of the certificate's Secret, and --wait for it"})
	}
	ps = append(ps, authPermissions(r)...)
	if r.Lockdown {
		ps = append(ps,
			Permission{Scope: InAppNamespace, Group: istioSecurity, Resource: "authorizationpolicies", Verbs: append([]string{"delete"}, applyVerbs...), Why: "apply the lockdown's AuthorizationPolicies, and remove them with --lockdown=false"},
			Permission{Scope: InAppNamespace, Resource: "pods", Verbs: []string{"list"}, Why: "find the service accounts and ports the lockdown admits"},
			Permission{Scope: EveryNamespace, Group: "apps", Resource: "deployments", Verbs: []string{"list"}, Why: "find istiod, whose namespace holds the mesh config"},
			Permission{Scope: InMeshRootNamespace, Resource: "configmaps", Verbs: []string{"get"}, Names: []string{istio.MeshConfigMap}, Why: "read the mesh's trust domain and root namespace"},
			Permission{Scope: ClusterScoped, Resource: "namespaces", Verbs: []string{"get"}, Names: []string{r.AppNamespace}, Why: "find the waypoint the namespace's Services use"},
		)
		if r.GatewayAPI {
			ps = append(ps,
				Permission{Scope: InMeshRootNamespace, Group: istioSecurity, Resource: "authorizationpolicies", Verbs: []string{"list"}, Why: "check that no mesh-wide DENY turns the gateway's clients away"},
				Permission{Scope: InAppNamespace, Group: gatewayAPIGroup, Resource: "gateways", Verbs: []string{"get"}, Why: "read the service account of a waypoint the namespace's Services use"},
			)
		}
	}
	return ps
}

// authPermissions are what --auth takes on the ingress gateway: finding
// the policies an earlier secure --auth made, on every run (a plain rerun
// keeps them); with --auth, applying and removing them; with --auth
// ext-authz, reading the mesh config's extension providers.
func authPermissions(r PermissionRequest) []Permission {
	ps := []Permission{
		{Scope: InGatewayNamespace, Group: istioSecurity, Resource: "authorizationpolicies", Verbs: []string{"list"}, Why: "find the policies an earlier secure --auth made on the ingress gateway"},
		{Scope: InGatewayNamespace, Group: istioSecurity, Resource: "requestauthentications", Verbs: []string{"list"}, Why: "find the policies an earlier secure --auth made on the ingress gateway"},
	}
	if r.Auth == "" {
		return ps
	}
	ps = append(ps,
		Permission{Scope: InGatewayNamespace, Group: istioSecurity, Resource: "authorizationpolicies", Verbs: append([]string{"delete"}, applyVerbs...), Why: "apply the AuthorizationPolicy of --auth on the ingress gateway, and remove it with --auth=none"},
		Permission{Scope: InGatewayNamespace, Group: istioSecurity, Resource: "requestauthentications", Verbs: append([]string{"delete"}, applyVerbs...), Why: "apply the RequestAuthentication of --auth jwt, and remove it with --auth=none"},
	)
	if r.Auth == "ext-authz" {
		ps = append(ps,
			Permission{Scope: EveryNamespace, Group: "apps", Resource: "deployments", Verbs: []string{"list"}, Why: "find istiod, whose namespace holds the mesh config"},
			Permission{Scope: InMeshRootNamespace, Resource: "configmaps", Verbs: []string{"get"}, Names: []string{istio.MeshConfigMap}, Why: "check that --auth-provider is an extension provider of the mesh config"},
		)
	}
	return ps
}

// Namespace is the namespace p applies in for r; "" for the cluster-wide
// scopes, and
// for InGatewayNamespace when the gateway namespace is not known.
func (p Permission) Namespace(r PermissionRequest) string {
	switch p.Scope {
	case InAppNamespace:
		return r.AppNamespace
	case InGatewayNamespace:
		if r.GatewayAPI {
			return r.AppNamespace
		}
		return r.GatewayNamespace
	case InMeshRootNamespace:
		// Where istioctl and the charts install istiod; a revision or
		// another namespace is named in the mesh config istiod reads.
		return istio.DefaultRootNamespace
	}
	return ""
}

// accesses are the required permissions of r, one per verb and name, that
// can be asked about: those in the gateway namespace wait until it is known.
func accesses(r PermissionRequest) []snapshot.Access {
	return accessesOf(Permissions(r), r.namespaceOf)
}

// namespaceOf is p.Namespace(r), as accessesOf and rbacOf take it.
func (r PermissionRequest) namespaceOf(p Permission) string { return p.Namespace(r) }

// accessesOf lists the required permissions of ps, one per verb and name,
// each in the namespace namespaceOf gives it; those in the gateway
// namespace wait while it is not known ("").
func accessesOf(ps []Permission, namespaceOf func(Permission) string) []snapshot.Access {
	var out []snapshot.Access
	for _, p := range ps {
		if p.Optional {
			continue
		}
		ns := namespaceOf(p)
		if p.Scope == InGatewayNamespace && ns == "" {
			continue
		}
		names := p.Names
		if len(names) == 0 {
			names = []string{""}
		}
		for _, verb := range p.Verbs {
			for _, name := range names {
				out = append(out, snapshot.Access{Verb: verb, Group: p.Group, Resource: p.Resource, Name: name, Namespace: ns, AllNamespaces: p.Scope == EveryNamespace})
			}
		}
	}
	return out
}

// MissingPermissions asks the API server, one SelfSubjectAccessReview per
// verb, a few at a time, which of the required permissions of r the user
// lacks; it returns them all, sorted. A review that fails is an error: the
// check cannot pass without an answer.
func MissingPermissions(ctx context.Context, reviews authorizationclient.SelfSubjectAccessReviewInterface, r PermissionRequest) ([]string, error) {
	missing, err := refused(ctx, reviews, accesses(r))
	if err != nil {
		return nil, err
	}
	return accessStrings(missing), nil
}

// refused asks the API server, one SelfSubjectAccessReview each, a few at
// a time, which of all the user may not make, in the order of all. A
// review that fails is an error.
func refused(ctx context.Context, reviews authorizationclient.SelfSubjectAccessReviewInterface, all []snapshot.Access) ([]snapshot.Access, error) {
	allowed := make([]bool, len(all))
	errs := make([]error, len(all))
	var wg sync.WaitGroup
	limit := make(chan struct{}, 8)
	for i, a := range all {
		wg.Add(1)
		go func() {
			defer wg.Done()
			limit <- struct{}{}
			defer func() { <-limit }()
			review, err := reviews.Create(ctx, &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
				ResourceAttributes: &authorizationv1.ResourceAttributes{Namespace: a.Namespace, Verb: a.Verb, Group: a.Group, Resource: a.Resource, Name: a.Name},
			}}, metav1.CreateOptions{})
			if err != nil {
				errs[i] = fmt.Errorf("could not check whether you may %s: %w", a, err)
				return
			}
			allowed[i] = review.Status.Allowed
		}()
	}
	wg.Wait()
	var missing []snapshot.Access
	for i, a := range all {
		if errs[i] != nil {
			return nil, errs[i]
		}
		if !allowed[i] {
			missing = append(missing, a)
		}
	}
	return missing, nil
}

// accessStrings words as, sorted, once each.
func accessStrings(as []snapshot.Access) []string {
	var out []string
	for _, a := range as {
		if s := a.String(); !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

// PermissionsProblem reports the permissions of r the user lacks, all at
// once, with the command that prints the RBAC objects granting them.
func PermissionsProblem(missing []string, r PermissionRequest) error {
	fix := "ask a cluster admin to grant them: '" + r.PrintRBACCommand() + "' prints the Roles and the ClusterRole to apply and bind to you"
	if r.movedGateway() {
		fix += fmt.Sprintf(" (they grant what secure needs with --gateway-namespace %s: pass it to secure too)", r.GatewayNamespace)
	}
	return problems.New(
		"you lack permissions secure needs: "+strings.Join(missing, "; "),
		fix+"; or use --context/--as with an identity that has them")
}

// permissionRequest is what req needs permissions for.
func (p *planner) permissionRequest() PermissionRequest {
	return PermissionRequest{
		AppNamespace: p.Namespace, GatewayNamespace: p.GatewayNamespace,
		SearchGateway: !p.GatewayAPI && p.GatewayNamespace == "", GatewayAPI: p.GatewayAPI,
		Lockdown: p.Lockdown == LockdownOn, TLSSecret: p.TLSSecret != "",
		Issuer: p.Issuer != "", ClusterIssuer: p.Issuer != "" && p.IssuerKind == "ClusterIssuer",
		Auth: p.authFlag(),
	}
}

// authFlag is the mode --auth gives, empty when it is not given.
func (p *planner) authFlag() string {
	if !p.AuthGiven {
		return ""
	}
	return p.AuthSettings.Mode
}

// checkPermissions refuses, before anything is read, when the user lacks
// any permission secure needs, naming them all. Where the ingress gateway's
// namespace is still to be found, its permissions wait for
// checkGatewayPermissions; but when something is missing already, the
// gateway is looked for now, so that the one report names those too.
func (p *planner) checkPermissions(ctx context.Context, kube clients.Kube) error {
	r := p.permissionRequest()
	missing, err := MissingPermissions(ctx, kube.AuthorizationV1().SelfSubjectAccessReviews(), r)
	if err != nil || len(missing) == 0 {
		return err
	}
	if r.SearchGateway {
		if gw, err := discover.IngressGateway(ctx, kube, "", p.GatewaySelector); err == nil {
			r.GatewayNamespace = gw.Namespace
			if missing, err = MissingPermissions(ctx, kube.AuthorizationV1().SelfSubjectAccessReviews(), r); err != nil {
				return err
			}
		}
	}
	return PermissionsProblem(missing, r)
}

// checkGatewayPermissions checks, once the ingress gateway was found in
// namespace gatewayNamespace, the permissions secure needs there.
func (p *planner) checkGatewayPermissions(ctx context.Context, kube clients.Kube, gatewayNamespace string) error {
	r := p.permissionRequest()
	if !r.SearchGateway || p.NoPermissionCheck {
		return nil // checked with the others
	}
	r.GatewayNamespace = gatewayNamespace
	missing, err := MissingPermissions(ctx, kube.AuthorizationV1().SelfSubjectAccessReviews(), r)
	if err != nil || len(missing) == 0 {
		return err
	}
	return PermissionsProblem(missing, r)
}
