package istio

import corev1 "k8s.io/api/core/v1"

// DataplaneModeLabel enrols a namespace or pod in ambient mode ("ambient"),
// or opts a pod out ("none").
const DataplaneModeLabel = "istio.io/dataplane-mode"

// SidecarInjection names the namespace label that turns on sidecar
// injection, which ambient enrolment must not be mixed with:
// istio-injection=enabled, or any istio.io/rev (a revision's injector).
func SidecarInjection(namespaceLabels map[string]string) (key, value string, on bool) {
	if v := namespaceLabels["istio-injection"]; v == "enabled" {
		return "istio-injection", v, true
	}
	if v, ok := namespaceLabels["istio.io/rev"]; ok {
		return "istio.io/rev", v, true
	}
	return "", "", false
}

// ServiceAddress is the first load-balancer address of a Service: its IP,
// else its host name; empty when it has none.
func ServiceAddress(status corev1.ServiceStatus) string {
	if lb := status.LoadBalancer.Ingress; len(lb) > 0 {
		if lb[0].IP != "" {
			return lb[0].IP
		}
		return lb[0].Hostname
	}
	return ""
}

// ExampleHost turns a wildcard host into a concrete name a client can use,
// e.g. *.example.com -> chatqna.example.com for the chatqna application.
func ExampleHost(host, appNamespace string) string {
	if len(host) > 2 && host[:2] == "*." {
		return appNamespace + host[1:]
	}
	return host
}
