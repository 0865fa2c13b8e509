package e2e

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/test/controlplane"
)

// A fresh ServiceAccount may not secure an application: secure names every
// permission it lacks, writes nothing, and points at --print-rbac. Once an
// admin applies what --print-rbac printed and binds it to the
// ServiceAccount, the same secure succeeds.
func TestSecurePrintedRBACIsWhatSecureNeeds(t *testing.T) {
	ctx := context.Background()
	ns := newChatQnA(t, "chatqna")
	kube := adminKube(t)
	const account = "opea-operator"
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	as := "system:serviceaccount:" + ns + ":" + account
	secure := []string{"--as", as, "secure", "-n", ns, "--host", ns + ".example.com"}

	refused := opea(t, secure...)
	if refused.code != 1 {
		t.Errorf("without permissions: exit %d, want 1\n%s", refused.code, refused.stderr)
	}
	for _, want := range []string{
		"error: you lack permissions secure needs: ",
		`get namespaces "` + ns + `"`,
		`patch namespaces "` + ns + `"`,
		"list deployments.apps in every namespace",
		"create peerauthentications.security.istio.io in namespace " + ns,
		"patch virtualservices.networking.istio.io in namespace " + ns,
		"fix: ask a cluster admin to grant them: 'kubectl opea secure --print-rbac -n " + ns + "' prints the Roles and the ClusterRole",
	} {
		if !strings.Contains(refused.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, refused.stderr)
		}
	}
	if strings.Contains(refused.stderr, "forbidden") || strings.Count(refused.stderr, "error: ") != 1 {
		t.Errorf("want one error listing the permissions, not the API server's refusals:\n%s", refused.stderr)
	}
	assertNothingWritten(t, ns)

	printed := opea(t, "secure", "--print-rbac", "-n", ns)
	if printed.code != 0 {
		t.Fatalf("--print-rbac: exit %d\n%s", printed.code, printed.stderr)
	}
	bins, err := controlplane.EnsureBinaries(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	apply := exec.Command(bins.Kubectl, "--kubeconfig", kubeconfigFor(t, controlplane.AdminUser), "apply", "-f", "-")
	apply.Stdin = strings.NewReader(printed.stdout)
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("kubectl apply of --print-rbac's output: %v\n%s", err, out)
	}
	bindPrintedRBAC(t, printed.stdout, ns, account)

	var secured opeaResult
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		secured = opea(t, secure...)
		return secured.code == 0, nil
	})
	for _, want := range []string{"peerauthentication.security.istio.io/default serverside-applied", "certificate.cert-manager.io/opea-" + ns + "-tls serverside-applied"} {
		if !strings.Contains(secured.stdout, want) {
			t.Errorf("secure as %s with the printed RBAC lacks %q:\n%s\n%s", as, want, secured.stdout, secured.stderr)
		}
	}
}

// bindPrintedRBAC binds each Role and the ClusterRole of printed to the
// ServiceAccount ns/account, as the printed comments tell an admin to, and
// removes them all when the test ends.
func bindPrintedRBAC(t *testing.T, printed, ns, account string) {
	t.Helper()
	ctx := context.Background()
	kube := adminKube(t)
	subjects := []rbacv1.Subject{{Kind: "ServiceAccount", Name: account, Namespace: ns}}
	for _, doc := range strings.Split(printed, "\n---\n")[1:] {
		var role rbacv1.Role
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		ref := rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: role.Kind, Name: role.Name}
		meta := metav1.ObjectMeta{Name: role.Name}
		if role.Kind == "ClusterRole" {
			if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = kube.RbacV1().ClusterRoleBindings().Delete(ctx, role.Name, metav1.DeleteOptions{})
				_ = kube.RbacV1().ClusterRoles().Delete(ctx, role.Name, metav1.DeleteOptions{})
			})
			continue
		}
		if _, err := kube.RbacV1().RoleBindings(role.Namespace).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: meta, RoleRef: ref, Subjects: subjects}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = kube.RbacV1().RoleBindings(role.Namespace).Delete(ctx, role.Name, metav1.DeleteOptions{})
			_ = kube.RbacV1().Roles(role.Namespace).Delete(ctx, role.Name, metav1.DeleteOptions{})
		})
	}
}
