package istio

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// RequestAuthentications is the resource of Istio's RequestAuthentication
// in version.
func RequestAuthentications(version string) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: SecurityGroup, Version: version, Resource: "requestauthentications"}
}

// RequestAuthentication is a security.istio.io RequestAuthentication: the
// tokens a proxy validates. It refuses only invalid tokens; a request
// without one passes it, and only an AuthorizationPolicy on the request
// principal turns that away.
type RequestAuthentication struct {
	Namespace string            `json:"-"`
	Name      string            `json:"-"`
	Labels    map[string]string `json:"-"`

	Selector   *WorkloadSelector       `json:"selector,omitempty"`
	TargetRef  *PolicyTargetReference  `json:"targetRef,omitempty"`
	TargetRefs []PolicyTargetReference `json:"targetRefs,omitempty"`
	JWTRules   []JWTRule               `json:"jwtRules,omitempty"`
}

// JWTRule is one issuer whose tokens a RequestAuthentication validates.
type JWTRule struct {
	Issuer    string   `json:"issuer,omitempty"`
	Audiences []string `json:"audiences,omitempty"`
	// JWKSURI is where istiod fetches the issuer's keys; empty: from the
	// issuer's OpenID discovery document. JWKS is the keys inline.
	JWKSURI string `json:"jwksUri,omitempty"`
	JWKS    string `json:"jwks,omitempty"`
}

// DecodeRequestAuthentication reads a RequestAuthentication as the API
// returns it.
func DecodeRequestAuthentication(u *unstructured.Unstructured) (RequestAuthentication, error) {
	var ra RequestAuthentication
	err := decodeSpec(u, &ra)
	ra.Namespace, ra.Name, ra.Labels = u.GetNamespace(), u.GetName(), u.GetLabels()
	return ra, err
}

// AttachesToGateway reports whether istiod sends ra to proxy's Envoy, by
// the rules that bind AuthorizationPolicies (GetJwtPoliciesForWorkload in
// pilot/pkg/model/authentication.go uses the same matcher).
func (ra RequestAuthentication) AttachesToGateway(root string, proxy GatewayProxy) bool {
	return attachesToGateway(policyTarget{ra.Namespace, ra.Selector, ra.TargetRef, ra.TargetRefs}, root, proxy)
}

// Targeted reports whether r names targetRefs: istiod then attaches it
// only to the gateways, waypoints or Services named.
func (r RequestAuthentication) Targeted() bool {
	return r.TargetRef != nil || len(r.TargetRefs) > 0
}

// Selects reports whether r, without targetRefs, selects a workload with
// podLabels in namespace under root namespace root, as istiod selects for
// sidecars and classic gateways (WorkloadPolicyMatcher.ShouldAttachPolicy):
// a policy of the workload's namespace or of the root namespace, without
// selector or with matchLabels that are a subset of the pod's.
func (r RequestAuthentication) Selects(root, namespace string, podLabels map[string]string) bool {
	if r.Targeted() || (r.Namespace != namespace && r.Namespace != root) {
		return false
	}
	return r.Selector == nil || labels.SelectorFromSet(r.Selector.MatchLabels).Matches(labels.Set(podLabels))
}

// KeysURL is where istiod gets the rule's keys: its jwksUri, else the
// issuer's OpenID discovery document, which names it; "" for inline keys.
func (r JWTRule) KeysURL() string {
	switch {
	case r.JWKS != "":
		return ""
	case r.JWKSURI != "":
		return r.JWKSURI
	}
	return strings.TrimSuffix(r.Issuer, "/") + "/.well-known/openid-configuration"
}

// URLProblem says what keeps v from being a URL a token issuer or its
// JWKS should have: absolute https with a host, no user info, fragment or
// spaces. istiod trusts the keys it fetches, so a plain-HTTP answer could
// be forged on the way: http is taken only for a loopback host. "" when
// there is none.
func URLProblem(v string) string {
	u, err := url.Parse(v)
	switch {
	case v == "":
		return "it is empty"
	case err != nil:
		return err.Error()
	case u.Host == "" || u.Hostname() == "":
		return "give an absolute URL, https://host/path"
	case u.User != nil || u.Fragment != "" || strings.ContainsAny(v, " \t\n"):
		return "no user info, fragment or spaces"
	case u.Scheme == "https":
		return ""
	case u.Scheme == "http" && Loopback(u.Hostname()):
		return ""
	}
	return "must be an https URL (plain http only for a loopback host)"
}

// Loopback reports whether host names this machine: localhost,
// 127.0.0.0/8 or ::1.
func Loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RequiresCredentials reports whether p decides by the caller's
// credentials at a gateway rather than by where a request goes: a CUSTOM
// policy (an external authorizer judges each request it matches), or a
// DENY or ALLOW every rule of which names request principals or token
// claims (request.auth.*). A client with a valid token, or whom the
// authorizer admits, meets them; verify's Authentication checks judge
// them, the Authorization checks the rest.
func (p AuthorizationPolicy) RequiresCredentials() bool {
	if p.EffectiveAction() == "CUSTOM" {
		return true
	}
	if len(p.Rules) == 0 || (p.EffectiveAction() != "DENY" && p.EffectiveAction() != "ALLOW") {
		return false
	}
	for _, r := range p.Rules {
		if !r.namesToken() {
			return false
		}
	}
	return true
}

// NamesToken reports whether some rule of p names request principals or
// token claims: such a rule never matches, or always does, without a
// RequestAuthentication that validates the token first.
func (p AuthorizationPolicy) NamesToken() bool {
	for _, r := range p.Rules {
		if r.namesToken() {
			return true
		}
	}
	return false
}

func (r AuthorizationRule) namesToken() bool {
	for _, f := range r.From {
		if len(f.Source.RequestPrincipals) > 0 || len(f.Source.NotRequestPrincipals) > 0 {
			return true
		}
	}
	for _, w := range r.When {
		if strings.HasPrefix(w.Key, "request.auth.") {
			return true
		}
	}
	return false
}

// ExtensionProviderNames are the names of the extensionProviders of the
// mesh config YAML (the mesh config ConfigMap's "mesh" key), in their
// order: what a CUSTOM AuthorizationPolicy's provider.name may name.
func ExtensionProviderNames(meshConfigYAML string) ([]string, error) {
	var mesh struct {
		ExtensionProviders []struct {
			Name string `json:"name"`
		} `json:"extensionProviders"`
	}
	if err := yaml.Unmarshal([]byte(meshConfigYAML), &mesh); err != nil {
		return nil, fmt.Errorf("the mesh config is not valid YAML: %w", err)
	}
	var names []string
	for _, p := range mesh.ExtensionProviders {
		names = append(names, p.Name)
	}
	return names, nil
}
