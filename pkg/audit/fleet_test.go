package audit

import (
	"bytes"
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

func TestAppNamespacesFindsEachKindOfApplication(t *testing.T) {
	s := &Snapshot{
		Gateways: []istio.Gateway{{Namespace: "istio-ingress", Name: "opea-secured",
			Labels: map[string]string{ownership.ManagedByLabel: ownership.ManagedByValue, ownership.AppNamespaceLabel: "secured"}}},
		Services: []Service{
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
	if diff := cmp.Diff(want, AppNamespaces(s)); diff != "" {
		t.Errorf("AppNamespaces (-want +got):\n%s", diff)
	}
}

// fleet is a fake cluster of two ChatQnA namespaces (a and b), a namespace
// with an nginx of no OPEA release (web), and the pods of each.
func fleet() cluster {
	var kube, pods []runtime.Object
	for _, ns := range []string{"a", "b", "web"} {
		kube = append(kube, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": ns}}})
		pods = append(pods, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns + "-pod", Annotations: map[string]string{redirectionAnnotation: "enabled"}}})
	}
	for _, ns := range []string{"a", "b"} {
		kube = append(kube, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chatqna-nginx"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chatqna"}})
	}
	kube = append(kube, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: "web", Name: "site-nginx"}})
	return cluster{kube: kube, pods: pods}
}

func namespacesOf(snapshots []*Snapshot) []string {
	var out []string
	for _, s := range snapshots {
		out = append(out, s.Namespace)
	}
	return out
}

// Each namespace's own inputs come from one list across namespaces: the
// pods are listed once, not once per namespace.
func TestReadAllListsNamespacedInputsOnce(t *testing.T) {
	clients, kube, meta := fleet().clients(t)
	fleet, err := ReadAll(context.Background(), clients, ReadOptions{AllNamespaces: true})
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
	for _, resource := range []string{"namespaces", "roles", "rolebindings", "services"} {
		if n := count(kube.Actions(), "list", resource); n != 1 {
			t.Errorf("%s listed %d times, want once", resource, n)
		}
	}
	if n := count(kube.Actions(), "get", "namespaces"); n != 0 {
		t.Errorf("namespaces read one by one %d times, want none", n)
	}
}

func TestReadAllNarrowsBySelector(t *testing.T) {
	clients, _, _ := fleet().clients(t)
	fleet, err := ReadAll(context.Background(), clients, ReadOptions{AllNamespaces: true, NamespaceSelector: "team=b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b"}, namespacesOf(fleet.Snapshots)); diff != "" {
		t.Errorf("namespaces audited (-want +got):\n%s", diff)
	}
}

// A user who may read in namespace a only: the lists across namespaces are
// refused, a is read on its own, and b is reported unreadable, not fatal.
func TestAuditAllReportsANamespaceItMayNotRead(t *testing.T) {
	clients, kube, meta := fleet().clients(t)
	notA := func(a k8stesting.Action) bool {
		switch a.GetResource().Resource {
		case "version", "group", "resource", "services":
			return false
		case "namespaces":
			get, ok := a.(k8stesting.GetAction)
			return !ok || get.GetName() != "a"
		}
		return a.GetNamespace() != "a"
	}
	forbid(&kube.Fake, notA)
	forbid(&clients.Dynamic.(*dynamicfake.FakeDynamicClient).Fake, notA)
	forbid(&meta.Fake, notA)

	fleet, err := AuditAll(context.Background(), clients, ReadOptions{AllNamespaces: true}, ProbeOptions{}, true)
	if err != nil {
		t.Fatalf("AuditAll stopped: %v", err)
	}
	unreadable := map[string][]string{}
	for _, r := range fleet.Namespaces {
		for _, a := range r.Unreadable {
			unreadable[r.Namespace] = append(unreadable[r.Namespace], a.String())
		}
	}
	if diff := cmp.Diff(map[string][]string{"b": {"list pods in namespace b"}}, unreadable); diff != "" {
		t.Errorf("unreadable (-want +got):\n%s", diff)
	}
	var b bytes.Buffer
	if err := RenderFleetTable(&b, fleet, Style{}); err != nil {
		t.Fatal(err)
	}
	if want := "could not read the pods of:\n  b: you may not list pods in namespace b\n"; !strings.Contains(b.String(), want) {
		t.Errorf("the table does not say %q:\n%s", want, b.String())
	}
}

