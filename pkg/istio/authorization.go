package istio

import (
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
)

// AuthorizationPolicy is a security.istio.io AuthorizationPolicy, with the
// status conditions istiod writes on it.
type AuthorizationPolicy struct {
	Namespace   string            `json:"-"`
	Name        string            `json:"-"`
	Labels      map[string]string `json:"-"`
	Annotations map[string]string `json:"-"`
	Generation  int64             `json:"-"`
	Conditions  []Condition       `json:"-"`

	Selector *WorkloadSelector `json:"selector,omitempty"`
	// TargetRef and TargetRefs bind the policy to waypoints or gateways:
	// istiod then sends it to no ztunnel.
	TargetRef  *PolicyTargetReference  `json:"targetRef,omitempty"`
	TargetRefs []PolicyTargetReference `json:"targetRefs,omitempty"`
	// Action is ALLOW (also when empty), DENY, AUDIT or CUSTOM.
	Action string              `json:"action,omitempty"`
	Rules  []AuthorizationRule `json:"rules,omitempty"`
	// Provider is a CUSTOM policy's extension provider.
	Provider *ExtensionProviderRef `json:"provider,omitempty"`
}

// ExtensionProviderRef names an extensionProviders entry of the mesh
// config.
type ExtensionProviderRef struct {
	Name string `json:"name,omitempty"`
}

// PolicyTargetReference names the object a policy is bound to.
type PolicyTargetReference struct {
	Group     string `json:"group,omitempty"`
	Kind      string `json:"kind,omitempty"`
	Name      string `json:"name,omitempty"`
	Namespace string `json:"namespace,omitempty"`
}

// AuthorizationRule is one rule: its from, to and when all must match.
type AuthorizationRule struct {
	From []RuleFrom      `json:"from,omitempty"`
	To   []RuleTo        `json:"to,omitempty"`
	When []RuleCondition `json:"when,omitempty"`
}

// RuleFrom is one source of a rule.
type RuleFrom struct {
	Source Source `json:"source"`
}

// Source is who connects.
type Source struct {
	Principals           []string `json:"principals,omitempty"`
	NotPrincipals        []string `json:"notPrincipals,omitempty"`
	RequestPrincipals    []string `json:"requestPrincipals,omitempty"`
	NotRequestPrincipals []string `json:"notRequestPrincipals,omitempty"`
	Namespaces           []string `json:"namespaces,omitempty"`
	NotNamespaces        []string `json:"notNamespaces,omitempty"`
	ServiceAccounts      []string `json:"serviceAccounts,omitempty"`
	NotServiceAccounts   []string `json:"notServiceAccounts,omitempty"`
	IPBlocks             []string `json:"ipBlocks,omitempty"`
	NotIPBlocks          []string `json:"notIpBlocks,omitempty"`
	RemoteIPBlocks       []string `json:"remoteIpBlocks,omitempty"`
	NotRemoteIPBlocks    []string `json:"notRemoteIpBlocks,omitempty"`
}

// RuleTo is one operation of a rule.
type RuleTo struct {
	Operation Operation `json:"operation"`
}

// Operation is what is asked for.
type Operation struct {
	Hosts      []string `json:"hosts,omitempty"`
	NotHosts   []string `json:"notHosts,omitempty"`
	Ports      []string `json:"ports,omitempty"`
	NotPorts   []string `json:"notPorts,omitempty"`
	Methods    []string `json:"methods,omitempty"`
	NotMethods []string `json:"notMethods,omitempty"`
	Paths      []string `json:"paths,omitempty"`
	NotPaths   []string `json:"notPaths,omitempty"`
}

// RuleCondition is one when condition of a rule.
type RuleCondition struct {
	Key       string   `json:"key"`
	Values    []string `json:"values,omitempty"`
	NotValues []string `json:"notValues,omitempty"`
}

// Condition is a status condition istiod writes on a policy.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
}

// DryRunAnnotation marks a policy that is only logged, never enforced.
const DryRunAnnotation = "istio.io/dry-run"

// ZtunnelAccepted is the condition istiod writes on every policy it
// converts for ztunnel (WorkloadAuthorization.GetConditions in
// pilot/pkg/model/service.go): True with reason Accepted ("attached to
// ztunnel") when nothing was lost; True with reason UnsupportedValue when
// HTTP attributes were left out; False with UnsupportedValue when ztunnel
// does not enforce the policy at all (an AUDIT or CUSTOM action, or dry run).
const ZtunnelAccepted = "ZtunnelAccepted"

