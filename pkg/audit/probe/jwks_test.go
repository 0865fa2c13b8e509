package probe

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/opea-project/kubectl-opea/pkg/audit/snapshot"
	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// FetchKeys fetches the keys of the RequestAuthentications that may bind
// the application's gateway, from the jwksUri or through the issuer's
// discovery document, and says why a URL gave none; those of other
// namespaces are not fetched.
func TestFetchKeys(t *testing.T) {
	mux := http.NewServeMux()
	var srv *httptest.Server
	mux.HandleFunc("/certs", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"EC"}]}`))
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"keys":[]}`)) })
	mux.HandleFunc("/html", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`<html>sign in</html>`)) })
	mux.HandleFunc("/realms/opea/.well-known/openid-configuration", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"issuer":"` + srv.URL + `/realms/opea","jwks_uri":"` + srv.URL + `/certs"}`))
	})
	srv = httptest.NewServer(mux)
	defer srv.Close()

	s := healthy(t)
	rule := func(issuer, jwks string) istio.JWTRule { return istio.JWTRule{Issuer: issuer, JWKSURI: jwks} }
	s.RequestAuthentications = []istio.RequestAuthentication{
		{Namespace: "istio-ingress", Name: "direct", JWTRules: []istio.JWTRule{rule("https://idp", srv.URL+"/certs"), rule("https://idp", srv.URL+"/empty")}},
		{Namespace: "istio-system", Name: "discovered", JWTRules: []istio.JWTRule{rule(srv.URL+"/realms/opea", ""), rule("https://idp", srv.URL+"/html"), rule("https://idp", srv.URL+"/missing")}},
		{Namespace: "istio-system", Name: "inline", JWTRules: []istio.JWTRule{{Issuer: "https://idp", JWKS: `{"keys":[]}`}}},
		{Namespace: "elsewhere", Name: "not-ours", JWTRules: []istio.JWTRule{rule("https://idp", srv.URL+"/elsewhere")}},
	}
	got := FetchKeys(context.Background(), s, Options{Timeout: 10 * time.Second})
	want := map[string]func(snapshot.JWKSFetch) bool{
		srv.URL + "/certs":   func(f snapshot.JWKSFetch) bool { return f.Keys == 2 && f.Err == "" },
		srv.URL + "/empty":   func(f snapshot.JWKSFetch) bool { return f.Keys == 0 && strings.Contains(f.Err, "holds no key") },
		srv.URL + "/html":    func(f snapshot.JWKSFetch) bool { return strings.Contains(f.Err, "is not a JSON document") },
		srv.URL + "/missing": func(f snapshot.JWKSFetch) bool { return strings.Contains(f.Err, "answered 404") },
		srv.URL + "/realms/opea/.well-known/openid-configuration": func(f snapshot.JWKSFetch) bool {
			return f.Keys == 2 && f.Via == srv.URL+"/realms/opea/.well-known/openid-configuration"
		},
	}
	if len(got) != len(want) {
		t.Errorf("fetched %d URLs, want %d: %+v", len(got), len(want), got)
	}
	for u, ok := range want {
		if f, found := got[u]; !found || !ok(f) {
			t.Errorf("%s: %+v (fetched: %v)", u, f, found)
		}
	}

	// Without the RequestAuthentications, nothing is fetched.
	s.Deny(snapshot.InputRequestAuthentications, snapshot.Access{Verb: "list", Group: "security.istio.io", Resource: "requestauthentications", AllNamespaces: true})
	if got := FetchKeys(context.Background(), s, Options{Timeout: time.Second}); got != nil {
		t.Errorf("fetched %v without the RequestAuthentications read", got)
	}
}

// The probe sends the token only in its second GET of each host, as a
// bearer token, and records both answers.
func TestProbeSendsTheTokenOverHTTPS(t *testing.T) {
	c := issue(t, []string{"chatqna.example.com"}, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	cert, err := tls.X509KeyPair(c.CertPEM, c.KeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var seen []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer s3cret" {
			w.WriteHeader(http.StatusForbidden)
			_, _ = w.Write([]byte("RBAC: access denied"))
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	defer srv.Close()
	s := healthy(t)
	useCertificate(s, c)
	withHosts(s, "chatqna.example.com")
	report := Probe(context.Background(), s, Options{Address: srv.Listener.Addr().String(), Timeout: 10 * time.Second, Token: "s3cret"})
	h := report.Hosts[0]
	if !report.Token || h.Status != 403 || h.Body != "RBAC: access denied" || h.TokenStatus != 200 || h.TokenErr != "" {
		t.Errorf("report %+v, host %+v", report, h)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != "" || seen[1] != "Bearer s3cret" {
		t.Errorf("the gateway saw Authorization %q", seen)
	}
}
