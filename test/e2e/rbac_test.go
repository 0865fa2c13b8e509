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
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// A fresh ServiceAccount may not secure an application: secure names every
// permission it lacks, writes nothing, and points at --print-rbac. Once an
// admin applies what --print-rbac printed and binds it to the
// ServiceAccount, the same secure succeeds: in the classic mode, and with
// --gateway-api --lockdown.
func TestSecurePrintedRBACIsWhatSecureNeeds(t *testing.T) {
	for _, tc := range []struct {
		name        string
		rbacFlags   []string // what --print-rbac takes
		secureFlags []string
		lockdown    bool
		missing     []string // among the permissions named, with NS for the namespace
	}{
		{
			name: "classic",
			missing: []string{`get namespaces "NS"`, `patch namespaces "NS"`, "list deployments.apps in every namespace",
				"create peerauthentications.security.istio.io in namespace NS", "patch virtualservices.networking.istio.io in namespace NS"},
		},
		{
			name:        "gateway API with lockdown",
			rbacFlags:   []string{"--gateway-api", "--lockdown"},
			secureFlags: []string{"--gateway-api", "--gateway-service-type", "ClusterIP", "--lockdown"},
			lockdown:    true,
			missing: []string{"create httproutes.gateway.networking.k8s.io in namespace NS", "create certificates.cert-manager.io in namespace NS",
				"list pods in namespace NS", `get configmaps "istio" in namespace istio-system`, "create authorizationpolicies.security.istio.io in namespace NS"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			securedWithPrintedRBAC(t, tc.rbacFlags, tc.secureFlags, tc.lockdown, tc.missing)
		})
	}
}

func securedWithPrintedRBAC(t *testing.T, rbacFlags, secureFlags []string, lockdown bool, missing []string) {
	ctx := context.Background()
	kube := adminKube(t)
	ns := newChatQnA(t, "chatqna")
	if lockdown {
		if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
			t.Fatal(err)
		}
		runCapturedAppPods(t, ns)
		waitForNamespaceConfigMaps(t, ns)
	}
	const account = "opea-operator"
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: account}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	as := "system:serviceaccount:" + ns + ":" + account
	secure := append([]string{"--as", as, "secure", "-n", ns, "--host", ns + ".example.com"}, secureFlags...)
	printRBAC := strings.Join(append([]string{"kubectl opea secure --print-rbac -n", ns}, rbacFlags...), " ")

	refused := opea(t, secure...)
	if refused.code != 1 {
		t.Errorf("without permissions: exit %d, want 1\n%s", refused.code, refused.stderr)
	}
	wants := []string{"error: you lack permissions secure needs: ", "fix: ask a cluster admin to grant them: '" + printRBAC + "' prints the Roles and the ClusterRole"}
	for _, m := range missing {
		wants = append(wants, strings.ReplaceAll(m, "NS", ns))
	}
	for _, want := range wants {
		if !strings.Contains(refused.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, refused.stderr)
		}
	}
	if strings.Contains(refused.stderr, "forbidden") || strings.Count(refused.stderr, "error: ") != 1 {
		t.Errorf("want one error listing the permissions, not the API server's refusals:\n%s", refused.stderr)
	}
	assertNothingWritten(t, ns)

	applyPrintedRBAC(ctx, t, append([]string{"secure", "--print-rbac", "-n", ns}, rbacFlags...), ns, account)

	var secured opeaResult
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		secured = opea(t, secure...)
		return secured.code == 0, nil
	})
	wantApplied := []string{"peerauthentication.security.istio.io/default serverside-applied", "certificate.cert-manager.io/opea-" + ns + "-tls serverside-applied"}
	if lockdown {
		wantApplied = append(wantApplied, "authorizationpolicy.security.istio.io/opea-allow-ingress serverside-applied", "httproute.gateway.networking.k8s.io/")
	}
	for _, want := range wantApplied {
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

// applyPrintedRBAC runs a --print-rbac command, applies what it prints with
// kubectl as the admin, and binds it to ServiceAccount account as the
// printed rolebinding lines say.
func applyPrintedRBAC(ctx context.Context, t *testing.T, printRBAC []string, ns, account string) {
	t.Helper()
	printed := opea(t, printRBAC...)
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
}
