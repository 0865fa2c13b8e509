package xds

import (
	"slices"
	"strings"
)

// The authorization ztunnel receives (istio.security.Authorization, as
// istiod's /debug/ambientz prints it): a policy's groups are OR-ed, a
// group's rules AND-ed, a rule's matches OR-ed; within a match every field
// that is set must hold, and a field holds when any of its values does
// (the not_ fields when none does).

// Group is one group of a policy.
type Group struct {
	Rules []Rules `json:"rules"`
}

// Rules is one rule of a group.
type Rules struct {
	Matches []Match `json:"matches"`
}

// Match is one match of a rule, the L4 attributes ztunnel sees.
type Match struct {
	Namespaces          []StringMatch `json:"namespaces"`
	NotNamespaces       []StringMatch `json:"notNamespaces"`
	Principals          []StringMatch `json:"principals"`
	NotPrincipals       []StringMatch `json:"notPrincipals"`
	DestinationPorts    []uint32      `json:"destinationPorts"`
	NotDestinationPorts []uint32      `json:"notDestinationPorts"`
}

// StringMatch is one of exact, prefix, suffix or presence.
type StringMatch struct {
	Exact    string    `json:"exact"`
	Prefix   string    `json:"prefix"`
	Suffix   string    `json:"suffix"`
	Presence *struct{} `json:"presence"`
}

func (m StringMatch) matches(s string) bool {
	switch {
	case m.Exact != "":
		return s == m.Exact
	case m.Prefix != "":
		return strings.HasPrefix(s, m.Prefix)
	case m.Suffix != "":
		return strings.HasSuffix(s, m.Suffix)
	case m.Presence != nil:
		return s != ""
	}
	return false
}

// Caller is who connects to a workload, as ztunnel sees it.
type Caller struct {
	Principal string // "<trust domain>/ns/<ns>/sa/<sa>"
	Namespace string
	Port      uint32 // the workload's port the connection is for
}

func anyString(ms []StringMatch, s string) bool {
	for _, m := range ms {
		if m.matches(s) {
			return true
		}
	}
	return false
}

func (m Match) holds(c Caller) bool {
	return (len(m.Namespaces) == 0 || anyString(m.Namespaces, c.Namespace)) &&
		!anyString(m.NotNamespaces, c.Namespace) &&
		(len(m.Principals) == 0 || anyString(m.Principals, c.Principal)) &&
		!anyString(m.NotPrincipals, c.Principal) &&
		(len(m.DestinationPorts) == 0 || slices.Contains(m.DestinationPorts, c.Port)) &&
		!slices.Contains(m.NotDestinationPorts, c.Port)
}

// Matches reports whether p's rules match the caller. A policy without
// groups matches nothing (an ALLOW of nothing, or a DENY istiod emptied).
func (p Policy) Matches(c Caller) bool {
	for _, g := range p.Groups {
		if g.matches(c) {
			return true
		}
	}
	return false
}

func (g Group) matches(c Caller) bool {
	for _, r := range g.Rules {
		ok := false
		for _, m := range r.Matches {
			ok = ok || m.holds(c)
		}
		if !ok {
			return false
		}
	}
	return true
}

// PoliciesFor are the authorization policies ztunnel applies to w: the
// ones w lists, those of w's namespace scoped to it, and the global ones.
func (s *AmbientState) PoliciesFor(w Workload) []Policy {
	seen := map[string]bool{}
	var out []Policy
	add := func(p Policy) {
		if !seen[p.Key()] {
			seen[p.Key()] = true
			out = append(out, p)
		}
	}
	for _, key := range w.AuthorizationPolicies {
		if p := s.Policy(key); p != nil {
			add(*p)
		}
	}
	for _, p := range s.Policies {
		if p.Scope == "GLOBAL" || (p.Scope == "NAMESPACE" && p.Namespace == w.Namespace) {
			add(p)
		}
	}
	return out
}

// Admits evaluates the policies that apply to w as ztunnel does: any
// matching DENY refuses; otherwise, with no ALLOW policy everything is
// admitted, and with some, only what one of them matches. Policies
// converted from PeerAuthentications judge mTLS, not callers, and are left
// out.
func (s *AmbientState) Admits(w Workload, c Caller) bool {
	var allows []Policy
	for _, p := range s.PoliciesFor(w) {
		if IsPeerAuthnPolicy(p.Key()) {
			continue
		}
		if p.Action == "DENY" {
			if p.Matches(c) {
				return false
			}
			continue
		}
		allows = append(allows, p)
	}
	if len(allows) == 0 {
		return true
	}
	for _, p := range allows {
		if p.Matches(c) {
			return true
		}
	}
	return false
}

// Workload returns the workload named name in namespace, or nil.
func (s *AmbientState) Workload(namespace, name string) *Workload {
	for i := range s.Workloads {
		if s.Workloads[i].Namespace == namespace && s.Workloads[i].Name == name {
			return &s.Workloads[i]
		}
	}
	return nil
}
