//lint:file-ignore SA1019 istiod writes request principals and claims as RBAC metadata matchers, which Envoy still honours.

package gatewayemulator_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	jwtauthn "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/opea-project/kubectl-opea/test/jwtissuer"
)

const issuerURL = "https://idp.example.com/realms/opea"

// jwtFilter is the jwt_authn filter istiod writes for one RequestAuthentication
// rule (pilot/pkg/security/authn/policy_applier.go convertToEnvoyJwtConfig):
// provider origins-0 with the JWKS istiod fetched inline, payload in the
// metadata under "payload", and {origins-0 or allow_missing} for every path.
func jwtFilter(t *testing.T, jwks string, audiences ...string) *hcm.HttpFilter {
	return httpFilter(t, "envoy.filters.http.jwt_authn", &jwtauthn.JwtAuthentication{
		Providers: map[string]*jwtauthn.JwtProvider{"origins-0": {
			Issuer:                     issuerURL,
			Audiences:                  audiences,
			PayloadInMetadata:          "payload",
			NormalizePayloadInMetadata: &jwtauthn.JwtProvider_NormalizePayload{SpaceDelimitedClaims: []string{"scope", "permission"}},
			JwksSourceSpecifier:        &jwtauthn.JwtProvider_LocalJwks{LocalJwks: &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: jwks}}},
			ClearRouteCache:            true,
		}},
		Rules: []*jwtauthn.RequirementRule{{
			Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
			RequirementType: &jwtauthn.RequirementRule_Requires{Requires: &jwtauthn.JwtRequirement{
				RequiresType: &jwtauthn.JwtRequirement_RequiresAny{RequiresAny: &jwtauthn.JwtRequirementOrList{Requirements: []*jwtauthn.JwtRequirement{
					{RequiresType: &jwtauthn.JwtRequirement_ProviderName{ProviderName: "origins-0"}},
					{RequiresType: &jwtauthn.JwtRequirement_AllowMissing{AllowMissing: &emptypb.Empty{}}},
				}}},
			}},
		}},
		BypassCorsPreflight: true,
	})
}

func jwtClaim(claim string, value *matcher.ValueMatcher) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Metadata{Metadata: &matcher.MetadataMatcher{
		Filter: "envoy.filters.http.jwt_authn",
		Path: []*matcher.MetadataMatcher_PathSegment{
			{Segment: &matcher.MetadataMatcher_PathSegment_Key{Key: "payload"}},
			{Segment: &matcher.MetadataMatcher_PathSegment_Key{Key: claim}},
		},
		Value: value,
	}}}
}

func stringValue(m *matcher.StringMatcher) *matcher.ValueMatcher {
	return &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_StringMatch{StringMatch: m}}
}

// secureAuthDeny is the RBAC filter istiod writes for secure --auth jwt's
// DENY policy with --require-claim groups=opea-users, for app.example.com:
// rule 0, notRequestPrincipals [<issuer>/*] (iss exact, sub ".+" under a
// not_id); rule 1, when request.auth.claims[groups] notValues [opea-users]
// (a list-or-string matcher under a not_id); both for the hosts.
func secureAuthDeny(t *testing.T) *hcm.HttpFilter {
	hosts := &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: []*rbacv3.Permission{
		{Rule: &rbacv3.Permission_Header{Header: &route.HeaderMatcher{Name: ":authority",
			HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: appHost}, IgnoreCase: true}}}}},
		{Rule: &rbacv3.Permission_Header{Header: &route.HeaderMatcher{Name: ":authority",
			HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: appHost + ":"}, IgnoreCase: true}}}}},
	}}}}
	principal := &rbacv3.Principal{Identifier: &rbacv3.Principal_AndIds{AndIds: &rbacv3.Principal_Set{Ids: []*rbacv3.Principal{
		jwtClaim("iss", stringValue(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: issuerURL}})),
		jwtClaim("sub", stringValue(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: ".+"}}})),
	}}}}
	group := stringValue(&matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: "opea-users"}})
	claim := jwtClaim("groups", &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_OrMatch{OrMatch: &matcher.OrMatcher{ValueMatchers: []*matcher.ValueMatcher{
		{MatchPattern: &matcher.ValueMatcher_ListMatch{ListMatch: &matcher.ListMatcher{MatchPattern: &matcher.ListMatcher_OneOf{OneOf: group}}}},
		group,
	}}}})
	not := func(p *rbacv3.Principal) *rbacv3.Principal {
		return &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: p}}
	}
	return rbacFilter(t, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{
		"ns[istio-ingress]-policy[opea-app-require-jwt]-rule[0]": policy(hosts, not(principal)),
		"ns[istio-ingress]-policy[opea-app-require-jwt]-rule[1]": policy(hosts, not(claim)),
	}, nil)
}

