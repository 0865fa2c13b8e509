package e2e

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/pkg/audit"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/gatewayemulator"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// Gateway API setups of the differential table. Templated like the classic
// ones, plus {{.CertNS}}: the namespace of the listener's certificate
// Secret ({{.NS}} unless the case says otherwise).
const (
	apiGateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: app-gateway
  namespace: "{{.NS}}"
  annotations: {networking.istio.io/service-type: ClusterIP}
spec:
  gatewayClassName: istio
  listeners:
  - name: https
    hostname: "{{.Host}}"
    port: 443
    protocol: HTTPS
    tls: {mode: Terminate, certificateRefs: [{name: "{{.Secret}}"}]}
  - name: http
    hostname: "{{.Host}}"
    port: 80
    protocol: HTTP
`
	apiRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app-route, namespace: "{{.NS}}"}
spec:
  parentRefs: [{name: app-gateway, sectionName: https}]
  hostnames: ["{{.Host}}"]
  rules:
  - backendRefs: [{name: chatqna-nginx, port: 80}]
`
	apiRedirect = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app-redirect, namespace: "{{.NS}}"}
spec:
  parentRefs: [{name: app-gateway, sectionName: http}]
  hostnames: ["{{.Host}}"]
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
`
	certInOtherNamespace = `certificateRefs: [{name: "{{.Secret}}", namespace: "{{.CertNS}}"}]`
	referenceGrant       = `
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: gateways-read-certs, namespace: "{{.CertNS}}"}
spec:
  from: [{group: gateway.networking.k8s.io, kind: Gateway, namespace: "{{.NS}}"}]
  to: [{group: "", kind: Secret}]
`
	unhandledClass = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: "{{.NS}}-unhandled"}
spec: {controllerName: example.com/no-such-controller}
`
)

func healthyAPI(extra ...string) string {
	return strings.Join(append([]string{apiGateway, apiRoute, apiRedirect, strictNamespace}, extra...), "\n---\n")
}

// gatewayAPICase is a Gateway API setup: the truth is whether istiod serves
// the app over TLS, judged by the status it writes (Gateway Accepted and
// Programmed, the HTTPS listener resolved, the route Accepted and resolved)
// and by the configuration it renders for the gateway it deploys.
type gatewayAPICase struct {
	name    string
	objects string
	// certNamespace: the Secret lives in another namespace, made for the
	// case; missingSecret: it is never created.
	certNamespace, missingSecret bool
	// undeployed: istiod deploys nothing for the Gateway.
	undeployed bool
	servedTLS  bool
	// failedID is the check a broken setup must fail (verify exits 1).
	failedID string
}

var gatewayAPICases = []gatewayAPICase{
	{name: "Gateway API: healthy", objects: healthyAPI(), servedTLS: true},
	{name: "Gateway API: certificate in another namespace with a ReferenceGrant", certNamespace: true,
		objects: strings.Replace(healthyAPI(referenceGrant), `certificateRefs: [{name: "{{.Secret}}"}]`, certInOtherNamespace, 1), servedTLS: true},

	{name: "Gateway API: listener certificateRef to a missing Secret", missingSecret: true, objects: healthyAPI(), failedID: "gatewayapi.listener-refs-resolved"},
	{name: "Gateway API: certificate in another namespace without ReferenceGrant", certNamespace: true,
		objects: strings.Replace(healthyAPI(), `certificateRefs: [{name: "{{.Secret}}"}]`, certInOtherNamespace, 1), failedID: "gatewayapi.certificate-ref-granted"},
	{name: "Gateway API: HTTPRoute parentRef names no listener",
		objects: strings.Replace(healthyAPI(), `sectionName: https}]`, `sectionName: no-such-listener}]`, 1), failedID: "gatewayapi.route-accepted"},
	{name: "Gateway API: HTTPRoute hostname outside the listener's",
		objects: strings.Replace(healthyAPI(), `sectionName: https}]
  hostnames: ["{{.Host}}"]`, `sectionName: https}]
  hostnames: ["elsewhere.example.org"]`, 1), failedID: "gatewayapi.route-hostnames"},
	{name: "Gateway API: backend Service does not exist",
		objects: strings.Replace(healthyAPI(), "name: chatqna-nginx, port: 80", "name: no-such-service, port: 80", 1), failedID: "gatewayapi.route-backend"},
	{name: "Gateway API: GatewayClass no controller accepts",
		objects: strings.Replace(healthyAPI(unhandledClass), "gatewayClassName: istio", `gatewayClassName: "{{.NS}}-unhandled"`, 1), undeployed: true, failedID: "gatewayapi.class-accepted"},
}

