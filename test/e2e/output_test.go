package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// -o name prints the names of what was applied or deleted, one per line, as
// kubectl does, and nothing else on stdout.
func TestOutputNameForSecureAndUnsecure(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	names := ownership.NamesFor(ns)
	r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "-o", "name")
	if r.code != 0 {
		t.Fatalf("secure -o name: exit %d\n%s", r.code, r.stderr)
	}
	want := strings.Join([]string{
		"namespace/" + ns,
		"peerauthentication.security.istio.io/default",
		"issuer.cert-manager.io/" + names.SelfSignedIssuer,
		"certificate.cert-manager.io/" + names.CACertificate,
		"issuer.cert-manager.io/" + names.CAIssuer,
		"certificate.cert-manager.io/" + names.Certificate,
		"gateway.networking.istio.io/opea-ingress",
		"virtualservice.networking.istio.io/opea-ingress",
	}, "\n") + "\n"
	if r.stdout != want {
		t.Errorf("secure -o name:\n%s\nwant:\n%s", r.stdout, want)
	}
	settleIssuance(t, ns)
	r = opea(t, "unsecure", "-n", ns, "-o", "name")
	if r.code != 0 {
		t.Fatalf("unsecure -o name: exit %d\n%s", r.code, r.stderr)
	}
	want = strings.Join([]string{
		"virtualservice.networking.istio.io/opea-ingress",
		"gateway.networking.istio.io/opea-ingress",
		"peerauthentication.security.istio.io/default",
		"certificate.cert-manager.io/" + names.CACertificate,
		"certificate.cert-manager.io/" + names.Certificate,
		"issuer.cert-manager.io/" + names.CAIssuer,
		"issuer.cert-manager.io/" + names.SelfSignedIssuer,
		"secret/" + names.CASecret,
		"secret/" + names.TLSSecret,
	}, "\n") + "\n"
	if r.stdout != want {
		t.Errorf("unsecure -o name:\n%s\nwant:\n%s", r.stdout, want)
	}
}

// unsecure --wait ends with exit 124, as every --wait, when what it deleted
// outlives --timeout (here held by a finalizer).
func TestUnsecureWaitTimesOutWithExit124(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	dyn := adminDynamic(t)
	hold := []byte(`{"metadata":{"finalizers":["example.com/hold"]}}`)
	if _, err := dyn.Resource(virtualSvcGVR).Namespace(ns).Patch(context.Background(), "opea-ingress", types.MergePatchType, hold, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = dyn.Resource(virtualSvcGVR).Namespace(ns).Patch(context.Background(), "opea-ingress", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	})
	r := opea(t, "unsecure", "-n", ns, "--wait", "--timeout", "2s")
	if r.code != 124 || !strings.Contains(r.stderr, "timed out after 2s") || !strings.Contains(r.stderr, "virtualservice.networking.istio.io/opea-ingress") {
		t.Errorf("unsecure --wait: exit %d, want 124\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// Missing permissions are listed in the same order every run: the order of
// the objects, deletions before patches.
func TestMissingPermissionsComeInAStableOrder(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	settleIssuance(t, ns)
	grantLimitedUser(t, "opea-order-"+ns, "", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "secrets"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"networking.istio.io", "security.istio.io", "cert-manager.io", "gateway.networking.k8s.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list"}},
	})
	var first opeaResult
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		first = opeaWith(t, kubeconfigFor(t, limitedUser), "unsecure", "-n", ns)
		return strings.Contains(first.stderr, "you lack permissions it needs"), nil
	})
	names := ownership.NamesFor(ns)
	want := `you lack permissions it needs: delete virtualservices.networking.istio.io "opea-ingress" in namespace ` + ns +
		`; delete gateways.networking.istio.io "opea-ingress" in namespace ` + ns +
		`; delete peerauthentications.security.istio.io "default" in namespace ` + ns +
		`; delete certificates.cert-manager.io "` + names.CACertificate + `" in namespace istio-ingress` +
		`; delete certificates.cert-manager.io "` + names.Certificate + `" in namespace istio-ingress` +
		`; delete issuers.cert-manager.io "` + names.CAIssuer + `" in namespace istio-ingress` +
		`; delete issuers.cert-manager.io "` + names.SelfSignedIssuer + `" in namespace istio-ingress` +
		`; delete secrets "` + names.CASecret + `" in namespace istio-ingress` +
		`; delete secrets "` + names.TLSSecret + `" in namespace istio-ingress` +
		`; patch namespaces "` + ns + `"`
	if !strings.Contains(first.stderr, want) {
		t.Errorf("stderr:\n%s\nwant:\n%s", first.stderr, want)
	}
	for range 3 {
		if again := opeaWith(t, kubeconfigFor(t, limitedUser), "unsecure", "-n", ns); again.stderr != first.stderr {
			t.Errorf("a different report:\n%s\nthen:\n%s", first.stderr, again.stderr)
		}
	}
}
