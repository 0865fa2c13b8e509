package istio

import "strconv"

const (
	// UseWaypointLabel on a Service or its namespace sends the Service's
	// traffic through a waypoint; UseWaypointNamespaceLabel names the
	// waypoint's namespace when it is another; IngressUseWaypointLabel makes
	// ingress gateways send theirs there too (GetUseWaypoint and
	// ingressUseWaypointFromLabels in pilot/pkg/serviceregistry/ambient).
	UseWaypointLabel          = "istio.io/use-waypoint"
	UseWaypointNamespaceLabel = "istio.io/use-waypoint-namespace"
	IngressUseWaypointLabel   = "istio.io/ingress-use-waypoint"

	// WaypointClass is the GatewayClass of waypoints; istiod deploys them
	// under the Gateway's own name, without the class suffix.
	WaypointClass = "istio-waypoint"
	// GatewayServiceAccountAnnotation on a Gateway names the ServiceAccount
	// istiod deploys its proxy with.
	GatewayServiceAccountAnnotation = "gateway.istio.io/service-account"
)

// Waypoint is the waypoint a Service's traffic goes through.
type Waypoint struct {
	Namespace, Name string
}

// ServiceWaypoint is the waypoint a Service of namespace ns with svcLabels
// uses: the Service's label, else its namespace's; "none" opts out
// (GetUseWaypoint, fetchWaypointForTarget). ok is false for none.
func ServiceWaypoint(ns string, svcLabels, nsLabels map[string]string) (Waypoint, bool) {
	for _, l := range []map[string]string{svcLabels, nsLabels} {
		name, ok := l[UseWaypointLabel]
		if !ok {
			continue
		}
		if name == "none" || name == "" {
			return Waypoint{}, false
		}
		wp := Waypoint{Namespace: ns, Name: name}
		if override, ok := l[UseWaypointNamespaceLabel]; ok {
			wp.Namespace = override
		}
		return wp, true
	}
	return Waypoint{}, false
}

// IngressUsesWaypoint is ingressUseWaypointFromLabels: the Service's
// label, else its namespace's, true as strconv.ParseBool reads it.
func IngressUsesWaypoint(svcLabels, nsLabels map[string]string) bool {
	value, ok := svcLabels[IngressUseWaypointLabel]
	if !ok {
		value = nsLabels[IngressUseWaypointLabel]
	}
	on, err := strconv.ParseBool(value)
	return err == nil && on
}

// WaypointServiceAccount is the ServiceAccount istiod deploys waypoint
// Gateway name of class with: the service-account annotation, else the
// Gateway's name for the waypoint class (its deployments drop the class
// suffix, GetDefaultName with DisableNameSuffix), else "<name>-<class>".
func WaypointServiceAccount(name, class string, annotations map[string]string) string {
	if sa := annotations[GatewayServiceAccountAnnotation]; sa != "" {
		return sa
	}
	if class == "" || class == WaypointClass {
		return name
	}
	return name + "-" + class
}
