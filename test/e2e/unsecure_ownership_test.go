package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
)

// applyAs server-side applies obj as manager, the way a user's own tool does.
func applyAs(t *testing.T, manager string, obj *unstructured.Unstructured) {
	t.Helper()
	resource, err := resourceOf(adminMapper(t), obj)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := resource.Apply(context.Background(), obj.GetName(), obj, metav1.ApplyOptions{FieldManager: manager}); err != nil {
		t.Fatalf("applying %s %s as %s: %v", obj.GetKind(), obj.GetName(), manager, err)
	}
}

func object(apiVersion, kind, ns, name string, spec map[string]interface{}) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": apiVersion, "kind": kind,
		"metadata": map[string]interface{}{"name": name, "namespace": ns},
		"spec":     spec,
	}}
}

// withoutServerFields is obj as a user wrote it: no bookkeeping, no status.
func withoutServerFields(obj *unstructured.Unstructured) map[string]interface{} {
	c := obj.DeepCopy().Object
	delete(c, "status")
	for _, f := range []string{"resourceVersion", "managedFields", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(c, "metadata", f)
	}
	return c
}

// The certificate kinds honour the adoption marker as the app kinds do: an
// Issuer and a Certificate of the user's that secure took over stay, as the
// user wrote them, and so does the Secret cert-manager wrote for them.
func TestUnsecureKeepsAdoptedCertificateKinds(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	names := ownership.NamesFor(ns)
	issuer := object("cert-manager.io/v1", "Issuer", gatewayNamespace, names.SelfSignedIssuer, map[string]interface{}{"selfSigned": map[string]interface{}{}})
	cert := object("cert-manager.io/v1", "Certificate", gatewayNamespace, names.Certificate, map[string]interface{}{
		"secretName": names.TLSSecret, "dnsNames": []interface{}{"mine.example.com"},
		"issuerRef": map[string]interface{}{"name": "someone-elses", "kind": "ClusterIssuer", "group": "cert-manager.io"},
	})
	applyAs(t, "platform-team", issuer)
	applyAs(t, "platform-team", cert)
	issuerBefore := withoutServerFields(getObject(t, issuerGVR, gatewayNamespace, names.SelfSignedIssuer))
	certBefore := withoutServerFields(getObject(t, certificateGVR, gatewayNamespace, names.Certificate))

	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--force-conflicts"); r.code != 0 {
		t.Fatalf("secure: exit %d\n%s", r.code, r.stderr)
	}
	for _, name := range []string{names.SelfSignedIssuer} {
		if got := getObject(t, issuerGVR, gatewayNamespace, name).GetAnnotations()[ownership.AdoptedAnnotation]; got != "true" {
			t.Errorf("issuer %s not marked adopted", name)
		}
	}
	if _, err := waitIssuedFor(t, gatewayNamespace, names.Certificate); err != nil {
		t.Fatal(err)
	}

	r := opea(t, "unsecure", "-n", ns)
	if r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"issuer.cert-manager.io/" + names.SelfSignedIssuer + " kept, secure's fields released",
		"certificate.cert-manager.io/" + names.Certificate + " kept, secure's fields released",
		"certificate.cert-manager.io/" + names.Certificate + " field spec.dnsNames given back to platform-team",
		"issuer.cert-manager.io/" + names.CAIssuer + " deleted",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("unsecure output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "secret/"+names.TLSSecret+" deleted") {
		t.Errorf("the Secret of the user's Certificate was deleted:\n%s", r.stdout)
	}
	if _, err := adminKube(t).CoreV1().Secrets(gatewayNamespace).Get(context.Background(), names.TLSSecret, metav1.GetOptions{}); err != nil {
		t.Errorf("the Secret of the user's Certificate is gone: %v", err)
	}
	if diff := cmp.Diff(issuerBefore, withoutServerFields(getObject(t, issuerGVR, gatewayNamespace, names.SelfSignedIssuer))); diff != "" {
		t.Errorf("the user's Issuer is not as the user wrote it (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff(certBefore, withoutServerFields(getObject(t, certificateGVR, gatewayNamespace, names.Certificate))); diff != "" {
		t.Errorf("the user's Certificate is not as the user wrote it (-before +after):\n%s", diff)
	}
	if again := opea(t, "unsecure", "-n", ns); again.code != 0 || !strings.Contains(again.stdout, "Nothing to do") {
		t.Errorf("second unsecure: exit %d\n%s%s", again.code, again.stdout, again.stderr)
	}
}

