package audit

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

func TestAppNamespacesFindsEachKindOfApplication(t *testing.T) {
	s := &Snapshot{
		Gateways: []istio.Gateway{{Namespace: "istio-ingress", Name: "opea-secured",
			Labels: map[string]string{managedByLabel: managedByValue, appNamespaceLabel: "secured"}}},
		Services: []Service{
			{Namespace: "helm", Name: "codegen-nginx", Labels: map[string]string{"app.kubernetes.io/instance": "codegen"}},
			{Namespace: "manifests", Name: "docsum-nginx"}, {Namespace: "manifests", Name: "docsum"},
			{Namespace: "web", Name: "my-nginx"}, // no OPEA release beside it
			{Namespace: "web", Name: "-nginx"},
		},
		VirtualServices: []istio.VirtualService{
			{Namespace: "istio-ingress", Name: "routed", Gateways: []string{"ingress"},
				HTTP: []istio.HTTPRoute{{Route: []istio.RouteDestination{{Destination: istio.Destination{Host: "ui.routed.svc.cluster.local"}}}}}},
			{Namespace: "internal", Name: "mesh-only", Gateways: []string{"mesh"},
				HTTP: []istio.HTTPRoute{{Route: []istio.RouteDestination{{Destination: istio.Destination{Host: "api"}}}}}},
		},
		HTTPRoutes: []gatewayapi.HTTPRoute{
			{Namespace: "gwapi", Name: "r", ParentRefs: []gatewayapi.ParentRef{{Name: "gw"}},
				Rules: []gatewayapi.RouteRule{{BackendRefs: []gatewayapi.BackendRef{{Name: "app-nginx"}}}}},
			{Namespace: "unattached", Name: "r", Rules: []gatewayapi.RouteRule{{BackendRefs: []gatewayapi.BackendRef{{Name: "x"}}}}},
		},
	}
	want := []string{"gwapi", "helm", "manifests", "routed", "secured"}
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
		kube = append(kube, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "chatqna-nginx", Labels: map[string]string{"app.kubernetes.io/instance": "chatqna"}}})
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
	snapshots, err := ReadAll(context.Background(), clients, ReadOptions{AllNamespaces: true})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, namespacesOf(snapshots)); diff != "" {
		t.Errorf("namespaces audited (-want +got):\n%s", diff)
	}
	for _, s := range snapshots {
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
	snapshots, err := ReadAll(context.Background(), clients, ReadOptions{AllNamespaces: true, NamespaceSelector: "team=b"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b"}, namespacesOf(snapshots)); diff != "" {
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

	results, err := AuditAll(context.Background(), clients, ReadOptions{AllNamespaces: true}, ProbeOptions{}, true)
	if err != nil {
		t.Fatalf("AuditAll stopped: %v", err)
	}
	verdicts := map[string]string{}
	for _, r := range results {
		verdicts[r.Namespace] = r.Verdict()
	}
	if verdicts["b"] != VerdictUnreadable {
		t.Errorf("b: verdict %q, want %q", verdicts["b"], VerdictUnreadable)
	}
	if verdicts["a"] == VerdictUnreadable {
		t.Errorf("a, which may be read, is unreadable")
	}
	var b bytes.Buffer
	if err := RenderFleetTable(&b, results, Style{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"b: you may not get namespaces \"b\"; list pods in namespace b", "could NOT be fully verified"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("the table does not say %q:\n%s", want, b.String())
		}
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
	report := NewFleetReport("team=rag", results)
	if err := RenderJSON(&b, report); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, b.Bytes())
	if report.Success || report.Summary != (FleetSummary{Namespaces: 3, Secured: 1, Failing: 1, Unreadable: 1}) {
		t.Errorf("success %v, summary %+v", report.Success, report.Summary)
	}
	b.Reset()
	if err := RenderFleetShort(&b, results); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], s.Namespace+": secured") || !strings.HasPrefix(lines[1], "broken: failing: ") ||
		lines[2] != "hidden: unreadable: you may not list pods in namespace hidden" {
		t.Errorf("-o short:\n%s", b.String())
	}
}
