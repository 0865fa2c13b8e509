package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// Workers creating objects, and running secure, at once: enough to keep the
// API server busy on two cores without starving it.
const (
	createWorkers = 10
	secureWorkers = 4
)

// bench is the cluster being measured on, and what both tools are run with.
type bench struct {
	cfg      config
	bins     controlplane.Binaries
	plugin   string
	launcher *launcher
	kube     kubernetes.Interface
	dyn      dynamic.Interface
	meta     metadata.Interface
	proxy    *countingProxy
	timeout  time.Duration

	// adminKubeconfig reaches the API server directly: setting up is not
	// what is measured, and bypasses the proxy.
	adminKubeconfig string
	// toolKubeconfig reaches it through the counting proxy.
	toolKubeconfig string
	// cacheDir is kubectl-opea's --cache-dir across the measured runs: after
	// the warm-up it holds what kubectl's users have in ~/.kube/cache.
	cacheDir string
	work     string
}

// newBench installs what both scenarios share (the ingress gateway of OPEA's
// guide, Istio's data plane reported ready) and starts the counting proxy.
func newBench(ctx context.Context, cp *controlplane.ControlPlane, bins controlplane.Binaries, l *launcher, plugin, work string, cfg config) (*bench, error) {
	b := &bench{cfg: cfg, bins: bins, launcher: l, plugin: plugin, work: work, timeout: 5 * time.Minute,
		adminKubeconfig: filepath.Join(work, "admin.kubeconfig"),
		toolKubeconfig:  filepath.Join(work, "bench.kubeconfig"),
		cacheDir:        filepath.Join(work, "kube-cache"),
	}
	var err error
	if b.kube, err = kubernetes.NewForConfig(cp.AdminConfig()); err != nil {
		return nil, err
	}
	if b.dyn, err = dynamic.NewForConfig(cp.AdminConfig()); err != nil {
		return nil, err
	}
	if b.meta, err = metadata.NewForConfig(cp.AdminConfig()); err != nil {
		return nil, err
	}
	if err := cp.WriteKubeconfig(b.adminKubeconfig, controlplane.AdminUser); err != nil {
		return nil, err
	}
	progress("installing the ingress gateway (Istio's gateway chart) in %s", fixtures.GatewayNamespace)
	if err := fixtures.ChartGateway.Install(ctx, cp.AdminConfig()); err != nil {
		return nil, fmt.Errorf("installing the ingress gateway: %w", err)
	}
	if err := fixtures.WaitIstioDataPlaneReady(ctx, b.kube); err != nil {
		return nil, err
	}
	if b.proxy, err = startProxy(cp.AdminConfig()); err != nil {
		return nil, err
	}
	if err := b.proxy.writeKubeconfig(b.toolKubeconfig); err != nil {
		b.proxy.close()
		return nil, err
	}
	return b, nil
}

func (b *bench) close() { b.proxy.close() }

// populate fills each namespace as an OPEA application secured by
// kubectl opea secure would be: ChatQnA's Services, size.pods pods captured
// by ztunnel and size.services more Services, the namespace secured, and its
// certificate issued.
func (b *bench) populate(ctx context.Context, namespaces []string, size scenarioSize) error {
	start := time.Now()
	var tasks []func(context.Context) error
	for _, ns := range namespaces {
		tasks = append(tasks, func(ctx context.Context) error { return b.createAppNamespace(ctx, ns) })
	}
	if err := parallel(ctx, createWorkers, tasks); err != nil {
		return err
	}
	tasks = nil
	for _, ns := range namespaces {
		for i := range size.pods {
			tasks = append(tasks, func(ctx context.Context) error { return b.createPod(ctx, ns, i) })
		}
		for i := range size.services {
			tasks = append(tasks, func(ctx context.Context) error { return b.createService(ctx, ns, i) })
		}
	}
	if err := parallel(ctx, createWorkers, tasks); err != nil {
		return err
	}
	progress("created %d objects in %d namespace(s) in %s; securing them", len(tasks), len(namespaces), time.Since(start).Round(time.Second))
	tasks = nil
	for _, ns := range namespaces {
		tasks = append(tasks, func(ctx context.Context) error { return b.secure(ctx, ns) })
	}
	if err := parallel(ctx, secureWorkers, tasks); err != nil {
		return err
	}
	if err := b.waitPodsRunning(ctx); err != nil {
		return err
	}
	progress("populated and secured %d namespace(s) in %s", len(namespaces), time.Since(start).Round(time.Second))
	return nil
}

