package xds

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
)

// A fuller reading of /debug/ambientz than AmbientState's: the Workload, Service and
// Authorization resources istiod sends ztunnel, with what ztunnel needs to
// decide a connection to a pod (the Services a workload serves and their
// target ports, a Service's waypoint and the identity of the workloads
// behind it, every field of a policy's matches). Its evaluator, Authorize,
// is an independent reading of ztunnel's rules (assert_rbac in ztunnel's
// src/state.rs, Authorization::matches in src/rbac.rs), written against the
// proto (pkg/workloadapi/workload.proto and security/authorization.proto),
// not against the project's model of Istio: it is what the model is
// checked against, and the only evaluator of this package
// (AmbientState.Admits asks it too).

// ZtunnelView is istiod's ambient index as ztunnel receives it.
type ZtunnelView struct {
	Workloads []ZWorkload `json:"workloads"`
	Services  []ZService  `json:"services"`
	Policies  []ZPolicy   `json:"policies"`
}

// ZWorkload is one istio.workload.Workload.
type ZWorkload struct {
	Name           string `json:"name"`
	Namespace      string `json:"namespace"`
	TrustDomain    string `json:"trustDomain"`
	ServiceAccount string `json:"serviceAccount"`
	TunnelProtocol string `json:"tunnelProtocol"`
	// Services maps "<namespace>/<hostname>" to the ports the workload
	// serves for that Service, target ports resolved by istiod.
	Services              map[string]ZPortList `json:"services"`
	AuthorizationPolicies []string             `json:"authorizationPolicies"`
}

// ZPortList is a workload's ports for one Service.
type ZPortList struct {
	Ports []ZPort `json:"ports"`
}

// ZPort maps a Service port to the pod's port.
type ZPort struct {
	ServicePort uint32 `json:"servicePort"`
	TargetPort  uint32 `json:"targetPort"`
}

// ZService is one istio.workload.Service.
type ZService struct {
	Name               string            `json:"name"`
	Namespace          string            `json:"namespace"`
	Hostname           string            `json:"hostname"`
	Addresses          []ZNetworkAddress `json:"addresses"`
	Waypoint           *ZGatewayAddress  `json:"waypoint"`
	IngressUseWaypoint bool              `json:"ingressUseWaypoint"`
}

// ZGatewayAddress names a waypoint by hostname or address. The debug
// endpoint writes an address as the bytes of its text (base64 in JSON).
type ZGatewayAddress struct {
	Hostname *struct {
		Namespace string `json:"namespace"`
		Hostname  string `json:"hostname"`
	} `json:"hostname"`
	Address *ZNetworkAddress `json:"address"`
}

// ZNetworkAddress is an address of a network; the debug endpoint writes
// the address as the bytes of its text (base64 in JSON).
type ZNetworkAddress struct {
	Network string `json:"network"`
	Address []byte `json:"address"`
}

// ZPolicy is one istio.security.Authorization.
type ZPolicy struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Scope is GLOBAL (the proto's default, absent from the JSON),
	// NAMESPACE or WORKLOAD_SELECTOR.
	Scope  string `json:"scope"`
	Action string `json:"action"` // ALLOW (absent) or DENY
	DryRun bool   `json:"dryRun"`
	Groups []struct {
		Rules []struct {
			Matches []ZMatch `json:"matches"`
		} `json:"rules"`
	} `json:"groups"`
}

// ZMatch is one istio.security.Match.
type ZMatch struct {
	Namespaces          []ZString   `json:"namespaces"`
	NotNamespaces       []ZString   `json:"notNamespaces"`
	ServiceAccounts     []ZAccount  `json:"serviceAccounts"`
	NotServiceAccounts  []ZAccount  `json:"notServiceAccounts"`
	Principals          []ZString   `json:"principals"`
	NotPrincipals       []ZString   `json:"notPrincipals"`
	SourceIps           []ZAddress  `json:"sourceIps"`
	NotSourceIps        []ZAddress  `json:"notSourceIps"`
	DestinationIps      []ZAddress  `json:"destinationIps"`
	NotDestinationIps   []ZAddress  `json:"notDestinationIps"`
	DestinationPorts    []uint32    `json:"destinationPorts"`
	NotDestinationPorts []uint32    `json:"notDestinationPorts"`
	Extensions          []ZAnyValue `json:"extensions"`
}

// ZString is a StringMatch: one of exact, prefix, suffix, presence.
type ZString struct {
	Exact    *string   `json:"exact"`
	Prefix   *string   `json:"prefix"`
	Suffix   *string   `json:"suffix"`
	Presence *struct{} `json:"presence"`
}

// ZAccount is a ServiceAccountMatch.
type ZAccount struct {
	Namespace      string `json:"namespace"`
	ServiceAccount string `json:"serviceAccount"`
}

// ZAddress is an address block of a match.
type ZAddress struct {
	Address []byte `json:"address"`
	Length  uint32 `json:"length"`
}

// ZAnyValue is an extension the evaluator does not read.
type ZAnyValue = json.RawMessage

