package e2e

import (
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/anypb"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/opea-project/kubectl-opea/pkg/ownership"
	"github.com/opea-project/kubectl-opea/test/fixtures"
	"github.com/opea-project/kubectl-opea/test/gatewayemulator"
	"github.com/opea-project/kubectl-opea/test/jwtissuer"
	"github.com/opea-project/kubectl-opea/test/testpki"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// secure --auth through the running istiod and the gateway emulator: istiod
// fetches the JWKS from a loopback server itself, inlines it into the
// gateway's jwt_authn filter and turns secure's DENY into RBAC; the
// emulator judges what the gateway does with a token.

var requestAuthenticationGVR = schema.GroupVersionResource{Group: "security.istio.io", Version: "v1", Resource: "requestauthentications"}

// serveJWKS serves jwks over HTTPS on loopback, as an IdP publishes its
// keys, with the certificate istiod trusts (idpTLS), and returns the URL
// istiod fetches.
func serveJWKS(t *testing.T, jwks string) string {
	t.Helper()
	return serveJWKSWith(t, jwks, idpTLS)
}

// serveJWKSWith serves jwks over HTTPS with cred's certificate.
func serveJWKSWith(t *testing.T, jwks string, cred testpki.Credential) string {
	t.Helper()
	srv, err := jwtissuer.ServeJWKS(jwks, cred.CertPEM, cred.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv.URL
}

// unreachableURL is a loopback https URL nothing listens on.
func unreachableURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return "https://" + addr + "/certs"
}

// askWithToken sends GET https://host/ to the emulator's listener for
// port, with Authorization: authorization when it is not empty.
func askWithToken(e *gatewayemulator.Emulator, port uint32, host, authorization string, roots *x509.CertPool) (gatewayReply, error) {
	client := e.Client(port, roots)
	defer client.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+host+"/", nil)
	if err != nil {
		return gatewayReply{}, err
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	resp, err := client.Do(req)
	if err != nil {
		return gatewayReply{}, fmt.Errorf("%w (the emulator: %v)", err, e.Problems())
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return gatewayReply{status: resp.StatusCode, body: string(body)}, nil
}

// tokenRow is one request and the gateway's answer to it.
type tokenRow struct {
	name, authorization string
	status              int
	// app: the app's own answer (the request reached it).
	app bool
}

// tokenRows are the differential rows of --auth jwt for issuer idp with
// audience "chatqna" and --require-claim groups=opea-users.
func tokenRows(t *testing.T, idp *jwtissuer.Issuer) []tokenRow {
	t.Helper()
	stranger, err := jwtissuer.New(idp.URL) // the issuer's name, other keys
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"sub": "alice", "aud": "chatqna", "exp": now + 3600, "groups": []any{"opea-users"}}
		if change != nil {
			change(c)
		}
		return c
	}
	bearer := func(signer *jwtissuer.Issuer, alg string, c map[string]any) string {
		tok, err := signer.Token(alg, c)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	return []tokenRow{
		{name: "no token", status: http.StatusForbidden},
		{name: "malformed", authorization: "Bearer not.a-jwt", status: http.StatusUnauthorized},
		{name: "wrong signature", authorization: bearer(stranger, "RS256", claims(nil)), status: http.StatusUnauthorized},
		{name: "expired", authorization: bearer(idp, "RS256", claims(func(c map[string]any) { c["exp"] = now - 3600 })), status: http.StatusUnauthorized},
		{name: "wrong audience", authorization: bearer(idp, "RS256", claims(func(c map[string]any) { c["aud"] = "other" })), status: http.StatusForbidden},
		{name: "missing claim", authorization: bearer(idp, "RS256", claims(func(c map[string]any) { delete(c, "groups") })), status: http.StatusForbidden},
		{name: "valid RS256", authorization: bearer(idp, "RS256", claims(nil)), status: http.StatusOK, app: true},
		{name: "valid ES256", authorization: bearer(idp, "ES256", claims(nil)), status: http.StatusOK, app: true},
	}
}

// checkRows is nil when the gateway answers every row as it says.
func checkRows(e *gatewayemulator.Emulator, port uint32, ns, host string, roots *x509.CertPool, rows []tokenRow) error {
	var bad []string
	for _, r := range rows {
		got, err := askWithToken(e, port, host, r.authorization, roots)
		if err != nil {
			return err
		}
		if got.status != r.status || (r.app && got.body != appAnswer(ns)) || (!r.app && got.body == appAnswer(ns)) {
			bad = append(bad, fmt.Sprintf("%s: %d %q, want %d (the app's answer: %v)", r.name, got.status, strings.TrimSpace(got.body), r.status, r.app))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return nil
}

// authObjects are the names of secure --auth's policies in ns, by kind.
func authObjects(t *testing.T, ns string) []string {
	t.Helper()
	var out []string
	for _, gvr := range []schema.GroupVersionResource{authorizationPolicyGVR, requestAuthenticationGVR} {
		list, err := adminDynamic(t).Resource(gvr).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range list.Items {
			if strings.Contains(u.GetName(), "-jwt") || strings.Contains(u.GetName(), "-ext-authz") {
				out = append(out, gvr.Resource+"/"+u.GetName())
			}
		}
	}
	return out
}

func jwtFlags(idp *jwtissuer.Issuer, jwksURI string) []string {
	return []string{"--auth", "jwt", "--jwt-issuer", idp.URL, "--jwks-uri", jwksURI, "--audience", "chatqna", "--require-claim", "groups=opea-users"}
}

// TestAuthJWTOnTheClassicGateway: secure --auth jwt on the shared gateway;
// the rows through istiod and the emulator; another app on the same
// gateway keeps answering without a token; a JWKS istiod cannot fetch
// turns every token away; a plain rerun keeps it; --auth ext-authz with a
// provider the mesh config lacks refuses and writes nothing; --auth=none
// and unsecure leave both namespaces as they were.
func TestAuthJWTOnTheClassicGateway(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	layout := fixtures.ChartGateway
	installLayout(t, layout)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	ns := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, ns)
	other := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, other)
	waitForNamespaceConfigMaps(t, ns)
	waitForNamespaceConfigMaps(t, other)
	t.Cleanup(func() { _ = opea(t, "unsecure", "-n", other) })

	host, otherHost := ns+".example.com", other+".example.com"
	names, otherNames := ownership.NamesFor(ns), ownership.NamesFor(other)
	t.Cleanup(func() {
		for _, s := range []string{names.TLSSecret, names.CASecret, otherNames.TLSSecret, otherNames.CASecret} {
			_ = kube.CoreV1().Secrets(layout.Namespace).Delete(context.Background(), s, metav1.DeleteOptions{})
		}
	})
	if r := opea(t, "secure", "-n", other, "--host", otherHost); r.code != 0 {
		t.Fatalf("secure -n %s: exit %d\n%s", other, r.code, r.stderr)
	}
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), layout.Namespace, otherNames.Certificate); err != nil {
		t.Fatal(err)
	}
	before := dumpNamespaces(t, ns, gatewayNamespace)
	if r := opea(t, "secure", "-n", ns, "--host", host); r.code != 0 {
		t.Fatalf("secure: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), layout.Namespace, names.Certificate); err != nil {
		t.Fatal(err)
	}
	secured := dumpNamespaces(t, ns, gatewayNamespace)

	// A provider the mesh config lacks: refused, nothing written.
	r := opea(t, "secure", "-n", ns, "--host", host, "--auth", "ext-authz", "--auth-provider", "oauth2-proxy-"+ns)
	if r.code != 1 || !strings.Contains(r.stderr, "is not an extension provider of Istio's mesh config") || !strings.Contains(r.stderr, "extensionProviders") {
		t.Errorf("--auth ext-authz with a missing provider: exit %d\n%s", r.code, r.stderr)
	}
	if diff := cmp.Diff(secured, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
		t.Errorf("a refused secure --auth ext-authz changed the namespaces (-before +after):\n%s", diff)
	}

	idp, err := jwtissuer.New("https://idp-" + ns + ".example.com/realms/opea")
	if err != nil {
		t.Fatal(err)
	}
	jwks := serveJWKS(t, idp.JWKS())
	if r := opea(t, append([]string{"secure", "-n", ns, "--host", host}, jwtFlags(idp, jwks)...)...); r.code != 0 {
		t.Fatalf("secure --auth jwt: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	} else if !strings.Contains(r.stdout, "Authorization: Bearer $TOKEN") {
		t.Errorf("the next steps do not say how to call the app with a token:\n%s", r.stdout)
	}
	if got, want := authObjects(t, layout.Namespace), []string{"authorizationpolicies/" + names.RequireJWT, "requestauthentications/" + names.RequestAuthentication}; !cmp.Equal(got, want) {
		t.Errorf("policies in the gateway namespace: %v, want %v", got, want)
	}

	proxy := gatewayProxy(t, layout)
	gw := emulateGateway(t, proxy, ns, other)
	roots := credentialRoots(t, layout.Namespace, names.TLSSecret)
	otherRoots := credentialRoots(t, layout.Namespace, otherNames.TLSSecret)
	rows := tokenRows(t, idp)
	waitGatewayServes(t, gw, func() error { return checkRows(gw, layout.HTTPSTarget, ns, host, roots, rows) })
	recordGateway(t, proxy, "secure-auth-jwt-classic")
	// The other application on the same gateway: no token needed.
	if err := servedThrough(gw, layout, other, otherHost, otherRoots); err != nil {
		t.Errorf("the other app on the gateway: %v", err)
	}
	// Plain HTTP for the hosts: the DENY comes before the redirect.
	if got, err := askGateway(gw, layout.HTTPTarget, "http", host, nil); err != nil || got.status != http.StatusForbidden {
		t.Errorf("GET http://%s/ without a token: %+v, %v; want 403 (docs/secure.md says so)", host, got, err)
	}

	verifyAuthenticated(t, gw, layout, ns, other, host, roots, rows[len(rows)-2].authorization)
	// Restored for what follows, as verify's fix says.
	if r := opea(t, append([]string{"secure", "-n", ns, "--host", host}, jwtFlags(idp, jwks)...)...); r.code != 0 {
		t.Fatalf("secure --auth jwt to restore the policy: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	waitGatewayServes(t, gw, func() error { return checkRows(gw, layout.HTTPSTarget, ns, host, roots, rows[:1]) })

	// A plain rerun keeps the policies as they are.
	kept := dumpNamespaces(t, ns, gatewayNamespace)
	if r := opea(t, "secure", "-n", ns, "--host", host); r.code != 0 || !strings.Contains(r.stderr, "Keeping --auth jwt") {
		t.Fatalf("plain secure: exit %d\n%s", r.code, r.stderr)
	}
	if diff := cmp.Diff(kept, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
		t.Errorf("a plain secure changed the namespaces (-before +after):\n%s", diff)
	}

	// A JWKS served with a certificate istiod does not trust: istiod
	// cannot fetch it, and serves a key that fits no token.
	untrusted := serveJWKSWith(t, idp.JWKS(), testpki.MustIssue(t, testpki.Leaf{IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}))
	if r := opea(t, append([]string{"secure", "-n", ns, "--host", host}, jwtFlags(idp, untrusted)...)...); r.code != 0 {
		t.Fatalf("secure --auth jwt with a JWKS istiod does not trust: exit %d\n%s", r.code, r.stderr)
	}
	waitGatewayServes(t, gw, func() error {
		return checkRows(gw, layout.HTTPSTarget, ns, host, roots, []tokenRow{
			{name: "valid token, JWKS certificate not trusted by istiod", authorization: rows[len(rows)-2].authorization, status: http.StatusUnauthorized},
		})
	})

	// A JWKS istiod cannot fetch: istiod serves a key that fits no token.
	unreachable := unreachableURL(t)
	if r := opea(t, append([]string{"secure", "-n", ns, "--host", host}, jwtFlags(idp, unreachable)...)...); r.code != 0 {
		t.Fatalf("secure --auth jwt with an unreachable JWKS: exit %d\n%s", r.code, r.stderr)
	}
	valid := rows[len(rows)-2]
	waitGatewayServes(t, gw, func() error {
		return checkRows(gw, layout.HTTPSTarget, ns, host, roots, []tokenRow{
			{name: "valid token, JWKS unreachable for istiod", authorization: valid.authorization, status: http.StatusUnauthorized},
			{name: "no token, JWKS unreachable for istiod", status: http.StatusForbidden},
		})
	})

	// --auth=none: back to the secured namespaces, the other app untouched.
	if r := opea(t, "secure", "-n", ns, "--host", host, "--auth=none"); r.code != 0 {
		t.Fatalf("secure --auth=none: exit %d\n%s", r.code, r.stderr)
	} else if !strings.Contains(r.stdout, "authorizationpolicy.security.istio.io/"+names.RequireJWT+" deleted") {
		t.Errorf("--auth=none does not report the removal:\n%s", r.stdout)
	}
	if diff := cmp.Diff(secured, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
		t.Errorf("secure --auth jwt then --auth=none changed the namespaces (-before +after):\n%s", diff)
	}
	waitGatewayServes(t, gw, func() error { return servedThrough(gw, layout, ns, host, roots) })

	// unsecure takes the policies out with the rest.
	if r := opea(t, append([]string{"secure", "-n", ns, "--host", host}, jwtFlags(idp, jwks)...)...); r.code != 0 {
		t.Fatalf("secure --auth jwt again: exit %d\n%s", r.code, r.stderr)
	}
	unsecured := opea(t, "unsecure", "-n", ns)
	if unsecured.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", unsecured.code, unsecured.stdout, unsecured.stderr)
	}
	if diff := cmp.Diff(before, dumpNamespaces(t, ns, gatewayNamespace)); diff != "" {
		t.Errorf("secure --auth jwt then unsecure changed the namespaces (-before +after):\n%s\nunsecure said:\n%s%s", diff, unsecured.stdout, unsecured.stderr)
	}
	waitGatewayServes(t, gw, func() error { return servedThrough(gw, layout, other, otherHost, otherRoots) })
}

// TestAuthJWTWithTheGatewayAPI: the same policies bound to secure's Gateway
// API Gateway by targetRefs, in the application namespace.
func TestAuthJWTWithTheGatewayAPI(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	ns := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, ns)
	waitForNamespaceConfigMaps(t, ns)
	before := dumpNamespaces(t, ns)

	host := ns + ".example.com"
	names := ownership.NamesFor(ns)
	secure := []string{"secure", "-n", ns, "--host", host, "--gateway-api", "--gateway-service-type", "ClusterIP"}
	if r := opea(t, secure...); r.code != 0 {
		t.Fatalf("secure --gateway-api: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), ns, names.Certificate); err != nil {
		t.Fatal(err)
	}
	layout := fixtures.DeployedGateway(ns, gatewayAPIName)
	if err := fixtures.WaitDeployedGatewayReady(ctx, kube, layout); err != nil {
		t.Fatal(err)
	}
	secured := dumpNamespaces(t, ns)

	idp, err := jwtissuer.New("https://idp-" + ns + ".example.com/realms/opea")
	if err != nil {
		t.Fatal(err)
	}
	jwks := serveJWKS(t, idp.JWKS())
	if r := opea(t, append(secure, jwtFlags(idp, jwks)...)...); r.code != 0 {
		t.Fatalf("secure --gateway-api --auth jwt: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, want := authObjects(t, ns), []string{"authorizationpolicies/" + names.RequireJWT, "requestauthentications/" + names.RequestAuthentication}; !cmp.Equal(got, want) {
		t.Errorf("policies in the app namespace: %v, want %v", got, want)
	}
	proxy, err := layout.Proxy(ctx, kube)
	if err != nil {
		t.Fatal(err)
	}
	gw := emulateGateway(t, proxy, ns)
	roots := credentialRoots(t, ns, names.TLSSecret)
	rows := tokenRows(t, idp)
	waitGatewayServes(t, gw, func() error { return checkRows(gw, layout.HTTPSTarget, ns, host, roots, rows) })
	// verify finds the policies bound to the Gateway by targetRefs.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(rows[len(rows)-1].authorization), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := opea(t, append([]string{"verify", "-n", ns, "--probe-token-file", tokenFile}, probeFlags(t, gw, layout)...)...); r.code != 0 ||
		!strings.Contains(r.stdout, "[ok]   the authentication policies bind the application's gateways (AuthorizationPolicy "+ns+"/"+names.RequireJWT+", RequestAuthentication "+ns+"/"+names.RequestAuthentication+" bind Gateway "+ns+"/") ||
		!strings.Contains(r.stdout, "[ok]   a request with --probe-token-file's token reaches the application (GET / with the token answered 200)") {
		t.Errorf("verify --probe-token-file with the Gateway API: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	if r := opea(t, append(secure, "--auth=none")...); r.code != 0 {
		t.Fatalf("secure --gateway-api --auth=none: exit %d\n%s", r.code, r.stderr)
	}
	if diff := cmp.Diff(secured, dumpNamespaces(t, ns)); diff != "" {
		t.Errorf("--auth jwt then --auth=none changed the namespace (-before +after):\n%s", diff)
	}
	if r := opea(t, append(secure, jwtFlags(idp, jwks)...)...); r.code != 0 {
		t.Fatalf("secure --gateway-api --auth jwt again: exit %d\n%s", r.code, r.stderr)
	}
	if r := opea(t, "unsecure", "-n", ns); r.code != 0 {
		t.Fatalf("unsecure: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Istio's Deployment, pods, Service and ServiceAccount go with the
	// Gateway that owns them.
	eventually(t, 60*time.Second, "the namespace to be as before secure", func() (bool, error) {
		return cmp.Equal(before, dumpNamespaces(t, ns)), nil
	})
}

// TestAuthExtAuthzOnTheClassicGateway: secure --auth ext-authz with a
// provider the mesh config names, served by a loopback test server that
// allows a request with the right header and denies the rest; istiod
// turns the CUSTOM policy into the RBAC shadow rules and the ext_authz
// filter the emulator runs.
func TestAuthExtAuthzOnTheClassicGateway(t *testing.T) {
	ctx := context.Background()
	kube := adminKube(t)
	layout := fixtures.ChartGateway
	installLayout(t, layout)
	if err := fixtures.WaitIstioDataPlaneReady(ctx, kube); err != nil {
		t.Fatal(err)
	}
	ns := newChatQnA(t, "chatqna")
	runCapturedAppPods(t, ns)
	host := ns + ".example.com"
	names := ownership.NamesFor(ns)
	t.Cleanup(func() {
		_ = opea(t, "unsecure", "-n", ns)
		for _, s := range []string{names.TLSSecret, names.CASecret} {
			_ = kube.CoreV1().Secrets(layout.Namespace).Delete(context.Background(), s, metav1.DeleteOptions{})
		}
	})

	// The authorization service: a Service of the namespace with
	// endpoints, which istiod needs to resolve the provider; the emulator
	// sends its checks to the loopback server standing in for it.
	authz := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "authz"}, Spec: corev1.ServiceSpec{
		Selector: map[string]string{"app.kubernetes.io/name": "chatqna-nginx"},
		Ports:    []corev1.ServicePort{{Name: "http", Port: 8000, TargetPort: intstr.FromInt32(8000)}},
	}}
	if _, err := kube.CoreV1().Services(ns).Create(ctx, authz, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := fixtures.WaitEndpointSlice(ctx, kube, ns, "authz"); err != nil {
		t.Fatal(err)
	}
	provider := "authz-" + ns
	addExtensionProvider(t, provider, "authz."+ns+".svc.cluster.local", 8000)

	r := opea(t, "secure", "-n", ns, "--host", host, "--auth", "ext-authz", "--auth-provider", provider)
	if r.code != 0 {
		t.Fatalf("secure --auth ext-authz: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	if got, want := authObjects(t, layout.Namespace), []string{"authorizationpolicies/" + names.ExtAuthz}; !cmp.Equal(got, want) {
		t.Errorf("policies in the gateway namespace: %v, want %v", got, want)
	}
	if _, err := fixtures.WaitCertificateIssued(ctx, kube, adminDynamic(t), layout.Namespace, names.Certificate); err != nil {
		t.Fatal(err)
	}
	proxy := gatewayProxy(t, layout)
	gw := emulateGateway(t, proxy, ns)
	if err := gw.Backend("authz."+ns+".svc.cluster.local", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") == "Bearer let-me-in" {
			return
		}
		w.WriteHeader(http.StatusForbidden)
		_, _ = io.WriteString(w, "denied by authz")
	})); err != nil {
		t.Fatal(err)
	}
	roots := credentialRoots(t, layout.Namespace, names.TLSSecret)
	waitGatewayServes(t, gw, func() error {
		allowed, err := askWithToken(gw, layout.HTTPSTarget, host, "Bearer let-me-in", roots)
		if err != nil {
			return err
		}
		denied, err := askWithToken(gw, layout.HTTPSTarget, host, "", roots)
		if err != nil {
			return err
		}
		if allowed.status != http.StatusOK || allowed.body != appAnswer(ns) || denied.status != http.StatusForbidden || denied.body != "denied by authz" {
			return fmt.Errorf("allowed: %d %q; denied: %d %q; want the app's answer and the service's 403", allowed.status, strings.TrimSpace(allowed.body), denied.status, denied.body)
		}
		return nil
	})
	recordGateway(t, proxy, "secure-auth-ext-authz-classic")

	// verify: the provider is in the mesh config, a request without the
	// header is refused, one with it gets in.
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("let-me-in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = opea(t, append([]string{"verify", "-n", ns, "--probe-token-file", tokenFile}, probeFlags(t, gw, layout)...)...)
	for _, want := range []string{
		"[ok]   CUSTOM policies name an extension provider of the mesh config (" + layout.Namespace + "/" + names.ExtAuthz + ": " + provider + ", in ConfigMap istio-system/istio, key mesh)",
		"[ok]   the gateway turns away a request without a token (refused: " + host + ": 403)",
		"[ok]   a request with --probe-token-file's token reaches the application (GET / with the token answered 200)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify lacks %q", want)
		}
	}
	if r.code != 0 || strings.Contains(r.stdout+r.stderr, "let-me-in") {
		t.Errorf("verify --probe-token-file after secure --auth ext-authz: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// addExtensionProvider adds an envoyExtAuthzHttp provider to the mesh
// config istiod reads (ConfigMap istio-system/istio), as a user would, and
// puts the ConfigMap back when the test ends.
func addExtensionProvider(t *testing.T, name, service string, port int) {
	t.Helper()
	ctx := context.Background()
	cms := adminKube(t).CoreV1().ConfigMaps("istio-system")
	cm, err := cms.Get(ctx, "istio", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	original := cm.Data["mesh"]
	mesh := map[string]any{}
	if err := yaml.Unmarshal([]byte(original), &mesh); err != nil {
		t.Fatal(err)
	}
	providers, _ := mesh["extensionProviders"].([]any)
	mesh["extensionProviders"] = append(providers, map[string]any{
		"name": name, "envoyExtAuthzHttp": map[string]any{"service": service, "port": port, "includeRequestHeadersInCheck": []any{"authorization"}},
	})
	b, err := yaml.Marshal(mesh)
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["mesh"] = string(b)
	if _, err := cms.Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cm, err := cms.Get(context.Background(), "istio", metav1.GetOptions{})
		if err != nil {
			t.Error(err)
			return
		}
		cm.Data["mesh"] = original
		if _, err := cms.Update(context.Background(), cm, metav1.UpdateOptions{}); err != nil {
			t.Error(err)
		}
	})
}

// recordGateway writes what istiod sends proxy now, as the gateway
// emulator's recorded tests read it (test/gatewayemulator/testdata/name),
// when OPEA_RECORD_XDS names the emulator's testdata directory; otherwise
// it does nothing.
func recordGateway(t *testing.T, proxy xds.Proxy, name string) {
	t.Helper()
	dir := os.Getenv("OPEA_RECORD_XDS")
	if dir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	raw, err := xds.FetchGatewayWithClusters(ctx, cluster.Istio.XDS, proxy)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
		t.Fatal(err)
	}
	for file, resources := range map[string][]*anypb.Any{"lds": raw.Listeners, "rds": raw.Routes, "cds": raw.Clusters, "eds": raw.Endpoints} {
		b, err := prototext.MarshalOptions{Multiline: true}.Marshal(&discovery.DiscoveryResponse{Resources: resources})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, file+".txtpb"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// verifyAuthenticated: after secure --auth jwt for ns on the shared
// gateway, verify with a valid token passes, its Authentication checks
// among the rest, and prints the token nowhere; verify of the other
// application on the gateway passes without one; with the
// AuthorizationPolicy deleted by hand (the gateway then serves ns without
// a token), verify fails, exit code 1.
func verifyAuthenticated(t *testing.T, gw *gatewayemulator.Emulator, layout fixtures.GatewayLayout, ns, other, host string, roots *x509.CertPool, authorization string) {
	t.Helper()
	token := strings.TrimPrefix(authorization, "Bearer ")
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(authorization+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	probe := probeFlags(t, gw, layout)
	printed := func(r opeaResult) bool { return strings.Contains(r.stdout+r.stderr, token) }

	r := opea(t, append([]string{"verify", "-n", ns, "--probe-token-file", tokenFile}, probe...)...)
	if r.code != 0 || printed(r) {
		t.Errorf("verify --probe-token-file after secure --auth jwt: exit %d, token printed %v\n%s%s", r.code, printed(r), r.stdout, r.stderr)
	}
	for _, want := range []string{
		"[ok]   the gateway requires a token or an authorizer's consent for the application's hosts (kubectl opea secure --auth jwt;",
		"[ok]   the authentication policies bind the application's gateways (",
		"[ok]   every form of every host needs credentials, with and without the port (requests without credentials refused for " + host + ", " + host + ":443",
		"[ok]   each issuer's keys answer from here (2 keys at https://127.0.0.1:",
		"[ok]   the gateway turns away a request without a token (refused: " + host + ": 403)",
		"[ok]   a request with --probe-token-file's token reaches the application (GET / with the token answered 200)",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("verify lacks %q:\n%s", want, r.stdout)
		}
	}
	// What authentication.hosts-covered judges, asked of the gateway as
	// istiod configures it: the Host header with the port needs the token
	// too.
	withPort := host + ":443"
	if err := checkRows(gw, layout.HTTPSTarget, ns, withPort, roots, []tokenRow{
		{name: "Host " + withPort + " without a token", status: http.StatusForbidden},
		{name: "Host " + withPort + " with a valid token", authorization: authorization, status: http.StatusOK, app: true},
	}); err != nil {
		t.Errorf("the gateway: %v", err)
	}
	if js := opea(t, append([]string{"verify", "-n", ns, "-o", "json", "--probe-token-file", tokenFile}, probe...)...); js.code != 0 || printed(js) {
		t.Errorf("verify -o json --probe-token-file: exit %d, token printed %v\n%s%s", js.code, printed(js), js.stdout, js.stderr)
	}

	// The other application: no token, no Authentication checks but the one
	// that says there is none.
	if r := opea(t, append([]string{"verify", "-n", other}, probe...)...); r.code != 0 ||
		!strings.Contains(r.stdout, "[ok]   HTTPS request reaches the application (GET / answered 200)") ||
		!strings.Contains(r.stdout, "[skip] the gateway requires a token or an authorizer's consent for the application's hosts (no authentication at the gateway") {
		t.Errorf("verify -n %s, the other application on the gateway: exit %d\n%s%s", other, r.code, r.stdout, r.stderr)
	}

	// The AuthorizationPolicy deleted by hand: the application is open.
	names := ownership.NamesFor(ns)
	if err := adminDynamic(t).Resource(authorizationPolicyGVR).Namespace(layout.Namespace).Delete(context.Background(), names.RequireJWT, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitGatewayServes(t, gw, func() error {
		got, err := askWithToken(gw, layout.HTTPSTarget, host, "", roots)
		if err == nil && got.body != appAnswer(ns) {
			err = fmt.Errorf("without a token: %d %q", got.status, got.body)
		}
		return err
	})
	r = opea(t, append([]string{"verify", "-n", ns, "--probe-token-file", tokenFile}, probe...)...)
	if r.code != 1 || printed(r) ||
		!strings.Contains(r.stdout, "[FAIL] the gateway requires a token or an authorizer's consent for the application's hosts  [authentication.configured]") ||
		!strings.Contains(r.stdout, "without a token answered 200: the application is open to callers without a token") {
		t.Errorf("verify with the AuthorizationPolicy deleted: exit %d, token printed %v\n%s%s", r.code, printed(r), r.stdout, r.stderr)
	}
}
