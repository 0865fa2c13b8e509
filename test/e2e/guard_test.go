package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/faultproxy"
)

// The one-mode-at-a-time guard fails closed. With an application secured
// through the classic ingress gateway, secure --gateway-api must see that
// Gateway before writing a second ingress: when the read fails (the API
// server answers 500) or is refused (a user who may not read Istio
// Gateways, and may do everything else), it refuses, exit 1, and the two
// namespaces are as they were.
func TestModeGuardRefusesWhenTheOtherModeCannotBeRead(t *testing.T) {
	ns := newChatQnA(t, "chatqna")
	host := ns + ".example.com"
	if r := opea(t, "secure", "-n", ns, "--host", host); r.code != 0 {
		t.Fatalf("secure (classic): exit %d\n%s", r.code, r.stderr)
	}
	// The namespaces are compared before and after: cert-manager's
	// controllers must be done issuing what secure asked for first.
	settleIssuance(t, ns)
	t.Cleanup(func() {
		_ = adminKube(t).CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), ownership.NamesFor(ns).TLSSecret, metav1.DeleteOptions{})
	})
	secureGatewayAPI := []string{"secure", "-n", ns, "--host", host, "--gateway-api", "--gateway-service-type", "ClusterIP"}
	gatewayName := ownership.NamesFor(ns).Gateway
	what := fmt.Sprintf("could not check that namespace %s is not secured through an Istio ingress gateway already: ", ns)

	t.Run("the read answered 500", func(t *testing.T) {
		before := dumpNamespaces(t, ns, gatewayNamespace)
		path := "/networking.istio.io/v1/namespaces/" + ns + "/gateways/" + gatewayName
		rule := &faultproxy.Rule{Status: http.StatusInternalServerError, Message: "injected 500",
			Match: func(r *http.Request) bool { return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, path) }}
		p, kubeconfig := viaHTTPProxy(t, rule)
		r := opeaWith(t, kubeconfig, secureGatewayAPI...)
		if p.Broken(rule) == 0 {
			t.Fatalf("secure --gateway-api never read the classic Gateway:\n%s", r.stderr)
		}
		// A failing API server is cluster trouble, as in every command
		// (exit 3): the read named, one fix.
		want := "error: the API server failed: " + what + fmt.Sprintf("get gateways.networking.istio.io %q in namespace %s: ", gatewayName, ns)
		if r.code != 3 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "fix: ") != 1 ||
			!strings.Contains(r.stderr, fmt.Sprintf("request: GET gateways.networking.istio.io %q in namespace %s answered 500", gatewayName, ns)) {
			t.Errorf("exit %d, want 3 with %q, the request and one fix\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
		}
		if diff := cmp.Diff(before, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
			t.Errorf("secure --gateway-api wrote although it could not check the other mode (-before +after):\n%s", diff)
		}
	})

	t.Run("a user who may not read Istio Gateways", func(t *testing.T) {
		all := []string{"*"}
		grantLimitedUser(t, "opea-guard-"+ns, "", []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"namespaces", "services", "pods", "secrets", "configmaps", "serviceaccounts"}, Verbs: all},
			{APIGroups: []string{"apps"}, Resources: []string{"deployments"}, Verbs: []string{"get", "list"}},
			{APIGroups: []string{"security.istio.io", "gateway.networking.k8s.io", "cert-manager.io"}, Resources: all, Verbs: all},
			// Istio's networking API but its Gateways.
			{APIGroups: []string{"networking.istio.io"}, Resources: []string{"virtualservices", "destinationrules"}, Verbs: all},
		})
		before := dumpNamespaces(t, ns, gatewayNamespace)
		// secure asks first whether it may make every read it needs: the
		// guard's read is the one it may not.
		want := "you lack permissions secure needs: get gateways.networking.istio.io in namespace " + ns + "\n"
		var r opeaResult
		eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
			r = opeaWith(t, kubeconfigFor(t, limitedUser), secureGatewayAPI...)
			return strings.Contains(r.stderr, want) || r.code == 0, nil
		})
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Errorf("exit %d, want 1 with %q\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
		}
		// Everything else was readable: the guard alone refused.
		if n := strings.Count(r.stderr, "fix: "); n != 1 {
			t.Errorf("%d problems, want the guard's only:\n%s", n, r.stderr)
		}
		if diff := cmp.Diff(before, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
			t.Errorf("secure --gateway-api wrote although it could not check the other mode (-before +after):\n%s", diff)
		}
	})
}

