package istio

// ztunnel's own reading of the rules istiod sends it (Authorization::matches
// in ztunnel's src/rbac.rs) differs from Matches in one respect: a match
// with no field set is skipped, so a clause made only of such matches holds
// for nobody. istiod leaves a match empty where a rule's operation, source
// or when condition has only HTTP attributes (handleRule keeps only ports,
// principals, namespaces, service accounts and addresses): a DENY rule
// `to: [{operation: {paths: [...]}}]` therefore denies nothing at ztunnel,
// rather than everyone. A clause without any match, and a rule without any
// clause, hold for everyone.

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
			some := No
			for _, m := range clause {
				if !m.empty() {
					some = or(some, m.matches(c))
				}
			}
			rule = and(rule, some)
		}
		out = or(out, rule)
	}
	return out
}

// EvaluateAtZtunnel is Evaluate with ztunnel's reading of the rules
// (MatchesAtZtunnel): a matching DENY refuses; then, with ALLOW policies
// applying, one of them must match. Where several match alike, the first
// in policies' order is named.
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
