package e2e

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit/read"
)

// Deleting a namespace secured in the classic mode leaves secure's Issuers,
// Certificates and key Secrets in the gateway namespace. verify -A names
// them with the unsecure that removes them; that unsecure, on the namespace
// that no longer exists, removes exactly those, and another application's
// stay.
func TestVerifyAllNamesLeftoversOfADeletedNamespace(t *testing.T) {
	ctx := context.Background()
	gone := newSecuredApp(t)
	// Its CA's Secret too, as cert-manager writes it.
	if _, err := waitIssuedFor(t, gatewayNamespace, gone.names.CACertificate); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = adminKube(t).CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), gone.names.CASecret, metav1.DeleteOptions{})
	})
	kept := newSecuredApp(t)
	keptBefore := ourObjects(t, kept.ns)
	if err := adminKube(t).CoreV1().Namespaces().Delete(ctx, gone.ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNamespaceGone(t, gone.ns)

	r := opea(t, "verify", "-A", "-o", "json", "--probe=false")
	report := fleetJSON(t, r)
	var leftover *read.Leftover
	for i := range report.Leftovers {
		switch report.Leftovers[i].Namespace {
		case gone.ns:
			leftover = &report.Leftovers[i]
		case kept.ns:
			t.Errorf("%s exists, yet its objects are reported left over", kept.ns)
		}
	}
	if leftover == nil {
		t.Fatalf("verify -A does not name what secure left for %s: leftovers %+v\n%s", gone.ns, report.Leftovers, r.stderr)
	}
	in := " in " + gatewayNamespace
	want := read.Leftover{
		Namespace: gone.ns,
		Objects: []string{
			"certificate.cert-manager.io/" + gone.names.CACertificate + in, "certificate.cert-manager.io/" + gone.names.Certificate + in,
			"issuer.cert-manager.io/" + gone.names.CAIssuer + in, "issuer.cert-manager.io/" + gone.names.SelfSignedIssuer + in,
		},
		Secrets: []string{gatewayNamespace + "/" + gone.names.CASecret, gatewayNamespace + "/" + gone.names.TLSSecret},
		Fix:     "kubectl opea unsecure -n " + gone.ns,
	}
	sort.Strings(want.Objects)
	sort.Strings(want.Secrets)
	if diff := cmp.Diff(want, *leftover); diff != "" {
		t.Errorf("leftover of %s (-want +got):\n%s", gone.ns, diff)
	}
	table := opea(t, "verify", "-A", "--probe=false")
	if !strings.Contains(table.stdout, "kubectl opea secure left objects for namespaces that no longer exist") ||
		!strings.Contains(table.stdout, "    fix: kubectl opea unsecure -n "+gone.ns+"\n") {
		t.Errorf("the table does not name the leftovers of %s and their fix:\n%s", gone.ns, table.stdout)
	}

	// The fix removes exactly what verify named: the four objects and the
	// two Secrets (cert-manager's, here written by the test).
	removed := opea(t, "unsecure", "-n", gone.ns, "-o", "name")
	if removed.code != 0 {
		t.Fatalf("unsecure -n %s: exit %d\n%s%s", gone.ns, removed.code, removed.stdout, removed.stderr)
	}
	var wantRemoved []string
	for _, o := range want.Objects {
		wantRemoved = append(wantRemoved, strings.TrimSuffix(o, in))
	}
	for _, s := range want.Secrets {
		wantRemoved = append(wantRemoved, "secret/"+strings.TrimPrefix(s, gatewayNamespace+"/"))
	}
	got := strings.Fields(removed.stdout)
	sort.Strings(wantRemoved)
	sort.Strings(got)
	if diff := cmp.Diff(wantRemoved, got); diff != "" {
		t.Errorf("unsecure -n %s removed (-want +got):\n%s", gone.ns, diff)
	}
	if left := ourObjects(t, gone.ns); len(left) != 0 {
		t.Errorf("objects of secure for %s remain: %v", gone.ns, left)
	}
	for _, name := range []string{gone.names.CASecret, gone.names.TLSSecret} {
		if _, err := adminKube(t).CoreV1().Secrets(gatewayNamespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			t.Errorf("Secret %s/%s remains", gatewayNamespace, name)
		}
	}
	if diff := cmp.Diff(keptBefore, ourObjects(t, kept.ns)); diff != "" {
		t.Errorf("the objects of %s, which exists, changed (-before +after):\n%s", kept.ns, diff)
	}
	after := fleetJSON(t, opea(t, "verify", "-A", "-o", "json", "--probe=false"))
	for _, lo := range after.Leftovers {
		if lo.Namespace == gone.ns {
			t.Errorf("after unsecure, verify -A still names leftovers of %s: %+v", gone.ns, lo)
		}
	}
}
