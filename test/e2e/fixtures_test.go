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

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/pkg/plugin"
	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// The ingress gateway as the istio/gateway Helm chart (release istio-ingress)
// makes it.
const (
	gatewayNamespace = "istio-ingress"
	gatewayName      = "istio-ingress"
)

var gatewayPodLabels = map[string]string{"app": "istio-ingress", "istio": "ingress"}

// createChatQnAServices creates the Services of an OPEA ChatQnA release named
// release in ns, with the names and ports of the chatqna Helm chart.
func createChatQnAServices(t *testing.T, kube kubernetes.Interface, ns, release string) {
	t.Helper()
	type port struct {
		name string
		port int32
	}
	services := map[string][]port{
		release + "-nginx":           {{"nginx", 80}},
		release:                      {{"chatqna", 8888}},
		release + "-chatqna-ui":      {{"ui", 5174}},
		release + "-vllm":            {{"vllm", 80}},
		release + "-tei":             {{"tei", 80}},
		release + "-teirerank":       {{"teirerank", 80}},
		release + "-redis-vector-db": {{"redis-service", 6379}, {"redis-insight", 8001}},
		release + "-retriever-usvc":  {{"retriever-usvc", 7000}},
		release + "-data-prep":       {{"data-prep", 6007}},
	}
	for name, ports := range services {
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/instance": release}},
			Spec:       corev1.ServiceSpec{Selector: map[string]string{"app.kubernetes.io/instance": release, "app.kubernetes.io/name": name}},
		}
		for _, p := range ports {
			svc.Spec.Ports = append(svc.Spec.Ports, corev1.ServicePort{Name: p.name, Port: p.port, TargetPort: intstr.FromInt32(p.port)})
		}
		if name == release+"-nginx" {
			svc.Spec.Type = corev1.ServiceTypeNodePort
		}
		if _, err := kube.CoreV1().Services(ns).Create(context.Background(), svc, metav1.CreateOptions{}); err != nil {
			t.Fatalf("creating Service %s/%s: %v", ns, name, err)
		}
	}
}

var gatewayOnce sync.Once

// ensureIngressGateway creates, once per cluster, the Deployment and
// LoadBalancer Service of an Istio ingress gateway in istio-ingress.
func ensureIngressGateway(t *testing.T) {
	t.Helper()
	var err error
	gatewayOnce.Do(func() {
		err = createIngressGateway(adminKube(t), gatewayNamespace, gatewayName, gatewayPodLabels)
	})
	if err != nil {
		t.Fatalf("creating the ingress gateway: %v", err)
	}
}

func createIngressGateway(kube kubernetes.Interface, ns, name string, podLabels map[string]string) error {
	ctx := context.Background()
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	replicas := int32(1)
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: podLabels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: podLabels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{"inject.istio.io/templates": "gateway"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name:  "istio-proxy",
					Image: "auto",
					Ports: []corev1.ContainerPort{{Name: "http-envoy-prom", ContainerPort: 15090}},
				}}},
			},
		},
	}
	if _, err := kube.AppsV1().Deployments(ns).Create(ctx, deploy, metav1.CreateOptions{}); err != nil {
		return err
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: podLabels},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: podLabels,
			Ports: []corev1.ServicePort{
				{Name: "status-port", Port: 15021, TargetPort: intstr.FromInt32(15021)},
				{Name: "http2", Port: 80, TargetPort: intstr.FromInt32(80)},
				{Name: "https", Port: 443, TargetPort: intstr.FromInt32(443)},
			},
		},
	}
	_, err := kube.CoreV1().Services(ns).Create(ctx, svc, metav1.CreateOptions{})
	return err
}

var (
	kubeconfigOnce sync.Once
	kubeconfigDir  string
)

// kubeconfigFor writes (once) a kubeconfig for user on the shared cluster.
func kubeconfigFor(t *testing.T, user string) string {
	t.Helper()
	kubeconfigOnce.Do(func() {
		var err error
		if kubeconfigDir, err = os.MkdirTemp("", "opea-e2e-kubeconfig-"); err != nil {
			t.Fatal(err)
		}
	})
	path := filepath.Join(kubeconfigDir, user)
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
func opea(t *testing.T, args ...string) opeaResult {
	t.Helper()
	return opeaWith(t, kubeconfigFor(t, controlplane.AdminUser), args...)
}

// opeaWith runs kubectl opea with the given kubeconfig. No output of any
// command may ever contain key material.
func opeaWith(t *testing.T, kubeconfig string, args ...string) opeaResult {
	t.Helper()
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	cmd := plugin.NewCmdOpea(streams)
	cmd.SetArgs(append([]string{"--kubeconfig", kubeconfig, "--cache-dir", filepath.Join(kubeconfigDir, "cache")}, args...))
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
