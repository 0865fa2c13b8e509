package gatewayemulator

import (
	"net/http"
	"strings"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	jwtauthn "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	"google.golang.org/protobuf/types/known/anypb"
)

// jwtFilterName is the filter's name, the namespace of the dynamic
// metadata it writes (the verified payload) and RBAC reads.
const jwtFilterName = "envoy.filters.http.jwt_authn"

// jwtAuthn runs an envoy.filters.http.jwt_authn filter as istiod configures
// it (pilot/pkg/security/authn/policy_applier.go): providers with an
// issuer, audiences and the JWKS istiod fetched and inlined (local_jwks);
// rules matching the path, each with a requirement tree of provider_name,
// requires_any, requires_all and allow_missing. A verified token's payload
// goes into the dynamic metadata under payload_in_metadata, and without
// forward the token's header is removed. It returns the answer that turns
// the request away, nil when it passes.
func jwtAuthn(a *anypb.Any, q *request, now time.Time) (*answer, error) {
	var cfg jwtauthn.JwtAuthentication
	if err := a.UnmarshalTo(&cfg); err != nil {
		return nil, err
	}
	if len(cfg.GetFilterStateRules().GetRequires()) > 0 || cfg.GetFilterStateRules().GetName() != "" {
		return nil, refuse("jwt_authn filter_state_rules")
	}
	if cfg.GetBypassCorsPreflight() && q.r.Method == http.MethodOptions {
		_, origin := q.header("origin")
		_, method := q.header("access-control-request-method")
		if origin && method {
			return nil, nil
		}
	}
	v := &jwtVerifier{cfg: &cfg, q: q, now: now, keys: map[string][]jwk{}}
	for name, p := range cfg.GetProviders() {
		if err := v.checkProvider(name, p); err != nil {
			return nil, err
		}
	}
	for _, rule := range cfg.GetRules() {
		ok, err := routeMatches(rule.GetMatch(), q)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		req := rule.GetRequires()
		if name := rule.GetRequirementName(); name != "" {
			if req = cfg.GetRequirementMap()[name]; req == nil {
				return nil, refuse("jwt_authn requirement %q that the requirement map lacks", name)
			}
		}
		if req == nil {
			return nil, nil // a rule without requirement: no check
		}
		status, err := v.verify(req)
		if err != nil {
			return nil, err
		}
		if status == jwtOK {
			return nil, nil
		}
		code := http.StatusUnauthorized
		if status == jwtAudience {
			code = http.StatusForbidden
		}
		return &answer{status: code, body: string(status)}, nil
	}
	return nil, nil
}

// jwtVerifier evaluates one request's requirement tree.
type jwtVerifier struct {
	cfg  *jwtauthn.JwtAuthentication
	q    *request
	now  time.Time
	keys map[string][]jwk
}

// checkProvider refuses what the emulator does not model, and reads the
// provider's inline JWKS.
func (v *jwtVerifier) checkProvider(name string, p *jwtauthn.JwtProvider) error {
	switch {
	case p.GetRemoteJwks() != nil:
		return refuse("jwt_authn provider %s with remote_jwks (istiod inlines the JWKS unless PILOT_JWT_ENABLE_REMOTE_JWKS is set)", name)
	case len(p.GetFromCookies()) > 0:
		return refuse("jwt_authn provider %s with from_cookies", name)
	case p.GetForwardPayloadHeader() != "" || len(p.GetClaimToHeaders()) > 0:
		return refuse("jwt_authn provider %s writing headers from the token", name)
	case p.GetJwtCacheConfig() != nil && p.GetJwtCacheConfig().GetJwtCacheSize() > 0:
		// A cache changes nothing the requests see.
	}
	var jwks string
	switch s := p.GetLocalJwks().GetSpecifier().(type) {
	case *core.DataSource_InlineString:
		jwks = s.InlineString
	case *core.DataSource_InlineBytes:
		jwks = string(s.InlineBytes)
	default:
		return refuse("jwt_authn provider %s JWKS from %T", name, s)
	}
	keys, err := parseJWKS(jwks)
	if err != nil {
		// Envoy rejects such a provider's tokens; it still loads.
		keys = nil
	}
	v.keys[name] = keys
	return nil
}

// verify is Envoy's verifier for req: ok, or why the request fails.
func (v *jwtVerifier) verify(req *jwtauthn.JwtRequirement) (jwtStatus, error) {
	switch r := req.GetRequiresType().(type) {
	case *jwtauthn.JwtRequirement_ProviderName:
		return v.provider(r.ProviderName, nil)
	case *jwtauthn.JwtRequirement_ProviderAndAudiences:
		return v.provider(r.ProviderAndAudiences.GetProviderName(), r.ProviderAndAudiences.GetAudiences())
	case *jwtauthn.JwtRequirement_RequiresAny:
		// Any one passing passes; else the failure that is not a missing
		// token (or one of an issuer not this child's), the last such, as
		// Envoy's AnyVerifierImpl aggregates.
		final := jwtMissing
		for _, sub := range r.RequiresAny.GetRequirements() {
			s, err := v.verify(sub)
			if err != nil {
				return "", err
			}
			if s == jwtOK {
				return jwtOK, nil
			}
			if s != jwtMissing && s != jwtUnknownIssuer {
				final = s
			}
		}
		return final, nil
	case *jwtauthn.JwtRequirement_RequiresAll:
		for _, sub := range r.RequiresAll.GetRequirements() {
			s, err := v.verify(sub)
			if err != nil || s != jwtOK {
				return s, err
			}
		}
		return jwtOK, nil
	case *jwtauthn.JwtRequirement_AllowMissing:
		return v.allowMissing(false), nil
	case *jwtauthn.JwtRequirement_AllowMissingOrFailed:
		return v.allowMissing(true), nil
	}
	return "", refuse("jwt_authn requirement %T", req.GetRequiresType())
}

