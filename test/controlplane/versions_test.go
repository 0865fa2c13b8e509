package controlplane

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// requiredVersion is the version a tools module's go.mod requires of
// module.
func requiredVersion(t *testing.T, toolsDir, module string) string {
	t.Helper()
	f, err := os.Open(filepath.Join(RepoRoot(), toolsDir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) >= 2 && fields[0] == module {
			return fields[1]
		}
	}
	t.Fatalf("%s/go.mod requires no %s", toolsDir, module)
	return ""
}

// docs/operations.md names the versions the tests run: the ones the tools
// modules build and the CRD modules pinned here.
func TestOperationsDocNamesTheVersionsTested(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join(RepoRoot(), "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	for component, version := range map[string]string{
		"Kubernetes":               requiredVersion(t, "test/tools", "k8s.io/kubernetes"),
		"Istio":                    "istio.io/istio " + requiredVersion(t, "test/istiotools", "istio.io/istio"),
		"Gateway API":              strings.TrimPrefix(GatewayAPIModule, "sigs.k8s.io/gateway-api@") + " standard CRDs",
		"cert-manager":             strings.TrimPrefix(CertManagerModule, "github.com/cert-manager/cert-manager@") + " CRDs and controllers",
		"cert-manager controllers": requiredVersion(t, "test/certmanagertools", "github.com/cert-manager/cert-manager"),
		"kwok":                     "| kwok | " + requiredVersion(t, "test/tools", "sigs.k8s.io/kwok") + " |",
	} {
		if !strings.Contains(string(doc), version) {
			t.Errorf("docs/operations.md does not say that %s %s is tested", component, version)
		}
	}
}

// The cert-manager controllers run are of the release whose CRDs are
// installed.
func TestCertManagerControllersMatchTheCRDs(t *testing.T) {
	crds := strings.TrimPrefix(CertManagerModule, "github.com/cert-manager/cert-manager@")
	if controllers := requiredVersion(t, "test/certmanagertools", "github.com/cert-manager/cert-manager"); controllers != crds {
		t.Errorf("test/certmanagertools builds cert-manager %s, the CRDs are %s", controllers, crds)
	}
}
