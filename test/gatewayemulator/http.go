package gatewayemulator

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	udpatype "github.com/cncf/xds/go/udpa/type/v1"
	xdstype "github.com/cncf/xds/go/xds/type/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	faultv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/fault/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// HTTP filter type URLs, as istiod writes them.
const (
	routerType    = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
	rbacType      = "type.googleapis.com/envoy.extensions.filters.http.rbac.v3.RBAC"
	jwtAuthnType  = "type.googleapis.com/envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication"
	extAuthzType  = "type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz"
	faultType     = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
	corsType      = "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"
	grpcStatsType = "type.googleapis.com/envoy.extensions.filters.http.grpc_stats.v3.FilterConfig"
	// istio.stats: counters only.
	istioStatsType = "type.googleapis.com/stats.PluginConfig"
	// istio.metadata_exchange, wrapped in a TypedStruct by istiod.
	peerMetadataType = "type.googleapis.com/io.istio.http.peer_metadata.Config"
	// istio.alpn: sets the ALPN of the upstream (mTLS) connection.
	alpnType        = "type.googleapis.com/istio.envoy.config.filter.http.alpn.v2alpha1.FilterConfig"
	typedStructUDPA = "type.googleapis.com/udpa.type.v1.TypedStruct"
	typedStructXDS  = "type.googleapis.com/xds.type.v3.TypedStruct"
)

// answer is a reply the gateway makes itself, without the app.
type answer struct {
	status   int
	body     string
	location string
	// headers are more response headers (an authorization service's).
	headers http.Header
}

