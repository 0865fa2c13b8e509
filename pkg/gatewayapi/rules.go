package gatewayapi

import "strings"

// IsTrue reports whether conds hold condition t with status True, written
// for generation (0: any generation). A condition written for an older
// generation says nothing about the object as it is now.
func IsTrue(conds []Condition, t string, generation int64) bool {
	c := FindCondition(conds, t)
	return c != nil && c.Status == "True" && (generation == 0 || c.ObservedGeneration == 0 || c.ObservedGeneration == generation)
}

// Current reports whether c was written for generation.
func (c Condition) Current(generation int64) bool {
	return generation == 0 || c.ObservedGeneration == 0 || c.ObservedGeneration == generation
}

// RouteHostnames are the hostnames a route with hostnames serves on a
// listener with hostname listener (the Gateway API's intersection rule):
// nil when none intersect. An empty listener hostname matches every name; a
// route without hostnames takes the listener's; a wildcard on either side
// matches names with the same suffix and at least one more label.
func RouteHostnames(listener string, route []string) []string {
	if len(route) == 0 {
		if listener == "" {
			return []string{"*"}
		}
		return []string{listener}
	}
	if listener == "" {
		return append([]string(nil), route...)
	}
	var out []string
	for _, h := range route {
		switch {
		case strings.EqualFold(h, listener):
			out = append(out, h)
		case wildcardCovers(listener, h):
			out = append(out, h)
		case wildcardCovers(h, listener):
			out = append(out, listener)
		}
	}
	return out
}

// wildcardCovers reports whether wildcard "*.suffix" covers name, which has
// at least one label before the suffix.
func wildcardCovers(wildcard, name string) bool {
	suffix, ok := strings.CutPrefix(wildcard, "*")
	if !ok {
		return false
	}
	return len(name) > len(suffix) && strings.HasSuffix(strings.ToLower(name), strings.ToLower(suffix))
}

// ReferenceGranted reports whether grants (the ReferenceGrants in the
// target's namespace) let an object of fromKind in fromNamespace refer to
// the object toKind/toName in the grants' namespace. Groups are the
// Gateway API's for the referrer and core ("") for the target.
func ReferenceGranted(grants []ReferenceGrant, toNamespace, fromKind, fromNamespace, toKind, toName string) bool {
	for _, g := range grants {
		if g.Namespace != toNamespace {
			continue
		}
		from := false
		for _, f := range g.From {
			if f.Group == Group && f.Kind == fromKind && f.Namespace == fromNamespace {
				from = true
			}
		}
		if !from {
			continue
		}
		for _, t := range g.To {
			if t.Group == "" && t.Kind == toKind && (t.Name == nil || *t.Name == "" || *t.Name == toName) {
				return true
			}
		}
	}
	return false
}

// ParentStatus returns the route's status for parent ref, or nil when no
// controller has written one.
func (r HTTPRoute) ParentStatus(ref ParentRef) *RouteParentStatus {
	for i := range r.Status.Parents {
		p := r.Status.Parents[i].ParentRef
		if p.Name == ref.Name && p.GatewayNamespace(r.Namespace) == ref.GatewayNamespace(r.Namespace) && p.SectionName == ref.SectionName && p.Port == ref.Port {
			return &r.Status.Parents[i]
		}
	}
	return nil
}

// Redirects reports whether every rule of r answers with a redirect to
// https and none sends requests to a backend.
func (r HTTPRoute) Redirects() bool {
	if len(r.Rules) == 0 {
		return false
	}
	for _, rule := range r.Rules {
		if len(rule.BackendRefs) > 0 {
			return false
		}
		https := false
		for _, f := range rule.Filters {
			if f.Type == "RequestRedirect" && f.RequestRedirect != nil && f.RequestRedirect.Scheme != nil && *f.RequestRedirect.Scheme == "https" {
				https = true
			}
		}
		if !https {
			return false
		}
	}
	return true
}
