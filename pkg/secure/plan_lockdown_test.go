package secure

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/pkg/problems"
)

var authorizationPoliciesGVR = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"}

// servePolicies makes c serve AuthorizationPolicy in security.istio.io/v1.
func (c fakeCluster) servePolicies() fakeCluster {
	c.Serve(authorizationPoliciesGVR)
	return c
}

func pod(name, serviceAccount string, labels map[string]string, ports ...corev1.ContainerPort) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: name, Labels: labels},
		Spec:       corev1.PodSpec{ServiceAccountName: serviceAccount, Containers: []corev1.Container{{Name: "main", Ports: ports}}},
	}
}

// chatqnaPods are an application's pods: the entry (nginx, whose port
// "http" is 8080), two more, and one of a gateway Istio deployed.
func chatqnaPods() []runtime.Object {
	return []runtime.Object{
		pod("nginx-1", "chatqna-nginx", map[string]string{"app": "nginx"}, corev1.ContainerPort{Name: "http", ContainerPort: 8080}),
		pod("ui-1", "chatqna-ui", map[string]string{"app": "ui"}),
		pod("backend-1", "", map[string]string{"app": "backend"}),
		pod("backend-2", "", map[string]string{"app": "backend"}),
		pod("opea-ingress-istio-1", "opea-ingress-istio", map[string]string{gatewayapi.GatewayNameLabel: "opea-ingress"}),
	}
}

// entry is the entry Service "entry" selecting app=nginx, port 80 to
// targetPort.
func entry(target intstr.IntOrString) *corev1.Service {
	return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "entry"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "nginx"}, Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: target}}}}
}

func meshConfig(mesh string) *corev1.ConfigMap {
	return meshConfigIn("istio-system", "istio", mesh)
}

func meshConfigIn(ns, name, mesh string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Data: map[string]string{"mesh": mesh}}
}

// istiod is an istiod Deployment in ns of revision rev ("" for the
// default revision).
func istiod(ns, rev string) *appsv1.Deployment {
	labels := map[string]string{"app": "istiod"}
	name := "istiod"
	if rev != "" {
		labels["istio.io/rev"] = rev
		name += "-" + rev
	}
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels}}
}

// classicGateway is an ingress gateway running as service account
// istio-ingress in namespace istio-ingress.
func classicGateway() []runtime.Object {
	podLabels := map[string]string{"istio": "ingress"}
	return []runtime.Object{
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "istio-ingress"},
			Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: podLabels}, Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels}, Spec: corev1.PodSpec{ServiceAccountName: "istio-ingress"}}}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "istio-ingress"},
			Spec: corev1.ServiceSpec{Selector: podLabels, Ports: []corev1.ServicePort{{Name: "https", Port: 443}, {Name: "http2", Port: 80}}}},
	}
}

func lockdownRequest(gatewayAPI bool) Request {
	req := gatewayAPIRequest()
	req.Service, req.Lockdown = "entry", LockdownOn
	if !gatewayAPI {
		req.GatewayAPI, req.GatewayClass = false, ""
	}
	return req
}

// lockdownPolicy is secure's policy name as a cluster holds it.
func lockdownPolicy(name string, annotations map[string]string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy"}}
	u.SetNamespace("chatqna")
	u.SetName(name)
	u.SetLabels(ownership.Labels("chatqna"))
	u.SetAnnotations(annotations)
	return u
}

