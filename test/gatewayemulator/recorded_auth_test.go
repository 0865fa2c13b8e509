package gatewayemulator_test

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	jwtauthn "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/opea-project/kubectl-opea/test/jwtissuer"
	"github.com/opea-project/kubectl-opea/test/xds"
)

// The recording secure-auth-jwt-classic is what istiod sent the shared
// gateway (pods in istio-ingress) after
// `kubectl opea secure -n testauthjwtontheclassicgateway-1 --host <ns>.example.com
// --auth jwt --jwt-issuer https://idp-<ns>.example.com/realms/opea --jwks-uri
// <loopback> --audience chatqna --require-claim groups=opea-users`, with a
// second application, testauthjwtontheclassicgateway-2, secured on the same
// gateway without --auth (TestAuthJWTOnTheClassicGateway with
// OPEA_RECORD_XDS set).
const (
	authNS      = "testauthjwtontheclassicgateway-1"
	otherAuthNS = "testauthjwtontheclassicgateway-2"
	authIssuer  = "https://idp-" + authNS + ".example.com/realms/opea"
)

// withJWKS replaces the JWKS istiod fetched and inlined into the recorded
// listeners' jwt_authn providers by jwks, whose private keys the test
// holds: the recording keeps everything else istiod wrote.
func withJWKS(t *testing.T, listeners []*anypb.Any, jwks string) []*anypb.Any {
	t.Helper()
	var out []*anypb.Any
	for _, a := range listeners {
		var l listener.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			t.Fatal(err)
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var m hcm.HttpConnectionManager
				if !f.GetTypedConfig().MessageIs(&m) {
					continue
				}
				if err := f.GetTypedConfig().UnmarshalTo(&m); err != nil {
					t.Fatal(err)
				}
				for _, hf := range m.GetHttpFilters() {
					var j jwtauthn.JwtAuthentication
					if !hf.GetTypedConfig().MessageIs(&j) {
						continue
					}
					if err := hf.GetTypedConfig().UnmarshalTo(&j); err != nil {
						t.Fatal(err)
					}
					for _, p := range j.GetProviders() {
						p.JwksSourceSpecifier = &jwtauthn.JwtProvider_LocalJwks{LocalJwks: &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: jwks}}}
					}
					hf.ConfigType = &hcm.HttpFilter_TypedConfig{TypedConfig: mustAny(t, &j)}
				}
				f.ConfigType = &listener.Filter_TypedConfig{TypedConfig: mustAny(t, &m)}
			}
		}
		out = append(out, mustAny(t, &l))
	}
	return out
}

// serveEditedRecording serves recording name as serveRecording does, its
// listeners passed through edit.
func serveEditedRecording(t *testing.T, name string, edit func([]*anypb.Any) []*anypb.Any) string {
	t.Helper()
	f, addr := startFakeADS(t)
	for file, typ := range map[string]string{"lds": xds.ListenerType, "rds": xds.RouteConfigType, "cds": xds.ClusterType, "eds": xds.EndpointType} {
		data, err := os.ReadFile(filepath.Join("testdata", name, file+".txtpb"))
		if err != nil {
			t.Fatal(err)
		}
		var resp discovery.DiscoveryResponse
		if err := prototext.Unmarshal(data, &resp); err != nil {
			t.Fatalf("%s/%s: %v", name, file, err)
		}
		resources := resp.GetResources()
		if typ == xds.ListenerType {
			resources = edit(resources)
		}
		f.setAny(typ, resources)
	}
	return addr
}

