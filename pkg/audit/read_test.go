package audit

import (
	"context"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	fakediscovery "k8s.io/client-go/discovery/fake"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	kubefake "k8s.io/client-go/kubernetes/fake"
	metadatafake "k8s.io/client-go/metadata/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/certmanager"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// cluster is what a fake cluster holds for Read.
type cluster struct {
	kube    []runtime.Object
	dynamic []runtime.Object
	pods    []runtime.Object // PartialObjectMetadata of the application's pods
	// gatewayAPI serves the Gateway API (v1, ReferenceGrants v1beta1).
	gatewayAPI bool
}

func (c cluster) clients(t *testing.T) (Clients, *kubefake.Clientset, *metadatafake.FakeMetadataClient) {
	t.Helper()
	kube := kubefake.NewClientset(append([]runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}}}, c.kube...)...)
	disco := kube.Discovery().(*fakediscovery.FakeDiscovery)
	resources := func(gv string, names ...string) *metav1.APIResourceList {
		l := &metav1.APIResourceList{GroupVersion: gv}
		for _, n := range names {
			l.APIResources = append(l.APIResources, metav1.APIResource{Name: n})
		}
		return l
	}
	disco.Resources = []*metav1.APIResourceList{
		resources("networking.istio.io/v1", "gateways", "virtualservices", "destinationrules"),
		resources("security.istio.io/v1", "peerauthentications", "authorizationpolicies"),
		resources("cert-manager.io/v1", "issuers", "clusterissuers", "certificates"),
	}
	listKinds := map[schema.GroupVersionResource]string{
		{Group: "networking.istio.io", Version: "v1", Resource: "gateways"}:            "GatewayList",
		{Group: "networking.istio.io", Version: "v1", Resource: "virtualservices"}:     "VirtualServiceList",
		{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}:    "DestinationRuleList",
		{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}:   "PeerAuthenticationList",
		{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"}: "AuthorizationPolicyList",
		certmanager.Certificates:   "CertificateList",
		certmanager.Issuers:        "IssuerList",
		certmanager.ClusterIssuers: "ClusterIssuerList",
	}
	if c.gatewayAPI {
		disco.Resources = append(disco.Resources, resources("gateway.networking.k8s.io/v1", "gatewayclasses", "gateways", "httproutes"),
			resources("gateway.networking.k8s.io/v1beta1", "referencegrants"))
		listKinds[gatewayapi.GatewayClasses("v1")] = "GatewayClassList"
		listKinds[gatewayapi.Gateways("v1")] = "GatewayList"
		listKinds[gatewayapi.HTTPRoutes("v1")] = "HTTPRouteList"
		listKinds[gatewayapi.ReferenceGrants] = "ReferenceGrantList"
	}
	dyn := dynamicfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), listKinds)
	// The tracker would guess "gatewaies" from the kind: name the resources.
	for _, obj := range c.dynamic {
		u := obj.(*unstructured.Unstructured)
		for gvr, list := range listKinds {
			if list == u.GetKind()+"List" && gvr.Group+"/"+gvr.Version == u.GetAPIVersion() {
				if err := dyn.Tracker().Create(gvr, u, u.GetNamespace()); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	metaScheme := metadatafake.NewTestScheme()
	metaScheme.AddKnownTypeWithName(schema.GroupVersionKind{Version: "v1", Kind: "Pod"}, &metav1.PartialObjectMetadata{})
	metaScheme.AddKnownTypeWithName(schema.GroupVersionKind{Version: "v1", Kind: "PodList"}, &metav1.PartialObjectMetadataList{})
	meta := metadatafake.NewSimpleMetadataClient(metaScheme, c.pods...)
	return Clients{Kube: kube, Dynamic: dyn, Metadata: meta, Discovery: disco}, kube, meta
}

func read(t *testing.T, c cluster) *Snapshot {
	t.Helper()
	clients, _, _ := c.clients(t)
	s, err := Read(context.Background(), clients, ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func unstructuredObject(apiVersion, kind, ns, name string, spec map[string]interface{}) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": apiVersion, "kind": kind, "spec": spec}}
	u.SetNamespace(ns)
	u.SetName(name)
	return u
}

// A DaemonSet as Istio's charts write it: which labels sit where.
func daemonSet(name string, objectLabels, selector, template map[string]string) *appsv1.DaemonSet {
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: name, Labels: objectLabels},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: selector},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: template}},
		},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberReady: 2},
	}
}

