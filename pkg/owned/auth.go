package owned

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// authKinds are the kinds of secure --auth's policies that are served,
// with their names: the AuthorizationPolicy before the
// RequestAuthentication, so that while they go no request with a token
// the RequestAuthentication no longer checks meets the DENY.
func authKinds(o Options) []appKind {
	names := ownership.NamesFor(o.AppNamespace)
	var kinds []appKind
	if v := o.APIs.AuthorizationPolicies; v != "" {
		kinds = append(kinds, appKind{istio.AuthorizationPolicies(v), []string{names.RequireJWT, names.ExtAuthz}})
	}
	if v := o.APIs.RequestAuthentications; v != "" {
		kinds = append(kinds, appKind{istio.RequestAuthentications(v), []string{names.RequestAuthentication}})
	}
	return kinds
}

// authObjects finds secure --auth's policies for the application: on a
// classic gateway in the gateway pods' namespace (o.GatewayNamespace, or
// every namespace when it is not known), with the Gateway API in the
// application namespace. Only objects with secure's labels for this
// application and the names --auth gives them: on a shared gateway the
// policies of other applications carry other labels and names, and stay.
func (r *finder) authObjects(ctx context.Context, namespaces []string) error {
	for _, k := range authKinds(r.o) {
		for _, ns := range namespaces {
			items, err := r.list(ctx, k.gvr, ns, false)
			if err != nil {
				return err
			}
			for i := range items {
				u := &items[i]
				if !r.ours(u) || !slices.Contains(k.ourNames, u.GetName()) || r.f.holds(k.gvr, u) {
					continue
				}
				if adopted(u) {
					r.f.Keep = append(r.f.Keep, u)
				} else {
					r.f.Remove = append(r.f.Remove, u)
				}
			}
		}
	}
	return nil
}

// authNamespaces are where authObjects looks: every namespace ("") when
// the gateway namespace is not known; else it and the application's.
func (r *finder) authNamespaces() []string {
	switch {
	case r.o.GatewayNamespace == "":
		return []string{""}
	case r.o.GatewayNamespace == r.o.AppNamespace || r.f.NamespaceMissing:
		return []string{r.o.GatewayNamespace}
	}
	return []string{r.o.GatewayNamespace, r.o.AppNamespace}
}

// holds says whether f has u already (as another search found it).
func (f *Found) holds(gvr schema.GroupVersionResource, u *unstructured.Unstructured) bool {
	same := func(o *unstructured.Unstructured) bool {
		return o.GroupVersionKind().Group == gvr.Group && o.GetKind() == u.GetKind() && o.GetNamespace() == u.GetNamespace() && o.GetName() == u.GetName()
	}
	return slices.ContainsFunc(f.Remove, same) || slices.ContainsFunc(f.Keep, same)
}

// FindAuth finds secure --auth's policies for o.AppNamespace in
// o.GatewayNamespace, where the run's mode puts them (the gateway pods'
// namespace, or the application's with the Gateway API), for a secure run
// that keeps them (it reads their record) or removes them (--auth=none, or
// another --auth mode).
func FindAuth(ctx context.Context, dyn dynamic.Interface, o Options) (*Found, error) {
	r := &finder{dyn: dyn, o: o, f: &Found{Managers: []string{o.FieldManager}}}
	if err := r.authObjects(ctx, []string{o.GatewayNamespace}); err != nil {
		return nil, err
	}
	return r.done("--auth")
}