func TestLockdownPlan(t *testing.T) {
	for _, tc := range []struct {
		name       string
		gatewayAPI bool
		typed      []runtime.Object
		modify     func(*Request)
		want       desired.Lockdown
		notice     string
	}{
		{
			name:  "classic: the gateway's service account in its namespace, the trust domain of the mesh config, a named targetPort resolved",
			typed: append(append(chatqnaPods(), classicGateway()...), entry(intstr.FromString("http")), istiod("istio-system", ""), meshConfig("trustDomain: corp.example\n")),
			modify: func(r *Request) {
				r.AllowPrincipals = []string{"corp.example/ns/monitoring/sa/prometheus"}
			},
			want: desired.Lockdown{Version: "v1", TrustDomain: "corp.example",
				ServiceAccounts: []string{"chatqna-nginx", "chatqna-ui", "default"}, AllowPrincipals: []string{"corp.example/ns/monitoring/sa/prometheus"},
				EntrySelector: map[string]string{"app": "nginx"}, EntryPorts: []int32{8080},
				GatewayPrincipal: "corp.example/ns/istio-ingress/sa/istio-ingress"},
		},
		{
			name:       "Gateway API: the service account Istio makes for the Gateway; Istio's default trust domain; a numeric targetPort as it is",
			gatewayAPI: true,
			typed:      append(chatqnaPods(), entry(intstr.FromInt32(8081))),
			want: desired.Lockdown{Version: "v1", TrustDomain: "cluster.local",
				ServiceAccounts: []string{"chatqna-nginx", "chatqna-ui", "default"},
				EntrySelector:   map[string]string{"app": "nginx"}, EntryPorts: []int32{8081},
				GatewayPrincipal: "cluster.local/ns/chatqna/sa/opea-ingress-istio"},
			notice: "Istio's mesh config not found (no istiod (kubectl get deployments -A -l app=istiod)): using Istio's default trust domain cluster.local",
		},
		{
			// verify reads the mesh config of a revisioned istiod in its
			// namespace; the lockdown reads the same one (not istio-system/istio).
			name:       "the trust domain of a revisioned istiod's mesh config, where verify reads it",
			gatewayAPI: true,
			typed: append(chatqnaPods(), entry(intstr.FromInt32(8081)), istiod("istio-control", "1-24"),
				meshConfig("trustDomain: stale.example\n"), meshConfigIn("istio-control", "istio-1-24", "trustDomain: corp.example\n")),
			want: desired.Lockdown{Version: "v1", TrustDomain: "corp.example",
				ServiceAccounts: []string{"chatqna-nginx", "chatqna-ui", "default"},
				EntrySelector:   map[string]string{"app": "nginx"}, EntryPorts: []int32{8081},
				GatewayPrincipal: "corp.example/ns/chatqna/sa/opea-ingress-istio"},
		},
		{
			name:       "an istiod whose ConfigMap is missing: the default trust domain, said",
			gatewayAPI: true,
			typed:      append(chatqnaPods(), entry(intstr.FromInt32(8081)), istiod("istio-system", "")),
			want: desired.Lockdown{Version: "v1", TrustDomain: "cluster.local",
				ServiceAccounts: []string{"chatqna-nginx", "chatqna-ui", "default"},
				EntrySelector:   map[string]string{"app": "nginx"}, EntryPorts: []int32{8081},
				GatewayPrincipal: "cluster.local/ns/chatqna/sa/opea-ingress-istio"},
			notice: "Istio's mesh config not found (no ConfigMap istio-system/istio): using Istio's default trust domain cluster.local",
		},
		{
			name:   "a caller of another trust domain than the mesh's is noted",
			typed:  append(append(chatqnaPods(), classicGateway()...), entry(intstr.FromInt32(8080)), istiod("istio-system", ""), meshConfig("trustDomain: corp.example\n")),
			modify: func(r *Request) { r.AllowPrincipals = []string{"cluster.local/ns/monitoring/sa/prometheus"} },
			want: desired.Lockdown{Version: "v1", TrustDomain: "corp.example",
				ServiceAccounts: []string{"chatqna-nginx", "chatqna-ui", "default"}, AllowPrincipals: []string{"cluster.local/ns/monitoring/sa/prometheus"},
				EntrySelector: map[string]string{"app": "nginx"}, EntryPorts: []int32{8080},
				GatewayPrincipal: "corp.example/ns/istio-ingress/sa/istio-ingress"},
			notice: "--allow-principal cluster.local/ns/monitoring/sa/prometheus is of trust domain cluster.local, the mesh's is corp.example",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, "v1", tc.typed, classes("v1", gatewayClass("istio", accepted("True", "Accepted", "")))).servePolicies()
			req := lockdownRequest(tc.gatewayAPI)
			if tc.modify != nil {
				tc.modify(&req)
			}
			plan, notices, err := c.plan(req)
			if err != nil {
				t.Fatalf("plan: %v", err)
			}
			if plan.Params.Lockdown == nil {
				t.Fatal("no lockdown in the plan")
			}
			if diff := cmp.Diff(tc.want, *plan.Params.Lockdown); diff != "" {
				t.Errorf("lockdown (-want +got):\n%s", diff)
			}
			if !strings.Contains(notices, tc.notice) {
				t.Errorf("notices %q lack %q", notices, tc.notice)
			}
			var policies []string
			for _, o := range plan.Objects {
				if o.GetKind() == "AuthorizationPolicy" {
					policies = append(policies, o.GetName())
				}
			}
			want := []string{"opea-allow-ingress", "opea-allow-app", "opea-deny-by-default"}
			if tc.gatewayAPI {
				want = append([]string{"opea-allow-gateway-clients"}, want...)
			}
			if diff := cmp.Diff(want, policies); diff != "" {
				t.Errorf("policies (-want +got):\n%s", diff)
			}
			if plan.Unlock != nil {
				t.Errorf("removal planned: %+v", plan.Unlock)
			}
		})
	}
}

