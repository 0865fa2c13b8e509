//lint:file-ignore SA1019 Envoy still honours the deprecated header matchers, and a model of Envoy must read whatever istiod sends.

package gatewayemulator

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// unsupported is an error for configuration the emulator does not model:
// the request that meets it fails, it never passes.
type unsupported struct{ what string }

func (u unsupported) Error() string { return u.what + " is not implemented by the gateway emulator" }

func refuse(format string, args ...any) error { return unsupported{fmt.Sprintf(format, args...)} }

// request is what the filters and routes match a request on.
type request struct {
	r *http.Request
	// headers holds the request's headers with the pseudo-headers
	// :authority, :method, :path and :scheme, lower-case names.
	headers map[string][]string
	// path is the path without the query.
	path string
	tls  bool
	sni  string
	// listenerPort is the port of the listener in istiod's configuration
	// (not the loopback port): RBAC destination_port compares with it.
	listenerPort uint32
	remoteIP     string
	// localIP is the gateway pod's address, the destination a real client
	// connects to.
	localIP string
	// metadata is the dynamic metadata filters wrote for the request, by
	// filter name then key: jwt_authn's verified payload.
	metadata map[string]map[string]any
}

// setMetadata writes value under key in filter's dynamic metadata.
func (q *request) setMetadata(filter, key string, value any) {
	if q.metadata == nil {
		q.metadata = map[string]map[string]any{}
	}
	if q.metadata[filter] == nil {
		q.metadata[filter] = map[string]any{}
	}
	q.metadata[filter][key] = value
}

func newRequest(r *http.Request, tls bool, sni string, port uint32, remoteIP, localIP string) *request {
	scheme := "http"
	if tls {
		scheme = "https"
	}
	h := map[string][]string{
		":authority": {r.Host},
		":method":    {r.Method},
		":path":      {r.URL.RequestURI()},
		":scheme":    {scheme},
	}
	for k, v := range r.Header {
		h[strings.ToLower(k)] = v
	}
	return &request{r: r, headers: h, path: r.URL.Path, tls: tls, sni: sni, listenerPort: port, remoteIP: remoteIP, localIP: localIP}
}

// header is the request's value of header name, several joined with ","
// as Envoy matches them; ok is false when the request has none.
func (q *request) header(name string) (string, bool) {
	v, ok := q.headers[strings.ToLower(name)]
	if !ok {
		return "", false
	}
	return strings.Join(v, ","), true
}

func matchString(m *matcher.StringMatcher, s string) (bool, error) {
	if m == nil {
		return false, refuse("an empty string matcher")
	}
	if m.GetIgnoreCase() {
		s = strings.ToLower(s)
	}
	lower := func(p string) string {
		if m.GetIgnoreCase() {
			return strings.ToLower(p)
		}
		return p
	}
	switch p := m.GetMatchPattern().(type) {
	case *matcher.StringMatcher_Exact:
		return s == lower(p.Exact), nil
	case *matcher.StringMatcher_Prefix:
		return strings.HasPrefix(s, lower(p.Prefix)), nil
	case *matcher.StringMatcher_Suffix:
		return strings.HasSuffix(s, lower(p.Suffix)), nil
	case *matcher.StringMatcher_Contains:
		return strings.Contains(s, lower(p.Contains)), nil
	case *matcher.StringMatcher_SafeRegex:
		return matchRegex(p.SafeRegex, s)
	}
	return false, refuse("string matcher %T", m.GetMatchPattern())
}

// matchRegex matches the whole of s, as Envoy's RE2 matchers do.
func matchRegex(m *matcher.RegexMatcher, s string) (bool, error) {
	re, err := regexp.Compile(`^(?:` + m.GetRegex() + `)$`)
	if err != nil {
		return false, refuse("regex %q (%v)", m.GetRegex(), err)
	}
	return re.MatchString(s), nil
}

// matchHeader is Envoy's HeaderMatcher, invert_match included.
func matchHeader(m *route.HeaderMatcher, q *request) (bool, error) {
	value, present := q.header(m.GetName())
	if !present && m.GetTreatMissingHeaderAsEmpty() {
		value, present = "", true
	}
	var ok bool
	var err error
	switch s := m.GetHeaderMatchSpecifier().(type) {
	case nil:
		ok = present
	case *route.HeaderMatcher_PresentMatch:
		ok = present == s.PresentMatch
	case *route.HeaderMatcher_ExactMatch:
		ok = present && value == s.ExactMatch
	case *route.HeaderMatcher_PrefixMatch:
		ok = present && strings.HasPrefix(value, s.PrefixMatch)
	case *route.HeaderMatcher_SuffixMatch:
		ok = present && strings.HasSuffix(value, s.SuffixMatch)
	case *route.HeaderMatcher_ContainsMatch:
		ok = present && strings.Contains(value, s.ContainsMatch)
	case *route.HeaderMatcher_SafeRegexMatch:
		if present {
			ok, err = matchRegex(s.SafeRegexMatch, value)
		}
	case *route.HeaderMatcher_StringMatch:
		if present {
			ok, err = matchString(s.StringMatch, value)
		}
	default:
		return false, refuse("header matcher %T on %s", s, m.GetName())
	}
	if err != nil {
		return false, err
	}
	// A missing header never matches, inverted or not, except through
	// present_match (Envoy's HeaderUtility::matchHeaders).
	if !present {
		if _, isPresent := m.GetHeaderMatchSpecifier().(*route.HeaderMatcher_PresentMatch); !isPresent {
			return false, nil
		}
	}
	return ok != m.GetInvertMatch(), nil
}

func matchPath(m *matcher.PathMatcher, q *request) (bool, error) {
	p, ok := m.GetRule().(*matcher.PathMatcher_Path)
	if !ok {
		return false, refuse("path matcher %T", m.GetRule())
	}
	return matchString(p.Path, q.path)
}
