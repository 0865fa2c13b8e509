package read_test

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/probe"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// The ztunnel chart labels the DaemonSet object app.kubernetes.io/name
// (nothing before 1.23); app=ztunnel is on its selector and pod template.
func TestReadFindsIstioDaemonSetsAsTheChartsLabelThem(t *testing.T) {
	ztunnel := map[string]string{"app": "ztunnel"}
	cni := map[string]string{"k8s-app": "istio-cni-node"}
	s := readSnapshot(t, cluster{Kube: []runtime.Object{
		daemonSet("ztunnel", map[string]string{"app.kubernetes.io/name": "ztunnel"}, ztunnel, map[string]string{"app": "ztunnel", "app.kubernetes.io/name": "ztunnel"}),
		daemonSet("istio-cni-node", map[string]string{"k8s-app": "istio-cni-node", "app.kubernetes.io/name": "istio-cni"}, cni, cni),
		daemonSet("kube-proxy", map[string]string{"k8s-app": "kube-proxy"}, map[string]string{"k8s-app": "kube-proxy"}, map[string]string{"k8s-app": "kube-proxy"}),
	}})
	want := []snapshot.Workload{{Namespace: "istio-system", Name: "ztunnel", Desired: 2, Ready: 2}}
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
	s := readSnapshot(t, cluster{Kube: []runtime.Object{pod, svc}, Dynamic: []runtime.Object{gw, vs}})
	got := s.Service("istio-system", "istio-ingressgateway")
	if got == nil {
		t.Fatal("gateway Service not read")
	}
	wantPorts := []snapshot.ServicePort{{Name: "https", Port: 443, TargetName: "https", Protocol: "TCP"}, {Name: "http2", Port: 80, Target: 8080}}
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
	if listen := snapshot.NewScope(s).ListenPort(pods[0], 443); listen != 8443 {
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
		if got := readSnapshot(t, cluster{Kube: tc.objects}).RootNamespace; got != tc.want {
			t.Errorf("%s: root namespace %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := readSnapshot(t, cluster{Kube: []runtime.Object{istiod("istio-system", "")}}).TrustDomain; got != "cluster.local" {
		t.Errorf("trust domain %q without a mesh config", got)
	}
	objects := []runtime.Object{istiod("istio-system", ""), mesh("istio-system", "istio", "trustDomain: example.org\n")}
	if got := readSnapshot(t, cluster{Kube: objects}).TrustDomain; got != "example.org" {
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
	s := readSnapshot(t, cluster{Kube: []runtime.Object{svc, binding, other, role}, Dynamic: []runtime.Object{ap}})
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

	clients, kube, _ := cluster{}.Clients(t)
	forbid(&kube.Fake, func(a k8stesting.Action) bool { return a.GetResource().Group == "rbac.authorization.k8s.io" })
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	want := []snapshot.Access{{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}, {Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
		{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "rolebindings", Namespace: "chatqna"}, {Verb: "list", Group: "rbac.authorization.k8s.io", Resource: "roles", Namespace: "chatqna"}}
	if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
		t.Errorf("refused requests (-want +got):\n%s", diff)
	}
	if o := outcomesByID(s)["authorization.port-forward"]; o.Status != check.Unknown {
		t.Errorf("port-forward = %s %q", o.Status, o.Message)
	}
}

// Completed pods are listed out: istio-cni removes their redirection
// annotation, which must not read as "not captured".
func TestReadLeavesOutCompletedPods(t *testing.T) {
	clients, _, meta := cluster{}.Clients(t)
	if _, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"}); err != nil {
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

// A user who may read only in the application namespace: Read does not stop
// at the first refusal, it records each refused request once, in a stable
// order, and the checks whose inputs were read still run.
func TestReadCollectsEveryForbiddenRead(t *testing.T) {
	istiod := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-system", Name: "istiod", Labels: map[string]string{"app": "istiod"}}}
	pod := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-1", Annotations: map[string]string{redirectionAnnotation: "enabled"}}}
	clients, kube, meta := cluster{Kube: []runtime.Object{istiod}, Pods: []runtime.Object{pod}}.Clients(t)
	forbid(&kube.Fake, clusterWide)
	forbid(&clients.Dynamic.(*dynamicfake.FakeDynamicClient).Fake, clusterWide)
	forbid(&meta.Fake, clusterWide)

	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatalf("Read stopped: %v", err)
	}
	all := func(verb, group, resource string) snapshot.Access {
		return snapshot.Access{Verb: verb, Group: group, Resource: resource, AllNamespaces: true}
	}
	rbac := func(resource string) snapshot.Access {
		return snapshot.Access{Verb: "list", Group: "rbac.authorization.k8s.io", Resource: resource}
	}
	want := []snapshot.Access{
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
		all("list", "security.istio.io", "requestauthentications"),
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
		"mesh config", "namespace", "peerauthentications", "rbac", "requestauthentications", "secret access", "secrets", "services", "virtualservices"}
	if diff := cmp.Diff(wantUnread, unread); diff != "" {
		t.Errorf("unread inputs (-want +got):\n%s", diff)
	}
	if len(s.Pods) != 1 {
		t.Errorf("the application's pods were not read: %+v", s.Pods)
	}

	ran := map[string]check.Status{}
	for _, o := range check.Run(s) {
		if o.Status != check.Unknown {
			ran[o.ID] = o.Status
			continue
		}
		if !strings.HasPrefix(o.Message, "not run: you may not ") || o.Hint != snapshot.PermissionHint {
			t.Errorf("%s: unknown without naming the permission: %q (hint %q)", o.ID, o.Message, o.Hint)
		}
	}
	// The mesh root is read in the namespace, where the user may read; this
	// cluster has none (no istiod publishes it).
	wantRan := map[string]check.Status{"cluster.api-reachable": check.Pass, "cluster.istio-apis": check.Pass, "cluster.cert-manager-api": check.Pass,
		"enrolment.no-opt-out": check.Pass, "enrolment.pods-redirected": check.Pass,
		"certificate.mesh-root-expiry": check.Warn, "certificate.mesh-root-single": check.Skip}
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
	clients, kube, _ := cluster{Kube: []runtime.Object{pod, svc, app}, Dynamic: []runtime.Object{gw, vs}}.Clients(t)
	forbid(&kube.Fake, func(a k8stesting.Action) bool {
		r := a.GetResource().Resource
		return r == "secrets" || r == "subjectaccessreviews"
	})
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatalf("Read stopped: %v", err)
	}
	want := []snapshot.Access{snapshot.SubjectAccessReview, {Verb: "get", Resource: "secrets", Name: "cred", Namespace: "istio-system"}}
	if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
		t.Errorf("refused requests (-want +got):\n%s", diff)
	}
	for _, o := range check.Run(s) {
		// The mesh root's checks read no Secret.
		cert := (strings.HasPrefix(o.ID, "certificate.") || strings.HasPrefix(o.ID, "probe.")) && !strings.HasPrefix(o.ID, "certificate.mesh-root-")
		if cert != (o.Status == check.Unknown) {
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

	s := readSnapshot(t, cluster{Kube: pods, Dynamic: []runtime.Object{allowApp}})
	if diff := cmp.Diff([]string{"batch", "chatqna-ui", "default"}, s.AppServiceAccounts); diff != "" {
		t.Errorf("service accounts (-want +got):\n%s", diff)
	}

	notOurs := unstructuredObject("security.istio.io/v1", "AuthorizationPolicy", "chatqna", ownership.AllowAppPolicy, map[string]interface{}{})
	clients, kube, _ := cluster{Kube: pods, Dynamic: []runtime.Object{notOurs}}.Clients(t)
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
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

// Read lists each Gateway API resource once, in every namespace, decodes
// objects with their status, and reads only the Secrets the application's
// HTTPS listeners name, where they name them.
func TestReadGatewayAPIIngress(t *testing.T) {
	clients, kube, _ := gatewayAPICluster().Clients(t)
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	if s.APIs.GatewayAPI != "v1" || len(s.GatewayClasses) != 1 || len(s.GatewayAPIGateways) != 2 || len(s.HTTPRoutes) != 2 || len(s.ReferenceGrants) != 1 {
		t.Fatalf("read %d classes, %d Gateways, %d HTTPRoutes, %d ReferenceGrants (API %q)",
			len(s.GatewayClasses), len(s.GatewayAPIGateways), len(s.HTTPRoutes), len(s.ReferenceGrants), s.APIs.GatewayAPI)
	}
	gw := s.GatewayAPIGateway("gx", "opea-ingress")
	if gw == nil || gw.Address() != "opea-ingress-istio.gx.svc.cluster.local" || !gatewayapi.IsTrue(gw.Status.Conditions, "Accepted", 0) ||
		gw.ListenerStatus("https") == nil {
		t.Errorf("Gateway read without its status: %+v", gw)
	}
	if st := s.HTTPRoutes[0].Status.Parents; len(st) != 1 || st[0].ControllerName != "istio.io/gateway-controller" {
		t.Errorf("HTTPRoute status: %+v", st)
	}
	var secrets []string
	for k := range s.Secrets {
		secrets = append(secrets, k)
	}
	if diff := cmp.Diff([]string{"certs/chatqna-tls"}, secrets); diff != "" {
		t.Errorf("Secrets read (-want +got):\n%s", diff)
	}
	if len(kube.Actions()) == 0 {
		t.Fatal("no request recorded")
	}
	lists := map[string]int{}
	for _, a := range clients.Dynamic.(*dynamicfake.FakeDynamicClient).Actions() {
		if a.GetVerb() != "list" || a.GetResource().Group != gatewayapi.Group {
			continue
		}
		if a.GetNamespace() != "" {
			t.Errorf("%s listed in namespace %s, not in every namespace at once", a.GetResource().Resource, a.GetNamespace())
		}
		lists[a.GetResource().Resource]++
	}
	if diff := cmp.Diff(map[string]int{"gatewayclasses": 1, "gateways": 1, "httproutes": 1, "referencegrants": 1}, lists); diff != "" {
		t.Errorf("Gateway API lists (-want +got):\n%s", diff)
	}

	v := snapshot.NewScope(s)
	if classic, api := v.IngressInUse(); classic || !api {
		t.Errorf("ingress in use: classic %v, Gateway API %v", classic, api)
	}
	if len(v.APITLSListeners()) != 1 || v.APITLSListeners()[0].String() != "Gateway gx/opea-ingress listener https" {
		t.Errorf("the application's TLS listeners: %v", v.APITLSListeners())
	}
	if https, plain := probe.GuessAddresses(v); https != "opea-ingress-istio.gx.svc.cluster.local:443" || plain != "opea-ingress-istio.gx.svc.cluster.local:80" {
		t.Errorf("guessed probe addresses %q, %q", https, plain)
	}
}

// A user who may not list the Gateway API's objects: each refused list is
// recorded once, and the checks that need them are unknown, not skipped.
func TestReadGatewayAPIForbidden(t *testing.T) {
	clients, _, _ := gatewayAPICluster().Clients(t)
	forbid(&clients.Dynamic.(*dynamicfake.FakeDynamicClient).Fake, func(a k8stesting.Action) bool {
		return a.GetResource().Group == gatewayapi.Group
	})
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatalf("Read stopped: %v", err)
	}
	all := func(resource string) snapshot.Access {
		return snapshot.Access{Verb: "list", Group: gatewayapi.Group, Resource: resource, AllNamespaces: true}
	}
	// GatewayClasses have no namespace.
	classes := snapshot.Access{Verb: "list", Group: gatewayapi.Group, Resource: "gatewayclasses"}
	want := []snapshot.Access{classes, all("gateways"), all("httproutes"), all("referencegrants")}
	if diff := cmp.Diff(want, s.Forbidden()); diff != "" {
		t.Errorf("refused requests (-want +got):\n%s", diff)
	}
	var unread []string
	for in := range s.Unread {
		unread = append(unread, string(in))
	}
	sort.Strings(unread)
	if diff := cmp.Diff([]string{"gatewayclasses", "gateways.gateway.networking.k8s.io", "httproutes", "referencegrants"}, unread); diff != "" {
		t.Errorf("unread inputs (-want +got):\n%s", diff)
	}
	for _, o := range check.Run(s) {
		if (o.Ingress == check.GatewayAPIIngress || o.ID == "ingress.gateway-found") && o.Status != check.Unknown {
			t.Errorf("%s = %s %q, want unknown", o.ID, o.Status, o.Message)
		}
		if o.Ingress == check.ClassicIngress {
			t.Errorf("%s ran with no classic ingress found", o.ID)
		}
	}
}

func TestAppNamespacesFindsEachKindOfApplication(t *testing.T) {
	s := &snapshot.Snapshot{
		Gateways: []istio.Gateway{{Namespace: "istio-ingress", Name: "opea-secured",
			Labels: map[string]string{ownership.ManagedByLabel: ownership.ManagedByValue, ownership.AppNamespaceLabel: "secured"}}},
		Services: []snapshot.Service{
			{Namespace: "helm", Name: "codegen-nginx"}, {Namespace: "helm", Name: "codegen"},
			// An nginx chart's release web: web-nginx, and no Service web.
			{Namespace: "web", Name: "web-nginx", Labels: map[string]string{"app.kubernetes.io/instance": "web"}},
			{Namespace: "web", Name: "-nginx"}, {Namespace: "web", Name: ""},
		},
		VirtualServices: []istio.VirtualService{
			{Namespace: "istio-ingress", Name: "routed", Gateways: []string{"ingress"},
				HTTP: []istio.HTTPRoute{{Route: []istio.RouteDestination{{Destination: istio.Destination{Host: "chatqna-nginx.routed.svc.cluster.local"}}}}}},
			// Another application behind the same ingress, and an external host.
			{Namespace: "istio-ingress", Name: "kiali", Gateways: []string{"ingress"},
				HTTP: []istio.HTTPRoute{{Route: []istio.RouteDestination{{Destination: istio.Destination{Host: "kiali.monitoring"}}, {Destination: istio.Destination{Host: "httpbin.org"}}}}}},
			{Namespace: "internal", Name: "mesh-only", Gateways: []string{"mesh"},
				HTTP: []istio.HTTPRoute{{Route: []istio.RouteDestination{{Destination: istio.Destination{Host: "api-nginx"}}}}}},
		},
		HTTPRoutes: []gatewayapi.HTTPRoute{
			{Namespace: "gwapi", Name: "r", ParentRefs: []gatewayapi.ParentRef{{Name: "gw"}},
				Rules: []gatewayapi.RouteRule{{BackendRefs: []gatewayapi.BackendRef{{Name: "app-nginx"}}}}},
			{Namespace: "unattached", Name: "r", Rules: []gatewayapi.RouteRule{{BackendRefs: []gatewayapi.BackendRef{{Name: "x-nginx"}}}}},
			{Namespace: "grafana", Name: "r", ParentRefs: []gatewayapi.ParentRef{{Name: "gw"}},
				Rules: []gatewayapi.RouteRule{{BackendRefs: []gatewayapi.BackendRef{{Name: "grafana"}}}}},
		},
	}
	want := []string{"gwapi", "helm", "routed", "secured"}
	if diff := cmp.Diff(want, read.AppNamespaces(s)); diff != "" {
		t.Errorf("AppNamespaces (-want +got):\n%s", diff)
	}
}

// Each namespace's own inputs come from one list across namespaces: the
// pods are listed once, not once per namespace.
func TestReadAllListsNamespacedInputsOnce(t *testing.T) {
	clients, kube, meta := fleet().Clients(t)
	fleet, err := read.ReadAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, namespacesOf(fleet.Snapshots)); diff != "" {
		t.Errorf("namespaces audited (-want +got):\n%s", diff)
	}
	for _, s := range fleet.Snapshots {
		if len(s.Pods) != 1 || s.Pods[0].Namespace != s.Namespace {
			t.Errorf("%s: pods %v, want its own one", s.Namespace, s.Pods)
		}
		if s.NamespaceLabels["team"] != s.Namespace {
			t.Errorf("%s: namespace labels %v", s.Namespace, s.NamespaceLabels)
		}
	}
	count := func(actions []k8stesting.Action, verb, resource string) int {
		n := 0
		for _, a := range actions {
			if a.GetVerb() == verb && a.GetResource().Resource == resource {
				n++
			}
		}
		return n
	}
	if n := count(meta.Actions(), "list", "pods"); n != 1 {
		t.Errorf("pods listed %d times, want once", n)
	}
	for _, resource := range []string{"namespaces", "roles", "rolebindings", "services", "endpointslices"} {
		if n := count(kube.Actions(), "list", resource); n != 1 {
			t.Errorf("%s listed %d times, want once", resource, n)
		}
	}
	if n := count(kube.Actions(), "get", "namespaces"); n != 0 {
		t.Errorf("namespaces read one by one %d times, want none", n)
	}
}

func TestReadAllNarrowsBySelector(t *testing.T) {
	clients, _, _ := fleet().Clients(t)
	fleet, err := read.ReadAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true, NamespaceSelector: "team=b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b"}, namespacesOf(fleet.Snapshots)); diff != "" {
		t.Errorf("namespaces audited (-want +got):\n%s", diff)
	}
}