// waitPodsRunning waits for kwok to report every pod of the cluster
// Running: verify reads running pods only, istioctl analyze every pod, so
// both are measured on the cluster as it will stay.
func (b *bench) waitPodsRunning(ctx context.Context) error {
	lastReport := time.Now()
	// Counting is a list: one every few seconds.
	return pollEvery(ctx, 5*time.Second, time.Hour, "every pod to be Running", func() (bool, error) {
		notRunning, err := b.countPods(ctx, "status.phase!=Running")
		if err != nil || notRunning == 0 {
			return notRunning == 0, err
		}
		if time.Since(lastReport) > time.Minute {
			progress("%d pods not Running yet", notRunning)
			lastReport = time.Now()
		}
		return false, nil
	})
}

// countPods counts the pods of every namespace that fieldSelector selects,
// listing them in pages of names only.
func (b *bench) countPods(ctx context.Context, fieldSelector string) (int, error) {
	count := 0
	opts := metav1.ListOptions{FieldSelector: fieldSelector, Limit: 5000}
	for {
		page, err := b.meta.Resource(corev1.SchemeGroupVersion.WithResource("pods")).Namespace("").List(ctx, opts)
		if err != nil {
			return 0, err
		}
		count += len(page.Items)
		if page.Continue == "" {
			return count, nil
		}
		opts.Continue = page.Continue
	}
}

// createAppNamespace creates ns with ChatQnA's Services and waits for its
// default ServiceAccount, without which no pod can be created.
func (b *bench) createAppNamespace(ctx context.Context, ns string) error {
	if err := fixtures.CreateNamespace(ctx, b.kube, ns); err != nil {
		return err
	}
	if err := fixtures.CreateChatQnAServices(ctx, b.kube, ns, "chatqna"); err != nil {
		return err
	}
	return poll(ctx, time.Minute, "ServiceAccount "+ns+"/default", func() (bool, error) {
		_, err := b.kube.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return err == nil, err
	})
}

// createPod creates fixtures.WorkerPod(i) in ns.
func (b *bench) createPod(ctx context.Context, ns string, i int) error {
	_, err := b.kube.CoreV1().Pods(ns).Create(ctx, fixtures.WorkerPod(i), metav1.CreateOptions{})
	return err
}

// createService creates fixtures.FillerService(i) in ns.
func (b *bench) createService(ctx context.Context, ns string, i int) error {
	_, err := b.kube.CoreV1().Services(ns).Create(ctx, fixtures.FillerService(i), metav1.CreateOptions{})
	return err
}

// secure runs kubectl opea secure on ns, then waits for cert-manager to
// issue the certificate, so that both tools see a credential Secret.
func (b *bench) secure(ctx context.Context, ns string) error {
	if err := b.setupRun(ctx, "secure", "-n", ns, "--host", ns+".example.com"); err != nil {
		return err
	}
	_, err := fixtures.WaitCertificateIssued(ctx, b.kube, b.dyn, fixtures.GatewayNamespace, ownership.NamesFor(ns).Certificate)
	return err
}

// tearDown takes the namespaces out again, secure's objects in the gateway
// namespace with them, so that a later scenario's -A sees only its own.
func (b *bench) tearDown(ctx context.Context, namespaces []string) error {
	for _, ns := range namespaces {
		if err := b.setupRun(ctx, "unsecure", "-n", ns); err != nil {
			return err
		}
		if err := b.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
			return err
		}
	}
	for _, ns := range namespaces {
		err := poll(ctx, b.timeout, "namespace "+ns+" to be deleted", func() (bool, error) {
			_, err := b.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return true, nil
			}
			return false, err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// setupRun runs kubectl-opea as the admin, straight to the API server.
func (b *bench) setupRun(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, b.plugin, append([]string{"--kubeconfig", b.adminKubeconfig, "--cache-dir", filepath.Join(b.work, "setup-cache")}, args...)...)
	cmd.Env = toolEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kubectl-opea %v: %w\n%s", args, err, out)
	}
	return nil
}

// toolEnv is the environment of every tool run: this process's, less a
// KUBECONFIG that could name another cluster than --kubeconfig.
func toolEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			env = append(env, kv)
		}
	}
	return env
}

// parallel runs tasks on n workers and returns the first error; after one,
// the remaining tasks are not started.
func parallel(ctx context.Context, n int, tasks []func(context.Context) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	work := make(chan func(context.Context) error)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for task := range work {
				if err := task(ctx); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, task := range tasks {
		select {
		case work <- task:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}

// poll calls cond every 100ms until it holds, fails, or timeout passes.
func poll(ctx context.Context, timeout time.Duration, what string, cond func() (bool, error)) error {
	return pollEvery(ctx, 100*time.Millisecond, timeout, what, cond)
}

// pollEvery calls cond every interval until it holds, fails, or timeout
// passes.
func pollEvery(ctx context.Context, interval, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	for {
		ok, err := cond()
		if ok || err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}
