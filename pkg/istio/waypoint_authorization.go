package istio

import "strconv"

// AttachesToWaypoint reports whether istiod gives p to waypoint wp for
// traffic to Service svcNamespace/svcName (ShouldAttachPolicy in
// pilot/pkg/model/policyattachment.go): waypoints never use selectors, only
// targetRefs naming the Service (a policy of the Service's namespace), the
// waypoint's Gateway (a policy of the waypoint's namespace), or the
// waypoint GatewayClass (a policy of the root namespace). Dry-run policies
// decide nothing and are left out.
func (p AuthorizationPolicy) AttachesToWaypoint(root string, wp Waypoint, svcNamespace, svcName string) bool {
	if p.DryRun() {
		return false
	}
	refs := p.TargetRefs
	if len(refs) == 0 && p.TargetRef != nil {
		refs = []PolicyTargetReference{*p.TargetRef}
	}
	for _, r := range refs {
		core := r.Group == "" || r.Group == "core"
		switch {
		case core && r.Kind == "Service" && r.Name == svcName && p.Namespace == svcNamespace:
			return true
		case r.Group == "gateway.networking.k8s.io" && r.Kind == "GatewayClass" && r.Name == WaypointClass && p.Namespace == root:
			return true
		case r.Group == "gateway.networking.k8s.io" && r.Kind == "Gateway" && r.Name == wp.Name && p.Namespace == wp.Namespace &&
			(r.Namespace == "" || r.Namespace == wp.Namespace):
			return true
		}
	}
	return false
}

// EvaluateAtWaypoint decides, as the RBAC filters of waypoint wp do for a
// connection to Service svcNamespace/svcName, whether mesh caller c gets
// through: any matching DENY refuses; with ALLOW policies attached, only
// what one matches passes. The waypoint sees the caller's identity; what a
// request asks for (methods, paths, hosts, headers, tokens) is not known
// here, so rules on it are Undecided, as are ports when c.Port is 0. A
// CUSTOM policy leaves the answer to its authorizer.
func EvaluateAtWaypoint(policies []AuthorizationPolicy, root string, wp Waypoint, svcNamespace, svcName string, c Caller) Decision {
	d, _, _ := evaluateAtEnvoy(policies,
		func(p AuthorizationPolicy) bool { return p.AttachesToWaypoint(root, wp, svcNamespace, svcName) },
		func(p AuthorizationPolicy) Match { return p.MatchesAtWaypoint(c) })
	return d
}

// MatchesAtWaypoint is Envoy's RBAC reading of p's rules for mesh caller c:
// from, to and when AND-ed, each an OR of its entries; a rule without any
// matches anyone.
func (p AuthorizationPolicy) MatchesAtWaypoint(c Caller) Match {
	return p.rulesMatch(func(s Source) Match { return meshSourceMatches(s, p.Namespace, c) },
		func(o Operation) Match { return requestOperationMatches(o, c) },
		func(w RuleCondition) Match { return meshConditionMatches(w, c) })
}

// meshSourceMatches matches a source against mesh caller c: its principal,
// namespace and service account are known, a request token and its
// address are not.
func meshSourceMatches(s Source, policyNamespace string, c Caller) Match {
	principal := func(v string) Match { return boolMatch(stringMatches(v, c.Principal)) }
	namespace := func(v string) Match { return boolMatch(stringMatches(v, c.Namespace)) }
	account := func(v string) Match { return boolMatch(v == c.Namespace+"/"+c.ServiceAccount) }
	unknown := func(string) Match { return Undecided }
	out := Yes
	for _, f := range []Match{
		field(s.Principals, principal, false), field(s.NotPrincipals, principal, true),
		field(s.Namespaces, namespace, false), field(s.NotNamespaces, namespace, true),
		field(qualify(s.ServiceAccounts, policyNamespace), account, false), field(qualify(s.NotServiceAccounts, policyNamespace), account, true),
		field(s.RequestPrincipals, unknown, false), field(s.NotRequestPrincipals, unknown, true),
		field(addresses(s.IPBlocks), unknown, false), field(addresses(s.NotIPBlocks), unknown, true),
		field(addresses(s.RemoteIPBlocks), unknown, false), field(addresses(s.NotRemoteIPBlocks), unknown, true),
	} {
		out = and(out, f)
	}
	return out
}

// requestOperationMatches matches an operation when only the port may be
// known.
func requestOperationMatches(op Operation, c Caller) Match {
	port := func(v string) Match {
		if c.Port == 0 {
			return Undecided
		}
		return boolMatch(v == strconv.Itoa(int(c.Port)))
	}
	unknown := func(string) Match { return Undecided }
	out := Yes
	for _, f := range []Match{
		field(ports(op.Ports), port, false), field(ports(op.NotPorts), port, true),
		field(op.Hosts, unknown, false), field(op.NotHosts, unknown, true),
		field(op.Methods, unknown, false), field(op.NotMethods, unknown, true),
		field(op.Paths, unknown, false), field(op.NotPaths, unknown, true),
	} {
		out = and(out, f)
	}
	return out
}

// meshConditionMatches judges a when condition for mesh caller c.
func meshConditionMatches(w RuleCondition, c Caller) Match {
	var value func(string) Match
	switch {
	case w.Key == "source.principal":
		value = func(v string) Match { return boolMatch(stringMatches(v, c.Principal)) }
	case w.Key == "source.namespace":
		value = func(v string) Match { return boolMatch(stringMatches(v, c.Namespace)) }
	case w.Key == "destination.port" && c.Port != 0:
		value = func(v string) Match { return boolMatch(v == strconv.Itoa(int(c.Port))) }
	default: // request attributes, tokens, addresses
		value = func(string) Match { return Undecided }
	}
	return and(field(w.Values, value, false), field(w.NotValues, value, true))
}