func TestLockdownPlanRefuses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		typed     []runtime.Object
		unserved  bool
		forbidden []string // resources the user may not read
		want      []string
	}{
		{
			name:  "no pods",
			typed: []runtime.Object{entry(intstr.FromInt32(8080))},
			want: []string{"namespace chatqna has no pods of the application: the lockdown admits the service accounts its pods run as, and would admit none\n" +
				"  fix: install or start the application first (kubectl get pods -n chatqna), then run secure again; or leave out --lockdown"},
		},
		{
			name:  "only a gateway's pods",
			typed: []runtime.Object{entry(intstr.FromInt32(8080)), chatqnaPods()[4]},
			want:  []string{"namespace chatqna has no pods of the application"},
		},
		{
			name:     "AuthorizationPolicy not served",
			typed:    append(chatqnaPods(), entry(intstr.FromInt32(8080))),
			unserved: true,
			want: []string{"--lockdown: the Istio API security.istio.io does not serve AuthorizationPolicy (v1 or v1beta1): Istio's CRDs are not installed\n" +
				"  fix: install Istio in ambient mode with its CRDs (istioctl install --set profile=ambient, or the istio/base Helm chart), or leave out --lockdown"},
		},
		{
			name:  "a named targetPort no selected pod declares",
			typed: append(chatqnaPods(), entry(intstr.FromString("web"))),
			want: []string{`Service chatqna/entry port 80 targets the port named "web", and none of the 1 pods it selects (app=nginx) declares a container port of that name: the lockdown cannot name the port the ingress gateway may reach` +
				"\n  fix: name the port \"web\" in the entry pods' containers (kubectl get pods -n chatqna -l app=nginx -o yaml), or give the Service port a numeric targetPort"},
		},
		{
			name:  "a named targetPort and no entry pod",
			typed: append(chatqnaPods()[1:], entry(intstr.FromString("http"))),
			want:  []string{`targets the port named "http", and it selects no pod (app=nginx) to resolve it in`},
		},
		{
			name:      "reads refused, listed together",
			typed:     append(chatqnaPods(), entry(intstr.FromInt32(8080)), istiod("istio-system", "")),
			forbidden: []string{"pods", "configmaps"},
			want: []string{`you lack permissions it needs: get configmaps "istio" in namespace istio-system; list pods in namespace chatqna` +
				"\n  fix: ask a cluster admin for a Role (or ClusterRole) granting them"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, "v1", tc.typed, classes("v1", gatewayClass("istio", accepted("True", "Accepted", ""))))
			if !tc.unserved {
				c = c.servePolicies()
			}
			for _, resource := range tc.forbidden {
				c.Kube.PrependReactor("*", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(a.GetResource().GroupResource(), "", errors.New("RBAC"))
				})
			}
			_, _, err := c.plan(lockdownRequest(true))
			var list problems.List
			if !errors.As(err, &list) {
				t.Fatalf("plan: %v; want problems", err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("problems:\n%s\nlack %q", err, want)
				}
			}
		})
	}
}

