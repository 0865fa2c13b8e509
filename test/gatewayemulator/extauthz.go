package gatewayemulator

import (
	"context"
	"io"
	"net/http"
	"strings"
	"time"

	extauthz "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// rbacFilterName is the namespace of the dynamic metadata the RBAC filter
// writes for its shadow rules, which ext_authz's filter_enabled_metadata
// reads.
const rbacFilterName = "envoy.filters.http.rbac"

// extAuthz runs an envoy.filters.http.ext_authz filter as istiod writes it
// for a CUSTOM AuthorizationPolicy whose provider is envoyExtAuthzHttp
// (pilot/pkg/security/authz/builder/extauthz.go): enabled only when the
// RBAC filter's shadow rules before it matched a CUSTOM policy
// (filter_enabled_metadata), it asks the HTTP service of the provider's
// cluster, the backend registered for it, with the request's method,
// path_prefix + path, the allowed headers and headers_to_add. A 200
// passes the request on, with the allowed upstream headers of the answer;
// any other answer is sent to the client, with the allowed client headers;
// no answer is status_on_error (403 by default), or a pass with
// failure_mode_allow. It returns the answer that turns the request away,
// nil when it passes.
func (e *Emulator) extAuthz(cfg *config, a *anypb.Any, q *request) (*answer, error) {
	var f extauthz.ExtAuthz
	if err := a.UnmarshalTo(&f); err != nil {
		return nil, err
	}
	if f.GetFilterEnabled() != nil || f.GetDenyAtDisable() != nil {
		return nil, refuse("ext_authz filter_enabled and deny_at_disable (runtime fractions)")
	}
	if m := f.GetFilterEnabledMetadata(); m != nil {
		on, err := matchMetadata(m, q)
		if err != nil || !on {
			return nil, err
		}
	}
	svc := f.GetHttpService()
	if svc == nil {
		return nil, refuse("ext_authz service %T (only an HTTP service is implemented)", f.GetServices())
	}
	if f.GetWithRequestBody() != nil {
		return nil, refuse("ext_authz with_request_body")
	}
	cluster := svc.GetServerUri().GetCluster()
	onError := func() (*answer, error) {
		if f.GetFailureModeAllow() {
			return nil, nil
		}
		status := http.StatusForbidden
		if s := f.GetStatusOnError().GetCode(); s != 0 {
			status = int(s)
		}
		return &answer{status: status}, nil
	}
	n, err := cfg.healthyEndpoints(cluster)
	b := e.backendFor(cluster)
	if err != nil || n == 0 || b == nil {
		return onError()
	}
	timeout := 200 * time.Millisecond // Envoy's HttpUri default is required; istiod sets 600s or the provider's
	if d := svc.GetServerUri().GetTimeout(); d != nil {
		timeout = d.AsDuration()
	}
	ctx, cancel := context.WithTimeout(q.r.Context(), timeout)
	defer cancel()
	check, err := http.NewRequestWithContext(ctx, q.r.Method, "http://"+b.addr+svc.GetPathPrefix()+q.r.URL.RequestURI(), nil)
	if err != nil {
		return nil, err
	}
	check.Host = q.r.Host
	for name, values := range q.r.Header {
		if allowed, err := checkHeaderAllowed(f.GetAllowedHeaders().GetPatterns(), name); err != nil {
			return nil, err
		} else if allowed {
			check.Header[name] = values
		}
	}
	for _, h := range svc.GetAuthorizationRequest().GetHeadersToAdd() {
		check.Header.Set(h.GetKey(), h.GetValue())
	}
	// The service's answer as it is: a redirect to a login goes to the
	// client, not followed.
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(check)
	if err != nil {
		return onError()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK {
		for name, values := range resp.Header {
			if ok, err := matchAnyString(svc.GetAuthorizationResponse().GetAllowedUpstreamHeaders().GetPatterns(), name); err != nil {
				return nil, err
			} else if ok {
				q.r.Header[name] = values
			}
		}
		return nil, nil
	}
	denied := &answer{status: resp.StatusCode, body: string(body), headers: http.Header{}}
	for name, values := range resp.Header {
		if ok, err := matchAnyString(svc.GetAuthorizationResponse().GetAllowedClientHeaders().GetPatterns(), name); err != nil {
			return nil, err
		} else if ok {
			denied.headers[name] = values
		}
	}
	return denied, nil
}

// checkHeaderAllowed is whether the client's header name goes to the
// authorization service: Envoy always sends Host, Method, Path,
// Content-Length and Authorization, and those allowed_headers match.
func checkHeaderAllowed(patterns []*matcher.StringMatcher, name string) (bool, error) {
	switch strings.ToLower(name) {
	case "authorization", "content-length", "host":
		return true, nil
	}
	return matchAnyString(patterns, name)
}

func matchAnyString(patterns []*matcher.StringMatcher, s string) (bool, error) {
	for _, p := range patterns {
		ok, err := matchString(p, strings.ToLower(s))
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}