func TestJWTAuthnWithSecuresDeny(t *testing.T) {
	idp, err := jwtissuer.New(issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	other, err := jwtissuer.New(issuerURL) // same issuer name, other keys
	if err != nil {
		t.Fatal(err)
	}
	f, addr := startFakeADS(t)
	healthyGateway(t, f, istioHTTPFilters(t, jwtFilter(t, idp.JWKS(), "chatqna"), secureAuthDeny(t)))
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	// The app says whether a token reached it: istiod leaves forward off.
	if err := e.Backend(entryHost, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ChatQnA; Authorization="+r.Header.Get("Authorization"))
	})); err != nil {
		t.Fatal(err)
	}
	now := time.Now().Unix()
	claims := func(change func(map[string]any)) map[string]any {
		c := map[string]any{"sub": "alice", "aud": []any{"chatqna", "account"}, "exp": now + 600, "iat": now, "groups": []any{"opea-users", "staff"}}
		if change != nil {
			change(c)
		}
		return c
	}
	sign := func(signer *jwtissuer.Issuer, alg string, c map[string]any) string {
		tok, err := signer.Token(alg, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	valid := sign(idp, "RS256", claims(nil))
	for _, tc := range []struct {
		name, auth string
		status     int
		body       string
	}{
		{"no token", "", 403, "RBAC: access denied"},
		{"malformed", "Bearer not-a-jwt", 401, "Jwt is not in the form"},
		{"wrong signature", "Bearer " + sign(other, "RS256", claims(nil)), 401, "Jwt verification fails"},
		{"tampered", "Bearer " + jwtissuer.Tamper(valid, claims(func(c map[string]any) { c["iss"], c["sub"] = issuerURL, "mallory" })), 401, "Jwt verification fails"},
		{"expired", "Bearer " + sign(idp, "RS256", claims(func(c map[string]any) { c["exp"] = now - 3600 })), 401, "Jwt is expired"},
		{"not yet valid", "Bearer " + sign(idp, "RS256", claims(func(c map[string]any) { c["nbf"] = now + 3600 })), 401, "Jwt not yet valid"},
		{"wrong audience", "Bearer " + sign(idp, "RS256", claims(func(c map[string]any) { c["aud"] = "other" })), 403, "Audiences in Jwt are not allowed"},
		{"another issuer", "Bearer " + sign(idp, "RS256", claims(func(c map[string]any) { c["iss"] = "https://evil.example.com" })), 401, "Jwt is missing"},
		{"missing claim", "Bearer " + sign(idp, "RS256", claims(func(c map[string]any) { delete(c, "groups") })), 403, "RBAC: access denied"},
		{"other group", "Bearer " + sign(idp, "RS256", claims(func(c map[string]any) { c["groups"] = []any{"staff"} })), 403, "RBAC: access denied"},
		{"claim as a string", "Bearer " + sign(idp, "RS256", claims(func(c map[string]any) { c["groups"] = "opea-users" })), 200, "ChatQnA; Authorization=\n"},
		{"valid RS256", "Bearer " + valid, 200, "ChatQnA; Authorization=\n"},
		{"valid ES256", "Bearer " + sign(idp, "ES256", claims(nil)), 200, "ChatQnA; Authorization=\n"},
		{"lower-case scheme", "bearer " + valid, 200, "ChatQnA; Authorization=\n"},
	} {
		var header []string
		if tc.auth != "" {
			header = []string{"Authorization", tc.auth}
		}
		r := mustGet(t, e, 443, "https", appHost, "/", store.roots, header...)
		if r.status != tc.status || !strings.HasPrefix(strings.TrimSuffix(r.body, "\n")+"\n", strings.TrimSuffix(tc.body, "\n")) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, r.status, r.body, tc.status, tc.body)
		}
	}
	// A token in the access_token query parameter counts too.
	if r := mustGet(t, e, 443, "https", appHost, "/?access_token="+valid, store.roots); r.status != 200 {
		t.Errorf("access_token parameter: %d %q, want 200", r.status, r.body)
	}
	// Another host on the gateway: the DENY does not cover it; without a
	// token it passes jwt_authn (and finds no route here: 404).
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots, "Host", "other.example.com"); r.status != 404 {
		t.Errorf("another host without a token: %d %q, want 404 (no route), not a refusal", r.status, r.body)
	}
	// The host with a port is covered.
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots, "Host", appHost+":443"); r.status != 403 {
		t.Errorf("host with port without a token: %d %q, want 403", r.status, r.body)
	}
}

// When istiod cannot fetch the JWKS it inlines a key that fits no token:
// every token is refused, and requests without one meet the DENY.
func TestJWTAuthnWithAJWKSIstiodCouldNotFetch(t *testing.T) {
	idp, err := jwtissuer.New(issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := jwtissuer.New(issuerURL)
	if err != nil {
		t.Fatal(err)
	}
	f, addr := startFakeADS(t)
	healthyGateway(t, f, istioHTTPFilters(t, jwtFilter(t, stranger.JWKS()), secureAuthDeny(t)))
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend(entryHost, app); err != nil {
		t.Fatal(err)
	}
	tok, err := idp.Token("RS256", map[string]any{"sub": "alice", "exp": time.Now().Unix() + 600, "groups": "opea-users"})
	if err != nil {
		t.Fatal(err)
	}
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots, "Authorization", "Bearer "+tok); r.status != 401 {
		t.Errorf("valid token, unknown keys: %d %q, want 401", r.status, r.body)
	}
}

// Configuration the emulator does not model fails the request with a 500,
// never passes it.
func TestJWTAuthnRefusesRemoteJWKS(t *testing.T) {
	f, addr := startFakeADS(t)
	remote := &jwtauthn.JwtAuthentication{Providers: map[string]*jwtauthn.JwtProvider{"origins-0": {
		Issuer: issuerURL,
		JwksSourceSpecifier: &jwtauthn.JwtProvider_RemoteJwks{RemoteJwks: &jwtauthn.RemoteJwks{
			HttpUri: &core.HttpUri{Uri: issuerURL + "/certs", HttpUpstreamType: &core.HttpUri_Cluster{Cluster: "outbound|443||idp.example.com"}}}},
	}}}
	healthyGateway(t, f, istioHTTPFilters(t, httpFilter(t, "envoy.filters.http.jwt_authn", remote)))
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend(entryHost, app); err != nil {
		t.Fatal(err)
	}
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots); r.status != 500 || !strings.Contains(r.body, "remote_jwks") {
		t.Errorf("remote JWKS: %d %q, want 500 naming remote_jwks", r.status, r.body)
	}
}
