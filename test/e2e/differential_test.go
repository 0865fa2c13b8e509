package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/template"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"

	auditcheck "github.com/opea-project/kubectl-opea/pkg/audit/check"
	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/await"
	"github.com/opea-project/kubectl-opea/test/controlplane"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/xds"
)

var updateDifferential = flag.Bool("update-differential", false, "rewrite docs/istiod-differential.md from the differential test")

// A differential case is one setup a user may have, written as a user would
// (the install itself is always Istio's rendering). verify audits it, istiod
// renders it, and the two must agree on whether the app is served over TLS
// (the ingress and routing categories) and whether STRICT mTLS is in force
// (the mTLS category). want is what is true, so that a case both get wrong
// does not pass unnoticed.
type differentialCase struct {
	name string
	// layout is the gateway the setup uses.
	layout fixtures.GatewayLayout
	// objects are YAML documents, templated with {{.NS}} (the app
	// namespace), {{.GatewayNS}} (the gateway pods' namespace), {{.Host}}
	// and {{.Secret}} (the credential, created in {{.GatewayNS}}).
	objects string
	// older objects are applied a second before the others, so that their
	// creationTimestamp (which has a resolution of one second) is older.
	older string
	// secretType is the credential Secret's type; kubernetes.io/tls unless set.
	secretType corev1.SecretType
	// servedTLS and strict are the truth: istiod serves the app on the
	// HTTPS port with the credential, and enforces STRICT on its pods.
	servedTLS, strict bool
	// exception, when set, is why verify is right to disagree with what
	// istiod renders; docs/checks.md must say the same.
	exception string
	// httpsListener is the port istiod is expected to listen on for HTTPS
	// when it is not the layout's (a server port the Service lacks).
	httpsListener uint32
	// failedID, when set, is a check verify must fail (and exit 1).
	failedID string
	// secondCredential: the HTTPS server names two Secrets with
	// credentialNames, {{.Secret}} and {{.Secret}}-ecdsa; both are created
	// and istiod must serve both.
	secondCredential bool
}

// The parts most setups share.
const (
	healthyGateway = `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: app-gateway, namespace: "{{.NS}}"}
spec:
  selector: {{.Selector}}
  servers:
  - port: {number: {{.HTTPSPort}}, name: https, protocol: HTTPS}
    hosts: ["{{.Host}}"]
    tls: {mode: SIMPLE, credentialName: "{{.Secret}}"}
  - port: {number: {{.HTTPPort}}, name: http, protocol: HTTP}
    hosts: ["{{.Host}}"]
    tls: {httpsRedirect: true}
`
	healthyRoute = `
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: app-route, namespace: "{{.NS}}"}
spec:
  hosts: ["{{.Host}}"]
  gateways: ["{{.NS}}/app-gateway"]
  http:
  - route:
    - destination: {host: chatqna-nginx, port: {number: 80}}
`
	strictNamespace = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: "{{.NS}}"}
spec: {mtls: {mode: STRICT}}
`
)

// meshWideStrict is a mesh-wide STRICT policy of the case's own (the root
// namespace holds one per case, removed with it).
const meshWideStrict = `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: "mesh-{{.NS}}", namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`

func healthy(extra ...string) string {
	return strings.Join(append([]string{healthyGateway, healthyRoute, strictNamespace}, extra...), "\n---\n")
}

var differentialCases = []differentialCase{
	{name: "healthy, gateway chart layout", layout: fixtures.ChartGateway, objects: healthy(), servedTLS: true, strict: true},
	{name: "healthy, istioctl ingressgateway, server port 443 (Service 443 -> 8443)", layout: fixtures.ClassicGateway, objects: healthy(), servedTLS: true, strict: true},
	{name: "healthy, istioctl ingressgateway, server port 8443 (the target port)", layout: fixtures.ClassicGateway,
		objects: strings.ReplaceAll(healthy(), "{{.HTTPSPort}}", "8443"), servedTLS: true, strict: true},
	{name: "credential in a generic (Opaque) Secret", layout: fixtures.ChartGateway, objects: healthy(), secretType: corev1.SecretTypeOpaque, servedTLS: true, strict: true},
	{name: "VirtualService gateway written ./name", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), `gateways: ["{{.NS}}/app-gateway"]`, `gateways: ["./app-gateway"]`, 1), servedTLS: true, strict: true},
	{name: "VirtualService gateway written name.ns.svc.cluster.local", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), `gateways: ["{{.NS}}/app-gateway"]`, `gateways: ["app-gateway.{{.NS}}.svc.cluster.local"]`, 1), servedTLS: true, strict: true},
	{name: "HTTPS server with hosts *", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), `hosts: ["{{.Host}}"]
    tls: {mode: SIMPLE`, `hosts: ["*"]
    tls: {mode: SIMPLE`, 1), servedTLS: true, strict: true},
	{name: "mesh-wide STRICT only", layout: fixtures.ChartGateway, objects: strings.Join([]string{healthyGateway, healthyRoute, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`}, "\n---\n"), servedTLS: true, strict: true},
	{name: "another Gateway on the same pods also names its HTTPS port https", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: other-app, namespace: "{{.NS}}"}