// DecodeAuthorizationPolicy reads an AuthorizationPolicy as the API
// returns it, with its status conditions.
func DecodeAuthorizationPolicy(u *unstructured.Unstructured) (AuthorizationPolicy, error) {
	var p AuthorizationPolicy
	if err := decodeSpec(u, &p); err != nil {
		return p, err
	}
	p.Namespace, p.Name, p.Labels, p.Annotations, p.Generation = u.GetNamespace(), u.GetName(), u.GetLabels(), u.GetAnnotations(), u.GetGeneration()
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]interface{})
		if !ok {
			continue
		}
		cond := Condition{}
		cond.Type, _, _ = unstructured.NestedString(m, "type")
		cond.Status, _, _ = unstructured.NestedString(m, "status")
		cond.Reason, _, _ = unstructured.NestedString(m, "reason")
		cond.Message, _, _ = unstructured.NestedString(m, "message")
		cond.ObservedGeneration = observedGeneration(m["observedGeneration"])
		p.Conditions = append(p.Conditions, cond)
	}
	return p, nil
}

// observedGeneration reads a condition's observedGeneration. Istio's CRDs
// declare it int-or-string, and istiod writes a string ("1").
func observedGeneration(v interface{}) int64 {
	switch g := v.(type) {
	case int64:
		return g
	case float64:
		return int64(g)
	case string:
		n, _ := strconv.ParseInt(g, 10, 64)
		return n
	}
	return 0
}

// Condition returns the condition of type t, nil when istiod wrote none.
func (p AuthorizationPolicy) Condition(t string) *Condition {
	for i := range p.Conditions {
		if p.Conditions[i].Type == t {
			return &p.Conditions[i]
		}
	}
	return nil
}

// EffectiveAction is the policy's action, ALLOW when unset.
func (p AuthorizationPolicy) EffectiveAction() string {
	if p.Action == "" {
		return "ALLOW"
	}
	return p.Action
}

// Targeted reports whether the policy names targetRefs: istiod sends such a
// policy to the waypoints or gateways named, never to ztunnel
// (convertAuthorizationPolicy returns nothing for it).
func (p AuthorizationPolicy) Targeted() bool {
	return p.TargetRef != nil || len(p.TargetRefs) > 0
}

// DryRun reports whether the policy is marked dry run. ztunnel enforces no
// dry-run policy: istiod either does not send it or sends it as dry run.
func (p AuthorizationPolicy) DryRun() bool {
	on, _ := strconv.ParseBool(p.Annotations[DryRunAnnotation])
	return on
}

// ForZtunnel reports whether ztunnel enforces p at all: neither bound by
// targetRefs, nor dry run, and an ALLOW or DENY (istiod refuses other
// actions for ztunnel: "ztunnel does not support the CUSTOM action").
func (p AuthorizationPolicy) ForZtunnel() bool {
	a := p.EffectiveAction()
	return !p.Targeted() && !p.DryRun() && (a == "ALLOW" || a == "DENY")
}

// AppliesTo reports whether ztunnel applies p to a workload with these
// labels in namespace, under root namespace root. As istiod builds it: a
// policy without selector applies to its namespace, and in the root
// namespace to the whole mesh; a selector policy of the workload's
// namespace or the root namespace applies where its matchLabels match
// (buildWorkloadPolicies in pilot/pkg/serviceregistry/ambient/workloads.go).
// istiod tells a selector's matchLabels apart by being set at all: "selector:
// {}" (no matchLabels) makes the policy a workload-selector policy that
// selects nothing (it is neither namespace-wide nor has labels to match),
// while "selector: {matchLabels: {}}" selects every workload of the
// namespace, as an empty set of labels is a subset of any.
func (p AuthorizationPolicy) AppliesTo(root, namespace string, podLabels map[string]string) bool {
	if !p.ForZtunnel() || (p.Namespace != namespace && p.Namespace != root) {
		return false
	}
	if p.Selector == nil {
		return true
	}
	return p.Selector.MatchLabels != nil && labels.SelectorFromSet(p.Selector.MatchLabels).Matches(labels.Set(podLabels))
}

// l4WhenKeys are the when keys ztunnel can judge (l4WhenAttributes in
// pilot/pkg/serviceregistry/ambient/authorization.go); any other is HTTP.
var l4WhenKeys = map[string]bool{"source.ip": true, "source.namespace": true, "source.principal": true, "destination.ip": true, "destination.port": true}

