package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/opea-project/kubectl-opea/pkg/clients"
	"github.com/opea-project/kubectl-opea/pkg/plugin"
	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// countingTransport counts the HTTP requests a client sends, but for those
// the API server answers 429: client-go sends them again after Retry-After,
// and a fresh API server answers so while a resource's watch cache is
// still being filled ("storage is (re)initializing"), a count that says
// more of the server's warm-up than of the client.
type countingTransport struct {
	next  http.RoundTripper
	count *atomic.Int64
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusTooManyRequests {
		c.count.Add(1)
	}
	return resp, err
}

// runSecureCounting runs a command in-process and returns how many API
// requests it sent; it fails the benchmark when the command fails.
func runSecureCounting(b testing.TB, kubeconfig, cacheDir string, args ...string) int64 {
	return runCountingExpect(b, kubeconfig, cacheDir, true, args...)
}

// runCounting runs a command in-process and returns how many API requests it
// sent, whatever its exit code (verify exits 1 when a check fails).
func runCounting(b testing.TB, kubeconfig, cacheDir string, args ...string) int64 {
	return runCountingExpect(b, kubeconfig, cacheDir, false, args...)
}

func runCountingExpect(b testing.TB, kubeconfig, cacheDir string, mustSucceed bool, args ...string) int64 {
	var count atomic.Int64
	// The root command's flags are built first. verify --contexts builds
	// each context's clients from a copy of them that chains their
	// WrapConfigFn, which counts already: wrapping the copy too would count
	// each of its requests twice.
	var rootWrapped atomic.Bool
	withCounter := func(g genericclioptions.RESTClientGetter) clients.Getter {
		flags := g.(*genericclioptions.ConfigFlags)
		if !rootWrapped.CompareAndSwap(false, true) {
			return clients.New(flags)
		}
		wrapped := flags.WrapConfigFn
		flags.WrapConfigFn = func(cfg *rest.Config) *rest.Config {
			if wrapped != nil {
				cfg = wrapped(cfg)
			}
			cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return countingTransport{next: rt, count: &count} })
			return cfg
		}
		return clients.New(flags)
	}
	var out, errOut strings.Builder
	cmd := plugin.NewCmdOpeaWithClients(genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, withCounter)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--cache-dir", cacheDir}, args...))
	if err := cmd.ExecuteContext(context.Background()); err != nil && (mustSucceed || plugin.ExitCode(err) == plugin.ExitUsage) {
		b.Fatalf("%v: %v\n%s", args, err, errOut.String())
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
		requests += runSecureCounting(b, kubeconfig, cacheDir, "secure", "-n", ns, "--host", ns+".example.com")
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
	runSecureCounting(b, kubeconfig, cacheDir, "secure", "-n", ns, "--host", ns+".example.com")
	b.ResetTimer()
	var requests int64
	for i := 0; i < b.N; i++ {
		requests += runSecureCounting(b, kubeconfig, cacheDir, "secure", "-n", ns, "--host", ns+".example.com")
	}
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
}

// BenchmarkKubectlApplySeedManifests measures what OPEA's manual procedure
// runs: kubectl apply -f of its three manifests, into a fresh namespace.
func BenchmarkKubectlApplySeedManifests(b *testing.B) {
	t := b
	ensureIngressGateway(t)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		ns := namespaceName(t)
		createNamespace(b, ns)
		// The seed's Issuer and Certificate have fixed names in istio-ingress.
		_ = adminDynamic(t).Resource(certificateGVR).Namespace(gatewayNamespace).Delete(context.Background(), "istio-gateway", metav1.DeleteOptions{})
		_ = adminDynamic(t).Resource(issuerGVR).Namespace(gatewayNamespace).Delete(context.Background(), "ca-issuer", metav1.DeleteOptions{})
		b.StartTimer()
		applySeedManifests(b, ns, ns)
	}
}

// kubectlApplySeed runs kubectl apply -f of one of the manual procedure's
// manifests as the guide does: with namespace as the kube context's
// namespace, and -n only where the guide passes it.
func kubectlApplySeed(t testing.TB, contextNamespace, file string, extraArgs ...string) {
	t.Helper()
	bins, err := controlplane.EnsureBinaries(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(workDir, "kubeconfig-seed-"+contextNamespace)
	if _, err := os.Stat(kubeconfig); err != nil {
		cfg, err := clientcmd.LoadFromFile(kubeconfigFor(t, controlplane.AdminUser))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Contexts[cfg.CurrentContext].Namespace = contextNamespace
		if err := clientcmd.WriteToFile(*cfg, kubeconfig); err != nil {
			t.Fatal(err)
		}
	}
	seed := filepath.Join(controlplane.RepoRoot(), "test", "e2e", "testdata", "seed", file)
	args := append([]string{"--kubeconfig", kubeconfig, "apply", "-f", seed}, extraArgs...)
	if out, err := exec.Command(bins.Kubectl, args...).CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply -f %s: %v\n%s", file, err, out)
	}
}

// applySeedManifests applies the guide's three manifests, in its order.
func applySeedManifests(t testing.TB, contextNamespace, appNamespace string) {
	kubectlApplySeed(t, contextNamespace, "istio-gateway-and-virtual-service.yaml")
	kubectlApplySeed(t, contextNamespace, "istio-gateway-ca-and-cert.yaml")
	kubectlApplySeed(t, contextNamespace, "istio-mtls-strict.yaml", "-n", appNamespace)
}
