package e2e

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"

	"github.com/google/go-cmp/cmp"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// dumpNamespaces reads every object of every listable namespaced resource in
// the namespaces, plus the Namespace objects themselves, without the fields
// the server manages (status, resourceVersion, managedFields, generation).
func dumpNamespaces(t *testing.T, namespaces ...string) map[string]map[string]interface{} {
	t.Helper()
	disco, err := discovery.NewDiscoveryClientForConfig(cluster.AdminConfig())
	if err != nil {
		t.Fatal(err)
	}
	lists, err := disco.ServerPreferredNamespacedResources()
	if err != nil {
		t.Fatal(err)
	}
	dyn := adminDynamic(t)
	dump := map[string]map[string]interface{}{}
	add := func(kind string, u *unstructured.Unstructured) {
		obj := u.DeepCopy().Object
		delete(obj, "status")
		unstructured.RemoveNestedField(obj, "metadata", "resourceVersion")
		unstructured.RemoveNestedField(obj, "metadata", "managedFields")
		unstructured.RemoveNestedField(obj, "metadata", "generation")
		dump[kind+" "+u.GetNamespace()+"/"+u.GetName()] = obj
	}
	for _, ns := range namespaces {
		got, err := dyn.Resource(schema.GroupVersionResource{Version: "v1", Resource: "namespaces"}).Get(context.Background(), ns, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		add("namespaces", got)
	}
	for _, l := range lists {
		gv, _ := schema.ParseGroupVersion(l.GroupVersion)
		for _, r := range l.APIResources {
			// CertificateRequests, cert-manager's record of each issuance,
			// go with their Certificate through the garbage collector.
			if !contains(r.Verbs, "list") || r.Name == "events" || r.Name == "certificaterequests" || strings.Contains(r.Name, "/") {
				continue
			}
			gvr := gv.WithResource(r.Name)
			for _, ns := range namespaces {
				items, err := dyn.Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
				if err != nil {
					t.Fatalf("listing %s: %v", gvr, err)
				}
				for i := range items.Items {
					add(gvr.Resource+"."+gvr.Group, &items.Items[i])
				}
			}
		}
	}
	return dump
}

func TestUnsecureRestoresTheClusterExactly(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	waitForNamespaceConfigMaps(t, ns)
	before := dumpNamespaces(t, ns, gatewayNamespace)
	app := securedApp{ns: ns, host: ns + ".example.com", names: ownership.NamesFor(ns)}
	if r := opea(t, "secure", "-n", ns, "--host", app.host); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	// cert-manager's effect: the Secrets it writes, the CA's and the
	// gateway's, must go too.
	if _, err := waitIssuance(t, app); err != nil {
		t.Fatal(err)
	}
	if added := addedKeys(before, dumpNamespaces(t, ns, gatewayNamespace)); len(added) != objectsPerApp+2 {
		t.Fatalf("secure added %d objects, want %d: %v", len(added), objectsPerApp+2, added)
	}

	r := opea(t, "unsecure", "-n", ns)
	if r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"virtualservice.networking.istio.io/opea-ingress deleted\n",
		"gateway.networking.istio.io/opea-ingress deleted\n",
		"peerauthentication.security.istio.io/default deleted\n",
		"certificate.cert-manager.io/" + app.names.Certificate + " deleted\n",
		"issuer.cert-manager.io/" + app.names.CAIssuer + " deleted\n",
		"secret/" + app.names.TLSSecret + " deleted\n",
		"namespace/" + ns + " label istio.io/dataplane-mode removed\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("unsecure output lacks %q:\n%s", want, r.stdout)
		}
	}
	after := dumpNamespaces(t, ns, gatewayNamespace)
	if diff := cmp.Diff(before, after); diff != "" {
		t.Errorf("secure then unsecure changed the namespaces (-before +after):\n%s", diff)
	}

	again := opea(t, "unsecure", "-n", ns)
	if again.code != 0 || !strings.Contains(again.stdout, "Nothing to do") {
		t.Errorf("second unsecure: exit %d\n%s%s", again.code, again.stdout, again.stderr)
	}
}

func waitIssuance(t *testing.T, app securedApp) ([]byte, error) {
	t.Helper()
	return waitIssuedFor(t, gatewayNamespace, app.names.Certificate)
}

