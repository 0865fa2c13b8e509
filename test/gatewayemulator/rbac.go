//lint:file-ignore SA1019 Envoy still honours the deprecated RBAC metadata and source_ip matchers, and istiod writes metadata matchers for request principals.

package gatewayemulator

import (
	"fmt"
	"net"
	"sort"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttp "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	matcher "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
)

// rbacDenies evaluates an envoy.filters.http.rbac filter for the request:
// the name of the policy that turns it away ("" for an ALLOW filter no
// policy admits), and denied. Shadow rules only count statistics in Envoy
// and are ignored; LOG rules never deny.
func rbacDenies(f *rbachttp.RBAC, q *request) (policy string, denied bool, err error) {
	rules := f.GetRules()
	if rules == nil {
		return "", false, nil
	}
	if f.GetMatcher() != nil {
		return "", false, refuse("the RBAC filter's matcher tree")
	}
	matched, err := firstMatchingPolicy(rules, q)
	if err != nil {
		return "", false, err
	}
	switch rules.GetAction() {
	case rbacv3.RBAC_ALLOW:
		return "", matched == "", nil
	case rbacv3.RBAC_DENY:
		return matched, matched != "", nil
	case rbacv3.RBAC_LOG:
		return "", false, nil
	}
	return "", false, refuse("RBAC action %s", rules.GetAction())
}

// rbacShadow evaluates the filter's shadow rules, which never change the
// answer, for the dynamic metadata Envoy writes from them: under the
// filter's name, <shadow_rules_stat_prefix>shadow_effective_policy_id (the
// policy that matched, if one did) and ...shadow_engine_result (allowed
// or denied). istiod's CUSTOM policies are shadow rules, and ext_authz
// runs only when one matched.
func rbacShadow(f *rbachttp.RBAC, q *request) error {
	rules := f.GetShadowRules()
	if rules == nil {
		return nil
	}
	if f.GetShadowMatcher() != nil {
		return refuse("the RBAC filter's shadow matcher tree")
	}
	matched, err := firstMatchingPolicy(rules, q)
	if err != nil {
		return fmt.Errorf("shadow rules: %w", err)
	}
	prefix := f.GetShadowRulesStatPrefix()
	allowed := (rules.GetAction() == rbacv3.RBAC_ALLOW) == (matched != "")
	if rules.GetAction() == rbacv3.RBAC_LOG {
		allowed = true
	}
	result := "denied"
	if allowed {
		result = "allowed"
	}
	q.setMetadata(rbacFilterName, prefix+"shadow_engine_result", result)
	if matched != "" {
		q.setMetadata(rbacFilterName, prefix+"shadow_effective_policy_id", matched)
	}
	return nil
}

// firstMatchingPolicy is the name of the first policy, in name order, that
// matches the request; "" when none does. Every policy is evaluated, so
// that a policy the emulator cannot evaluate fails the request even when
// another one matches.
func firstMatchingPolicy(rules *rbacv3.RBAC, q *request) (string, error) {
	names := make([]string, 0, len(rules.GetPolicies()))
	for name := range rules.GetPolicies() {
		names = append(names, name)
	}
	sort.Strings(names)
	first := ""
	for _, name := range names {
		ok, err := policyMatches(rules.GetPolicies()[name], q)
		if err != nil {
			return "", fmt.Errorf("policy %s: %w", name, err)
		}
		if ok && first == "" {
			first = name
		}
	}
	return first, nil
}

func policyMatches(p *rbacv3.Policy, q *request) (bool, error) {
	if p.GetCondition() != nil || p.GetCheckedCondition() != nil {
		return false, refuse("an RBAC policy condition")
	}
	perm, err := anyPermission(p.GetPermissions(), q)
	if err != nil || !perm {
		return false, err
	}
	return anyPrincipal(p.GetPrincipals(), q)
}

