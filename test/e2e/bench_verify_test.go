package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// populate creates pods (captured by ztunnel, as istio-cni would mark them)
// and Services in ns, ten at a time.
func populate(b testing.TB, ns string, pods, services int) {
	b.Helper()
	ctx := context.Background()
	kube := adminKube(b)
	eventually(b, 30*time.Second, "ServiceAccount default", func() (bool, error) {
		_, err := kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, err
	})
	var wg sync.WaitGroup
	errs := make(chan error, pods+services)
	work := make(chan int)
	for w := 0; w < 10; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				var err error
				if i < pods {
					_, err = kube.CoreV1().Pods(ns).Create(ctx, fixtures.WorkerPod(i), metav1.CreateOptions{})
				} else {
					_, err = kube.CoreV1().Services(ns).Create(ctx, fixtures.FillerService(i-pods), metav1.CreateOptions{})
				}
				if err != nil {
					errs <- err
				}
			}
		}()
	}
	for i := 0; i < pods+services; i++ {
		work <- i
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// BenchmarkVerify audits a secured namespace holding 10 or 1,000 pods and
// 200 Services, and reports the API requests verify sends, which must not
// grow with the pods. Its peak memory is measured by `make bench`'s
// opea-bench, through a launcher: a child's ru_maxrss is never below the RSS
// of the process that started it, here the whole test binary.
func BenchmarkVerify(b *testing.B) {
	for _, pods := range []int{10, 1000} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			ns := namespaceName(b)
			createNamespace(b, ns)
			b.Cleanup(func() { deleteOurGatewayObjects(b, ns) })
			ensureIngressGateway(b)
			createChatQnAServices(b, adminKube(b), ns, "chatqna")
			populate(b, ns, pods, 200)
			kubeconfig := kubeconfigFor(b, controlplane.AdminUser)
			cacheDir := b.TempDir()
			runSecureCounting(b, kubeconfig, cacheDir, "secure", "-n", ns, "--host", ns+".example.com")

			b.ResetTimer()
			var requests int64
			for i := 0; i < b.N; i++ {
				requests += runCounting(b, kubeconfig, cacheDir, "verify", "-n", ns, "-o", "json")
			}
			b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
		})
	}
}
