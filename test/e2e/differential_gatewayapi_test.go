package e2e

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/opea-project/kubectl-opea/pkg/audit/check"
	"github.com/opea-project/kubectl-opea/pkg/gatewayapi"
	"github.com/opea-project/kubectl-opea/pkg/istio"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/gatewayemulator"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// Gateway API setups of the differential table. Templated like the classic
// ones, plus {{.CertNS}}: the namespace of the listener's certificate
// Secret ({{.NS}} unless the case says otherwise), and {{.GatewayNS}}: the
// namespace of a Gateway shared by several applications.
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
	// sharedGateway serves two applications in {{.GatewayNS}}: an HTTPS
	// listener per host admitting routes of any namespace, and an HTTP
	// listener admitting only its own namespace's, where a route of that
	// namespace redirects. The application's route names no sectionName.
	sharedGateway = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: app-gateway
  namespace: "{{.GatewayNS}}"
  annotations: {networking.istio.io/service-type: ClusterIP}
spec:
  gatewayClassName: istio
  listeners:
  - name: https-other
    hostname: "other-{{.Host}}"
    port: 443
    protocol: HTTPS
    tls: {mode: Terminate, certificateRefs: [{name: "{{.Secret}}-other"}]}
    allowedRoutes: {namespaces: {from: All}}
  - name: https
    hostname: "{{.Host}}"
    port: 443
    protocol: HTTPS
    tls: {mode: Terminate, certificateRefs: [{name: "{{.Secret}}"}]}
    allowedRoutes: {namespaces: {from: All}}
  - name: http
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Same}}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app-route, namespace: "{{.NS}}"}
spec:
  parentRefs: [{name: app-gateway, namespace: "{{.GatewayNS}}"}]
  hostnames: ["{{.Host}}"]
  rules:
  - backendRefs: [{name: chatqna-nginx, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: redirect, namespace: "{{.GatewayNS}}"}
spec:
  parentRefs: [{name: app-gateway, sectionName: http}]
  hostnames: ["{{.Host}}"]
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
`
	// gammaRoute routes to the application inside the mesh: its parent is
	// a Service (GAMMA), no Gateway.
	gammaRoute = `
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app-route, namespace: "{{.NS}}"}
spec:
  parentRefs: [{group: "", kind: Service, name: chatqna-nginx, port: 80}]
  rules:
  - backendRefs: [{name: chatqna-nginx, port: 80}]
`
	// unmanagedGateway is bound by a Hostname address to a gateway the
	// user runs (Deployment, Service and ServiceAccount edge, edge-sa in
	// {{.GatewayNS}}): istiod deploys nothing and configures those pods.
	// Only the edge-sa account is admitted to the entry pods.
	unmanagedGateway = `
apiVersion: v1
kind: ServiceAccount
metadata: {name: edge-sa, namespace: "{{.GatewayNS}}"}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: edge, namespace: "{{.GatewayNS}}"}
spec:
  selector: {matchLabels: {app: edge}}
  template:
    metadata: {labels: {app: edge, istio.io/dataplane-mode: none}}
    spec:
      serviceAccountName: edge-sa
      containers: [{name: istio-proxy, image: auto}]
---
apiVersion: v1
kind: Service
metadata: {name: edge, namespace: "{{.GatewayNS}}"}
spec:
  type: ClusterIP
  selector: {app: edge}
  ports: [{name: https, port: 443}, {name: http, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: app-gateway, namespace: "{{.GatewayNS}}"}
spec:
  gatewayClassName: istio
  addresses: [{type: Hostname, value: edge}]
  listeners:
  - name: https
    hostname: "{{.Host}}"
    port: 443
    protocol: HTTPS
    tls: {mode: Terminate, certificateRefs: [{name: "{{.Secret}}"}]}
    allowedRoutes: {namespaces: {from: All}}
  - name: http
    hostname: "{{.Host}}"
    port: 80
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: app-route, namespace: "{{.NS}}"}
spec:
  parentRefs: [{name: app-gateway, namespace: "{{.GatewayNS}}", sectionName: https}]
  hostnames: ["{{.Host}}"]
  rules:
  - backendRefs: [{name: chatqna-nginx, port: 80}]
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: redirect, namespace: "{{.GatewayNS}}"}
spec:
  parentRefs: [{name: app-gateway, sectionName: http}]
  hostnames: ["{{.Host}}"]
  rules:
  - filters: [{type: RequestRedirect, requestRedirect: {scheme: https, statusCode: 301}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-gateway, namespace: "{{.NS}}"}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-nginx}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/{{.GatewayNS}}/sa/edge-sa"]}}]
    to: [{operation: {ports: ["80"]}}]
`
	otherControllersClass = `