// The ztunnel chart labels the DaemonSet object app.kubernetes.io/name
// (nothing before 1.23); app=ztunnel is on its selector and pod template.
func TestReadFindsIstioDaemonSetsAsTheChartsLabelThem(t *testing.T) {
	ztunnel := map[string]string{"app": "ztunnel"}
	cni := map[string]string{"k8s-app": "istio-cni-node"}
	s := read(t, cluster{kube: []runtime.Object{
		daemonSet("ztunnel", map[string]string{"app.kubernetes.io/name": "ztunnel"}, ztunnel, map[string]string{"app": "ztunnel", "app.kubernetes.io/name": "ztunnel"}),
		daemonSet("istio-cni-node", map[string]string{"k8s-app": "istio-cni-node", "app.kubernetes.io/name": "istio-cni"}, cni, cni),
		daemonSet("kube-proxy", map[string]string{"k8s-app": "kube-proxy"}, map[string]string{"k8s-app": "kube-proxy"}, map[string]string{"k8s-app": "kube-proxy"}),
	}})
	want := []Workload{{Namespace: "istio-system", Name: "ztunnel", Desired: 2, Ready: 2}}
	if diff := cmp.Diff(want, s.ZTunnel); diff != "" {
		t.Errorf("ztunnel (-want +got):\n%s", diff)
	}
	want[0].Name = "istio-cni-node"
	if diff := cmp.Diff(want, s.CNI); diff != "" {
		t.Errorf("istio-cni (-want +got):\n%s", diff)
	}
}