// Interrupted after the Certificates are gone (or the user deleted them by
// hand), unsecure still finds the Secrets, private keys included, by the
// labels cert-manager copied onto them.
func TestUnsecureRemovesTheSecretsOfCertificatesAlreadyGone(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	waitForNamespaceConfigMaps(t, ns)
	before := dumpNamespaces(t, ns, gatewayNamespace)
	names := ownership.NamesFor(ns)
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	for _, name := range []string{names.CACertificate, names.Certificate} {
		if _, err := waitIssuedFor(t, gatewayNamespace, name); err != nil {
			t.Fatal(err)
		}
		if err := adminDynamic(t).Resource(certificateGVR).Namespace(gatewayNamespace).Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r := opea(t, "unsecure", "-n", ns)
	if r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{"secret/" + names.TLSSecret + " deleted", "secret/" + names.CASecret + " deleted"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("unsecure output lacks %q:\n%s", want, r.stdout)
		}
	}
	if diff := cmp.Diff(before, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
		t.Errorf("objects of secure remain (-before +after):\n%s", diff)
	}
}

// A Secret of the user's where cert-manager would write secure's is never
// taken over: secure refuses, names it, and writes nothing.
func TestSecureRefusesASecretOfTheUsersInTheWay(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	names := ownership.NamesFor(ns)
	kube := adminKube(t)
	for _, secret := range []string{names.TLSSecret, names.CASecret} {
		if _, err := kube.CoreV1().Secrets(gatewayNamespace).Create(context.Background(), &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secret}, Data: map[string][]byte{"note": []byte("mine")},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), secret, metav1.DeleteOptions{})
		})
	}
	r := opea(t, "secure", "-n", ns, "--host", ns+".example.com")
	if r.code != 1 {
		t.Errorf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	for _, want := range []string{
		"Secret " + gatewayNamespace + "/" + names.TLSSecret + " exists and was not written for kubectl opea secure",
		"pass --tls-secret " + names.TLSSecret,
		"Secret " + gatewayNamespace + "/" + names.CASecret + " exists and was not written for kubectl opea secure",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	assertNothingWritten(t, ns)

	// Served as it is, the user's Secret is fine: it is the user's choice.
	for _, secret := range []string{names.TLSSecret} {
		s, _ := kube.CoreV1().Secrets(gatewayNamespace).Get(context.Background(), secret, metav1.GetOptions{})
		if string(s.Data["note"]) != "mine" {
			t.Errorf("Secret %s changed", secret)
		}
	}
}

// What --force-conflicts took is given back: the namespace's label and the
// PeerAuthentication's mode return to the values and managers they had.
func TestUnsecureGivesBackWhatForceConflictsTook(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	ctx := context.Background()
	kube := adminKube(t)
	patch := []byte(`{"metadata":{"labels":{"istio.io/dataplane-mode":"none"}}}`)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	applyAs(t, "platform-team", object("security.istio.io/v1", "PeerAuthentication", ns, "default",
		map[string]interface{}{"mtls": map[string]interface{}{"mode": "PERMISSIVE"}}))
	paBefore := withoutServerFields(getObject(t, peerAuthGVR, ns, "default"))

	plain := opea(t, "secure", "-n", ns, "--host", ns+".example.com")
	if plain.code != 1 || !strings.Contains(plain.stderr, `owned by "kubectl-label"`) || !strings.Contains(plain.stderr, `owned by "platform-team"`) {
		t.Fatalf("secure without --force-conflicts: exit %d\n%s", plain.code, plain.stderr)
	}
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--force-conflicts"); r.code != 0 {
		t.Fatalf("secure --force-conflicts: exit %d\n%s", r.code, r.stderr)
	}
	if got := namespaceLabels(t, ns)["istio.io/dataplane-mode"]; got != "ambient" {
		t.Fatalf("forced label: %q", got)
	}
	// A rerun without force keeps the record of what was taken.
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure again: exit %d\n%s", r.code, r.stderr)
	}

	r := opea(t, "unsecure", "-n", ns)
	if r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"namespace/" + ns + " field metadata.labels.istio.io/dataplane-mode given back to kubectl-label",
		"namespace/" + ns + " label istio.io/dataplane-mode=none restored",
		"peerauthentication.security.istio.io/default field spec.mtls.mode given back to platform-team",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("unsecure output lacks %q:\n%s", want, r.stdout)
		}
	}
	nsAfter, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := nsAfter.Labels["istio.io/dataplane-mode"]; got != "none" {
		t.Errorf("namespace label after unsecure: %q, want none", got)
	}
	if _, ok := nsAfter.Annotations[ownership.TakeoversAnnotation]; ok {
		t.Errorf("the record of what was taken remains on the namespace")
	}
	if diff := cmp.Diff(paBefore, withoutServerFields(getObject(t, peerAuthGVR, ns, "default"))); diff != "" {
		t.Errorf("the user's PeerAuthentication is not as the user wrote it (-before +after):\n%s", diff)
	}
}

