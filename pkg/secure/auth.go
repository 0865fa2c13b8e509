package secure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/discover"
	"github.com/opea-project/kubectl-opea/pkg/owned"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// authState decides which policies of --auth the plan holds: with --auth
// jwt or ext-authz, those; without --auth, the ones an earlier secure
// --auth made, from the settings it recorded on them; with --auth=none,
// none. where is the namespace of the policies (the gateway pods', or the
// application's with the Gateway API). What secure made earlier and the
// run no longer wants (all of it for none, the other mode's policies when
// the mode changes) is returned to be removed.
func (p *planner) authState(ctx context.Context, apis discover.APIs, where string) (*desired.AuthSettings, *owned.Found, error) {
	wanted := p.AuthSettings
	if p.AuthGiven && wanted.Mode != desired.AuthNone {
		if err := p.checkAuthServed(apis, wanted.Mode); err != nil {
			return nil, nil, err
		}
	}
	if apis.AuthorizationPolicies == "" && apis.RequestAuthentications == "" {
		return nil, nil, nil // none can exist
	}
	dyn, err := p.clients.Dynamic()
	if err != nil {
		return nil, nil, err
	}
	found, err := owned.FindAuth(ctx, dyn, owned.Options{AppNamespace: p.Namespace, GatewayNamespace: where, FieldManager: p.fieldManager(), APIs: apis})
	if err != nil {
		// Unread is not absent: a plain rerun would drop the token
		// requirement without a word.
		what := fmt.Sprintf("for the policies an earlier secure --auth made for namespace %s in namespace %s", p.Namespace, where)
		request := "list authorizationpolicies.security.istio.io and requestauthentications.security.istio.io in namespace " + where
		var refused *problems.Problem
		if errors.As(err, &refused) {
			return nil, nil, notAllowedToCheck(what, request)
		}
		return nil, nil, couldNotCheck(what, request, err)
	}
	switch {
	case p.AuthGiven && wanted.Mode == desired.AuthNone:
		return nil, found, nil
	case p.AuthGiven:
		return &wanted, otherModes(found, p.Namespace, wanted.Mode), nil
	case found.Nothing():
		return nil, nil, nil
	}
	recorded, err := p.recordedAuth(found)
	if err != nil {
		return nil, nil, err
	}
	if err := p.checkAuthServed(apis, recorded.Mode); err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(p.notices, "Keeping --auth %s, which an earlier secure --auth set up for namespace %s (--auth=none removes it).\n", recorded.Mode, p.Namespace)
	return &recorded, otherModes(found, p.Namespace, recorded.Mode), nil
}

// checkAuthServed refuses --auth mode when Istio does not serve the kinds
// of its policies.
func (p *planner) checkAuthServed(apis discover.APIs, mode string) error {
	if apis.AuthorizationPolicies == "" || (mode == desired.AuthJWT && apis.RequestAuthentications == "") {
		return problems.New(
			"--auth: the Istio API security.istio.io does not serve AuthorizationPolicy and RequestAuthentication (v1 or v1beta1): Istio's CRDs are not installed",
			"install Istio in ambient mode with its CRDs (istioctl install --set profile=ambient, or the istio/base Helm chart), or leave out --auth")
	}
	return nil
}

// recordedAuth are the settings an earlier secure --auth recorded on its
// AuthorizationPolicy, validated as the flags are: anyone who may patch
// the policy can edit the record, and a plain rerun must not apply what
// the flags would have refused. Policies without their record (the
// AuthorizationPolicy deleted by hand, its RequestAuthentication left)
// refuse too: a rerun would leave the hosts open without a word.
func (p *planner) recordedAuth(found *owned.Found) (desired.AuthSettings, error) {
	names := ownership.NamesFor(p.Namespace)
	var kept []string
	for _, u := range slices.Concat(found.Remove, found.Keep) {
		kept = append(kept, fmt.Sprintf("%s %s/%s", u.GetKind(), u.GetNamespace(), u.GetName()))
		if u.GetKind() != "AuthorizationPolicy" || (u.GetName() != names.RequireJWT && u.GetName() != names.ExtAuthz) {
			continue
		}
		v, ok := u.GetAnnotations()[ownership.AuthAnnotation]
		if !ok {
			continue
		}
		s, err := desired.ParseAuthRecord(v)
		if err != nil {
			return desired.AuthSettings{}, problems.New(
				fmt.Sprintf("AuthorizationPolicy %s/%s: annotation %s=%q is not what secure --auth records: %v", u.GetNamespace(), u.GetName(), ownership.AuthAnnotation, v, err),
				fmt.Sprintf("run %s --auth jwt|ext-authz with the settings you mean (it rewrites the annotation; --force-conflicts takes it back from whoever edited it), or remove it with --auth=none", p.rerunCommand()))
		}
		return s, nil
	}
	return desired.AuthSettings{}, problems.New(
		fmt.Sprintf("found %s, left by an earlier secure --auth for namespace %s, without the AuthorizationPolicy that records its settings (annotation %s): the hosts may be open to callers without a token", strings.Join(kept, ", "), p.Namespace, ownership.AuthAnnotation),
		fmt.Sprintf("run %s --auth jwt|ext-authz with the settings you mean, or --auth=none to remove what is left", p.rerunCommand()))
}