// A named targetPort is kept as a name, and the gateway pods' container
// ports are read, so that checks resolve it as istiod does.
func TestReadKeepsNamedTargetPortsAndGatewayPodPorts(t *testing.T) {
	gwLabels := map[string]string{"istio": "ingressgateway"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "gw-1", Labels: gwLabels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "istio-proxy", Ports: []corev1.ContainerPort{{Name: "https", ContainerPort: 8443, Protocol: corev1.ProtocolTCP}}}}},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-ingressgateway"},
		Spec: corev1.ServiceSpec{Selector: gwLabels, Ports: []corev1.ServicePort{
			{Name: "https", Port: 443, TargetPort: intstr.FromString("https"), Protocol: corev1.ProtocolTCP},
			{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	}
	gw := unstructuredObject("networking.istio.io/v1", "Gateway", "chatqna", "gw", map[string]interface{}{
		"selector": map[string]interface{}{"istio": "ingressgateway"},
		"servers":  []interface{}{map[string]interface{}{"port": map[string]interface{}{"number": int64(443), "name": "https", "protocol": "HTTPS"}, "hosts": []interface{}{"a.example.com"}}},
	})
	vs := unstructuredObject("networking.istio.io/v1", "VirtualService", "chatqna", "vs", map[string]interface{}{
		"hosts": []interface{}{"a.example.com"}, "gateways": []interface{}{"gw"},
		"http": []interface{}{map[string]interface{}{"route": []interface{}{map[string]interface{}{"destination": map[string]interface{}{"host": "chatqna-nginx"}}}}},
	})
	s := read(t, cluster{kube: []runtime.Object{pod, svc}, dynamic: []runtime.Object{gw, vs}})
	got := s.service("istio-system", "istio-ingressgateway")
	if got == nil {
		t.Fatal("gateway Service not read")
	}
	wantPorts := []ServicePort{{Name: "https", Port: 443, TargetName: "https", Protocol: "TCP"}, {Name: "http2", Port: 80, Target: 8080}}
	if diff := cmp.Diff(wantPorts, got.Ports); diff != "" {
		t.Errorf("Service ports (-want +got):\n%s", diff)
	}
	pods := s.GatewayPods["chatqna/gw"]
	if len(pods) != 1 {
		t.Fatalf("gateway pods = %+v", pods)
	}
	if diff := cmp.Diff([]istio.ContainerPort{{Name: "https", Protocol: "TCP", Number: 8443}}, pods[0].ContainerPorts); diff != "" {
		t.Errorf("container ports (-want +got):\n%s", diff)
	}
	if listen := newView(s).listenPort(pods[0], 443); listen != 8443 {
		t.Errorf("server port 443 listens on %d, want 8443", listen)
	}
}

// meshConfig.rootNamespace comes from istiod's ConfigMap, not always
// istio-system.
func TestReadRootNamespaceFromMeshConfig(t *testing.T) {
	istiod := func(ns, rev string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "istiod", Labels: map[string]string{"app": "istiod", "istio.io/rev": rev}}}
	}
	mesh := func(ns, name, data string) *corev1.ConfigMap {
		return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"mesh": data}}
	}
	for _, tc := range []struct {
		name    string
		objects []runtime.Object
		want    string
	}{
		{"no istiod", nil, "istio-system"},
		{"no ConfigMap", []runtime.Object{istiod("istio-system", "default")}, "istio-system"},
		{"set", []runtime.Object{istiod("mesh-ctl", "default"), mesh("mesh-ctl", "istio", "defaultConfig:\n  discoveryAddress: istiod.mesh-ctl.svc:15012\nrootNamespace: mesh-ctl\n")}, "mesh-ctl"},
		{"unset in the mesh config", []runtime.Object{istiod("mesh-ctl", "default"), mesh("mesh-ctl", "istio", "accessLogFile: /dev/stdout\n")}, "istio-system"},
		{"a revision's ConfigMap", []runtime.Object{istiod("istio-system", "canary"), mesh("istio-system", "istio-canary", "rootNamespace: istio-config\n")}, "istio-config"},
	} {
		if got := read(t, cluster{kube: tc.objects}).RootNamespace; got != tc.want {
			t.Errorf("%s: root namespace %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := read(t, cluster{kube: []runtime.Object{istiod("istio-system", "")}}).TrustDomain; got != "cluster.local" {
		t.Errorf("trust domain %q without a mesh config", got)
	}
	objects := []runtime.Object{istiod("istio-system", ""), mesh("istio-system", "istio", "trustDomain: example.org\n")}
	if got := read(t, cluster{kube: objects}).TrustDomain; got != "example.org" {
		t.Errorf("trust domain %q, want example.org", got)
	}
}

// Read takes the AuthorizationPolicies with their status, the Service
// types, and the RBAC of the namespace and the cluster, one list each; a
// refused RBAC list leaves only the port-forward check unknown.
func TestReadAuthorizationInputs(t *testing.T) {
	ap := unstructuredObject("security.istio.io/v1", "AuthorizationPolicy", "chatqna", "allow-gw", map[string]interface{}{
		"rules": []interface{}{map[string]interface{}{"from": []interface{}{map[string]interface{}{"source": map[string]interface{}{"namespaces": []interface{}{"istio-ingress"}}}}}},
	})
	ap.SetGeneration(2)
	ap.Object["status"] = map[string]interface{}{"conditions": []interface{}{map[string]interface{}{
		"type": "ZtunnelAccepted", "status": "True", "reason": "Accepted", "message": "attached to ztunnel", "observedGeneration": int64(2)}}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-nginx"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort}}
	binding := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "dev"},
		RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "edit"}, Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}}}
	other := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: "elsewhere", Name: "dev"}}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "edit"}}
	s := read(t, cluster{kube: []runtime.Object{svc, binding, other, role}, dynamic: []runtime.Object{ap}})
	if len(s.AuthorizationPolicies) != 1 {
		t.Fatalf("policies %+v", s.AuthorizationPolicies)
	}
	p := s.AuthorizationPolicies[0]
	if c := p.Condition(istio.ZtunnelAccepted); c == nil || c.ObservedGeneration != 2 || p.Generation != 2 || p.Rules[0].From[0].Source.Namespaces[0] != "istio-ingress" {
		t.Errorf("policy %+v", p)
	}
	if len(s.RoleBindings) != 1 || len(s.ClusterRoles) != 1 || s.Services[0].Type != "NodePort" {
		t.Errorf("role bindings %d, cluster roles %d, Service type %q", len(s.RoleBindings), len(s.ClusterRoles), s.Services[0].Type)
	}

	clients, kube, _ := cluster{}.clients(t)
	forbid(&kube.Fake, func(a k8stesting.Action) bool { return a.GetResource().Group == "rbac.authorization.k8s.io" })
	s, err := Read(context.Background(), clients, ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	want := []Access{{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}, {Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "chatqna"}, {Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: "chatqna"}}
	if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
		t.Errorf("refused requests (-want +got):\n%s", diff)
	}
	if o := outcomesByID(s)["authorization.port-forward"]; o.Status != Unknown {
		t.Errorf("port-forward = %s %q", o.Status, o.Message)
	}
}