spec:
  selector: {{.Selector}}
  servers:
  - port: {number: {{.HTTPSPort}}, name: https, protocol: HTTPS}
    hosts: ["other-{{.Host}}"]
    tls: {mode: SIMPLE, credentialName: "{{.Secret}}"}
`), servedTLS: true, strict: true},
	{name: "another Gateway serves a wildcard that covers the host", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: wildcard, namespace: "{{.NS}}"}
spec:
  selector: {{.Selector}}
  servers:
  - port: {number: {{.HTTPSPort}}, name: https-wildcard, protocol: HTTPS}
    hosts: ["*.{{.NS}}.example.com"]
    tls: {mode: SIMPLE, credentialName: "{{.Secret}}-wildcard"}
`), servedTLS: true, strict: true},

	{name: "HTTPS server with tls.credentialNames naming two Secrets", layout: fixtures.ChartGateway, secondCredential: true,
		objects:   strings.Replace(healthy(), `tls: {mode: SIMPLE, credentialName: "{{.Secret}}"}`, `tls: {mode: SIMPLE, credentialNames: ["{{.Secret}}", "{{.Secret}}-ecdsa"]}`, 1),
		servedTLS: true, strict: true},
	{name: "an older namespace PeerAuthentication with mode unset under a mesh-wide STRICT", layout: fixtures.ChartGateway, older: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: zzz-unset, namespace: "{{.NS}}"}
spec: {}
`, objects: healthy(meshWideStrict), servedTLS: true, strict: true},
	{name: "AuthorizationPolicy selector: {} (no matchLabels) admitting only the app's namespace", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: empty-selector, namespace: "{{.NS}}"}
spec:
  selector: {}
  rules:
  - from: [{source: {namespaces: ["{{.NS}}"]}}]
`), servedTLS: true, strict: true},

	{name: "HTTPS server on a port the gateway Service does not expose", layout: fixtures.ChartGateway,
		objects: strings.ReplaceAll(healthy(), "{{.HTTPSPort}}", "9443"), httpsListener: 9443, servedTLS: true, strict: true,
		exception: "istiod listens on 9443 as asked, but no Service port leads there: clients cannot reach it"},

	// Broken setups.
	{name: "VirtualService bound to no Gateway", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), `gateways: ["{{.NS}}/app-gateway"]`, `gateways: ["mesh"]`, 1), servedTLS: false, strict: true},
	{name: "VirtualService gateway name without its namespace", layout: fixtures.ChartGateway, objects: strings.Join([]string{
		strings.Replace(healthyGateway, `namespace: "{{.NS}}"`, `namespace: "{{.GatewayNS}}"`, 1),
		strings.Replace(healthyRoute, `gateways: ["{{.NS}}/app-gateway"]`, `gateways: ["app-gateway"]`, 1), strictNamespace}, "\n---\n"),
		servedTLS: false, strict: true},
	{name: "VirtualService hosts do not match the Gateway's", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), `hosts: ["{{.Host}}"]
  gateways`, `hosts: ["elsewhere.example.org"]
  gateways`, 1), servedTLS: false, strict: true},
	{name: "Gateway host bound to another namespace (other/host)", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), `hosts: ["{{.Host}}"]
    tls: {mode: SIMPLE`, `hosts: ["other-namespace/{{.Host}}"]
    tls: {mode: SIMPLE`, 1), servedTLS: false, strict: true},
	{name: "Gateway selector matches no pod", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), "selector: {{.Selector}}", "selector: {istio: no-such-gateway}", 1), servedTLS: false, strict: true},
	{name: "HTTPS server without TLS settings", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), `tls: {mode: SIMPLE, credentialName: "{{.Secret}}"}`, `tls: {mode: PASSTHROUGH}`, 1), servedTLS: false, strict: true},
	{name: "route to a Service that does not exist", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), "host: chatqna-nginx,", "host: no-such-service,", 1), servedTLS: false, strict: true},
	{name: "an older Gateway already serves the same host on the same pods", layout: fixtures.ChartGateway, older: `
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: zzz-older, namespace: "{{.GatewayNS}}"}
spec:
  selector: {{.Selector}}
  servers:
  - port: {number: {{.HTTPSPort}}, name: https-older, protocol: HTTPS}
    hosts: ["{{.Host}}"]
    tls: {mode: SIMPLE, credentialName: "{{.Secret}}-older"}
`, objects: healthy(), servedTLS: false, strict: true},
	{name: "AuthorizationPolicy ALLOW admitting only the app's namespace", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: same-namespace-only, namespace: "{{.NS}}"}
