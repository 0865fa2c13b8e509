package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// A cluster without Istio or cert-manager gets a clear error naming both,
// and nothing is written; with Istio and --tls-secret, cert-manager is not
// needed at all.
func TestSecureOnAClusterWithoutTheCRDs(t *testing.T) {
	ctx := context.Background()
	bare, err := controlplane.Start(ctx, controlplane.Options{SkipCRDs: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := bare.Stop(); err != nil {
			t.Error(err)
		}
	})
	kubeconfig := filepath.Join(t.TempDir(), "kubeconfig")
	if err := bare.WriteKubeconfig(kubeconfig, controlplane.AdminUser); err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(bare.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "chatqna"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createChatQnAServices(t, kube, "chatqna", "chatqna")
	if err := fixtures.InstallGatewayChart(ctx, bare.AdminConfig(), gatewayName, gatewayNamespace); err != nil {
		t.Fatal(err)
	}
	enrolled := func() bool {
		ns, err := kube.CoreV1().Namespaces().Get(ctx, "chatqna", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return ns.Labels["istio.io/dataplane-mode"] != ""
	}

	r := opeaWith(t, kubeconfig, "secure", "-n", "chatqna", "--host", "chatqna.example.com")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	for _, want := range []string{"the Istio APIs networking.istio.io and security.istio.io are not served", "istioctl install --set profile=ambient",
		"the cert-manager API cert-manager.io/v1 is not served", "or pass --tls-secret"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if enrolled() {
		t.Error("the namespace was enrolled although secure failed")
	}

	crds, err := controlplane.LoadCRDs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var istio []*unstructured.Unstructured
	for _, crd := range crds {
		if group, _, _ := unstructured.NestedString(crd.Object, "spec", "group"); strings.HasSuffix(group, ".istio.io") {
			istio = append(istio, crd)
		}
	}
	if err := controlplane.InstallCRDs(ctx, bare.AdminConfig(), istio); err != nil {
		t.Fatal(err)
	}

	r = opeaWith(t, kubeconfig, "secure", "-n", "chatqna", "--host", "chatqna.example.com")
	if r.code != 1 || !strings.Contains(r.stderr, "cert-manager.io/v1 is not served") || strings.Contains(r.stderr, "Istio APIs") {
		t.Errorf("with Istio only: exit %d\n%s", r.code, r.stderr)
	}
	if enrolled() {
		t.Error("the namespace was enrolled although secure failed")
	}

	_, certPEM, keyPEM, err := fixtures.IssueTLS([]string{"chatqna.example.com"}, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().Secrets(gatewayNamespace).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "chatqna-tls"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": certPEM, "tls.key": keyPEM},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	r = opeaWith(t, kubeconfig, "secure", "-n", "chatqna", "--host", "chatqna.example.com", "--tls-secret", "chatqna-tls")
	if r.code != 0 {
		t.Fatalf("with --tls-secret and no cert-manager: exit %d\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"peerauthentication.security.istio.io/default serverside-applied", "gateway.networking.istio.io/opea-ingress serverside-applied"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "cert-manager") {
		t.Errorf("--tls-secret applied cert-manager objects:\n%s", r.stdout)
	}

	// cert-manager's kinds cannot exist here: unsecure does not fail on them.
	r = opeaWith(t, kubeconfig, "unsecure", "-n", "chatqna")
	if r.code != 0 || !strings.Contains(r.stdout, "gateway.networking.istio.io/opea-ingress deleted") || !strings.Contains(r.stdout, "namespace/chatqna label istio.io/dataplane-mode removed") {
		t.Errorf("unsecure without cert-manager: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if kept, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, "chatqna-tls", metav1.GetOptions{}); err != nil || kept == nil {
		t.Errorf("unsecure deleted the user's --tls-secret Secret: %v", err)
	}
}
