package reachability

import (
	"strings"

	"github.com/opea-project/kubectl-opea/pkg/istio"
)

// atPod is what ztunnel at t's pod decides for caller c arriving on t's
// port: the DENY policies istiod derives from PeerAuthentications and any
// DENY AuthorizationPolicy first, then, with ALLOW policies applying, one
// of them must match. Where several policies decide alike, the first by
// namespace/name is named, those derived from PeerAuthentications first.
func (m *model) atPod(t target, c istio.Caller) Outcome {
	o := Outcome{Pod: t.pod.Name, PodPort: t.port, Caller: c.Principal, Arrives: c.Principal}
	o.Verdict, o.Decider = m.ztunnel(t, c)
	return o
}

func (m *model) ztunnel(t target, c istio.Caller) (Verdict, string) {
	c.Port = t.port
	in := m.in
	peer := istio.ZtunnelPeerAuthentications(in.PeerAuthentications, in.root(), in.Namespace, t.pod.Labels)
	undecided := ""
	for _, p := range peer {
		switch p.MatchesAtZtunnel(c) {
		case istio.Yes:
			return Refused, policyKey(p)
		case istio.Undecided:
			if undecided == "" {
				undecided = policyKey(p)
			}
		}
	}
	d := istio.EvaluateAtZtunnel(m.policies, in.root(), in.Namespace, t.pod.Labels, c)
	switch d.Admitted {
	case istio.No:
		if d.Deny != nil && d.Deny.MatchesAtZtunnel(c) == istio.Yes {
			return Refused, policyKey(*d.Deny)
		}
		return Refused, keys(d.Allows)
	case istio.Undecided:
		if d.Deny != nil {
			return Depends, policyKey(*d.Deny)
		}
		return Depends, keys(d.Allows)
	}
	switch {
	case undecided != "":
		return Depends, undecided
	case d.Allow != nil:
		return Allowed, policyKey(*d.Allow)
	case c.Principal == "" && len(peer) > 0:
		// Plaintext passes the policy derived from a PeerAuthentication:
		// its port exceptions decide.
		return Allowed, policyKey(peer[0])
	case c.Principal == "":
		return Allowed, NoStrict
	case len(d.Applied) == 0:
		return Allowed, NoPolicy
	}
	return Allowed, NoAllowPolicy
}

// throughWaypoint is what caller c meets calling Service svc on
// servicePort through waypoint wp: the waypoint's own policies (those
// bound to it, to the Service or to the waypoint class) judge c; ztunnel
// at the pod then judges the waypoint.
func (m *model) throughWaypoint(wp istio.Waypoint, svc Service, servicePort int32, t target, c istio.Caller) Outcome {
	via := m.in.waypointCaller(wp)
	o := Outcome{Pod: t.pod.Name, PodPort: t.port, Caller: c.Principal, Arrives: via.Principal}
	atWaypoint := c
	atWaypoint.Port = servicePort
	d := istio.EvaluateAtWaypoint(m.policies, m.in.root(), wp, m.in.Namespace, svc.Name, atWaypoint)
	switch d.Admitted {
	case istio.No:
		if d.Deny != nil && d.Deny.MatchesAtWaypoint(atWaypoint) == istio.Yes {
			o.Verdict, o.Decider = Refused, policyKey(*d.Deny)
		} else {
			o.Verdict, o.Decider = Refused, keys(d.Allows)
		}
		return o
	}
	o.Verdict, o.Decider = m.ztunnel(t, via)
	if d.Admitted == istio.Undecided && o.Verdict != Refused {
		o.Verdict, o.Decider = Depends, keys(d.Applied)
	}
	return o
}

func keys(ps []istio.AuthorizationPolicy) string {
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		out = append(out, policyKey(p))
	}
	return strings.Join(out, deciderJoiner)
}