func TestRecordedSecureAuthJWTClassic(t *testing.T) {
	idp, err := jwtissuer.New(authIssuer)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveEditedRecording(t, "secure-auth-jwt-classic", func(listeners []*anypb.Any) []*anypb.Any {
		return withJWKS(t, listeners, idp.JWKS())
	})
	store := newCredentialStore(t, true)
	host, otherHost := authNS+".example.com", otherAuthNS+".example.com"
	store.issue(t, gatewayNS, "opea-"+authNS+"-tls", "tls.crt", "tls.key", host)
	store.issue(t, gatewayNS, "opea-"+otherAuthNS+"-tls", "tls.crt", "tls.key", otherHost)
	e := start(t, addr, store)
	for _, ns := range []string{authNS, otherAuthNS} {
		if err := e.Backend("chatqna-nginx."+ns+".svc.cluster.local", app); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().Unix()
	token := func(change func(map[string]any)) string {
		c := map[string]any{"sub": "alice", "aud": "chatqna", "exp": now + 600, "groups": []any{"opea-users"}}
		if change != nil {
			change(c)
		}
		tok, err := idp.Token("RS256", c)
		if err != nil {
			t.Fatal(err)
		}
		return "Bearer " + tok
	}
	stranger, err := jwtissuer.New(authIssuer)
	if err != nil {
		t.Fatal(err)
	}
	forged, err := stranger.Token("ES256", map[string]any{"sub": "alice", "aud": "chatqna", "exp": now + 600, "groups": []any{"opea-users"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, auth string
		status     int
	}{
		{"no token", "", http.StatusForbidden},
		{"another key", "Bearer " + forged, http.StatusUnauthorized},
		{"expired", token(func(c map[string]any) { c["exp"] = now - 3600 }), http.StatusUnauthorized},
		{"wrong audience", token(func(c map[string]any) { c["aud"] = "other" }), http.StatusForbidden},
		{"missing claim", token(func(c map[string]any) { delete(c, "groups") }), http.StatusForbidden},
		{"valid", token(nil), http.StatusOK},
	} {
		var header []string
		if tc.auth != "" {
			header = []string{"Authorization", tc.auth}
		}
		r := mustGet(t, e, 443, "https", host, "/", store.roots, header...)
		if r.status != tc.status || (tc.status == http.StatusOK) != strings.HasPrefix(r.body, "ChatQnA at") {
			t.Errorf("%s: %d %q, want %d", tc.name, r.status, r.body, tc.status)
		}
	}
	// The other application on the gateway answers without a token.
	if r := mustGet(t, e, 443, "https", otherHost, "/", store.roots); r.status != http.StatusOK {
		t.Errorf("the other app without a token: %d %q, want 200", r.status, r.body)
	}
	// Plain HTTP for the host meets the DENY before the redirect.
	if r := mustGet(t, e, 80, "http", host, "/", nil); r.status != http.StatusForbidden {
		t.Errorf("plain HTTP without a token: %d %q, want 403", r.status, r.body)
	}
}

// The recording secure-auth-ext-authz-classic: `kubectl opea secure -n
// testauthextauthzontheclassicgateway-1 --host <ns>.example.com --auth
// ext-authz --auth-provider authz-<ns>`, the provider an envoyExtAuthzHttp
// entry of the mesh config for Service authz.<ns>:8000
// (TestAuthExtAuthzOnTheClassicGateway with OPEA_RECORD_XDS set).
func TestRecordedSecureAuthExtAuthzClassic(t *testing.T) {
	const ns = "testauthextauthzontheclassicgateway-1"
	addr := serveEditedRecording(t, "secure-auth-ext-authz-classic", func(l []*anypb.Any) []*anypb.Any { return l })
	store := newCredentialStore(t, true)
	host := ns + ".example.com"
	store.issue(t, gatewayNS, "opea-"+ns+"-tls", "tls.crt", "tls.key", host)
	e := start(t, addr, store)
	if err := e.Backend("chatqna-nginx."+ns+".svc.cluster.local", app); err != nil {
		t.Fatal(err)
	}
	if err := e.Backend("authz."+ns+".svc.cluster.local", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer let-me-in" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	})); err != nil {
		t.Fatal(err)
	}
	if r := mustGet(t, e, 443, "https", host, "/", store.roots, "Authorization", "Bearer let-me-in"); r.status != http.StatusOK || !strings.HasPrefix(r.body, "ChatQnA at") {
		t.Errorf("allowed by the service: %d %q, want the app's answer", r.status, r.body)
	}
	if r := mustGet(t, e, 443, "https", host, "/", store.roots); r.status != http.StatusUnauthorized {
		t.Errorf("denied by the service: %d %q, want its 401", r.status, r.body)
	}
}
