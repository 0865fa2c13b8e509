package istio

import (
	"fmt"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// DefaultRootNamespace is Istio's meshConfig.rootNamespace unless changed.
const DefaultRootNamespace = "istio-system"

// Effective is the mTLS mode that applies to one workload, and which policy
// set it ("" for Istio's PERMISSIVE default).
type Effective struct {
	Mode   string
	Source string
	// PortModes are the portLevelMtls exceptions of the workload policy that
	// take effect: ports that accept plaintext although Mode is STRICT.
	PortModes map[string]string
	// Note, when set, says why Mode is not what the policies' modes make
	// it: istiod's conversion for ztunnel departs from them.
	Note string
}

// Older reports whether a takes precedence over b where several policies
// compete at one level: istiod's ambient index keeps the oldest
// (getOldestPeerAuthn). Equal creation times, common since they are in
// seconds, are ordered by name, as istiod orders other configuration; its
// ambient index itself then takes whichever its informer lists first.
func Older(a, b PeerAuthentication) bool {
	if !a.CreationTimestamp.Equal(b.CreationTimestamp) {
		return a.CreationTimestamp.Before(b.CreationTimestamp)
	}
	if a.Name != b.Name {
		return a.Name < b.Name
	}
	return a.Namespace < b.Namespace
}

// EffectiveMode combines PeerAuthentications as istiod does for an ambient
// workload with podLabels in namespace (convertedSelectorPeerAuthentications
// in pilot/pkg/serviceregistry/ambient/authorization.go): at each level the
// oldest policy counts: a workload-selector policy of the namespace matching
// the pod, the namespace's policy without selector, the root namespace's
// policy without selector. A policy whose mode is unset inherits from the
// level above; without any, PERMISSIVE. Only STRICT is strict: DISABLE, which
// ambient cannot honour, accepts plaintext as PERMISSIVE does. Selector
// policies in the root namespace are not used, and there a policy is
// mesh-wide only without any selector: istiod's fetchPeerAuthentications
// (pilot/pkg/serviceregistry/ambient/workloads.go) takes a root-namespace
// policy for another namespace's workload only when its selector is nil,
// so "selector: {}" there applies to nothing.
//
// Whether plaintext is refused, and on which ports not, is then read from
// what istiod sends ztunnel (ZtunnelPeerAuthentications), not from the
// modes: where a workload policy's port exceptions make istiod drop the
// STRICT policy yet its conversion yields none, the pod accepts plaintext
// on every port (Note says so).
func EffectiveMode(pas []PeerAuthentication, rootNamespace, namespace string, podLabels map[string]string) Effective {
	mesh, ns, workload := fetchForWorkload(pas, rootNamespace, namespace, podLabels)
	eff := Effective{Mode: "PERMISSIVE"}
	for _, pa := range []*PeerAuthentication{mesh, ns, workload} {
		if pa != nil && pa.Mode() != "" {
			eff.Mode, eff.Source = pa.Mode(), pa.Namespace+"/"+pa.Name
		}
	}
	enforced := ZtunnelPeerAuthentications(pas, rootNamespace, namespace, podLabels)
	if !plaintextRefused(enforced, portNotIn(workload)) {
		if eff.Mode == "STRICT" && workload != nil {
			// Only a workload policy's port exceptions drop the STRICT
			// policy (convertedSelectorPeerAuthentications).
			eff.Note = fmt.Sprintf("%s sets STRICT, but istiod attaches no policy to the pod: the port exceptions of %s/%s replace the STRICT policy with one converted from it, and the conversion (convertPeerAuthentication), not seeing a STRICT parent, yields none: every port accepts plaintext",
				eff.Source, workload.Namespace, workload.Name)
			eff.Source = workload.Namespace + "/" + workload.Name
		}
		// Plaintext is accepted, whatever the modes say.
		if eff.Mode == "STRICT" {
			eff.Mode = "PERMISSIVE"
		}
		return eff
	}
	eff.Mode = "STRICT"
	if workload == nil {
		return eff
	}
	for key, m := range workload.PortLevelMTLS {
		if port, err := strconv.ParseUint(key, 10, 16); err == nil && !plaintextRefused(enforced, int32(port)) {
			if eff.PortModes == nil {
				eff.PortModes = map[string]string{}
			}
			eff.PortModes[key] = m.Mode
		}
	}
	return eff
}

// plaintextRefused reports whether one of the DENY policies ztunnel
// applies refuses a caller without a peer principal on port.
func plaintextRefused(policies []AuthorizationPolicy, port int32) bool {
	for _, p := range policies {
		if p.MatchesAtZtunnel(Caller{Port: port}) == Yes {
			return true
		}
	}
	return false
}

// portNotIn is a port that w's portLevelMtls does not name (1 unless it
// does): what istiod converts treats every such port alike.
func portNotIn(w *PeerAuthentication) int32 {
	port := int32(1)
	for w != nil {
		if _, named := w.PortLevelMTLS[strconv.Itoa(int(port))]; !named {
			break
		}
		port++
	}
	return port
}

// portExceptions are the non-STRICT ports of the workload policy w, under an
// effective STRICT mode, that istiod turns into exceptions. With w's own mode
// unset, DISABLE ports count only beside a PERMISSIVE one: otherwise istiod
// sends the plain STRICT policy and ignores them.
func portExceptions(w PeerAuthentication) map[string]string {
	permissive := false
	for _, m := range w.PortLevelMTLS {
		permissive = permissive || m.Mode == "PERMISSIVE"
	}
	out := map[string]string{}
	for port, m := range w.PortLevelMTLS {
		if m.Mode == "PERMISSIVE" || (m.Mode == "DISABLE" && (w.Mode() == "STRICT" || permissive)) {
			out[port] = m.Mode
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// ResolveGatewayRef returns the namespace and name a VirtualService in
// vsNamespace means by a gateways entry, as istiod's resolveGatewayName does:
// "<ns>/<name>", "./<name>" (the VirtualService's namespace), a bare name in
// the VirtualService's own namespace, or the legacy "<name>.<ns>[.svc...]".
// "mesh" names no Gateway.
func ResolveGatewayRef(vsNamespace, ref string) (namespace, name string, ok bool) {
	if ref == "mesh" {
		return "", "", false
	}
	if ns, name, found := strings.Cut(ref, "/"); found {
		if ns == "." {
			ns = vsNamespace
		}
		return ns, name, true
	}
	name, rest, found := strings.Cut(ref, ".")
	if !found {
		return vsNamespace, ref, true
	}
	ns, _, _ := strings.Cut(rest, ".")
	return ns, name, true
}

// stripNamespace removes the "<ns>/" prefix Gateway hosts may carry.
func stripNamespace(host string) string {
	if i := strings.IndexByte(host, '/'); i >= 0 {
		return host[i+1:]
	}
	return host
}

// GatewayHostBinds reports whether the host gwHost of a server of a Gateway
// in gwNamespace admits the host vsHost of a VirtualService in vsNamespace,
// as istiod's pickMatchingGatewayHosts does: "<ns>/host" binds only
// VirtualServices of that namespace, "./host" those of the Gateway's, and
// "*/host" or a bare host any.
func GatewayHostBinds(gwHost, gwNamespace, vsHost, vsNamespace string) bool {
	h := SanitizeHosts([]string{gwHost}, gwNamespace)[0]
	if ns, name, found := strings.Cut(h, "/"); found {
		if ns != vsNamespace {
			return false
		}
		h = name
	}
	return HostMatches(h, vsHost)
}

// HostMatches reports whether the hosts a and b, either possibly a wildcard,
// overlap, as istiod matches Gateway and VirtualService hosts (host.Name's
// Matches): a host starting with "*" stands for every name ending in what
// follows the "*" ("*" for every name, "*.example.com" for the names under
// example.com, "*-qna.example.com" too); two wildcards overlap when one's
// suffix ends with the other's; concrete hosts only when equal. Unlike
// istiod, which compares hosts as written, case is ignored, and a "<ns>/"
// prefix is dropped. The relation is symmetric.
func HostMatches(a, b string) bool {
	a, b = strings.ToLower(stripNamespace(a)), strings.ToLower(stripNamespace(b))
	aSuffix, aWild := strings.CutPrefix(a, "*")
	bSuffix, bWild := strings.CutPrefix(b, "*")
	switch {
	case aWild && bWild:
		return strings.HasSuffix(aSuffix, bSuffix) || strings.HasSuffix(bSuffix, aSuffix)
	case aWild:
		return strings.HasSuffix(b, aSuffix)
	case bWild:
		return strings.HasSuffix(a, bSuffix)
	}
	return a == b
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

// CertificateCovers reports whether a certificate with the DNS SANs dnsNames
// and the IP SANs ipAddresses is valid for the Gateway host as TLS clients
// check it: once a "<ns>/" prefix is dropped, it agrees with crypto/x509's
// VerifyHostname (RFC 6125) on every host.
//   - An IP address, also in brackets, is covered only by an equal IP SAN.
//   - A host name (non-empty labels of ASCII letters, digits, '_', and '-'
//     but not first; a trailing dot ignored) is covered by a DNS SAN of that
//     form with the same labels, its leftmost label possibly "*" standing for
//     exactly one label.
//   - Any other host, as a wildcard host "*.example.com", and any SAN not of
//     that form, match only when equal.
//
// Case is ignored for ASCII letters only.
func CertificateCovers(dnsNames []string, ipAddresses []net.IP, host string) bool {
	host = stripNamespace(host)
	candidate := host
	if len(candidate) >= 3 && candidate[0] == '[' && candidate[len(candidate)-1] == ']' {
		candidate = candidate[1 : len(candidate)-1]
	}
	if ip := net.ParseIP(candidate); ip != nil {
		for _, san := range ipAddresses {
			if ip.Equal(san) {
				return true
			}
		}
		return false
	}
	host = lowerASCII(host)
	var hostLabels []string
	if validCertName(strings.TrimSuffix(host, "."), false) {
		hostLabels = strings.Split(strings.TrimSuffix(host, "."), ".")
	}
	for _, san := range dnsNames {
		san = lowerASCII(san)
		if hostLabels != nil && validCertName(san, true) {
			if sanLabels := strings.Split(san, "."); len(sanLabels) == len(hostLabels) && (sanLabels[0] == "*" || sanLabels[0] == hostLabels[0]) &&
				slices.Equal(sanLabels[1:], hostLabels[1:]) {
				return true
			}
			continue
		}
		if host != "" && host != "." && san == host {
			return true
		}
	}
	return false
}

// validCertName reports whether name is a host name that TLS clients match
// by labels: non-empty labels of ASCII letters, digits, '_' and '-' (not
// first); in a SAN (san) the leftmost label may be a whole "*". Anything else
// is only compared whole.
func validCertName(name string, san bool) bool {
	if name == "" || name == "*" {
		return false
	}
	for i, label := range strings.Split(name, ".") {
		if label == "" {
			return false
		}
		if san && i == 0 && label == "*" {
			continue
		}
		for j := 0; j < len(label); j++ {
			c := label[j]
			switch {
			case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_':
			case c == '-' && j != 0:
			default:
				return false
			}
		}
	}
	return true
}

// lowerASCII lower-cases only ASCII letters: TLS clients fold no other
// characters (strings.ToLower would turn the Kelvin sign into "k").
func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// Obstacle is a PeerAuthentication that keeps a STRICT namespace-wide policy
// from making every workload of its namespace STRICT, and why.
type Obstacle struct {
	Policy PeerAuthentication
	Reason string
}

// MeshWideMode is the mode of the mesh-wide PeerAuthentication, as istiod
// picks it for workloads outside the root namespace: the oldest policy of
// the root namespace without a selector; "" when there is none or its
// mode is unset (PERMISSIVE then).
func MeshWideMode(pas []PeerAuthentication, rootNamespace string) string {
	var mesh *PeerAuthentication
	for i := range pas {
		pa := &pas[i]
		if pa.Namespace == rootNamespace && pa.Selector == nil && (mesh == nil || Older(*pa, *mesh)) {
			mesh = pa
		}
	}
	if mesh == nil {
		return ""
	}
	return mesh.Mode()
}

// StrictObstacles finds the policies of ours' namespace that istiod would let
// win over ours, a namespace-wide STRICT policy (existing or about to be
// created), under a mesh-wide policy of mode meshMode ("" for none or
// unset): an older namespace-wide policy that is not STRICT (istiod keeps
// only the oldest; one with its mode unset inherits meshMode, so under a
// mesh-wide STRICT it is STRICT too), and workload-selector policies that
// are not STRICT or open ports to plaintext (they override the namespace
// policy for their pods).
func StrictObstacles(pas []PeerAuthentication, ours PeerAuthentication, meshMode string) []Obstacle {
	var out []Obstacle
	for _, pa := range pas {
		if pa.Namespace != ours.Namespace || pa.Name == ours.Name {
			continue
		}
		mode := pa.Mode()
		if mode == "" {
			mode = "unset"
		}
		if len(pa.MatchLabels()) == 0 {
			inherited := pa.Mode()
			if inherited == "" {
				inherited = meshMode
			}
			if Older(pa, ours) && inherited != "STRICT" {
				out = append(out, Obstacle{pa, "is an older namespace-wide policy with mode " + mode + ": istiod uses only the oldest, so " + ours.Name + " would be ignored"})
			}
			continue
		}
		switch {
		case pa.Mode() == "PERMISSIVE" || pa.Mode() == "DISABLE":
			out = append(out, Obstacle{pa, "sets mode " + mode + " for the pods it selects, overriding the namespace's STRICT"})
		case len(portExceptions(pa)) > 0:
			out = append(out, Obstacle{pa, "opens ports " + portList(portExceptions(pa)) + " to plaintext for the pods it selects"})
		}
	}
	return out
}

func portList(ports map[string]string) string {
	var out []string
	for p := range ports {
		out = append(out, p)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}
