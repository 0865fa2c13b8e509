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
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	auditcheck "github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
)

// The gateway Service of the local cluster has no load balancer address, as
// on kind or minikube: verify probes the gateway through a port-forward to
// one of its pods, through the API server. kwok, which runs the gateway pod,
// sends what the port-forward carries to the gateway emulator (a
// ClusterPortForward), which serves what istiod configures the gateway with.
// A user who may read everything but not port-forward gets the probe skipped
// with that reason, and verify still passes. A port-forward that kwok does
// not carry is a could-not-check, never a pass.
func TestVerifyProbesThroughAPortForward(t *testing.T) {
	ctx, kube := context.Background(), adminKube(t)
	layout := fixtures.ChartGateway
	app := newSecuredApp(t)
	gw := app.emulate(t)

	svc, err := kube.CoreV1().Services(layout.Namespace).Get(ctx, layout.Service, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(svc.Status.LoadBalancer.Ingress) > 0 {
		t.Fatalf("the gateway Service has a load balancer address %v: this test is about a cluster without one", svc.Status.LoadBalancer.Ingress)
	}
	pod := firstReadyPod(t, layout.Namespace, layout.PodLabels)
	stop, err := controlplane.ForwardPodPorts(ctx, cluster.AdminConfig(), "e2e-"+app.ns, layout.Namespace, pod,
		map[int32]string{int32(layout.HTTPSTarget): gw.Addr(layout.HTTPSTarget), int32(layout.HTTPTarget): gw.Addr(layout.HTTPTarget)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	via := "via port-forward to " + layout.Namespace + "/" + pod

	t.Run("passes through the port-forward", func(t *testing.T) {
		var (
			report auditreport.Report
			r      opeaResult
		)
		// kwok takes up the ClusterPortForward within moments.
		eventually(t, 30*time.Second, "verify to probe through the port-forward", func() (bool, error) {
			report, r = verifyJSON(t, "-n", app.ns)
			handshake := checkOf(report, "probe.tls-handshake")
			return handshake.Result == auditcheck.Pass, fmt.Errorf("%s: %s", handshake.Result, handshake.Message)
		})
		if r.code != 0 || !report.Success {
			t.Fatalf("exit %d\n%s%s", r.code, describe(report), r.stderr)
		}
		for _, id := range []string{"probe.tls-handshake", "probe.served-certificate", "probe.https-route", "probe.http-redirect"} {
			c := checkOf(report, id)
			if c.Result != auditcheck.Pass || !strings.Contains(c.Message, via) {
				t.Errorf("%s: %s %q, want a pass labelled %q", id, c.Result, c.Message, via)
			}
		}
		if msg := checkOf(report, "probe.tls-handshake").Message; !strings.Contains(msg, app.host) || !strings.Contains(msg, "does not cover the gateway Service and its load balancer") {
			t.Errorf("probe.tls-handshake does not name the host and what the port-forward leaves out: %q", msg)
		}
		// --probe-via address never port-forwards: there is no address.
		noAddress, _ := verifyJSON(t, "-n", app.ns, "--probe-via", "address")
		if c := checkOf(noAddress, "probe.tls-handshake"); c.Result != auditcheck.Warn || !strings.Contains(c.Message, "no address to probe") {
			t.Errorf("--probe-via address: %s %q, want the warning that there is no address", c.Result, c.Message)
		}
	})

	t.Run("skipped without permission to port-forward", func(t *testing.T) {
		as := verifierWithoutPortForward(t, app.ns)
		want := "not probed: you may not create pods/portforward in namespace " + layout.Namespace
		var (
			report auditreport.Report
			r      opeaResult
		)
		eventually(t, 30*time.Second, "RBAC to take effect", func() (bool, error) {
			report, r = verifyJSON(t, "-n", app.ns, "--as", as)
			return r.code == 0, fmt.Errorf("exit %d: %s%s", r.code, describe(report), r.stderr)
		})
		if !report.Success || len(report.MissingPermissions) > 0 {
			t.Errorf("success %v, missing permissions %v", report.Success, report.MissingPermissions)
		}
		for _, id := range []string{"probe.tls-handshake", "probe.served-certificate", "probe.https-route", "probe.http-redirect"} {
			if c := checkOf(report, id); c.Result != auditcheck.Skip || !strings.HasPrefix(c.Message, want) {
				t.Errorf("%s: %s %q, want skipped: %q", id, c.Result, c.Message, want)
			}
		}
		// Asked for, the port-forward is refused the same way: a skip, not a failure.
		if forced, r := verifyJSON(t, "-n", app.ns, "--as", as, "--probe-via", "port-forward"); r.code != 0 || checkOf(forced, "probe.tls-handshake").Result != auditcheck.Skip {
			t.Errorf("--probe-via port-forward: exit %d, %+v", r.code, checkOf(forced, "probe.tls-handshake"))
		}
	})

	t.Run("could not check where kwok carries no port-forward", func(t *testing.T) {
		stop()
		var report auditreport.Report
		eventually(t, 30*time.Second, "kwok to drop the ClusterPortForward", func() (bool, error) {
			report, _ = verifyJSON(t, "-n", app.ns)
			c := checkOf(report, "probe.tls-handshake")
			return c.Result == auditcheck.Warn, fmt.Errorf("%s: %s", c.Result, c.Message)
		})
		c := checkOf(report, "probe.tls-handshake")
		if !strings.Contains(c.Message, "could not check, the probe did not reach the gateway ("+via+")") || !strings.Contains(c.Message, "the port-forward failed") {
			t.Errorf("probe.tls-handshake: %q, want the failed port-forward named", c.Message)
		}
		for _, id := range []string{"probe.served-certificate", "probe.https-route", "probe.http-redirect", "certificate.served-current"} {
			if c := checkOf(report, id); c.Result != auditcheck.Skip {
				t.Errorf("%s: %s %q, want skipped: nothing was probed", id, c.Result, c.Message)
			}
		}
	})
}

// firstReadyPod is the first, by name, of the ready pods of ns with
// podLabels: the pod verify port-forwards to.
func firstReadyPod(t *testing.T, ns string, podLabels map[string]string) string {
	t.Helper()
	pods, err := adminKube(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: labels.Set(podLabels).String()})
	if err != nil {
		t.Fatal(err)
	}
	var ready []string
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if p.DeletionTimestamp == nil && c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
				ready = append(ready, p.Name)
			}
		}
	}
	if len(ready) == 0 {
		t.Fatalf("no ready pod in %s with labels %v", ns, podLabels)
	}
	sort.Strings(ready)
	return ready[0]
}

