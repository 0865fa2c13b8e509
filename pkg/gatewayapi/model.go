// Package gatewayapi holds the parts of the Kubernetes Gateway API that
// kubectl-opea reads and writes: plain structs decoded from the API's
// objects, the conditions Istio's gateway controller writes on them, and the
// rules by which a route attaches to a listener. Nothing here calls the API.
package gatewayapi

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Group is the Gateway API group.
const Group = "gateway.networking.k8s.io"

// Versions are the served versions kubectl-opea can use, preferred first.
var Versions = []string{"v1", "v1beta1"}

// Resources of the Gateway API, by version.
func GatewayClasses(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: Group, Version: version, Resource: "gatewayclasses"}
}

// Gateways is the Gateway resource in version.
func Gateways(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: Group, Version: version, Resource: "gateways"}
}

// HTTPRoutes is the HTTPRoute resource in version.
func HTTPRoutes(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: Group, Version: version, Resource: "httproutes"}
}

// ReferenceGrants is the ReferenceGrant resource; v1beta1 is its only
// served version in the standard channel.
var ReferenceGrants = schema.GroupVersionResource{Group: Group, Version: "v1beta1", Resource: "referencegrants"}

const (
	// IstioClass is the GatewayClass for which istiod deploys a gateway.
	IstioClass = "istio"
	// IstioController is the controllerName of the GatewayClasses whose
	// Gateways istiod deploys ingress gateways for.
	IstioController = "istio.io/gateway-controller"
	// GatewayNameLabel is set by Istio on the Deployment, Service and pods
	// it deploys for a Gateway, naming the Gateway.
	GatewayNameLabel = "gateway.networking.k8s.io/gateway-name"
	// ServiceTypeAnnotation on a Gateway sets the type of the Service Istio
	// deploys for it (LoadBalancer by default).
	ServiceTypeAnnotation = "networking.istio.io/service-type"
	// NameOverrideAnnotation on a Gateway names the Deployment and Service
	// Istio deploys for it, not its ServiceAccount.
	NameOverrideAnnotation = "gateway.istio.io/name-override"
	// ServiceAccountAnnotation on a Gateway names the ServiceAccount Istio
	// deploys it with.
	ServiceAccountAnnotation = "gateway.istio.io/service-account"
	// ControllerNameEnv is istiod's setting that renames its gateway
	// controller (features.ManagedGatewayController).
	ControllerNameEnv = "PILOT_GATEWAY_API_CONTROLLER_NAME"
)

// IstioControllerName is the controllerName istiod's gateway controller
// handles, given istiod's environment: IstioController unless renamed.
func IstioControllerName(istiodEnv map[string]string) string {
	if n := istiodEnv[ControllerNameEnv]; n != "" {
		return n
	}
	return IstioController
}

// defaultName is "<name>-<class>", istiod's GetDefaultName for the istio
// class.
func defaultName(gw Gateway) string {
	return gw.Name + "-" + gw.ClassName
}

// DeploymentName is the name of the Deployment and Service Istio's gateway
// controller deploys for gw: "<name>-<class>" unless the name-override
// annotation says otherwise (configureIstioGateway in
// pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go).
func DeploymentName(gw Gateway) string {
	if n := gw.Annotations[NameOverrideAnnotation]; n != "" {
		return n
	}
	return defaultName(gw)
}

// ServiceAccountName is the ServiceAccount the gateway Istio deploys for gw
// runs as, and so the identity its requests carry: the service-account
// annotation, else "<name>-<class>". The name-override annotation does not
// change it.
func ServiceAccountName(gw Gateway) string {
	if n := gw.Annotations[ServiceAccountAnnotation]; n != "" {
		return n
	}
	return defaultName(gw)
}

// Managed reports whether istiod deploys the gateway for gw, as its
// IsManaged does: with no spec.addresses, or a single one of type
// IPAddress (the default). With a Hostname address (or several) the
// Gateway is bound to proxies that exist already, behind that address.
func (gw Gateway) Managed() bool {
	switch {
	case len(gw.Addresses) == 0:
		return true
	case len(gw.Addresses) > 1:
		return false
	}
	t := gw.Addresses[0].Type
	return t == nil || *t == IPAddressType
}

// IPAddressType and HostnameAddressType are the Gateway API's address types.
const (
	IPAddressType       = "IPAddress"
	HostnameAddressType = "Hostname"
)

// AddressValues are gw's spec.addresses, as written.
func (gw Gateway) AddressValues() []string {
	var out []string
	for _, a := range gw.Addresses {
		out = append(out, a.Value)
	}
	return out
}

// Condition is a status condition as Gateway API objects carry them.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
}

// FindCondition returns the condition of type t, or nil.
func FindCondition(conds []Condition, t string) *Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// GatewayClass is a GatewayClass.
type GatewayClass struct {
	Name           string      `json:"-"`
	Generation     int64       `json:"-"`
	ControllerName string      `json:"controllerName"`
	Conditions     []Condition `json:"-"`
}