// verify -A reads the credential Secrets the Gateways name, each once and
// by name, and no other: no Secret is listed, in any namespace.
func TestReadAllReadsOnlyTheSecretsGatewaysName(t *testing.T) {
	clients, kube, _ := securedFleet().Clients(t)
	// The fake cannot create a SubjectAccessReview: answer as the API server.
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		review.Status.Allowed = true
		return true, review, nil
	})
	fleet, err := read.ReadAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b", "c"}, namespacesOf(fleet.Snapshots)); diff != "" {
		t.Fatalf("namespaces audited (-want +got):\n%s", diff)
	}
	var reads []string
	for _, a := range kube.Actions() {
		if a.GetResource().Resource != "secrets" {
			continue
		}
		read := a.GetVerb() + " " + a.GetNamespace()
		if get, ok := a.(k8stesting.GetAction); ok {
			read += "/" + get.GetName()
		}
		reads = append(reads, read)
	}
	sort.Strings(reads)
	if diff := cmp.Diff([]string{"get istio-ingress/cred-a", "get istio-ingress/cred-b"}, reads); diff != "" {
		t.Errorf("Secrets read (-want +got):\n%s", diff)
	}
	want := map[string]string{"a": "istio-ingress/cred-a", "b": "istio-ingress/cred-b", "c": "istio-ingress/cred-a"}
	for _, s := range fleet.Snapshots {
		var got []string
		for k := range s.Secrets {
			got = append(got, k)
		}
		if diff := cmp.Diff([]string{want[s.Namespace]}, got); diff != "" {
			t.Errorf("%s: Secrets in the snapshot (-want +got):\n%s", s.Namespace, diff)
		}
	}
}

