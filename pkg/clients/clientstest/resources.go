package clientstest

import (
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/restmapper"

	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
)

// Resource is one resource the fake cluster knows, as discovery lists it:
// its name (the plural), its kind, and whether it lives in a namespace.
type Resource struct {
	schema.GroupVersionResource
	Kind       string
	Namespaced bool
}

func namespaced(gvr schema.GroupVersionResource, kind string) Resource {
	return Resource{GroupVersionResource: gvr, Kind: kind, Namespaced: true}
}

func clusterScoped(gvr schema.GroupVersionResource, kind string) Resource {
	return Resource{GroupVersionResource: gvr, Kind: kind}
}

func gvr(group, version, resource string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: group, Version: version, Resource: resource}
}

// Known are the resources the fake cluster can hold and list: the ones
// kubectl-opea reads or writes, in every version it may use. The dynamic
// client lists each of them, and objects go where these rows say: the
// client's own guess from a kind would store Gateways as "gatewaies".
var Known = []Resource{
	clusterScoped(gvr("", "v1", "namespaces"), "Namespace"),
	namespaced(gvr("", "v1", "secrets"), "Secret"),
	namespaced(gvr("", "v1", "services"), "Service"),
	namespaced(gvr("", "v1", "pods"), "Pod"),
	namespaced(gvr("", "v1", "configmaps"), "ConfigMap"),
	namespaced(gvr("", "v1", "serviceaccounts"), "ServiceAccount"),
	namespaced(gvr("apps", "v1", "deployments"), "Deployment"),
	namespaced(gvr("apps", "v1", "daemonsets"), "DaemonSet"),
	clusterScoped(gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), "ClusterRole"),
	clusterScoped(gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"), "ClusterRoleBinding"),
	namespaced(gvr("rbac.authorization.k8s.io", "v1", "roles"), "Role"),
	namespaced(gvr("rbac.authorization.k8s.io", "v1", "rolebindings"), "RoleBinding"),
	namespaced(gvr("networking.k8s.io", "v1", "networkpolicies"), "NetworkPolicy"),

	namespaced(gvr("networking.istio.io", "v1", "gateways"), "Gateway"),
	namespaced(gvr("networking.istio.io", "v1", "virtualservices"), "VirtualService"),
	namespaced(gvr("networking.istio.io", "v1", "destinationrules"), "DestinationRule"),
	namespaced(gvr("networking.istio.io", "v1beta1", "gateways"), "Gateway"),
	namespaced(gvr("networking.istio.io", "v1beta1", "virtualservices"), "VirtualService"),
	namespaced(gvr("security.istio.io", "v1", "peerauthentications"), "PeerAuthentication"),
	namespaced(gvr("security.istio.io", "v1", "authorizationpolicies"), "AuthorizationPolicy"),
	namespaced(gvr("security.istio.io", "v1beta1", "peerauthentications"), "PeerAuthentication"),
	namespaced(gvr("security.istio.io", "v1beta1", "authorizationpolicies"), "AuthorizationPolicy"),
	namespaced(gvr("security.istio.io", "v1", "requestauthentications"), "RequestAuthentication"),
	namespaced(gvr("security.istio.io", "v1beta1", "requestauthentications"), "RequestAuthentication"),

	namespaced(certmanager.Issuers, "Issuer"),
	clusterScoped(certmanager.ClusterIssuers, "ClusterIssuer"),
	namespaced(certmanager.Certificates, "Certificate"),

	clusterScoped(gatewayapi.GatewayClasses("v1"), "GatewayClass"),
	namespaced(gatewayapi.Gateways("v1"), "Gateway"),
	namespaced(gatewayapi.HTTPRoutes("v1"), "HTTPRoute"),
	clusterScoped(gatewayapi.GatewayClasses("v1beta1"), "GatewayClass"),
	namespaced(gatewayapi.Gateways("v1beta1"), "Gateway"),
	namespaced(gatewayapi.HTTPRoutes("v1beta1"), "HTTPRoute"),
	namespaced(gatewayapi.ReferenceGrants, "ReferenceGrant"),
}

// Istio's, cert-manager's and Kubernetes' own groups, the Gateway API's.
const (
	IstioNetworking = "networking.istio.io"
	IstioSecurity   = "security.istio.io"
	CertManager     = certmanager.Group
	GatewayAPI      = gatewayapi.Group
)

