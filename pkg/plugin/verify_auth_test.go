package plugin

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	auditreport "github.com/opea-project/kubectl-opea/pkg/audit/report"
	"github.com/opea-project/kubectl-opea/pkg/desired"
	"github.com/opea-project/kubectl-opea/test/testpki"
)

// probeToken is the token the tests hand verify: it must appear in no
// output.
const probeToken = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2VjcmV0LXNpZ25hdHVyZQ"

// withJWTPolicies adds what secure --auth jwt writes for securedChatQnA,
// with the issuer's keys at jwksURI.
func withJWTPolicies(t *testing.T, objs []runtime.Object, jwksURI string) []runtime.Object {
	t.Helper()
	rendered, err := desired.Objects(desired.Params{
		AppNamespace: "chatqna", GatewayNamespace: "istio-ingress", GatewaySelector: map[string]string{"istio": "ingress"},
		Hosts: []string{"chatqna.example.com"}, Service: "chatqna-nginx", ServicePort: 80,
		HTTPSPort: 443, HTTPPort: 80, HTTPRedirect: true, Certificates: desired.OwnCA,
		NetworkingVersion: "v1", SecurityVersion: "v1",
		Auth: &desired.Auth{
			Settings:      desired.AuthSettings{Mode: desired.AuthJWT, Issuer: "https://idp.example.com/realms/opea", JWKSURI: jwksURI, Audiences: []string{"chatqna"}},
			PolicyVersion: "v1", RequestAuthnVersion: "v1", Namespace: "istio-ingress", Selector: map[string]string{"istio": "ingress"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range rendered {
		if u.GetKind() == "RequestAuthentication" || u.GetKind() == "AuthorizationPolicy" {
			objs = append(objs, u)
		}
	}
	return objs
}

// tokenGateway is a gateway behind secure --auth jwt as a client meets it:
// over HTTPS, the application for a request with probeToken and 403
// otherwise; over plain HTTP, 403 before the redirect.
func tokenGateway(t *testing.T, cred testpki.Credential) (httpsAddress, httpAddress string) {
	t.Helper()
	pair, err := tls.X509KeyPair(cred.CertPEM, cred.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	refuse := func(w http.ResponseWriter) {
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("RBAC: access denied"))
	}
	secure := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+probeToken {
			refuse(w)
			return
		}
		_, _ = w.Write([]byte("ChatQnA"))
	}))
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}
	secure.StartTLS()
	t.Cleanup(secure.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			t.Errorf("a token was sent over plain HTTP")
		}
		refuse(w)
	}))
	t.Cleanup(plain.Close)
	return strings.TrimPrefix(secure.URL, "https://"), strings.TrimPrefix(plain.URL, "http://")
}

// serveKeys serves a key set as an IdP publishes it, on loopback.
func serveKeys(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[{"kty":"EC","kid":"ec","crv":"P-256","x":"AAAA","y":"AAAA"}]}`))
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/realms/opea/protocol/openid-connect/certs"
}

func writeTokenFile(t *testing.T, content string) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// After secure --auth jwt, verify with --probe-token-file sends the token
// over HTTPS, passes when it reaches the application, fails when it does
// not, and prints the token nowhere: not in the table, -o json or an error.
func TestVerifyProbesWithTheTokenAndNeverPrintsIt(t *testing.T) {
	cred := issueGatewayCredential(t)
	c := securedCluster(t, withJWTPolicies(t, securedChatQnA(t, cred), serveKeys(t)))
	httpsAddress, httpAddress := tokenGateway(t, cred)
	probe := []string{"--probe-address", httpsAddress, "--probe-http-address", httpAddress}
	noToken := func(what string, r result) {
		t.Helper()
		if strings.Contains(r.out+r.err, probeToken) || strings.Contains(r.out+r.err, "c2VjcmV0LXNpZ25hdHVyZQ") {
			t.Errorf("%s printed the token:\n%s%s", what, r.out, r.err)
		}
	}

	table := runVerify(t, c, append(probe, "--probe-token-file", writeTokenFile(t, "Bearer "+probeToken+"\n"))...)
	noToken("verify", table)
	for _, want := range []string{
		"[ok]   the gateway turns away a request without a token (refused: chatqna.example.com: 403)",
		"[ok]   a request with --probe-token-file's token reaches the application (GET / with the token answered 200)",
		"[ok]   each issuer's keys answer from here (1 keys at http://127.0.0.1:",
		"[skip] HTTPS request reaches the application",
	} {
		if !strings.Contains(table.out, want) {
			t.Errorf("the report lacks %q:\n%s", want, table.out)
		}
	}
	if table.code != 0 {
		t.Errorf("exit %d, want 0\n%s%s", table.code, table.out, table.err)
	}

	js := runVerify(t, c, append(probe, "-o", "json", "--probe-token-file", writeTokenFile(t, probeToken))...)
	noToken("verify -o json", js)
	var report auditreport.Report
	if err := json.Unmarshal([]byte(js.out), &report); err != nil || !report.Success || js.code != 0 {
		t.Errorf("-o json: exit %d, success %v (%v)", js.code, report.Success, err)
	}

	// Another token: the gateway refuses it, verify fails.
	other := runVerify(t, c, append(probe, "--probe-token-file", writeTokenFile(t, probeToken+"x"))...)
	noToken("verify with a refused token", other)
	if other.code != 1 || !strings.Contains(other.out, "GET https://chatqna.example.com/ with the token answered 403: the token is valid but refused") {
		t.Errorf("a refused token: exit %d\n%s%s", other.code, other.out, other.err)
	}

	// Without a token file, the token check is skipped; nothing fails.
	if r := runVerify(t, c, probe...); r.code != 0 || !strings.Contains(r.out, "[skip] a request with --probe-token-file's token reaches the application (no --probe-token-file") {
		t.Errorf("without --probe-token-file: exit %d\n%s%s", r.code, r.out, r.err)
	}
}

// A token file that cannot be used is a usage error that names the file,
// never what it holds; nothing is read from the cluster.
func TestVerifyRefusesAnUnusableTokenFile(t *testing.T) {
	for _, tc := range []struct {
		name, content string
		args          []string
		want          string
	}{
		{"two tokens", probeToken + " " + probeToken, nil, "must hold one token, without spaces or line breaks inside"},
		{"empty", "\n", nil, "it is empty"},
		{"with -A", probeToken, []string{"-A"}, "--probe-token-file holds one application's token"},
		{"with --probe=false", probeToken, []string{"--probe=false"}, "--probe=false skips the probe that sends --probe-token-file's token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cluster := newFakeCluster(t)
			args := append([]string{"verify", "-n", "chatqna", "--probe-token-file", writeTokenFile(t, tc.content)}, tc.args...)
			r := run(t, cluster.clients, args...)
			if r.code != ExitUsage || !strings.Contains(r.err, tc.want) || strings.Contains(r.out+r.err, "c2VjcmV0LXNpZ25hdHVyZQ") {
				t.Errorf("exit %d, want %d with %q\n%s%s", r.code, ExitUsage, tc.want, r.out, r.err)
			}
			if n := cluster.requests(); n != 0 {
				t.Errorf("%d API requests before the flags were checked", n)
			}
		})
	}
	cluster := newFakeCluster(t)
	missing := filepath.Join(t.TempDir(), "nope")
	if r := run(t, cluster.clients, "verify", "-n", "chatqna", "--probe-token-file", missing); r.code != ExitUsage || !strings.Contains(r.err, "could not read --probe-token-file \""+missing+"\": no such file or directory") {
		t.Errorf("a missing file: exit %d\n%s", r.code, r.err)
	}
}
