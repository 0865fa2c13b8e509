package istio

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// GatewayProxy is an ingress gateway's Envoy as istiod picks the
// AuthorizationPolicies it sends it (WorkloadPolicyMatcher in
// pilot/pkg/model/policyattachment.go, ListAuthorizationPolicies in
// pilot/pkg/model/authorization.go).
type GatewayProxy struct {
	// Namespace and Labels are the gateway pods'.
	Namespace string
	Labels    map[string]string
	// GatewayName is the Gateway API Gateway the pods were deployed for
	// (their gateway.networking.k8s.io/gateway-name label); empty for an
	// ingress gateway that serves Istio Gateways.
	GatewayName string
}

// AttachesToGateway reports whether istiod sends p to proxy's Envoy, in
// its HTTP filter chain. Policies of the root namespace and of the pods'
// namespace are considered. Without targetRefs a policy is picked by its
// selector: none, or one whose labels are all on the pods (an empty
// matchLabels then selects every pod, unlike ztunnel's); for a Gateway API
// gateway this is ENABLE_SELECTOR_BASED_K8S_GATEWAY_POLICY, on by default.
// With targetRefs, only a policy of the pods' namespace naming their
// Gateway attaches; other gateways ignore it. Dry-run policies are
// attached as shadow rules, which decide nothing, so they are left out.
func (p AuthorizationPolicy) AttachesToGateway(root string, proxy GatewayProxy) bool {
	if p.DryRun() {
		return false
	}
	return attachesToGateway(policyTarget{p.Namespace, p.Selector, p.TargetRef, p.TargetRefs}, root, proxy)
}

// policyTarget is what binds a policy to workloads or gateways: its
// namespace, selector and targetRefs. AuthorizationPolicies and
// RequestAuthentications are bound alike (ShouldAttachPolicy in
// pilot/pkg/model/policyattachment.go).
type policyTarget struct {
	namespace  string
	selector   *WorkloadSelector
	targetRef  *PolicyTargetReference
	targetRefs []PolicyTargetReference
}

// attachesToGateway reports whether istiod sends a policy bound by t to
// proxy's Envoy.
func attachesToGateway(t policyTarget, root string, proxy GatewayProxy) bool {
	if t.namespace != root && t.namespace != proxy.Namespace {
		return false
	}
	refs := t.targetRefs
	if len(refs) == 0 && t.targetRef != nil {
		refs = []PolicyTargetReference{*t.targetRef}
	}
	if len(refs) == 0 {
		if t.selector == nil {
			return true
		}
		return labels.SelectorFromSet(t.selector.MatchLabels).Matches(labels.Set(proxy.Labels))
	}
	if proxy.GatewayName == "" || t.namespace != proxy.Namespace {
		return false
	}
	for _, r := range refs {
		if r.Group == "gateway.networking.k8s.io" && r.Kind == "Gateway" && r.Name == proxy.GatewayName &&
			(r.Namespace == "" || r.Namespace == proxy.Namespace) {
			return true
		}
	}
	return false
}

// ClientRequest is a request from a client outside the mesh, as the
// gateway's Envoy sees it after terminating TLS: no peer principal, no
// namespace, no token.
type ClientRequest struct {
	Host   string // "" when any host may be asked for
	Port   int32  // the port the gateway listens on
	Method string
	Path   string
}

// GatewayDecision is what the gateway's RBAC filters decide for a request.
type GatewayDecision struct {
	// Admitted is Yes, No, or Undecided when it depends on what verify
	// cannot know (the client's address, its headers) or on an external
	// authorizer (CUSTOM).
	Admitted Match
	// Deny is the DENY policy that refuses the request, when one does.
	Deny *AuthorizationPolicy
	// Allows are the ALLOW policies attached; Allow the one that admits the
	// request, when one does.
	Allows []AuthorizationPolicy
	Allow  *AuthorizationPolicy
	// Custom are the CUSTOM policies attached: an external authorizer
	// decides requests they match. AsksCustom is whether one of them
	// matches the request.
	Custom     []AuthorizationPolicy
	AsksCustom Match
	// Applied are all the policies attached.
	Applied []AuthorizationPolicy
}

// EvaluateAtGateway decides, as the RBAC filters istiod builds for the
// gateway do (pilot/pkg/security/authz/builder), whether the gateway lets
// request r through: any matching DENY refuses; then, with ALLOW policies
// attached, only a request one of them matches passes; a policy without
// rules matches nothing. A matching CUSTOM policy leaves it to the external
// authorizer; AUDIT decides nothing.
func EvaluateAtGateway(policies []AuthorizationPolicy, root string, proxy GatewayProxy, r ClientRequest) GatewayDecision {
	d, custom, asked := evaluateAtEnvoy(policies,
		func(p AuthorizationPolicy) bool { return p.AttachesToGateway(root, proxy) },
		func(p AuthorizationPolicy) Match { return p.matchesRequest(r) })
	return GatewayDecision{Admitted: d.Admitted, Deny: d.Deny, Allows: d.Allows, Allow: d.Allow, Custom: custom, AsksCustom: asked, Applied: d.Applied}
}

