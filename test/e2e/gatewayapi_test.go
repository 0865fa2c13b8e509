package e2e

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// These tests run secure --gateway-api against the real istiod: istiod
// deploys the gateway, writes the Gateway's and the routes' status, and
// renders the gateway's configuration; verify and unsecure are judged by
// what it did.

var (
	apiGatewayGVR = gatewayapi.Gateways("v1")
	httpRouteGVR  = gatewayapi.HTTPRoutes("v1")
)

// gatewayAPIName is the Gateway secure --gateway-api creates.
const gatewayAPIName = "opea-ingress"

// servesAppOver is the gateway configuration that works for host, with
// the credential as istiod names it over SDS: kubernetes://<secret> for an
// Istio Gateway's credentialName (servesApp), kubernetes-gateway://<ns>/<secret>
// for a Gateway API listener's certificateRef.
func servesAppOver(layout fixtures.GatewayLayout, host, sds, cluster string) func(*xds.GatewayConfig) error {
	return servesAppWith(layout, host, []string{sds}, cluster)
}

// servesAppWith is servesAppOver for a filter chain that serves exactly
// the certificates of sds, in order.
func servesAppWith(layout fixtures.GatewayLayout, host string, sds []string, cluster string) func(*xds.GatewayConfig) error {
	return func(cfg *xds.GatewayConfig) error {
		secrets := cfg.SecretFor(layout.HTTPSTarget, host)
		if !slices.Equal(secrets, sds) {
			return fmt.Errorf("port %d serves %s with secrets %v, want %v", layout.HTTPSTarget, host, secrets, sds)
		}
		if got := cfg.ClusterOn(layout.HTTPSTarget, host); got != cluster {
			return fmt.Errorf("port %d routes %s to %q, want %q", layout.HTTPSTarget, host, got, cluster)
		}
		if !cfg.RedirectsToHTTPS(layout.HTTPTarget, host) {
			return fmt.Errorf("port %d does not redirect %s to HTTPS", layout.HTTPTarget, host)
		}
		return nil
	}
}

func gatewayCredential(ns, secret string) string { return "kubernetes-gateway://" + ns + "/" + secret }

// strictForPods is strictFor for the named pods of ns only: a namespace
// that holds a Gateway API gateway also holds its pods, which Istio keeps
// out of ztunnel on purpose.
func strictForPods(ns string, pods []string) func(*xds.AmbientState) error {
	return func(st *xds.AmbientState) error {
		found := 0
		for _, w := range st.WorkloadsIn(ns) {
			if !contains(pods, w.Name) {
				continue
			}
			found++
			if !w.Ambient() {
				return fmt.Errorf("workload %s is not captured (tunnel protocol %q)", w.Name, w.TunnelProtocol)
			}
		}
		if found != len(pods) {
			return fmt.Errorf("istiod knows %d of the %d app workloads in %s", found, len(pods), ns)
		}
		if len(st.StrictPolicies(ns)) == 0 {
			return fmt.Errorf("no STRICT policy applies to the workloads of %s", ns)
		}
		return nil
	}
}

// gatewayStatus reads the Gateway ns/name as the API has it.
func gatewayStatus(t *testing.T, ns, name string) (gatewayapi.Gateway, error) {
	u, err := adminDynamic(t).Resource(apiGatewayGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return gatewayapi.Gateway{}, err
	}
	return gatewayapi.DecodeGateway(u)
}

// routeStatus reads the HTTPRoute ns/name as the API has it.
func routeStatus(t *testing.T, ns, name string) (gatewayapi.HTTPRoute, error) {
	u, err := adminDynamic(t).Resource(httpRouteGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return gatewayapi.HTTPRoute{}, err
	}
	return gatewayapi.DecodeHTTPRoute(u)
}

// statusServes is what istiod's status says of the Gateway ns/gateway and
// the routes attached to its listener "https": nil when the Gateway is
// Accepted and Programmed at its generation with an address, the listener
// resolved and programmed, and every route Accepted and resolved for it.
func statusServes(t *testing.T, ns, gateway string, routes ...string) error {
	return statusServesRoutesOf(t, ns, gateway, ns, routes...)
}