func (a answer) write(w http.ResponseWriter) {
	for name, values := range a.headers {
		w.Header()[name] = values
	}
	if a.location != "" {
		w.Header().Set("Location", a.location)
	}
	if a.body != "" {
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(a.status)
	_, _ = w.Write([]byte(a.body))
}

// emulatorFailure is the 500 for configuration the emulator cannot act on.
func emulatorFailure(format string, args ...any) answer {
	return answer{status: http.StatusInternalServerError, body: "gateway emulator: " + fmt.Sprintf(format, args...) + "\n"}
}

// decision is where the filters leave a request: a local answer, or on its
// way to a cluster.
type decision struct {
	local   *answer
	cluster string
	// path and host are the request's after the route's rewrites.
	path, host string
}

// handle runs the request through the connection manager's filters, in
// order, and the router's action for the route the request matches.
func (e *Emulator) handle(cfg *config, m *hcm.HttpConnectionManager, q *request) decision {
	rc, err := cfg.routeConfig(m)
	if err != nil {
		a := emulatorFailure("%v", err)
		return decision{local: &a}
	}
	host := q.r.Host
	// istiod sets ignore_port_in_host_matching on the gateway's routes: a
	// Host with a port chooses the virtual host of the name alone (the
	// filters still see the Host as sent).
	if m.GetStripAnyHostPort() || rc.GetIgnorePortInHostMatching() {
		host = stripPort(host)
	}
	vh := chooseVirtualHost(rc.GetVirtualHosts(), host)
	var rt *route.Route
	if vh != nil {
		if rt, err = chooseRoute(vh, q); err != nil {
			a := emulatorFailure("virtual host %s: %v", vh.GetName(), err)
			return decision{local: &a}
		}
	}
	for _, f := range m.GetHttpFilters() {
		typ := filterType(f.GetTypedConfig())
		switch typ {
		case routerType:
			return routeAction(vh, rt, q)
		case rbacType:
			var cfg rbachttp.RBAC
			if err := f.GetTypedConfig().UnmarshalTo(&cfg); err != nil {
				a := emulatorFailure("HTTP filter %s: %v", f.GetName(), err)
				return decision{local: &a}
			}
			_, denied, err := rbacDenies(&cfg, q)
			if err == nil {
				err = rbacShadow(&cfg, q)
			}
			if err != nil {
				a := emulatorFailure("HTTP filter %s: %v", f.GetName(), err)
				return decision{local: &a}
			}
			if denied {
				return decision{local: &answer{status: http.StatusForbidden, body: "RBAC: access denied"}}
			}
		case extAuthzType:
			refused, err := e.extAuthz(cfg, f.GetTypedConfig(), q)
			if err != nil {
				a := emulatorFailure("HTTP filter %s: %v", f.GetName(), err)
				return decision{local: &a}
			}
			if refused != nil {
				return decision{local: refused}
			}
		case jwtAuthnType:
			refused, err := jwtAuthn(f.GetTypedConfig(), q, time.Now())
			if err != nil {
				a := emulatorFailure("HTTP filter %s: %v", f.GetName(), err)
				return decision{local: &a}
			}
			if refused != nil {
				return decision{local: refused}
			}
		case grpcStatsType, istioStatsType, peerMetadataType, alpnType:
			// Counters, peer metadata, the upstream connection's ALPN:
			// nothing that changes the answer.
		case faultType:
			if why := faultInjects(f.GetTypedConfig(), vh, rt, f.GetName()); why != "" {
				a := emulatorFailure("HTTP filter %s: %s", f.GetName(), why)
				return decision{local: &a}
			}
		case corsType:
			if _, hasOrigin := q.header("origin"); hasOrigin && corsPolicyApplies(vh, rt, f.GetName()) {
				a := emulatorFailure("HTTP filter %s: CORS for a request with an Origin header is not implemented", f.GetName())
				return decision{local: &a}
			}
		default:
			a := emulatorFailure("HTTP filter %s (%s) is not implemented: the emulator cannot tell what it does to the request", f.GetName(), typ)
			return decision{local: &a}
		}
	}
	a := emulatorFailure("the HTTP connection manager has no router filter")
	return decision{local: &a}
}

// filterType is the type URL of a filter's config; for a TypedStruct, the
// type it stands for.
func filterType(a *anypb.Any) string {
	switch a.GetTypeUrl() {
	case typedStructUDPA:
		var ts udpatype.TypedStruct
		if err := a.UnmarshalTo(&ts); err == nil {
			return ts.GetTypeUrl()
		}
	case typedStructXDS:
		var ts xdstype.TypedStruct
		if err := a.UnmarshalTo(&ts); err == nil {
			return ts.GetTypeUrl()
		}
	}
	return a.GetTypeUrl()
}

// faultInjects says what the fault filter would do to the request: ""
// when neither its own config nor the route's injects anything.
func faultInjects(filter *anypb.Any, vh *route.VirtualHost, rt *route.Route, name string) string {
	configs := []*anypb.Any{filter}
	if cfg := perFilterConfig(vh, rt, name); cfg != nil {
		configs = append(configs, cfg)
	}
	for _, c := range configs {
		var f faultv3.HTTPFault
		if err := c.UnmarshalTo(&f); err != nil {
			return fmt.Sprintf("decoding its config: %v", err)
		}
		if f.GetDelay() != nil || f.GetAbort() != nil {
			return "fault injection (delay or abort) is not implemented"
		}
	}
	return ""
}

func corsPolicyApplies(vh *route.VirtualHost, rt *route.Route, name string) bool {
	//lint:ignore SA1019 the deprecated cors fields still configure Envoy
	return perFilterConfig(vh, rt, name) != nil || vh.GetCors() != nil || rt.GetRoute().GetCors() != nil
}

// perFilterConfig is the most specific typed_per_filter_config for the
// filter named name: the route's, else the virtual host's.
func perFilterConfig(vh *route.VirtualHost, rt *route.Route, name string) *anypb.Any {
	if c := rt.GetTypedPerFilterConfig()[name]; c != nil {
		return c
	}
	return vh.GetTypedPerFilterConfig()[name]
}

// chooseVirtualHost picks the virtual host for host as Envoy does: an exact
// domain, then the longest "*.suffix" wildcard, then the longest "prefix*"
// wildcard (istiod's "host:*"), then "*"; case-insensitive.
func chooseVirtualHost(vhs []*route.VirtualHost, host string) *route.VirtualHost {
	host = strings.ToLower(host)
	var suffix, prefix, fallback *route.VirtualHost
	suffixLen, prefixLen := -1, -1
	for _, vh := range vhs {
		for _, d := range vh.GetDomains() {
			d = strings.ToLower(d)
			switch {
			case d == "*":
				if fallback == nil {
					fallback = vh
				}
			case d == host:
				return vh
			case strings.HasPrefix(d, "*"):
				if strings.HasSuffix(host, d[1:]) && len(host) > len(d)-1 && len(d) > suffixLen {
					suffix, suffixLen = vh, len(d)
				}
			case strings.HasSuffix(d, "*"):
				if strings.HasPrefix(host, d[:len(d)-1]) && len(host) > len(d)-1 && len(d) > prefixLen {
					prefix, prefixLen = vh, len(d)
				}
			}
		}
	}
	switch {
	case suffix != nil:
		return suffix
	case prefix != nil:
		return prefix
	}
	return fallback
}

// chooseRoute is the first route of vh whose match fits the request.
func chooseRoute(vh *route.VirtualHost, q *request) (*route.Route, error) {
	for _, rt := range vh.GetRoutes() {
		ok, err := routeMatches(rt.GetMatch(), q)
		if err != nil {
			return nil, fmt.Errorf("route %s: %w", rt.GetName(), err)
		}
		if ok {
			return rt, nil
		}
	}
	return nil, nil
}

func routeMatches(m *route.RouteMatch, q *request) (bool, error) {
	switch {
	case m.GetGrpc() != nil:
		return false, refuse("a gRPC route match")
	case m.GetRuntimeFraction() != nil:
		return false, refuse("a runtime_fraction route match")
	case m.GetTlsContext() != nil:
		return false, refuse("a tls_context route match")
	case len(m.GetDynamicMetadata()) > 0:
		return false, refuse("a dynamic_metadata route match")
	case len(m.GetFilterState()) > 0:
		return false, refuse("a filter_state route match")
	}
	ok, err := pathMatches(m, q.path)
	if err != nil || !ok {
		return false, err
	}
	for _, h := range m.GetHeaders() {
		if ok, err := matchHeader(h, q); err != nil || !ok {
			return false, err
		}
	}
	for _, qp := range m.GetQueryParameters() {
		if ok, err := queryMatches(qp, q.r.URL.Query()); err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

func pathMatches(m *route.RouteMatch, path string) (bool, error) {
	caseSensitive := m.GetCaseSensitive() == nil || m.GetCaseSensitive().GetValue()
	fold := func(s string) string {
		if caseSensitive {
			return s
		}
		return strings.ToLower(s)
	}
	switch p := m.GetPathSpecifier().(type) {
	case *route.RouteMatch_Prefix:
		return strings.HasPrefix(fold(path), fold(p.Prefix)), nil
	case *route.RouteMatch_Path:
		return fold(path) == fold(p.Path), nil
	case *route.RouteMatch_SafeRegex:
		return matchRegex(p.SafeRegex, path)
	case *route.RouteMatch_PathSeparatedPrefix:
		pre := fold(p.PathSeparatedPrefix)
		rest, ok := strings.CutPrefix(fold(path), pre)
		return ok && (rest == "" || strings.HasPrefix(rest, "/")), nil
	}
	return false, refuse("route path specifier %T", m.GetPathSpecifier())
}

func queryMatches(m *route.QueryParameterMatcher, query url.Values) (bool, error) {
	values, present := query[m.GetName()]
	switch s := m.GetQueryParameterMatchSpecifier().(type) {
	case *route.QueryParameterMatcher_PresentMatch:
		return present == s.PresentMatch, nil
	case *route.QueryParameterMatcher_StringMatch:
		if !present {
			return false, nil
		}
		return matchString(s.StringMatch, values[0])
	}
	return false, refuse("query parameter matcher %T", m.GetQueryParameterMatchSpecifier())
}

// routeAction is what the router filter does with the route the request
// matched: Envoy's require_tls redirect, a redirect, a direct response, or
// the cluster to forward to.
func routeAction(vh *route.VirtualHost, rt *route.Route, q *request) decision {
	if vh == nil {
		return decision{local: &answer{status: http.StatusNotFound}}
	}
	switch vh.GetRequireTls() {
	case route.VirtualHost_ALL, route.VirtualHost_EXTERNAL_ONLY:
		// The emulator's callers are all external.
		if !q.tls {
			return decision{local: &answer{status: http.StatusMovedPermanently, location: "https://" + q.r.Host + q.r.URL.RequestURI()}}
		}
	}
	if rt == nil {
		return decision{local: &answer{status: http.StatusNotFound}}
	}
	switch a := rt.GetAction().(type) {
	case *route.Route_Redirect:
		ans, err := redirect(a.Redirect, q)
		if err != nil {
			ans = emulatorFailure("route %s: %v", rt.GetName(), err)
		}
		return decision{local: &ans}
	case *route.Route_DirectResponse:
		ans := answer{status: int(a.DirectResponse.GetStatus())}
		switch body := a.DirectResponse.GetBody().GetSpecifier().(type) {
		case nil:
		case *core.DataSource_InlineString:
			ans.body = body.InlineString
		case *core.DataSource_InlineBytes:
			ans.body = string(body.InlineBytes)
		default:
			ans = emulatorFailure("route %s: a direct response body from %T", rt.GetName(), body)
		}
		return decision{local: &ans}
	case *route.Route_Route:
		return forward(a.Route, rt, q)
	}
	ans := emulatorFailure("route %s: action %T", rt.GetName(), rt.GetAction())
	return decision{local: &ans}
}

// forward decides the cluster and the request's path and host after the
// route's rewrites.
func forward(ra *route.RouteAction, rt *route.Route, q *request) decision {
	fail := func(format string, args ...any) decision {
		a := emulatorFailure("route %s: "+format, append([]any{rt.GetName()}, args...)...)
		return decision{local: &a}
	}
	switch {
	case ra.GetRegexRewrite() != nil:
		return fail("regex_rewrite is not implemented")
	case ra.GetPathRewritePolicy() != nil:
		return fail("path_rewrite_policy is not implemented")
	case ra.GetHostRewriteHeader() != "" || ra.GetHostRewritePathRegex() != nil:
		return fail("host rewrite from a header or the path is not implemented")
	}
	d := decision{path: q.r.URL.Path, host: q.r.Host}
	switch c := ra.GetClusterSpecifier().(type) {
	case *route.RouteAction_Cluster:
		d.cluster = c.Cluster
	case *route.RouteAction_WeightedClusters:
		var weighted []string
		for _, wc := range c.WeightedClusters.GetClusters() {
			if wc.GetWeight() == nil || wc.GetWeight().GetValue() > 0 {
				weighted = append(weighted, wc.GetName())
			}
		}
		if len(weighted) != 1 {
			sort.Strings(weighted)
			return fail("a weighted split over %v is not implemented (the emulator routes only a split with one weighted cluster)", weighted)
		}
		d.cluster = weighted[0]
	default:
		return fail("cluster specifier %T is not implemented", ra.GetClusterSpecifier())
	}
	if pre := ra.GetPrefixRewrite(); pre != "" {
		if p, ok := rt.GetMatch().GetPathSpecifier().(*route.RouteMatch_Prefix); ok {
			d.path = pre + strings.TrimPrefix(d.path, p.Prefix)
		} else {
			return fail("prefix_rewrite on a route that does not match a prefix")
		}
	}
	if h := ra.GetHostRewriteLiteral(); h != "" {
		d.host = h
	}
	return d
}

// redirect builds Envoy's redirect Location (RouteEntryImplBase::newUri).
func redirect(rd *route.RedirectAction, q *request) (answer, error) {
	scheme := "http"
	if q.tls {
		scheme = "https"
	}
	if rd.GetHttpsRedirect() {
		scheme = "https"
	}
	if s := rd.GetSchemeRedirect(); s != "" {
		scheme = s
	}
	port := ""
	if rd.GetPortRedirect() != 0 {
		port = fmt.Sprintf(":%d", rd.GetPortRedirect())
	}
	host := rd.GetHostRedirect()
	if host == "" {
		host = redirectHost(q, scheme, port)
	}
	path, query := q.r.URL.EscapedPath(), q.r.URL.RawQuery
	switch p := rd.GetPathRewriteSpecifier().(type) {
	case nil:
	case *route.RedirectAction_PathRedirect:
		// Envoy keeps the request's path when path_redirect is empty, as
		// istiod writes it for a Gateway API RequestRedirect.
		if p.PathRedirect != "" {
			path = p.PathRedirect
			if before, after, found := strings.Cut(path, "?"); found {
				path, query = before, after
			}
		}
	case *route.RedirectAction_PrefixRewrite:
		return answer{}, refuse("a redirect's prefix_rewrite")
	case *route.RedirectAction_RegexRewrite:
		return answer{}, refuse("a redirect's regex_rewrite")
	}
	if rd.GetStripQuery() {
		query = ""
	}
	location := scheme + "://" + host + port + path
	if query != "" {
		location += "?" + query
	}
	status := map[route.RedirectAction_RedirectResponseCode]int{
		route.RedirectAction_MOVED_PERMANENTLY:  http.StatusMovedPermanently,
		route.RedirectAction_FOUND:              http.StatusFound,
		route.RedirectAction_SEE_OTHER:          http.StatusSeeOther,
		route.RedirectAction_TEMPORARY_REDIRECT: http.StatusTemporaryRedirect,
		route.RedirectAction_PERMANENT_REDIRECT: http.StatusPermanentRedirect,
	}[rd.GetResponseCode()]
	return answer{status: status, location: location}, nil
}

// redirectHost is the request's host for a redirect: without its port when
// the redirect sets one, or when the scheme changes away from the one whose
// default port the host carries (Envoy's processRequestHost).
func redirectHost(q *request, scheme, newPort string) string {
	host := q.r.Host
	i := strings.LastIndex(host, ":")
	if strings.HasPrefix(host, "[") {
		i = strings.LastIndex(host, "]:")
		if i >= 0 {
			i++
		}
	}
	if i < 0 {
		return host
	}
	port := host[i:]
	current := "http"
	if q.tls {
		current = "https"
	}
	remove := newPort != ""
	if scheme != current {
		remove = remove || (current == "https" && port == ":443") || (current == "http" && port == ":80")
	}
	if remove {
		return host[:i]
	}
	return host
}

var portSuffix = regexp.MustCompile(`:[0-9]+$`)

func stripPort(host string) string {
	if strings.HasPrefix(host, "[") && !strings.Contains(host, "]:") {
		return host
	}
	return portSuffix.ReplaceAllString(host, "")
}