// Without --lockdown, a lockdown an earlier run made stays, with the
// callers it admitted; --lockdown=false plans its removal.
func TestLockdownFlagNotGivenOrFalse(t *testing.T) {
	existing := []*unstructured.Unstructured{
		gatewayClass("istio", accepted("True", "Accepted", "")),
		lockdownPolicy("opea-allow-ingress", nil),
		lockdownPolicy("opea-allow-app", map[string]string{ownership.AllowPrincipalsAnnotation: "cluster.local/ns/monitoring/sa/prometheus"}),
		lockdownPolicy("opea-deny-by-default", nil),
	}
	typed := append(chatqnaPods(), entry(intstr.FromInt32(8080)))
	t.Run("not given, policies in place: kept and rendered anew", func(t *testing.T) {
		c := newFakeCluster(t, "v1", typed, existing).servePolicies()
		req := lockdownRequest(true)
		req.Lockdown = LockdownAsIs
		plan, notices, err := c.plan(req)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Params.Lockdown == nil || plan.Unlock != nil {
			t.Fatalf("lockdown %+v, unlock %+v", plan.Params.Lockdown, plan.Unlock)
		}
		if diff := cmp.Diff([]string{"cluster.local/ns/monitoring/sa/prometheus"}, plan.Params.Lockdown.AllowPrincipals); diff != "" {
			t.Errorf("extra callers (-want +got):\n%s", diff)
		}
		if !strings.Contains(notices, "Keeping the lockdown an earlier secure --lockdown made in namespace chatqna (--lockdown=false removes it).") {
			t.Errorf("notices %q", notices)
		}
	})
	t.Run("not given, no policies: no lockdown", func(t *testing.T) {
		c := newFakeCluster(t, "v1", typed, classes("v1", gatewayClass("istio", accepted("True", "Accepted", "")))).servePolicies()
		req := lockdownRequest(true)
		req.Lockdown = LockdownAsIs
		plan, _, err := c.plan(req)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Params.Lockdown != nil || plan.Unlock != nil {
			t.Errorf("lockdown %+v, unlock %+v", plan.Params.Lockdown, plan.Unlock)
		}
	})
	t.Run("--lockdown=false: removal planned, allow-nothing first", func(t *testing.T) {
		c := newFakeCluster(t, "v1", typed, existing).servePolicies()
		req := lockdownRequest(true)
		req.Lockdown = LockdownOff
		plan, _, err := c.plan(req)
		if err != nil {
			t.Fatal(err)
		}
		if plan.Params.Lockdown != nil || plan.Unlock == nil {
			t.Fatalf("lockdown %+v, unlock %+v", plan.Params.Lockdown, plan.Unlock)
		}
		var steps []string
		for _, s := range plan.Unlock.Plan() {
			steps = append(steps, s.Ref+" "+s.What)
		}
		want := []string{
			"authorizationpolicy.security.istio.io/opea-deny-by-default deleted",
			"authorizationpolicy.security.istio.io/opea-allow-app deleted",
			"authorizationpolicy.security.istio.io/opea-allow-ingress deleted",
		}
		if diff := cmp.Diff(want, steps); diff != "" {
			t.Errorf("removal (-want +got):\n%s", diff)
		}
		for _, o := range plan.Objects {
			if o.GetKind() == "AuthorizationPolicy" {
				t.Errorf("%s applied with --lockdown=false", o.GetName())
			}
		}
	})
}