// The suggestion for a mistyped namespace is the one most like it, and the
// others are named too.
func TestSuggestNamespace(t *testing.T) {
	for _, tc := range []struct {
		asked string
		found []string
		want  string
	}{
		{"chatqan", nil, ""},
		{"default", []string{"chatqna"}, "did you mean -n chatqna? (the namespace holding an OPEA application)"},
		{"chatqan", []string{"codegen", "chatqna", "rag"}, "did you mean -n chatqna? (namespaces holding an OPEA application: codegen, chatqna, rag)"},
		{"ragg", []string{"codegen", "chatqna", "rag"}, "did you mean -n rag? (namespaces holding an OPEA application: codegen, chatqna, rag)"},
	} {
		if got := read.SuggestNamespace(tc.asked, tc.found); got != tc.want {
			t.Errorf("SuggestNamespace(%q, %v) = %q, want %q", tc.asked, tc.found, got, tc.want)
		}
	}
}

// With a namespace selector, leftovers are not looked for: a namespace that
// does not exist matches no selector.
func TestReadAllLeftoversNotWithASelector(t *testing.T) {
	clients, _, _ := withLeftovers().Clients(t)
	fleet, err := read.ReadAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true, NamespaceSelector: "team=a"})
	if err != nil {
		t.Fatal(err)
	}
	if fleet.Leftovers != nil {
		t.Errorf("leftovers %v with a selector, want none", fleet.Leftovers)
	}
}