// provider verifies the tokens in the locations of provider name.
func (v *jwtVerifier) provider(name string, audiences []string) (jwtStatus, error) {
	p, ok := v.cfg.GetProviders()[name]
	if !ok {
		return "", refuse("jwt_authn requirement naming provider %q, which is not configured", name)
	}
	if audiences == nil {
		audiences = p.GetAudiences()
	}
	found := v.extract(p)
	if len(found) == 0 {
		return jwtMissing, nil
	}
	for _, tok := range found {
		t, s := parseJWT(tok.value)
		if s == jwtOK && p.GetIssuer() != "" && t.iss != p.GetIssuer() {
			s = jwtUnknownIssuer
		}
		if s == jwtOK {
			s = v.check(t, p, audiences, name)
		}
		if s != jwtOK {
			return s, nil
		}
		v.accept(t, p, tok)
	}
	return jwtOK, nil
}

// allowMissing is Envoy's allow_missing (allow_missing_or_failed with
// failed): the tokens in every provider's locations are verified by the
// provider of their issuer; none is fine, as is (with failed) one that
// does not verify.
func (v *jwtVerifier) allowMissing(failed bool) jwtStatus {
	var found []token
	seen := map[string]bool{}
	for _, p := range v.cfg.GetProviders() {
		for _, tok := range v.extract(p) {
			if !seen[tok.where+"\x00"+tok.value] {
				seen[tok.where+"\x00"+tok.value] = true
				found = append(found, tok)
			}
		}
	}
	for _, tok := range found {
		s := jwtUnknownIssuer
		t, parsed := parseJWT(tok.value)
		if parsed != jwtOK {
			s = parsed
		}
		for name, p := range v.cfg.GetProviders() {
			if parsed == jwtOK && p.GetIssuer() == t.iss {
				if s = v.check(t, p, p.GetAudiences(), name); s == jwtOK {
					v.accept(t, p, tok)
				}
				break
			}
		}
		if s != jwtOK && !failed {
			return s
		}
	}
	return jwtOK
}

// check is what a provider verifies of a decoded token of its issuer:
// its time, audiences and signature.
func (v *jwtVerifier) check(t *jwt, p *jwtauthn.JwtProvider, audiences []string, name string) jwtStatus {
	if s := t.checkTime(v.now); s != jwtOK {
		return s
	}
	if !t.audienceAllowed(audiences) {
		return jwtAudience
	}
	if len(v.keys[name]) == 0 {
		return jwtNoKey
	}
	return t.verifySignature(v.keys[name])
}

// accept records a verified token as Envoy does: its payload in the
// dynamic metadata (payload_in_metadata, space-delimited claims as lists),
// and its header removed unless forward.
func (v *jwtVerifier) accept(t *jwt, p *jwtauthn.JwtProvider, tok token) {
	if key := p.GetPayloadInMetadata(); key != "" {
		payload := map[string]any{}
		for k, val := range t.payload {
			payload[k] = val
		}
		for _, claim := range append([]string{"scope", "permission"}, p.GetNormalizePayloadInMetadata().GetSpaceDelimitedClaims()...) {
			if s, ok := payload[claim].(string); ok {
				var list []any
				for _, f := range strings.Fields(s) {
					list = append(list, f)
				}
				payload[claim] = list
			}
		}
		v.q.setMetadata(jwtFilterName, key, payload)
	}
	if !p.GetForward() && tok.header != "" {
		v.q.r.Header.Del(tok.header)
		delete(v.q.headers, strings.ToLower(tok.header))
	}
}

// token is a token found in the request, and where.
type token struct {
	value string
	// header names the header it came from; empty for a query parameter.
	header string
	where  string
}

// extract finds provider p's tokens: its from_headers (with their value
// prefix) and from_params, or, when it names no location, Envoy's
// defaults: the Authorization header with the Bearer scheme, then the
// access_token query parameter.
func (v *jwtVerifier) extract(p *jwtauthn.JwtProvider) []token {
	type headerLoc struct{ name, prefix string }
	headers := []headerLoc{}
	params := p.GetFromParams()
	for _, h := range p.GetFromHeaders() {
		headers = append(headers, headerLoc{h.GetName(), h.GetValuePrefix()})
	}
	if len(headers) == 0 && len(params) == 0 {
		headers = []headerLoc{{"Authorization", "Bearer "}}
		params = []string{"access_token"}
	}
	var out []token
	for _, h := range headers {
		value, ok := v.q.header(h.name)
		if !ok {
			continue
		}
		if h.prefix != "" {
			if len(value) < len(h.prefix) || !strings.EqualFold(value[:len(h.prefix)], h.prefix) {
				continue
			}
			value = value[len(h.prefix):]
		}
		if value = strings.TrimSpace(value); value != "" {
			out = append(out, token{value: value, header: h.name, where: "header " + h.name})
		}
	}
	query := v.q.r.URL.Query()
	for _, name := range params {
		if value := query.Get(name); value != "" {
			out = append(out, token{value: value, where: "param " + name})
		}
	}
	return out
}
