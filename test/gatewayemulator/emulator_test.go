package gatewayemulator_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	fault "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	lua "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/lua/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/opea-project/kubectl-opea/test/xds"
)

// A healthy gateway: the HTTPS port serves the credential's certificate
// for the host and forwards to the entry Service's backend; port 80
// redirects to https; the emulator asked istiod for exactly what a
// gateway asks.
func TestHealthyGatewayServesTheApp(t *testing.T) {
	f, addr := startFakeADS(t)
	healthyGateway(t, f, istioHTTPFilters(t))
	store := newCredentialStore(t, true)
	cert := store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend(entryHost, app); err != nil {
		t.Fatal(err)
	}

	if got, want := e.Ports(), []uint32{80, 443}; !slices.Equal(got, want) {
		t.Errorf("ports %v, want %v", got, want)
	}
	r := mustGet(t, e, 443, "https", appHost, "/v1/chatqna", store.roots)
	if r.status != 200 || r.body != "ChatQnA at app.example.com/v1/chatqna" {
		t.Errorf("HTTPS: %d %q, want the app's answer", r.status, r.body)
	}
	if !bytes.Equal(r.served.Raw, cert.Raw) {
		t.Errorf("served certificate %s, want the Secret's", r.served.Subject)
	}
	if r.server != "istio-envoy" {
		t.Errorf("Server header %q, want the connection manager's server_name", r.server)
	}
	r = mustGet(t, e, 80, "http", appHost, "/v1/chatqna?x=1", nil)
	if r.status != 301 || r.location != "https://app.example.com/v1/chatqna?x=1" {
		t.Errorf("HTTP: %d Location %q, want a 301 to https", r.status, r.location)
	}
	// The transport must fit the chain: TLS on the plaintext port and
	// plaintext on the TLS port find no chain that serves them.
	if _, err := get(t, e, 443, "http", appHost, "/", nil); err == nil {
		t.Error("plain HTTP on port 443 was answered")
	}
	if _, err := get(t, e, 80, "https", appHost, "/", store.roots); err == nil {
		t.Error("TLS on port 80 was answered")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if got, want := f.asked[xds.RouteConfigType], []string{"http.80", httpsRoute}; !slices.Equal(got, want) {
		t.Errorf("RDS asked %v, want %v", got, want)
	}
	if got, want := f.asked[xds.EndpointType], []string{entryCluster}; !slices.Equal(got, want) {
		t.Errorf("EDS asked %v, want only the routed cluster %v", got, want)
	}
}

// A filter the emulator does not implement (here a Lua script) fails
// every request with a 500 naming it, on every path and host: never 200.
func TestUnknownHTTPFilterNeverAnswers200(t *testing.T) {
	f, addr := startFakeADS(t)
	healthyGateway(t, f, istioHTTPFilters(t, httpFilter(t, "envoy.filters.http.lua", &lua.Lua{})))
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend(entryHost, app); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/", "/v1/chatqna", "/admin"} {
		for _, c := range []struct {
			port   uint32
			scheme string
		}{{443, "https"}, {80, "http"}} {
			r := mustGet(t, e, c.port, c.scheme, appHost, path, store.roots)
			if r.status != 500 || !strings.Contains(r.body, "envoy.filters.http.lua") {
				t.Errorf("%s %s: %d %q, want 500 naming the filter", c.scheme, path, r.status, r.body)
			}
		}
	}
}

func rbacFilter(t *testing.T, action rbacv3.RBAC_Action, policies map[string]*rbacv3.Policy, shadow *rbacv3.RBAC) *hcm.HttpFilter {
	var rules *rbacv3.RBAC
	if policies != nil {
		rules = &rbacv3.RBAC{Action: action, Policies: policies}
	}
	return httpFilter(t, "envoy.filters.http.rbac", &rbachttp.RBAC{Rules: rules, ShadowRules: shadow})
}