// verifierWithoutPortForward is a ServiceAccount of ns, given as --as,
// that may read everything verify reads and ask the SubjectAccessReviews it
// asks, but may not port-forward: get on every resource includes
// pods/portforward, create does not.
func verifierWithoutPortForward(t *testing.T, ns string) string {
	t.Helper()
	ctx, kube := context.Background(), adminKube(t)
	name := "opea-verifier-" + ns
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "opea-verifier"}}
	if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, sa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: name}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
		{APIGroups: []string{"authorization.k8s.io"}, Resources: []string{"subjectaccessreviews"}, Verbs: []string{"create"}},
	}}
	if _, err := kube.RbacV1().ClusterRoles().Create(ctx, role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: name},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: name},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: sa.Name, Namespace: ns}}}
	if _, err := kube.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.RbacV1().ClusterRoleBindings().Delete(context.Background(), name, metav1.DeleteOptions{})
		_ = kube.RbacV1().ClusterRoles().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return "system:serviceaccount:" + ns + ":" + sa.Name
}

// checkOf is check id of report, zero when it is not there.
func checkOf(report auditreport.Report, id string) auditreport.ReportCheck {
	for _, c := range report.Categories {
		for _, check := range c.Checks {
			if check.ID == id {
				return check
			}
		}
	}
	return auditreport.ReportCheck{}
}