apiVersion: gateway.networking.k8s.io/v1
kind: GatewayClass
metadata: {name: "{{.NS}}-other"}
spec: {controllerName: example.com/other-gateway-controller}
`
	// admitOnly is an ALLOW of the entry pods for one gateway service
	// account, as a lockdown writes it.
	admitOnly = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-gateway, namespace: "{{.NS}}"}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-nginx}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/{{.NS}}/sa/SERVICE_ACCOUNT"]}}]
    to: [{operation: {ports: ["80"]}}]
`
)

// Policies of the rows on the gateway's own authorization and on
// waypoints.
const (
	// ownNamespaceOnly is a namespace-wide ALLOW of the namespace's own
	// callers: it applies to the gateway Istio deploys there too, whose
	// clients have no mesh identity.
	ownNamespaceOnly = `
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: own-namespace, namespace: "{{.NS}}"}
spec:
  rules: [{from: [{source: {namespaces: ["{{.NS}}"]}}]}]
`
	// waypointForIngress sends the namespace's traffic, the ingress
	// gateway's too, through waypoint Gateway "waypoint".
	waypointForIngress = `
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata: {name: waypoint, namespace: "{{.NS}}"}
spec:
  gatewayClassName: istio-waypoint
  listeners: [{name: mesh, port: 15008, protocol: HBONE}]
`
)

func admitting(serviceAccount string) string {
	return strings.Replace(admitOnly, "SERVICE_ACCOUNT", serviceAccount, 1)
}

func annotated(annotation string) string {
	return strings.Replace(healthyAPI(), "annotations: {networking.istio.io/service-type: ClusterIP}",
		"annotations: {networking.istio.io/service-type: ClusterIP, "+annotation+"}", 1)
}

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
	// sharedNamespace: the Gateway, its certificates (and one for another
	// application's host, {{.Secret}}-other) live in a namespace of their own.
	sharedNamespace bool
	// deployment is the Deployment and Service istiod deploys (or the
	// user's, for an unmanaged Gateway), when not app-gateway-istio, and
	// podLabels its pods' labels, when not the gateway-name label.
	deployment string
	podLabels  map[string]string
	// acceptedBy: the case's GatewayClass {{.NS}}-other is Accepted by
	// its (absent) controller, whose status the test writes.
	acceptedBy bool
	servedTLS  bool
	// failedID is the check a broken setup must fail (verify exits 1).
	failedID string
	// waypoint: the namespace's Services, ingress included, go through
	// waypoint Gateway "waypoint": ztunnel at the entry pods sees it, not
	// the gateway.
	waypoint bool
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
	{name: "Gateway API: shared Gateway in another namespace, an HTTPS listener per host, HTTPRoute without sectionName", sharedNamespace: true,
		objects: strings.Join([]string{sharedGateway, strictNamespace}, "\n---\n"), servedTLS: true},
	{name: "Gateway API: service-account annotation, an ALLOW admitting that account", objects: annotated("gateway.istio.io/service-account: edge-sa") + "\n---\n" + admitting("edge-sa"),
		servedTLS: true},
	{name: "Gateway API: name-override annotation, an ALLOW admitting the overridden name", deployment: "edge",
		objects: annotated("gateway.istio.io/name-override: edge") + "\n---\n" + admitting("edge"), failedID: ingressAdmittedID},

	{name: "Gateway API: unmanaged Gateway (a Hostname address) on the user's gateway, an ALLOW admitting its account", sharedNamespace: true,
		deployment: "edge", podLabels: map[string]string{"app": "edge"},
		objects: strings.Join([]string{unmanagedGateway, strictNamespace}, "\n---\n"), servedTLS: true},

	{name: "Gateway API: only a GAMMA HTTPRoute (parentRef a Service), no Gateway", undeployed: true,
		objects: strings.Join([]string{gammaRoute, strictNamespace}, "\n---\n"), failedID: "ingress.gateway-found"},
	{name: "Gateway API: GatewayClass of another controller, Accepted by it", undeployed: true, acceptedBy: true,
		objects: strings.Replace(healthyAPI(otherControllersClass), "gatewayClassName: istio", `gatewayClassName: "{{.NS}}-other"`, 1), failedID: "gatewayapi.class-accepted"},
	{name: "Gateway API: a namespace-wide ALLOW of the namespace's own callers, on the gateway deployed there too",
		objects: healthyAPI(ownNamespaceOnly), failedID: "authorization.gateway-admits-clients"},
	{name: "Gateway API: ingress through the namespace's waypoint, an ALLOW admitting only the gateway at the entry pods", waypoint: true,
		objects: healthyAPI(waypointForIngress, admitting("app-gateway-istio")), failedID: ingressAdmittedID},
	{name: "Gateway API: ingress through the namespace's waypoint, an ALLOW admitting the waypoint", waypoint: true,
		objects: healthyAPI(waypointForIngress, admitting("waypoint")), servedTLS: true},
	{name: "Gateway API: GatewayClass no controller accepts",
		objects: strings.Replace(healthyAPI(unhandledClass), "gatewayClassName: istio", `gatewayClassName: "{{.NS}}-unhandled"`, 1), undeployed: true, failedID: "gatewayapi.class-accepted"},
}