// Principals and permissions as istiod writes them for an
// AuthorizationPolicy (pilot/pkg/security/authz/model).
var (
	anyPermission = &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}
	anyPrincipal  = &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
	// from.source.principals: [cluster.local/ns/app/sa/chatqna]
	meshPrincipal = &rbacv3.Principal{Identifier: &rbacv3.Principal_OrIds{OrIds: &rbacv3.Principal_Set{Ids: []*rbacv3.Principal{{
		Identifier: &rbacv3.Principal_FilterState{FilterState: &matcher.FilterStateMatcher{
			Key: "io.istio.peer_principal",
			Matcher: &matcher.FilterStateMatcher_StringMatch{StringMatch: &matcher.StringMatcher{
				MatchPattern: &matcher.StringMatcher_Exact{Exact: "spiffe://cluster.local/ns/app/sa/chatqna"}}},
		}},
	}}}}}
	// from.source.namespaces: [app], the older authenticated form.
	namespacePrincipal = &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{
		PrincipalName: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: ".*/ns/app/.*"}}},
	}}}
	// from.source.requestPrincipals: ["*"]
	//lint:ignore SA1019 istiod writes request principals as this metadata matcher
	requestPrincipal = &rbacv3.Principal{Identifier: &rbacv3.Principal_Metadata{Metadata: &matcher.MetadataMatcher{
		Filter: "istio_authn",
		Path:   []*matcher.MetadataMatcher_PathSegment{{Segment: &matcher.MetadataMatcher_PathSegment_Key{Key: "request.auth.principal"}}},
		Value:  &matcher.ValueMatcher{MatchPattern: &matcher.ValueMatcher_StringMatch{StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: ".+"}}}}},
	}}}
	// notPrincipals: ["*"] is a not_id over the presence of a principal.
	noPrincipal = &rbacv3.Principal{Identifier: &rbacv3.Principal_NotId{NotId: meshPrincipal}}
	// to.operation.paths: [/admin*]
	adminPaths = &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcher.PathMatcher{Rule: &matcher.PathMatcher_Path{
		Path: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Prefix{Prefix: "/admin"}}}}}}
	// to.operation.methods: [GET]
	getMethod = &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &route.HeaderMatcher{Name: ":method",
		HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: "GET"}}}}}}
	// to.operation.ports: [443]
	port443 = &rbacv3.Permission{Rule: &rbacv3.Permission_DestinationPort{DestinationPort: 443}}
)

func policy(perm *rbacv3.Permission, id *rbacv3.Principal) *rbacv3.Policy {
	return &rbacv3.Policy{Permissions: []*rbacv3.Permission{perm}, Principals: []*rbacv3.Principal{id}}
}

// The gateway's RBAC is evaluated for an external caller: no principal,
// no request principal; DENY before ALLOW; shadow rules ignored.
func TestRBACForACallerWithoutPrincipal(t *testing.T) {
	denyAll := &rbacv3.RBAC{Action: rbacv3.RBAC_DENY, Policies: map[string]*rbacv3.Policy{"ns[app]-policy[dry-run]-rule[0]": policy(anyPermission, anyPrincipal)}}
	cases := []struct {
		name    string
		filters []*hcm.HttpFilter
		// want is the status of GET / and of GET /admin on 443.
		want, wantAdmin int
	}{
		{name: "no policy", want: 200, wantAdmin: 200},
		{name: "ALLOW only mesh principals (a lockdown's allow-app)", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"ns[app]-policy[opea-allow-app]-rule[0]": policy(anyPermission, meshPrincipal)}, nil)},
			want: 403, wantAdmin: 403},
		{name: "ALLOW with no policy at all (allow-nothing)", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{}, nil)},
			want: 403, wantAdmin: 403},
		{name: "ALLOW from namespaces or request principals", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"a": policy(anyPermission, namespacePrincipal), "b": policy(anyPermission, requestPrincipal)}, nil)},
			want: 403, wantAdmin: 403},
		{name: "ALLOW GET from anyone", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"get": policy(getMethod, anyPrincipal)}, nil)},
			want: 200, wantAdmin: 200},
		{name: "ALLOW on port 443 only", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"tls": policy(port443, anyPrincipal)}, nil)},
			want: 200, wantAdmin: 200},
		{name: "DENY /admin to anyone, then ALLOW all", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{"admin": policy(adminPaths, anyPrincipal)}, nil),
			rbacFilter(t, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"all": policy(anyPermission, anyPrincipal)}, nil)},
			want: 200, wantAdmin: 403},
		{name: "DENY callers without principal (notPrincipals *)", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{"strict": policy(anyPermission, noPrincipal)}, nil)},
			want: 403, wantAdmin: 403},
		{name: "DENY mesh principals only", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_DENY, map[string]*rbacv3.Policy{"mesh": policy(anyPermission, meshPrincipal)}, nil)},
			want: 200, wantAdmin: 200},
		{name: "a dry-run DENY all is only shadow rules", filters: []*hcm.HttpFilter{
			rbacFilter(t, rbacv3.RBAC_DENY, nil, denyAll)},
			want: 200, wantAdmin: 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, addr := startFakeADS(t)
			healthyGateway(t, f, istioHTTPFilters(t, c.filters...))
			store := newCredentialStore(t, true)
			store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
			e := start(t, addr, store)
			if err := e.Backend(entryHost, app); err != nil {
				t.Fatal(err)
			}
			for path, want := range map[string]int{"/": c.want, "/admin/x": c.wantAdmin} {
				r := mustGet(t, e, 443, "https", appHost, path, store.roots)
				if r.status != want {
					t.Errorf("GET %s: %d %q, want %d", path, r.status, r.body, want)
				}
				if want == 403 && r.body != "RBAC: access denied" {
					t.Errorf("GET %s: body %q, want Envoy's RBAC denial", path, r.body)
				}
			}
			// The gateway's RBAC applies on port 80 as well: a denied
			// caller gets 403 there, not the redirect.
			if r := mustGet(t, e, 80, "http", appHost, "/", nil); c.want == 403 && r.status != 403 {
				t.Errorf("port 80: %d, want 403", r.status)
			}
		})
	}
}