func runGatewayAPIDifferentialCase(t *testing.T, c gatewayAPICase) differentialRow {
	ctx := context.Background()
	kube := adminKube(t)
	ns, pods := newEnrolledChatQnA(t)
	host := ns + ".example.com"
	data := differentialData{NS: ns, Host: host, Secret: "cred-" + ns, CertNS: ns}
	if c.certNamespace {
		data.CertNS = createNamespace(t, ns+"-certs")
	}
	if !c.missingSecret {
		createCredential(t, data.CertNS, data.Secret, "", host)
	}
	objs := renderObjects(t, c.objects, data)
	if err := controlplane.ApplyManifests(ctx, cluster.AdminConfig(), objs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteObjects(t, objs) })

	// istiod deploys a gateway for a Gateway of its class; stand in for the
	// kubelet and the EndpointSlice controller once it has.
	layout := fixtures.DeployedGateway(ns, "app-gateway")
	var deployed bool
	if c.undeployed {
		time.Sleep(3 * time.Second)
		_, err := kube.AppsV1().Deployments(ns).Get(ctx, layout.Service, metav1.GetOptions{})
		deployed = err == nil
	} else {
		err := fixtures.SimulateDeployedGatewayReady(ctx, kube, layout)
		if deployed = err == nil; !deployed {
			t.Log(err)
		}
	}
	if deployed == c.undeployed {
		t.Errorf("istiod deployed a gateway: %v, the case says %v", deployed, !c.undeployed)
	}
	if deployed {
		// verify reads the status istiod writes once it has seen the
		// gateway's endpoints; a setup's listener or route defects do
		// not keep the Gateway from being Programmed.
		eventually(t, 30*time.Second, "istiod to mark the Gateway Programmed", func() (bool, error) {
			gw, err := gatewayStatus(t, ns, "app-gateway")
			return err == nil && gatewayapi.IsTrue(gw.Status.Conditions, "Programmed", gw.Generation), err
		})
	}

	row := differentialRow{name: c.name}
	report, r := verifyJSON(t, "-n", ns)
	if r.code == 2 {
		t.Fatalf("verify could not run: %s", r.stderr)
	}
	row.verifyFailedIDs = failedIn(report, audit.CategoryIngress, audit.CategoryRouting, audit.CategoryGatewayAPI, audit.CategoryMTLS)
	row.verifyTLS = len(failedIn(report, audit.CategoryIngress, audit.CategoryRouting, audit.CategoryGatewayAPI)) == 0
	row.verifyStrict = len(failedIn(report, audit.CategoryMTLS)) == 0
	if c.failedID != "" && (r.code != 1 || !contains(row.verifyFailedIDs, c.failedID)) {
		t.Errorf("verify exits %d failing %v, want exit 1 failing %s\n%s", r.code, row.verifyFailedIDs, c.failedID, describe(report))
	}

	// Served: istiod's status says so, and a client of the gateway it
	// deployed gets the app's answer over TLS (certificate validated
	// against the credential's CA) through the gateway emulator.
	roots := x509.NewCertPool()
	if !c.missingSecret {
		roots = credentialRoots(t, data.CertNS, data.Secret)
	}
	var emulator *gatewayemulator.Emulator
	row.istiodTLS = deployed && observe(t, c.servedTLS, func(ctx context.Context) (bool, error) {
		if statusServes(t, ns, "app-gateway", "app-route") != nil {
			return false, nil
		}
		if emulator == nil {
			proxy, err := layout.Proxy(ctx, kube)
			if err != nil {
				return false, err
			}
			emulator = emulateGateway(t, proxy, ns)
		} else if err := emulator.Refresh(ctx); err != nil {
			return false, err
		}
		return servedThrough(emulator, layout, ns, host, roots) == nil, nil
	})
	row.istiodStrict = observe(t, true, func(ctx context.Context) (bool, error) {
		st, err := xds.Ambient(ctx, cluster.Istio.Debug)
		if err != nil {
			return false, err
		}
		return strictForPods(ns, pods)(st) == nil, nil
	})
	if row.istiodTLS != c.servedTLS || !row.istiodStrict {
		t.Errorf("istiod's status and configuration say TLS served=%v strict=%v, the case says %v/true: the case is wrong, or istiod changed",
			row.istiodTLS, row.istiodStrict, c.servedTLS)
	}
	if row.verifyTLS != row.istiodTLS || row.verifyStrict != row.istiodStrict {
		t.Errorf("verify says TLS=%v strict=%v, istiod TLS=%v strict=%v (verify failed: %v)\n%s",
			row.verifyTLS, row.verifyStrict, row.istiodTLS, row.istiodStrict, row.verifyFailedIDs, describe(report))
	}
	return row
}
