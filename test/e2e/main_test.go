// Package e2e runs kubectl-opea and the clients it relies on against a real
// kube-apiserver with the real Istio, Gateway API and cert-manager CRDs.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// cluster is shared by every test of the package: starting it takes seconds,
// and each test works in namespaces of its own.
var cluster *controlplane.ControlPlane

// workDir holds the tests' kubeconfigs and discovery cache; removed at the end.
var workDir string

// limitedUser has no rights beyond what RBAC objects made by a test grant.
const limitedUser = "limited"

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	var err error
	if workDir, err = os.MkdirTemp("", "opea-e2e-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workDir)
	cluster, err = controlplane.Start(context.Background(), controlplane.Options{
		Users:    []controlplane.User{{Name: limitedUser}},
		Istio:    true,
		Progress: os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the local control plane:", err)
		return 1
	}
	code := m.Run()
	if pluginDir != "" {
		os.RemoveAll(pluginDir)
	}
	if err := cluster.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "stopping the local control plane:", err)
		code = 1
	}
	return code
}
