package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/santhosh-tekuri/jsonschema/v6"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	auditcheck "github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/gatewayemulator"
)

var destinationRuleGVR = schema.GroupVersionResource{Group: "networking.istio.io", Version: "v1", Resource: "destinationrules"}

// securedApp is a ChatQnA namespace that secure has secured: Istio's ambient
// data plane and the pods ready on kwok's node, istio-cni's capture of each
// pod simulated, the certificate issued by cert-manager.
type securedApp struct {
	ns, host string
	names    ownership.Names
}

func newSecuredApp(t *testing.T) securedApp {
	t.Helper()
	ctx := context.Background()
	ns := newChatQnA(t, "chatqna")
	app := securedApp{ns: ns, host: ns + ".example.com", names: ownership.NamesFor(ns)}
	kube := adminKube(t)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.CreateAppPods(ctx, kube, ns, "chatqna-nginx", "chatqna-backend", "chatqna-ui"); err != nil {
		t.Fatal(err)
	}
	if r := opea(t, "secure", "-n", ns, "--host", app.host); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), app.names.TLSSecret, metav1.DeleteOptions{})
	})
	if err := fixtures.SimulateAmbientCapture(ctx, kube, ns, "enabled"); err != nil {
		t.Fatal(err)
	}
	for _, cert := range []string{app.names.CACertificate, app.names.Certificate} {
		if _, err := waitIssuedFor(t, gatewayNamespace, cert); err != nil {
			t.Fatal(err)
		}
	}
	return app
}

// newSecuredAppWithOwnSecret is newSecuredApp secured with the user's own
// certificate (secure --tls-secret), made by hand: cert-manager leaves that
// Secret alone, so a test may break it as cert-manager never would (expired,
// wrong SANs, a key missing) and the break stays.
func newSecuredAppWithOwnSecret(t *testing.T) securedApp {
	t.Helper()
	ctx := context.Background()
	ns := newChatQnA(t, "chatqna")
	app := securedApp{ns: ns, host: ns + ".example.com", names: ownership.NamesFor(ns)}
	app.names.TLSSecret = ns + "-own-tls"
	kube := adminKube(t)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.CreateAppPods(ctx, kube, ns, "chatqna-nginx", "chatqna-backend", "chatqna-ui"); err != nil {
		t.Fatal(err)
	}
	ca, cert, key, err := fixtures.IssueTLS([]string{app.host}, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	own := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: app.names.TLSSecret}, Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": ca}}
	if _, err := kube.CoreV1().Secrets(gatewayNamespace).Create(ctx, own, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(context.Background(), app.names.TLSSecret, metav1.DeleteOptions{})
	})
	if r := opea(t, "secure", "-n", ns, "--host", app.host, "--tls-secret", app.names.TLSSecret); r.code != 0 {
		t.Fatalf("secure --tls-secret: %s", r.stderr)
	}
	if err := fixtures.SimulateAmbientCapture(ctx, kube, ns, "enabled"); err != nil {
		t.Fatal(err)
	}
	return app
}

// waitIssuedFor waits for cert-manager to issue Certificate ns/name.
func waitIssuedFor(t *testing.T, ns, name string) ([]byte, error) {
	t.Helper()
	return fixtures.WaitCertificateIssued(context.Background(), adminKube(t), adminDynamic(t), ns, name)
}

// serve starts the gateway emulator, fed by istiod, once it serves the app
// with the certificate the credential Secret holds now, and returns the
// flags that point verify's live probe at it. It waits for kwok to run the
// pods with addresses and for the EndpointSlice controller to list them.
func (a securedApp) serve(t *testing.T) []string {
	t.Helper()
	return probeFlags(t, a.emulate(t), fixtures.ChartGateway)
}

// emulate is serve's gateway emulator, serving the app as istiod
// configures the gateway of layout fixtures.ChartGateway.
func (a securedApp) emulate(t *testing.T) *gatewayemulator.Emulator {
	t.Helper()
	ctx, kube := context.Background(), adminKube(t)
	if err := fixtures.WaitPodsReady(ctx, kube, a.ns, "", 3); err != nil {
		t.Fatal(err)
	}
	waitEntryEndpoints(t, a.ns)
	layout := fixtures.ChartGateway
	gw := emulateGateway(t, gatewayProxy(t, layout), a.ns)
	roots := credentialRoots(t, gatewayNamespace, a.names.TLSSecret)
	waitGatewayServes(t, gw, func() error { return servedThrough(gw, layout, a.ns, a.host, roots) })
	return gw
}

