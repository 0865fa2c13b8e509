// Package ownership is the one vocabulary secure, verify and unsecure share
// for "this object is kubectl opea's": the labels and annotations secure
// writes, the names it gives its objects, and the rule that decides whether
// an object belongs to one application namespace. It imports nothing of the
// project, so that every other package may use it.
package ownership

import "k8s.io/apimachinery/pkg/labels"

const (
	// ManagedByLabel marks every object secure creates.
	ManagedByLabel = "app.kubernetes.io/managed-by"
	// ManagedByValue is also secure's default server-side apply field manager.
	ManagedByValue = "kubectl-opea"
	// AppNamespaceLabel names the application namespace an object serves;
	// objects in the gateway namespace carry it too.
	AppNamespaceLabel = "opea.dev/app-namespace"

	// AdoptedAnnotation marks an object that existed before secure took it
	// over (with --force-conflicts, or by applying the same values):
	// unsecure leaves such an object in place.
	AdoptedAnnotation = "opea.dev/adopted"
	// TakeoversAnnotation records, on an object secure keeps after unsecure
	// (the namespace, an adopted object), the fields --force-conflicts took
	// from other field managers and the values they held: unsecure gives
	// them back.
	TakeoversAnnotation = "opea.dev/taken-over"
	// AllowPrincipalsAnnotation records on the AllowApp policy the
	// principals --allow-principal admitted, so that a later secure without
	// --lockdown keeps admitting them.
	AllowPrincipalsAnnotation = "opea.dev/allow-principals"
	// AuthAnnotation records, on the AuthorizationPolicy of secure --auth,
	// the settings it was made with (JSON), so that a later secure without
	// --auth renders the same policies again.
	AuthAnnotation = "opea.dev/auth"
)

// The names of the AuthorizationPolicies secure --lockdown writes in the
// application namespace, the same for every application.
const (
	DenyByDefaultPolicy       = "opea-deny-by-default"
	AllowAppPolicy            = "opea-allow-app"
	AllowIngressPolicy        = "opea-allow-ingress"
	AllowGatewayClientsPolicy = "opea-allow-gateway-clients"
)

// Labels are the labels of every object secure creates for the application
// in appNamespace.
func Labels(appNamespace string) map[string]string {
	return map[string]string{ManagedByLabel: ManagedByValue, AppNamespaceLabel: appNamespace}
}

// Selector selects exactly the objects secure created for appNamespace.
func Selector(appNamespace string) string {
	return labels.SelectorFromSet(Labels(appNamespace)).String()
}

// Managed reports whether objectLabels mark an object secure created, for
// whichever application.
func Managed(objectLabels map[string]string) bool {
	return objectLabels[ManagedByLabel] == ManagedByValue
}

// Ours reports whether objectLabels mark an object secure created for the
// application in appNamespace.
func Ours(objectLabels map[string]string, appNamespace string) bool {
	return Managed(objectLabels) && objectLabels[AppNamespaceLabel] == appNamespace
}

// AppNamespace is the application namespace a managed object serves, or ""
// when objectLabels do not mark an object of secure's.
func AppNamespace(objectLabels map[string]string) string {
	if !Managed(objectLabels) {
		return ""
	}
	return objectLabels[AppNamespaceLabel]
}

// Names are the names of the objects secure creates for one application.
// Objects in the shared gateway namespace carry the application namespace in
// their names, so that two applications never collide.
type Names struct {
	// Gateway is the Istio Gateway, or the Gateway API Gateway.
	Gateway        string
	VirtualService string
	// HTTPRoute routes the HTTPS listeners to the application, and
	// RedirectRoute answers the HTTP listeners with a redirect (Gateway API).
	HTTPRoute        string
	RedirectRoute    string
	SelfSignedIssuer string
	CACertificate    string
	CASecret         string
	CAIssuer         string
	Certificate      string
	TLSSecret        string
	// DenyByDefault, AllowApp and AllowIngress are the AuthorizationPolicies
	// of secure --lockdown; AllowGatewayClients too, with the Gateway API.
	DenyByDefault       string
	AllowApp            string
	AllowIngress        string
	AllowGatewayClients string
	// RequestAuthentication, RequireJWT and ExtAuthz are the policies of
	// secure --auth on the ingress gateway: the JWT rules, the DENY of
	// requests for the hosts without a valid token, and the CUSTOM policy
	// of --auth ext-authz. They carry the application namespace in their
	// names: on a shared gateway each application has its own.
	RequestAuthentication string
	RequireJWT            string
	ExtAuthz              string
}

// NamesFor returns the names for the application in appNamespace.
func NamesFor(appNamespace string) Names {
	prefix := "opea-" + appNamespace
	return Names{
		Gateway:          "opea-ingress",
		VirtualService:   "opea-ingress",
		HTTPRoute:        "opea-ingress",
		RedirectRoute:    "opea-ingress-redirect",
		SelfSignedIssuer: prefix + "-selfsigned",
		CACertificate:    prefix + "-ca",
		CASecret:         prefix + "-ca",
		CAIssuer:         prefix + "-ca",
		Certificate:      prefix + "-tls",
		TLSSecret:        prefix + "-tls",
		DenyByDefault:    DenyByDefaultPolicy,
		AllowApp:         AllowAppPolicy,
		AllowIngress:     AllowIngressPolicy,
		// The gateway Istio deploys for the Gateway runs in the application
		// namespace, where the namespace-wide policies would shut clients out.
		AllowGatewayClients:   AllowGatewayClientsPolicy,
		RequestAuthentication: prefix + "-jwt",
		RequireJWT:            prefix + "-require-jwt",
		ExtAuthz:              prefix + "-ext-authz",
	}
}