// With the Gateway API, the lockdown admits every client at its Gateway;
// a DENY of the user's that matches a plain request there, in the
// namespace or mesh-wide, would still turn clients away: secure refuses,
// naming it. One that leaves the application's hosts alone is fine.
func TestLockdownRefusesADenyThatShutsTheGateway(t *testing.T) {
	deny := func(ns, name, hosts string) *unstructured.Unstructured {
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON([]byte(`{"apiVersion": "security.istio.io/v1", "kind": "AuthorizationPolicy",
			"metadata": {"namespace": "` + ns + `", "name": "` + name + `"},
			"spec": {"action": "DENY", "rules": [{"from": [{"source": {"notRequestPrincipals": ["*"]}}], "to": [{"operation": {"hosts": [` + hosts + `]}}]}]}}`)); err != nil {
			t.Fatal(err)
		}
		return u
	}
	typed := append(chatqnaPods(), entry(intstr.FromInt32(8080)))
	for _, tc := range []struct {
		name       string
		gatewayAPI bool
		policy     *unstructured.Unstructured
		// mesh, when set, is the mesh config istiod reads.
		mesh string
		want string
	}{
		{name: "a DENY of requests without a token in the namespace", gatewayAPI: true, policy: deny("chatqna", "require-jwt", `"chatqna.example.com"`),
			want: "DENY policy chatqna/require-jwt applies to the gateway Istio deploys for Gateway chatqna/opea-ingress and matches GET / for chatqna.example.com on port 443"},
		{name: "a mesh-wide one", gatewayAPI: true, policy: deny("istio-system", "mesh-jwt", `"*"`),
			want: "DENY policy istio-system/mesh-jwt applies to the gateway"},
		{name: "one for other hosts", gatewayAPI: true, policy: deny("chatqna", "other", `"other.example.com"`)},
		// The root namespace is the one the mesh config names, found as
		// verify finds it.
		{name: "a mesh-wide one of the mesh config's root namespace", gatewayAPI: true, policy: deny("mesh-root", "mesh-jwt", `"*"`), mesh: "rootNamespace: mesh-root\n",
			want: "DENY policy mesh-root/mesh-jwt applies to the gateway"},
		{name: "one in istio-system when it is not the root namespace", gatewayAPI: true, policy: deny("istio-system", "not-mesh-wide", `"*"`), mesh: "rootNamespace: mesh-root\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := classes("v1", gatewayClass("istio", accepted("True", "Accepted", "")))
			objs = append(objs, tc.policy)
			typed := typed
			if tc.mesh != "" {
				typed = append(slices.Clone(typed), istiod("istio-system", ""), meshConfig(tc.mesh))
			}
			c := newFakeCluster(t, "v1", typed, objs).servePolicies()
			_, _, err := c.plan(lockdownRequest(tc.gatewayAPI))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("plan: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("plan: %v; want %q", err, tc.want)
			}
		})
	}
}

// A Service that sends its traffic through a waypoint is reached from the
// waypoint: the lockdown admits the waypoint's account, the one its
// Gateway names, or istiod's default (the Gateway's name) without one.
func TestLockdownAdmitsTheWaypointsServicesUse(t *testing.T) {
	backend := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "chatqna", Name: "backend", Labels: map[string]string{istio.UseWaypointLabel: "waypoint"}},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "backend"}, Ports: []corev1.ServicePort{{Port: 8888}}}}
	waypoint := &unstructured.Unstructured{}
	if err := waypoint.UnmarshalJSON([]byte(`{"apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
		"metadata": {"namespace": "chatqna", "name": "waypoint", "annotations": {"gateway.istio.io/service-account": "wp"}},
		"spec": {"gatewayClassName": "istio-waypoint"}}`)); err != nil {
		t.Fatal(err)
	}
	typed := append(chatqnaPods(), entry(intstr.FromInt32(8080)), backend)
	for _, tc := range []struct {
		name    string
		gateway bool
		want    string
	}{
		{name: "the account its Gateway names", gateway: true, want: "cluster.local/ns/chatqna/sa/wp"},
		{name: "no Gateway: the waypoint's name", want: "cluster.local/ns/chatqna/sa/waypoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			objs := classes("v1", gatewayClass("istio", accepted("True", "Accepted", "")))
			if tc.gateway {
				objs = append(objs, waypoint)
			}
			plan, _, err := newFakeCluster(t, "v1", typed, objs).servePolicies().plan(lockdownRequest(true))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{tc.want}, plan.Params.Lockdown.Waypoints); diff != "" {
				t.Errorf("waypoints (-want +got):\n%s", diff)
			}
			if !slices.Contains(plan.Params.Lockdown.AppPrincipals("chatqna"), tc.want) {
				t.Errorf("opea-allow-app does not admit %s: %v", tc.want, plan.Params.Lockdown.AppPrincipals("chatqna"))
			}
		})
	}
}

