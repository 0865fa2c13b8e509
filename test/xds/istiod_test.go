package xds_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// istiodEnv names the pilot-discovery binary the tests run. The tests skip
// without it: building istiod takes long, and the same checks will run in
// test/e2e once istiod is part of the local control plane.
const istiodEnv = "OPEA_ISTIOD"

// istiod is a pilot-discovery process run against a local control plane.
type istiod struct {
	GRPCAddr string // plaintext xDS (--grpcAddr)
	HTTPAddr string // debug and readiness (--httpAddr)
	log      string
}

// istiodArgs is the minimal pilot-discovery setup that starts in seconds
// against a control plane without kubelet:
//   - every address on loopback, on free ports;
//   - no mesh config file (--meshConfig points nowhere): the defaults, plus
//     the ConfigMap istio-system/istio if a test creates one;
//   - ENABLE_CA_SERVER=false and PILOT_CERT_PROVIDER=none: no CA, no
//     istiod serving certificate, so no secret to write and nothing to sign
//     (the secure ports stay closed; only plaintext xDS and HTTP serve);
//   - no webhook names: nothing to patch (and no injector template, so the
//     injector is skipped);
//   - PILOT_ENABLE_AMBIENT=true for the ztunnel-side index.
func istiodArgs(kubeconfig string, ports []int) (args, env []string) {
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	args = []string{
		"discovery",
		"--kubeconfig", kubeconfig,
		"--meshConfig", "/nonexistent/mesh",
		"--networksConfig", "/nonexistent/meshNetworks",
		"--httpAddr", addr(0),
		"--grpcAddr", addr(1),
		"--secureGRPCAddr", addr(2),
		"--monitoringAddr", addr(3),
		"--httpsAddr", addr(4),
		"--domain", "cluster.local",
		// ControlZ listens on a fixed 9876 otherwise: a second istiod on the
		// machine would log an error.
		"--ctrlz_port", "0",
		// Stop in a second, not after the default 10s of connection draining.
		"--shutdownDuration", "1s",
		"--log_output_level", "default:info",
	}
	env = []string{
		"POD_NAMESPACE=istio-system",
		"POD_NAME=istiod-0",
		"REVISION=default",
		"CLUSTER_ID=Kubernetes",
		"PILOT_ENABLE_AMBIENT=true",
		"ENABLE_CA_SERVER=false",
		"PILOT_CERT_PROVIDER=none",
		"INJECTION_WEBHOOK_CONFIG_NAME=",
		"VALIDATION_WEBHOOK_CONFIG_NAME=",
	}
	return args, env
}

// startIstiod runs bin against cp and waits for its /ready. The process is
// stopped when the test ends; its log is printed if the test failed.
func startIstiod(t *testing.T, ctx context.Context, bin string, cp *controlplane.ControlPlane) *istiod {
	t.Helper()
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := cp.WriteKubeconfig(kubeconfig, controlplane.AdminUser); err != nil {
		t.Fatal(err)
	}
	// istiod keeps its leader election and config state in its namespace.
	client := kubernetes.NewForConfigOrDie(cp.AdminConfig())
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "istio-system"}}
	if _, err := client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	ports := freePorts(t, 5)
	args, env := istiodArgs(kubeconfig, ports)
	logPath := filepath.Join(dir, "istiod.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	d := &istiod{GRPCAddr: args[indexOf(args, "--grpcAddr")+1], HTTPAddr: args[indexOf(args, "--httpAddr")+1], log: logPath}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			d.dumpLog(t)
		}
	})

	readyCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(readyCtx, http.MethodGet, "http://"+d.HTTPAddr+"/ready", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case err := <-exited:
			d.dumpLog(t)
			t.Fatalf("pilot-discovery exited before it was ready: %v", err)
		case <-readyCtx.Done():
			d.dumpLog(t)
			t.Fatalf("pilot-discovery not ready after %s", time.Since(started).Round(time.Second))
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Logf("pilot-discovery ready in %s", time.Since(started).Round(10*time.Millisecond))
	return d
}

// dumpLog prints the warnings and errors of istiod's log (all of it would
// drown the test output), and says where the whole log is.
func (d *istiod) dumpLog(t *testing.T) {
	data, err := os.ReadFile(d.log)
	if err != nil {
		t.Log(err)
		return
	}
	var out bytes.Buffer
	for _, line := range strings.Split(string(data), "\n") {
		if strings.Contains(line, "\twarn\t") || strings.Contains(line, "\terror\t") || strings.Contains(line, "\tfatal\t") || strings.Contains(line, "panic") {
			fmt.Fprintln(&out, line)
		}
	}
	t.Logf("pilot-discovery warnings and errors (full log %s):\n%s", d.log, out.String())
}

func indexOf(s []string, v string) int {
	for i := range s {
		if s[i] == v {
			return i
		}
	}
	return -1
}

func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var listeners []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range listeners {
		l.Close()
	}
	return ports
}
