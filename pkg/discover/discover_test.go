package discover

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/clients/clientstest"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

func service(ns, name string, selector map[string]string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Selector: selector, Ports: ports},
	}
}

func port(name string, number int32, target intstr.IntOrString) corev1.ServicePort {
	return corev1.ServicePort{Name: name, Port: number, TargetPort: target}
}

// assertProblem checks that err says want and what to do about it.
func assertProblem(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error = %v, want one containing %q", err, want)
	}
	if !strings.Contains(err.Error(), "fix: ") {
		t.Errorf("error %q says nothing about what to do", err)
	}
}

func TestEntryService(t *testing.T) {
	nginx := service("chatqna", "chatqna-nginx", nil, port("nginx", 80, intstr.FromInt32(80)))
	backend := service("chatqna", "chatqna", nil, port("chatqna", 8888, intstr.FromInt32(8888)))
	twoPorts := service("chatqna", "web", nil, port("metrics", 9090, intstr.FromInt32(9090)), port("http", 8080, intstr.FromInt32(8080)))
	ambiguous := service("chatqna", "odd", nil, port("a", 1, intstr.FromInt32(1)), port("b", 2, intstr.FromInt32(2)))
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		service string
		port    int32
		want    Entry
		wantErr string
	}{
		{name: "the one -nginx Service", objects: []runtime.Object{nginx, backend}, want: Entry{Service: "chatqna-nginx", Port: 80}},
		{name: "none", objects: []runtime.Object{backend}, wantErr: "no Service named <release>-nginx in namespace chatqna (Services: chatqna)"},
		{name: "empty namespace", wantErr: "(Services: none)"},
		{name: "two", objects: []runtime.Object{nginx, service("chatqna", "codetrans-nginx", nil, port("nginx", 80, intstr.FromInt32(80)))}, wantErr: "several *-nginx Services in namespace chatqna: chatqna-nginx, codetrans-nginx"},
		{name: "named", objects: []runtime.Object{nginx, backend}, service: "chatqna", want: Entry{Service: "chatqna", Port: 8888}},
		{name: "named missing", objects: []runtime.Object{nginx}, service: "ui", wantErr: "Service chatqna/ui does not exist"},
		{name: "port named http among several", objects: []runtime.Object{twoPorts}, service: "web", want: Entry{Service: "web", Port: 8080}},
		{name: "explicit port", objects: []runtime.Object{twoPorts}, service: "web", port: 9090, want: Entry{Service: "web", Port: 9090}},
		{name: "explicit port missing", objects: []runtime.Object{nginx}, port: 81, wantErr: "has no port 81 (ports: 80 (nginx))"},
		{name: "ambiguous ports", objects: []runtime.Object{ambiguous}, service: "odd", wantErr: "none is named nginx or http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kube := clientstest.New(t, tc.objects...).Kube
			got, err := EntryService(context.Background(), kube, "chatqna", tc.service, tc.port)
			if tc.wantErr != "" {
				assertProblem(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Service != tc.want.Service || got.Port != tc.want.Port {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// A lockdown admits the gateway to the entry workload: the Service's
// selector and the port as declared, targetPort included.
func TestEntryServiceSelectorAndTargetPort(t *testing.T) {
	nginx := service("chatqna", "chatqna-nginx", map[string]string{"app": "nginx"}, port("nginx", 80, intstr.FromString("http")))
	got, err := EntryService(context.Background(), clientstest.New(t, nginx).Kube, "chatqna", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := Entry{Service: "chatqna-nginx", Port: 80, Selector: map[string]string{"app": "nginx"}, ServicePort: port("nginx", 80, intstr.FromString("http"))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entry (-want +got):\n%s", diff)
	}
}

func deployment(ns, name string, podLabels map[string]string, containerPorts ...corev1.ContainerPort) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Ports: containerPorts}}},
			},
		},
	}
}