// FetchZtunnelView reads istiod's /debug/ambientz on its debug address.
func FetchZtunnelView(ctx context.Context, debugAddr string) (*ZtunnelView, error) {
	var v ZtunnelView
	if err := fetchAmbientz(ctx, debugAddr, &v); err != nil {
		return nil, err
	}
	return &v, nil
}

// Key is how workloads and ztunnel name the policy.
func (p ZPolicy) Key() string { return p.Namespace + "/" + p.Name }

// FromPeerAuthentication tells the policies istiod converts from
// PeerAuthentications by their names.
func (p ZPolicy) FromPeerAuthentication() bool {
	return p.Name == StaticStrictPolicy || strings.HasPrefix(p.Name, ConvertedPeerAuthnPrefix)
}

// Identity is a peer as ztunnel knows it from its certificate; the zero
// value is a plaintext peer.
type Identity struct {
	TrustDomain, Namespace, ServiceAccount string
}

// ParseIdentity reads "<trust domain>/ns/<ns>/sa/<sa>"; "" is plaintext.
func ParseIdentity(principal string) (Identity, error) {
	if principal == "" {
		return Identity{}, nil
	}
	parts := strings.Split(principal, "/")
	if len(parts) != 5 || parts[1] != "ns" || parts[3] != "sa" {
		return Identity{}, fmt.Errorf("xds: %q is not a principal", principal)
	}
	return Identity{TrustDomain: parts[0], Namespace: parts[2], ServiceAccount: parts[4]}, nil
}

// Principal is the identity as policies name it; "" for plaintext.
func (id Identity) Principal() string {
	if id.ServiceAccount == "" {
		return ""
	}
	return id.TrustDomain + "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount
}

// Workload returns the workload name of namespace ns, or nil.
func (v *ZtunnelView) Workload(ns, name string) *ZWorkload {
	for i := range v.Workloads {
		if v.Workloads[i].Namespace == ns && v.Workloads[i].Name == name {
			return &v.Workloads[i]
		}
	}
	return nil
}

// Service returns the Service name of namespace ns, or nil.
func (v *ZtunnelView) Service(ns, name string) *ZService {
	for i := range v.Services {
		if v.Services[i].Namespace == ns && v.Services[i].Name == name {
			return &v.Services[i]
		}
	}
	return nil
}

// Key is how workloads name the Service.
func (s ZService) Key() string { return s.Namespace + "/" + s.Hostname }

// TargetPort is the pod port w serves Service s's port on; false when w
// does not serve it.
func (w ZWorkload) TargetPort(s ZService, servicePort uint32) (uint32, bool) {
	for _, p := range w.Services[s.Key()].Ports {
		if p.ServicePort == servicePort {
			return p.TargetPort, true
		}
	}
	return 0, false
}

// Identity is the workload's identity; istiod leaves the default trust
// domain out.
func (w ZWorkload) Identity() Identity {
	td := w.TrustDomain
	if td == "" {
		td = "cluster.local"
	}
	return Identity{TrustDomain: td, Namespace: w.Namespace, ServiceAccount: w.ServiceAccount}
}

// WaypointIdentities are the identities of the workloads behind s's
// waypoint, found as ztunnel finds the waypoint (by hostname, else by
// address), sorted; nil when s has no waypoint or it has no workload.
func (v *ZtunnelView) WaypointIdentities(s ZService) []Identity {
	if s.Waypoint == nil {
		return nil
	}
	var wp *ZService
	for i := range v.Services {
		c := &v.Services[i]
		switch {
		case s.Waypoint.Hostname != nil && c.Namespace == s.Waypoint.Hostname.Namespace && c.Hostname == s.Waypoint.Hostname.Hostname:
			wp = c
		case s.Waypoint.Address != nil && slices.ContainsFunc(c.Addresses, func(a ZNetworkAddress) bool { return string(a.Address) == string(s.Waypoint.Address.Address) }):
			wp = c
		}
	}
	if wp == nil {
		return nil
	}
	seen := map[Identity]bool{}
	var out []Identity
	for _, w := range v.Workloads {
		if _, ok := w.Services[wp.Key()]; ok && !seen[w.Identity()] {
			seen[w.Identity()] = true
			out = append(out, w.Identity())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Principal() < out[j].Principal() })
	return out
}

// Authorization is ztunnel's answer for one connection.
type Authorization struct {
	Allowed bool
	// DeniedBy is the key of the DENY policy that refused; AllowedBy the
	// ALLOW policy that admitted. Where several do, the first: those
	// converted from PeerAuthentications, then by key.
	DeniedBy, AllowedBy string
	// Allows are the keys of the ALLOW policies that apply, sorted.
	Allows []string
	// PeerAuthn are the keys of the policies converted from
	// PeerAuthentications that apply; Others counts the other policies.
	PeerAuthn []string
	Others    int
}

