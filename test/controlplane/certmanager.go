package controlplane

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// CertManagerNamespace is where cert-manager keeps what ClusterIssuers refer
// to (its --cluster-resource-namespace), as a cert-manager install does.
const CertManagerNamespace = "cert-manager"

var issuerGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "issuers"}

// startCertManager runs cert-manager's own controllers (test/certmanagertools)
// and returns once they work: a self-signed Issuer made to check them is
// Ready, then removed again.
func (cp *ControlPlane) startCertManager(ctx context.Context, bin, kubeconfig string, detached bool) error {
	kube, err := kubernetes.NewForConfig(cp.AdminConfig())
	if err != nil {
		return err
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: CertManagerNamespace}}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if err := cp.start(bin, "cert-manager-controllers", []string{
		"-kubeconfig=" + kubeconfig,
		"-cluster-resource-namespace=" + CertManagerNamespace,
	}, detached); err != nil {
		return err
	}
	return checkIssuerReady(ctx, cp.AdminConfig())
}

// checkIssuerReady creates a self-signed Issuer and waits for cert-manager's
// issuers controller to mark it Ready.
func checkIssuerReady(ctx context.Context, cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	const name = "control-plane-check"
	issuers := dyn.Resource(issuerGVR).Namespace(CertManagerNamespace)
	issuer := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "cert-manager.io/v1",
		"kind":       "Issuer",
		"metadata":   map[string]interface{}{"name": name},
		"spec":       map[string]interface{}{"selfSigned": map[string]interface{}{}},
	}}
	if _, err := issuers.Create(ctx, issuer, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	wait, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	err = poll(wait, 100*time.Millisecond, func() (bool, error) {
		got, err := issuers.Get(wait, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conditions {
			c, _ := c.(map[string]interface{})
			if c["type"] == "Ready" {
				return c["status"] == "True", nil
			}
		}
		return false, nil
	}, fmt.Sprintf("cert-manager's issuers controller to mark Issuer %s/%s Ready", CertManagerNamespace, name))
	if err != nil {
		return err
	}
	return issuers.Delete(ctx, name, metav1.DeleteOptions{})
}
