// Package discover finds the facts about a cluster that every command needs
// and that must never be hard-coded: the application's entry Service and
// port, the Istio ingress gateway (namespace, pod labels, Service ports) and
// the API versions the cluster serves.
package discover

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

// Entry is the application's entry Service: the one the ingress routes to.
type Entry struct {
	Service string
	Port    int32
	// Selector is the Service's pod selector: the entry workload.
	Selector map[string]string
	// ServicePort is Port as the Service declares it, with its targetPort.
	ServicePort corev1.ServicePort
}

// EntryService finds the entry Service of the application in namespace.
// With name empty it is the one Service named "<release>-nginx"; with port
// zero it is the Service's only port, or the one named "nginx" or "http".
func EntryService(ctx context.Context, kube clients.Kube, namespace, name string, port int32) (Entry, error) {
	var svc *corev1.Service
	if name != "" {
		s, err := kube.CoreV1().Services(namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return Entry{}, problems.New(
				fmt.Sprintf("Service %s/%s does not exist", namespace, name),
				fmt.Sprintf("list the Services with 'kubectl get services -n %s' and pass the entry one with --service", namespace))
		}
		if err != nil {
			return Entry{}, err
		}
		svc = s
	} else {
		list, err := kube.CoreV1().Services(namespace).List(ctx, metav1.ListOptions{})
		if err != nil {
			return Entry{}, err
		}
		var candidates []corev1.Service
		var all []string
		for _, s := range list.Items {
			all = append(all, s.Name)
			if strings.HasSuffix(s.Name, "-nginx") {
				candidates = append(candidates, s)
			}
		}
		switch len(candidates) {
		case 0:
			return Entry{}, problems.New(
				fmt.Sprintf("no Service named <release>-nginx in namespace %s (Services: %s)", namespace, listOrNone(all)),
				"pass the application's entry Service with --service NAME")
		case 1:
			svc = &candidates[0]
		default:
			var names []string
			for _, c := range candidates {
				names = append(names, c.Name)
			}
			return Entry{}, problems.New(
				fmt.Sprintf("several *-nginx Services in namespace %s: %s", namespace, strings.Join(names, ", ")),
				"choose one with --service NAME")
		}
	}
	p, err := entryPort(svc, port)
	if err != nil {
		return Entry{}, err
	}
	return Entry{Service: svc.Name, Port: p.Port, Selector: svc.Spec.Selector, ServicePort: p}, nil
}

func entryPort(svc *corev1.Service, want int32) (corev1.ServicePort, error) {
	var ports []string
	for _, p := range svc.Spec.Ports {
		ports = append(ports, fmt.Sprintf("%d (%s)", p.Port, p.Name))
		if want != 0 && p.Port == want {
			return p, nil
		}
	}
	if want != 0 {
		return corev1.ServicePort{}, problems.New(
			fmt.Sprintf("Service %s/%s has no port %d (ports: %s)", svc.Namespace, svc.Name, want, listOrNone(ports)),
			"pass one of its ports with --port")
	}
	if len(svc.Spec.Ports) == 1 {
		return svc.Spec.Ports[0], nil
	}
	for _, name := range []string{"nginx", "http"} {
		for _, p := range svc.Spec.Ports {
			if p.Name == name {
				return p, nil
			}
		}
	}
	return corev1.ServicePort{}, problems.New(
		fmt.Sprintf("Service %s/%s has ports %s and none is named nginx or http", svc.Namespace, svc.Name, listOrNone(ports)),
		"choose the port with --port")
}

// Gateway is the Istio ingress gateway that will terminate TLS.
type Gateway struct {
	Namespace  string
	Deployment string
	// Selector selects the gateway pods; a Gateway object uses it.
	Selector map[string]string
	// PodLabels are the labels of the gateway pods (their template's):
	// which other Gateways apply to them.
	PodLabels map[string]string
	// Service exposes the gateway pods.
	Service string
	// HTTPSPort and HTTPPort are the pod ports the Service sends its 443
	// and 80 traffic to; HTTPPort is 0 when the Service has no port 80.
	HTTPSPort int32
	HTTPPort  int32
	// Address is the Service's load balancer IP or host name, if it has one.
	Address string
	// ServiceAccount is the service account the gateway pods run as: their
	// identity, which a lockdown admits to the entry workload.
	ServiceAccount string
	// Targets are the Service ports of every Service that selects the
	// gateway pods, resolved to pod ports: how istiod translates Gateway
	// server ports (istio.ResolveServerPort).
	Targets []istio.ServiceTarget
}

