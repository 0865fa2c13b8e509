package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/faultproxy"
)

// denyVirtualServiceCreation makes the API server refuse, with an admission
// policy, the creation of VirtualServices in ns, dry runs excepted: secure's
// checks pass and its last write fails.
func denyVirtualServiceCreation(t *testing.T, ns string) func() {
	t.Helper()
	ctx := context.Background()
	kube := adminKube(t)
	name := "deny-virtualservices-" + ns
	policy := &admissionregistrationv1.ValidatingAdmissionPolicy{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr(admissionregistrationv1.Fail),
			MatchConstraints: &admissionregistrationv1.MatchResources{ResourceRules: []admissionregistrationv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionregistrationv1.RuleWithOperations{
					Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
					Rule:       admissionregistrationv1.Rule{APIGroups: []string{"networking.istio.io"}, APIVersions: []string{"*"}, Resources: []string{"virtualservices"}},
				},
			}}},
			Validations: []admissionregistrationv1.Validation{{Expression: "request.dryRun == true", Message: "VirtualServices are frozen in this namespace"}},
		},
	}
	if _, err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Create(ctx, policy, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &admissionregistrationv1.ValidatingAdmissionPolicyBinding{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: admissionregistrationv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName:        name,
			ValidationActions: []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny},
			MatchResources: &admissionregistrationv1.MatchResources{NamespaceSelector: &metav1.LabelSelector{
				MatchLabels: map[string]string{"kubernetes.io/metadata.name": ns}}},
		},
	}
	if _, err := kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	remove := func() {
		_ = kube.AdmissionregistrationV1().ValidatingAdmissionPolicyBindings().Delete(ctx, name, metav1.DeleteOptions{})
		_ = kube.AdmissionregistrationV1().ValidatingAdmissionPolicies().Delete(ctx, name, metav1.DeleteOptions{})
	}
	t.Cleanup(remove)
	// The policy takes effect once the API server has compiled it.
	probe := &unstructured.Unstructured{Object: map[string]interface{}{
		"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
		"metadata": map[string]interface{}{"name": "admission-probe", "namespace": ns},
		"spec":     map[string]interface{}{"hosts": []interface{}{"probe.example.com"}},
	}}
	eventually(t, 30*time.Second, "the admission policy to take effect", func() (bool, error) {
		_, err := adminDynamic(t).Resource(virtualSvcGVR).Namespace(ns).Create(ctx, probe, metav1.CreateOptions{})
		if err == nil {
			_ = adminDynamic(t).Resource(virtualSvcGVR).Namespace(ns).Delete(ctx, "admission-probe", metav1.DeleteOptions{})
			return false, nil
		}
		return strings.Contains(err.Error(), "frozen"), err
	})
	return remove
}

func ptr[T any](v T) *T { return &v }

// A write refused part-way: secure lists what it applied and says that a
// rerun completes it; the rerun does.
func TestSecureReportsWhatItAppliedBeforeAWriteFailed(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	host := ns + ".example.com"
	allow := denyVirtualServiceCreation(t, ns)

	r := opea(t, "secure", "-n", ns, "--host", host)
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s%s", r.code, r.stdout, r.stderr)
	}
	names := ownership.NamesFor(ns)
	for _, want := range []string{
		"namespace/" + ns + " serverside-applied",
		"peerauthentication.security.istio.io/default serverside-applied",
		"certificate.cert-manager.io/" + names.Certificate + " serverside-applied",
		"gateway.networking.istio.io/opea-ingress serverside-applied",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("stdout lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, want := range []string{"VirtualServices are frozen", "(7 of 8 objects applied)", "run the same command again"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stdout, "virtualservice") {
		t.Errorf("the refused VirtualService is reported as applied:\n%s", r.stdout)
	}

	allow()
	eventually(t, 30*time.Second, "secure to complete once the policy is gone", func() (bool, error) {
		r = opea(t, "secure", "-n", ns, "--host", host)
		return r.code == 0, nil
	})
	for _, want := range []string{
		"gateway.networking.istio.io/opea-ingress unchanged",
		"virtualservice.networking.istio.io/opea-ingress serverside-applied",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("rerun stdout lacks %q:\n%s", want, r.stdout)
		}
	}
}

