package report

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/audit/probe"
	"github.com/opea-project/kubectl-opea/pkg/audit/read"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
)

// A user who may read in namespace a only: the lists across namespaces are
// refused, a is read on its own, and b is reported unreadable, not fatal.
func TestAuditAllReportsANamespaceItMayNotRead(t *testing.T) {
	clients, kube, meta := fleet().Clients(t)
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

	fleet, err := audit.AuditAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true}, probe.Options{}, true)
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
	if err := FleetTable(&b, fleet, Style{}); err != nil {
		t.Fatal(err)
	}
	if want := "could not read the pods of:\n  b: you may not list pods in namespace b\n"; !strings.Contains(b.String(), want) {
		t.Errorf("the table does not say %q:\n%s", want, b.String())
	}
}

// A user who may not list Services everywhere may miss applications: the
// audit says so, and is no success, even when it found none.
func TestAuditAllSaysWhatItCouldNotSearch(t *testing.T) {
	clients, kube, _ := fleet().Clients(t)
	forbid(&kube.Fake, func(a k8stesting.Action) bool { return a.GetResource().Resource == "services" })
	fleet, err := audit.AuditAll(context.Background(), clients, read.ReadOptions{AllNamespaces: true}, probe.Options{}, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(fleet.Namespaces) != 0 || fleet.Success() {
		t.Errorf("%d namespaces found, success %v: want none found, and no success", len(fleet.Namespaces), fleet.Success())
	}
	if got := snapshot.AccessList(fleet.Unsearched); got != "list services in every namespace" {
		t.Errorf("unsearched: %q", got)
	}
	var b bytes.Buffer
	if err := FleetTable(&b, fleet, Style{}); err != nil {
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
	results := []audit.Result{
		{Namespace: s.Namespace, Entry: "chatqna-nginx", Outcomes: check.Run(s)},
		{Namespace: "broken", Outcomes: check.Run(broken)},
		{Namespace: "hidden", Outcomes: check.Run(s), Unreadable: []snapshot.Access{{Verb: "list", Resource: "pods", Namespace: "hidden"}},
			Forbidden: []snapshot.Access{{Verb: "list", Resource: "pods", Namespace: "hidden"}}},
	}
	var b bytes.Buffer
	report := NewFleet("team=rag", &audit.FleetResult{Namespaces: results})
	if err := JSON(&b, report); err != nil {
		t.Fatal(err)
	}
	validateAgainstSchema(t, b.Bytes())
	if report.Success || report.Summary != (FleetSummary{Namespaces: 3, Secured: 1, Failing: 1, Unreadable: 1}) {
		t.Errorf("success %v, summary %+v", report.Success, report.Summary)
	}
	b.Reset()
	if err := FleetShort(&b, &audit.FleetResult{Namespaces: results}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], s.Namespace+": secured") || !strings.HasPrefix(lines[1], "broken: failing: ") ||
		lines[2] != "hidden: unreadable: you may not list pods in namespace hidden" {
		t.Errorf("-o short:\n%s", b.String())
	}
}
