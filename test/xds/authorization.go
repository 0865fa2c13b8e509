package xds

import "fmt"

// Caller is who connects to a workload, as ztunnel sees it.
type Caller struct {
	Principal string // "<trust domain>/ns/<ns>/sa/<sa>"
	// Namespace is the principal's namespace; it must agree with it.
	Namespace string
	Port      uint32 // the workload's port the connection is for
}

// Admits decides, as ztunnel does, whether c may connect to w: it asks
// ZtunnelView.Authorize, the one reading of ztunnel's rules in this
// package (policies of the namespace's and the global scope, the proto's
// default, as well as those w lists; empty matches skipped). A caller
// always has a principal, so the policies istiod converts from
// PeerAuthentications, which refuse only callers without one, never
// refuse it. A malformed principal is an error of the test, and panics.
func (s *AmbientState) Admits(w Workload, c Caller) bool {
	peer, err := ParseIdentity(c.Principal)
	if err != nil || peer.ServiceAccount == "" || (c.Namespace != "" && c.Namespace != peer.Namespace) {
		panic(fmt.Sprintf("xds: caller %+v: a principal of namespace %q is needed (%v)", c, c.Namespace, err))
	}
	v := ZtunnelView{Policies: s.Policies}
	return v.Authorize(ZWorkload{Name: w.Name, Namespace: w.Namespace, AuthorizationPolicies: w.AuthorizationPolicies}, peer, c.Port).Allowed
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