// Every read unsecure may not make is listed at once, before anything is
// deleted.
func TestUnsecureListsEveryMissingReadPermission(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	before := ourObjects(t, ns)
	// Everything but reading Secrets and Issuers.
	grantLimitedUser(t, "opea-unsecure-read-"+ns, "", []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "patch"}},
		{APIGroups: []string{"networking.istio.io", "security.istio.io"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "delete"}},
		{APIGroups: []string{"cert-manager.io"}, Resources: []string{"certificates"}, Verbs: []string{"get", "list", "delete"}},
	})
	var r opeaResult
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		r = opeaWith(t, kubeconfigFor(t, limitedUser), "unsecure", "-n", ns)
		return strings.Contains(r.stderr, "you lack permissions to read"), nil
	})
	for _, want := range []string{"list issuers.cert-manager.io in every namespace", "list secrets in every namespace", "fix: "} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if r.code != 1 || strings.Contains(r.stdout, "deleted") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got := ourObjects(t, ns); len(got) != len(before) {
		t.Errorf("objects changed although reads were missing: %v", got)
	}
}

// Ctrl-C stops secure after the request in flight, not in the middle of
// it: the run lists what it applied, says a rerun applies the rest, exits
// 130, and the cluster holds exactly what it listed. The rerun does the
// rest.
func TestSecureInterruptedListsWhatItApplied(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	planned := plannedObjects(t, ns)
	// The second write is held until the plugin has taken the interrupt.
	p, kubeconfig := viaHTTPProxy(t, &faultproxy.Rule{Match: isWrite, Skip: 1, Hold: true, Times: 1})

	r := interruptDuring(t, p, "--kubeconfig", kubeconfig, "--cache-dir", t.TempDir(), "secure", "-n", ns, "--host", ns+".example.com")
	if r.code != 130 || r.stdout != appliedLines(planned[:2]...) ||
		!strings.Contains(r.stderr, "error: interrupted (2 of 8 objects applied)\n  fix: run the same command again: it applies the rest") {
		t.Errorf("want exit 130 and the two objects applied, %v:\n%s", planned[:2], r)
	}
	if got := ourObjectNames(t, ns); len(got) != 1 || got[0] != "peerauthentications/default" || !namespaceEnrolled(t, ns) {
		t.Errorf("the cluster holds %v (namespace enrolled: %v), want what secure listed", got, namespaceEnrolled(t, ns))
	}

	rerun := opea(t, "secure", "-n", ns, "--host", ns+".example.com")
	if rerun.code != 0 || !strings.Contains(rerun.stdout, "peerauthentication.security.istio.io/default unchanged") ||
		!strings.Contains(rerun.stdout, "virtualservice.networking.istio.io/opea-ingress serverside-applied") {
		t.Errorf("rerun: exit %d\n%s%s", rerun.code, rerun.stdout, rerun.stderr)
	}
}

// Ctrl-C stops unsecure after the deletion in flight: what it deleted is
// listed, the rest is still there for a rerun, exit 130.
func TestUnsecureInterruptedListsWhatItDeleted(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com"); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	before := ourObjectNames(t, ns)
	p, kubeconfig := viaHTTPProxy(t, &faultproxy.Rule{Match: isDelete, Skip: 1, Hold: true, Times: 1})

	r := interruptDuring(t, p, "--kubeconfig", kubeconfig, "--cache-dir", t.TempDir(), "unsecure", "-n", ns)
	deleted := strings.Split(strings.TrimSuffix(r.stdout, "\n"), "\n")
	if r.code != 130 || len(deleted) != 2 || !strings.HasSuffix(deleted[0], " deleted") || !strings.HasSuffix(deleted[1], " deleted") ||
		!strings.Contains(r.stderr, "error: interrupted after the steps listed above\n  fix: run the same command again: it removes what is left") {
		t.Errorf("want exit 130 and two deletions listed:\n%s", r)
	}
	if got := ourObjectNames(t, ns); len(got) != len(before)-2 {
		t.Errorf("after two deletions the cluster holds %v, before %v", got, before)
	}
	if rerun := opea(t, "unsecure", "-n", ns); rerun.code != 0 || len(ourObjectNames(t, ns)) != 0 {
		t.Errorf("rerun: exit %d\n%s%s", rerun.code, rerun.stdout, rerun.stderr)
	}
}
