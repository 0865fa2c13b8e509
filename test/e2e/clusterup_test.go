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
	make := func(target string) string {
		t.Helper()
		cmd := exec.Command("make", "--no-print-directory", target, "CLUSTER_DIR="+dir)
		cmd.Dir = controlplane.RepoRoot()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("make %s: %v\n%s", target, err, out)
		}
		return string(out)
	}
	// Whatever happens below, leave no control plane running.
	t.Cleanup(func() {
		if cp, err := controlplane.Attach(dir); err == nil {
			_ = cp.Stop()
		}
	})

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
	if len(running) != 4 {
		t.Fatalf("after cluster-up, %d processes use %s, want etcd, kube-apiserver, kube-controller-manager and istiod: %v", len(running), dir, running)
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
