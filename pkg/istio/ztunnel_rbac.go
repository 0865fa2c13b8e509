package istio

// ztunnel's reading of the rules istiod sends it (Authorization::matches in
// ztunnel's src/rbac.rs): a policy without rules matches nothing; a rule
// matches when all its clauses do; a clause when one of its matches does,
// a match with no field set being skipped (ztunnel's test
// rbac_empty_policy), so that a clause made only of such matches holds for
// nobody; a clause without any match, and a rule without any clause, hold
// for everyone. istiod leaves a match empty where a DENY rule's operation,
// source or when condition has only HTTP attributes (handleRule keeps only
// ports, principals, namespaces, service accounts and addresses): a DENY
// rule `to: [{operation: {paths: [...]}}]` therefore denies nobody at
// ztunnel, not everyone, whatever istiod's ZtunnelAccepted message says
// ("more restrictive than requested").

// empty reports whether istiod would send m with no field set, after
// dropping the values it cannot convert (ports out of range, addresses
// that do not parse).
func (m l4) empty() bool {
	n := len(m.principals) + len(m.notPrincipals) + len(m.namespaces) + len(m.notNamespaces) +
		len(m.serviceAccounts) + len(m.notServiceAccounts) +
		len(ports(m.ports)) + len(ports(m.notPorts)) +
		len(addresses(m.ips)) + len(addresses(m.notIPs)) + len(addresses(m.destIPs)) + len(addresses(m.notDestIPs))
	return n == 0
}

// clauseMatches is one clause as ztunnel reads it: some non-empty match
// must hold; a clause without matches holds.
func clauseMatches(clause []l4, c Caller) Match {
	if len(clause) == 0 {
		return Yes
	}
	some := No
	for _, m := range clause {
		if !m.empty() {
			some = or(some, m.matches(c))
		}
	}
	return some
}

// MatchesAtZtunnel reports whether some rule of p, as istiod converts it
// and ztunnel reads it, matches c.
func (p AuthorizationPolicy) MatchesAtZtunnel(c Caller) Match {
	out := No
	for _, r := range p.Rules {
		clauses, ok := ztunnelRule(p.EffectiveAction(), p.Namespace, r)
		if !ok {
			continue
		}
		rule := Yes
		for _, clause := range clauses {
			rule = and(rule, clauseMatches(clause, c))
		}
		out = or(out, rule)
	}
	return out
}

// EvaluateAtZtunnel decides, as ztunnel does, whether c may connect to a
// workload with podLabels in namespace, under root namespace root: CUSTOM
// and other policies ztunnel does not enforce aside, any matching DENY
// refuses; then with no ALLOW policy the caller is admitted, and with
// some, only when one of them matches (MatchesAtZtunnel). Where several
// match alike, the first in policies' order is named.
func EvaluateAtZtunnel(policies []AuthorizationPolicy, root, namespace string, podLabels map[string]string, c Caller) Decision {
	d := Decision{Admitted: Yes}
	denied := No
	for i := range policies {
		p := policies[i]
		if !p.AppliesTo(root, namespace, podLabels) {
			continue
		}
		d.Applied = append(d.Applied, p)
		if p.EffectiveAction() == "ALLOW" {
			d.Allows = append(d.Allows, p)
			continue
		}
		if m := p.MatchesAtZtunnel(c); m > denied {
			denied, d.Deny = m, &policies[i]
		}
	}
	allowed := Yes
	if len(d.Allows) > 0 {
		allowed, d.Allow = bestMatch(d.Allows, func(p AuthorizationPolicy) Match { return p.MatchesAtZtunnel(c) })
	}
	d.Admitted = and(not(denied), allowed)
	return d
}

// DenyHTTPAtZtunnel tells what ztunnel makes of the HTTP fields of the
// DENY policy p. skipped: a rule, or an operation or source among others
// of its rule, written with HTTP fields only, reaches ztunnel as a match
// with no field set, which it skips: what it was to deny is not denied
// there. widened: HTTP fields beside ports, principals, namespaces or
// addresses are dropped, the rest still matches: the rule denies more than
// written. Both may hold; neither for a policy without HTTP fields.
func (p AuthorizationPolicy) DenyHTTPAtZtunnel() (skipped, widened bool) {
	for _, r := range p.Rules {
		if len(r.HTTPFields()) == 0 {
			continue
		}
		clauses, _ := ztunnelRule("DENY", p.Namespace, r)
		if neverMatches(clauses) {
			skipped = true
			continue
		}
		// The rule still matches: its HTTP fields are in operations or
		// sources (an HTTP when condition is a clause of its own, empty).
		for _, t := range r.To {
			if len(t.Operation.httpFields()) > 0 {
				skipped, widened = skipped || t.Operation.l4().empty(), widened || !t.Operation.l4().empty()
			}
		}
		for _, f := range r.From {
			if len(f.Source.httpFields()) > 0 {
				skipped, widened = skipped || f.Source.l4(p.Namespace).empty(), widened || !f.Source.l4(p.Namespace).empty()
			}
		}
	}
	return skipped, widened
}

// neverMatches reports whether ztunnel can match no caller with clauses:
// one of them has matches, all empty.
func neverMatches(clauses [][]l4) bool {
	for _, clause := range clauses {
		if len(clause) == 0 {
			continue
		}
		all := true
		for _, m := range clause {
			all = all && m.empty()
		}
		if all {
			return true
		}
	}
	return false
}
