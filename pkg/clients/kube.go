package clients

import (
	"fmt"

	appsv1 "k8s.io/client-go/kubernetes/typed/apps/v1"
	authorizationv1 "k8s.io/client-go/kubernetes/typed/authorization/v1"
	corev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	discoveryv1 "k8s.io/client-go/kubernetes/typed/discovery/v1"
	rbacv1 "k8s.io/client-go/kubernetes/typed/rbac/v1"
	"k8s.io/client-go/rest"
)

// Kube is the part of the Kubernetes clientset kubectl-opea calls: five API
// groups of the fifty the full clientset carries. Building only these keeps
// the others' typed clients and apply configurations out of the binary,
// where they were most of its size and of its start-up time. A full
// clientset (a fake one in tests) satisfies it.
type Kube interface {
	CoreV1() corev1.CoreV1Interface
	AppsV1() appsv1.AppsV1Interface
	RbacV1() rbacv1.RbacV1Interface
	AuthorizationV1() authorizationv1.AuthorizationV1Interface
	// DiscoveryV1 serves the EndpointSlices, where verify finds the pod
	// port a Service's named targetPort resolves to.
	DiscoveryV1() discoveryv1.DiscoveryV1Interface
}

// groupClients is a Kube built from a REST config.
type groupClients struct {
	core          *corev1.CoreV1Client
	apps          *appsv1.AppsV1Client
	rbac          *rbacv1.RbacV1Client
	authorization *authorizationv1.AuthorizationV1Client
	discovery     *discoveryv1.DiscoveryV1Client
}

func (g *groupClients) CoreV1() corev1.CoreV1Interface { return g.core }
func (g *groupClients) AppsV1() appsv1.AppsV1Interface { return g.apps }
func (g *groupClients) RbacV1() rbacv1.RbacV1Interface { return g.rbac }
func (g *groupClients) AuthorizationV1() authorizationv1.AuthorizationV1Interface {
	return g.authorization
}
func (g *groupClients) DiscoveryV1() discoveryv1.DiscoveryV1Interface { return g.discovery }

// NewKube builds the five group clients over one shared HTTP client, as
// kubernetes.NewForConfig does for all of them.
func NewKube(cfg *rest.Config) (Kube, error) {
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	g := &groupClients{}
	if g.core, err = corev1.NewForConfigAndClient(cfg, httpClient); err != nil {
		return nil, fmt.Errorf("core/v1: %w", err)
	}
	if g.apps, err = appsv1.NewForConfigAndClient(cfg, httpClient); err != nil {
		return nil, fmt.Errorf("apps/v1: %w", err)
	}
	if g.rbac, err = rbacv1.NewForConfigAndClient(cfg, httpClient); err != nil {
		return nil, fmt.Errorf("rbac/v1: %w", err)
	}
	if g.authorization, err = authorizationv1.NewForConfigAndClient(cfg, httpClient); err != nil {
		return nil, fmt.Errorf("authorization/v1: %w", err)
	}
	if g.discovery, err = discoveryv1.NewForConfigAndClient(cfg, httpClient); err != nil {
		return nil, fmt.Errorf("discovery.k8s.io/v1: %w", err)
	}
	return g, nil
}