spec:
  rules:
  - from: [{source: {namespaces: ["{{.NS}}"]}}]
`), servedTLS: false, strict: true, failedID: ingressAdmittedID},
	{name: "AuthorizationPolicy ALLOW with methods [GET] and no waypoint", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: get-only, namespace: "{{.NS}}"}
spec:
  rules:
  - from: [{source: {principals: ["{{.GatewayPrincipal}}"]}}]
    to: [{operation: {methods: ["GET"]}}]
`), servedTLS: false, strict: true, failedID: ingressAdmittedID},
	{name: "AuthorizationPolicy DENY with only paths", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: "{{.NS}}"}
spec:
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin"]}}]
`), servedTLS: true, strict: true, failedID: "authorization.ztunnel-accepted"},
	// A policy of the root namespace without selector applies mesh-wide:
	// istiod sends it with scope GLOBAL, the proto's default, so absent
	// from what it prints.
	{name: "root-namespace DENY (mesh-wide) of the gateway on the entry port", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: "mesh-deny-{{.NS}}", namespace: istio-system}
spec:
  action: DENY
  rules:
  - from: [{source: {principals: ["{{.GatewayPrincipal}}"]}}]
    to: [{operation: {ports: ["80"]}}]
`), servedTLS: false, strict: true, failedID: ingressAdmittedID},
	{name: "AuthorizationPolicy with action CUSTOM", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ext-authz, namespace: "{{.NS}}"}
spec:
  action: CUSTOM
  provider: {name: my-ext-authz}
  rules:
  - to: [{operation: {ports: ["80"]}}]
`), servedTLS: true, strict: true, failedID: "authorization.ztunnel-accepted"},
	{name: "lockdown policies naming a gateway service account that was renamed", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-by-default, namespace: "{{.NS}}"}
spec: {}
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-ingress, namespace: "{{.NS}}"}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-nginx}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/{{.GatewayNS}}/sa/renamed-gateway"]}}]
    to: [{operation: {ports: ["80"]}}]
`), servedTLS: false, strict: true, failedID: ingressAdmittedID},
	{name: "AuthorizationPolicy selector: {matchLabels: {}} admitting only the app's namespace", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: empty-match-labels, namespace: "{{.NS}}"}
spec:
  selector: {matchLabels: {}}
  rules:
  - from: [{source: {namespaces: ["{{.NS}}"]}}]
`), servedTLS: false, strict: true, failedID: ingressAdmittedID},
	{name: "mesh-wide STRICT written with selector: {} in the root namespace", layout: fixtures.ChartGateway, objects: strings.Join([]string{healthyGateway, healthyRoute,
		strings.Replace(meshWideStrict, "spec: {mtls: {mode: STRICT}}", "spec: {selector: {}, mtls: {mode: STRICT}}", 1)}, "\n---\n"),
		servedTLS: true, strict: false, failedID: "mtls.namespace-strict"},
	{name: "no PeerAuthentication", layout: fixtures.ChartGateway, objects: strings.Join([]string{healthyGateway, healthyRoute}, "\n---\n"), servedTLS: true, strict: false},
	{name: "namespace PeerAuthentication PERMISSIVE", layout: fixtures.ChartGateway,
		objects: strings.Replace(healthy(), "mode: STRICT", "mode: PERMISSIVE", 1), servedTLS: true, strict: false},
	{name: "an older namespace-wide PERMISSIVE policy next to default STRICT", layout: fixtures.ChartGateway, older: `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: zzz-older, namespace: "{{.NS}}"}
