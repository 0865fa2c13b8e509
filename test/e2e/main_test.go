// Package e2e runs kubectl-opea and the clients it relies on against a real
// kube-apiserver with the real Istio, Gateway API and cert-manager CRDs.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// cluster is shared by every test of the package: starting it takes seconds,
// and each test works in namespaces of its own.
var cluster *controlplane.ControlPlane

// workDir holds the tests' kubeconfigs and discovery cache; removed at the end.
var workDir string

// idpTLS is the serving certificate of the tests' IdPs on 127.0.0.1
// (jwtissuer.ServeJWKS): istiod trusts its CA when it fetches a JWKS, and
// so does this process (verify, run in it, fetches the keys too), as a
// machine trusts its organisation's CA.
var idpTLS testpki.Credential

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
	if err := trustTestIdP(); err != nil {
		fmt.Fprintln(os.Stderr, "the tests' IdP certificate:", err)
		return 1
	}
	cluster, err = controlplane.Start(context.Background(), controlplane.Options{
		Users:       []controlplane.User{{Name: limitedUser}},
		Istio:       true,
		IstiodRoots: idpTLS.CAPEM,
		Progress:    os.Stderr,
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

// trustTestIdP mints idpTLS and makes this process trust its CA besides
// the system's (SSL_CERT_DIR, read once, on the first TLS connection that
// uses the system's roots: before any).
func trustTestIdP() error {
	var err error
	if idpTLS, err = testpki.Issue(testpki.Leaf{CA: "kubectl-opea tests' IdP CA", CommonName: "idp", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"}}); err != nil {
		return err
	}
	dir := filepath.Join(workDir, "roots")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "idp-ca.pem"), idpTLS.CAPEM, 0o644); err != nil {
		return err
	}
	return os.Setenv("SSL_CERT_DIR", dir+":/etc/ssl/certs")
}