// Completed pods are listed out: istio-cni removes their redirection
// annotation, which must not read as "not captured".
func TestReadLeavesOutCompletedPods(t *testing.T) {
	clients, _, meta := cluster{}.clients(t)
	if _, err := Read(context.Background(), clients, ReadOptions{Namespace: "chatqna"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range meta.Actions() {
		list, ok := a.(k8stesting.ListAction)
		if !ok || a.GetResource().Resource != "pods" || a.GetNamespace() != "chatqna" {
			continue
		}
		selector := list.GetListRestrictions().Fields
		for _, phase := range []string{"Succeeded", "Failed"} {
			if selector.Matches(fields.Set{"status.phase": phase}) {
				t.Errorf("pods in phase %s are listed (field selector %q)", phase, selector)
			}
		}
		if !selector.Matches(fields.Set{"status.phase": "Running"}) {
			t.Errorf("running pods are not listed (field selector %q)", selector)
		}
		return
	}
	t.Error("the application's pods were not listed")
}

// forbid makes a fake clientset refuse, as RBAC does, every request refused
// says it may not make.
func forbid(f *k8stesting.Fake, refused func(k8stesting.Action) bool) {
	f.PrependReactor("*", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if !refused(a) {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New(`User "limited" cannot do this`))
	})
}

// clusterWide is a request a Role in one namespace cannot grant: in every
// namespace, or of a cluster-scoped resource. Discovery is open to every
// user (the fake records it as resources version, group and resource).
func clusterWide(a k8stesting.Action) bool {
	switch a.GetResource().Resource {
	case "version", "group", "resource":
		return false
	}
	return a.GetNamespace() == ""
}

// A user who may read only in the application namespace: Read does not stop
// at the first refusal, it records each refused request once, in a stable
// order, and the checks whose inputs were read still run.
func TestReadCollectsEveryForbiddenRead(t *testing.T) {
	istiod := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}}
	pod := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-1", Annotations: map[string]string{redirectionAnnotation: "enabled"}}}
	clients, kube, meta := cluster{kube: []runtime.Object{istiod}, pods: []runtime.Object{pod}}.clients(t)
	forbid(&kube.Fake, clusterWide)
	forbid(&clients.Dynamic.(*dynamicfake.FakeDynamicClient).Fake, clusterWide)
	forbid(&meta.Fake, clusterWide)

	s, err := Read(context.Background(), clients, ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatalf("Read stopped: %v", err)
	}
	all := func(verb, group, resource string) Access {
		return Access{Verb: verb, Group: group, Resource: resource, AllNamespaces: true}
	}
	rbac := func(resource string) Access {
		return Access{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: resource}
	}
	want := []Access{
		all("list", "security.istio.io", "authorizationpolicies"),
		rbac("clusterrolebindings"),
		rbac("clusterroles"),
		all("list", "", "configmaps"),
		all("list", "apps", "daemonsets"),
		all("list", "apps", "deployments"),
		all("list", "networking.istio.io", "destinationrules"),
		all("list", "networking.istio.io", "gateways"),
		{Verb: "get", Resource: "namespaces", Name: "chatqna"},
		all("list", "security.istio.io", "peerauthentications"),
		all("list", "", "services"),
		all("list", "networking.istio.io", "virtualservices"),
	}
	if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
		t.Errorf("refused requests (-want +got):\n%s", diff)
	}
	var unread []string
	for in := range s.Unread {
		unread = append(unread, string(in))
	}
	sort.Strings(unread)
	wantUnread := []string{"authorizationpolicies", "certificates", "daemonsets", "destinationrules", "gateway pods", "gateways", "istio-cni config", "istiod",
		"mesh config", "namespace", "peerauthentications", "rbac", "secret access", "secrets", "services", "virtualservices"}
	if diff := cmp.Diff(wantUnread, unread); diff != "" {
		t.Errorf("unread inputs (-want +got):\n%s", diff)
	}
	if len(s.Pods) != 1 {
		t.Errorf("the application's pods were not read: %+v", s.Pods)
	}

	ran := map[string]Status{}
	for _, o := range Run(s) {
		if o.Status != Unknown {
			ran[o.ID] = o.Status
			continue
		}
		if !strings.HasPrefix(o.Message, "not run: you may not ") || o.Hint != PermissionHint {
			t.Errorf("%s: unknown without naming the permission: %q (hint %q)", o.ID, o.Message, o.Hint)
		}
	}
	wantRan := map[string]Status{"cluster.api-reachable": Pass, "cluster.istio-apis": Pass, "cluster.cert-manager-api": Pass,
		"enrolment.no-opt-out": Pass, "enrolment.pods-redirected": Pass}
	if diff := cmp.Diff(wantRan, ran); diff != "" {
		t.Errorf("checks that ran (-want +got):\n%s", diff)
	}
}

