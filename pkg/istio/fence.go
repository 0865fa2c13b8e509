package istio

// Fence reports whether p is a fence: a DENY that ztunnel enforces whose
// every rule is a source of notPrincipals or notNamespaces alone, so that
// it denies every caller but those it lists (Enterprise-RAG's per-workload
// policies). admitted are the principals and namespaces it lets through.
func (p AuthorizationPolicy) Fence() (admitted []string, ok bool) {
	if !p.ForZtunnel() || p.EffectiveAction() != "DENY" || len(p.Rules) == 0 {
		return nil, false
	}
	for _, r := range p.Rules {
		if len(r.To) > 0 || len(r.When) > 0 || len(r.From) == 0 {
			return nil, false
		}
		for _, f := range r.From {
			s := f.Source
			only := Source{NotPrincipals: s.NotPrincipals, NotNamespaces: s.NotNamespaces}
			if len(s.NotPrincipals)+len(s.NotNamespaces) == 0 || !sameSource(s, only) {
				return nil, false
			}
			admitted = append(admitted, s.NotPrincipals...)
			for _, ns := range s.NotNamespaces {
				admitted = append(admitted, "namespace "+ns)
			}
		}
	}
	return admitted, true
}

// sameSource compares two sources field by field.
func sameSource(a, b Source) bool {
	fields := func(s Source) [][]string {
		return [][]string{s.Principals, s.NotPrincipals, s.RequestPrincipals, s.NotRequestPrincipals, s.Namespaces, s.NotNamespaces,
			s.ServiceAccounts, s.NotServiceAccounts, s.IPBlocks, s.NotIPBlocks, s.RemoteIPBlocks, s.NotRemoteIPBlocks}
	}
	fa, fb := fields(a), fields(b)
	for i := range fa {
		if len(fa[i]) != len(fb[i]) {
			return false
		}
		for j := range fa[i] {
			if fa[i][j] != fb[i][j] {
				return false
			}
		}
	}
	return true
}

// Fences are the fences (Fence) ztunnel applies to a workload with
// podLabels in namespace, under root namespace root.
func Fences(policies []AuthorizationPolicy, root, namespace string, podLabels map[string]string) []AuthorizationPolicy {
	var out []AuthorizationPolicy
	for _, p := range policies {
		if _, ok := p.Fence(); ok && p.AppliesTo(root, namespace, podLabels) {
			out = append(out, p)
		}
	}
	return out
}