// The application's pods are read as metadata: a named targetPort resolves
// through the namespace's EndpointSlices, one list, as kube-controller-
// manager resolved it, without a read per pod. Refused, the checks that
// need the pod ports cannot run: they say so, and none passes.
func TestReadResolvesNamedTargetPortsFromEndpointSlices(t *testing.T) {
	selector := map[string]string{"app": "tgi"}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-tgi"},
		Spec: corev1.ServiceSpec{Selector: selector, Ports: []corev1.ServicePort{{Name: "web", Port: 80, TargetPort: intstr.FromString("http")}}}}
	pod := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "tgi-1", Labels: selector}}
	name, port, tcp := "web", int32(8080), corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "chatqna", Name: "chatqna-tgi-x1", Labels: map[string]string{discoveryv1.LabelServiceName: "chatqna-tgi"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: &name, Port: &port, Protocol: &tcp}},
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.7"}, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "chatqna", Name: "tgi-1"}}},
	}
	c := cluster{Kube: []runtime.Object{svc, slice}, Pods: []runtime.Object{pod}}
	clients, kube, _ := c.Clients(t)
	s, err := read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Pods) != 1 {
		t.Fatalf("pods %+v", s.Pods)
	}
	if diff := cmp.Diff([]istio.ContainerPort{{Name: "http", Protocol: "TCP", Number: 8080}}, s.Pods[0].ContainerPorts); diff != "" {
		t.Errorf("pod ports (-want +got):\n%s", diff)
	}
	m, err := check.ReachabilityMatrix(s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Rows) != 1 || len(m.Rows[0].PodPorts) != 1 || m.Rows[0].PodPorts[0] != 8080 {
		t.Errorf("rows %+v, want chatqna-tgi:80 at pod port 8080", m.Rows)
	}
	for _, a := range kube.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "pods" {
			t.Errorf("pod read one by one: %v", a)
		}
	}

	clients, kube, _ = c.Clients(t)
	forbid(&kube.Fake, func(a k8stesting.Action) bool { return a.GetResource().Resource == "endpointslices" })
	s, err = read.Read(context.Background(), clients, read.ReadOptions{Namespace: "chatqna"})
	if err != nil {
		t.Fatal(err)
	}
	want := []snapshot.Access{{Verb: "list", Group: "discovery.k8s.io", Resource: "endpointslices", Namespace: "chatqna"}}
	if diff := cmp.Diff(want, s.Unread[snapshot.InputEndpointSlices]); diff != "" {
		t.Errorf("refused requests (-want +got):\n%s", diff)
	}
	for id, o := range outcomesByID(s) {
		if strings.HasPrefix(id, "reachability.") && (o.Status != check.Unknown || !strings.Contains(o.Message, "list endpointslices.discovery.k8s.io in namespace chatqna")) {
			t.Errorf("%s = %s %q, want not run for lack of the EndpointSlices", id, o.Status, o.Message)
		}
	}
}