// An RBAC rule the emulator cannot evaluate fails the request.
func TestRBACConditionIsRefused(t *testing.T) {
	f, addr := startFakeADS(t)
	p := policy(anyPermission, anyPrincipal)
	p.Principals = append(p.Principals, &rbacv3.Principal{Identifier: &rbacv3.Principal_SourcedMetadata{SourcedMetadata: &rbacv3.SourcedMetadata{}}})
	p.Principals[0], p.Principals[1] = p.Principals[1], p.Principals[0]
	healthyGateway(t, f, istioHTTPFilters(t, rbacFilter(t, rbacv3.RBAC_ALLOW, map[string]*rbacv3.Policy{"odd": p}, nil)))
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend(entryHost, app); err != nil {
		t.Fatal(err)
	}
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots); r.status != 500 || !strings.Contains(r.body, "envoy.filters.http.rbac") {
		t.Errorf("%d %q, want 500 naming the RBAC filter", r.status, r.body)
	}
}

// A fault filter that injects an abort is not passed through.
func TestFaultInjectionIsRefused(t *testing.T) {
	f, addr := startFakeADS(t)
	filters := istioHTTPFilters(t)
	for i, fl := range filters {
		if fl.GetName() == "envoy.filters.http.fault" {
			filters[i] = httpFilter(t, "envoy.filters.http.fault", &fault.HTTPFault{Abort: &fault.FaultAbort{
				ErrorType: &fault.FaultAbort_HttpStatus{HttpStatus: 200}}})
		}
	}
	healthyGateway(t, f, filters)
	store := newCredentialStore(t, true)
	store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots); r.status != 500 || !strings.Contains(r.body, "envoy.filters.http.fault") {
		t.Errorf("%d %q, want 500 naming the fault filter", r.status, r.body)
	}
}

