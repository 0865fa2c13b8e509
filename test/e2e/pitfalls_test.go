package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	auditcheck "github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/xds"
)

var (
	networkPolicyGVR      = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"}
	peerAuthenticationGVR = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "peerauthentications"}
)

// applyYAML applies manifests (for namespace ns) as the admin.
func applyYAML(t *testing.T, manifests string) {
	t.Helper()
	objs, err := controlplane.DecodeManifests([]byte(manifests))
	if err != nil {
		t.Fatal(err)
	}
	if err := controlplane.ApplyManifests(context.Background(), cluster.AdminConfig(), objs); err != nil {
		t.Fatal(err)
	}
}

// deleteObject deletes ns/name of gvr, gone or not.
func deleteObject(t *testing.T, gvr schema.GroupVersionResource, ns, name string) {
	t.Helper()
	err := adminDynamic(t).Resource(gvr).Namespace(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
}

// reportCheck is check id of report.
func reportCheck(report auditreport.Report, id string) auditreport.ReportCheck {
	for _, c := range report.Categories {
		for _, check := range c.Checks {
			if check.ID == id {
				return check
			}
		}
	}
	return auditreport.ReportCheck{}
}

// pitfallVerdict runs verify on ns (no probe) and asks that check id ends
// status with a message holding each of want, and that no other check
// fails or warns: each pitfall is named by its own check.
func pitfallVerdict(t *testing.T, ns, id string, status auditcheck.Status, want ...string) {
	t.Helper()
	report, r := verifyJSON(t, "-n", ns, "--probe=false")
	got := reportCheck(report, id)
	if got.Result != status {
		t.Errorf("%s = %s %q, want %s\n%s", id, got.Result, got.Message, status, describe(report))
		return
	}
	for _, w := range want {
		if !strings.Contains(got.Message+" "+got.Hint, w) {
			t.Errorf("%s: %q (fix %q) lacks %q", id, got.Message, got.Hint, w)
		}
	}
	for _, other := range append(byStatus(report, auditcheck.Fail), byStatus(report, auditcheck.Warn)...) {
		if other != id && !allowedBeside[id][other] {
			t.Errorf("%s also %s: %q", other, reportCheck(report, other).Result, reportCheck(report, other).Message)
		}
	}
	wantCode := 0
	if status == auditcheck.Fail {
		wantCode = 1
	}
	if r.code != wantCode {
		t.Errorf("verify with %s %s: exit %d, want %d", id, status, r.code, wantCode)
	}
}

// allowedBeside are the checks a pitfall makes fail too, by design: the
// ALLOW on claims of OPEA's add-on is authorization.ztunnel-accepted's.
var allowedBeside = map[string]map[string]bool{
	"pitfalls.l7-policy-enforced": {"authorization.ztunnel-accepted": true},
}

// ztunnelAcceptedCondition is the ZtunnelAccepted condition istiod wrote on
// AuthorizationPolicy ns/name for its current generation, nil before.
func ztunnelAcceptedCondition(t *testing.T, ns, name string) map[string]interface{} {
	t.Helper()
	p, err := adminDynamic(t).Resource(authorizationPolicyGVR).Namespace(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	conds, _, _ := unstructured.NestedSlice(p.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]interface{})
		if m["type"] == "ZtunnelAccepted" && fmt.Sprint(m["observedGeneration"]) == fmt.Sprint(p.GetGeneration()) {
			return m
		}
	}
	return nil
}

// serviceCondition is condition typ istiod wrote on Service ns/name, nil
// before.
func serviceCondition(t *testing.T, ns, name, typ string) *metav1.Condition {
	t.Helper()
	svc, err := adminKube(t).CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range svc.Status.Conditions {
		if svc.Status.Conditions[i].Type == typ {
			return &svc.Status.Conditions[i]
		}
	}
	return nil
}