// GatewayLabels are the pod labels by which an Istio ingress gateway is
// recognised: the istio/gateway Helm chart sets istio=<release without
// "istio-"> and app=<release>, istioctl install sets istio=ingressgateway.
var GatewayLabels = []labels.Set{
	{"istio": "ingress"},
	{"istio": "ingressgateway"},
	{"app": "istio-ingress"},
}

// NoIngressGateway is IngressGateway's problem when no Deployment runs
// gateway pods: a caller that knows another way to a gateway (the Gateway
// API) can add it to the fix.
type NoIngressGateway struct{ *problems.Problem }

// Unwrap lets errors.As find the Problem.
func (e *NoIngressGateway) Unwrap() error { return e.Problem }

// IngressGateway finds the one Deployment of Istio ingress gateway pods (in
// namespace, or in any namespace when it is empty), either by the selector
// the user gave or by GatewayLabels, and the Service that exposes it.
func IngressGateway(ctx context.Context, kube clients.Kube, namespace string, selector map[string]string) (Gateway, error) {
	deployments, err := kube.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) && namespace == "" {
		return Gateway{}, problems.New(
			"you may not list Deployments in every namespace to find the ingress gateway: "+err.Error(),
			"pass --gateway-namespace (and --gateway-selector if needed) naming where the gateway pods run")
	}
	if err != nil {
		return Gateway{}, err
	}
	where := "any namespace"
	if namespace != "" {
		where = "namespace " + namespace
	}
	var found []appsv1.Deployment
	for _, d := range deployments.Items {
		podLabels := labels.Set(d.Spec.Template.Labels)
		if selector != nil {
			if labels.SelectorFromSet(selector).Matches(podLabels) {
				found = append(found, d)
			}
			continue
		}
		for _, l := range GatewayLabels {
			if l.AsSelector().Matches(podLabels) {
				found = append(found, d)
				break
			}
		}
	}
	switch {
	case len(found) == 0 && selector != nil:
		return Gateway{}, &NoIngressGateway{problems.New(
			fmt.Sprintf("no Deployment in %s has pods labelled %s", where, labels.Set(selector)),
			"check the labels with 'kubectl get deployments -A --show-labels' and fix --gateway-selector")}
	case len(found) == 0:
		return Gateway{}, &NoIngressGateway{problems.New(
			fmt.Sprintf("no Istio ingress gateway found in %s (looked for Deployments whose pods carry %s)", where, gatewayLabelList()),
			"install one (helm install istio-ingress istio/gateway -n istio-ingress --create-namespace), or pass --gateway-namespace and --gateway-selector")}
	case len(found) > 1:
		var names []string
		for _, d := range found {
			names = append(names, fmt.Sprintf("%s/%s (%s)", d.Namespace, d.Name, labels.Set(d.Spec.Template.Labels)))
		}
		return Gateway{}, problems.New(
			fmt.Sprintf("%d ingress gateways found: %s", len(found), strings.Join(names, "; ")),
			"choose one with --gateway-namespace and, if needed, --gateway-selector")
	}
	d := found[0]
	gw := Gateway{Namespace: d.Namespace, Deployment: d.Name, Selector: selector, PodLabels: d.Spec.Template.Labels,
		ServiceAccount: ServiceAccountOf(d.Spec.Template.Spec)}
	if gw.Selector == nil {
		// The Deployment's own selector: immutable, and it matches exactly
		// its pods, unlike labels that change with a chart version.
		if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 || len(d.Spec.Selector.MatchExpressions) > 0 {
			gw.Selector = d.Spec.Template.Labels
		} else {
			gw.Selector = d.Spec.Selector.MatchLabels
		}
	}
	if err := gatewayService(ctx, kube, d, &gw); err != nil {
		return Gateway{}, err
	}
	return gw, nil
}

