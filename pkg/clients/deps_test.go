package clients_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestBinaryCarriesOnlyTheClientGroupsItCalls guards the binary's size: the
// full clientset (k8s.io/client-go/kubernetes) brings the typed clients and
// apply configurations of every API group, most of what the binary once
// weighed, for the five groups kubectl-opea calls.
func TestBinaryCarriesOnlyTheClientGroupsItCalls(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/opea-project/kubectl-opea/cmd/kubectl-opea").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	allowed := map[string]bool{
		"k8s.io/client-go/kubernetes/typed/core/v1":          true,
		"k8s.io/client-go/kubernetes/typed/apps/v1":          true,
		"k8s.io/client-go/kubernetes/typed/rbac/v1":          true,
		"k8s.io/client-go/kubernetes/typed/authorization/v1": true,
		"k8s.io/client-go/kubernetes/typed/discovery/v1":     true,
	}
	var extra []string
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "k8s.io/client-go/kubernetes" || strings.HasPrefix(pkg, "k8s.io/client-go/kubernetes/typed/") && !allowed[pkg] {
			extra = append(extra, pkg)
		}
	}
	if len(extra) > 0 {
		t.Errorf("the binary imports %d client packages beyond the five groups it calls, first %s: build clients with clients.NewKube, not kubernetes.NewForConfig", len(extra), extra[0])
	}
}

// TestBinaryImportsNoTestHelpers keeps test code out of the plugin: the
// fake cluster of package clientstest, and the fake clientsets it brings,
// are for tests only.
func TestBinaryImportsNoTestHelpers(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/opea-project/kubectl-opea/cmd/kubectl-opea").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if pkg == "github.com/opea-project/kubectl-opea/pkg/clients/clientstest" || strings.HasSuffix(pkg, "/fake") {
			t.Errorf("the plugin binary imports %s", pkg)
		}
	}
}