// On the real API server and istiod, each ambient pitfall set up in a
// secured ChatQnA fails (or warns) its check, alone, and its healthy twin is
// quiet; where istiod acts on the setup (ztunnel's authorization, the status
// it writes on policies and Services), what it does agrees with the check.
func TestVerifyNamesEachAmbientPitfall(t *testing.T) {
	ctx := context.Background()
	app := newSecuredApp(t)
	ns := app.ns
	kube := adminKube(t)
	if r := opea(t, "verify", "-n", ns, "--probe=false"); r.code != 0 {
		t.Fatalf("verify before any pitfall: exit %d\n%s", r.code, r.stdout)
	}

	t.Run("a NetworkPolicy without HBONE", func(t *testing.T) {
		// No policyTypes: the API server defaults them to Ingress.
		applyYAML(t, `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: app-ports, namespace: `+ns+`}
spec:
  podSelector: {}
  ingress:
  - ports: [{port: 80}, {port: 8888}, {port: 5174}]
`)
		np, err := adminDynamic(t).Resource(networkPolicyGVR).Namespace(ns).Get(ctx, "app-ports", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if types, _, _ := unstructured.NestedStringSlice(np.Object, "spec", "policyTypes"); len(types) != 1 || types[0] != "Ingress" {
			t.Errorf("the API server defaulted policyTypes to %v", types)
		}
		pitfallVerdict(t, ns, "pitfalls.networkpolicy-admits-hbone", auditcheck.Fail,
			"NetworkPolicies app-ports isolate chatqna-backend, chatqna-nginx, chatqna-ui and admit no TCP 15008",
			"kubectl patch networkpolicy app-ports -n "+ns)
		// The healthy twin: a range through 15008 beside it.
		applyYAML(t, `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: hbone, namespace: `+ns+`}
spec:
  podSelector: {}
  policyTypes: [Ingress]
  ingress:
  - ports: [{protocol: TCP, port: 15000, endPort: 15010}]
`)
		pitfallVerdict(t, ns, "pitfalls.networkpolicy-admits-hbone", auditcheck.Pass, "TCP 15008 admitted to the 3 pods NetworkPolicies isolate")
		deleteObject(t, networkPolicyGVR, ns, "app-ports")
		deleteObject(t, networkPolicyGVR, ns, "hbone")
	})

	t.Run("a principal of a missing service account", func(t *testing.T) {
		applyYAML(t, `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-retired, namespace: `+ns+`}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-backend}}
  action: DENY
  rules:
  - from: [{source: {principals: ["cluster.local/ns/`+ns+`/sa/retired-usvc", "cluster.local/ns/elsewhere/sa/default"]}}]
`)
		eventually(t, 30*time.Second, "istiod to accept deny-retired for ztunnel", func() (bool, error) { return ztunnelAccepted(t, ns) == nil, nil })
		pitfallVerdict(t, ns, "pitfalls.principals-exist", auditcheck.Warn,
			ns+"/deny-retired principals cluster.local/ns/"+ns+"/sa/retired-usvc (no ServiceAccount retired-usvc in namespace "+ns+")",
			"1 naming other namespaces not judged")
		if _, err := kube.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "retired-usvc"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		pitfallVerdict(t, ns, "pitfalls.principals-exist", auditcheck.Pass, "every service account the policies name in namespace "+ns+" exists")
		deleteObject(t, authorizationPolicyGVR, ns, "deny-retired")
	})

	t.Run("OPEA's authN-authZ add-on", func(t *testing.T) {
		app := xds.Caller{Principal: principal(ns, "default"), Namespace: ns, Port: 8888}
		backendAdmits := func(want bool) {
			istiodAmbient(t, func(st *xds.AmbientState) error {
				w := st.Workload(ns, "chatqna-backend")
				if w == nil {
					return fmt.Errorf("istiod does not know chatqna-backend yet")
				}
				if got := st.Admits(*w, app); got != want {
					return fmt.Errorf("ztunnel admits the application's own calls to chatqna-backend: %v, want %v", got, want)
				}
				return nil
			})
		}
		backendAdmits(true)
		// As GenAIInfra's helm-chart-based add-on writes them, on the
		// megaservice's pods.
		applyYAML(t, `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt-keycloak, namespace: `+ns+`}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-backend}}
  jwtRules:
  - issuer: http://keycloak.example.com/realms/opea
    jwksUri: http://keycloak.example.com/realms/opea/protocol/openid-connect/certs
    outputPayloadToHeader: jwt-parsed
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: router, namespace: `+ns+`}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-backend}}
  action: ALLOW
  rules:
  - when:
    - {key: "request.auth.claims[iss]", values: ["http://keycloak.example.com/realms/opea"]}
    - {key: "request.auth.claims[preferred_username]", values: ["mary"]}
`)
		// istiod keeps the policy for ztunnel without its HTTP rules, and says so.
		var cond map[string]interface{}
		eventually(t, 30*time.Second, "istiod's ZtunnelAccepted on router", func() (bool, error) {
			cond = ztunnelAcceptedCondition(t, ns, "router")
			return cond != nil, nil
		})
		if cond["status"] != "True" || cond["reason"] != "UnsupportedValue" ||
			!strings.Contains(fmt.Sprint(cond["message"]), "ztunnel does not support HTTP attributes (found: request.auth.claims[iss], request.auth.claims[preferred_username])") {
			t.Errorf("istiod's ZtunnelAccepted on router: %v", cond)
		}
		// What is left at ztunnel is an ALLOW of nothing: the application's
		// own calls to the megaservice are refused, token or not.
		backendAdmits(false)
		pitfallVerdict(t, ns, "pitfalls.l7-policy-enforced", auditcheck.Fail,
			"RequestAuthentication "+ns+"/jwt-keycloak (issuer http://keycloak.example.com/realms/opea) validates no token: no proxy at the pods reads HTTP (selects chatqna-backend)",
			"AuthorizationPolicy "+ns+"/router (ALLOW on request.auth.claims[iss], request.auth.claims[preferred_username]) keeps no rule at ztunnel: an ALLOW of nothing, every connection to the pods is refused",
			"--auth jwt --jwt-issuer http://keycloak.example.com/realms/opea --jwks-uri http://keycloak.example.com/realms/opea/protocol/openid-connect/certs")
		report, _ := verifyJSON(t, "-n", ns, "--probe=false")
		if z := reportCheck(report, "authorization.ztunnel-accepted"); z.Result != auditcheck.Fail || !strings.Contains(z.Message, ns+"/router") {
			t.Errorf("authorization.ztunnel-accepted = %s %q", z.Result, z.Message)
		}
		deleteObject(t, authorizationPolicyGVR, ns, "router")
		deleteObject(t, requestAuthenticationGVR, ns, "jwt-keycloak")
		backendAdmits(true)
		// The healthy twin: the token check bound to a Service's waypoint.
		applyYAML(t, `
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: jwt-on-waypoint, namespace: `+ns+`}
spec:
  targetRefs: [{kind: Service, group: "", name: chatqna}]
  jwtRules: [{issuer: http://keycloak.example.com/realms/opea}]
`)
		pitfallVerdict(t, ns, "pitfalls.l7-policy-enforced", auditcheck.Pass, "no RequestAuthentication")
		deleteObject(t, requestAuthenticationGVR, ns, "jwt-on-waypoint")
	})

	t.Run("a Service naming a missing waypoint", func(t *testing.T) {
		svc, err := kube.CoreV1().Services(ns).Get(ctx, "chatqna-tei", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		svc.Labels["istio.io/use-waypoint"] = "no-such-waypoint"
		if _, err := kube.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		// istiod binds no waypoint, and says why on the Service.
		var cond *metav1.Condition
		eventually(t, 30*time.Second, "istiod's istio.io/WaypointBound on chatqna-tei", func() (bool, error) {
			cond = serviceCondition(t, ns, "chatqna-tei", "istio.io/WaypointBound")
			return cond != nil, nil
		})
		if cond.Status != metav1.ConditionFalse || cond.Reason != "WaypointIsNotReady" || !strings.Contains(cond.Message, ns+"/no-such-waypoint") {
			t.Errorf("istiod's WaypointBound on chatqna-tei: %+v", cond)
		}
		pitfallVerdict(t, ns, "pitfalls.waypoint-exists", auditcheck.Fail,
			"Service chatqna-tei names waypoint "+ns+"/no-such-waypoint, which does not exist: istiod binds no waypoint (WaypointIsNotReady)",
			"istioctl waypoint apply -n "+ns+" --name no-such-waypoint")
		svc, err = kube.CoreV1().Services(ns).Get(ctx, "chatqna-tei", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		delete(svc.Labels, "istio.io/use-waypoint")
		if _, err := kube.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		pitfallVerdict(t, ns, "pitfalls.waypoint-exists", auditcheck.Pass, "no Service or pod of the namespace names a waypoint")
	})

	t.Run("a pod asking for a sidecar", func(t *testing.T) {
		label := func(value string) {
			patch := `{"metadata":{"labels":{"sidecar.istio.io/inject":` + value + `}}}`
			if _, err := kube.CoreV1().Pods(ns).Patch(ctx, "chatqna-ui", "application/merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		label(`"true"`)
		pitfallVerdict(t, ns, "enrolment.no-opt-out", auditcheck.Fail, "pods ask for a sidecar (sidecar.istio.io/inject=true) in ambient mode", "chatqna-ui")
		label(`"false"`)
		pitfallVerdict(t, ns, "enrolment.no-opt-out", auditcheck.Pass, "none opted out")
	})

	t.Run("Enterprise-RAG's fences and carve-out", func(t *testing.T) {
		gateway := gatewayProxy(t, fixtures.ChartGateway)
		gatewayPrincipal := principal(gateway.Namespace, gateway.ServiceAccount)
		fence := func(name, pod string, admitted ...string) string {
			return `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ` + name + `, namespace: ` + ns + `}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: ` + pod + `}}
  action: DENY
  rules:
  - from: [{source: {notPrincipals: ["` + strings.Join(admitted, `", "`) + `"]}}]
---`
		}
		applyYAML(t, fence("nginx-fence", "chatqna-nginx", gatewayPrincipal)+
			fence("backend-fence", "chatqna-backend", principal(ns, "default"))+
			fence("ui-fence", "chatqna-ui", principal(ns, "default")))
		eventually(t, 30*time.Second, "istiod to accept the fences for ztunnel", func() (bool, error) { return ztunnelAccepted(t, ns) == nil, nil })
		// ztunnel lets through whom the fences list, and no one else.
		outsider := xds.Caller{Principal: principal("elsewhere", "default"), Namespace: "elsewhere", Port: 8888}
		own := xds.Caller{Principal: principal(ns, "default"), Namespace: ns, Port: 8888}
		istiodAmbient(t, func(st *xds.AmbientState) error {
			w := st.Workload(ns, "chatqna-backend")
			if w == nil {
				return fmt.Errorf("istiod does not know chatqna-backend yet")
			}
			if !st.Admits(*w, own) || st.Admits(*w, outsider) {
				return fmt.Errorf("at chatqna-backend ztunnel admits the application %v and an outsider %v; want true, false", st.Admits(*w, own), st.Admits(*w, outsider))
			}
			return nil
		})
		pitfallVerdict(t, ns, "authorization.lockdown-intact", auditcheck.Pass,
			"locked down by per-workload DENY fences (notPrincipals: every caller but those listed is denied): "+ns+"/backend-fence, "+ns+"/nginx-fence, "+ns+"/ui-fence fence all 3 pods")
		// Its carve-out for a webhook on the backend: named, a warning.
		applyYAML(t, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: webhook, namespace: `+ns+`}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-backend}}
  mtls: {mode: STRICT}
  portLevelMtls:
    9443: {mode: PERMISSIVE}
`)
		pitfallVerdict(t, ns, "mtls.no-permissive-ports", auditcheck.Warn,
			"plaintext allowed only on carve-outs for callers outside the mesh: chatqna-backend port 9443 PERMISSIVE ("+ns+"/webhook): a webhook's port: the kube-apiserver calls it without mTLS")
		deleteObject(t, peerAuthenticationGVR, ns, "webhook")
		for _, name := range []string{"nginx-fence", "backend-fence", "ui-fence"} {
			deleteObject(t, authorizationPolicyGVR, ns, name)
		}
	})

	report, r := verifyJSON(t, "-n", ns, "--probe=false")
	if r.code != 0 || len(byStatus(report, auditcheck.Fail))+len(byStatus(report, auditcheck.Warn)) > 0 {
		t.Errorf("verify once every pitfall is undone: exit %d\n%s", r.code, describe(report))
	}
}
