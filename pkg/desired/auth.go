package desired

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// The modes of secure --auth.
const (
	// AuthJWT: a RequestAuthentication and a DENY AuthorizationPolicy on
	// the ingress gateway: requests for the application's hosts need a
	// valid JWT of the issuer.
	AuthJWT = "jwt"
	// AuthExtAuthz: a CUSTOM AuthorizationPolicy on the ingress gateway
	// that asks an extension provider of the mesh config about every
	// request for the application's hosts.
	AuthExtAuthz = "ext-authz"
	// AuthNone removes what secure --auth made.
	AuthNone = "none"
)

// AuthSettings are what the user asked secure --auth for. They are
// recorded on the AuthorizationPolicy (ownership.AuthAnnotation) and read
// back on a later run, which validates them as it validates the flags.
type AuthSettings struct {
	Mode string `json:"mode"`
	// Issuer, JWKSURI, Audiences and Claims are --auth jwt's: Claims as
	// key=value, each required of the token.
	Issuer    string   `json:"issuer,omitempty"`
	JWKSURI   string   `json:"jwksUri,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
	Claims    []string `json:"claims,omitempty"`
	// Provider is --auth ext-authz's: an extensionProviders entry of the
	// mesh config.
	Provider string `json:"provider,omitempty"`
}

// Auth is what secure --auth applies on the ingress gateway.
type Auth struct {
	Settings AuthSettings
	// PolicyVersion and RequestAuthnVersion are the security.istio.io
	// versions serving AuthorizationPolicy and RequestAuthentication.
	PolicyVersion       string
	RequestAuthnVersion string
	// Namespace is where the policies go: the gateway pods' namespace in
	// the classic mode, where Selector selects the gateway pods; the
	// application namespace with the Gateway API, where they name secure's
	// Gateway (targetRefs) and Selector is empty.
	Namespace string
	Selector  map[string]string
}

// Claim is one claim --require-claim requires of a token.
type Claim struct{ Key, Value string }

// claimKey is what a claim's name may hold: Istio reads
// request.auth.claims[KEY], so no brackets; nested claims are not taken.
var claimKey = regexp.MustCompile(`^[A-Za-z0-9_.:/-]+$`)

// ParseClaim reads key=value as --require-claim gives it.
func ParseClaim(s string) (Claim, error) {
	k, v, ok := strings.Cut(s, "=")
	switch {
	case !ok:
		return Claim{}, fmt.Errorf("%q: give it as key=value, e.g. groups=opea-users", s)
	case !claimKey.MatchString(k):
		return Claim{}, fmt.Errorf("%q: the claim's name must be letters, digits and . _ : / - (no brackets, no spaces)", s)
	case v == "" || strings.TrimSpace(v) != v:
		return Claim{}, fmt.Errorf("%q: the value must be non-empty, without leading or trailing spaces", s)
	case strings.Contains(v, "*"):
		// Istio reads a * in a value as a prefix or suffix match.
		return Claim{}, fmt.Errorf("%q: the value must not contain *, which Istio reads as a wildcard", s)
	}
	return Claim{Key: k, Value: v}, nil
}

// ParsedClaims are s.Claims parsed; Validate has accepted them.
func (s AuthSettings) ParsedClaims() []Claim {
	var out []Claim
	for _, c := range s.Claims {
		if claim, err := ParseClaim(c); err == nil {
			out = append(out, claim)
		}
	}
	return out
}

// Validate says everything wrong with s, as the flags would name it.
func (s AuthSettings) Validate() []string {
	var errs []string
	switch s.Mode {
	case AuthJWT:
		if s.Provider != "" {
			errs = append(errs, "--auth-provider is for --auth ext-authz, not --auth jwt")
		}
		errs = append(errs, urlProblems("--jwt-issuer", s.Issuer)...)
		errs = append(errs, urlProblems("--jwks-uri", s.JWKSURI)...)
		for _, a := range s.Audiences {
			if a == "" || strings.TrimSpace(a) != a || strings.Contains(a, ",") {
				errs = append(errs, fmt.Sprintf("invalid --audience %q: give a non-empty value without spaces around it or commas", a))
			}
		}
		for _, c := range s.Claims {
			if _, err := ParseClaim(c); err != nil {
				errs = append(errs, "invalid --require-claim "+err.Error())
			}
		}
	case AuthExtAuthz:
		if s.Issuer != "" || s.JWKSURI != "" || len(s.Audiences) > 0 || len(s.Claims) > 0 {
			errs = append(errs, "--jwt-issuer, --jwks-uri, --audience and --require-claim are for --auth jwt, not --auth ext-authz")
		}
		if s.Provider == "" {
			errs = append(errs, "--auth ext-authz needs --auth-provider NAME: the name of an extensionProviders entry of Istio's mesh config (e.g. oauth2-proxy)")
		} else if !providerName.MatchString(s.Provider) {
			errs = append(errs, fmt.Sprintf("invalid --auth-provider %q: give the name of an extensionProviders entry of Istio's mesh config", s.Provider))
		}
	default:
		errs = append(errs, fmt.Sprintf("invalid --auth %q: use jwt, ext-authz or none", s.Mode))
	}
	return errs
}

var providerName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// urlProblems checks that v (the value of flag) is an absolute https URL
// with a host: istiod fetches the JWKS itself and trusts the keys it gets,
// so a plain-HTTP answer could be forged on the way. Plain http is taken
// only for a loopback host (localhost, 127.0.0.0/8, ::1), for tests and a
// local IdP. The issuer is compared with the token's iss claim as a
// string; it is held to the same form, which IdPs such as Keycloak use.
func urlProblems(flag, v string) []string {
	if v == "" {
		return []string{fmt.Sprintf("--auth jwt needs %s URL", flag)}
	}
	if p := istio.URLProblem(v); p != "" {
		return []string{fmt.Sprintf("invalid %s %q: %s", flag, v, p)}
	}
	return nil
}

// Record is s as recorded on the AuthorizationPolicy.
func (s AuthSettings) Record() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ParseAuthRecord reads a record Record wrote, refusing what it does not
// know and settings the flags would refuse.
func ParseAuthRecord(record string) (AuthSettings, error) {
	var s AuthSettings
	dec := json.NewDecoder(bytes.NewReader([]byte(record)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return AuthSettings{}, fmt.Errorf("not the JSON secure records: %v", err)
	}
	if dec.More() {
		return AuthSettings{}, errors.New("not the JSON secure records: more than one value")
	}
	if s.Mode == AuthNone {
		return AuthSettings{}, errors.New("mode none is never recorded")
	}
	if errs := s.Validate(); len(errs) > 0 {
		return AuthSettings{}, errors.New(strings.Join(errs, "; "))
	}
	return s, nil
}

// AuthHosts are the Host header values a client sends for hosts, as the
// AuthorizationPolicy matches them: each host, and the host with any port
// (host:*), which Envoy's routes accept as well.
func AuthHosts(hosts []string) []string {
	var out []string
	for _, h := range hosts {
		out = append(out, h, h+":*")
	}
	return out
}

// AuthHostsProblem refuses wildcard hosts for --auth: an
// AuthorizationPolicy matches a host as an exact name, a prefix or a
// suffix, so "*.example.com with any port" cannot be written, and a client
// sending Host: a.example.com:8443 would pass a policy that names only
// *.example.com.
func AuthHostsProblem(hosts []string) error {
	for _, h := range hosts {
		if strings.HasPrefix(h, "*") {
			return fmt.Errorf("--auth cannot protect the wildcard host %s: an AuthorizationPolicy cannot match every name of it with every port a client may put in the Host header; pass concrete --host names", h)
		}
	}
	return nil
}