// PoliciesFor are the policies ztunnel applies to w: those of its
// namespace's scope, the global ones, and those w lists (ztunnel skips a
// listed key it has no policy for). Dry-run policies decide nothing.
func (v *ZtunnelView) PoliciesFor(w ZWorkload) []ZPolicy {
	seen := map[string]bool{}
	var out []ZPolicy
	add := func(p ZPolicy) {
		if !seen[p.Key()] && !p.DryRun {
			seen[p.Key()] = true
			out = append(out, p)
		}
	}
	for _, p := range v.Policies {
		switch p.Scope {
		case "", "GLOBAL":
			add(p)
		case "NAMESPACE":
			if p.Namespace == w.Namespace {
				add(p)
			}
		}
	}
	for _, key := range w.AuthorizationPolicies {
		for _, p := range v.Policies {
			if p.Key() == key {
				add(p)
			}
		}
	}
	// Converted from PeerAuthentications first, then by key.
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.FromPeerAuthentication() != b.FromPeerAuthentication() {
			return a.FromPeerAuthentication()
		}
		return a.Key() < b.Key()
	})
	return out
}

// Authorize decides, as ztunnel's assert_rbac does, a connection from peer
// (the zero Identity for plaintext) to workload w's port: any DENY policy
// that matches refuses; with no ALLOW policy it is admitted; otherwise an
// ALLOW policy must match.
func (v *ZtunnelView) Authorize(w ZWorkload, peer Identity, port uint32) Authorization {
	var out Authorization
	var allows []ZPolicy
	for _, p := range v.PoliciesFor(w) {
		if p.FromPeerAuthentication() {
			out.PeerAuthn = append(out.PeerAuthn, p.Key())
		} else {
			out.Others++
		}
		if p.Action == "DENY" {
			if out.DeniedBy == "" && p.matches(peer, port) {
				out.DeniedBy = p.Key()
			}
			continue
		}
		allows = append(allows, p)
		out.Allows = append(out.Allows, p.Key())
	}
	if out.DeniedBy != "" {
		return out
	}
	if len(allows) == 0 {
		out.Allowed = true
		return out
	}
	for _, p := range allows {
		if p.matches(peer, port) {
			out.Allowed, out.AllowedBy = true, p.Key()
			return out
		}
	}
	return out
}

// matches: a policy without groups matches nothing; a group matches when
// every rule does; a rule when one of its non-empty matches does (a rule
// without matches holds; an empty match is skipped).
func (p ZPolicy) matches(peer Identity, port uint32) bool {
	for _, g := range p.Groups {
		all := true
		for _, r := range g.Rules {
			if len(r.Matches) == 0 {
				continue
			}
			some := false
			for _, m := range r.Matches {
				if !m.empty() && m.holds(peer, port) {
					some = true
					break
				}
			}
			all = all && some
		}
		if all {
			return true
		}
	}
	return false
}

func (m ZMatch) empty() bool {
	return len(m.Namespaces)+len(m.NotNamespaces)+len(m.ServiceAccounts)+len(m.NotServiceAccounts)+
		len(m.Principals)+len(m.NotPrincipals)+len(m.SourceIps)+len(m.NotSourceIps)+
		len(m.DestinationIps)+len(m.NotDestinationIps)+len(m.DestinationPorts)+len(m.NotDestinationPorts) == 0
}

// holds: every kind of field set must hold, a positive one when some
// value matches, a negative one when none does. A plaintext peer has no
// principal, namespace or account: string matches fail on it. Addresses
// are not known here: a match on them is an error of the test's setup.
func (m ZMatch) holds(peer Identity, port uint32) bool {
	if len(m.SourceIps)+len(m.NotSourceIps)+len(m.DestinationIps)+len(m.NotDestinationIps)+len(m.Extensions) > 0 {
		panic("xds: a match on addresses or extensions: the reachability setups use none")
	}
	principal := peer.Principal()
	kind := func(pos, neg int, matches func(i int, negative bool) bool) bool {
		ok := pos == 0
		for i := 0; i < pos; i++ {
			ok = ok || matches(i, false)
		}
		for i := 0; i < neg; i++ {
			ok = ok && !matches(i, true)
		}
		return ok
	}
	str := func(pos, neg []ZString, s string) bool {
		return kind(len(pos), len(neg), func(i int, negative bool) bool {
			if negative {
				return neg[i].matches(s)
			}
			return pos[i].matches(s)
		})
	}
	acct := func(a ZAccount) bool {
		return principal != "" && a.Namespace == peer.Namespace && a.ServiceAccount == peer.ServiceAccount
	}
	accounts := kind(len(m.ServiceAccounts), len(m.NotServiceAccounts), func(i int, negative bool) bool {
		if negative {
			return acct(m.NotServiceAccounts[i])
		}
		return acct(m.ServiceAccounts[i])
	})
	ports := (len(m.DestinationPorts) == 0 || slices.Contains(m.DestinationPorts, port)) && !slices.Contains(m.NotDestinationPorts, port)
	return ports && accounts &&
		str(m.Principals, m.NotPrincipals, principal) &&
		str(m.Namespaces, m.NotNamespaces, peer.Namespace)
}

func (z ZString) matches(s string) bool {
	switch {
	case z.Exact != nil:
		return s == *z.Exact
	case z.Prefix != nil:
		return strings.HasPrefix(s, *z.Prefix)
	case z.Suffix != nil:
		return strings.HasSuffix(s, *z.Suffix)
	case z.Presence != nil:
		return s != ""
	}
	return false
}