// otherModes is what of found another --auth mode made than mode: the
// run removes it once its own policies are in place.
func otherModes(found *owned.Found, appNamespace, mode string) *owned.Found {
	names := ownership.NamesFor(appNamespace)
	keep := map[string]bool{names.RequestAuthentication: mode == desired.AuthJWT, names.RequireJWT: mode == desired.AuthJWT, names.ExtAuthz: mode == desired.AuthExtAuthz}
	wanted := func(u *unstructured.Unstructured) bool { return keep[u.GetName()] }
	out := *found
	out.Remove = slices.DeleteFunc(slices.Clone(found.Remove), wanted)
	out.Keep = slices.DeleteFunc(slices.Clone(found.Keep), wanted)
	return &out
}

// rerunCommand is this secure command's namespace, hosts and mode, for a
// fix.
func (p *planner) rerunCommand() string {
	args := []string{"kubectl opea secure -n " + p.Namespace}
	for _, h := range p.Hosts {
		args = append(args, "--host "+h)
	}
	if p.GatewayAPI {
		args = append(args, "--gateway-api")
	}
	return strings.Join(args, " ")
}

// checkAuthProvider refuses --auth ext-authz when the provider is not an
// extensionProviders entry of the mesh config istiod reads: istiod would
// reject the CUSTOM policy, and the gateway would refuse every request for
// the hosts. secure never edits the mesh config; it says how to.
func (p *planner) checkAuthProvider(ctx context.Context, provider string) error {
	mesh, err := discover.ReadMeshConfig(ctx, p.kube)
	what := fmt.Sprintf("that --auth-provider %s is an extension provider of Istio's mesh config", provider)
	var forbidden *discover.Forbidden
	switch {
	case errors.As(err, &forbidden):
		return notAllowedToCheck(what, forbidden.Permission)
	case err != nil:
		return problems.New(fmt.Sprintf("could not check %s: %v", what, err),
			"fix Istio's mesh config (istiod cannot read it either), then run secure again; nothing was written")
	case mesh.Name == "":
		return problems.New(fmt.Sprintf("could not check %s: no istiod found (kubectl get deployments -A -l %s)", what, discover.IstiodSelector),
			"install Istio first; nothing was written")
	}
	if slices.Contains(mesh.ExtensionProviders, provider) {
		return nil
	}
	have := "it has none"
	if len(mesh.ExtensionProviders) > 0 {
		have = "it has " + strings.Join(mesh.ExtensionProviders, ", ")
	}
	if !mesh.Found {
		have = "the ConfigMap does not exist"
	}
	return problems.New(
		fmt.Sprintf("--auth-provider %s is not an extension provider of Istio's mesh config (ConfigMap %s/%s, key %s: %s): istiod would reject the CUSTOM policy and the gateway would refuse every request for the hosts", provider, mesh.Namespace, mesh.Name, "mesh", have),
		fmt.Sprintf("add it under extensionProviders of the mesh config (kubectl edit configmap %s -n %s; with Helm, meshConfig.extensionProviders of the istiod chart), e.g. for oauth2-proxy: {name: %s, envoyExtAuthzHttp: {service: oauth2-proxy.oauth2-proxy.svc.cluster.local, port: 4180, includeRequestHeadersInCheck: [authorization, cookie]}}; secure does not edit the mesh config", mesh.Name, mesh.Namespace, provider))
}

// authParams are the policies of --auth for the plan: in where (the
// gateway pods' namespace, or the application's with the Gateway API),
// selecting the gateway pods by selector in the classic mode.
func authParams(s *desired.AuthSettings, apis discover.APIs, where string, selector map[string]string) *desired.Auth {
	if s == nil {
		return nil
	}
	return &desired.Auth{
		Settings: *s, PolicyVersion: apis.AuthorizationPolicies, RequestAuthnVersion: apis.RequestAuthentications,
		Namespace: where, Selector: selector,
	}
}