func TestIngressGateway(t *testing.T) {
	chart := map[string]string{"app": "istio-ingress", "istio": "ingress"}
	chartDeploy := deployment("istio-ingress", "istio-ingress", chart)
	chartDeploy.Spec.Template.Spec.ServiceAccountName = "istio-ingress"
	chartSvc := service("istio-ingress", "istio-ingress", chart,
		port("status-port", 15021, intstr.FromInt32(15021)), port("http2", 80, intstr.FromInt32(80)), port("https", 443, intstr.FromInt32(443)))
	chartSvc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.10"}}

	legacy := map[string]string{"app": "istio-ingressgateway", "istio": "ingressgateway"}
	legacyDeploy := deployment("istio-system", "istio-ingressgateway", legacy,
		corev1.ContainerPort{Name: "https", ContainerPort: 8443}, corev1.ContainerPort{Name: "http2", ContainerPort: 8080})
	legacySvc := service("istio-system", "istio-ingressgateway", legacy,
		port("http2", 80, intstr.FromString("http2")), port("https", 443, intstr.FromString("https")))
	chartTargets := []istio.ServiceTarget{{Port: 15021, TargetPort: 15021}, {Port: 80, TargetPort: 80}, {Port: 443, TargetPort: 443}}
	legacyTargets := []istio.ServiceTarget{{Port: 80, TargetPort: 8080}, {Port: 443, TargetPort: 8443}}
	// A named targetPort resolves only through a container port of the same
	// protocol, as istiod's FindPort does.
	udpDeploy := deployment("istio-system", "istio-ingressgateway", legacy,
		corev1.ContainerPort{Name: "https", ContainerPort: 9443, Protocol: corev1.ProtocolUDP}, corev1.ContainerPort{Name: "https", ContainerPort: 8443, Protocol: corev1.ProtocolTCP})

	for _, tc := range []struct {
		name      string
		objects   []runtime.Object
		namespace string
		selector  map[string]string
		want      Gateway
		wantErr   string
	}{
		{
			name:    "helm chart gateway",
			objects: []runtime.Object{chartDeploy, chartSvc},
			want:    Gateway{Namespace: "istio-ingress", Deployment: "istio-ingress", Selector: chart, PodLabels: chart, Service: "istio-ingress", HTTPSPort: 443, HTTPPort: 80, Address: "192.0.2.10", Targets: chartTargets, ServiceAccount: "istio-ingress"},
		},
		{
			name:    "istioctl gateway with named target ports",
			objects: []runtime.Object{legacyDeploy, legacySvc},
			want:    Gateway{Namespace: "istio-system", Deployment: "istio-ingressgateway", Selector: legacy, PodLabels: legacy, Service: "istio-ingressgateway", HTTPSPort: 8443, HTTPPort: 8080, Targets: legacyTargets, ServiceAccount: "default"},
		},
		{
			name:    "two gateways",
			objects: []runtime.Object{chartDeploy, chartSvc, legacyDeploy, legacySvc},
			wantErr: "2 ingress gateways found: istio-ingress/istio-ingress (app=istio-ingress,istio=ingress); istio-system/istio-ingressgateway",
		},
		{
			name:      "two gateways, one namespace chosen",
			objects:   []runtime.Object{chartDeploy, chartSvc, legacyDeploy, legacySvc},
			namespace: "istio-system",
			want:      Gateway{Namespace: "istio-system", Deployment: "istio-ingressgateway", Selector: legacy, PodLabels: legacy, Service: "istio-ingressgateway", HTTPSPort: 8443, HTTPPort: 8080, Targets: legacyTargets, ServiceAccount: "default"},
		},
		{
			name:     "selector given",
			objects:  []runtime.Object{chartDeploy, chartSvc, legacyDeploy, legacySvc},
			selector: map[string]string{"istio": "ingress"},
			want:     Gateway{Namespace: "istio-ingress", Deployment: "istio-ingress", Selector: map[string]string{"istio": "ingress"}, PodLabels: chart, Service: "istio-ingress", HTTPSPort: 443, HTTPPort: 80, Address: "192.0.2.10", Targets: chartTargets, ServiceAccount: "istio-ingress"},
		},
		{
			name:    "named target port of another protocol is skipped",
			objects: []runtime.Object{udpDeploy, service("istio-system", "istio-ingressgateway", legacy, port("https", 443, intstr.FromString("https")))},
			want:    Gateway{Namespace: "istio-system", Deployment: "istio-ingressgateway", Selector: legacy, PodLabels: legacy, Service: "istio-ingressgateway", HTTPSPort: 8443, Targets: []istio.ServiceTarget{{Port: 443, TargetPort: 8443}}, ServiceAccount: "default"},
		},
		{
			name:     "selector matching nothing",
			objects:  []runtime.Object{chartDeploy, chartSvc},
			selector: map[string]string{"istio": "eastwest"},
			wantErr:  "no Deployment in any namespace has pods labelled istio=eastwest",
		},
		{
			name:    "no gateway",
			objects: []runtime.Object{deployment("chatqna", "chatqna-nginx", map[string]string{"app": "nginx"})},
			wantErr: "no Istio ingress gateway found in any namespace (looked for Deployments whose pods carry istio=ingress or istio=ingressgateway or app=istio-ingress)",
		},
		{
			name:    "no Service",
			objects: []runtime.Object{chartDeploy},
			wantErr: "no Service in namespace istio-ingress selects the pods of ingress gateway istio-ingress",
		},
		{
			name:    "Service without 443",
			objects: []runtime.Object{chartDeploy, service("istio-ingress", "istio-ingress", chart, port("http2", 80, intstr.FromInt32(80)))},
			wantErr: "gateway Service istio-ingress/istio-ingress has no port 443",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := IngressGateway(context.Background(), clientstest.New(t, tc.objects...).Kube, tc.namespace, tc.selector)
			if tc.wantErr != "" {
				assertProblem(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("gateway (-want +got):\n%s", diff)
			}
		})
	}
}