// statusServesRoutesOf is statusServes for a Gateway in ns whose routes are
// in routeNamespace.
func statusServesRoutesOf(t *testing.T, ns, gateway, routeNamespace string, routes ...string) error {
	gw, err := gatewayStatus(t, ns, gateway)
	if err != nil {
		return err
	}
	for _, c := range []string{"Accepted", "Programmed"} {
		if !gatewayapi.IsTrue(gw.Status.Conditions, c, gw.Generation) {
			return fmt.Errorf("Gateway %s/%s is not %s: %+v", ns, gateway, c, gatewayapi.FindCondition(gw.Status.Conditions, c))
		}
	}
	if len(gw.Status.Addresses) == 0 {
		return fmt.Errorf("Gateway %s/%s has no address", ns, gateway)
	}
	ls := gw.ListenerStatus("https")
	if ls == nil {
		return fmt.Errorf("Gateway %s/%s has no status for listener https", ns, gateway)
	}
	for _, c := range []string{"ResolvedRefs", "Programmed"} {
		if !gatewayapi.IsTrue(ls.Conditions, c, gw.Generation) {
			return fmt.Errorf("listener https is not %s: %+v", c, gatewayapi.FindCondition(ls.Conditions, c))
		}
	}
	for _, name := range routes {
		r, err := routeStatus(t, routeNamespace, name)
		if err != nil {
			return err
		}
		if len(r.Status.Parents) == 0 {
			return fmt.Errorf("HTTPRoute %s/%s has no parent status", routeNamespace, name)
		}
		for _, p := range r.Status.Parents {
			for _, c := range []string{"Accepted", "ResolvedRefs"} {
				if !gatewayapi.IsTrue(p.Conditions, c, r.Generation) {
					return fmt.Errorf("HTTPRoute %s/%s is not %s for %s: %+v", routeNamespace, name, c, p.ParentRef.Name, gatewayapi.FindCondition(p.Conditions, c))
				}
			}
		}
	}
	return nil
}

// waitStatusServes waits until istiod's status says the app is served.
func waitStatusServes(t *testing.T, ns, gateway string, routes ...string) {
	t.Helper()
	eventually(t, 30*time.Second, "istiod's status to say the app is served", func() (bool, error) {
		err := statusServes(t, ns, gateway, routes...)
		return err == nil, err
	})
}

// ourGatewayAPIObjects are the resourceVersions of what secure wrote into
// ns, by kind and name.
func ourGatewayAPIObjects(t *testing.T, ns string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, gvr := range []schema.GroupVersionResource{apiGatewayGVR, httpRouteGVR, certificateGVR, issuerGVR, peerAuthGVR, authorizationPolicyGVR} {
		list, err := adminDynamic(t).Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{LabelSelector: ownership.Selector(ns)})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range list.Items {
			out[gvr.Resource+"/"+u.GetName()] = u.GetResourceVersion()
		}
	}
	return out
}

