package istio

import (
	"sort"
	"strings"

	"k8s.io/apimachinery/pkg/labels"
)

// DefaultRootNamespace is Istio's meshConfig.rootNamespace unless changed.
const DefaultRootNamespace = "istio-system"

// Effective is the mTLS mode that applies to one workload, and which policy
// set it ("" for Istio's PERMISSIVE default).
type Effective struct {
	Mode   string
	Source string
	// PortModes are portLevelMtls overrides of the workload policy.
	PortModes map[string]string
}

// EffectiveMode combines PeerAuthentications by Istio's precedence for a
// workload with podLabels in namespace: a workload-selector policy in the
// namespace, then the namespace policy, then the mesh policy in rootNamespace,
// then PERMISSIVE. A policy whose mode is unset inherits from the next level.
// Selector policies in the root namespace are ignored, as ambient ignores them.
func EffectiveMode(pas []PeerAuthentication, rootNamespace, namespace string, podLabels map[string]string) Effective {
	var workload, ns, mesh *PeerAuthentication
	sorted := append([]PeerAuthentication(nil), pas...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for i := range sorted {
		pa := &sorted[i]
		sel := pa.MatchLabels()
		switch {
		case pa.Namespace == namespace && len(sel) > 0:
			if workload == nil && labels.SelectorFromSet(sel).Matches(labels.Set(podLabels)) {
				workload = pa
			}
		case pa.Namespace == namespace && pa.Namespace != rootNamespace:
			if ns == nil {
				ns = pa
			}
		case pa.Namespace == rootNamespace && len(sel) == 0:
			if mesh == nil {
				mesh = pa
			}
		}
	}
	eff := Effective{Mode: "PERMISSIVE"}
	for _, pa := range []*PeerAuthentication{mesh, ns, workload} {
		if pa != nil && pa.Mode() != "" {
			eff.Mode, eff.Source = pa.Mode(), pa.Namespace+"/"+pa.Name
		}
	}
	if workload != nil && len(workload.PortLevelMTLS) > 0 {
		eff.PortModes = map[string]string{}
		for port, m := range workload.PortLevelMTLS {
			eff.PortModes[port] = m.Mode
		}
	}
	return eff
}

// ResolveGatewayRef returns the namespace and name a VirtualService in
// vsNamespace means by a gateways entry: "<ns>/<name>", or a bare name in the
// VirtualService's own namespace. "mesh" names no Gateway.
func ResolveGatewayRef(vsNamespace, ref string) (namespace, name string, ok bool) {
	if ref == "mesh" {
		return "", "", false
	}
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		return ref[:i], ref[i+1:], true
	}
	return vsNamespace, ref, true
}

// stripNamespace removes the "<ns>/" prefix Gateway hosts may carry.
func stripNamespace(host string) string {
	if i := strings.IndexByte(host, '/'); i >= 0 {
		return host[i+1:]
	}
	return host
}

// HostMatches reports whether the host pattern a (possibly a wildcard such
// as *.example.com or *) and b overlap, as Istio matches Gateway and
// VirtualService hosts.
func HostMatches(a, b string) bool {
	a, b = strings.ToLower(stripNamespace(a)), strings.ToLower(stripNamespace(b))
	if a == "*" || b == "*" || a == b {
		return true
	}
	if strings.HasPrefix(a, "*.") && strings.HasSuffix(b, a[1:]) {
		return true
	}
	if strings.HasPrefix(b, "*.") && strings.HasSuffix(a, b[1:]) {
		return true
	}
	return false
}

// HostsIntersect reports whether any host of a overlaps any host of b.
func HostsIntersect(a, b []string) bool {
	for _, x := range a {
		for _, y := range b {
			if HostMatches(x, y) {
				return true
			}
		}
	}
	return false
}

// CertificateCovers reports whether a certificate with the DNS SANs sans is
// valid for the Gateway host: a concrete host as TLS clients check it, a
// wildcard host only by the same wildcard SAN.
func CertificateCovers(sans []string, host string) bool {
	host = strings.ToLower(stripNamespace(host))
	for _, san := range sans {
		san = strings.ToLower(san)
		if san == host {
			return true
		}
		if strings.HasPrefix(host, "*.") {
			continue
		}
		// A wildcard SAN covers exactly one left-most label.
		if strings.HasPrefix(san, "*.") {
			if i := strings.IndexByte(host, '.'); i > 0 && host[i:] == san[1:] {
				return true
			}
		}
	}
	return false
}