// The filter chain is chosen by SNI: the exact name, then the longest
// wildcard; each chain serves its own credential. A name no chain
// matches gets no certificate.
func TestSNISelectsTheFilterChain(t *testing.T) {
	f, addr := startFakeADS(t)
	filters := istioHTTPFilters(t)
	f.set(xds.ListenerType, listenerOn(443,
		httpsChain(t, []string{"*.example.com"}, "https.443.wide", filters, "kubernetes://wide"),
		httpsChain(t, []string{"*.app.example.com"}, "https.443.narrow", filters, "kubernetes://narrow"),
		httpsChain(t, []string{appHost}, httpsRoute, filters, "kubernetes://cred"),
	))
	all := func(name string) *route.RouteConfiguration {
		return &route.RouteConfiguration{Name: name, VirtualHosts: []*route.VirtualHost{vhost("all", []string{"*"}, toCluster(entryCluster))}}
	}
	f.set(xds.RouteConfigType, all(httpsRoute), all("https.443.wide"), all("https.443.narrow"))
	f.set(xds.ClusterType, edsCluster(entryCluster))
	f.set(xds.EndpointType, endpoints(entryCluster, "10.244.0.20"))
	store := newCredentialStore(t, true)
	certs := map[string][]byte{
		"cred":   store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost).Raw,
		"wide":   store.issue(t, gatewayNS, "wide", "tls.crt", "tls.key", "*.example.com", "a.b.example.com").Raw,
		"narrow": store.issue(t, gatewayNS, "narrow", "tls.crt", "tls.key", "*.app.example.com").Raw,
	}
	e := start(t, addr, store)
	if err := e.Backend(entryCluster, app); err != nil {
		t.Fatal(err)
	}
	for sni, want := range map[string]string{appHost: "cred", "x.app.example.com": "narrow", "other.example.com": "wide", "a.b.example.com": "wide"} {
		r := mustGet(t, e, 443, "https", sni, "/", store.roots)
		if !bytes.Equal(r.served.Raw, certs[want]) || r.status != 200 {
			t.Errorf("SNI %s: %d with certificate %v, want 200 with %s's", sni, r.status, r.served.DNSNames, want)
		}
	}
	if _, err := get(t, e, 443, "https", "example.org", "/", store.roots); err == nil {
		t.Error("SNI example.org: the handshake succeeded, want no chain")
	}
	if p := e.Problems(); len(p) == 0 || !strings.Contains(p[len(p)-1], `SNI "example.org"`) {
		t.Errorf("problems %v, want the unmatched SNI", p)
	}
}

// The credential is read as istiod's SDS reads it: "cert"/"key" before
// "tls.crt"/"tls.key"; kubernetes-gateway://ns/name across namespaces;
// kubernetes:// only in the gateway's namespace and only when its service
// account may list Secrets there.
func TestCredentialsAreReadAsIstiodReadsThem(t *testing.T) {
	cases := []struct {
		name           string
		sds            string
		mayListSecrets bool
		write          func(t *testing.T, s *credentialStore) []byte // the certificate that must be served, nil for none
	}{
		{name: "tls.crt and tls.key", sds: "kubernetes://cred", mayListSecrets: true, write: func(t *testing.T, s *credentialStore) []byte {
			return s.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost).Raw
		}},
		{name: "cert and key win over tls.crt and tls.key", sds: "kubernetes://cred", mayListSecrets: true, write: func(t *testing.T, s *credentialStore) []byte {
			generic := s.issue(t, gatewayNS, "generic", "cert", "key", appHost)
			tlsOnly, _ := s.kube.CoreV1().Secrets(gatewayNS).Get(context.Background(), "generic", metaGet)
			s.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
			cred, _ := s.kube.CoreV1().Secrets(gatewayNS).Get(context.Background(), "cred", metaGet)
			cred.Data["cert"], cred.Data["key"] = tlsOnly.Data["cert"], tlsOnly.Data["key"]
			if _, err := s.kube.CoreV1().Secrets(gatewayNS).Update(context.Background(), cred, metaUpdate); err != nil {
				t.Fatal(err)
			}
			return generic.Raw
		}},
		{name: "kubernetes://namespace/name in the gateway's namespace", sds: "kubernetes://istio-ingress/cred", mayListSecrets: true, write: func(t *testing.T, s *credentialStore) []byte {
			return s.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost).Raw
		}},
		{name: "kubernetes-gateway:// in another namespace", sds: "kubernetes-gateway://app/cred", write: func(t *testing.T, s *credentialStore) []byte {
			return s.issue(t, "app", "cred", "tls.crt", "tls.key", appHost).Raw
		}},
		{name: "kubernetes:// in another namespace is refused", sds: "kubernetes://app/cred", mayListSecrets: true, write: func(t *testing.T, s *credentialStore) []byte {
			s.issue(t, "app", "cred", "tls.crt", "tls.key", appHost)
			return nil
		}},
		{name: "a gateway that may not list Secrets gets none", sds: "kubernetes://cred", write: func(t *testing.T, s *credentialStore) []byte {
			s.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
			return nil
		}},
		{name: "a missing Secret", sds: "kubernetes://cred", mayListSecrets: true, write: func(*testing.T, *credentialStore) []byte { return nil }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f, addr := startFakeADS(t)
			healthyGateway(t, f, istioHTTPFilters(t))
			f.set(xds.ListenerType, listenerOn(443, httpsChain(t, []string{appHost}, httpsRoute, istioHTTPFilters(t), c.sds)))
			store := newCredentialStore(t, c.mayListSecrets)
			want := c.write(t, store)
			e := start(t, addr, store)
			if err := e.Backend(entryHost, app); err != nil {
				t.Fatal(err)
			}
			r, err := get(t, e, 443, "https", appHost, "/", store.roots)
			switch {
			case want == nil && err == nil:
				t.Errorf("served %v, want no certificate", r.served.DNSNames)
			case want != nil && err != nil:
				t.Errorf("%v (problems %v), want the certificate served", err, e.Problems())
			case want != nil && !bytes.Equal(r.served.Raw, want):
				t.Errorf("served another certificate than the Secret's")
			}
		})
	}
}