// Gateway is a Gateway API Gateway with its status.
type Gateway struct {
	Namespace         string            `json:"-"`
	Name              string            `json:"-"`
	Generation        int64             `json:"-"`
	Labels            map[string]string `json:"-"`
	Annotations       map[string]string `json:"-"`
	CreationTimestamp time.Time         `json:"-"`
	ClassName         string            `json:"gatewayClassName"`
	Listeners         []Listener        `json:"listeners,omitempty"`
	// Addresses are spec.addresses: where the Gateway should be reached;
	// a Hostname address binds it to an existing gateway.
	Addresses []SpecAddress `json:"addresses,omitempty"`
	Status    GatewayStatus `json:"-"`
}

// SpecAddress is one of a Gateway's spec.addresses; Type is IPAddress when
// unset.
type SpecAddress struct {
	Type  *string `json:"type,omitempty"`
	Value string  `json:"value"`
}

// Listener is one listener of a Gateway.
type Listener struct {
	Name          string         `json:"name"`
	Hostname      string         `json:"hostname,omitempty"`
	Port          int32          `json:"port"`
	Protocol      string         `json:"protocol"`
	TLS           *ListenerTLS   `json:"tls,omitempty"`
	AllowedRoutes *AllowedRoutes `json:"allowedRoutes,omitempty"`
}

// ListenerTLS is a listener's TLS settings.
type ListenerTLS struct {
	Mode            string            `json:"mode,omitempty"`
	CertificateRefs []SecretReference `json:"certificateRefs,omitempty"`
}

// SecretReference is a listener's certificateRef.
type SecretReference struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name"`
	Namespace string `json:"namespace,omitempty"`
}

// IsSecret reports whether ref names a core Secret (the defaults).
func (ref SecretReference) IsSecret() bool {
	return ref.Group == "" && (ref.Kind == "" || ref.Kind == "Secret")
}

// AllowedRoutes says which routes may attach to a listener.
type AllowedRoutes struct {
	Namespaces *RouteNamespaces `json:"namespaces,omitempty"`
	Kinds      []RouteGroupKind `json:"kinds,omitempty"`
}

// RouteNamespaces is AllowedRoutes.namespaces; From is Same, All or
// Selector (Same when unset).
type RouteNamespaces struct {
	From     string                `json:"from,omitempty"`
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
}

// RouteGroupKind is a kind of route a listener admits; Group is the
// Gateway API's when unset.
type RouteGroupKind struct {
	Group *string `json:"group,omitempty"`
	Kind  string  `json:"kind"`
}

// Terminates reports whether l terminates TLS for HTTP (an HTTPS listener
// in Terminate mode, the default).
func (l Listener) Terminates() bool {
	return l.Protocol == "HTTPS" && (l.TLS == nil || l.TLS.Mode == "" || l.TLS.Mode == "Terminate")
}

// GatewayStatus is what the gateway controller reports.
type GatewayStatus struct {
	Addresses  []Address        `json:"addresses,omitempty"`
	Conditions []Condition      `json:"conditions,omitempty"`
	Listeners  []ListenerStatus `json:"listeners,omitempty"`
}

// Address is one of a Gateway's status addresses.
type Address struct {
	Type  string `json:"type,omitempty"`
	Value string `json:"value"`
}

// ListenerStatus is the status of one listener.
type ListenerStatus struct {
	Name           string      `json:"name"`
	AttachedRoutes int32       `json:"attachedRoutes"`
	Conditions     []Condition `json:"conditions,omitempty"`
}

// ListenerStatus returns the status of the listener named name, or nil.
func (gw Gateway) ListenerStatus(name string) *ListenerStatus {
	for i := range gw.Status.Listeners {
		if gw.Status.Listeners[i].Name == name {
			return &gw.Status.Listeners[i]
		}
	}
	return nil
}

// HTTPRoute is an HTTPRoute with its status.
type HTTPRoute struct {
	Namespace  string            `json:"-"`
	Name       string            `json:"-"`
	Generation int64             `json:"-"`
	Labels     map[string]string `json:"-"`
	ParentRefs []ParentRef       `json:"parentRefs,omitempty"`
	Hostnames  []string          `json:"hostnames,omitempty"`
	Rules      []RouteRule       `json:"rules,omitempty"`
	Status     RouteStatus       `json:"-"`
}

// ParentRef names the Gateway (and listener) a route attaches to.
type ParentRef struct {
	Group       *string `json:"group,omitempty"`
	Kind        *string `json:"kind,omitempty"`
	Namespace   string  `json:"namespace,omitempty"`
	Name        string  `json:"name"`
	SectionName string  `json:"sectionName,omitempty"`
	Port        int32   `json:"port,omitempty"`
}

// IsGateway reports whether ref names a Gateway (the defaults).
func (ref ParentRef) IsGateway() bool {
	return (ref.Group == nil || *ref.Group == Group) && (ref.Kind == nil || *ref.Kind == "Gateway")
}