func TestServedAPIs(t *testing.T) {
	resources := func(group, version string, names ...string) []schema.GroupVersionResource {
		var out []schema.GroupVersionResource
		for _, n := range names {
			out = append(out, schema.GroupVersionResource{Group: group, Version: version, Resource: n})
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		served [][]schema.GroupVersionResource
		want   APIs
	}{
		{
			name: "current Istio and cert-manager",
			served: [][]schema.GroupVersionResource{
				resources(clientstest.IstioNetworking, "v1", "gateways", "virtualservices", "destinationrules"),
				resources(clientstest.IstioNetworking, "v1beta1", "gateways", "virtualservices"),
				resources(clientstest.IstioSecurity, "v1", "peerauthentications", "authorizationpolicies"),
				{certmanager.Issuers, certmanager.ClusterIssuers, certmanager.Certificates},
			},
			want: APIs{Networking: "v1", Security: "v1", CertManager: "v1", AuthorizationPolicies: "v1"},
		},
		{
			name: "older Istio serves only v1beta1",
			served: [][]schema.GroupVersionResource{
				resources(clientstest.IstioNetworking, "v1beta1", "gateways", "virtualservices"),
				resources(clientstest.IstioSecurity, "v1", "authorizationpolicies"),
				resources(clientstest.IstioSecurity, "v1beta1", "peerauthentications"),
			},
			want: APIs{Networking: "v1beta1", Security: "v1beta1", AuthorizationPolicies: "v1"},
		},
		{name: "nothing installed", served: [][]schema.GroupVersionResource{{{Version: "v1", Resource: "pods"}}}, want: APIs{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			disco := clientstest.New(t).ServeOnly(slices.Concat(tc.served...)...).Discovery()
			got, err := ServedAPIs(disco)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// partialDiscovery answers as an API server whose discovery of some
// groups failed: the lists it has, and an ErrGroupDiscoveryFailed.
type partialDiscovery struct {
	*fakediscovery.FakeDiscovery
	failed map[schema.GroupVersion]error
}

func (d partialDiscovery) ServerGroupsAndResources() ([]*metav1.APIGroup, []*metav1.APIResourceList, error) {
	return nil, d.Resources, &discovery.ErrGroupDiscoveryFailed{Groups: d.failed}
}

// A group whose discovery failed is unknown, not absent: a check that its
// objects do not exist would pass unread.
func TestServedAPIsRefusesWhenANeededGroupFailed(t *testing.T) {
	disco := partialDiscovery{FakeDiscovery: clientstest.New(t).ServeOnly(
		schema.GroupVersionResource{Group: clientstest.IstioNetworking, Version: "v1", Resource: "gateways"},
		schema.GroupVersionResource{Group: clientstest.IstioNetworking, Version: "v1", Resource: "virtualservices"},
	).Discovery()}

	disco.failed = map[schema.GroupVersion]error{{Group: "metrics.k8s.io", Version: "v1beta1"}: errors.New("503")}
	got, err := ServedAPIs(disco)
	if err != nil || got.Networking != "v1" {
		t.Errorf("a group kubectl-opea does not use failed: got %+v, %v; want networking v1, no error", got, err)
	}

	disco.failed = map[schema.GroupVersion]error{{Group: "gateway.networking.k8s.io", Version: "v1"}: errors.New("the server is currently unable to handle the request")}
	_, err = ServedAPIs(disco)
	if err == nil || !strings.Contains(err.Error(), "could not check which versions of gateway.networking.k8s.io the API server serves") {
		t.Errorf("the Gateway API's discovery failed: got %v, want could not check", err)
	}
}

func TestIngressGatewayWithoutClusterWideListRights(t *testing.T) {
	kube := clientstest.New(t).Kube
	kube.PrependReactor("list", "deployments", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "", errors.New("no"))
	})
	_, err := IngressGateway(context.Background(), kube, "", nil)
	assertProblem(t, err, "fix: pass --gateway-namespace")
}

// The Gateway server port secure writes must resolve, by istiod's rules, to
// the pod port the Service's 443 targets.
func TestGatewayServerPort(t *testing.T) {
	for _, tc := range []struct {
		name     string
		targets  []istio.ServiceTarget
		listener int32
		want     int32
	}{
		{"chart: same number", []istio.ServiceTarget{{Port: 443, TargetPort: 443}}, 443, 443},
		{"legacy: the pod port is no Service port", []istio.ServiceTarget{{Port: 443, TargetPort: 8443}}, 8443, 8443},
		{"the pod port is another Service port: the Service port", []istio.ServiceTarget{{Port: 443, TargetPort: 8443}, {Port: 8443, TargetPort: 9443}}, 8443, 443},
		{"no HTTP port", nil, 0, 0},
	} {
		g := Gateway{Targets: tc.targets}
		if got := g.ServerPort(tc.listener); got != tc.want {
			t.Errorf("%s: ServerPort(%d) = %d, want %d", tc.name, tc.listener, got, tc.want)
		}
		if tc.listener != 0 && g.Listener(g.ServerPort(tc.listener)) != tc.listener {
			t.Errorf("%s: server port %d does not listen on %d", tc.name, g.ServerPort(tc.listener), tc.listener)
		}
	}
}
