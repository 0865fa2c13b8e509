package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

func TestMakeClusterUpAndDownLeaveNothingBehind(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	make := makeCluster(t, dir)

	out := make("cluster-up")
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if !strings.Contains(out, "export KUBECONFIG="+kubeconfig) || !strings.Contains(out, "make cluster-down") {
		t.Errorf("cluster-up does not say how to use and stop the cluster:\n%s", out)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Get(context.Background(), "kube-system", metav1.GetOptions{}); err != nil {
		t.Fatalf("the kubeconfig written by cluster-up does not reach the cluster: %v", err)
	}
	running := processesMentioning(t, dir)
	if len(running) != 7 {
		t.Fatalf("after cluster-up, %d processes use %s, want etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok, cert-manager-controllers and istiod: %v", len(running), dir, running)
	}

	if again := make("cluster-up"); !strings.Contains(again, "already running") {
		t.Errorf("a second cluster-up should find the running cluster:\n%s", again)
	}

	make("cluster-down")
	if left := processesMentioning(t, dir); len(left) != 0 {
		t.Errorf("after cluster-down these processes remain: %v", left)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("cluster-down left %s behind (stat: %v)", dir, err)
	}
}

// processesMentioning lists the live processes whose command line contains s.
// makeCluster returns a runner of make targets for the local control plane
// in dir (and the other make variables given), failing the test on an
// error; whatever happens in the test, no control plane is left running.
func makeCluster(t *testing.T, dir string, vars ...string) func(target string) string {
	t.Cleanup(func() {
		if cp, err := controlplane.Attach(dir); err == nil {
			_ = cp.Stop()
		}
	})
	return func(target string) string {
		t.Helper()
		cmd := exec.Command("make", append([]string{"--no-print-directory", target, "CLUSTER_DIR=" + dir}, vars...)...)
		cmd.Dir = controlplane.RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
		return string(out)
	}
}

func processesMentioning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if strings.Contains(string(stat), ") Z ") { // a zombie has ended
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		found = append(found, e.Name()+":"+filepath.Base(args[0]))
	}
	return found
}

// make try leaves a running local control plane with ChatQnA and an ingress
// gateway, and prints the commands to use it: run as printed, they secure
// ChatQnA. A second make try finds it running and staged, and leaves what
// secure applied alone.
func TestMakeTryIsReadyForSecure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cluster")
	bin := t.TempDir()
	make := makeCluster(t, dir, "BINDIR="+bin)

	out := make("try")
	kubeconfig := filepath.Join(dir, "kubeconfig")
	for _, want := range []string{
		"  export KUBECONFIG=" + kubeconfig + "\n",
		"  export PATH=" + bin + ":$PATH\n",
		"  kubectl opea secure -n chatqna --host chatqna.example.com\n",
		"make cluster-down",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("make try does not print %q:\n%s", want, out)
		}
	}

	// The printed commands, up to secure, as a user pastes them into a shell.
	var script []string
	for _, line := range strings.Split(out, "\n") {
		if l := strings.TrimSpace(line); strings.HasPrefix(l, "export ") || strings.HasPrefix(l, "kubectl opea secure ") {
			script = append(script, l)
		}
	}
	bins, err := controlplane.EnsureBinaries(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	shell := exec.Command("sh", "-ec", strings.Join(script, "\n"))
	shell.Env = append(os.Environ(), "PATH="+filepath.Dir(bins.Kubectl)+string(os.PathListSeparator)+os.Getenv("PATH"))
	secured, err := shell.CombinedOutput()
	if err != nil {
		t.Fatalf("the commands make try printed failed: %v\n%s\n%s", err, strings.Join(script, "\n"), secured)
	}
	for _, want := range []string{"peerauthentication.security.istio.io/default serverside-applied", "gateway.networking.istio.io/opea-ingress serverside-applied"} {
		if !strings.Contains(string(secured), want) {
			t.Errorf("secure on the cluster make try made lacks %q:\n%s", want, secured)
		}
	}

	again := make("try")
	if !strings.Contains(again, "already running") || !strings.Contains(again, "chatqna is staged already") {
		t.Errorf("a second make try should find the cluster running and ChatQnA staged:\n%s", again)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := kube.CoreV1().Namespaces().Get(context.Background(), "chatqna", metav1.GetOptions{})
	if err != nil || ns.Labels["istio.io/dataplane-mode"] != "ambient" {
		t.Errorf("after a second make try, namespace chatqna is not as secure left it: %v %v", ns.Labels, err)
	}
	make("cluster-down")
}