// The callers recorded on opea-allow-app are re-admitted by a plain secure
// only as --allow-principal would have admitted them: an annotation edited
// to a wildcard, or to anything the flag refuses, makes secure refuse, with
// the policy, the value and the fix. --lockdown with flags replaces the
// record, and --lockdown=false does not read it.
func TestLockdownRecordedPrincipalsAreValidated(t *testing.T) {
	typed := append(chatqnaPods(), entry(intstr.FromInt32(8080)))
	withRecord := func(value string) []*unstructured.Unstructured {
		return []*unstructured.Unstructured{
			gatewayClass("istio", accepted("True", "Accepted", "")),
			lockdownPolicy("opea-allow-ingress", nil),
			lockdownPolicy("opea-allow-app", map[string]string{ownership.AllowPrincipalsAnnotation: value}),
			lockdownPolicy("opea-deny-by-default", nil),
		}
	}
	for _, tc := range []struct {
		name, record string
		want         []string // admitted, when secure goes ahead
		wantErr      string
	}{
		{name: "one caller", record: "cluster.local/ns/monitoring/sa/prometheus", want: []string{"cluster.local/ns/monitoring/sa/prometheus"}},
		{name: "a caller twice", record: "cluster.local/ns/monitoring/sa/prometheus,cluster.local/ns/monitoring/sa/prometheus", want: []string{"cluster.local/ns/monitoring/sa/prometheus"}},
		{name: "empty", record: ""},
		{name: "every mesh identity", record: "*,cluster.local/ns/monitoring/sa/prometheus",
			wantErr: `AuthorizationPolicy chatqna/opea-allow-app: annotation opea.dev/allow-principals="*,cluster.local/ns/monitoring/sa/prometheus" is not what secure --lockdown records: "*" is not of the form`},
		{name: "a namespace wildcard", record: "cluster.local/ns/monitoring/sa/*",
			wantErr: `"cluster.local/ns/monitoring/sa/*" has a wildcard`},
		{name: "a prefix wildcard", record: "*/ns/monitoring/sa/prometheus",
			wantErr: `"*/ns/monitoring/sa/prometheus" has a wildcard`},
		{name: "an empty entry", record: "cluster.local/ns/monitoring/sa/prometheus,,",
			wantErr: "an empty entry"},
		{name: "spaces", record: "cluster.local/ns/monitoring/sa/prometheus, cluster.local/ns/a/sa/b",
			wantErr: `" cluster.local/ns/a/sa/b": trust domain " cluster.local"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newFakeCluster(t, "v1", typed, withRecord(tc.record)).servePolicies()
			req := lockdownRequest(true)
			req.Lockdown = LockdownAsIs
			plan, _, err := c.plan(req)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "fix: run kubectl opea secure -n chatqna --host chatqna.example.com --gateway-api --lockdown --force-conflicts --allow-principal <caller> for each caller you mean to admit") {
					t.Fatalf("plan: %v\nwant a problem with %q and the fix", err, tc.wantErr)
				}
				// The flags replace the record, and --lockdown=false removes it.
				for _, choice := range []LockdownChoice{LockdownOn, LockdownOff} {
					req.Lockdown = choice
					if _, _, err := c.plan(req); err != nil {
						t.Errorf("lockdown choice %d: %v", choice, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, plan.Params.Lockdown.AllowPrincipals); diff != "" {
				t.Errorf("admitted (-want +got):\n%s", diff)
			}
		})
	}
}