// Routing: virtual hosts by domain (exact, *.suffix, host:*, *), routes by
// prefix, exact path, regex and header, in order.
func TestRoutingByVirtualHostAndRouteMatch(t *testing.T) {
	f, addr := startFakeADS(t)
	filters := istioHTTPFilters(t)
	f.set(xds.ListenerType, listenerOn(80, &listener.FilterChain{Filters: hcmFilter(t, "http.80", filters)}))
	direct := func(status uint32, body string, m *route.RouteMatch) *route.Route {
		return &route.Route{Match: m, Action: &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{
			Status: status, Body: &core.DataSource{Specifier: &core.DataSource_InlineString{InlineString: body}}}}}
	}
	prefix := func(p string) *route.RouteMatch {
		return &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: p}}
	}
	exactPath := &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: "/exact"}}
	regex := &route.RouteMatch{PathSpecifier: &route.RouteMatch_SafeRegex{SafeRegex: &matcher.RegexMatcher{Regex: "/v[0-9]+/items"}}}
	withHeader := prefix("/")
	withHeader.Headers = []*route.HeaderMatcher{{Name: "x-canary", HeaderMatchSpecifier: &route.HeaderMatcher_StringMatch{
		StringMatch: &matcher.StringMatcher{MatchPattern: &matcher.StringMatcher_Exact{Exact: "yes"}}}}}
	insensitive := prefix("/CASE")
	insensitive.CaseSensitive = wrapperspb.Bool(false)
	f.set(xds.RouteConfigType, &route.RouteConfiguration{Name: "http.80", VirtualHosts: []*route.VirtualHost{
		vhost("exact", []string{"app.example.com", "app.example.com:*"},
			direct(201, "exact path", exactPath), direct(202, "regex", regex), direct(203, "header", withHeader),
			direct(204, "", insensitive), direct(205, "prefix", prefix("/"))),
		vhost("suffix", []string{"*.example.com"}, direct(210, "suffix", prefix("/"))),
		vhost("longer-suffix", []string{"*.b.example.com"}, direct(211, "longer suffix", prefix("/"))),
		vhost("port", []string{"other.org:8080"}, direct(212, "host:port", prefix("/"))),
		vhost("any", []string{"*"}, direct(213, "any", prefix("/api"))),
	}})
	store := newCredentialStore(t, true)
	e := start(t, addr, store)
	for _, c := range []struct {
		host, path string
		header     []string
		want       int
	}{
		{host: "app.example.com", path: "/exact", want: 201},
		{host: "app.example.com", path: "/exact/more", want: 205},
		{host: "app.example.com", path: "/v12/items", want: 202},
		{host: "app.example.com", path: "/v12/items/x", want: 205},
		{host: "app.example.com", path: "/x", header: []string{"x-canary", "yes"}, want: 203},
		{host: "app.example.com", path: "/case/x", want: 204},
		{host: "APP.example.com:8080", path: "/", want: 205},
		{host: "x.example.com", path: "/", want: 210},
		{host: "a.b.example.com", path: "/", want: 211},
		{host: "other.org:8080", path: "/", want: 212},
		{host: "other.org", path: "/api/x", want: 213},
		{host: "other.org", path: "/", want: 404}, // a virtual host, no route
	} {
		r := mustGet(t, e, 80, "http", c.host, c.path, nil, c.header...)
		if r.status != c.want {
			t.Errorf("http://%s%s %v: %d %q, want %d", c.host, c.path, c.header, r.status, r.body, c.want)
		}
	}
}