func TestUnsecureLeavesWhatIsNotOurs(t *testing.T) {
	ctx := context.Background()
	ns := newChatQnA(t, "chatqna")
	kube, dyn := adminKube(t), adminDynamic(t)
	names := ownership.NamesFor(ns)
	// The namespace was enrolled by someone else before secure.
	patch := []byte(`{"metadata":{"labels":{"istio.io/dataplane-mode":"ambient"}}}`)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, "application/merge-patch+json", patch, metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	// Its issuer has no CA yet: cert-manager holds the certificate and never
	// writes the Secret the user puts where it would.
	held, err := fixtures.CreateHeldIssuer(ctx, dyn, gatewayNamespace, "held-"+ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { held.Delete(context.Background(), kube, dyn) })
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--issuer", held.Name); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	// Users replace our Gateway and PeerAuthentication with their own of
	// the same names, and put a Secret of their own where cert-manager would.
	for _, gvr := range []schema.GroupVersionResource{gatewayGVR, peerAuthGVR} {
		name := map[string]string{"gateways": "opea-ingress", "peerauthentications": "default"}[gvr.Resource]
		obj := getObject(t, gvr, ns, name)
		if err := dyn.Resource(gvr).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		mine := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": obj.GetAPIVersion(), "kind": obj.GetKind(),
			"metadata": map[string]interface{}{"name": name, "namespace": ns}, "spec": obj.Object["spec"]}}
		if _, err := dyn.Resource(gvr).Namespace(ns).Create(ctx, mine, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := kube.CoreV1().Secrets(gatewayNamespace).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: names.TLSSecret},
		Data: map[string][]byte{"note": []byte("mine")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(ctx, names.TLSSecret, metav1.DeleteOptions{})
	})

	r := opea(t, "unsecure", "-n", ns)
	if r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"gateway.networking.istio.io/opea-ingress left alone: not created by kubectl opea",
		"peerauthentication.security.istio.io/default left alone: not created by kubectl opea",
		"secret/" + names.TLSSecret + " in namespace istio-ingress left alone: not written by cert-manager for certificate " + names.Certificate,
		"namespace/" + ns + " label istio.io/dataplane-mode kept: also set by kubectl-label",
		"virtualservice.networking.istio.io/opea-ingress deleted",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("unsecure output lacks %q:\n%s", want, r.stdout)
		}
	}
	getObject(t, gatewayGVR, ns, "opea-ingress")
	getObject(t, peerAuthGVR, ns, "default")
	if _, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, names.TLSSecret, metav1.GetOptions{}); err != nil {
		t.Errorf("the user's Secret is gone: %v", err)
	}
	if got := namespaceLabels(t, ns)["istio.io/dataplane-mode"]; got != "ambient" {
		t.Errorf("the namespace label set before secure is gone")
	}
	if left := ourObjects(t, ns); len(left) != 0 {
		t.Errorf("objects of ours remain: %v", left)
	}
}

