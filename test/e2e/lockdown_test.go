package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/xds"
)

var authorizationPolicyGVR = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "authorizationpolicies"}

// lockdownPolicies are the AuthorizationPolicies secure --lockdown writes.
var lockdownPolicies = []string{"opea-allow-app", "opea-allow-ingress", "opea-deny-by-default"}

// ztunnelAccepted is nil when istiod marked every AuthorizationPolicy of
// ns ZtunnelAccepted, reason Accepted, for its current generation.
func ztunnelAccepted(t *testing.T, ns string) error {
	list, err := adminDynamic(t).Resource(authorizationPolicyGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range list.Items {
		conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
		accepted := false
		for _, c := range conds {
			m, _ := c.(map[string]interface{})
			// Istio writes observedGeneration as a string.
			gen := fmt.Sprint(m["observedGeneration"])
			if m["type"] == "ZtunnelAccepted" && m["status"] == "True" && m["reason"] == "Accepted" && gen == fmt.Sprint(p.GetGeneration()) {
				accepted = true
			}
		}
		if !accepted {
			return fmt.Errorf("AuthorizationPolicy %s/%s is not ZtunnelAccepted (Accepted) at generation %d: %v", ns, p.GetName(), p.GetGeneration(), conds)
		}
	}
	return nil
}

func authorizationPolicies(t *testing.T, ns string) map[string]string {
	t.Helper()
	list, err := adminDynamic(t).Resource(authorizationPolicyGVR).Namespace(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, p := range list.Items {
		out[p.GetName()] = p.GetResourceVersion()
	}
	return out
}

// TestLockdownOnRealIstio: secure --lockdown fences the app's workloads; istiod
// accepts every policy for ztunnel and sends an authorization that admits
// the ingress gateway to the entry workload's port only, the app's own
// workloads to each other, and nobody else; verify passes; the lockdown
// stays on a plain secure, goes with --lockdown=false and with unsecure, and
// the user's own policy is never touched.
func TestLockdownOnRealIstio(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	layout := fixtures.ChartGateway
	installLayout(t, layout)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	ns := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, ns)
	// The user's own policy, which secure and unsecure must leave alone.
	userPolicy, err := controlplane.DecodeManifests([]byte(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: users-own, namespace: "` + ns + `"}
spec:
  action: DENY
  rules:
  - from: [{source: {namespaces: ["blocked"]}}]
`))
	if err != nil {
		t.Fatal(err)
	}
	if err := controlplane.ApplyManifests(ctx, cluster.AdminConfig(), userPolicy); err != nil {
		t.Fatal(err)
	}
	waitForNamespaceConfigMaps(t, ns)
	before := dumpNamespaces(t, ns, gatewayNamespace)

	host := ns + ".example.com"
	names := ownership.NamesFor(ns)
	if r := opea(t, "secure", "-n", ns, "--host", host, "--lockdown"); r.code != 0 {
		t.Fatalf("secure --lockdown: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets(layout.Namespace).Delete(context.Background(), names.TLSSecret, metav1.DeleteOptions{})
	})
	for _, name := range lockdownPolicies {
		if _, ok := authorizationPolicies(t, ns)[name]; !ok {
			t.Errorf("secure --lockdown wrote no AuthorizationPolicy %s", name)
		}
	}
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), layout.Namespace, names.Certificate); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "istiod to accept every policy for ztunnel", func() (bool, error) {
		return ztunnelAccepted(t, ns) == nil, nil
	})

	proxy := gatewayProxy(t, layout)
	gateway := xds.Caller{Principal: principal(proxy.Namespace, proxy.ServiceAccount), Namespace: proxy.Namespace, Port: 80}
	app := xds.Caller{Principal: principal(ns, "default"), Namespace: ns, Port: 80}
	outsider := xds.Caller{Principal: principal("elsewhere", "default"), Namespace: "elsewhere", Port: 80}
	istiodAmbient(t, func(st *xds.AmbientState) error {
		entry, backend := st.Workload(ns, "chatqna-nginx"), st.Workload(ns, "chatqna-backend")
		if entry == nil || backend == nil {
			return fmt.Errorf("istiod does not know the app's workloads yet")
		}
		for _, c := range []struct {
			w      *xds.Workload
			caller xds.Caller
			want   bool
		}{
			{entry, gateway, true},
			{entry, app, true},
			{backend, app, true},
			{entry, outsider, false},
			{backend, outsider, false},
			// The gateway reaches the entry workload only, and only its port.
			{backend, gateway, false},
			{entry, xds.Caller{Principal: gateway.Principal, Namespace: gateway.Namespace, Port: 8080}, false},
		} {
			if got := st.Admits(*c.w, c.caller); got != c.want {
				return fmt.Errorf("ztunnel admits %s on port %d of %s: %v, want %v", c.caller.Principal, c.caller.Port, c.w.Name, got, c.want)
			}
		}
		return nil
	})
	istiodGateway(t, proxy, servesApp(layout, host, names.TLSSecret, entryCluster(ns)))

	// The lockdown's namespace-wide policies do not reach the gateway in
	// its own namespace: clients get the app's answer.
	gw := emulateGateway(t, proxy, ns)
	roots := credentialRoots(t, layout.Namespace, names.TLSSecret)
	waitGatewayServes(t, gw, func() error { return servedThrough(gw, layout, ns, host, roots) })
	probe := probeFlags(t, gw, layout)
	report, r := verifyJSON(t, append([]string{"-n", ns}, probe...)...)
	if r.code != 0 {
		t.Fatalf("verify: exit %d\n%s%s", r.code, describe(report), r.stderr)
	}
	passed := byStatus(report, check.Pass)
	for _, id := range []string{"authorization.ingress-admitted", "authorization.ztunnel-accepted", "authorization.lockdown-intact"} {
		if !contains(passed, id) {
			t.Errorf("verify did not pass %s after secure --lockdown:\n%s", id, describe(report))
		}
	}

	// A node port reaches the entry pods around the gateway: verify warns.
	setServiceType(t, ns, "chatqna-nginx", corev1.ServiceTypeNodePort)
	report, r = verifyJSON(t, append([]string{"-n", ns}, probe...)...)
	if warned := byStatus(report, check.Warn); r.code != 0 || !contains(warned, "authorization.no-bypass-service") {
		t.Errorf("verify with a NodePort entry Service: exit %d, warnings %v, want 0 and authorization.no-bypass-service", r.code, warned)
	}
	setServiceType(t, ns, "chatqna-nginx", corev1.ServiceTypeClusterIP)

	// A plain secure keeps the lockdown as it is.
	first := authorizationPolicies(t, ns)
	if r := opea(t, "secure", "-n", ns, "--host", host); r.code != 0 {
		t.Fatalf("second secure: exit %d\n%s", r.code, r.stderr)
	}
	if diff := cmp.Diff(first, authorizationPolicies(t, ns)); diff != "" {
		t.Errorf("a plain secure changed the lockdown (-before +after):\n%s", diff)
	}
	// --lockdown=false takes secure's policies out, not the user's.
	if r := opea(t, "secure", "-n", ns, "--host", host, "--lockdown=false"); r.code != 0 {
		t.Fatalf("secure --lockdown=false: exit %d\n%s", r.code, r.stderr)
	} else if !strings.Contains(r.stdout, "authorizationpolicy.security.istio.io/opea-deny-by-default deleted") {
		t.Errorf("secure --lockdown=false does not report the removal:\n%s", r.stdout)
	}
	if got := authorizationPolicies(t, ns); len(got) != 1 || got["users-own"] == "" {
		t.Errorf("after --lockdown=false the namespace holds %v, want only users-own", got)
	}

	if r := opea(t, "secure", "-n", ns, "--host", host, "--lockdown"); r.code != 0 {
		t.Fatalf("secure --lockdown again: exit %d\n%s", r.code, r.stderr)
	}
	// One of the lockdown's policies deleted by hand: verify says so.
	if err := adminDynamic(t).Resource(authorizationPolicyGVR).Namespace(ns).Delete(ctx, "opea-allow-app", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	report, r = verifyJSON(t, "-n", ns)
	if failed := byStatus(report, check.Fail); r.code != 1 || !contains(failed, "authorization.lockdown-intact") {
		t.Errorf("verify without opea-allow-app: exit %d, failed %v, want 1 and authorization.lockdown-intact", r.code, failed)
	}
	if r := opea(t, "unsecure", "-n", ns); r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if diff := cmp.Diff(before, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
		t.Errorf("secure --lockdown then unsecure changed the namespaces (-before +after):\n%s", diff)
	}
}

// setServiceType switches Service ns/name to typ; back to ClusterIP, its
// node ports go.
func setServiceType(t *testing.T, ns, name string, typ corev1.ServiceType) {
	t.Helper()
	kube := adminKube(t)
	svc, err := kube.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.Type = typ
	for i := range svc.Spec.Ports {
		if typ == corev1.ServiceTypeClusterIP {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if _, err := kube.CoreV1().Services(ns).Update(context.Background(), svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
