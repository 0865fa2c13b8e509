package e2e

import (
	"context"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/plugin"
	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// countingTransport counts the HTTP requests a client sends.
type countingTransport struct {
	next  http.RoundTripper
	count *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.count.Add(1)
	return c.next.RoundTrip(r)
}

// runSecureCounting runs secure in-process and returns how many API requests
// it sent.
func runSecureCounting(b testing.TB, kubeconfig, cacheDir string, args ...string) int64 {
	var count atomic.Int64
	withCounter := func(g genericclioptions.RESTClientGetter) clients.Getter {
		flags := g.(*genericclioptions.ConfigFlags)
		flags.WrapConfigFn = func(cfg *rest.Config) *rest.Config {
			cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, count: &count} })
			return cfg
		}
		return clients.New(flags)
	}
	var out, errOut strings.Builder
	cmd := plugin.NewCmdOpeaWithClients(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, withCounter)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cacheDir}, args...))
	if err := cmd.ExecuteContext(context.Background()); err != nil {
		b.Fatalf("secure: %v\n%s", err, errOut.String())
	}
	return count.Load()
}

// BenchmarkSecureFirstRun measures secure on a fresh ChatQnA namespace: the
// whole preflight and the apply of every object. Compare with
// BenchmarkKubectlApplySeedManifests.
func BenchmarkSecureFirstRun(b *testing.B) {
	t := b
	kubeconfig := kubeconfigFor(t, controlplane.AdminUser)
	cacheDir := b.TempDir()
	ensureIngressGateway(t)
	var requests int64
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := namespaceName(t)
		createNamespace(b, ns)
		b.Cleanup(func() { deleteOurGatewayObjects(b, ns) })
		createChatQnAServices(t, adminKube(t), ns, "chatqna")
		b.StartTimer()
		requests += runSecureCounting(b, kubeconfig, cacheDir, "secure", "-n", ns, "--host", "chatqna.example.com")
	}
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

// BenchmarkSecureRerun measures secure when everything is already in place.
func BenchmarkSecureRerun(b *testing.B) {
	t := b
	kubeconfig := kubeconfigFor(t, controlplane.AdminUser)
	cacheDir := b.TempDir()
	ensureIngressGateway(t)
	ns := namespaceName(t)
	createNamespace(b, ns)
	b.Cleanup(func() { deleteOurGatewayObjects(b, ns) })
	createChatQnAServices(t, adminKube(t), ns, "chatqna")
	runSecureCounting(b, kubeconfig, cacheDir, "secure", "-n", ns, "--host", "chatqna.example.com")
	b.ResetTimer()
	var requests int64
	for i := 0; i < b.N; i++ {
		requests += runSecureCounting(b, kubeconfig, cacheDir, "secure", "-n", ns, "--host", "chatqna.example.com")
	}
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

// BenchmarkKubectlApplySeedManifests measures what OPEA's manual procedure
// runs: kubectl apply -f of its three manifests, into a fresh namespace.
func BenchmarkKubectlApplySeedManifests(b *testing.B) {
	t := b
	kubeconfig := kubeconfigFor(t, controlplane.AdminUser)
	bins, err := controlplane.EnsureBinaries(context.Background(), nil)
	if err != nil {
		b.Fatal(err)
	}
	ensureIngressGateway(t)
	seed := filepath.Join(controlplane.RepoRoot(), "test", "e2e", "testdata", "seed")
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := namespaceName(t)
		createNamespace(b, ns)
		// The seed's Issuer and Certificate have fixed names in istio-ingress.
		_ = adminDynamic(t).Resource(certificateGVR).Namespace(gatewayNamespace).Delete(context.Background(), "istio-gateway", metav1.DeleteOptions{})
		_ = adminDynamic(t).Resource(issuerGVR).Namespace(gatewayNamespace).Delete(context.Background(), "ca-issuer", metav1.DeleteOptions{})
		b.StartTimer()
		for _, f := range []string{"istio-gateway-and-virtual-service.yaml", "istio-gateway-ca-and-cert.yaml", "istio-mtls-strict.yaml"} {
			cmd := exec.Command(bins.Kubectl, "--kubeconfig", kubeconfig, "apply", "-n", ns, "-f", filepath.Join(seed, f))
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("kubectl apply -f %s: %v\n%s", f, err, out)
			}
		}
	}
}