func runGatewayAPIDifferentialCase(t *testing.T, c gatewayAPICase) differentialRow {
	ctx := context.Background()
	kube := adminKube(t)
	ns, pods := newEnrolledChatQnA(t)
	host := ns + ".example.com"
	data := differentialData{NS: ns, Host: host, Secret: "cred-" + ns, CertNS: ns, GatewayNS: ns}
	if c.certNamespace {
		data.CertNS = createNamespace(t, ns+"-certs")
	}
	if c.sharedNamespace {
		data.GatewayNS = createNamespace(t, ns+"-gw")
		data.CertNS = data.GatewayNS
		createCredential(t, data.GatewayNS, data.Secret+"-other", "", "other-"+host)
	}
	if !c.missingSecret {
		createCredential(t, data.CertNS, data.Secret, "", host)
	}
	objs := renderObjects(t, c.objects, data)
	if err := controlplane.ApplyManifests(ctx, cluster.AdminConfig(), objs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteObjects(t, objs) })
	if c.waypoint {
		labelNamespace(t, ns, map[string]string{istio.UseWaypointLabel: "waypoint", istio.IngressUseWaypointLabel: "true"})
	}
	if c.acceptedBy {
		acceptGatewayClassAsItsController(t, ns+"-other")
	}

	// istiod deploys a gateway for a Gateway of its class; kwok runs its
	// pods and the EndpointSlice controller lists them.
	layout := fixtures.DeployedGateway(data.GatewayNS, "app-gateway")
	if c.deployment != "" {
		layout.Service = c.deployment
	}
	if c.podLabels != nil {
		layout.PodLabels = c.podLabels
	}
	var deployed bool
	if c.undeployed {
		time.Sleep(3 * time.Second)
		_, err := kube.AppsV1().Deployments(ns).Get(ctx, layout.Service, metav1.GetOptions{})
		deployed = err == nil
	} else {
		err := fixtures.WaitDeployedGatewayReady(ctx, kube, layout)
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
			gw, err := gatewayStatus(t, data.GatewayNS, "app-gateway")
			return err == nil && gatewayapi.IsTrue(gw.Status.Conditions, "Programmed", gw.Generation), err
		})
	}

	row := differentialRow{name: c.name}
	report, r := verifyJSON(t, "-n", ns)
	if r.code == 2 {
		t.Fatalf("verify could not run: %s", r.stderr)
	}
	row.verifyFailedIDs = failedIn(report, check.CategoryIngress, check.CategoryRouting, check.CategoryGatewayAPI, check.CategoryAuthorization, check.CategoryMTLS)
	row.verifyTLS = len(failedIn(report, check.CategoryIngress, check.CategoryRouting, check.CategoryGatewayAPI)) == 0 &&
		!contains(row.verifyFailedIDs, ingressAdmittedID) && !contains(row.verifyFailedIDs, gatewayAdmitsClientsID)
	row.verifyStrict = len(failedIn(report, check.CategoryMTLS)) == 0
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
	var proxy xds.Proxy
	row.istiodTLS = deployed && observe(t, c.servedTLS, func(ctx context.Context) (bool, error) {
		if statusServesRoutesOf(t, data.GatewayNS, "app-gateway", ns, "app-route") != nil {
			return false, nil
		}
		if emulator == nil {
			var err error
			if proxy, err = layout.Proxy(ctx, kube); err != nil {
				return false, err
			}
			emulator = emulateGateway(t, proxy, ns)
		} else if err := emulator.Refresh(ctx); err != nil {
			return false, err
		}
		if servedThrough(emulator, layout, ns, host, roots) != nil {
			return false, nil
		}
		// The gateway's requests reach the app only if ztunnel admits
		// the identity it runs as.
		st, err := xds.Ambient(ctx, cluster.Istio.Debug)
		if err != nil {
			return false, err
		}
		if c.waypoint {
			// The entry pods see the waypoint's identity, the account
			// istiod deploys it with (its name, for the waypoint class).
			return callerAdmitted(st, ns, principal(ns, "waypoint")) == nil, nil
		}
		return gatewayAdmitted(st, ns, proxy) == nil, nil
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

// acceptGatewayClassAsItsController writes what the GatewayClass's own
// controller (another vendor's, which does not run here) would: Accepted
// True for its generation.
func acceptGatewayClassAsItsController(t *testing.T, name string) {
	t.Helper()
	client := adminDynamic(t).Resource(gatewayapi.GatewayClasses("v1"))
	u, err := client.Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cond := map[string]interface{}{"type": "Accepted", "status": "True", "reason": "Accepted", "message": "handled by example.com/other-gateway-controller",
		"observedGeneration": u.GetGeneration(), "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}
	if err := unstructured.SetNestedSlice(u.Object, []interface{}{cond}, "status", "conditions"); err != nil {
		t.Fatal(err)
	}
	if _, err := client.UpdateStatus(context.Background(), u, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
