package controlplane

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
)

var (
	certificateGVR        = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
	certificateRequestGVR = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificaterequests"}
)

// cert-manager's own controllers issue a CA from a self-signed Issuer and a
// serving certificate from that CA, through approved CertificateRequests,
// and renew the serving certificate when its renewal time comes.
func TestCertManagerIssuesAndRenews(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cp, err := Start(ctx, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := cp.Stop(); err != nil {
			t.Error(err)
		}
	})
	kube, err := kubernetes.NewForConfig(cp.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cp.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	const ns = "default"
	create := func(gvr schema.GroupVersionResource, kind, name string, spec map[string]interface{}) {
		t.Helper()
		obj := &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "cert-manager.io/v1", "kind": kind,
			"metadata": map[string]interface{}{"name": name}, "spec": spec,
		}}
		if _, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, obj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	create(issuerGVR, "Issuer", "selfsigned", map[string]interface{}{"selfSigned": map[string]interface{}{}})
	create(certificateGVR, "Certificate", "ca", map[string]interface{}{
		"isCA": true, "commonName": "test CA", "secretName": "ca",
		"issuerRef": map[string]interface{}{"name": "selfsigned"},
	})
	create(issuerGVR, "Issuer", "ca", map[string]interface{}{"ca": map[string]interface{}{"secretName": "ca"}})
	// Renewed 10 s after each issuance.
	create(certificateGVR, "Certificate", "web", map[string]interface{}{
		"dnsNames": []interface{}{"web.example.com"}, "secretName": "web-tls",
		"duration": "1h", "renewBefore": "59m50s",
		"issuerRef": map[string]interface{}{"name": "ca"},
	})

	var first *x509.Certificate
	waitUntil(ctx, t, "Certificate web to be Ready with its Secret", func() bool {
		first = servedCertificate(ctx, t, kube, ns, "web-tls")
		return first != nil && conditionTrue(ctx, t, dyn, certificateGVR, ns, "web", "Ready")
	})
	if len(first.DNSNames) != 1 || first.DNSNames[0] != "web.example.com" || first.Issuer.CommonName != "test CA" {
		t.Errorf("issued for %v by %q, want web.example.com by the test CA", first.DNSNames, first.Issuer.CommonName)
	}
	waitUntil(ctx, t, "cert-manager to renew Certificate web", func() bool {
		renewed := servedCertificate(ctx, t, kube, ns, "web-tls")
		return renewed != nil && renewed.SerialNumber.Cmp(first.SerialNumber) != 0
	})

	requests, err := dyn.Resource(certificateRequestGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	webRequests := 0
	for _, r := range requests.Items {
		if r.GetAnnotations()["cert-manager.io/certificate-name"] != "web" {
			continue
		}
		webRequests++
		if !conditionTrue(ctx, t, dyn, certificateRequestGVR, ns, r.GetName(), "Approved") {
			t.Errorf("CertificateRequest %s was not approved", r.GetName())
		}
	}
	// The revision manager keeps the latest request only (cert-manager's
	// default revisionHistoryLimit), so count issuances by revision.
	if webRequests == 0 {
		t.Error("no CertificateRequest for Certificate web")
	}
	// The issuing controller writes the Secret before the Certificate's
	// status: the revision follows the new certificate, soon.
	waitUntil(ctx, t, "Certificate web's status to record the renewal (revision 2 or more)", func() bool {
		cert, err := dyn.Resource(certificateGVR).Namespace(ns).Get(ctx, "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		revision, _, _ := unstructured.NestedInt64(cert.Object, "status", "revision")
		return revision >= 2
	})
	events, err := kube.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=web,involvedObject.kind=Certificate"})
	if err != nil {
		t.Fatal(err)
	}
	issued := 0
	for _, e := range events.Items {
		if e.Reason == "Issuing" {
			issued++
		}
	}
	if issued == 0 {
		t.Errorf("no Issuing event for Certificate web among %d events", len(events.Items))
	}
}

// servedCertificate is the leaf certificate of Secret ns/name, nil while
// there is none.
func servedCertificate(ctx context.Context, t *testing.T, kube kubernetes.Interface, ns, name string) *x509.Certificate {
	t.Helper()
	secret, err := kube.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil
	}
	block, _ := pem.Decode(secret.Data["tls.crt"])
	if block == nil {
		return nil
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("Secret %s/%s: %v", ns, name, err)
	}
	return cert
}

func conditionTrue(ctx context.Context, t *testing.T, dyn dynamic.Interface, gvr schema.GroupVersionResource, ns, name, condition string) bool {
	t.Helper()
	obj, err := dyn.Resource(gvr).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conditions, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conditions {
		c, _ := c.(map[string]interface{})
		if c["type"] == condition {
			return c["status"] == "True"
		}
	}
	return false
}