// A user who may read everything but Secrets, and may not ask about the
// gateway's access to them: the ingress and routing checks run, the
// certificate and probe checks are unknown. The Gateway's own namespace is
// not searched for a Secret that could not be read where Istio reads it.
func TestReadRunsWhatItCouldReadAroundRefusedSecrets(t *testing.T) {
	gwLabels := map[string]string{"istio": "ingressgateway"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "gw-1", Labels: gwLabels}}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istio-ingressgateway"},
		Spec: corev1.ServiceSpec{Selector: gwLabels, Ports: []corev1.ServicePort{{Name: "https", Port: 443, TargetPort: intstr.FromInt32(443)}}}}
	app := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-nginx"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	gw := unstructuredObject("networking.istio.io/v1", "Gateway", "chatqna", "gw", map[string]interface{}{
		"selector": map[string]interface{}{"istio": "ingressgateway"},
		"servers": []interface{}{map[string]interface{}{"port": map[string]interface{}{"number": int64(443), "name": "https", "protocol": "HTTPS"},
			"hosts": []interface{}{"a.example.com"}, "tls": map[string]interface{}{"mode": "SIMPLE", "credentialName": "cred"}}},
	})
	vs := unstructuredObject("networking.istio.io/v1", "VirtualService", "chatqna", "vs", map[string]interface{}{
		"hosts": []interface{}{"a.example.com"}, "gateways": []interface{}{"gw"},
		"http": []interface{}{map[string]interface{}{"route": []interface{}{map[string]interface{}{"destination": map[string]interface{}{"host": "chatqna-nginx"}}}}},
	})
	clients, kube, _ := cluster{kube: []runtime.Object{pod, svc, app}, dynamic: []runtime.Object{gw, vs}}.clients(t)
	forbid(&kube.Fake, func(a k8stesting.Action) bool {
		r := a.GetResource().Resource
		return r == "secrets" || r == "subjectaccessreviews"
	})
	s, err := Read(context.Background(), clients, ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatalf("Read stopped: %v", err)
	}
	want := []Access{subjectAccessReview, {Verb: "get", Resource: "secrets", Name: "cred", Namespace: "istio-system"}}
	if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
		t.Errorf("refused requests (-want +got):\n%s", diff)
	}
	for _, o := range Run(s) {
		cert := strings.HasPrefix(o.ID, "certificate.") || strings.HasPrefix(o.ID, "probe.")
		if cert != (o.Status == Unknown) {
			t.Errorf("%s = %s %q", o.ID, o.Status, o.Message)
		}
	}
}

// The service accounts of the application's pods, which secure's lockdown
// must admit, are read (the pods whole, as secure reads them) only where
// that lockdown is: one request more for a locked-down namespace, none
// elsewhere.
func TestReadAppServiceAccountsWhereLockedDown(t *testing.T) {
	pod := func(name, sa string, labels map[string]string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: name, Labels: labels}, Spec: corev1.PodSpec{ServiceAccountName: sa}}
	}
	pods := []runtime.Object{
		pod("ui", "chatqna-ui", nil), pod("backend", "", nil), pod("done", "batch", nil),
		pod("gateway", "opea-ingress-istio", map[string]string{"gateway.networking.k8s.io/gateway-name": "opea-ingress"}),
	}
	allowApp := unstructuredObject("security.istio.io/v1", "AuthorizationPolicy", "chatqna", ownership.AllowAppPolicy, map[string]interface{}{})
	allowApp.SetLabels(map[string]string{ownership.ManagedByLabel: ownership.ManagedByValue, ownership.AppNamespaceLabel: "chatqna"})

	s := read(t, cluster{kube: pods, dynamic: []runtime.Object{allowApp}})
	if diff := cmp.Diff([]string{"batch", "chatqna-ui", "default"}, s.AppServiceAccounts); diff != "" {
		t.Errorf("service accounts (-want +got):\n%s", diff)
	}

	notOurs := unstructuredObject("security.istio.io/v1", "AuthorizationPolicy", "chatqna", ownership.AllowAppPolicy, map[string]interface{}{})
	clients, kube, _ := cluster{kube: pods, dynamic: []runtime.Object{notOurs}}.clients(t)
	s, err := Read(context.Background(), clients, ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	if s.AppServiceAccounts != nil {
		t.Errorf("service accounts read without secure's lockdown: %v", s.AppServiceAccounts)
	}
	for _, a := range kube.Actions() {
		if a.GetVerb() == "list" && a.GetResource().Resource == "pods" && a.GetNamespace() == "chatqna" {
			t.Errorf("the pods were listed whole without secure's lockdown")
		}
	}
}
