package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"

	auditcheck "github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// The certificates' lifecycle, with the real istiod's mesh root and
// cert-manager's own controllers renewing a short-lived gateway
// certificate from a CA Issuer whose CA Secret the test holds:
//   - the mesh root istiod publishes in the namespace passes, and warns
//     within --warn-expiry;
//   - after cert-manager renews the certificate, a gateway that has not
//     loaded the new one fails certificate.served-current; reloaded, it
//     passes;
//   - a renewal that fails (the CA Secret's ca.crt replaced by an unrelated
//     CA, so cert-manager cannot build the chain) fails certificate.renewal
//     with cert-manager's reason, while the Certificate is still Ready;
//     fixed and renewed again, it passes.
func TestVerifyFollowsTheCertificatesLifecycle(t *testing.T) {
	ctx, kube, dyn := context.Background(), adminKube(t), adminDynamic(t)
	app, caSecret := newSecuredAppIssuedByOwnCA(t)
	gw := app.emulate(t)
	probe := probeFlags(t, gw, fixtures.ChartGateway)
	certs := dyn.Resource(fixtures.CertificateGVR).Namespace(gatewayNamespace)
	patchCertificate := func(t *testing.T, spec string) {
		t.Helper()
		if _, err := certs.Patch(ctx, app.names.Certificate, types.MergePatchType, []byte(`{"spec":`+spec+`}`), metav1.PatchOptions{FieldManager: "e2e"}); err != nil {
			t.Fatal(err)
		}
	}
	status := func(t *testing.T) *unstructured.Unstructured {
		t.Helper()
		u, err := certs.Get(ctx, app.names.Certificate, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	verify := func(t *testing.T, args ...string) (auditreport.Report, opeaResult) {
		t.Helper()
		return verifyJSON(t, append(append([]string{"-n", app.ns}, probe...), args...)...)
	}

	t.Run("mesh root", func(t *testing.T) {
		var report auditreport.Report
		eventually(t, 30*time.Second, "istiod to publish its root in the namespace", func() (bool, error) {
			report, _ = verify(t)
			c := checkOf(report, "certificate.mesh-root-expiry")
			return c.Result == auditcheck.Pass, fmt.Errorf("%s %q", c.Result, c.Message)
		})
		for _, id := range []string{"certificate.mesh-root-expiry", "certificate.mesh-root-single"} {
			if c := checkOf(report, id); c.Result != auditcheck.Pass || !strings.Contains(c.Message, "O=cluster.local") {
				t.Errorf("%s: %s %q, want a pass naming istiod's root", id, c.Result, c.Message)
			}
		}
		// istiod's self-signed root lasts ten years: within a --warn-expiry
		// of eleven, it warns.
		report, _ = verify(t, "--warn-expiry", fmt.Sprint(11*365*24*time.Hour))
		if c := checkOf(report, "certificate.mesh-root-expiry"); c.Result != auditcheck.Warn || !strings.Contains(c.Message, "(--warn-expiry)") {
			t.Errorf("--warn-expiry of eleven years: %s %q, want a warning", c.Result, c.Message)
		}
	})

	t.Run("renewed certificate not loaded by the gateway", func(t *testing.T) {
		// Short-lived: reissued for an hour (a new duration is not
		// reissued by itself: cmctl renew), then renewed every 30 seconds.
		before, _, _ := unstructured.NestedInt64(status(t).Object, "status", "revision")
		patchCertificate(t, `{"duration":"1h","renewBefore":"59m30s"}`)
		renewNow(t, app.names.Certificate)
		eventually(t, 2*time.Minute, "cert-manager to reissue the certificate, then renew it", func() (bool, error) {
			u := status(t)
			revision, _, _ := unstructured.NestedInt64(u.Object, "status", "revision")
			return revision >= before+2 && certificateReady(u), fmt.Errorf("revision %d, from %d", revision, before)
		})
		report, r := verify(t)
		stale := checkOf(report, "certificate.served-current")
		if r.code != 1 || stale.Result != auditcheck.Fail || !strings.Contains(stale.Message, "the gateway has not loaded it") {
			t.Errorf("exit %d; certificate.served-current %s %q, want a failure\n%s", r.code, stale.Result, stale.Message, describe(report))
		}
		t.Logf("certificate.served-current: %s", stale.Message)
		if c := checkOf(report, "probe.served-certificate"); c.Result != auditcheck.Skip {
			t.Errorf("probe.served-certificate %s %q: the stale certificate is reported twice", c.Result, c.Message)
		}
		if c := checkOf(report, "certificate.renewal"); c.Result != auditcheck.Pass {
			t.Errorf("certificate.renewal %s %q: the renewals succeeded", c.Result, c.Message)
		}

		// No more renewals for now; the gateway loads the Secret.
		patchCertificate(t, `{"renewBefore":"20m"}`)
		waitGatewayServes(t, gw, func() error {
			return servedThrough(gw, fixtures.ChartGateway, app.ns, app.host, credentialRoots(t, gatewayNamespace, app.names.TLSSecret))
		})
		report, _ = verify(t)
		for _, id := range []string{"certificate.served-current", "certificate.renewal"} {
			if c := checkOf(report, id); c.Result != auditcheck.Pass {
				t.Errorf("reloaded: %s %s %q, want a pass", id, c.Result, c.Message)
			}
		}
	})

	t.Run("renewal failing", func(t *testing.T) {
		secrets := kube.CoreV1().Secrets(gatewayNamespace)
		ca, err := secrets.Get(ctx, caSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		good := ca.Data["ca.crt"]
		ca.Data["ca.crt"] = testpki.MustIssue(t, testpki.Leaf{CA: "unrelated CA", DNSNames: []string{"unrelated.example.com"}}).CAPEM
		if _, err := secrets.Update(ctx, ca, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// The renewal is due at once.
		patchCertificate(t, `{"renewBefore":"59m30s"}`)
		eventually(t, 2*time.Minute, "cert-manager's renewal to fail", func() (bool, error) {
			failed, _, _ := unstructured.NestedString(status(t).Object, "status", "lastFailureTime")
			return failed != "", fmt.Errorf("no lastFailureTime")
		})
		report, r := verify(t)
		renewal := checkOf(report, "certificate.renewal")
		if r.code != 1 || renewal.Result != auditcheck.Fail || !strings.Contains(renewal.Message, "could not renew Certificate "+gatewayNamespace+"/"+app.names.Certificate) ||
			!strings.Contains(renewal.Message, "Failed: ") {
			t.Errorf("exit %d; certificate.renewal %s %q, want a failure with cert-manager's reason\n%s", r.code, renewal.Result, renewal.Message, describe(report))
		}
		t.Logf("certificate.renewal: %s", renewal.Message)
		if c := checkOf(report, "certificate.cert-manager-ready"); c.Result != auditcheck.Pass {
			t.Errorf("certificate.cert-manager-ready %s %q: the Certificate is still Ready", c.Result, c.Message)
		}

		// Fixed, and renewed as cmctl renew asks.
		ca, err = secrets.Get(ctx, caSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ca.Data["ca.crt"] = good
		if _, err := secrets.Update(ctx, ca, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		patchCertificate(t, `{"renewBefore":"20m"}`)
		deleteFailedRequests(t, app.names.Certificate)
		renewNow(t, app.names.Certificate)
		eventually(t, 2*time.Minute, "cert-manager to renew the certificate", func() (bool, error) {
			u := status(t)
			failed, _, _ := unstructured.NestedString(u.Object, "status", "lastFailureTime")
			return failed == "" && certificateReady(u), fmt.Errorf("lastFailureTime %q", failed)
		})
		waitGatewayServes(t, gw, func() error {
			return servedThrough(gw, fixtures.ChartGateway, app.ns, app.host, credentialRoots(t, gatewayNamespace, app.names.TLSSecret))
		})
		report, _ = verify(t)
		for _, id := range []string{"certificate.renewal", "certificate.served-current"} {
			if c := checkOf(report, id); c.Result != auditcheck.Pass {
				t.Errorf("renewed: %s %s %q, want a pass", id, c.Result, c.Message)
			}
		}
	})
}

// newSecuredAppIssuedByOwnCA is newSecuredApp with the gateway certificate
// issued by a CA Issuer (secure --issuer) whose CA Secret, made here, the
// test may break as cert-manager would not. It returns the CA Secret's name.
func newSecuredAppIssuedByOwnCA(t *testing.T) (securedApp, string) {
	t.Helper()
	ctx, kube, dyn := context.Background(), adminKube(t), adminDynamic(t)
	ns := newChatQnA(t, "chatqna")
	app := securedApp{ns: ns, host: ns + ".example.com", names: ownership.NamesFor(ns)}
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.CreateAppPods(ctx, kube, ns, "chatqna-nginx", "chatqna-backend", "chatqna-ui"); err != nil {
		t.Fatal(err)
	}
	issuer, err := fixtures.CreateHeldIssuer(ctx, dyn, gatewayNamespace, "ca-"+ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		issuer.Delete(context.Background(), kube, dyn)
		_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), app.names.TLSSecret, metav1.DeleteOptions{})
	})
	ca := testpki.MustIssue(t, testpki.Leaf{CA: "e2e CA of " + ns, DNSNames: []string{app.host}, NotAfter: time.Now().Add(365 * 24 * time.Hour)})
	caSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: issuer.Name}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": ca.CAPEM, "tls.key": ca.CAKeyPEM, "ca.crt": ca.CAPEM}}
	if _, err := kube.CoreV1().Secrets(gatewayNamespace).Create(ctx, caSecret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if r := opea(t, "secure", "-n", ns, "--host", app.host, "--issuer", issuer.Name); r.code != 0 {
		t.Fatalf("secure --issuer: %s", r.stderr)
	}
	if err := fixtures.SimulateAmbientCapture(ctx, kube, ns, "enabled"); err != nil {
		t.Fatal(err)
	}
	if _, err := waitIssuedFor(t, gatewayNamespace, app.names.Certificate); err != nil {
		t.Fatal(err)
	}
	return app, issuer.Name
}

// certificateReady reports whether cert-manager marks Certificate u Ready.
func certificateReady(u *unstructured.Unstructured) bool {
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		if m, _ := c.(map[string]interface{}); m["type"] == "Ready" {
			return m["status"] == "True"
		}
	}
	return false
}

// deleteFailedRequests deletes the failed CertificateRequests of
// Certificate name of the gateway namespace: cert-manager would take the
// failed request of the next revision up again rather than make a new one.
func deleteFailedRequests(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	requests := adminDynamic(t).Resource(certificateRequests).Namespace(gatewayNamespace)
	list, err := requests.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range list.Items {
		if r.GetAnnotations()["cert-manager.io/certificate-name"] != name {
			continue
		}
		conds, _, _ := unstructured.NestedSlice(r.Object, "status", "conditions")
		for _, c := range conds {
			if m, _ := c.(map[string]interface{}); m["type"] == "Ready" && m["reason"] == "Failed" {
				if err := requests.Delete(ctx, r.GetName(), metav1.DeleteOptions{}); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
}

var certificateRequests = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificaterequests"}

// renewNow asks cert-manager to renew Certificate name of the gateway
// namespace at once, as cmctl renew does: the Issuing condition set True.
// cert-manager writes the status too: a conflict is retried.
func renewNow(t *testing.T, name string) {
	t.Helper()
	ctx := context.Background()
	certs := adminDynamic(t).Resource(fixtures.CertificateGVR).Namespace(gatewayNamespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		u, err := certs.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		var kept []interface{}
		for _, c := range conds {
			if m, _ := c.(map[string]interface{}); m["type"] != "Issuing" {
				kept = append(kept, c)
			}
		}
		kept = append(kept, map[string]interface{}{"type": "Issuing", "status": "True", "reason": "ManuallyTriggered",
			"message": "Certificate re-issuance manually triggered", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)})
		if err := unstructured.SetNestedSlice(u.Object, kept, "status", "conditions"); err != nil {
			return err
		}
		_, err = certs.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}
