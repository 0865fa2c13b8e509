package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// A fresh ServiceAccount may not unsecure an application: unsecure names
// every permission it lacks in one error, with the --print-rbac command,
// and deletes nothing. Once an admin applies what `unsecure --print-rbac`
// printed and binds it to the ServiceAccount, the same unsecure removes
// everything secure made.
func TestUnsecurePrintedRBACIsWhatUnsecureNeeds(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: exit %d\n%s", r.code, r.stderr)
	}
	settleIssuance(t, ns)
	before := ourObjects(t, ns)
	const account = "opea-operator"
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	unsecure := []string{"--as", "system:serviceaccount:" + ns + ":" + account, "unsecure", "-n", ns}

	refused := opea(t, unsecure...)
	if refused.code != 1 {
		t.Errorf("without permissions: exit %d, want 1\n%s", refused.code, refused.stderr)
	}
	for _, want := range []string{
		"error: you lack permissions to read what unsecure must find, or to remove it: ",
		`get namespaces "` + ns + `"`, `patch namespaces "` + ns + `"`,
		"list secrets in every namespace", "list certificates.cert-manager.io in every namespace",
		"delete gateways.networking.istio.io in namespace " + ns, "delete peerauthentications.security.istio.io in namespace " + ns,
		"fix: ask a cluster admin to grant them: 'kubectl opea unsecure --print-rbac -n " + ns + "' prints the Roles and the ClusterRole",
	} {
		if !strings.Contains(refused.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, refused.stderr)
		}
	}
	if strings.Contains(refused.stderr, "forbidden") || strings.Count(refused.stderr, "error: ") != 1 || refused.stdout != "" {
		t.Errorf("want one error listing the permissions, not the API server's refusals:\n%s%s", refused.stdout, refused.stderr)
	}
	if d := cmp.Diff(before, ourObjects(t, ns)); d != "" {
		t.Errorf("objects changed although permissions were missing (-before +after):\n%s", d)
	}

	applyPrintedRBAC(ctx, t, []string{"unsecure", "--print-rbac", "-n", ns}, ns, account)

	var removed opeaResult
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		removed = opea(t, unsecure...)
		return removed.code == 0, nil
	})
	for _, want := range []string{"gateway.networking.istio.io/opea-ingress deleted", "peerauthentication.security.istio.io/default deleted",
		"certificate.cert-manager.io/opea-" + ns + "-tls deleted", "namespace/" + ns + " label istio.io/dataplane-mode removed"} {
		if !strings.Contains(removed.stdout, want) {
			t.Errorf("unsecure with the printed RBAC lacks %q:\n%s\n%s", want, removed.stdout, removed.stderr)
		}
	}
	if left := ourObjects(t, ns); len(left) != 0 {
		t.Errorf("left after unsecure with the printed RBAC: %v", left)
	}
	if l := namespaceLabels(t, ns)["istio.io/dataplane-mode"]; l != "" {
		t.Errorf("the namespace is still labelled %q", l)
	}
}