// With ignore_port_in_host_matching (istiod sets it on a gateway's
// routes), a Host with a port chooses the virtual host of its name;
// without, it chooses none.
func TestIgnorePortInHostMatching(t *testing.T) {
	for _, ignore := range []bool{true, false} {
		f, addr := startFakeADS(t)
		f.set(xds.ListenerType, listenerOn(80, &listener.FilterChain{Filters: hcmFilter(t, "http.80", istioHTTPFilters(t))}))
		f.set(xds.RouteConfigType, &route.RouteConfiguration{Name: "http.80", IgnorePortInHostMatching: ignore, VirtualHosts: []*route.VirtualHost{
			vhost("app", []string{"app.example.com"}, &route.Route{Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
				Action: &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{Status: 201}}}),
		}})
		e := start(t, addr, newCredentialStore(t, true))
		want := map[bool]int{true: 201, false: 404}[ignore]
		if r := mustGet(t, e, 80, "http", "app.example.com:443", "/", nil); r.status != want {
			t.Errorf("ignore_port_in_host_matching %v: Host app.example.com:443 answered %d, want %d", ignore, r.status, want)
		}
		if r := mustGet(t, e, 80, "http", "app.example.com", "/", nil); r.status != 201 {
			t.Errorf("ignore_port_in_host_matching %v: Host app.example.com answered %d, want 201", ignore, r.status)
		}
	}
}

// Redirects carry Envoy's Location: scheme, host, port, path, query, code.
func TestRedirectAndDirectResponse(t *testing.T) {
	f, addr := startFakeADS(t)
	filters := istioHTTPFilters(t)
	f.set(xds.ListenerType, listenerOn(80, &listener.FilterChain{Filters: hcmFilter(t, "http.80", filters)}))
	redirectRoute := func(path string, rd *route.RedirectAction) *route.Route {
		return &route.Route{Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Path{Path: path}}, Action: &route.Route_Redirect{Redirect: rd}}
	}
	f.set(xds.RouteConfigType, &route.RouteConfiguration{Name: "http.80", VirtualHosts: []*route.VirtualHost{
		vhost("app", []string{"*"},
			// An HTTPRoute RequestRedirect {scheme: https, statusCode: 301}.
			redirectRoute("/scheme", &route.RedirectAction{SchemeRewriteSpecifier: &route.RedirectAction_SchemeRedirect{SchemeRedirect: "https"}}),
			redirectRoute("/moved", &route.RedirectAction{HostRedirect: "new.example.com", PortRedirect: 8443,
				PathRewriteSpecifier: &route.RedirectAction_PathRedirect{PathRedirect: "/new"},
				ResponseCode:         route.RedirectAction_PERMANENT_REDIRECT, StripQuery: true}),
			redirectRoute("/found", &route.RedirectAction{SchemeRewriteSpecifier: &route.RedirectAction_HttpsRedirect{HttpsRedirect: true},
				ResponseCode: route.RedirectAction_FOUND}),
			// What istiod sends for a host no VirtualService routes.
			&route.Route{Match: &route.RouteMatch{PathSpecifier: &route.RouteMatch_Prefix{Prefix: "/"}},
				Action: &route.Route_DirectResponse{DirectResponse: &route.DirectResponseAction{Status: 404}}},
		),
	}})
	store := newCredentialStore(t, true)
	e := start(t, addr, store)
	for _, c := range []struct {
		host, path string
		status     int
		location   string
	}{
		{host: "app.example.com", path: "/scheme?q=1", status: 301, location: "https://app.example.com/scheme?q=1"},
		{host: "app.example.com:80", path: "/scheme", status: 301, location: "https://app.example.com/scheme"},
		{host: "app.example.com:8080", path: "/scheme", status: 301, location: "https://app.example.com:8080/scheme"},
		{host: "app.example.com", path: "/moved?q=1", status: 308, location: "https://new.example.com:8443/new"},
		{host: "app.example.com", path: "/found", status: 302, location: "https://app.example.com/found"},
		{host: "app.example.com", path: "/anything", status: 404},
	} {
		r := mustGet(t, e, 80, "http", c.host, c.path, nil)
		if c.path == "/moved?q=1" {
			c.location = "http://new.example.com:8443/new" // the scheme stays http: the redirect sets none
		}
		if r.status != c.status || r.location != c.location {
			t.Errorf("http://%s%s: %d Location %q, want %d %q", c.host, c.path, r.status, r.location, c.status, c.location)
		}
	}
}