// A user who may not list Services everywhere may miss applications: the
// audit says so, and is no success, even when it found none.
func TestAuditAllSaysWhatItCouldNotSearch(t *testing.T) {
	clients, kube, _ := fleet().clients(t)
	forbid(&kube.Fake, func(a k8stesting.Action) bool { return a.GetResource().Resource == "services" })
	fleet, err := AuditAll(context.Background(), clients, ReadOptions{AllNamespaces: true}, ProbeOptions{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(fleet.Namespaces) != 0 || fleet.Success() {
		t.Errorf("%d namespaces found, success %v: want none found, and no success", len(fleet.Namespaces), fleet.Success())
	}
	if got := AccessList(fleet.Unsearched); got != "list services in every namespace" {
		t.Errorf("unsearched: %q", got)
	}
	var b bytes.Buffer
	if err := RenderFleetTable(&b, fleet, Style{}); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(b.String(), "could not look for OPEA applications everywhere: you may not list services in every namespace\n") {
		t.Errorf("table:\n%s", b.String())
	}
}

func TestFleetReportsValidateAgainstTheSchema(t *testing.T) {
	s := healthy(t)
	broken := healthy(t)
	broken.Namespace = "broken"
	broken.NamespaceLabels = nil
	results := []NamespaceResult{
		{Namespace: s.Namespace, Entry: "chatqna-nginx", Outcomes: Run(s)},
		{Namespace: "broken", Outcomes: Run(broken)},
		{Namespace: "hidden", Outcomes: Run(s), Unreadable: []Access{{Verb: "list", Resource: "pods", Namespace: "hidden"}},
			Forbidden: []Access{{Verb: "list", Resource: "pods", Namespace: "hidden"}}},
	}
	var b bytes.Buffer
	report := NewFleetReport("team=rag", &FleetResult{Namespaces: results})
	if err := RenderJSON(&b, report); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, b.Bytes())
	if report.Success || report.Summary != (FleetSummary{Namespaces: 3, Secured: 1, Failing: 1, Unreadable: 1}) {
		t.Errorf("success %v, summary %+v", report.Success, report.Summary)
	}
	b.Reset()
	if err := RenderFleetShort(&b, &FleetResult{Namespaces: results}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], s.Namespace+": secured") || !strings.HasPrefix(lines[1], "broken: failing: ") ||
		lines[2] != "hidden: unreadable: you may not list pods in namespace hidden" {
		t.Errorf("-o short:\n%s", b.String())
	}
}

// securedFleet is a fake cluster of three ChatQnA namespaces behind one
// ingress gateway in istio-ingress: a and c name credential Secret cred-a,
// b names cred-b. Other TLS Secrets, which no Gateway names, are in
// istio-ingress and kube-system.
func securedFleet() cluster {
	c := cluster{}
	gwLabels := map[string]string{"istio": "ingressgateway"}
	c.kube = append(c.kube,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-ingress"}},
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "istio-ingress", Name: "gw-1", Labels: gwLabels}})
	tlsSecret := func(ns, name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{"tls.crt": []byte("cert"), "tls.key": []byte("key")}}
	}
	c.kube = append(c.kube, tlsSecret("istio-ingress", "cred-a"), tlsSecret("istio-ingress", "cred-b"),
		tlsSecret("istio-ingress", "another-team"), tlsSecret("kube-system", "apiserver-key"))
	for ns, credential := range map[string]string{"a": "cred-a", "b": "cred-b", "c": "cred-a"} {
		c.kube = append(c.kube, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chatqna-nginx"}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chatqna"}})
		c.dynamic = append(c.dynamic,
			unstructuredObject("networking.istio.io/v1", "Gateway", ns, "gw", map[string]interface{}{
				"selector": map[string]interface{}{"istio": "ingressgateway"},
				"servers": []interface{}{map[string]interface{}{"port": map[string]interface{}{"number": int64(443), "name": "https", "protocol": "HTTPS"},
					"hosts": []interface{}{ns + ".example.com"}, "tls": map[string]interface{}{"mode": "SIMPLE", "credentialName": credential}}},
			}),
			unstructuredObject("networking.istio.io/v1", "VirtualService", ns, "vs", map[string]interface{}{
				"hosts": []interface{}{ns + ".example.com"}, "gateways": []interface{}{"gw"},
				"http": []interface{}{map[string]interface{}{"route": []interface{}{map[string]interface{}{"destination": map[string]interface{}{"host": "chatqna-nginx"}}}}},
			}))
	}
	return c
}

// verify -A reads the credential Secrets the Gateways name, each once and
// by name, and no other: no Secret is listed, in any namespace.
func TestReadAllReadsOnlyTheSecretsGatewaysName(t *testing.T) {
	clients, kube, _ := securedFleet().clients(t)
	// The fake cannot create a SubjectAccessReview: answer as the API server.
	kube.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		review := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SubjectAccessReview)
		review.Status.Allowed = true
		return true, review, nil
	})
	fleet, err := ReadAll(context.Background(), clients, ReadOptions{AllNamespaces: true})
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
		if got := SuggestNamespace(tc.asked, tc.found); got != tc.want {
			t.Errorf("SuggestNamespace(%q, %v) = %q, want %q", tc.asked, tc.found, got, tc.want)
		}
	}
}