spec: {mtls: {mode: PERMISSIVE}}
`, objects: healthy(), servedTLS: true, strict: false},
	{name: "namespace PeerAuthentication DISABLE under a mesh-wide STRICT", layout: fixtures.ChartGateway, objects: strings.Join([]string{healthyGateway, healthyRoute, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`, strings.Replace(strictNamespace, "STRICT", "DISABLE", 1)}, "\n---\n"), servedTLS: true, strict: false},
	// istiod drops the static STRICT policy for the entry pods' exception
	// port, and its conversion, judging by the namespace policy (mode
	// unset), yields none: they accept plaintext on every port.
	{name: "mesh-wide STRICT, namespace PeerAuthentication with mode unset, a PERMISSIVE port for the entry pods", layout: fixtures.ChartGateway,
		objects: strings.Join([]string{healthyGateway, healthyRoute, meshWideStrict, `
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: "{{.NS}}"}
spec: {}
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: nginx-metrics, namespace: "{{.NS}}"}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-nginx}}
  portLevelMtls: {"9090": {mode: PERMISSIVE}}
`}, "\n---\n"), servedTLS: true, strict: false, failedID: "mtls.namespace-strict"},
	{name: "workload PeerAuthentication PERMISSIVE for the entry pods", layout: fixtures.ChartGateway, objects: healthy(`
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: nginx-permissive, namespace: "{{.NS}}"}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: chatqna-nginx}}
  mtls: {mode: PERMISSIVE}
`), servedTLS: true, strict: false},
}

type differentialData struct {
	NS, GatewayNS, CertNS, Host, Secret, Selector string
	// GatewayPrincipal is the ingress gateway pods' SPIFFE principal.
	GatewayPrincipal    string
	HTTPSPort, HTTPPort string
}

// differentialRow is one line of the published table.
type differentialRow struct {
	name                    string
	verifyTLS, verifyStrict bool
	istiodTLS, istiodStrict bool
	exception               string
	verifyFailedIDs         []string
}

// TestVerifyAgreesWithIstiod applies each setup, audits it with verify and
// asks istiod what it renders, then compares. The table of verdicts is
// published in docs/istiod-differential.md; the test fails when the file is
// out of date (go test ./test/e2e -run TestVerifyAgreesWithIstiod -update-differential).
func TestVerifyAgreesWithIstiod(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	var rows []differentialRow
	for _, layout := range fixtures.GatewayLayouts {
		t.Run(layout.Name, func(t *testing.T) {
			installLayout(t, layout)
			proxy := gatewayProxy(t, layout)
			for _, c := range differentialCases {
				if c.layout.Name != layout.Name {
					continue
				}
				t.Run(c.name, func(t *testing.T) {
					rows = append(rows, runDifferentialCase(t, c, proxy))
				})
			}
		})
	}
	t.Run("gateway-api", func(t *testing.T) {
		for _, c := range gatewayAPICases {
			t.Run(c.name, func(t *testing.T) {
				rows = append(rows, runGatewayAPIDifferentialCase(t, c))
			})
		}
	})
	if t.Failed() {
		return
	}
	checkDifferentialTable(t, rows)
}