// GatewayNamespace is the namespace of the Gateway ref names, from a route
// in routeNamespace.
func (ref ParentRef) GatewayNamespace(routeNamespace string) string {
	if ref.Namespace != "" {
		return ref.Namespace
	}
	return routeNamespace
}

// RouteRule is one rule of an HTTPRoute.
type RouteRule struct {
	Filters     []RouteFilter `json:"filters,omitempty"`
	BackendRefs []BackendRef  `json:"backendRefs,omitempty"`
}

// RouteFilter is an HTTPRoute filter; only redirects are read.
type RouteFilter struct {
	Type            string           `json:"type"`
	RequestRedirect *RequestRedirect `json:"requestRedirect,omitempty"`
}

// RequestRedirect is the RequestRedirect filter.
type RequestRedirect struct {
	Scheme     *string `json:"scheme,omitempty"`
	StatusCode *int    `json:"statusCode,omitempty"`
}

// BackendRef is where a rule sends requests.
type BackendRef struct {
	Group     *string `json:"group,omitempty"`
	Kind      *string `json:"kind,omitempty"`
	Name      string  `json:"name"`
	Namespace string  `json:"namespace,omitempty"`
	Port      *int32  `json:"port,omitempty"`
}

// IsService reports whether ref names a core Service (the defaults).
func (ref BackendRef) IsService() bool {
	return (ref.Group == nil || *ref.Group == "") && (ref.Kind == nil || *ref.Kind == "Service")
}

// ServiceNamespace is the namespace of the backend, from a route in
// routeNamespace.
func (ref BackendRef) ServiceNamespace(routeNamespace string) string {
	if ref.Namespace != "" {
		return ref.Namespace
	}
	return routeNamespace
}

// RouteStatus is an HTTPRoute's status: one entry per parent.
type RouteStatus struct {
	Parents []RouteParentStatus `json:"parents,omitempty"`
}

// RouteParentStatus is a route's status for one parent.
type RouteParentStatus struct {
	ParentRef      ParentRef   `json:"parentRef"`
	ControllerName string      `json:"controllerName"`
	Conditions     []Condition `json:"conditions,omitempty"`
}

// ReferenceGrant is a ReferenceGrant.
type ReferenceGrant struct {
	Namespace string          `json:"-"`
	Name      string          `json:"-"`
	From      []ReferenceFrom `json:"from"`
	To        []ReferenceTo   `json:"to"`
}

// ReferenceFrom is who a ReferenceGrant lets refer.
type ReferenceFrom struct {
	Group     string `json:"group"`
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
}

// ReferenceTo is what a ReferenceGrant lets be referred to.
type ReferenceTo struct {
	Group string  `json:"group"`
	Kind  string  `json:"kind"`
	Name  *string `json:"name,omitempty"`
}

// decode reads u's spec into spec and, when status is not nil, its status.
func decode(u *unstructured.Unstructured, spec, status interface{}) error {
	m, _, _ := unstructured.NestedMap(u.Object, "spec")
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(m, spec); err != nil {
		return err
	}
	if status == nil {
		return nil
	}
	st, _, _ := unstructured.NestedMap(u.Object, "status")
	return runtime.DefaultUnstructuredConverter.FromUnstructured(st, status)
}

// DecodeGatewayClass reads a GatewayClass as the API returns it.
func DecodeGatewayClass(u *unstructured.Unstructured) (GatewayClass, error) {
	var c GatewayClass
	var st struct {
		Conditions []Condition `json:"conditions,omitempty"`
	}
	err := decode(u, &c, &st)
	c.Name, c.Generation, c.Conditions = u.GetName(), u.GetGeneration(), st.Conditions
	return c, err
}

// DecodeGateway reads a Gateway as the API returns it.
func DecodeGateway(u *unstructured.Unstructured) (Gateway, error) {
	var gw Gateway
	err := decode(u, &gw, &gw.Status)
	gw.Namespace, gw.Name, gw.Generation = u.GetNamespace(), u.GetName(), u.GetGeneration()
	gw.Labels, gw.Annotations, gw.CreationTimestamp = u.GetLabels(), u.GetAnnotations(), u.GetCreationTimestamp().Time
	return gw, err
}

// DecodeHTTPRoute reads an HTTPRoute as the API returns it.
func DecodeHTTPRoute(u *unstructured.Unstructured) (HTTPRoute, error) {
	var r HTTPRoute
	err := decode(u, &r, &r.Status)
	r.Namespace, r.Name, r.Generation, r.Labels = u.GetNamespace(), u.GetName(), u.GetGeneration(), u.GetLabels()
	return r, err
}

// DecodeReferenceGrant reads a ReferenceGrant as the API returns it.
func DecodeReferenceGrant(u *unstructured.Unstructured) (ReferenceGrant, error) {
	var g ReferenceGrant
	err := decode(u, &g, nil)
	g.Namespace, g.Name = u.GetNamespace(), u.GetName()
	return g, err
}