// A route to a cluster without endpoints, or without a registered
// backend, answers 503 no healthy upstream; a cluster istiod never sent
// answers 503 too.
func TestNoHealthyUpstream(t *testing.T) {
	for _, c := range []struct {
		name      string
		endpoints []string
		register  bool
		cluster   string
	}{
		{name: "no endpoints", register: true, cluster: entryCluster},
		{name: "no backend registered", endpoints: []string{"10.244.0.20"}, cluster: entryCluster},
		{name: "cluster unknown to istiod", endpoints: []string{"10.244.0.20"}, register: true, cluster: "outbound|80||gone.app.svc.cluster.local"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f, addr := startFakeADS(t)
			healthyGateway(t, f, istioHTTPFilters(t))
			f.set(xds.RouteConfigType, &route.RouteConfiguration{Name: httpsRoute, VirtualHosts: []*route.VirtualHost{
				vhost(appHost, []string{appHost}, toCluster(c.cluster))}})
			f.set(xds.EndpointType, endpoints(entryCluster, c.endpoints...))
			store := newCredentialStore(t, true)
			store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
			e := start(t, addr, store)
			if c.register {
				if err := e.Backend(entryHost, app); err != nil {
					t.Fatal(err)
				}
			}
			r := mustGet(t, e, 443, "https", appHost, "/", store.roots)
			if r.status != 503 {
				t.Errorf("%d %q, want 503", r.status, r.body)
			}
			if c.cluster == entryCluster && r.body != "no healthy upstream" {
				t.Errorf("body %q, want no healthy upstream", r.body)
			}
		})
	}
}

// Like Envoy, which serves what istiod last pushed, the emulator serves a
// rotated Secret and new endpoints only after Refresh; a port that stays
// keeps its address.
func TestRefresh(t *testing.T) {
	f, addr := startFakeADS(t)
	healthyGateway(t, f, istioHTTPFilters(t))
	store := newCredentialStore(t, true)
	old := store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	e := start(t, addr, store)
	if err := e.Backend(entryHost, app); err != nil {
		t.Fatal(err)
	}
	before := e.Addr(443)
	f.set(xds.EndpointType, endpoints(entryCluster))
	rotated := store.issue(t, gatewayNS, "cred", "tls.crt", "tls.key", appHost)
	if r := mustGet(t, e, 443, "https", appHost, "/", store.roots); r.status != 200 || !bytes.Equal(r.served.Raw, old.Raw) {
		t.Errorf("before Refresh: %d, the old certificate served: %v; want 200 with the old one", r.status, bytes.Equal(r.served.Raw, old.Raw))
	}
	if err := e.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	if e.Addr(443) != before {
		t.Errorf("port 443 moved from %s to %s", before, e.Addr(443))
	}
	r := mustGet(t, e, 443, "https", appHost, "/", store.roots)
	if r.status != 503 || !bytes.Equal(r.served.Raw, rotated.Raw) {
		t.Errorf("after Refresh: %d, the rotated certificate served: %v; want 503 (the endpoints went) with it", r.status, bytes.Equal(r.served.Raw, rotated.Raw))
	}
}

var (
	metaGet    = metav1.GetOptions{}
	metaUpdate = metav1.UpdateOptions{}
)