// evaluateAtEnvoy decides as an Envoy's RBAC filters do (the gateway's, a
// waypoint's), over the policies attached to it: a matching DENY refuses;
// then, with ALLOW policies attached, only what one of them matches
// passes; a matching CUSTOM policy leaves it to the external authorizer
// (which may refuse what it is asked about); AUDIT decides nothing. It
// returns the CUSTOM policies attached too, and whether one matches.
func evaluateAtEnvoy(policies []AuthorizationPolicy, attached func(AuthorizationPolicy) bool, matches func(AuthorizationPolicy) Match) (Decision, []AuthorizationPolicy, Match) {
	d := Decision{}
	var customs []AuthorizationPolicy
	denied, custom := No, No
	for i := range policies {
		p := policies[i]
		if !attached(p) {
			continue
		}
		d.Applied = append(d.Applied, p)
		switch p.EffectiveAction() {
		case "ALLOW":
			d.Allows = append(d.Allows, p)
		case "DENY":
			if m := matches(p); m > denied {
				denied, d.Deny = m, &policies[i]
			}
		case "CUSTOM":
			customs = append(customs, p)
			custom = or(custom, matches(p))
		}
	}
	allowed := Yes
	if len(d.Allows) > 0 {
		allowed, d.Allow = bestMatch(d.Allows, matches)
	}
	d.Admitted = and(and(not(denied), allowed), not(and(custom, Undecided)))
	return d, customs, custom
}

// matchesRequest reports whether some rule of p matches r, as Envoy's RBAC
// filter matches the rule istiod generates from it
// (pilot/pkg/security/authz/model): from, to and when AND-ed, each an OR
// of its entries.
func (p AuthorizationPolicy) matchesRequest(r ClientRequest) Match {
	return p.rulesMatch(clientSourceMatches,
		func(o Operation) Match { return operationMatches(o, r) },
		func(c RuleCondition) Match { return conditionMatches(c, r) })
}

// rulesMatch is how Envoy's RBAC filter reads the rules istiod generates
// from p: some rule matches, and in a rule from, to and when are AND-ed,
// each an OR of its entries; a rule without any matches anyone. source,
// operation and condition match one entry for the caller at hand.
func (p AuthorizationPolicy) rulesMatch(source func(Source) Match, operation func(Operation) Match, condition func(RuleCondition) Match) Match {
	out := No
	for _, rule := range p.Rules {
		m := Yes
		if len(rule.From) > 0 {
			some := No
			for _, f := range rule.From {
				some = or(some, source(f.Source))
			}
			m = and(m, some)
		}
		if len(rule.To) > 0 {
			some := No
			for _, t := range rule.To {
				some = or(some, operation(t.Operation))
			}
			m = and(m, some)
		}
		for _, w := range rule.When {
			m = and(m, condition(w))
		}
		out = or(out, m)
	}
	return out
}

// clientSourceMatches matches a source against a client outside the mesh:
// it has no principal, namespace, service account or token, so a positive
// match on any of them fails and a negative one holds; its address as the
// gateway sees it is not known.
func clientSourceMatches(s Source) Match {
	absent := func(string) Match { return No }
	unknown := func(string) Match { return Undecided }
	out := Yes
	for _, f := range []Match{
		field(s.Principals, absent, false), field(s.NotPrincipals, absent, true),
		field(s.RequestPrincipals, absent, false), field(s.NotRequestPrincipals, absent, true),
		field(s.Namespaces, absent, false), field(s.NotNamespaces, absent, true),
		field(s.ServiceAccounts, absent, false), field(s.NotServiceAccounts, absent, true),
		field(addresses(s.IPBlocks), unknown, false), field(addresses(s.NotIPBlocks), unknown, true),
		field(addresses(s.RemoteIPBlocks), unknown, false), field(addresses(s.NotRemoteIPBlocks), unknown, true),
	} {
		out = and(out, f)
	}
	return out
}

// hostMatches is HostMatcher's reading of a hosts value against the
// :authority header: "*" is presence, "*x" a suffix, "x*" a prefix,
// anything else exact, all ignoring case. An unknown host ("") is
// undecided.
func hostMatches(pattern, host string) Match {
	if host == "" {
		return Undecided
	}
	return boolMatch(stringMatches(strings.ToLower(pattern), strings.ToLower(host)))
}

func operationMatches(op Operation, r ClientRequest) Match {
	host := func(v string) Match { return hostMatches(v, r.Host) }
	port := func(v string) Match { return boolMatch(v == strconv.Itoa(int(r.Port))) }
	method := func(v string) Match { return boolMatch(v == r.Method) }
	path := func(v string) Match { return boolMatch(stringMatches(v, r.Path)) }
	out := Yes
	for _, f := range []Match{
		field(op.Hosts, host, false), field(op.NotHosts, host, true),
		field(ports(op.Ports), port, false), field(ports(op.NotPorts), port, true),
		field(op.Methods, method, false), field(op.NotMethods, method, true),
		field(op.Paths, path, false), field(op.NotPaths, path, true),
	} {
		out = and(out, f)
	}
	return out
}

// conditionMatches judges a when condition for a client request. Keys on
// the peer's identity or a token are absent; the destination port and SNI
// are known; the client's address and headers are not.
func conditionMatches(c RuleCondition, r ClientRequest) Match {
	var value func(string) Match
	switch {
	case c.Key == "source.principal" || c.Key == "source.namespace" || strings.HasPrefix(c.Key, "request.auth."):
		value = func(string) Match { return No }
	case c.Key == "destination.port":
		value = func(v string) Match { return boolMatch(v == strconv.Itoa(int(r.Port))) }
	case c.Key == "connection.sni":
		value = func(v string) Match { return boolMatch(stringMatches(v, r.Host)) }
	default:
		value = func(string) Match { return Undecided }
	}
	return and(field(c.Values, value, false), field(c.NotValues, value, true))
}

// ConcernsRequest reports whether some rule of p is about what r asks for:
// its to operations match r, whoever sends it and whatever its when
// conditions. A rule without to concerns every request.
func (p AuthorizationPolicy) ConcernsRequest(r ClientRequest) Match {
	return p.rulesMatch(func(Source) Match { return Yes },
		func(o Operation) Match { return operationMatches(o, r) },
		func(RuleCondition) Match { return Yes })
}