// HTTPFields are the fields of r that only an HTTP proxy can judge, named
// as istiod names them in its ZtunnelAccepted message (httpOperations,
// httpSources and the when keys outside l4WhenAttributes).
func (r AuthorizationRule) HTTPFields() []string {
	set := map[string]bool{}
	for _, to := range r.To {
		for _, f := range to.Operation.httpFields() {
			set[f] = true
		}
	}
	for _, from := range r.From {
		for _, f := range from.Source.httpFields() {
			set[f] = true
		}
	}
	for _, w := range r.When {
		if !l4WhenKeys[w.Key] {
			set[w.Key] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// namedField is a field of a policy, by the name istiod gives it.
type namedField struct {
	name   string
	values []string
}

// namedFields names the fields that have values, in the order given.
func namedFields(fields ...namedField) []string {
	var out []string
	for _, f := range fields {
		if len(f.values) > 0 {
			out = append(out, f.name)
		}
	}
	return out
}

// httpFields are the fields of op istiod's httpOperations reports.
func (op Operation) httpFields() []string {
	return namedFields(namedField{"hosts", op.Hosts}, namedField{"notHosts", op.NotHosts}, namedField{"methods", op.Methods},
		namedField{"notMethods", op.NotMethods}, namedField{"paths", op.Paths}, namedField{"notPaths", op.NotPaths})
}

// httpFields are the fields of s istiod's httpSources reports.
func (s Source) httpFields() []string {
	return namedFields(namedField{"remoteIpBlocks", s.RemoteIPBlocks}, namedField{"notRemoteIpBlocks", s.NotRemoteIPBlocks},
		namedField{"requestPrincipals", s.RequestPrincipals}, namedField{"notRequestPrincipals", s.NotRequestPrincipals})
}

// HTTPFields are the HTTP fields of all p's rules, sorted, once each.
func (p AuthorizationPolicy) HTTPFields() []string {
	set := map[string]bool{}
	for _, r := range p.Rules {
		for _, f := range r.HTTPFields() {
			set[f] = true
		}
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// Caller is a connection ztunnel authorizes at the destination workload.
type Caller struct {
	// Principal is "<trust domain>/ns/<namespace>/sa/<service account>".
	Principal      string
	Namespace      string
	ServiceAccount string
	// Port is the workload's port the connection is for; 0 when unknown
	// (a named targetPort): conditions on ports are then undecided.
	Port int32
}

// Match is a three-valued outcome: conditions on what is not known (the
// caller's IP address, an unknown port) are Undecided.
type Match int

const (
	No Match = iota
	Undecided
	Yes
)

func and(a, b Match) Match { return min(a, b) }
func or(a, b Match) Match  { return max(a, b) }
func not(a Match) Match    { return Yes - a }

func boolMatch(b bool) Match {
	if b {
		return Yes
	}
	return No
}

// stringMatches is stringToMatch's reading of a value: "*" is presence,
// "*x" a suffix, "x*" a prefix, anything else exact.
func stringMatches(pattern, s string) bool {
	switch {
	case pattern == "*":
		return s != ""
	case strings.HasPrefix(pattern, "*"):
		return strings.HasSuffix(s, pattern[1:])
	case strings.HasSuffix(pattern, "*"):
		return strings.HasPrefix(s, pattern[:len(pattern)-1])
	}
	return s == pattern
}

// field is one field of a match: empty holds for anyone; otherwise some
// value must match (or, negated, none may).
func field(values []string, matches func(string) Match, negated bool) Match {
	if len(values) == 0 {
		return Yes
	}
	m := No
	for _, v := range values {
		m = or(m, matches(v))
	}
	if negated {
		return not(m)
	}
	return m
}

// ports keeps the values stringToPort keeps: numbers up to 65535.
func ports(values []string) []string {
	var out []string
	for _, v := range values {
		if p, err := strconv.ParseUint(v, 10, 32); err == nil && p <= 65535 {
			out = append(out, v)
		}
	}
	return out
}

// addresses keeps the values stringToIP keeps: IPs and CIDRs that parse.
func addresses(values []string) []string {
	var out []string
	for _, v := range values {
		if _, err := netip.ParsePrefix(v); err == nil {
			out = append(out, v)
		} else if _, err := netip.ParseAddr(v); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// l4 is one match istiod sends ztunnel (security.Match): every field set
// must hold.
type l4 struct {
	principals, notPrincipals, namespaces, notNamespaces []string
	serviceAccounts, notServiceAccounts                  []string // "ns/sa"
	ports, notPorts                                      []string
	ips, notIPs, destIPs, notDestIPs                     []string
}

func (m l4) matches(c Caller) Match {
	principal := func(v string) Match { return boolMatch(stringMatches(v, c.Principal)) }
	namespace := func(v string) Match { return boolMatch(stringMatches(v, c.Namespace)) }
	account := func(v string) Match { return boolMatch(v == c.Namespace+"/"+c.ServiceAccount) }
	port := func(v string) Match {
		if c.Port == 0 {
			return Undecided
		}
		return boolMatch(v == strconv.Itoa(int(c.Port)))
	}
	unknown := func(string) Match { return Undecided }
	out := Yes
	for _, f := range []Match{
		field(m.principals, principal, false), field(m.notPrincipals, principal, true),
		field(m.namespaces, namespace, false), field(m.notNamespaces, namespace, true),
		field(m.serviceAccounts, account, false), field(m.notServiceAccounts, account, true),
		field(ports(m.ports), port, false), field(ports(m.notPorts), port, true),
		field(addresses(m.ips), unknown, false), field(addresses(m.notIPs), unknown, true),
		field(addresses(m.destIPs), unknown, false), field(addresses(m.notDestIPs), unknown, true),
	} {
		out = and(out, f)
	}
	return out
}

// qualify is stringToServiceAccountMatch: a bare name is of the policy's
// namespace.
func qualify(accounts []string, ns string) []string {
	out := make([]string, 0, len(accounts))
	for _, a := range accounts {
		if !strings.Contains(a, "/") {
			a = ns + "/" + a
		}
		out = append(out, a)
	}
	return out
}

// l4 is the match istiod makes of op: its ports only.
func (op Operation) l4() l4 {
	return l4{ports: op.Ports, notPorts: op.NotPorts}
}

// l4 is the match istiod makes of s in a policy of namespace ns: its
// addresses, namespaces, service accounts and principals only.
func (s Source) l4(ns string) l4 {
	return l4{
		ips: s.IPBlocks, notIPs: s.NotIPBlocks,
		namespaces: s.Namespaces, notNamespaces: s.NotNamespaces,
		serviceAccounts: qualify(s.ServiceAccounts, ns), notServiceAccounts: qualify(s.NotServiceAccounts, ns),
		principals: s.Principals, notPrincipals: s.NotPrincipals,
	}
}

// ztunnelRule is a rule as handleRule (pilot/pkg/serviceregistry/ambient/
// authorization.go) converts it: clauses AND-ed, each an OR of matches.
// ok is false when istiod drops the rule: an ALLOW rule with any HTTP
// field never matches ("L7 policies never match for ALLOW"). A DENY rule
// keeps only its L4 fields: an operation, a source or a when condition
// with only HTTP fields becomes a match with no field set, which ztunnel
// skips (see MatchesAtZtunnel).
func ztunnelRule(action, ns string, r AuthorizationRule) (clauses [][]l4, ok bool) {
	if action == "ALLOW" && len(r.HTTPFields()) > 0 {
		return nil, false
	}
	if len(r.To) > 0 {
		var to []l4
		for _, t := range r.To {
			to = append(to, t.Operation.l4())
		}
		clauses = append(clauses, to)
	}
	if len(r.From) > 0 {
		var from []l4
		for _, f := range r.From {
			from = append(from, f.Source.l4(ns))
		}
		clauses = append(clauses, from)
	}
	for _, w := range r.When {
		m := l4{}
		switch w.Key {
		case "source.namespace":
			m.namespaces, m.notNamespaces = w.Values, w.NotValues
		case "source.principal":
			m.principals, m.notPrincipals = w.Values, w.NotValues
		case "source.ip":
			m.ips, m.notIPs = w.Values, w.NotValues
		case "destination.port":
			m.ports, m.notPorts = w.Values, w.NotValues
		case "destination.ip":
			m.destIPs, m.notDestIPs = w.Values, w.NotValues
		}
		clauses = append(clauses, []l4{m})
	}
	return clauses, true
}

// Decision is what ztunnel decides for a caller.
type Decision struct {
	// Admitted is Yes, No, or Undecided when it depends on what is not
	// known (the caller's IP address, a port).
	Admitted Match
	// Deny is the DENY policy that refuses the caller, when one does.
	Deny *AuthorizationPolicy
	// Allows are the ALLOW policies that apply; Allow the one that admits
	// the caller, when one does.
	Allows []AuthorizationPolicy
	Allow  *AuthorizationPolicy
	// Applied are all the policies that apply.
	Applied []AuthorizationPolicy
}

// bestMatch is the most certain match among policies, and the policy that
// makes it; No and nil when none matches.
func bestMatch(policies []AuthorizationPolicy, matches func(AuthorizationPolicy) Match) (Match, *AuthorizationPolicy) {
	best, by := No, (*AuthorizationPolicy)(nil)
	for i := range policies {
		if m := matches(policies[i]); m > best {
			best, by = m, &policies[i]
		}
	}
	return best, by
}