func anyPermission(ps []*rbacv3.Permission, q *request) (bool, error) {
	for _, p := range ps {
		ok, err := permissionMatches(p, q)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func anyPrincipal(ps []*rbacv3.Principal, q *request) (bool, error) {
	for _, p := range ps {
		ok, err := principalMatches(p, q)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

func permissionMatches(p *rbacv3.Permission, q *request) (bool, error) {
	switch r := p.GetRule().(type) {
	case *rbacv3.Permission_Any:
		return r.Any, nil
	case *rbacv3.Permission_AndRules:
		for _, sub := range r.AndRules.GetRules() {
			ok, err := permissionMatches(sub, q)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case *rbacv3.Permission_OrRules:
		return anyPermission(r.OrRules.GetRules(), q)
	case *rbacv3.Permission_NotRule:
		ok, err := permissionMatches(r.NotRule, q)
		return !ok, err
	case *rbacv3.Permission_Header:
		return matchHeader(r.Header, q)
	case *rbacv3.Permission_UrlPath:
		return matchPath(r.UrlPath, q)
	case *rbacv3.Permission_DestinationPort:
		return r.DestinationPort == q.listenerPort, nil
	case *rbacv3.Permission_DestinationPortRange:
		port := int32(q.listenerPort)
		return port >= r.DestinationPortRange.GetStart() && port < r.DestinationPortRange.GetEnd(), nil
	case *rbacv3.Permission_DestinationIp:
		return inCIDR(r.DestinationIp, q.localIP)
	case *rbacv3.Permission_RequestedServerName:
		return matchString(r.RequestedServerName, q.sni)
	case *rbacv3.Permission_Metadata:
		return matchMetadata(r.Metadata, q)
	}
	return false, refuse("RBAC permission %T", p.GetRule())
}

func principalMatches(p *rbacv3.Principal, q *request) (bool, error) {
	switch id := p.GetIdentifier().(type) {
	case *rbacv3.Principal_Any:
		return id.Any, nil
	case *rbacv3.Principal_AndIds:
		for _, sub := range id.AndIds.GetIds() {
			ok, err := principalMatches(sub, q)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case *rbacv3.Principal_OrIds:
		return anyPrincipal(id.OrIds.GetIds(), q)
	case *rbacv3.Principal_NotId:
		ok, err := principalMatches(id.NotId, q)
		return !ok, err
	case *rbacv3.Principal_Authenticated_:
		// Only a connection with a verified client certificate is
		// authenticated; the emulator's callers never present one.
		return false, nil
	case *rbacv3.Principal_FilterState:
		// Istio keeps the peer's principal in filter state
		// (io.istio.peer_principal); an external caller has none, and an
		// absent key matches nothing.
		return false, nil
	case *rbacv3.Principal_Metadata:
		// Dynamic metadata: jwt_authn's verified payload, where istiod's
		// request principals (iss and sub) and request.auth.claims look;
		// absent for a request without a valid token.
		return matchMetadata(id.Metadata, q)
	case *rbacv3.Principal_Header:
		return matchHeader(id.Header, q)
	case *rbacv3.Principal_UrlPath:
		return matchPath(id.UrlPath, q)
	case *rbacv3.Principal_DirectRemoteIp:
		return inCIDR(id.DirectRemoteIp, q.remoteIP)
	case *rbacv3.Principal_RemoteIp:
		return inCIDR(id.RemoteIp, q.remoteIP)
	case *rbacv3.Principal_SourceIp:
		return inCIDR(id.SourceIp, q.remoteIP)
	}
	return false, refuse("RBAC principal %T", p.GetIdentifier())
}

// matchMetadata is Envoy's MetadataMatcher on the request's dynamic
// metadata: the value at the path of keys under the filter's namespace
// (absent when a key is missing or a step is not an object), matched by
// the value matcher, then invert applied.
func matchMetadata(m *matcher.MetadataMatcher, q *request) (bool, error) {
	var value any = absent{}
	if ns, ok := q.metadata[m.GetFilter()]; ok {
		value = metadataAt(ns, m.GetPath())
	}
	ok, err := matchValue(m.GetValue(), value)
	if err != nil {
		return false, err
	}
	return ok != m.GetInvert(), nil
}

// absent is a metadata value that is not there (Envoy's Value with no
// kind set).
type absent struct{}

func metadataAt(ns map[string]any, path []*matcher.MetadataMatcher_PathSegment) any {
	var cur any = ns
	for _, seg := range path {
		obj, ok := cur.(map[string]any)
		if !ok {
			return absent{}
		}
		if cur, ok = obj[seg.GetKey()]; !ok {
			return absent{}
		}
	}
	return cur
}

// matchValue is Envoy's ValueMatcher on a value decoded from JSON (string,
// float64, bool, nil, []any, map[string]any) or absent.
func matchValue(m *matcher.ValueMatcher, v any) (bool, error) {
	_, isAbsent := v.(absent)
	switch p := m.GetMatchPattern().(type) {
	case *matcher.ValueMatcher_PresentMatch:
		return !isAbsent == p.PresentMatch, nil
	case *matcher.ValueMatcher_NullMatch_:
		return v == nil, nil
	case *matcher.ValueMatcher_StringMatch:
		s, ok := v.(string)
		if !ok {
			return false, nil
		}
		return matchString(p.StringMatch, s)
	case *matcher.ValueMatcher_BoolMatch:
		b, ok := v.(bool)
		return ok && b == p.BoolMatch, nil
	case *matcher.ValueMatcher_DoubleMatch:
		f, ok := v.(float64)
		if !ok {
			return false, nil
		}
		switch d := p.DoubleMatch.GetMatchPattern().(type) {
		case *matcher.DoubleMatcher_Exact:
			return f == d.Exact, nil
		case *matcher.DoubleMatcher_Range:
			return f >= d.Range.GetStart() && f < d.Range.GetEnd(), nil
		}
		return false, refuse("double matcher %T", p.DoubleMatch.GetMatchPattern())
	case *matcher.ValueMatcher_ListMatch:
		one, ok := p.ListMatch.GetMatchPattern().(*matcher.ListMatcher_OneOf)
		if !ok {
			return false, refuse("list matcher %T", p.ListMatch.GetMatchPattern())
		}
		list, isList := v.([]any)
		if !isList {
			return false, nil
		}
		for _, item := range list {
			if ok, err := matchValue(one.OneOf, item); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case *matcher.ValueMatcher_OrMatch:
		for _, sub := range p.OrMatch.GetValueMatchers() {
			if ok, err := matchValue(sub, v); err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	}
	return false, refuse("metadata value matcher %T", m.GetMatchPattern())
}

func inCIDR(r *core.CidrRange, ip string) (bool, error) {
	_, network, err := net.ParseCIDR(fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
	if err != nil {
		return false, refuse("CIDR range %s/%d (%v)", r.GetAddressPrefix(), r.GetPrefixLen().GetValue(), err)
	}
	addr := net.ParseIP(ip)
	return addr != nil && network.Contains(addr), nil
}