// The callers secure --lockdown recorded are validated when read back, as
// --allow-principal is: a record edited to admit every identity makes a
// plain secure refuse with nothing written, and verify fails
// authorization.lockdown-intact; so does a wildcard written into the
// policy itself, which a plain secure then renders away.
func TestLockdownRecordEditedToAWildcard(t *testing.T) {
	ctx := context.Background()
	ns := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, ns)
	host := ns + ".example.com"
	const prometheus = "cluster.local/ns/monitoring/sa/prometheus"
	if r := opea(t, "secure", "-n", ns, "--host", host, "--lockdown", "--allow-principal", prometheus); r.code != 0 {
		t.Fatalf("secure --lockdown: exit %d\n%s", r.code, r.stderr)
	}
	settleIssuance(t, ns)
	t.Cleanup(func() {
		_ = adminKube(t).CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), ownership.NamesFor(ns).TLSSecret, metav1.DeleteOptions{})
	})
	lockdownIntact := func(t *testing.T) (check.Status, string) {
		t.Helper()
		report, _ := verifyJSON(t, "-n", ns)
		for _, c := range report.Categories {
			for _, check := range c.Checks {
				if check.ID == "authorization.lockdown-intact" {
					return check.Result, check.Message
				}
			}
		}
		t.Fatalf("verify ran no authorization.lockdown-intact:\n%s", describe(report))
		return "", ""
	}
	if status, message := lockdownIntact(t); status != check.Pass {
		t.Fatalf("authorization.lockdown-intact after secure --lockdown: %s %s", status, message)
	}
	allowApp := ownership.NamesFor(ns).AllowApp
	patch := func(t *testing.T, body string) {
		t.Helper()
		// As kubectl annotate and kubectl patch send it.
		if _, err := adminDynamic(t).Resource(authorizationPolicyGVR).Namespace(ns).Patch(ctx, allowApp, types.MergePatchType, []byte(body),
			metav1.PatchOptions{FieldManager: "kubectl-annotate"}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("the record", func(t *testing.T) {
		edited := "*," + prometheus
		patch(t, `{"metadata":{"annotations":{"`+ownership.AllowPrincipalsAnnotation+`":"`+edited+`"}}}`)
		before := dumpNamespaces(t, ns, gatewayNamespace)
		r := opea(t, "secure", "-n", ns, "--host", host)
		want := fmt.Sprintf("AuthorizationPolicy %s/%s: annotation %s=%q is not what secure --lockdown records", ns, allowApp, ownership.AllowPrincipalsAnnotation, edited)
		wantFix := "fix: run kubectl opea secure -n " + ns + " --host " + host + " --lockdown --force-conflicts --allow-principal <caller> for each caller"
		if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, wantFix) {
			t.Errorf("plain secure: exit %d, want 1 with %q\nstdout:\n%s\nstderr:\n%s", r.code, want, r.stdout, r.stderr)
		}
		if diff := cmp.Diff(before, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
			t.Errorf("a plain secure wrote over a bad record (-before +after):\n%s", diff)
		}
		report, vr := verifyJSON(t, "-n", ns)
		if failed := byStatus(report, check.Fail); vr.code != 1 || !contains(failed, "authorization.lockdown-intact") {
			t.Errorf("verify: exit %d, failed %v, want 1 and authorization.lockdown-intact", vr.code, failed)
		}
		// The fix: secure --lockdown with the callers meant rewrites the
		// record, taking it back from the tool that edited it.
		if r := opea(t, "secure", "-n", ns, "--host", host, "--lockdown", "--force-conflicts", "--allow-principal", prometheus); r.code != 0 {
			t.Fatalf("secure --lockdown again: exit %d\n%s", r.code, r.stderr)
		}
		if status, message := lockdownIntact(t); status != check.Pass {
			t.Errorf("authorization.lockdown-intact after secure --lockdown again: %s %s", status, message)
		}
	})

	t.Run("the policy", func(t *testing.T) {
		patch(t, `{"spec":{"rules":[{"from":[{"source":{"principals":["*"]}}]}]}}`)
		if status, message := lockdownIntact(t); status != check.Fail || !strings.Contains(message, "opea-allow-app admits principals with a wildcard (*)") {
			t.Errorf("authorization.lockdown-intact with principals [*]: %s %s", status, message)
		}
		// A plain secure renders what it wrote, from the valid record,
		// taking the rules back from the tool that edited them.
		if r := opea(t, "secure", "-n", ns, "--host", host, "--force-conflicts"); r.code != 0 {
			t.Fatalf("plain secure: exit %d\n%s", r.code, r.stderr)
		}
		if status, message := lockdownIntact(t); status != check.Pass {
			t.Errorf("authorization.lockdown-intact after a plain secure: %s %s", status, message)
		}
	})
}