// After secure with its own --field-manager, a plain unsecure still finds
// every object by label, and releases the namespace label that manager set.
func TestUnsecureFindsWhatAnotherFieldManagerApplied(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--field-manager", "gitops-opea"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	r := opea(t, "unsecure", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "namespace/"+ns+" label istio.io/dataplane-mode removed") {
		t.Errorf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if left := ourObjects(t, ns); len(left) != 0 {
		t.Errorf("objects of secure remain: %v", left)
	}
	if got, ok := namespaceLabels(t, ns)["istio.io/dataplane-mode"]; ok {
		t.Errorf("namespace label remains: %q", got)
	}
}

// When only the namespace label of another field manager is left, unsecure
// says what to run.
func TestUnsecureSaysWhichFieldManagerToName(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--field-manager", "gitops-opea"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	if r := opea(t, "unsecure", "-n", ns, "--keep-mtls"); r.code != 0 {
		t.Fatalf("unsecure --keep-mtls: %s", r.stderr)
	}
	// Only the PeerAuthentication is left; remove it as an interrupted run would.
	if err := adminDynamic(t).Resource(peerAuthGVR).Namespace(ns).Delete(context.Background(), "default", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	r := opea(t, "unsecure", "-n", ns)
	want := "run: kubectl opea unsecure -n " + ns + " --field-manager gitops-opea"
	if r.code != 0 || !strings.Contains(r.stdout, want) {
		t.Errorf("unsecure: exit %d, want a line with %q\n%s%s", r.code, want, r.stdout, r.stderr)
	}
	r = opea(t, "unsecure", "-n", ns, "--field-manager", "gitops-opea")
	if r.code != 0 || !strings.Contains(r.stdout, "label istio.io/dataplane-mode removed") {
		t.Errorf("unsecure --field-manager: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// unsecure names a namespace that does not exist, and a gateway namespace
// that holds none of secure's certificates while another does.
func TestUnsecureNamesWrongNamespaces(t *testing.T) {
	r := opea(t, "unsecure", "-n", "no-such-namespace")
	if r.code != 1 || !strings.Contains(r.stderr, `namespace "no-such-namespace" does not exist`) || strings.Contains(r.stdout, "Nothing to do") {
		t.Errorf("-n no-such-namespace: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	settleIssuance(t, ns)
	before := ourObjects(t, ns)
	other := newNamespace(t)
	for _, tc := range []struct{ gatewayNamespace, want string }{
		{other, "secure's certificates for namespace " + ns + " are in namespace " + gatewayNamespace + ", not in --gateway-namespace " + other},
		{"no-such-gateway-namespace", `namespace "no-such-gateway-namespace" does not exist`},
	} {
		r := opea(t, "unsecure", "-n", ns, "--gateway-namespace", tc.gatewayNamespace)
		if r.code != 1 || !strings.Contains(r.stderr, tc.want) {
			t.Errorf("--gateway-namespace %s: exit %d, want 1 with %q\n%s%s", tc.gatewayNamespace, r.code, tc.want, r.stdout, r.stderr)
		}
	}
	if diff := cmp.Diff(before, ourObjects(t, ns)); diff != "" {
		t.Errorf("objects changed (-before +after):\n%s", diff)
	}
	// The namespace gone, what secure left in the gateway namespace still goes.
	if err := adminKube(t).CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitNamespaceGone(t, ns)
	r = opea(t, "unsecure", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stderr, "Namespace "+ns+" does not exist: removing what kubectl opea secure left") ||
		!strings.Contains(r.stdout, "certificate.cert-manager.io/opea-"+ns+"-tls deleted") {
		t.Errorf("unsecure of a deleted namespace: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if left := ourObjects(t, ns); len(left) != 0 {
		t.Errorf("objects of secure remain: %v", left)
	}
	if _, err := adminKube(t).CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("namespace: %v", err)
	}
}