// newEnrolledChatQnA is a ChatQnA namespace of the test's, enrolled in
// ambient mode as a user would label it, with its pods running and
// captured.
func newEnrolledChatQnA(t *testing.T) (ns string, pods []string) {
	t.Helper()
	ns = newChatQnAIn(t, namespaceName(t), "chatqna")
	if _, err := adminKube(t).CoreV1().Namespaces().Patch(context.Background(), ns, "application/merge-patch+json",
		[]byte(`{"metadata":{"labels":{"istio.io/dataplane-mode":"ambient"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	return ns, runCapturedAppPods(t, ns)
}

func runDifferentialCase(t *testing.T, c differentialCase, proxy xds.Proxy) differentialRow {
	ctx := context.Background()
	ns, pods := newEnrolledChatQnA(t)
	host := ns + ".example.com"
	data := differentialData{
		NS: ns, GatewayNS: c.layout.Namespace, Host: host, Secret: "cred-" + ns,
		Selector:  selectorYAML(c.layout.PodLabels),
		HTTPSPort: "443", HTTPPort: "80",
		GatewayPrincipal: principal(proxy.Namespace, proxy.ServiceAccount),
	}
	createCredential(t, c.layout.Namespace, data.Secret, c.secretType, host, "*."+ns+".example.com")
	if c.secondCredential {
		createCredential(t, c.layout.Namespace, data.Secret+"-ecdsa", c.secretType, host)
	}
	if c.older != "" {
		older := renderObjects(t, c.older, data)
		if err := controlplane.ApplyManifests(ctx, cluster.AdminConfig(), older); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { deleteObjects(t, older) })
		time.Sleep(1100 * time.Millisecond)
	}
	objs := renderObjects(t, c.objects, data)
	if err := controlplane.ApplyManifests(ctx, cluster.AdminConfig(), objs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteObjects(t, objs) })

	row := differentialRow{name: c.name, exception: c.exception}
	report, r := verifyJSON(t, "-n", ns)
	if r.code == 2 {
		t.Fatalf("verify could not run: %s", r.stderr)
	}
	row.verifyFailedIDs = failedIn(report, auditcheck.CategoryIngress, auditcheck.CategoryRouting, auditcheck.CategoryAuthorization, auditcheck.CategoryMTLS)
	row.verifyTLS = len(failedIn(report, auditcheck.CategoryIngress, auditcheck.CategoryRouting)) == 0 &&
		!contains(row.verifyFailedIDs, ingressAdmittedID) && !contains(row.verifyFailedIDs, gatewayAdmitsClientsID)
	if c.failedID != "" && (r.code != 1 || !contains(row.verifyFailedIDs, c.failedID)) {
		t.Errorf("verify exits %d failing %v, want exit 1 failing %s\n%s", r.code, row.verifyFailedIDs, c.failedID, describe(report))
	}
	row.verifyStrict = len(failedIn(report, auditcheck.CategoryMTLS)) == 0

	layout := c.layout
	if c.httpsListener != 0 {
		layout.HTTPSTarget = c.httpsListener
	}
	// Served: a client of the gateway, as istiod configures it, gets the
	// app's answer over TLS with a certificate the credential's CA
	// validates, and a redirect to https on the plain port. With two
	// credentials, the gateway serves either as a client's algorithms
	// choose: the client trusts both CAs.
	emulator := emulateGateway(t, proxy, ns)
	roots := credentialRoots(t, c.layout.Namespace, data.Secret)
	if c.secondCredential {
		second, err := adminKube(t).CoreV1().Secrets(c.layout.Namespace).Get(ctx, data.Secret+"-ecdsa", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		roots.AppendCertsFromPEM(second.Data["ca.crt"])
	}
	row.istiodTLS = observe(t, c.servedTLS, func(ctx context.Context) (bool, error) {
		if err := emulator.Refresh(ctx); err != nil {
			return false, err
		}
		if servedThrough(emulator, layout, ns, host, roots) != nil {
			return false, nil
		}
		// The gateway's requests reach the app only if ztunnel admits them.
		st, err := xds.Ambient(ctx, cluster.Istio.Debug)
		if err != nil {
			return false, err
		}
		return gatewayAdmitted(st, ns, proxy) == nil, nil
	})
	row.istiodStrict = observe(t, c.strict, func(ctx context.Context) (bool, error) {
		st, err := xds.Ambient(ctx, cluster.Istio.Debug)
		if err != nil {
			return false, err
		}
		return strictFor(ns, len(pods))(st) == nil, nil
	})

	if row.istiodTLS != c.servedTLS || row.istiodStrict != c.strict {
		t.Errorf("istiod renders TLS served=%v strict=%v, the case says %v/%v: the case is wrong, or istiod changed",
			row.istiodTLS, row.istiodStrict, c.servedTLS, c.strict)
	}
	agree := row.verifyTLS == row.istiodTLS && row.verifyStrict == row.istiodStrict
	switch {
	case !agree && c.exception == "":
		t.Errorf("verify says TLS=%v strict=%v, istiod renders TLS=%v strict=%v (verify failed: %v)\n%s",
			row.verifyTLS, row.verifyStrict, row.istiodTLS, row.istiodStrict, row.verifyFailedIDs, describe(report))
	case agree && c.exception != "":
		t.Errorf("the case is listed as an exception (%s) but verify and istiod agree", c.exception)
	case c.exception != "" && !strings.Contains(checksDoc(t), c.exception):
		t.Errorf("docs/checks.md does not explain the exception %q", c.exception)
	}
	return row
}

// observe returns whether cond holds. When it is expected to hold, it polls
// until it does (istiod pushes a change within moments); when it is expected
// not to, it watches for a while that it does not become true.
func observe(t *testing.T, expect bool, cond func(context.Context) (bool, error)) bool {
	t.Helper()
	window := 3 * time.Second
	if expect {
		window = 30 * time.Second
	}
	var lastErr error
	err := await.Until(context.Background(), window, 200*time.Millisecond, "istiod's answer", func(ctx context.Context) (bool, string, error) {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		ok, err := cond(ctx)
		lastErr = err
		return err == nil && ok, "", nil
	})
	if err == nil {
		return true
	}
	if lastErr != nil {
		t.Fatalf("asking istiod: %v", lastErr)
	}
	return false
}

func selectorYAML(labels map[string]string) string {
	var parts []string
	for k, v := range labels {
		parts = append(parts, fmt.Sprintf("%s: %s", k, v))
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func renderObjects(t *testing.T, text string, data differentialData) []*unstructured.Unstructured {
	t.Helper()
	text = strings.ReplaceAll(text, "{{.HTTPSPort}}", data.HTTPSPort)
	text = strings.ReplaceAll(text, "{{.HTTPPort}}", data.HTTPPort)
	tmpl, err := template.New("objects").Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tmpl.Execute(&b, data); err != nil {
		t.Fatal(err)
	}
	objs, err := controlplane.DecodeManifests(b.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return objs
}

func deleteObjects(t *testing.T, objs []*unstructured.Unstructured) {
	mapper := adminMapper(t)
	for _, o := range objs {
		// Best effort, as the test ends: what cannot be found is gone.
		if client, err := resourceOf(mapper, o); err == nil {
			_ = client.Delete(context.Background(), o.GetName(), metav1.DeleteOptions{})
		}
	}
}

// createCredential writes a credential Secret for dnsNames into ns, as a user
// (or cert-manager) would, and removes it when the test ends.
func createCredential(t *testing.T, ns, name string, typ corev1.SecretType, dnsNames ...string) {
	t.Helper()
	ca, cert, key, err := fixtures.IssueTLS(dnsNames, 90*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if typ == "" {
		typ = corev1.SecretTypeTLS
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Type:       typ,
		Data:       map[string][]byte{"tls.crt": cert, "tls.key": key, "ca.crt": ca},
	}
	kube := adminKube(t)
	if _, err := kube.CoreV1().Secrets(ns).Create(context.Background(), secret, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = kube.CoreV1().Secrets(ns).Delete(context.Background(), name, metav1.DeleteOptions{}) })
}

func failedIn(report auditreport.Report, categories ...string) []string {
	var ids []string
	for _, c := range report.Categories {
		for _, cat := range categories {
			if c.CategoryName != cat {
				continue
			}
			for _, check := range c.Checks {
				if check.Result == auditcheck.Fail {
					ids = append(ids, check.ID)
				}
			}
		}
	}
	return ids
}

const differentialDoc = "docs/istiod-differential.md"

func checksDoc(t *testing.T) string {
	data, err := os.ReadFile(filepath.Join(controlplane.RepoRoot(), "docs", "checks.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// checkDifferentialTable compares the published table with this run's.
func checkDifferentialTable(t *testing.T, rows []differentialRow) {
	var b strings.Builder
	b.WriteString(`# verify and istiod, side by side

Generated by ` + "`go test ./test/e2e -run TestVerifyAgreesWithIstiod -update-differential`" + `; a test
fails when this file and the code drift apart.

Each row is a setup applied to the local control plane (Istio installed as
` + "`istioctl manifest generate --set profile=ambient`" + ` and Istio's gateway charts
render it), audited by ` + "`kubectl opea verify`" + ` and rendered by a running istiod.
"TLS served" is, for verify, no failed check in the Ingress gateway and Routing
categories and no failed authorization.ingress-admitted or
authorization.gateway-admits-clients; for istiod, what a
client gets from the gateway emulator (test/gatewayemulator), which serves what
istiod sends the gateway proxy (listeners, routes, clusters, endpoints, the
credential its SDS would read): GET https://host/ on the gateway's HTTPS port
validates the certificate against the credential's CA and gets the app's own
answer, and GET http://host/ on the HTTP port is redirected to https; and, in
what istiod sends ztunnel, the authorization of the entry pods admitting the
gateway's principal on the entry port. "STRICT" is, for verify, no failed check in the
mTLS category; for istiod, a STRICT policy attached to every pod of the
namespace in what it sends ztunnel. The AuthorizationPolicy rows list every
check verify fails; the ztunnel checks that only warn are not listed.

The Gateway API rows are Gateways of class ` + "`istio`" + ` (unless the row says otherwise),
for which istiod deploys the gateway itself. For them "TLS served" is, for
verify, no failed check in the Ingress gateway, Routing and Gateway API
categories and no failed authorization.ingress-admitted or
authorization.gateway-admits-clients; for istiod, the status it writes (Gateway Accepted and Programmed with an address, the HTTPS listener
ResolvedRefs and Programmed, the route Accepted and ResolvedRefs), what the
gateway emulator, fed with the configuration of the gateway istiod deployed,
answers, as above, and, in what istiod sends ztunnel, the entry pods admitting
the service account that gateway runs as (where ingress goes through the
namespace's waypoint, the waypoint's: ztunnel at the entry pods sees it).

| setup | TLS served: verify | istiod | STRICT: verify | istiod | verify's failed checks |
|---|---|---|---|---|---|
`)
	yes := map[bool]string{true: "yes", false: "no"}
	for _, r := range rows {
		failed := strings.Join(r.verifyFailedIDs, ", ")
		if r.exception != "" {
			failed += " (exception: " + r.exception + ")"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.name, yes[r.verifyTLS], yes[r.istiodTLS], yes[r.verifyStrict], yes[r.istiodStrict], failed)
	}
	path := filepath.Join(controlplane.RepoRoot(), differentialDoc)
	if *updateDifferential {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	have, err := os.ReadFile(path)
	if err != nil || string(have) != b.String() {
		t.Errorf("%s is out of date: run go test ./test/e2e -run TestVerifyAgreesWithIstiod -update-differential\n--- want:\n%s", differentialDoc, b.String())
	}
}

// ingressAdmittedID is verify's check that ztunnel lets the ingress
// gateway reach the entry workload.
const (
	ingressAdmittedID      = "authorization.ingress-admitted"
	gatewayAdmitsClientsID = "authorization.gateway-admits-clients"
)

// labelNamespace adds labels to namespace ns.
func labelNamespace(t *testing.T, ns string, labels map[string]string) {
	t.Helper()
	patch, err := json.Marshal(map[string]interface{}{"metadata": map[string]interface{}{"labels": labels}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := adminKube(t).CoreV1().Namespaces().Patch(context.Background(), ns, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// principal is the SPIFFE principal of a service account, in the default
// trust domain the local control plane's mesh uses.
func principal(ns, sa string) string {
	if sa == "" {
		sa = "default"
	}
	return "cluster.local/ns/" + ns + "/sa/" + sa
}

// gatewayAdmitted is nil when the authorization istiod sends ztunnel for
// the entry pod chatqna-nginx of ns admits the gateway proxy's principal on
// the entry port, 80.
func gatewayAdmitted(st *xds.AmbientState, ns string, proxy xds.Proxy) error {
	return callerAdmitted(st, ns, principal(proxy.Namespace, proxy.ServiceAccount))
}

// callerAdmitted is nil when, in what istiod sends ztunnel, ns's entry pods
// admit the caller of principal on port 80.
func callerAdmitted(st *xds.AmbientState, ns, callerPrincipal string) error {
	w := st.Workload(ns, "chatqna-nginx")
	if w == nil {
		return fmt.Errorf("istiod knows no workload chatqna-nginx in %s", ns)
	}
	callerNS, _, _ := strings.Cut(strings.TrimPrefix(callerPrincipal, "cluster.local/ns/"), "/")
	caller := xds.Caller{Principal: callerPrincipal, Namespace: callerNS, Port: 80}
	if !st.Admits(*w, caller) {
		return fmt.Errorf("ztunnel would refuse %s on port 80 of %s/chatqna-nginx", caller.Principal, ns)
	}
	return nil
}