func TestGatewayAPISecureVerifyUnsecureOnRealIstio(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	ns := newChatQnA(t, "chatqna")
	pods := runCapturedAppPods(t, ns)
	waitForNamespaceConfigMaps(t, ns)
	before := dumpNamespaces(t, ns)

	host := ns + ".example.com"
	names := ownership.NamesFor(ns)
	secure := []string{"secure", "-n", ns, "--host", host, "--gateway-api", "--gateway-service-type", "ClusterIP", "--lockdown"}
	// A server-side dry run prints what would be applied and writes nothing.
	dry := opea(t, append(secure, "--dry-run=server", "-o", "yaml")...)
	if dry.code != 0 {
		t.Fatalf("secure --gateway-api --dry-run=server: exit %d\n%s", dry.code, dry.stderr)
	}
	for _, want := range []string{"apiVersion: gateway.networking.k8s.io/v1", "kind: Gateway\n", "kind: HTTPRoute", "networking.istio.io/service-type: ClusterIP"} {
		if !strings.Contains(dry.stdout, want) {
			t.Errorf("the dry run's YAML lacks %q:\n%s", want, dry.stdout)
		}
	}
	if diff := cmp.Diff(before, dumpNamespaces(t, ns)); diff != "" {
		t.Fatalf("a dry run changed the namespace:\n%s", diff)
	}
	if r := opea(t, secure...); r.code != 0 {
		t.Fatalf("secure --gateway-api: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), ns, names.Certificate); err != nil {
		t.Fatal(err)
	}
	layout := fixtures.DeployedGateway(ns, gatewayAPIName)
	if err := fixtures.WaitDeployedGatewayReady(ctx, kube, layout); err != nil {
		t.Fatal(err)
	}
	// istiod took the Gateway: Accepted, Programmed with an address, the
	// routes attached.
	waitStatusServes(t, ns, gatewayAPIName, "opea-ingress", "opea-ingress-redirect")
	gw, err := gatewayStatus(t, ns, gatewayAPIName)
	if err != nil {
		t.Fatal(err)
	}
	if want := layout.Service + "." + ns + ".svc.cluster.local"; gw.Status.Addresses[0].Value != want {
		t.Errorf("Gateway address %q, want the ClusterIP Service's name %q", gw.Status.Addresses[0].Value, want)
	}
	proxy := gatewayProxy(t, layout)
	istiodGateway(t, proxy, servesAppOver(layout, host, gatewayCredential(ns, names.TLSSecret), entryCluster(ns)))
	istiodAmbient(t, strictForPods(ns, pods))
	// With --lockdown, ztunnel admits the gateway Istio deployed, by its
	// own service account, to the entry workload only.
	gateway := xds.Caller{Principal: principal(ns, layout.Service), Namespace: ns, Port: 80}
	istiodAmbient(t, func(st *xds.AmbientState) error {
		entry, backend := st.Workload(ns, "chatqna-nginx"), st.Workload(ns, "chatqna-backend")
		if entry == nil || backend == nil {
			return fmt.Errorf("istiod does not know the app's workloads yet")
		}
		if !st.Admits(*entry, gateway) || st.Admits(*backend, gateway) {
			return fmt.Errorf("ztunnel admits %s to the entry workload: %v, to the backend: %v; want only the entry", gateway.Principal, st.Admits(*entry, gateway), st.Admits(*backend, gateway))
		}
		return nil
	})

	// The gateway istiod deployed in the app's namespace falls under the
	// lockdown's namespace-wide policies too: istiod gives its HTTP filter
	// chains an RBAC ALLOW that only the app's mTLS principals match. The
	// lockdown's opea-allow-gateway-clients, bound to the Gateway, admits
	// clients there: the gateway serves the app's answer over TLS and
	// redirects plain HTTP (without it, both ports answered 403: issue 20,
	// finding 1; TestRecordedGatewayAPILockdownTurnsClientsAway keeps the
	// configuration istiod sent then).
	emulator := emulateGateway(t, proxy, ns)
	roots := credentialRoots(t, ns, names.TLSSecret)
	waitGatewayServes(t, emulator, func() error { return servedThrough(emulator, layout, ns, host, roots) })
	report, r := verifyJSON(t, append([]string{"-n", ns}, probeFlags(t, emulator, layout)...)...)
	if r.code != 0 {
		t.Fatalf("verify: exit %d, failed %v\n%s%s", r.code, byStatus(report, check.Fail), describe(report), r.stderr)
	}
	if !contains(byStatus(report, check.Pass), "authorization.gateway-admits-clients") {
		t.Errorf("verify did not pass authorization.gateway-admits-clients\n%s", describe(report))
	}

	if warned := byStatus(report, check.Warn); len(warned) > 0 {
		t.Errorf("verify warns on the Gateway API install: %v\n%s", warned, describe(report))
	}
	passed := byStatus(report, check.Pass)
	for _, id := range []string{"ingress.gateway-found", "enrolment.no-opt-out", "enrolment.pods-redirected", "certificate.sans", "probe.tls-handshake", "authorization.ingress-admitted", "authorization.lockdown-intact"} {
		if !contains(passed, id) {
			t.Errorf("verify did not pass %s on the Gateway API install; passed: %v", id, passed)
		}
	}
	gatewayAPIChecks := 0
	for _, id := range passed {
		if strings.HasPrefix(id, "gatewayapi.") {
			gatewayAPIChecks++
		}
		if id == "ingress.selector-matches" {
			t.Errorf("verify ran the classic gateway check %s on a Gateway API install", id)
		}
	}
	if gatewayAPIChecks == 0 {
		t.Errorf("verify passed no Gateway API check: %v", passed)
	}

	// Securing again changes nothing.
	first := ourGatewayAPIObjects(t, ns)
	if r := opea(t, secure...); r.code != 0 {
		t.Fatalf("second secure: exit %d\n%s", r.code, r.stderr)
	}
	if diff := cmp.Diff(first, ourGatewayAPIObjects(t, ns)); diff != "" {
		t.Errorf("a second secure --gateway-api rewrote objects (-first +second):\n%s", diff)
	}

	// Without the lockdown, a user's namespace-wide ALLOW of the
	// namespace's own callers shuts the gateway: the emulator answers 403,
	// and verify fails, naming the policy, on the policy and on the probe's
	// answer. (With the lockdown, opea-allow-gateway-clients still admits
	// clients: ALLOW policies admit what any of them matches.)
	if r := opea(t, append(secure, "--lockdown=false")...); r.code != 0 {
		t.Fatalf("secure --lockdown=false: exit %d\n%s", r.code, r.stderr)
	}
	shut := renderObjects(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: own-namespace, namespace: "{{.NS}}"}
spec:
  rules: [{from: [{source: {namespaces: ["{{.NS}}"]}}]}]
`, differentialData{NS: ns})
	if err := controlplane.ApplyManifests(ctx, cluster.AdminConfig(), shut); err != nil {
		t.Fatal(err)
	}
	waitGatewayServes(t, emulator, func() error {
		got, err := askGateway(emulator, layout.HTTPSTarget, "https", host, roots)
		if err != nil {
			return err
		}
		if got.status != http.StatusForbidden || got.body != "RBAC: access denied" {
			return fmt.Errorf("GET https://%s/ answered %d %q, want the gateway's RBAC denial", host, got.status, got.body)
		}
		return nil
	})
	shutReport, r := verifyJSON(t, append([]string{"-n", ns}, probeFlags(t, emulator, layout)...)...)
	failed := byStatus(shutReport, check.Fail)
	if r.code != 1 || !contains(failed, "authorization.gateway-admits-clients") || !contains(failed, "probe.https-route") ||
		!strings.Contains(describe(shutReport), ns+"/own-namespace") {
		t.Errorf("verify with a namespace-wide ALLOW shutting the gateway: exit %d, failed %v\n%s", r.code, failed, describe(shutReport))
	}
	deleteObjects(t, shut)
	waitGatewayServes(t, emulator, func() error { return servedThrough(emulator, layout, ns, host, roots) })

	// Without the redirect, the Gateway has no HTTP listener: the redirect
	// route goes too, rather than stay attached to nothing.
	if r := opea(t, append(secure, "--http-redirect=false")...); r.code != 0 {
		t.Fatalf("secure --http-redirect=false: exit %d\n%s", r.code, r.stderr)
	} else if !strings.Contains(r.stdout, "httproute.gateway.networking.k8s.io/opea-ingress-redirect deleted") {
		t.Errorf("secure --http-redirect=false does not report the redirect route's removal:\n%s", r.stdout)
	}
	if _, err := routeStatus(t, ns, "opea-ingress-redirect"); !apierrors.IsNotFound(err) {
		t.Errorf("the redirect route is still there after --http-redirect=false: %v", err)
	}

	r = opea(t, "unsecure", "-n", ns)
	if r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{
		"gateway.gateway.networking.k8s.io/opea-ingress deleted\n",
		"httproute.gateway.networking.k8s.io/opea-ingress deleted\n",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("unsecure output lacks %q:\n%s", want, r.stdout)
		}
	}
	// Istio's Deployment, its pods, Service and ServiceAccount go with the
	// Gateway that owns them.
	eventually(t, 60*time.Second, "the deployed gateway to be garbage collected", func() (bool, error) {
		_, err := kube.AppsV1().Deployments(ns).Get(ctx, layout.Service, metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			return false, nil
		}
		left, err := kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: layout.PodLabelSelector()})
		return err == nil && len(left.Items) == 0, err
	})
	eventually(t, 30*time.Second, "the namespace to be as before secure", func() (bool, error) {
		return cmp.Equal(before, dumpNamespaces(t, ns)), nil
	})
}

// TestClassicAndGatewayAPIAppsCoexist secures one app through the shared
// classic gateway and another through its own Gateway API gateway: istiod
// serves each host on its own gateway only, and removing one leaves the
// other served.
func TestClassicAndGatewayAPIAppsCoexist(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	classic := fixtures.ChartGateway
	installLayout(t, classic)
	classicNs := newChatQnAIn(t, namespaceName(t)+"-classic", "chatqna")
	apiNs := newChatQnAIn(t, namespaceName(t)+"-api", "chatqna")
	classicHost, apiHost := classicNs+".example.com", apiNs+".example.com"

	if r := opea(t, "secure", "-n", classicNs, "--host", classicHost); r.code != 0 {
		t.Fatalf("secure (classic): exit %d\n%s", r.code, r.stderr)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets(classic.Namespace).Delete(context.Background(), ownership.NamesFor(classicNs).TLSSecret, metav1.DeleteOptions{})
	})
	if r := opea(t, "secure", "-n", apiNs, "--host", apiHost, "--gateway-api", "--gateway-service-type", "ClusterIP"); r.code != 0 {
		t.Fatalf("secure --gateway-api: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), apiNs, ownership.NamesFor(apiNs).Certificate); err != nil {
		t.Fatal(err)
	}
	layout := fixtures.DeployedGateway(apiNs, gatewayAPIName)
	if err := fixtures.WaitDeployedGatewayReady(ctx, kube, layout); err != nil {
		t.Fatal(err)
	}
	waitStatusServes(t, apiNs, gatewayAPIName, "opea-ingress", "opea-ingress-redirect")

	classicProxy, apiProxy := gatewayProxy(t, classic), gatewayProxy(t, layout)
	classicServed := servesApp(classic, classicHost, ownership.NamesFor(classicNs).TLSSecret, entryCluster(classicNs))
	apiServed := servesAppOver(layout, apiHost, gatewayCredential(apiNs, ownership.NamesFor(apiNs).TLSSecret), entryCluster(apiNs))
	istiodGateway(t, classicProxy, func(cfg *xds.GatewayConfig) error {
		return errors.Join(classicServed(cfg), servesNothingFor(classic, apiHost)(cfg))
	})
	istiodGateway(t, apiProxy, func(cfg *xds.GatewayConfig) error {
		return errors.Join(apiServed(cfg), servesNothingFor(layout, classicHost)(cfg))
	})

	// Each app's verify finds its own kind of ingress.
	for _, c := range []struct{ ns, only string }{{classicNs, "ingress.selector-matches"}, {apiNs, "gatewayapi."}} {
		report, _ := verifyJSON(t, "-n", c.ns)
		found := false
		for _, cat := range report.Categories {
			for _, check := range cat.Checks {
				found = found || strings.HasPrefix(check.ID, c.only)
			}
		}
		if !found {
			t.Errorf("verify -n %s ran no %s check:\n%s", c.ns, c.only, describe(report))
		}
		if failed := failedIn(report, check.CategoryIngress, check.CategoryRouting); len(failed) > 0 {
			t.Errorf("verify -n %s fails %v", c.ns, failed)
		}
	}

	if r := opea(t, "unsecure", "-n", apiNs); r.code != 0 {
		t.Fatalf("unsecure (Gateway API): exit %d\n%s", r.code, r.stderr)
	}
	istiodGateway(t, classicProxy, classicServed)
	if r := opea(t, "unsecure", "-n", classicNs); r.code != 0 {
		t.Fatalf("unsecure (classic): exit %d\n%s", r.code, r.stderr)
	}
	istiodGateway(t, classicProxy, servesNothingFor(classic, classicHost))
}