// verifyJSON runs verify -o json and returns the report and exit code.
// matchesOutputSchema checks verify's JSON output against the schema
// docs/verify-output.schema.json publishes.
func matchesOutputSchema(t *testing.T, output string) {
	t.Helper()
	schema, err := jsonschema.NewCompiler().Compile(filepath.Join(controlplane.RepoRoot(), "docs", "verify-output.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(output))
	if err != nil {
		t.Fatal(err)
	}
	if err := schema.Validate(doc); err != nil {
		t.Errorf("verify -o json does not match docs/verify-output.schema.json: %v\n%s", err, output)
	}
}

func verifyJSON(t *testing.T, args ...string) (auditreport.Report, opeaResult) {
	t.Helper()
	r := opea(t, append([]string{"verify", "-o", "json"}, args...)...)
	var report auditreport.Report
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("verify -o json is not JSON: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	return report, r
}

func byStatus(report auditreport.Report, status auditcheck.Status) []string {
	var ids []string
	for _, c := range report.Categories {
		for _, check := range c.Checks {
			if check.Result == status {
				ids = append(ids, check.ID)
			}
		}
	}
	sort.Strings(ids)
	return ids
}

// resultOf is check id's outcome in report.
func resultOf(report auditreport.Report, id string) auditreport.ReportCheck {
	for _, c := range report.Categories {
		for _, check := range c.Checks {
			if check.ID == id {
				return check
			}
		}
	}
	return auditreport.ReportCheck{}
}

func describe(report auditreport.Report) string {
	var b strings.Builder
	for _, c := range report.Categories {
		for _, check := range c.Checks {
			if check.Result == auditcheck.Fail || check.Result == auditcheck.Warn {
				fmt.Fprintf(&b, "  %s %s: %s\n", check.Result, check.ID, check.Message)
			}
		}
	}
	return b.String()
}

// runModelServer runs, behind ChatQnA's Service chatqna-vllm, a model
// server whose Service names its targetPort ("http", port 2080 in the
// pod): verify reads pods as metadata, and learns the pod port from the
// EndpointSlice kube-controller-manager writes. It waits for that slice.
func runModelServer(t *testing.T, ns string) {
	t.Helper()
	ctx, kube := context.Background(), adminKube(t)
	labels := map[string]string{"app.kubernetes.io/name": "chatqna-vllm", "app.kubernetes.io/instance": "chatqna"}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "chatqna-vllm", Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "vllm", Image: "opea/vllm", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 2080}}}}}}
	if _, err := kube.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"spec":{"ports":[{"name":"vllm","port":80,"targetPort":"http"}]}}`)
	if _, err := kube.CoreV1().Services(ns).Patch(ctx, "chatqna-vllm", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.WaitEndpointSlice(ctx, kube, ns, "chatqna-vllm"); err != nil {
		t.Fatal(err)
	}
	// The slice may list the pod under the Service's former targetPort
	// (80) for a while: kube-controller-manager rewrites it after the patch.
	eventually(t, 30*time.Second, "the EndpointSlice of chatqna-vllm to name pod port 2080", func() (bool, error) {
		slices, err := kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=chatqna-vllm"})
		if err != nil {
			return false, err
		}
		for _, s := range slices.Items {
			for _, p := range s.Ports {
				if p.Name != nil && *p.Name == "vllm" && p.Port != nil && *p.Port == 2080 && len(s.Endpoints) > 0 {
					return true, nil
				}
			}
		}
		return false, nil
	})
}

// A healthy setup is secured with the lockdown, its model server behind
// a named targetPort: every check runs and passes, the Reachability
// checks judging the backend at the pod port its EndpointSlice names.
func TestVerifyPassesOnAHealthySetup(t *testing.T) {
	app := newSecuredApp(t)
	runModelServer(t, app.ns)
	ctx := context.Background()
	if err := fixtures.SimulateAmbientCapture(ctx, adminKube(t), app.ns, "enabled"); err != nil {
		t.Fatal(err)
	}
	if r := opea(t, "secure", "-n", app.ns, "--host", app.host, "--lockdown"); r.code != 0 {
		t.Fatalf("secure --lockdown: %s", r.stderr)
	}
	probe := app.serve(t)
	report, r := verifyJSON(t, append([]string{"-n", app.ns}, probe...)...)
	if r.code != 0 || !report.Success {
		t.Fatalf("verify on a healthy setup: exit %d\n%s%s", r.code, describe(report), r.stderr)
	}
	if failed, warned := byStatus(report, auditcheck.Fail), byStatus(report, auditcheck.Warn); len(failed)+len(warned) > 0 {
		t.Errorf("failed %v, warned %v\n%s", failed, warned, describe(report))
	}
	// Every check ran: none is skipped on a healthy, probed setup but the
	// one that says there is no authentication at the gateway.
	if skipped := byStatus(report, auditcheck.Skip); len(skipped) != 1 || skipped[0] != "authentication.configured" {
		t.Errorf("skipped on a healthy setup: %v", skipped)
	}
	if got, want := len(byStatus(report, auditcheck.Pass)), checksFor(auditcheck.ClassicIngress); got != want {
		t.Errorf("%d checks passed, want all %d that judge a classic ingress", got, want)
	}
	matchesOutputSchema(t, r.stdout)
	var vllm *auditreport.ReachabilityRow
	if report.Reachability != nil {
		for i, row := range report.Reachability.Rows {
			if row.Service == "chatqna-vllm" {
				vllm = &report.Reachability.Rows[i]
			}
		}
	}
	if vllm == nil || len(vllm.PodPorts) != 1 || vllm.PodPorts[0] != 2080 {
		t.Errorf("reachability of chatqna-vllm: %+v, want port 80 at pod port 2080", vllm)
	}
	// The matrix as a table: under the lockdown, the model server refuses
	// plaintext, the gateway and other namespaces, and admits the app.
	matrix := opea(t, "verify", "-n", app.ns, "--probe=false", "--reachability")
	t.Logf("verify --reachability:\n%s", matrix.stdout)
	var row []string
	for _, line := range strings.Split(matrix.stdout, "\n") {
		if strings.HasPrefix(line, "chatqna-vllm:80 (2080) ") {
			row = strings.Fields(line)
		}
	}
	if matrix.code != 0 || len(row) < 6 || !cmp.Equal(row[2:6], []string{"refused", "refused", "allowed", "refused"}) {
		t.Errorf("verify --reachability: exit %d, chatqna-vllm's row %q, want refused, refused, allowed, refused:\n%s%s", matrix.code, row, matrix.stdout, matrix.stderr)
	}

	table := opea(t, append([]string{"verify", "-n", app.ns}, probe...)...)
	if table.code != 0 || !strings.Contains(table.stdout, "Verdict: "+app.ns+" is secured") || !strings.Contains(table.stdout, "[ok]   TLS handshake validates for every host") {
		t.Errorf("table output: exit %d\n%s", table.code, table.stdout)
	}
	if strings.ContainsAny(table.stdout, "√×‼\033") {
		t.Errorf("glyphs or colour written to a non-terminal:\n%s", table.stdout)
	}
}

func TestVerifyNamesEachBrokenSetup(t *testing.T) {
	ctx := context.Background()
	kube, dyn := adminKube(t), adminDynamic(t)
	patchSecret := func(t *testing.T, app securedApp, data map[string][]byte) {
		t.Helper()
		s, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, app.names.TLSSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range data {
			s.Data[k] = v
		}
		if _, err := kube.CoreV1().Secrets(gatewayNamespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// reissueByHand replaces the certificate of the app's own Secret with
	// one made by hand, such as cert-manager would never leave in place.
	reissueByHand := func(t *testing.T, app securedApp, hosts []string, validity time.Duration) {
		t.Helper()
		ca, cert, key, err := fixtures.IssueTLS(hosts, validity)
		if err != nil {
			t.Fatal(err)
		}
		patchSecret(t, app, map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": ca})
	}
	applyObject := func(t *testing.T, gvr schema.GroupVersionResource, obj map[string]interface{}) {
		t.Helper()
		u := &unstructured.Unstructured{Object: obj}
		if _, err := dyn.Resource(gvr).Namespace(u.GetNamespace()).Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: "someone-else", Force: true}); err != nil {
			t.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name   string
		id     string
		status auditcheck.Status // Fail unless set
		probe  bool              // run the live probe through the gateway emulator
		// ownSecret secures the app with a hand-made certificate of its own
		// (--tls-secret) instead of cert-manager's: cert-manager would
		// repair a Secret of its own that a case breaks.
		ownSecret bool
		breakIt   func(t *testing.T, app securedApp)
	}{
		{name: "namespace not enrolled", id: "enrolment.namespace-label", breakIt: func(t *testing.T, app securedApp) {
			patch := []byte(`{"metadata":{"labels":{"istio.io/dataplane-mode":null}}}`)
			if _, err := kube.CoreV1().Namespaces().Patch(ctx, app.ns, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "pod opted out", id: "enrolment.no-opt-out", breakIt: func(t *testing.T, app securedApp) {
			patch := []byte(`{"metadata":{"labels":{"istio.io/dataplane-mode":"none"}}}`)
			if _, err := kube.CoreV1().Pods(app.ns).Patch(ctx, "chatqna-ui", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "pod redirection pending", id: "enrolment.pods-redirected", breakIt: func(t *testing.T, app securedApp) {
			patch := []byte(`{"metadata":{"annotations":{"ambient.istio.io/redirection":"pending"}}}`)
			if _, err := kube.CoreV1().Pods(app.ns).Patch(ctx, "chatqna-backend", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "no PeerAuthentication", id: "mtls.namespace-strict", breakIt: func(t *testing.T, app securedApp) {
			if err := dyn.Resource(peerAuthGVR).Namespace(app.ns).Delete(ctx, "default", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "PERMISSIVE namespace policy", id: "mtls.namespace-strict", breakIt: func(t *testing.T, app securedApp) {
			applyObject(t, peerAuthGVR, map[string]interface{}{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
				"metadata": map[string]interface{}{"name": "default", "namespace": app.ns},
				"spec":     map[string]interface{}{"mtls": map[string]interface{}{"mode": "PERMISSIVE"}}})
		}},
		{name: "port-level PERMISSIVE hole", id: "mtls.no-permissive-ports", breakIt: func(t *testing.T, app securedApp) {
			applyObject(t, peerAuthGVR, map[string]interface{}{"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
				"metadata": map[string]interface{}{"name": "backend-metrics", "namespace": app.ns},
				"spec": map[string]interface{}{
					"selector":      map[string]interface{}{"matchLabels": map[string]interface{}{"app.kubernetes.io/name": "chatqna-backend"}},
					"mtls":          map[string]interface{}{"mode": "STRICT"},
					"portLevelMtls": map[string]interface{}{"9090": map[string]interface{}{"mode": "PERMISSIVE"}}}})
		}},
		{name: "Gateway selector matches no pod", id: "ingress.selector-matches", breakIt: func(t *testing.T, app securedApp) {
			patch := []byte(`{"spec":{"selector":{"app":null,"istio":"eastwestgateway"}}}`)
			if _, err := dyn.Resource(gatewayGVR).Namespace(app.ns).Patch(ctx, "opea-ingress", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "Secret in the Gateway's namespace, not the pods'", id: "certificate.secret-present", ownSecret: true, breakIt: func(t *testing.T, app securedApp) {
			s, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, app.names.TLSSecret, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			moved := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.Name}, Type: s.Type, Data: s.Data}
			if _, err := kube.CoreV1().Secrets(app.ns).Create(ctx, moved, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if err := kube.CoreV1().Secrets(gatewayNamespace).Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "Secret with an empty key", id: "certificate.secret-format", ownSecret: true, breakIt: func(t *testing.T, app securedApp) {
			patchSecret(t, app, map[string][]byte{"tls.key": {}})
		}},
		{name: "SANs do not cover the host", id: "certificate.sans", ownSecret: true, breakIt: func(t *testing.T, app securedApp) {
			reissueByHand(t, app, []string{"other.example.com"}, 90*24*time.Hour)
		}},
		{name: "expired certificate", id: "certificate.validity", ownSecret: true, breakIt: func(t *testing.T, app securedApp) {
			reissueByHand(t, app, []string{app.host}, -time.Hour)
		}},
		{name: "certificate expiring soon", id: "certificate.validity", status: auditcheck.Warn, ownSecret: true, breakIt: func(t *testing.T, app securedApp) {
			reissueByHand(t, app, []string{app.host}, 5*24*time.Hour)
		}},
		{name: "cert-manager Certificate not Ready", id: "certificate.cert-manager-ready", breakIt: func(t *testing.T, app securedApp) {
			// Pointed at an issuer that does not exist, the Certificate
			// no longer matches its Secret and cannot be issued again:
			// cert-manager's readiness controller marks it not Ready.
			patch := []byte(`{"spec":{"issuerRef":{"name":"no-such-issuer"}}}`)
			if _, err := dyn.Resource(certificateGVR).Namespace(gatewayNamespace).Patch(ctx, app.names.Certificate, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "cert-manager to mark the Certificate not Ready", func() (bool, error) {
				cert := getObject(t, certificateGVR, gatewayNamespace, app.names.Certificate)
				conditions, _, _ := unstructured.NestedSlice(cert.Object, "status", "conditions")
				for _, c := range conditions {
					if c, _ := c.(map[string]interface{}); c["type"] == "Ready" {
						return c["status"] == "False", nil
					}
				}
				return false, nil
			})
		}},
		{name: "VirtualService gateway reference without namespace across namespaces", id: "routing.gateway-ref", breakIt: func(t *testing.T, app securedApp) {
			other := newNamespace(t)
			applyObject(t, virtualSvcGVR, map[string]interface{}{"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
				"metadata": map[string]interface{}{"name": "ui", "namespace": other},
				"spec": map[string]interface{}{"hosts": []interface{}{app.host}, "gateways": []interface{}{"opea-ingress"},
					"http": []interface{}{map[string]interface{}{"route": []interface{}{map[string]interface{}{"destination": map[string]interface{}{
						"host": "chatqna-chatqna-ui." + app.ns + ".svc.cluster.local", "port": map[string]interface{}{"number": int64(5174)}}}}}}}})
		}},
		{name: "destination Service missing", id: "routing.destination-exists", breakIt: func(t *testing.T, app securedApp) {
			if err := kube.CoreV1().Services(app.ns).Delete(ctx, "chatqna-nginx", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "two conflicting Gateways", id: "ingress.no-conflicts", breakIt: func(t *testing.T, app securedApp) {
			other := newNamespace(t)
			applyObject(t, gatewayGVR, map[string]interface{}{"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
				"metadata": map[string]interface{}{"name": "legacy", "namespace": other},
				"spec": map[string]interface{}{"selector": map[string]interface{}{"app": "istio-ingress", "istio": "ingress"},
					"servers": []interface{}{map[string]interface{}{"port": map[string]interface{}{"number": int64(443), "name": "https-legacy", "protocol": "HTTPS"},
						"hosts": []interface{}{app.host}, "tls": map[string]interface{}{"mode": "SIMPLE", "credentialName": "legacy-tls"}}}}})
			// istiod keeps the older Gateway's server: make ours the
			// younger, as when it is applied again after the other one.
			// creationTimestamp has a resolution of one second.
			time.Sleep(1100 * time.Millisecond)
			gateways := adminDynamic(t).Resource(gatewayGVR).Namespace(app.ns)
			ours, err := gateways.Get(ctx, "opea-ingress", metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := gateways.Delete(ctx, "opea-ingress", metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
			ours = &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": ours.GetAPIVersion(), "kind": ours.GetKind(),
				"metadata": map[string]interface{}{"name": ours.GetName(), "namespace": ours.GetNamespace(), "labels": toInterfaceMap(ours.GetLabels())},
				"spec":     ours.Object["spec"]}}
			if _, err := gateways.Create(ctx, ours, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "DestinationRule with TLS", id: "mtls.destinationrule-tls", status: auditcheck.Warn, breakIt: func(t *testing.T, app securedApp) {
			applyObject(t, destinationRuleGVR, map[string]interface{}{"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
				"metadata": map[string]interface{}{"name": "backend", "namespace": app.ns},
				"spec": map[string]interface{}{"host": "chatqna." + app.ns + ".svc.cluster.local",
					"trafficPolicy": map[string]interface{}{"tls": map[string]interface{}{"mode": "ISTIO_MUTUAL"}}}})
		}},
		{name: "probe served another certificate", id: "probe.served-certificate", probe: true, ownSecret: true, breakIt: func(t *testing.T, app securedApp) {
			// The listener keeps serving the old certificate; the Secret
			// now holds another one, for one more name: not a later issue
			// of the served one (certificate.served-current's finding).
			s, err := kube.CoreV1().Secrets(gatewayNamespace).Get(ctx, app.names.TLSSecret, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			ca, cert, key, err := fixtures.IssueTLS([]string{app.host, "www." + app.host}, 90*24*time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			s.Data["tls.crt"], s.Data["tls.key"] = cert, key
			s.Data["ca.crt"] = append(s.Data["ca.crt"], ca...)
			if _, err := kube.CoreV1().Secrets(gatewayNamespace).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "gateway serves the certificate from before a renewal", id: "certificate.served-current", probe: true, breakIt: func(t *testing.T, app securedApp) {
			// cert-manager renews the certificate (as cmctl renew asks); the
			// listener keeps the one it loaded.
			before, err := dyn.Resource(fixtures.CertificateGVR).Namespace(gatewayNamespace).Get(ctx, app.names.Certificate, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			revision, _, _ := unstructured.NestedInt64(before.Object, "status", "revision")
			renewNow(t, app.names.Certificate)
			eventually(t, time.Minute, "cert-manager to renew the certificate", func() (bool, error) {
				u, err := dyn.Resource(fixtures.CertificateGVR).Namespace(gatewayNamespace).Get(ctx, app.names.Certificate, metav1.GetOptions{})
				if err != nil {
					return false, err
				}
				now, _, _ := unstructured.NestedInt64(u.Object, "status", "revision")
				return now > revision && certificateReady(u), fmt.Errorf("revision %d", now)
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var app securedApp
			if tc.ownSecret {
				app = newSecuredAppWithOwnSecret(t)
			} else {
				app = newSecuredApp(t)
			}
			args := []string{"-n", app.ns}
			if tc.probe {
				args = append(args, app.serve(t)...)
			}
			tc.breakIt(t, app)
			report, r := verifyJSON(t, args...)
			want := tc.status
			if want == "" {
				want = auditcheck.Fail
			}
			wantCode := 1
			if want == auditcheck.Warn {
				wantCode = 0
			}
			if r.code != wantCode || report.Success != (wantCode == 0) {
				t.Errorf("exit %d (success %v), want %d", r.code, report.Success, wantCode)
			}
			failed := byStatus(report, auditcheck.Fail)
			// A namespace not STRICT is one cause, one failure: the ports it
			// opens are listed by reachability.plaintext-refused, skipped.
			if tc.id == "mtls.namespace-strict" {
				if got := resultOf(report, "reachability.plaintext-refused"); got.Result != auditcheck.Skip || !strings.Contains(got.Message, "chatqna-nginx:80") ||
					!strings.HasSuffix(got.Message, "mtls.namespace-strict names them and their policies") {
					t.Errorf("reachability.plaintext-refused: %s %q, want skipped, naming the entry port and mtls.namespace-strict", got.Result, got.Message)
				}
			}
			if want == auditcheck.Fail {
				if len(failed) != 1 || failed[0] != tc.id {
					t.Errorf("failed checks %v, want exactly [%s]\n%s", failed, tc.id, describe(report))
				}
			} else {
				if len(failed) != 0 {
					t.Errorf("failed checks %v, want none\n%s", failed, describe(report))
				}
				warned := byStatus(report, auditcheck.Warn)
				found := false
				for _, id := range warned {
					found = found || id == tc.id
				}
				if !found {
					t.Errorf("warnings %v lack %s\n%s", warned, tc.id, describe(report))
				}
			}
			// The table and the short form give the same exit code.
			for _, output := range []string{"table", "short"} {
				if other := opea(t, append([]string{"verify", "-o", output}, args...)...); other.code != r.code {
					t.Errorf("-o %s exits %d, -o json %d", output, other.code, r.code)
				} else if want == auditcheck.Fail && !strings.Contains(other.stdout, "["+tc.id+"]") {
					t.Errorf("-o %s does not name %s:\n%s", output, tc.id, other.stdout)
				}
			}
		})
	}
}

// The manual procedure, applied exactly as OPEA's guide does it: verify names
// what it leaves undone.
func TestVerifyNamesTheDefectsOfTheManualProcedure(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	waitNamespaceGone(t, "chatqna")
	newChatQnAIn(t, "chatqna", "chatqna")
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.CreateAppPods(ctx, kube, "chatqna", "chatqna-nginx", "chatqna-backend"); err != nil {
		t.Fatal(err)
	}
	ctxNamespace := newNamespace(t) // the kube context's namespace, where the seed's objects land
	t.Cleanup(func() {
		_ = adminDynamic(t).Resource(certificateGVR).Namespace(gatewayNamespace).Delete(ctx, "istio-gateway", metav1.DeleteOptions{})
		_ = adminDynamic(t).Resource(issuerGVR).Namespace(gatewayNamespace).Delete(ctx, "ca-issuer", metav1.DeleteOptions{})
		_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(ctx, "istio-gateway", metav1.DeleteOptions{})
	})
	applySeedManifests(t, ctxNamespace, "chatqna")
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), gatewayNamespace, "istio-gateway"); err != nil {
		t.Fatal(err)
	}

	report, r := verifyJSON(t, "-n", "chatqna")
	if r.code != 1 {
		t.Errorf("exit %d, want 1", r.code)
	}
	failed := byStatus(report, auditcheck.Fail)
	for _, want := range []string{"enrolment.namespace-label", "enrolment.pods-redirected"} {
		found := false
		for _, id := range failed {
			found = found || id == want
		}
		if !found {
			t.Errorf("verify does not name the defect %s; failed: %v\n%s", want, failed, describe(report))
		}
	}
	if passed := byStatus(report, auditcheck.Pass); !contains(passed, "mtls.namespace-strict") || !contains(passed, "routing.gateway-ref") || !contains(passed, "certificate.sans") {
		t.Errorf("what the guide gets right should pass; passed: %v\n%s", passed, describe(report))
	}
	t.Logf("verify on the manual procedure:\n%s", describe(report))
}

// checksFor is the number of checks verify runs on an app served through
// one kind of ingress.
func checksFor(kind auditcheck.IngressKind) int {
	n := 0
	for _, c := range auditcheck.Catalogue {
		// Without authentication at the gateway, its category has no check
		// that passes.
		if c.Category == auditcheck.CategoryAuthentication {
			continue
		}
		if c.Ingress == auditcheck.AnyIngress || c.Ingress == kind {
			n++
		}
	}
	return n
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitNamespaceGone waits until an earlier test's namespace name is free.
func waitNamespaceGone(t *testing.T, name string) {
	t.Helper()
	eventually(t, 60*time.Second, "namespace "+name+" to be deleted", func() (bool, error) {
		_, err := adminKube(t).CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

// An audit that could not run exits 3; bad flags exit 2.
func TestVerifyCouldNotRunExitsThree(t *testing.T) {
	for _, output := range []string{"table", "short", "json"} {
		missing := opea(t, "verify", "-o", output, "-n", "no-such-namespace")
		if missing.code != 3 || !strings.Contains(missing.stderr, `namespace "no-such-namespace" does not exist`) {
			t.Errorf("-o %s, missing namespace: exit %d, stderr %q", output, missing.code, missing.stderr)
		}
		unreachable := opea(t, "verify", "-o", output, "-n", "chatqna", "--server", "https://127.0.0.1:1", "--insecure-skip-tls-verify")
		if unreachable.code != 3 || !strings.Contains(unreachable.stderr, "cannot reach the cluster") {
			t.Errorf("-o %s, unreachable: exit %d, stderr %q", output, unreachable.code, unreachable.stderr)
		}
		if output == "json" {
			var report auditreport.Report
			if err := json.Unmarshal([]byte(unreachable.stdout), &report); err != nil || report.Error == "" || report.Success {
				t.Errorf("-o json when the audit cannot run: %v %q", err, unreachable.stdout)
			}
		}
	}
	if bad := opea(t, "verify", "-n", "x", "-o", "yml"); bad.code != 2 {
		t.Errorf("bad -o: exit %d", bad.code)
	}
	for _, args := range [][]string{{"--probe-address", "gateway"}, {"--probe-address", "127.0.0.1:99999"}, {"--wait", "0s"}, {"--wait", "--timeout", "0s"}, {"--probe-timeout", "-1s"}} {
		if bad := opea(t, append([]string{"verify", "-n", "x"}, args...)...); bad.code != 2 || !strings.Contains(bad.stderr, "--help' for usage") {
			t.Errorf("%v: exit %d, stderr %q", args, bad.code, bad.stderr)
		}
	}
}

// A user who may read only in the application's namespace: verify runs every
// check whose inputs it could read, marks the others unknown naming what they
// lacked, lists every refused read once at the end and exits 3; the API
// server's refusals are not dumped.
func TestVerifyNamespaceScopedUserGetsEveryCheckItCan(t *testing.T) {
	app := newSecuredApp(t)
	grantLimitedUser(t, "opea-verify-"+app.ns, app.ns, []rbacv1.PolicyRule{
		{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"get", "list", "watch"}},
	})
	limited := kubeconfigFor(t, limitedUser)
	podsRefused := snapshot.Access{Verb: "list", Resource: "pods", Namespace: app.ns}
	var (
		r      opeaResult
		report auditreport.Report
	)
	eventually(t, 10*time.Second, "RBAC to take effect", func() (bool, error) {
		r = opeaWith(t, limited, "verify", "-n", app.ns, "-o", "json")
		report = auditreport.Report{}
		if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
			return false, fmt.Errorf("%v: %s%s", err, r.stdout, r.stderr)
		}
		return len(report.MissingPermissions) > 0 && !contains(accessStrings(report.MissingPermissions), podsRefused.String()), nil
	})
	if r.code != 3 || report.Success {
		t.Errorf("exit %d (success %v), want 3\n%s", r.code, report.Success, r.stderr)
	}
	wantMissing := []string{
		"list authorizationpolicies.security.istio.io in every namespace",
		"list clusterrolebindings.rbac.authorization.k8s.io",
		"list clusterroles.rbac.authorization.k8s.io",
		"list configmaps in every namespace",
		"list daemonsets.apps in every namespace",
		"list deployments.apps in every namespace",
		"list destinationrules.networking.istio.io in every namespace",
		"list gatewayclasses.gateway.networking.k8s.io",
		"list gateways.gateway.networking.k8s.io in every namespace",
		"list gateways.networking.istio.io in every namespace",
		"list httproutes.gateway.networking.k8s.io in every namespace",
		"list peerauthentications.security.istio.io in every namespace",
		"list referencegrants.gateway.networking.k8s.io in every namespace",
		"list requestauthentications.security.istio.io in every namespace",
		"list services in every namespace",
		"list virtualservices.networking.istio.io in every namespace",
	}
	if diff := cmp.Diff(wantMissing, accessStrings(report.MissingPermissions)); diff != "" {
		t.Errorf("missing permissions (-want +got):\n%s", diff)
	}
	// RBAC authorizes getting namespace X as a request in namespace X: the
	// Role lets the user read its labels.
	// The mesh root is read in the application's namespace.
	wantRan := []string{"certificate.mesh-root-expiry", "certificate.mesh-root-single", "cluster.api-reachable", "cluster.cert-manager-api", "cluster.istio-apis",
		"enrolment.namespace-label", "enrolment.no-opt-out", "enrolment.no-sidecar-injection", "enrolment.pods-redirected"}
	if diff := cmp.Diff(wantRan, byStatus(report, auditcheck.Pass)); diff != "" {
		t.Errorf("checks that ran and passed (-want +got):\n%s", diff)
	}
	if unknown := byStatus(report, auditcheck.Unknown); len(unknown)+len(wantRan) != len(auditcheck.Catalogue) {
		t.Errorf("unknown %v: every other check should be\n%s", unknown, describe(report))
	}
	for _, c := range report.Categories {
		for _, check := range c.Checks {
			if check.Result == auditcheck.Unknown && !strings.HasPrefix(check.Message, "not run: you may not ") {
				t.Errorf("%s: %q does not name what it may not read", check.ID, check.Message)
			}
		}
	}
	matchesOutputSchema(t, r.stdout)

	table := opeaWith(t, limited, "verify", "-n", app.ns)
	wantEnd := "\nyou lack permissions to read:\n  " + strings.Join(wantMissing, "\n  ") + "\nfix: " + snapshot.PermissionHint + "\n"
	if table.code != 3 || !strings.HasSuffix(table.stdout, wantEnd) {
		t.Errorf("table: exit %d, the report does not end with the missing permissions:\n%s", table.code, table.stdout)
	}
	for _, out := range []opeaResult{r, table} {
		if text := out.stdout + out.stderr; strings.Contains(text, "is forbidden") || strings.Contains(text, "cannot list resource") || strings.Contains(text, `User "limited"`) {
			t.Errorf("the API server's error text is dumped:\n%s", text)
		}
	}
	if want := "error: " + fmt.Sprint(report.Summary.Unknown) + " checks could not run"; !strings.HasPrefix(table.stderr, want) {
		t.Errorf("stderr %q, want %q...", table.stderr, want)
	}
}

func accessStrings(as []snapshot.Access) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

// --wait re-runs failing checks until they pass: here, until the certificate
// is issued.
func TestVerifyWaitsForACertificateBeingIssued(t *testing.T) {
	ctx := context.Background()
	ns := newChatQnA(t, "chatqna")
	names := ownership.NamesFor(ns)
	kube := adminKube(t)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	// cert-manager holds the certificate until the issuer has its CA.
	held, err := fixtures.CreateHeldIssuer(ctx, adminDynamic(t), gatewayNamespace, "held-"+ns)
	if err != nil {
		t.Fatal(err)
	}
	if r := opea(t, "secure", "-n", ns, "--host", ns+".example.com", "--issuer", held.Name); r.code != 0 {
		t.Fatalf("secure: %s", r.stderr)
	}
	t.Cleanup(func() {
		_ = kube.CoreV1().Secrets(gatewayNamespace).Delete(ctx, names.TLSSecret, metav1.DeleteOptions{})
		held.Delete(ctx, kube, adminDynamic(t))
	})
	// No pods: nothing to capture; only the certificate is missing.
	if r := opea(t, "verify", "-n", ns); r.code != 1 || !strings.Contains(r.stdout, "[certificate.secret-present]") {
		t.Fatalf("before issuance: exit %d\n%s", r.code, r.stdout)
	}
	// Not issued in time: exit 124, as every --wait, with the report.
	if r := opea(t, "verify", "-n", ns, "--wait", "--timeout", "3s"); r.code != 124 ||
		!strings.Contains(r.stdout, "[certificate.secret-present]") || !strings.Contains(r.stderr, "timed out after 3s") {
		t.Errorf("verify --wait --timeout 3s: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
	}
	done := make(chan opeaResult, 2)
	go func() { done <- opea(t, "verify", "-n", ns, "--wait", "--timeout", "60s") }()
	// The older form still works, with a note.
	go func() { done <- opea(t, "verify", "-n", ns, "--wait", "60s") }()
	time.Sleep(3 * time.Second)
	if err := held.Release(ctx, adminDynamic(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := waitIssuedFor(t, gatewayNamespace, names.Certificate); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := <-done
		if r.code != 0 || !strings.Contains(r.stderr, "Waiting for certificate.secret-present") {
			t.Errorf("verify --wait: exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stderr, "deprecated") != strings.Contains(r.stderr, "--wait --timeout 1m0s") {
			t.Errorf("deprecation note: %s", r.stderr)
		}
	}
}

func toInterfaceMap(m map[string]string) map[string]interface{} {
	out := map[string]interface{}{}
	for k, v := range m {
		out[k] = v
	}
	return out
}
