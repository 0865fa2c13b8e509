package check_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The checks are pure functions of a snapshot: package check, and what it
// imports, hold no client to ask the cluster with. The compiler keeps it
// so once no client is imported; this test says so when one is.
func TestCheckImportsNoClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/opea-project/kubectl-opea/pkg/audit/check").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/client-go/") || pkg == "k8s.io/client-go" {
			t.Errorf("package check imports %s", pkg)
		}
	}
}