// DefaultServed is what a new fake cluster serves: the Kubernetes groups
// kubectl-opea reads, Istio's APIs in v1 (AuthorizationPolicy among them)
// and cert-manager's; not the Gateway API (ServeGatewayAPI).
var DefaultServed = []schema.GroupVersionResource{
	gvr("", "v1", "namespaces"), gvr("", "v1", "secrets"), gvr("", "v1", "services"),
	gvr("", "v1", "pods"), gvr("", "v1", "configmaps"), gvr("", "v1", "serviceaccounts"),
	gvr("apps", "v1", "deployments"), gvr("apps", "v1", "daemonsets"),
	gvr("rbac.authorization.k8s.io", "v1", "clusterroles"), gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
	gvr("rbac.authorization.k8s.io", "v1", "roles"), gvr("rbac.authorization.k8s.io", "v1", "rolebindings"),
	gvr("networking.k8s.io", "v1", "networkpolicies"),
	gvr(IstioNetworking, "v1", "gateways"), gvr(IstioNetworking, "v1", "virtualservices"), gvr(IstioNetworking, "v1", "destinationrules"),
	gvr(IstioSecurity, "v1", "peerauthentications"), gvr(IstioSecurity, "v1", "authorizationpolicies"), gvr(IstioSecurity, "v1", "requestauthentications"),
	certmanager.Issuers, certmanager.ClusterIssuers, certmanager.Certificates,
}

// known finds the row of a resource.
func known(r schema.GroupVersionResource) (Resource, bool) {
	for _, k := range Known {
		if k.GroupVersionResource == r {
			return k, true
		}
	}
	return Resource{}, false
}

// resourceLists is how discovery lists resources: one list per group
// version, in the order first named.
func resourceLists(resources []schema.GroupVersionResource) []*metav1.APIResourceList {
	var lists []*metav1.APIResourceList
	byGV := map[string]*metav1.APIResourceList{}
	for _, r := range resources {
		k, ok := known(r)
		if !ok {
			panic(fmt.Sprintf("clientstest: %s is not a resource the fake cluster knows: add it to Known", r))
		}
		gv := r.GroupVersion().String()
		l := byGV[gv]
		if l == nil {
			l = &metav1.APIResourceList{GroupVersion: gv}
			byGV[gv] = l
			lists = append(lists, l)
		}
		l.APIResources = append(l.APIResources, metav1.APIResource{Name: k.Resource, Kind: k.Kind, Namespaced: k.Namespaced})
	}
	return lists
}

// Mapper is a RESTMapper over every Known resource, built as kubectl builds
// one from discovery: the resource of a kind comes from it, never from a
// guessed plural.
func Mapper() meta.RESTMapper {
	var all []schema.GroupVersionResource
	for _, k := range Known {
		all = append(all, k.GroupVersionResource)
	}
	var groups []*restmapper.APIGroupResources
	byGroup := map[string]*restmapper.APIGroupResources{}
	for _, l := range resourceLists(all) {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		g := byGroup[gv.Group]
		if g == nil {
			g = &restmapper.APIGroupResources{
				Group:              metav1.APIGroup{Name: gv.Group, PreferredVersion: metav1.GroupVersionForDiscovery{GroupVersion: l.GroupVersion, Version: gv.Version}},
				VersionedResources: map[string][]metav1.APIResource{},
			}
			byGroup[gv.Group] = g
			groups = append(groups, g)
		}
		g.Group.Versions = append(g.Group.Versions, metav1.GroupVersionForDiscovery{GroupVersion: l.GroupVersion, Version: gv.Version})
		g.VersionedResources[gv.Version] = l.APIResources
	}
	return restmapper.NewDiscoveryRESTMapper(groups)
}

// ResourceFor is the resource of kind gvk, as the RESTMapper says.
func ResourceFor(gvk schema.GroupVersionKind) (schema.GroupVersionResource, error) {
	m, err := Mapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return schema.GroupVersionResource{}, err
	}
	return m.Resource, nil
}

// listKinds names the list kind of every Known resource, for the fake
// dynamic client.
func listKinds() map[schema.GroupVersionResource]string {
	kinds := map[schema.GroupVersionResource]string{}
	for _, k := range Known {
		kinds[k.GroupVersionResource] = k.Kind + "List"
	}
	return kinds
}