// gatewayService finds the Service whose selector picks the gateway's pods
// and the pod ports it sends 443 and 80 to.
func gatewayService(ctx context.Context, kube clients.Kube, d appsv1.Deployment, gw *Gateway) error {
	services, err := kube.CoreV1().Services(d.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	podLabels := labels.Set(d.Spec.Template.Labels)
	podPorts := istio.ContainerPorts(d.Spec.Template.Spec)
	var seen []string
	var chosen *corev1.Service
	for i, s := range services.Items {
		if len(s.Spec.Selector) == 0 || !labels.SelectorFromSet(s.Spec.Selector).Matches(podLabels) {
			continue
		}
		seen = append(seen, s.Name)
		targets := istio.ServiceTargets(s.Spec.Ports, podPorts)
		if _, off := s.Labels[istio.DisablePortTranslationLabel]; !off {
			gw.Targets = append(gw.Targets, targets...)
		}
		if chosen != nil {
			continue
		}
		var https, http int32
		for _, t := range targets {
			if t.TargetPort == 443 || (https == 0 && t.Port == 443) {
				https = t.TargetPort
			}
			if t.Port == 80 {
				http = t.TargetPort
			}
		}
		if https != 0 {
			chosen = &services.Items[i]
			gw.Service, gw.HTTPSPort, gw.HTTPPort = s.Name, https, http
			gw.Address = istio.ServiceAddress(s.Status)
		}
	}
	if chosen != nil {
		return nil
	}
	if len(seen) == 0 {
		return problems.New(
			fmt.Sprintf("no Service in namespace %s selects the pods of ingress gateway %s", d.Namespace, d.Name),
			fmt.Sprintf("expose it with a Service of ports 80 and 443 (kubectl expose deployment %s -n %s --port 443)", d.Name, d.Namespace))
	}
	sort.Strings(seen)
	return problems.New(
		fmt.Sprintf("gateway Service %s/%s has no port 443 or port targeting 443", d.Namespace, strings.Join(seen, ", ")),
		"add a port 443 to the gateway Service so that clients can reach the HTTPS listener")
}

// ServerPort is the Gateway server port number that makes the gateway pods
// listen on listener: the number itself, unless istiod would translate it
// as the port of a Service to another pod port; then the Service port that
// targets listener.
func (g Gateway) ServerPort(listener int32) int32 {
	if istio.ResolveServerPort(g.Targets, listener) == listener {
		return listener
	}
	for _, t := range g.Targets {
		if t.TargetPort == listener && istio.ResolveServerPort(g.Targets, t.Port) == listener {
			return t.Port
		}
	}
	return listener
}

// Listener is the port the gateway pods listen on for a Gateway server port.
func (g Gateway) Listener(serverPort int32) int32 {
	return istio.ResolveServerPort(g.Targets, serverPort)
}

// ServiceAccountOf is the service account pods of spec run as: the API
// server sets "default" when none is named.
func ServiceAccountOf(spec corev1.PodSpec) string {
	if spec.ServiceAccountName == "" {
		return "default"
	}
	return spec.ServiceAccountName
}

// AppServiceAccounts are the service accounts the application's pods run
// as, sorted, each once: what secure --lockdown admits, and verify expects
// it to. Pods of a Gateway API gateway (one Istio deployed for a Gateway,
// labelled with its name) are not the application's.
func AppServiceAccounts(pods []corev1.Pod) []string {
	out := []string{}
	for _, pod := range pods {
		if _, gateway := pod.Labels[gatewayapi.GatewayNameLabel]; gateway {
			continue
		}
		out = append(out, ServiceAccountOf(pod.Spec))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func gatewayLabelList() string {
	var s []string
	for _, l := range GatewayLabels {
		s = append(s, l.String())
	}
	return strings.Join(s, " or ")
}

func listOrNone(items []string) string {
	if len(items) == 0 {
		return "none"
	}
	return strings.Join(items, ", ")
}
