package gatewayemulator_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The emulator is test code: the plugin binary must never carry it, nor
// anything else of test/ (gRPC and the Envoy API types come with it).
func TestPluginBinaryImportsNoTestCode(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "github.com/opea-project/kubectl-opea/cmd/kubectl-opea").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/opea-project/kubectl-opea/test/") || strings.HasPrefix(pkg, "github.com/envoyproxy/go-control-plane/") {
			t.Errorf("the plugin binary imports %s", pkg)
		}
	}
}