// The record of what --force-conflicts took over is read back as secure
// writes it: edited to give back a field no apply takes over, it makes
// unsecure and secure refuse before writing or removing anything; restored,
// unsecure gives the label back.
func TestEditedTakeoverRecordIsRefused(t *testing.T) {
	ctx := context.Background()
	ns := newChatQnA(t, "chatqna")
	host := ns + ".example.com"
	kube := adminKube(t)
	if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, []byte(`{"metadata":{"labels":{"istio.io/dataplane-mode":"none"}}}`),
		metav1.PatchOptions{FieldManager: "kubectl-label"}); err != nil {
		t.Fatal(err)
	}
	if r := opea(t, "secure", "-n", ns, "--host", host, "--force-conflicts"); r.code != 0 {
		t.Fatalf("secure --force-conflicts: exit %d\n%s", r.code, r.stderr)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), ownership.NamesFor(ns).TLSSecret, metav1.DeleteOptions{})
	})
	// The namespaces are compared before and after each refusal: cert-manager
	// is to be done with its writes (the next private key's Secret) first.
	settleIssuance(t, ns)
	annotate := func(t *testing.T, record string) {
		t.Helper()
		body, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"annotations": map[string]string{ownership.TakeoversAnnotation: record}}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kube.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType, body, metav1.PatchOptions{FieldManager: "kubectl-annotate"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	original := got.Annotations[ownership.TakeoversAnnotation]
	if !strings.Contains(original, `"manager":"kubectl-label"`) {
		t.Fatalf("secure --force-conflicts recorded %q", original)
	}

	annotate(t, `[{"path":["metadata","name"],"manager":"kubectl-label","value":"elsewhere"}]`)
	before := dumpNamespaces(t, ns, gatewayNamespace)
	want := "namespace/" + ns + ": annotation " + ownership.TakeoversAnnotation + " is not what kubectl opea secure records: entry 1: path metadata.name is no field an apply takes over"
	for _, args := range [][]string{{"unsecure", "-n", ns}, {"secure", "-n", ns, "--host", host}} {
		r := opea(t, args...)
		if r.code != 1 || !strings.Contains(r.stderr, want) || !strings.Contains(r.stderr, "fix: restore it as secure wrote it, or remove it") {
			t.Errorf("%v: exit %d, want 1 with %q\nstdout:\n%s\nstderr:\n%s", args, r.code, want, r.stdout, r.stderr)
		}
		if diff := cmp.Diff(before, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
			t.Errorf("%v changed the namespaces despite the edited record (-before +after):\n%s", args, diff)
		}
	}

	annotate(t, original)
	r := opea(t, "unsecure", "-n", ns)
	if r.code != 0 || !strings.Contains(r.stdout, "namespace/"+ns+" label istio.io/dataplane-mode=none restored") {
		t.Errorf("unsecure with the record restored: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
