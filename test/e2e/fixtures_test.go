package e2e

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/pkg/plugin"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

var (
	gatewayNamespace = fixtures.GatewayNamespace
	gatewayName      = fixtures.GatewayName
)

var gatewayPodLabels = fixtures.GatewayPodLabels()

func createChatQnAServices(t testing.TB, kube kubernetes.Interface, ns, release string) {
	t.Helper()
	if err := fixtures.CreateChatQnAServices(context.Background(), kube, ns, release); err != nil {
		t.Fatal(err)
	}
}

var gatewayOnce sync.Once

// ensureIngressGateway installs, once per cluster, the ingress gateway of
// OPEA's guide as Istio's gateway chart renders it, in istio-ingress.
func ensureIngressGateway(t testing.TB) {
	t.Helper()
	var err error
	gatewayOnce.Do(func() {
		err = fixtures.ChartGateway.Install(context.Background(), cluster.AdminConfig())
	})
	if err != nil {
		t.Fatalf("creating the ingress gateway: %v", err)
	}
}

// kubeconfigFor writes (once) a kubeconfig for user on the shared cluster.
func kubeconfigFor(t testing.TB, user string) string {
	t.Helper()
	path := filepath.Join(workDir, "kubeconfig-"+user)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if err := cluster.WriteKubeconfig(path, user); err != nil {
		t.Fatal(err)
	}
	return path
}

type opeaResult struct {
	stdout, stderr string
	code           int
}

// opea runs kubectl opea in-process, as main does, as the cluster admin.
func opea(t testing.TB, args ...string) opeaResult {
	t.Helper()
	return opeaWith(t, kubeconfigFor(t, controlplane.AdminUser), args...)
}

// opeaWith runs kubectl opea with the given kubeconfig. No output of any
// command may ever contain key material.
func opeaWith(t testing.TB, kubeconfig string, args ...string) opeaResult {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := plugin.NewCmdOpea(streams)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(workDir, "cache")}, args...))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	err := cmd.ExecuteContext(ctx)
	plugin.PrintError(&errOut, err)
	r := opeaResult{stdout: out.String(), stderr: errOut.String(), code: plugin.ExitCode(err)}
	if strings.Contains(r.stdout+r.stderr, "PRIVATE KEY") {
		t.Errorf("kubectl opea %v printed key material", args)
	}
	return r
}