func TestUnsecureKeepsAnAdoptedPolicyAndHonoursKeepMTLS(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	pa := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
		"metadata": map[string]interface{}{"name": "default", "namespace": ns},
		"spec":     map[string]interface{}{"mtls": map[string]interface{}{"mode": "PERMISSIVE"}},
	}}
	if _, err := adminDynamic(t).Resource(peerAuthGVR).Namespace(ns).Apply(context.Background(), "default", pa, metav1.ApplyOptions{FieldManager: "platform-team"}); err != nil {
		t.Fatal(err)
	}
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--force-conflicts"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	r := opea(t, "unsecure", "-n", ns, "--keep-mtls")
	if r.code != 0 || !strings.Contains(r.stdout, "gateway.networking.istio.io/opea-ingress deleted") || strings.Contains(r.stdout, "peerauthentication") {
		t.Errorf("--keep-mtls: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := namespaceLabels(t, ns)["istio.io/dataplane-mode"]; got != "ambient" {
		t.Errorf("--keep-mtls removed the enrolment")
	}
	r = opea(t, "unsecure", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "peerauthentication.security.istio.io/default kept, secure's fields released: it existed before kubectl opea secure took it over") {
		t.Errorf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// The mode --force-conflicts took is the platform team's again.
	if got := nested(t, getObject(t, peerAuthGVR, ns, "default"), "spec", "mtls", "mode"); got != "PERMISSIVE" {
		t.Errorf("mode after unsecure: %v, want PERMISSIVE", got)
	}
}

func TestUnsecureOneAppLeavesTheOtherSecured(t *testing.T) {
	first := newSecuredApp(t)
	second := newSecuredApp(t)
	before := ourObjects(t, second.ns)
	if r := opea(t, "unsecure", "-n", first.ns, "--wait"); r.code != 0 {
		t.Fatalf("unsecure: %s", r.stderr)
	}
	if left := ourObjects(t, first.ns); len(left) != 0 {
		t.Errorf("objects of the first app remain: %v", left)
	}
	if diff := cmp.Diff(before, ourObjects(t, second.ns)); diff != "" {
		t.Errorf("the second app's objects changed (-before +after):\n%s", diff)
	}
	report, r := verifyJSON(t, "-n", second.ns)
	if r.code != 0 {
		t.Errorf("verify of the second app after unsecuring the first: exit %d\n%s", r.code, describe(report))
	}
}

func TestUnsecureListsEveryMissingPermissionAndDeletesNothing(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	settleIssuance(t, ns)
	before := ourObjects(t, ns)
	// Everything but deleting Gateways and Issuers.
	grantLimitedUser(t, "opea-unsecure-"+ns, "", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "secrets"}, Verbs: []string{"get", "list", "patch", "delete"}},
		{APIGroups: []string{"networking.istio.io"}, Resources: []string{"virtualservices"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"networking.istio.io"}, Resources: []string{"gateways"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"security.istio.io"}, Resources: []string{"peerauthentications"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificates"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"issuers"}, Verbs: []string{"get", "list"}},
		// unsecure looks for secure's Gateway API objects and lockdown too.
		{APIGroups: []string{"gateway.networking.k8s.io"}, Resources: []string{"gateways", "httproutes"}, Verbs: []string{"list"}},
		{APIGroups: []string{"security.istio.io"}, Resources: []string{"authorizationpolicies", "requestauthentications"}, Verbs: []string{"list"}},
	})
	var r opeaResult
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		r = opeaWith(t, kubeconfigFor(t, limitedUser), "unsecure", "-n", ns)
		return strings.Contains(r.stderr, "you lack permissions"), nil
	})
	names := ownership.NamesFor(ns)
	for _, want := range []string{
		fmt.Sprintf(`delete gateways.networking.istio.io "opea-ingress" in namespace %s`, ns),
		fmt.Sprintf(`delete issuers.cert-manager.io %q in namespace istio-ingress`, names.SelfSignedIssuer),
		fmt.Sprintf(`delete issuers.cert-manager.io %q in namespace istio-ingress`, names.CAIssuer),
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	if diff := cmp.Diff(before, ourObjects(t, ns)); diff != "" {
		t.Errorf("objects changed although permissions were missing (-before +after):\n%s", diff)
	}
}

// unsecureDryRuns: neither dry run deletes anything.
func TestUnsecureDryRunsDeleteNothing(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	settleIssuance(t, ns)
	before := ourObjects(t, ns)
	for _, mode := range []string{"client", "server"} {
		r := opea(t, "unsecure", "-n", ns, "--dry-run="+mode)
		if r.code != 0 || !strings.Contains(r.stdout, "gateway.networking.istio.io/opea-ingress deleted (") {
			t.Errorf("--dry-run=%s: exit %d\n%s%s", mode, r.code, r.stdout, r.stderr)
		}
	}
	if diff := cmp.Diff(before, ourObjects(t, ns)); diff != "" {
		t.Errorf("dry runs deleted objects (-before +after):\n%s", diff)
	}
	var keys []string
	for k := range before {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	if len(keys) != objectsPerApp {
		t.Errorf("objects: %v", keys)
	}
	if _, err := adminKube(t).CoreV1().Namespaces().Get(context.Background(), ns, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		t.Error("namespace gone")
	}
}

// addedKeys are the objects of after that before lacks.
func addedKeys(before, after map[string]map[string]interface{}) []string {
	var added []string
	for k := range after {
		if _, ok := before[k]; !ok {
			added = append(added, k)
		}
	}
	sort.Strings(added)
	return added
}

// waitForNamespaceConfigMaps waits for the ConfigMaps that controllers put
// into every new namespace, the kube-controller-manager's kube-root-ca.crt
// and istiod's istio-ca-root-cert and istio-ca-crl (its namespace controller
// writes the CRL one after the root, in the same reconcile, since
// PILOT_ENABLE_CA_CRL is on by default), so that a dump taken afterwards does not
// race with them.
func waitForNamespaceConfigMaps(t *testing.T, ns string) {
	t.Helper()
	eventually(t, 30*time.Second, "ConfigMaps kube-root-ca.crt, istio-ca-root-cert and istio-ca-crl in namespace "+ns, func() (bool, error) {
		for _, name := range []string{"kube-root-ca.crt", "istio-ca-root-cert", "istio-ca-crl"} {
			if _, err := adminKube(t).CoreV1().ConfigMaps(ns).Get(context.Background(), name, metav1.GetOptions{}); err != nil {
				return false, err
			}
		}
		return true, nil
	})
}
