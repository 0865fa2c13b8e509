package gatewayemulator_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	extauthz "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/opea-project/kubectl-opea/test/xds"
)

const (
	authzHost    = "authz.authz.svc.cluster.local"
	authzCluster = "outbound|8000||" + authzHost
)

// customFilters are the two filters istiod writes for a CUSTOM
// AuthorizationPolicy on app.example.com with an envoyExtAuthzHttp
// provider "authz" (pilot/pkg/security/authz/builder): an RBAC filter
// whose shadow rules (prefix istio_ext_authz_) name the policy, and the
// ext_authz filter enabled by that metadata.
func customFilters(t *testing.T) []*hcm.HttpFilter {
	host := &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &route.HeaderMatcher{Name: ":authority",
		HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: appHost}, IgnoreCase: true}}}}}
	rbac := httpFilter(t, "envoy.filters.http.rbac", &rbachttp.RBAC{
		ShadowRules: &rbacv3.RBAC{Action: rbacv3.RBAC_DENY, Policies: map[string]*rbacv3.Policy{
			"istio-ext-authz-authz-ns[istio-ingress]-policy[opea-app-ext-authz]-rule[0]": policy(host, anyPrincipal),
		}},
		ShadowRulesStatPrefix: "istio_ext_authz_",
	})
	ext := httpFilter(t, "envoy.filters.http.ext_authz", &extauthz.ExtAuthz{
		TransportApiVersion: core.ApiVersion_V3,
		Services: &extauthz.ExtAuthz_HttpService{HttpService: &extauthz.HttpService{
			ServerUri: &core.HttpUri{Uri: "http://" + authzHost, Timeout: durationpb.New(600e9),
				HttpUpstreamType: &core.HttpUri_Cluster{Cluster: authzCluster}},
			AuthorizationResponse: &extauthz.AuthorizationResponse{
				AllowedClientHeaders: &matcher.ListStringMatcher{Patterns: []*matcher.StringMatcher{{MatchPattern: &matcher.StringMatcher_Exact{Exact: "location"}, IgnoreCase: true}}},
			},
		}},
		FilterEnabledMetadata: &matcher.MetadataMatcher{
			Filter: "envoy.filters.http.rbac",
			Path:   []*matcher.MetadataMatcher_PathSegment{{Segment: &matcher.MetadataMatcher_PathSegment_Key{Key: "istio_ext_authz_shadow_effective_policy_id"}}},
			Value: &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
				MatchPattern: &matcher.StringMatcher_Prefix{Prefix: "istio-ext-authz-authz"}}}},
		},
	})
	return []*hcm.HttpFilter{rbac, ext}
}

func TestExtAuthzAsksTheProvidersService(t *testing.T) {
	f, addr := startFakeADS(t)
	healthyGateway(t, f, istioHTTPFilters(t, customFilters(t)...))
	// The provider's cluster and endpoint, as istiod sends them once its
	// Service exists.
	f.set(xds.ClusterType, edsCluster(entryCluster), edsCluster(authzCluster))
	f.set(xds.EndpointType, endpoints(entryCluster, "10.244.0.20"), endpoints(authzCluster, "10.244.0.30"))
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend(entryHost, app); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string
	seen := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), asked...)
	}
	if err := e.Backend(authzHost, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		asked = append(asked, r.Host+r.URL.Path)
		mu.Unlock()
		if r.Header.Get("Authorization") == "Bearer let-me-in" {
			return
		}
		w.Header().Set("Location", "https://idp.example.com/login")
		w.WriteHeader(http.StatusFound)
	})); err != nil {
		t.Fatal(err)
	}
	r := mustGet(t, e, 443, "https", appHost, "/v1/chatqna", store.roots, "Authorization", "Bearer let-me-in")
	if r.status != 200 || !strings.HasPrefix(r.body, "ChatQnA at") {
		t.Errorf("allowed: %d %q, want the app's answer", r.status, r.body)
	}
	r = mustGet(t, e, 443, "https", appHost, "/v1/chatqna", store.roots)
	if r.status != http.StatusFound || r.location != "https://idp.example.com/login" {
		t.Errorf("denied: %d %q (Location %q), want the service's 302 to its login", r.status, r.body, r.location)
	}
	if want := []string{appHost + "/v1/chatqna", appHost + "/v1/chatqna"}; strings.Join(seen(), ",") != strings.Join(want, ",") {
		t.Errorf("the service was asked %v, want %v", seen(), want)
	}
	// Another host matches no CUSTOM rule: the service is not asked.
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots, "Host", "other.example.com"); r.status != 404 || len(seen()) != 2 {
		t.Errorf("another host: %d, service asked %v; want 404 without asking", r.status, seen())
	}
}

// Without the provider's cluster (its Service missing), Envoy answers
// status_on_error, 403 by default: never the app.
func TestExtAuthzWithoutTheServiceRefuses(t *testing.T) {
	f, addr := startFakeADS(t)
	healthyGateway(t, f, istioHTTPFilters(t, customFilters(t)...))
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend(entryHost, app); err != nil {
		t.Fatal(err)
	}
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots); r.status != http.StatusForbidden {
		t.Errorf("no authorization service: %d %q, want 403", r.status, r.body)
	}
}
